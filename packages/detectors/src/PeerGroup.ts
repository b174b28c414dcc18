/**
 * Peer-group outlier: one series compared with its peers at the same time (the other replicas, regions or
 * models serving the same traffic), by how many robust standard deviations it lies from the peers' median.
 *
 * The input is `{ value, peers }`. Score: `|value − median(peers)| / scale` in σ units (4 = warning), where
 * `scale` is the peers' `1.4826·MAD` (σ for normal data), falling back to their mean absolute deviation ·1.2533
 * when the MAD is 0, and to `scaleFloor·|median|` (or 1e-12) when all peers are equal. The MAD of a small group is
 * noisy (a raw threshold on it fires many times a day with five peers), so the scale actually used pools it with
 * its exponentially weighted history (`alpha`), weighted by how many groups each holds:
 * `√((scale² + m·ewScale²)/(1 + m))`, `m = min(n, 1/alpha)`, each MAD corrected for its small sample (Croux &
 * Rousseeuw) and the result widened by the median's own error, `√(1 + π/(2k))` for `k` peers; a shift shared by
 * the whole group does not change the median's distance and does not fire. Non-finite peers are ignored; with fewer than
 * `minPeers` finite peers the assessment is not ready. A whole group can also be scored at once with
 * {@link outliers}.
 *
 * Adaptation: a peer group keeps no baseline of the series itself, so a change the peers share (a provider-wide
 * slowdown) is the new normal at once; a lasting offset of one series from its peers keeps firing, which is what
 * the detector is for. An anomalous point is not learned into the scale history (`anomalies: "clip"` clips only
 * number input; `"learn"` learns it). Scores above 50 are squashed logarithmically, not capped.
 *
 * @since 0.1.0
 */
import { Detector, type Verdict } from "@llm-sentinel/core"
import { Schema } from "effect"
import {
  type Anomalies,
  AnomaliesSchema,
  adaptOptions,
  decodeParams,
  fmt,
  NonNegativeFinite,
  NonNegativeInt,
  PositiveInt,
  quantile,
  rejected,
  robustScale,
  squash,
  UnitInterval,
  WARNING
} from "./internal.ts"
import type { LawClaims } from "./testing/Claims.ts"

/**
 * @category models
 * @since 0.1.0
 */
export const name = "peer-group"

/**
 * One series' value and the values of its peers at the same time.
 *
 * @category models
 * @since 0.1.0
 */
export interface Input {
  readonly value: number
  readonly peers: ReadonlyArray<number>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Params {
  /** Finite peers needed to score a point (count). Default 3. */
  readonly minPeers: number
  /** The scale of an all-equal peer group, as a fraction of |median| (dimensionless). Default 0.01. */
  readonly scaleFloor: number
  /** Smoothing of the group scale's history, in (0, 1]. Default 0.05. */
  readonly alpha: number
  /** Points to learn before the detector may fire (count). Default 0. */
  readonly minSamples: number
  /** How points judged anomalous are learned: `"learn"` in full, `"clip"` to the band, `"skip"`. Default `"clip"`. */
  readonly anomalies: Anomalies
}

/**
 * @category models
 * @since 0.1.0
 */
export const defaults: Params = { minPeers: 3, scaleFloor: 0.01, alpha: 0.05, minSamples: 0, anomalies: "clip" }

/**
 * Validates a (partial) configuration.
 *
 * @category models
 * @since 0.1.0
 */
export const ParamsSchema: Schema.Codec<Partial<Params>, unknown> = Schema.Struct({
  minPeers: Schema.optionalKey(PositiveInt),
  scaleFloor: Schema.optionalKey(NonNegativeFinite),
  alpha: Schema.optionalKey(UnitInterval),
  minSamples: Schema.optionalKey(NonNegativeInt),
  anomalies: Schema.optionalKey(AnomaliesSchema)
})

/**
 * Points learned and the exponentially weighted square of the group scale.
 *
 * @category models
 * @since 0.1.0
 */
export interface State {
  n: number
  scale2: number
}

const StateSchema = Schema.Struct({ n: Schema.Number, scale2: Detector.AnyNumberState })

/**
 * Small-sample consistency of the MAD for normal data (Croux & Rousseeuw, 1992): `1.4826·MAD` of a handful of
 * values underestimates σ (by a third for three values), so it is multiplied by this.
 */
const madCorrection = (k: number): number => {
  const table = [1, 1, 1.196, 1.495, 1.363, 1.206, 1.2, 1.14, 1.129, 1.107]
  return k < table.length ? table[k]! : k / (k - 0.8)
}

/** Copies the finite values into a sorted typed array (reusing `scratch` when it is large enough). */
const sortedFinite = (values: ReadonlyArray<number>, scratch: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => {
  const buffer = scratch.length >= values.length ? scratch : new Float64Array(values.length)
  let k = 0
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    if (Number.isFinite(v)) buffer[k++] = v
  }
  return buffer.subarray(0, k).sort()
}

/**
 * Scores of every member of a group against the whole group.
 *
 * @category models
 * @since 0.1.0
 */
export interface Outliers {
  /** The group median. */
  readonly median: number
  /** The robust scale (σ units) the scores are divided by. */
  readonly scale: number
  /** `|value − median| / scale` for each member, in input order (0 for non-finite members). */
  readonly scores: ReadonlyArray<number>
  /** Indices of the members whose score reaches the threshold. */
  readonly outliers: ReadonlyArray<number>
}

/**
 * Scores every member of a group at once against the group's own median and MAD (members included, as Grafana
 * augurs does): a pure helper for dashboards and batch checks.
 *
 * @example
 * ```ts
 * import { PeerGroup } from "@llm-sentinel/detectors"
 * PeerGroup.outliers([101, 99, 100, 102, 98, 180]).outliers // [5]
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const outliers = (
  values: ReadonlyArray<number>,
  options: { readonly threshold?: number; readonly scaleFloor?: number } = {}
): Outliers => {
  const threshold = options.threshold ?? WARNING
  const sorted = sortedFinite(values, new Float64Array(values.length))
  if (sorted.length === 0) return { median: Number.NaN, scale: Number.NaN, scores: values.map(() => 0), outliers: [] }
  const median = quantile(sorted, sorted.length, 0.5)
  const scale = robustScale(sorted, sorted.length, median, options.scaleFloor ?? defaults.scaleFloor)
  const scores = values.map((v) => (Number.isFinite(v) ? squash(Math.abs(v - median) / scale) : 0))
  const flagged: Array<number> = []
  for (let i = 0; i < scores.length; i++) if (scores[i]! >= threshold) flagged.push(i)
  return { median, scale, scores, outliers: flagged }
}

/**
 * Creates a peer-group outlier detector.
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { PeerGroup } from "@llm-sentinel/detectors"
 * const d = PeerGroup.make()
 * d.score(d.initial(), { value: 900, peers: [210, 190, 205, 198] }, 0).score // ≫ 4
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = (params?: Partial<Params>): Detector.Detector<State, Input> => {
  const p = decodeParams(ParamsSchema, defaults, params)
  let scratch = new Float64Array(16)
  const score = (s: State, input: Input): Verdict.Assessment => {
    const x = input.value
    if (!Number.isFinite(x) || !Array.isArray(input.peers)) return rejected
    if (scratch.length < input.peers.length) scratch = new Float64Array(input.peers.length)
    const sorted = sortedFinite(input.peers, scratch)
    const k = sorted.length
    if (k === 0) return { score: 0, expected: Number.NaN, lower: Number.NaN, upper: Number.NaN, ready: false }
    const median = quantile(sorted, k, 0.5)
    const current = robustScale(sorted, k, median, p.scaleFloor) * madCorrection(k)
    // the group's spread pooled over time: the history holds about min(n, 1/alpha) groups' worth of it, the
    // current group one, so the noisy MAD of a handful of peers moves the scale by its share only; the distance
    // from the median of k peers also carries the median's own error (variance π/(2k) σ² for normal data)
    const m = Math.min(s.n, 1 / p.alpha)
    const scale = Math.sqrt((current * current + m * s.scale2) / (1 + m)) * Math.sqrt(1 + Math.PI / (2 * k))
    const z = (x - median) / scale
    const result = squash(Math.abs(z))
    const lower = median - WARNING * scale
    const upper = median + WARNING * scale
    const ready = k >= p.minPeers && s.n >= p.minSamples
    if (result < WARNING) return { score: result, expected: median, lower, upper, ready }
    return {
      score: result,
      expected: median,
      lower,
      upper,
      ready,
      reason: `value ${fmt(x)} is ${fmt(Math.abs(z))} robust σ ${z > 0 ? "above" : "below"} the median ${fmt(median)} of ${k} peers`
    }
  }
  const learn = (s: State, input: Input): State => {
    if (!Number.isFinite(input.value) || !Array.isArray(input.peers)) return s
    if (scratch.length < input.peers.length) scratch = new Float64Array(input.peers.length)
    const sorted = sortedFinite(input.peers, scratch)
    if (sorted.length === 0) return s
    const current =
      robustScale(sorted, sorted.length, quantile(sorted, sorted.length, 0.5), p.scaleFloor) *
      madCorrection(sorted.length)
    s.n++
    const a = Math.max(p.alpha, 1 / s.n)
    s.scale2 += a * (current * current - s.scale2)
    return s
  }
  return Detector.make<State, Input>({
    name,
    params: { ...p },
    minSamples: p.minSamples,
    ...adaptOptions(p.anomalies),
    state: StateSchema,
    initial: () => ({ n: 0, scale2: 0 }),
    score,
    learn,
    accepts: (input) => typeof input === "object" && input !== null && Number.isFinite(input.value)
  })
}

/** For the laws: the value and its last 8 values as peers (a causal stand-in for a peer group). */
const lagPeers = (series: ReadonlyArray<number>): ReadonlyArray<Input> =>
  series.map((value, i) => ({ value, peers: series.slice(Math.max(0, i - 8), i).filter(Number.isFinite) }))

/**
 * The laws this detector claims (see `@llm-sentinel/detectors/testing`).
 *
 * @category testing
 * @since 0.1.0
 */
export const claims: LawClaims<Params, Input> = {
  adapts: { size: 10, within: 200 },
  input: lagPeers,
  // the scale of an all-equal group is relative to its level (scaleFloor·|median|), which a shift changes
  shiftInvariant: false,
  scaleInvariant: true,
  monotonic: true,
  sensitivity: { kind: "spike", size: 12 },
  maxStateBytes: 128,
  testParams: {}
}
