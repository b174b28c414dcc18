/**
 * EWMA control chart: an exponentially weighted baseline (mean and variance) and a smoothed chart statistic
 * compared with it.
 *
 * The baseline mean μ and variance σ² are exponentially weighted with `alpha` (the first points are averaged
 * exactly, `max(alpha, 1/n)`, so early estimates are not biased towards the first value). The chart statistic
 * is `c = λ·x + (1 − λ)·c_prev`; its standard deviation is `σ·√(λ/(2 − λ))`. Score: `|c − μ| / (σ·√(λ/(2 − λ)))`
 * in σ units of the chart statistic (4 = warning). With `lambda = 1` this is a Shewhart chart (a plain
 * exponentially weighted z-score); smaller `lambda` catches small sustained shifts sooner but needs a larger
 * spike: with the default 0.3, a single spike of `k`σ scores about `0.71·k`, a sustained shift of `k`σ about
 * `2.4·k`. The scale never falls below one learned quantum of the
 * data or the metric's minimum change (`scaleFloor` in `internal.ts`); scores above 50 are squashed
 * logarithmically. Adaptation (`anomalies: "clip"`): an anomalous point is learned clipped to the band, so a
 * lasting shift pulls the baseline along within a few `1/alpha` points.
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
  learning,
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
export const name = "ewma"

/**
 * @category models
 * @since 0.1.0
 */
export interface Params extends MinimumChange {
  /** Smoothing of the baseline mean and variance, in (0, 1]; the effective memory is about `2/alpha` points. Default 0.05. */
  readonly alpha: number
  /** Smoothing of the chart statistic λ, in (0, 1]; 1 scores each point alone. Default 0.3. */
  readonly lambda: number
  /** Points to learn before the detector may fire (count, at least 2). Default 30. */
  readonly minSamples: number
  /** How points judged anomalous are learned: `"learn"` in full, `"clip"` to the band, `"skip"`. Default `"clip"`. */
  readonly anomalies: Anomalies
}

/**
 * @category models
 * @since 0.1.0
 */
export const defaults: Params = { alpha: 0.05, lambda: 0.3, minSamples: 30, anomalies: "clip", ...noMinimumChange }

/**
 * Validates a (partial) configuration.
 *
 * @category models
 * @since 0.1.0
 */
export const ParamsSchema: Schema.Codec<Partial<Params>, unknown> = Schema.Struct({
  alpha: Schema.optionalKey(UnitInterval),
  lambda: Schema.optionalKey(UnitInterval),
  minSamples: Schema.optionalKey(PositiveInt),
  anomalies: Schema.optionalKey(AnomaliesSchema),
  ...MinimumChangeFields
})

/**
 * The detector state, updated in place by `learn`.
 *
 * @category models
 * @since 0.1.0
 */
export interface State {
  /** Points learned. */
  n: number
  /** Baseline mean μ. */
  mean: number
  /** Baseline variance σ². */
  variance: number
  /** The chart statistic after the last learned point. */
  chart: number
  /** The last value learned (for the quantum). */
  last: number
  /** The smallest non-zero step between consecutive values seen. */
  quantum: number
}

const StateSchema = Schema.Struct({
  n: Schema.Number,
  mean: Detector.AnyNumberState,
  variance: Detector.AnyNumberState,
  chart: Detector.AnyNumberState,
  ...ResolutionFields
})

/**
 * Creates an EWMA control chart detector.
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { Ewma } from "@llm-sentinel/detectors"
 * const detector = Ewma.make({ alpha: 0.02, lambda: 0.2 })
 * const { verdicts } = Detector.run(detector, [10, 11, 9, 10, 11, 9, 10, 50])
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = (params?: Partial<Params>): Detector.Detector<State, number> => {
  const p = decodeParams(ParamsSchema, defaults, params)
  const alpha = p.alpha
  const lambda = p.lambda
  const chartFactor = Math.sqrt(lambda / (2 - lambda))
  const minSamples = Math.max(2, p.minSamples)
  const score = (s: State, x: number): Verdict.Assessment => {
    if (!Number.isFinite(x)) return rejected
    if (s.n < 2)
      return { score: 0, expected: s.n === 1 ? s.mean : Number.NaN, lower: Number.NaN, upper: Number.NaN, ready: false }
    const sd = Math.sqrt(Math.max(s.variance, 0))
    const scale = Math.max(sd, scaleFloor(s, s.mean, p)) * chartFactor
    const c = lambda * x + (1 - lambda) * s.chart
    const z = (c - s.mean) / scale
    const result = squash(Math.abs(z))
    // the values of x at which the chart statistic reaches ±WARNING
    const rest = (1 - lambda) * s.chart
    const lower = (s.mean - WARNING * scale - rest) / lambda
    const upper = (s.mean + WARNING * scale - rest) / lambda
    const ready = s.n >= minSamples
    if (result < WARNING) return { score: result, expected: s.mean, lower, upper, ready }
    return {
      score: result,
      expected: s.mean,
      lower,
      upper,
      ready,
      reason: `EWMA chart ${fmt(c)} ${z > 0 ? "above" : "below"} mean ${fmt(s.mean)} by ${fmt(Math.abs(z))} chart σ (σ ${fmt(sd)})`
    }
  }
  const learn = (s: State, x: number): State => {
    if (!Number.isFinite(x)) return s
    s.n++
    ewUpdate(s, Math.max(alpha, 1 / s.n), x)
    s.chart = s.n === 1 ? x : lambda * x + (1 - lambda) * s.chart
    return s
  }
  return Detector.make<State>({
    name,
    params: { ...p },
    minSamples,
    ...learning(p.anomalies, learn),
    state: StateSchema,
    initial: () => ({ n: 0, mean: 0, variance: 0, chart: 0, last: Number.NaN, quantum: 0 }),
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
  adapts: { size: 10, within: 200 },
  shiftInvariant: true,
  scaleInvariant: true,
  // the score is monotonic in the distance from the value that keeps the chart on the mean, not from `expected`
  monotonic: false,
  sensitivity: { kind: "spike", size: 10 },
  maxStateBytes: 512,
  testParams: { alpha: 0.05, lambda: 0.3, minSamples: 30 }
}
