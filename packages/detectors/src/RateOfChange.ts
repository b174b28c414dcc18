/**
 * Rate of change: how unusual the change from the previous point is, compared with the usual changes.
 *
 * The change `d = x − x_prev` (or `(x − x_prev)/(t − t_prev)` with `perTime`) is standardised against an
 * exponentially weighted mean and variance of past changes: score `|d − mean_d| / σ_d` in σ units of the
 * change (4 = warning). It catches sudden jumps in slowly wandering series where a level detector's window lags,
 * and ignores slow trends. For white noise the change has σ·√2, so a spike of `c`σ scores about `c/√2`.
 * With `learnAnomalies` false an anomalous point is not learned, so the next change is measured from the last
 * normal point: a spike fires once, a level shift keeps firing until it is learned. A zero σ_d falls back to
 * `1e-9·|x_prev|`; scores are capped at 1000. `expected` is the previous value plus the usual change.
 *
 * @since 0.1.0
 */
import { Detector, type Verdict } from "@llm-sentinel/core"
import { Schema } from "effect"
import {
  clampScore,
  decodeParams,
  ewUpdate,
  fmt,
  PositiveInt,
  rejected,
  TINY,
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
export interface Params {
  /** Smoothing of the mean and variance of changes, in (0, 1]; memory about `2/alpha` points. Default 0.05. */
  readonly alpha: number
  /** Divide each change by the time elapsed since the previous point (series unit per time unit). Default false. */
  readonly perTime: boolean
  /** Points to learn before the detector may fire (count, at least 3). Default 30. */
  readonly minSamples: number
  /** Whether points judged anomalous are learned. Default false. */
  readonly learnAnomalies: boolean
}

/**
 * @category models
 * @since 0.1.0
 */
export const defaults: Params = { alpha: 0.05, perTime: false, minSamples: 30, learnAnomalies: false }

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
  learnAnomalies: Schema.optionalKey(Schema.Boolean)
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
}

const StateSchema = Schema.Struct({
  n: Schema.Number,
  prev: Detector.AnyNumberState,
  prevTime: Detector.AnyNumberState,
  mean: Detector.AnyNumberState,
  variance: Detector.AnyNumberState
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
  // the elapsed time, or 1 when changes are per point or time did not advance
  const elapsed = (s: State, time: number): number => {
    if (!perTime) return 1
    const dt = time - s.prevTime
    return dt > 0 && Number.isFinite(dt) ? dt : 1
  }
  const score = (s: State, x: number, time: number): Verdict.Assessment => {
    if (!Number.isFinite(x)) return rejected
    if (s.n < 3)
      return { score: 0, expected: s.n > 0 ? s.prev : Number.NaN, lower: Number.NaN, upper: Number.NaN, ready: false }
    const dt = elapsed(s, time)
    const d = (x - s.prev) / dt
    const scale = Math.max(Math.sqrt(Math.max(s.variance, 0)), (1e-9 * Math.abs(s.prev)) / dt, TINY)
    const z = (d - s.mean) / scale
    const result = clampScore(Math.abs(z))
    const expected = s.prev + s.mean * dt
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
      reason: `change ${fmt(d)}${perTime ? " per time unit" : ""} from ${fmt(s.prev)} is ${fmt(Math.abs(z))}σ off the usual ${fmt(s.mean)} (σ ${fmt(scale)})`
    }
  }
  const learn = (s: State, x: number, time: number): State => {
    if (!Number.isFinite(x)) return s
    if (s.n > 0) {
      const d = (x - s.prev) / elapsed(s, time)
      ewUpdate(s, Math.max(alpha, 1 / s.n), d)
    }
    s.prev = x
    s.prevTime = time
    s.n++
    return s
  }
  return Detector.make<State>({
    name,
    params: { ...p },
    minSamples,
    learnAnomalies: p.learnAnomalies,
    state: StateSchema,
    initial: () => ({ n: 0, prev: 0, prevTime: 0, mean: 0, variance: 0 }),
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
export const laws: LawClaims<Params> = {
  shiftInvariant: true,
  scaleInvariant: true,
  // the score grows with the distance from `expected` = previous value + usual change
  monotonic: true,
  // a spike of c σ scores about c/√2 (the change has σ·√2) and σ_d is estimated: 12σ reaches 4 reliably
  sensitivity: { kind: "spike", size: 12 },
  maxStateBytes: 512,
  testParams: { minSamples: 30 }
}
