/**
 * Ensemble: runs several detectors on the same series and combines their assessments into one.
 *
 * Combining rules, over the members whose assessment is ready:
 * - `"max"`: the loudest member (its score, expected value, bounds and reason). Ready when any member is.
 * - `"vote"`: the score that a majority agrees on, i.e. the `⌈m/2⌉`-th highest score of the `m` members: it
 *   reaches the warning threshold only when at least half the members would warn. Ready when a majority is.
 *   Expected and bounds are the medians of the members'.
 * - `"weighted"`: the weighted mean of the scores (weights renormalised over the ready members), with the
 *   weighted mean of expected values and bounds. Ready when any member is.
 * Scores keep the members' σ scale (4 = warning). The state is the tuple of member states, encoded by their own
 * codecs; each member learns every point the ensemble learns (the ensemble's `learnAnomalies` decides, not the
 * members').
 *
 * Adaptation (`anomalies: "clip"`, the default): a point the ensemble judges anomalous is learned by every member
 * clipped to the ensemble's band, so the members adapt together to a lasting change.
 *
 * @since 0.1.0
 */
import { Detector, type Verdict } from "@llm-sentinel/core"
import { Schema } from "effect"
import * as Ewma from "./Ewma.ts"
import { type Anomalies, AnomaliesSchema, adaptOptions, decodeParams, fmt, rejected, squash } from "./internal.ts"
import * as Mad from "./Mad.ts"
import type { LawClaims } from "./testing/Claims.ts"
import * as ZScore from "./ZScore.ts"

/**
 * @category models
 * @since 0.1.0
 */
export const name = "ensemble"

/**
 * @category models
 * @since 0.1.0
 */
export interface Params {
  /** The member detectors (over numbers). Default: `ZScore`, `Ewma` and `Mad` with their defaults. */
  readonly members: ReadonlyArray<Detector.Any>
  /** How member assessments are combined: `"max"`, `"vote"` or `"weighted"`. Default `"max"`. */
  readonly combine: "max" | "vote" | "weighted"
  /** Non-negative weights for `"weighted"`, one per member; empty means equal weights. Default `[]`. */
  readonly weights: ReadonlyArray<number>
  /** How points judged anomalous are learned: `"learn"` in full, `"clip"` to the band, `"skip"`. Default `"clip"`. */
  readonly anomalies: Anomalies
}

/**
 * @category models
 * @since 0.1.0
 */
export const defaults: Params = {
  members: [ZScore.make(), Ewma.make(), Mad.make()],
  combine: "max",
  weights: [],
  anomalies: "clip"
}

const isDetector = (u: unknown): u is Detector.Any =>
  typeof u === "object" &&
  u !== null &&
  typeof (u as Detector.Any).score === "function" &&
  typeof (u as Detector.Any).learn === "function" &&
  typeof (u as Detector.Any).initial === "function"

/**
 * Validates a (partial) configuration; `weights`, when given, must match the members.
 *
 * @category models
 * @since 0.1.0
 */
export const ParamsSchema: Schema.Codec<Partial<Params>, unknown> = Schema.Struct({
  members: Schema.optionalKey(
    Schema.Array(Schema.declare(isDetector, { expected: "a detector" })).check(Schema.isMinLength(1))
  ),
  combine: Schema.optionalKey(Schema.Literals(["max", "vote", "weighted"])),
  weights: Schema.optionalKey(Schema.Array(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)))),
  anomalies: Schema.optionalKey(AnomaliesSchema)
})

/**
 * The member states, in member order.
 *
 * @category models
 * @since 0.1.0
 */
export type State = Array<unknown>

/**
 * Creates an ensemble of detectors.
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { Ensemble, Mad, Seasonal, ZScore } from "@llm-sentinel/detectors"
 * const detector = Ensemble.make({ members: [ZScore.make(), Mad.make(), Seasonal.make()], combine: "vote" })
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = (params?: Partial<Params>): Detector.Detector<State, number> => {
  const p = decodeParams(ParamsSchema, defaults, params)
  const members = p.members
  const m = members.length
  if (p.weights.length > 0 && p.weights.length !== m) {
    // reported like any other invalid parameter, with its path
    Schema.decodeUnknownSync(
      Schema.Struct({ weights: Schema.Array(Schema.Number).check(Schema.isBetweenLength(m, m)) })
    )({ weights: p.weights })
  }
  const weights = p.weights.length === m ? p.weights : members.map(() => 1)
  const quorum = Math.ceil(m / 2)
  // scratch for "vote": sorted member scores and values, reused across calls
  const scores = new Float64Array(m)
  const expecteds = new Float64Array(m)
  const lowers = new Float64Array(m)
  const uppers = new Float64Array(m)
  const median = (xs: Float64Array, k: number): number => {
    const sorted = xs.subarray(0, k).sort()
    return k % 2 === 1 ? sorted[(k - 1) / 2]! : (sorted[k / 2 - 1]! + sorted[k / 2]!) / 2
  }
  const score = (s: State, x: number, time: number): Verdict.Assessment => {
    if (!Number.isFinite(x)) return rejected
    let ready = 0
    let best: Verdict.Assessment | undefined
    let any: Verdict.Assessment | undefined
    let wSum = 0
    let wScore = 0
    let wExpected = 0
    let wLower = 0
    let wUpper = 0
    for (let i = 0; i < m; i++) {
      const a = members[i]!.score(s[i], x, time)
      any ??= a
      if (!a.ready) continue
      scores[ready] = a.score
      expecteds[ready] = a.expected
      lowers[ready] = a.lower
      uppers[ready] = a.upper
      ready++
      if (best === undefined || a.score > best.score) best = a
      const w = weights[i]!
      wSum += w
      wScore += w * a.score
      wExpected += w * a.expected
      wLower += w * a.lower
      wUpper += w * a.upper
    }
    if (best === undefined) {
      const a = any ?? rejected
      return { score: 0, expected: a.expected, lower: a.lower, upper: a.upper, ready: false }
    }
    if (p.combine === "max") return best
    if (p.combine === "weighted") {
      if (wSum === 0) return { ...best, score: 0, ready: false }
      return {
        score: squash(wScore / wSum),
        expected: wExpected / wSum,
        lower: wLower / wSum,
        upper: wUpper / wSum,
        ready: true
      }
    }
    // vote: the quorum-th highest score among the ready members
    const k = Math.min(quorum, ready)
    const sorted = scores.subarray(0, ready).sort()
    const agreed = sorted[ready - k]!
    const result: Verdict.Assessment = {
      score: squash(agreed),
      expected: median(expecteds, ready),
      lower: median(lowers, ready),
      upper: median(uppers, ready),
      ready: ready >= quorum
    }
    return agreed >= 4
      ? { ...result, reason: `${k} of ${m} detectors agree on a score of at least ${fmt(agreed)}` }
      : result
  }
  const learn = (s: State, x: number, time: number): State => {
    if (!Number.isFinite(x)) return s
    for (let i = 0; i < m; i++) {
      const d = members[i]!
      if (d.accepts(x)) s[i] = d.learn(s[i], x, time)
    }
    return s
  }
  const state = Schema.Tuple(members.map((d) => d.state)) as unknown as Schema.Codec<State, unknown>
  return Detector.make<State>({
    name,
    params: { members: members.map((d) => d.name), combine: p.combine, weights, anomalies: p.anomalies },
    minSamples: Math.min(...members.map((d) => d.minSamples)),
    ...adaptOptions(p.anomalies),
    state,
    initial: () => members.map((d) => d.initial()),
    score,
    learn
  })
}

/**
 * The laws this detector claims (see `@llm-sentinel/detectors/testing`).
 *
 * @category testing
 * @since 0.1.0
 */
export const claims: LawClaims<Params> = {
  adapts: { size: 10, within: 200 },
  shiftInvariant: true,
  scaleInvariant: true,
  sensitivity: { kind: "spike", size: 7 },
  maxStateBytes: 16_384,
  testParams: {
    members: [ZScore.make({ window: 64, minSamples: 20 }), Ewma.make(), Mad.make({ window: 64, minSamples: 20 })]
  }
}
