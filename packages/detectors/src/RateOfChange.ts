/**
 * Rate of change: how unusual the change from the previous point is, compared with the usual changes.
 *
 * The change `d = x − x_prev` (or `(x − x_prev)/(t − t_prev)` with `perTime`) is standardised against an
 * exponentially weighted mean and variance of past changes: score `|d − mean_d| / σ_d` in σ units of the
 * change (4 = warning). It catches sudden jumps in slowly wandering series where a level detector's window lags,
 * and ignores slow trends. For white noise the change has σ·√2, so a spike of `c`σ scores about `c/√2`.
 * Adaptation (`anomalies: "clip"`, the default): an anomalous point becomes the previous value (so a level shift
 * fires at its jump and is the new level from the next point on) while the change statistics learn its change
 * clipped to `mean_d ± 4σ_d`. For `returnWithin` points after an anomalous one a change is judged from the previous
 * value or from the last value before the anomaly, whichever is more usual, so the return from a spike is not a
 * second anomaly; `"skip"` measures the next change from the last normal point (a shift keeps firing),
 * `"learn"` learns the full change. σ_d never falls below one learned quantum of the values (or the metric's
 * minimum change, `scaleFloor` in `internal.ts`); scores above 50 are squashed logarithmically. `expected` is
 * the previous value plus the usual change.
 *
 * @since 0.1.0
 */
import { Detector, type Verdict } from "@llm-sentinel/core"
import { Schema } from "effect"
import {
  type Anomalies,
  AnomaliesSchema,
  decodeParams,
  ewUpdate,
  fmt,
  learnResolution,
  type MinimumChange,
  MinimumChangeFields,
  noMinimumChange,
  PositiveInt,
  ResolutionFields,
  rejected,
  scaleFloor,
  squash,
  UnitInterval,
  WARNING
} from "./internal.ts"
import type { LawClaims } from "./testing/Claims.ts"

/**
 * @category models
 * @since 0.1.0
 */
export const name = "rate-of-change"

/**
 * @category models
 * @since 0.1.0
 */
export interface Params extends MinimumChange {
  /** Smoothing of the mean and variance of changes, in (0, 1]; memory about `2/alpha` points. Default 0.05. */
  readonly alpha: number
  /** Divide each change by the time elapsed since the previous point (series unit per time unit). Default false. */
  readonly perTime: boolean
  /**
   * For how many points after an anomalous one a change is also judged from the last value before it, so that the
   * return from a spike (of up to this many points) is not a second anomaly (count). Default 10.
   */
  readonly returnWithin: number
  /** Points to learn before the detector may fire (count, at least 3). Default 30. */
  readonly minSamples: number
  /** How points judged anomalous are learned: `"learn"` in full, `"clip"` to the band, `"skip"`. Default `"clip"`. */
  readonly anomalies: Anomalies
}

/**
 * @category models
 * @since 0.1.0
 */
export const defaults: Params = {
  alpha: 0.05,
  perTime: false,
  minSamples: 30,
  anomalies: "clip",
  returnWithin: 10,
  ...noMinimumChange
}

/**
 * Validates a (partial) configuration.
 *
 * @category models
 * @since 0.1.0
 */
export const ParamsSchema: Schema.Codec<Partial<Params>, unknown> = Schema.Struct({
  alpha: Schema.optionalKey(UnitInterval),
  perTime: Schema.optionalKey(Schema.Boolean),
  minSamples: Schema.optionalKey(PositiveInt),
  returnWithin: Schema.optionalKey(PositiveInt),
  anomalies: Schema.optionalKey(AnomaliesSchema),
  ...MinimumChangeFields
})

/**
 * The previous point and the statistics of past changes, updated in place by `learn`.
 *
 * @category models
 * @since 0.1.0
 */
export interface State {
  /** Points learned. */
  n: number
  prev: number
  prevTime: number
  /** Mean of past changes. */
  mean: number
  /** Variance of past changes. */
  variance: number
  /** The last value learned (for the quantum). */
  last: number
  /** The smallest non-zero step between consecutive values seen. */
  quantum: number
  /**
   * The last value before the latest anomalous run, and its time, kept for `returnWithin` points after the run
   * (then equal to `prev` again): a return to it is not a change.
   */
  normal: number
  normalTime: number
  /** Points learned since the last anomalous one (`returnWithin` or more: none recently). */
  since: number
}

const StateSchema = Schema.Struct({
  n: Schema.Number,
  prev: Detector.AnyNumberState,
  prevTime: Detector.AnyNumberState,
  normal: Detector.AnyNumberState,
  normalTime: Detector.AnyNumberState,
  since: Schema.Number,
  mean: Detector.AnyNumberState,
  variance: Detector.AnyNumberState,
  ...ResolutionFields
})

/**
 * Creates a rate-of-change detector.
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { RateOfChange } from "@llm-sentinel/detectors"
 * const detector = RateOfChange.make({ perTime: true }) // change per millisecond of event time
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = (params?: Partial<Params>): Detector.Detector<State, number> => {
  const p = decodeParams(ParamsSchema, defaults, params)
  const { alpha, perTime } = p
  const minSamples = Math.max(3, p.minSamples)
  // the elapsed time since `from`, or 1 when changes are per point or time did not advance
  const elapsedSince = (from: number, time: number): number => {
    if (!perTime) return 1
    const dt = time - from
    return dt > 0 && Number.isFinite(dt) ? dt : 1
  }
  const elapsed = (s: State, time: number): number => elapsedSince(s.prevTime, time)
  /**
   * The change to judge: from the previous value, or, right after an anomalous point, from the last normal value
   * when that change is the more usual one (the return from a spike is not a second anomaly).
   */
  const changeOf = (s: State, x: number, time: number) => {
    const dt = elapsed(s, time)
    const scale = Math.max(Math.sqrt(Math.max(s.variance, 0)), scaleFloor(s, s.prev, p) / dt)
    const d = (x - s.prev) / dt
    const z = (d - s.mean) / scale
    if (s.since >= p.returnWithin || !Number.isFinite(s.normal)) return { from: s.prev, dt, d, z, scale }
    const dtN = elapsedSince(s.normalTime, time)
    const scaleN = Math.max(Math.sqrt(Math.max(s.variance, 0)), scaleFloor(s, s.normal, p) / dtN)
    const dN = (x - s.normal) / dtN
    const zN = (dN - s.mean) / scaleN
    return Math.abs(zN) < Math.abs(z)
      ? { from: s.normal, dt: dtN, d: dN, z: zN, scale: scaleN }
      : { from: s.prev, dt, d, z, scale }
  }
  const score = (s: State, x: number, time: number): Verdict.Assessment => {
    if (!Number.isFinite(x)) return rejected
    if (s.n < 3)
      return { score: 0, expected: s.n > 0 ? s.prev : Number.NaN, lower: Number.NaN, upper: Number.NaN, ready: false }
    const { from, dt, d, z, scale } = changeOf(s, x, time)
    const result = squash(Math.abs(z))
    const expected = from + s.mean * dt
    const lower = expected - WARNING * scale * dt
    const upper = expected + WARNING * scale * dt
    const ready = s.n >= minSamples
    if (result < WARNING) return { score: result, expected, lower, upper, ready }
    return {
      score: result,
      expected,
      lower,
      upper,
      ready,
      reason: `change ${fmt(d)}${perTime ? " per time unit" : ""} from ${fmt(from)} is ${fmt(Math.abs(z))}σ off the usual ${fmt(s.mean)} (σ ${fmt(scale)})`
    }
  }
  // `band`: the change is learned clipped to mean ± band·σ (bounded learning of an anomalous change)
  const learnWith = (s: State, x: number, time: number, band: number): State => {
    if (!Number.isFinite(x)) return s
    learnResolution(s, x)
    if (s.n > 0) {
      const change = changeOf(s, x, time)
      let d = change.d
      if (band < Number.POSITIVE_INFINITY) {
        const width = band * change.scale
        d = Math.min(Math.max(d, s.mean - width), s.mean + width)
      }
      ewUpdate(s, Math.max(alpha, 1 / s.n), d)
    }
    s.prev = x
    s.prevTime = time
    if (band < Number.POSITIVE_INFINITY) s.since = 0
    else if (s.since < p.returnWithin) s.since++
    if (s.since >= p.returnWithin) {
      s.normal = x
      s.normalTime = time
    }
    s.n++
    return s
  }
  const learn = (s: State, x: number, time: number): State => learnWith(s, x, time, Number.POSITIVE_INFINITY)
  return Detector.make<State>({
    name,
    params: { ...p },
    minSamples,
    learnAnomalies: p.anomalies === "learn",
    // clip: the level follows the anomalous point (the next change is measured from it), but the change
    // statistics learn the change clipped to the band, so one jump neither inflates σ nor keeps firing
    adapt: p.anomalies === "clip" ? (s, x, time) => learnWith(s, x, time, WARNING) : "skip",
    state: StateSchema,
    initial: () => ({
      n: 0,
      prev: 0,
      prevTime: 0,
      mean: 0,
      variance: 0,
      last: Number.NaN,
      quantum: 0,
      normal: Number.NaN,
      normalTime: Number.NaN,
      since: p.returnWithin
    }),
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
  adapts: { size: 10, within: 10 },
  shiftInvariant: true,
  scaleInvariant: true,
  // not claimed: for `returnWithin` points after an anomaly a return to the level before it is usual too, so the
  // score has two minima (the previous value and the pre-anomaly one), not one
  monotonic: false,
  // a spike of c σ scores about c/√2 (the change has σ·√2) and σ_d is estimated: 12σ reaches 4 reliably
  sensitivity: { kind: "spike", size: 12 },
  maxStateBytes: 512,
  testParams: { minSamples: 30 }
}
