/**
 * Seasonal baseline: compares each point with what is usual at the same hour of the day (or of the week).
 *
 * Points fall into buckets by their event time in UTC (epoch milliseconds): 24 hour-of-day buckets, or 168
 * hour-of-week buckets (bucket 0 = Monday 00:00 UTC) with `period: "week"`. Each bucket keeps an exponentially
 * weighted mean and variance (exact averages for its first `1/alpha` points), and a pooled variance of the
 * residuals `x − mean_b` over all buckets is kept as well. Score: `|x − mean_b| / σ_b` in σ units (4 = warning),
 * so a daily cycle is not an anomaly but a deviation from it is. `σ_b² = (c·var_b + k·pooled)/(c + k)` with
 * `c` the bucket's count and `k = bucketMinSamples`: a bucket with few points leans on the pooled residual
 * variance instead of its own noisy estimate. A bucket fires only once it
 * has `bucketMinSamples` points: a series needs about `bucketMinSamples` days (weeks) of history before every
 * hour is covered. A zero σ_b falls back to `1e-9·|mean_b|`; scores are capped at 1000.
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
  PositiveInt,
  rejected,
  squash,
  TINY,
  UnitInterval,
  WARNING
} from "./internal.ts"
import type { LawClaims } from "./testing/Claims.ts"

/**
 * @category models
 * @since 0.1.0
 */
export const name = "seasonal"

/**
 * @category models
 * @since 0.1.0
 */
export interface Params {
  /** The cycle: `"day"` (24 hour-of-day buckets) or `"week"` (168 hour-of-week buckets). Default `"day"`. */
  readonly period: "day" | "week"
  /** Smoothing of each bucket's mean and variance, in (0, 1]; memory about `2/alpha` cycles. Default 0.1. */
  readonly alpha: number
  /** Points a bucket needs before it may fire (count, at least 2). Default 5. */
  readonly bucketMinSamples: number
  /** Points to learn in total before the detector may fire (count). Default 48. */
  readonly minSamples: number
  /** How points judged anomalous are learned: `"clip"` to the band (default), `"learn"` in full, `"skip"`. */
  readonly anomalies: Anomalies
}

/**
 * @category models
 * @since 0.1.0
 */
export const defaults: Params = {
  period: "day",
  alpha: 0.1,
  bucketMinSamples: 5,
  minSamples: 48,
  anomalies: "clip"
}

/**
 * Validates a (partial) configuration.
 *
 * @category models
 * @since 0.1.0
 */
export const ParamsSchema: Schema.Codec<Partial<Params>, unknown> = Schema.Struct({
  period: Schema.optionalKey(Schema.Literals(["day", "week"])),
  alpha: Schema.optionalKey(UnitInterval),
  bucketMinSamples: Schema.optionalKey(PositiveInt.check(Schema.isGreaterThanOrEqualTo(2))),
  minSamples: Schema.optionalKey(PositiveInt),
  anomalies: Schema.optionalKey(AnomaliesSchema)
})

/**
 * Per-bucket means, variances and counts, updated in place by `learn`.
 *
 * @category models
 * @since 0.1.0
 */
export interface State {
  readonly means: Float64Array<ArrayBuffer>
  readonly variances: Float64Array<ArrayBuffer>
  readonly counts: Float64Array<ArrayBuffer>
  /** Points learned in total. */
  n: number
  /** Exponentially weighted variance of the residuals against the bucket means, over all buckets. */
  pooled: number
  /** Residuals learned into `pooled`. */
  residuals: number
}

const StateSchema = Schema.Struct({
  means: Detector.Float64ArrayState,
  variances: Detector.Float64ArrayState,
  counts: Detector.Float64ArrayState,
  n: Schema.Number,
  pooled: Detector.AnyNumberState,
  residuals: Schema.Number
})

const HOUR = 3_600_000

/**
 * The bucket of an event time (epoch milliseconds, UTC): hour of day, or hour of week from Monday 00:00.
 *
 * @category models
 * @since 0.1.0
 */
export const bucketOf = (time: number, period: "day" | "week"): number => {
  const hours = Math.floor(time / HOUR)
  if (period === "day") return ((hours % 24) + 24) % 24
  // 1970-01-01 was a Thursday: shift by 3 days so that Monday 00:00 is bucket 0
  return (((hours + 72) % 168) + 168) % 168
}

/**
 * Creates a seasonal (hour-of-day / hour-of-week) baseline detector.
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { Seasonal } from "@llm-sentinel/detectors"
 * const detector = Seasonal.make({ period: "week", bucketMinSamples: 3 })
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = (params?: Partial<Params>): Detector.Detector<State, number> => {
  const p = decodeParams(ParamsSchema, defaults, params)
  const { alpha, period, bucketMinSamples, minSamples } = p
  const buckets = period === "day" ? 24 : 168
  const poolAlpha = alpha / buckets
  const score = (s: State, x: number, time: number): Verdict.Assessment => {
    if (!Number.isFinite(x) || !Number.isFinite(time)) return rejected
    const b = bucketOf(time, period)
    const count = s.counts[b]!
    if (count === 0) return { score: 0, expected: Number.NaN, lower: Number.NaN, upper: Number.NaN, ready: false }
    const mean = s.means[b]!
    const k = bucketMinSamples
    const sd = Math.sqrt(Math.max((count * s.variances[b]! + k * s.pooled) / (count + k), 0))
    const scale = Math.max(sd, 1e-9 * Math.abs(mean), TINY)
    const z = (x - mean) / scale
    const result = count < 2 ? 0 : squash(Math.abs(z))
    const lower = mean - WARNING * scale
    const upper = mean + WARNING * scale
    const ready = count >= bucketMinSamples && s.n >= minSamples
    if (result < WARNING) return { score: result, expected: mean, lower, upper, ready }
    const hour = period === "day" ? `${b}h UTC` : `day ${Math.floor(b / 24)} ${b % 24}h UTC`
    return {
      score: result,
      expected: mean,
      lower,
      upper,
      ready,
      reason: `z=${fmt(z)} against the usual ${fmt(mean)} (σ ${fmt(sd)}) at ${hour}`
    }
  }
  const learn = (s: State, x: number, time: number): State => {
    if (!Number.isFinite(x) || !Number.isFinite(time)) return s
    const b = bucketOf(time, period)
    const count = s.counts[b]! + 1
    const a = Math.max(alpha, 1 / count)
    const d = x - s.means[b]!
    if (count > 1) {
      s.residuals++
      const ap = Math.max(poolAlpha, 1 / s.residuals)
      s.pooled = (1 - ap) * s.pooled + ap * d * d
    }
    s.means[b] = s.means[b]! + a * d
    s.variances[b] = (1 - a) * (s.variances[b]! + a * d * d)
    s.counts[b] = count
    s.n++
    return s
  }
  return Detector.make<State>({
    name,
    params: { ...p },
    minSamples,
    ...adaptOptions(p.anomalies),
    state: StateSchema,
    initial: () => ({
      means: new Float64Array(buckets),
      variances: new Float64Array(buckets),
      counts: new Float64Array(buckets),
      n: 0,
      pooled: 0,
      residuals: 0
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
export const laws: LawClaims<Params> = {
  adapts: { size: 10, within: 300 },
  shiftInvariant: true,
  scaleInvariant: true,
  monotonic: true,
  // no sensitivity claim: the law's minute-spaced warm-up covers two hours, so the probe lands in an empty bucket
  maxStateBytes: 4096,
  testParams: { minSamples: 20, bucketMinSamples: 5, alpha: 0.05 }
}
