/**
 * Rolling z-score: how many standard deviations a point lies from the mean of the last `window` points.
 *
 * The mean and variance are kept by a sliding Welford update (O(1) per point, tens of ns), recomputed exactly
 * from the ring each time it wraps so rounding errors cannot accumulate. Score: `|x − mean| / σ`, in σ units
 * (4 = warning, 6 = critical with the default thresholds).
 *
 * The scale never falls below what the data can resolve or what the metric calls a change (`scaleFloor` in
 * `internal.ts`): one learned quantum of the values (a counter at 0 that blips to 1 scores 1, not 1000), the
 * configurable `minChange`/`minRelativeChange` (a smaller change scores under 3), and the Poisson spread with
 * `counts`. Scores above 50 are squashed logarithmically (monotone, never tied).
 *
 * Adaptation (`anomalies: "clip"`, the default): a point judged anomalous is learned clipped to the band
 * `mean ± 4σ`. A spike then barely moves the window, while a lasting shift fills it with band-edge values, which
 * raise the mean and the spread until the new level is inside the band: after a 10σ step the detector is quiet
 * again within about half a window.
 *
 * @since 0.1.0
 */
import { Detector, Slab, type Verdict } from "@llm-sentinel/core"
import { Schema } from "effect"
import {
  type Anomalies,
  AnomaliesSchema,
  decodeParams,
  fmt,
  learning,
  type MinimumChange,
  MinimumChangeFields,
  noMinimumChange,
  PositiveInt,
  ResolutionFields,
  rejected,
  scaleFloor,
  squash,
  WARNING
} from "./internal.ts"
import type { LawClaims } from "./testing/Claims.ts"

/**
 * @category models
 * @since 0.1.0
 */
export const name = "zscore"

/**
 * @category models
 * @since 0.1.0
 */
export interface Params extends MinimumChange {
  /** Points in the rolling window (count). Default 256. Ignored when `span` is set. */
  readonly window: number
  /**
   * The window as a span of event time, in milliseconds (for example a day, so that a daily cycle is inside the
   * window at any sampling rate): its length in points is `span` over the interval between the first two points,
   * between 2 and 100,000. Default 0 (use `window`).
   */
  readonly span: number
  /** Points to learn before the detector may fire (count, at least 2). Default 30. */
  readonly minSamples: number
  /** How points judged anomalous are learned: `"clip"` (to the band, default), `"learn"` in full, `"skip"`. */
  readonly anomalies: Anomalies
}

/**
 * @category models
 * @since 0.1.0
 */
export const defaults: Params = { window: 256, span: 0, minSamples: 30, anomalies: "clip", ...noMinimumChange }

/**
 * Validates a (partial) configuration.
 *
 * @category models
 * @since 0.1.0
 */
export const ParamsSchema: Schema.Codec<Partial<Params>, unknown> = Schema.Struct({
  window: Schema.optionalKey(PositiveInt.check(Schema.isGreaterThanOrEqualTo(2), Schema.isLessThanOrEqualTo(1e6))),
  span: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))),
  minSamples: Schema.optionalKey(PositiveInt),
  anomalies: Schema.optionalKey(AnomaliesSchema),
  ...MinimumChangeFields
})

/**
 * The detector state: the ring of the last `window` values and their running mean and sum of squared
 * deviations. Updated in place by `learn`.
 *
 * @category models
 * @since 0.1.0
 */
export interface State {
  readonly ring: Float64Array<ArrayBuffer>
  /** Points learned in total. */
  n: number
  /** The ring slot the next value goes to. */
  pos: number
  mean: number
  m2: number
  /** The last value learned (for the quantum). */
  last: number
  /** The smallest non-zero step between consecutive values seen. */
  quantum: number
  /** Event time of the first point (for `span`). */
  firstTime: number
}

const StateSchema = Schema.Struct({
  firstTime: Detector.AnyNumberState,
  ring: Detector.Float64ArrayState,
  n: Schema.Number,
  pos: Schema.Number,
  mean: Detector.AnyNumberState,
  m2: Detector.AnyNumberState,
  ...ResolutionFields
})

/**
 * Creates a rolling z-score detector.
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { ZScore } from "@llm-sentinel/detectors"
 * const { verdicts } = Detector.run(ZScore.make({ window: 64 }), [10, 11, 9, 10, 11, 9, 10, 50])
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = (params?: Partial<Params>): Detector.Detector<State, number> => {
  const p = decodeParams(ParamsSchema, defaults, params)
  // with a span, the ring holds one point until the second point tells the interval, then the window's length
  const sized = (s: State, time: number): State => {
    const dt = time - s.firstTime
    const w = dt > 0 ? Math.min(100_000, Math.max(2, Math.round(p.span / dt))) : p.window
    const ring = Slab.float64(w)
    ring[0] = s.ring[0]!
    return { ...s, ring, pos: 1 % w }
  }
  const minSamples = Math.max(2, p.minSamples)
  const score = (s: State, x: number): Verdict.Assessment => {
    if (!Number.isFinite(x)) return rejected
    const w = s.ring.length
    const count = Math.min(s.n, w)
    if (count < 2)
      return {
        score: 0,
        expected: count === 1 ? s.mean : Number.NaN,
        lower: Number.NaN,
        upper: Number.NaN,
        ready: false
      }
    const sd = Math.sqrt(Math.max(s.m2, 0) / (count - 1))
    const scale = Math.max(sd, scaleFloor(s, s.mean, p))
    const z = (x - s.mean) / scale
    const result = squash(Math.abs(z))
    const half = WARNING * scale
    if (result < WARNING) {
      return { score: result, expected: s.mean, lower: s.mean - half, upper: s.mean + half, ready: s.n >= minSamples }
    }
    return {
      score: result,
      expected: s.mean,
      lower: s.mean - half,
      upper: s.mean + half,
      ready: s.n >= minSamples,
      reason: `z=${fmt(z)} ${z > 0 ? "above" : "below"} mean ${fmt(s.mean)} (σ ${fmt(scale)}, last ${count})`
    }
  }
  const learn = (state: State, x: number, time: number): State => {
    if (!Number.isFinite(x)) return state
    const s = p.span > 0 && state.n === 1 && state.ring.length === 1 ? sized(state, time) : state
    if (s.n === 0) s.firstTime = time
    const ring = s.ring
    const w = ring.length
    if (s.n < w) {
      const count = s.n + 1
      const d = x - s.mean
      s.mean += d / count
      s.m2 += d * (x - s.mean)
    } else {
      const old = ring[s.pos]!
      const mean = s.mean + (x - old) / w
      s.m2 += (x - old) * (x - mean + old - s.mean)
      s.mean = mean
    }
    ring[s.pos] = x
    s.n++
    s.pos = s.pos + 1 === w ? 0 : s.pos + 1
    if (s.pos === 0) {
      // exact two-pass recomputation once per window: bounds the drift of the sliding update
      let mean = 0
      for (let i = 0; i < w; i++) mean += (ring[i]! - mean) / (i + 1)
      let m2 = 0
      for (let i = 0; i < w; i++) m2 += (ring[i]! - mean) ** 2
      s.mean = mean
      s.m2 = m2
    }
    return s
  }
  return Detector.make<State>({
    name,
    params: { ...p },
    minSamples,
    ...learning(p.anomalies, learn),
    state: StateSchema,
    initial: () => ({
      ring: Slab.float64(p.span > 0 ? 1 : p.window),
      n: 0,
      pos: 0,
      mean: 0,
      m2: 0,
      last: Number.NaN,
      quantum: 0,
      firstTime: Number.NaN
    }),
    score
  })
}

/**
 * The laws this detector claims (see `@llm-sentinel/detectors/testing`).
 *
 * @category testing
 * @since 0.1.0
 */
export const claims: LawClaims<Params> = {
  adapts: { size: 10, within: 150 },
  shiftInvariant: true,
  scaleInvariant: true,
  monotonic: true,
  sensitivity: { kind: "spike", size: 6 },
  maxStateBytes: 4096,
  testParams: { window: 64, minSamples: 20 }
}
