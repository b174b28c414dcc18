/**
 * Seasonal baseline: compares each point with what is usual at the same hour of the day, and of the week.
 *
 * The expectation is a seasonal offset plus a **level** shared by every bucket (additive Holt-Winters without a
 * trend): `expected = level + offset_b`, where `b` is the point's bucket by its event time in UTC (epoch ms): the hour of
 * the day (24 buckets), the hour of the week (168 buckets, bucket 0 = Monday 00:00 UTC), or both (`period: "both"`,
 * the default: the hour of the week once that bucket was seen in two weeks, the hour of the day until then). Buckets are clock time, so the same detector serves 1-minute and 5-minute data; each offset is an
 * exponentially weighted mean of `x − level` in its bucket (`alpha` per point of the bucket, exact averages for the
 * first points; `alpha` is per cycle, spread over the bucket's points, so offsets learn in days at any sampling rate). The level is an exponentially weighted mean of the residuals `x − level − offset_b` (added to itself), whose memory is a **duration**
 * (`levelMemory`, default 1 hour), turned into points with the sampling interval learned from the event times, so
 * it means the same at any sampling rate. The level starts at the first value, so that a bucket's first points set
 * its offset (how the usual value of that hour differs from it), and from then on moves with the residuals every
 * bucket shares. The buckets are kept in float32 (12 bytes each, see {@link State}).
 *
 * Score: `|x − expected| / σ` in σ units (4 = warning), `σ² = (c·var_b + k·pooled)/(c + k)` with `var_b` the
 * bucket's residual variance, `pooled` the residual variance over all buckets, `c` the bucket's count and
 * `k = bucketMinSamples`. σ never falls below one learned quantum of the data or the metric's minimum change
 * (`scaleFloor` in `internal.ts`); scores above 50 are squashed logarithmically.
 *
 * Adaptation (`anomalies: "clip"`, the default): an anomalous point is learned clipped to the band
 * `expected ± 4σ`, so a lasting shift moves the level (not the hour's offset) by up to 4σ per level-memory, and
 * the detector is quiet again within a few level memories instead of at the same hours of the next days.
 *
 * @since 0.1.0
 */
import { Detector, Slab, type Verdict } from "@llm-sentinel/core"
import { Schema, SchemaTransformation } from "effect"
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
export interface Params extends MinimumChange {
  /** The cycle: `"day"` (hour of day), `"week"` (hour of week), or `"both"` (week, day until a week is known). Default `"both"`. */
  readonly period: "day" | "week" | "both"
  /** Smoothing of each bucket's offset and variance, in (0, 1], per cycle (spread over the bucket's points). Default 0.1. */
  readonly alpha: number
  /** The memory of the level, in milliseconds of event time (turned into points by the learned interval, at least 10). Default 1 h. */
  readonly levelMemory: number
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
  period: "both",
  alpha: 0.1,
  levelMemory: 3_600_000,
  bucketMinSamples: 5,
  minSamples: 48,
  anomalies: "clip",
  ...noMinimumChange
}

/**
 * Validates a (partial) configuration.
 *
 * @category models
 * @since 0.1.0
 */
export const ParamsSchema: Schema.Codec<Partial<Params>, unknown> = Schema.Struct({
  period: Schema.optionalKey(Schema.Literals(["day", "week", "both"])),
  alpha: Schema.optionalKey(UnitInterval),
  levelMemory: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThan(0))),
  bucketMinSamples: Schema.optionalKey(PositiveInt.check(Schema.isGreaterThanOrEqualTo(2))),
  minSamples: Schema.optionalKey(PositiveInt),
  anomalies: Schema.optionalKey(AnomaliesSchema),
  ...MinimumChangeFields
})

/**
 * The level and, per bucket (hour of day first, then hour of week when the period uses it), the offset from the
 * level, the residual variance and the count, updated in place by `learn`.
 *
 * The buckets are one `Float32Array`, three entries a bucket (`[offset, variance, count]` of bucket `b` at `3b`):
 * float precision is enough because offsets are relative to the level (which starts at the first value, so they
 * hold the seasonal shape, not the magnitude of the data, and adding a constant to a series leaves them as they
 * are), variances need relative precision only, and counts are exact integers up to 2^24.
 *
 * @category models
 * @since 0.1.0
 */
export interface State {
  readonly buckets: Float32Array<ArrayBuffer>
  /** Points learned in total. */
  n: number
  /** The level the offsets are relative to (the first value learned, then moved by the shared residuals). */
  level: number
  /** Exponentially weighted variance of the residuals over all buckets. */
  pooled: number
  /** Residuals learned into `pooled`. */
  residuals: number
  /** Event time of the last point learned (NaN before the first). */
  lastTime: number
  /** The sampling interval learned from the event times (ms; 0 until two points were learned). */
  interval: number
  /** The last value learned (for the quantum). */
  last: number
  /** The smallest non-zero step between consecutive values seen. */
  quantum: number
}

/** The entries of a bucket in `State.buckets`, at `3·bucket + field`. */
const OFFSET = 0
const VARIANCE = 1
const COUNT = 2

const scalarFields = {
  n: Schema.Number,
  level: Detector.AnyNumberState,
  pooled: Detector.AnyNumberState,
  residuals: Schema.Number,
  lastTime: Detector.AnyNumberState,
  interval: Schema.Number,
  ...ResolutionFields
}

/** A state as checkpointed by earlier versions: three float64 arrays of offsets (from a level that started at 0). */
const SeparateArrays = Schema.Struct({
  offsets: Detector.Float64ArrayState,
  variances: Detector.Float64ArrayState,
  counts: Detector.Float64ArrayState,
  ...scalarFields
})

type Legacy = typeof SeparateArrays.Type

/**
 * The state of an earlier version's checkpoint. Only `level + offset` matters, so the level is moved to the first
 * learned bucket's expectation and the offsets by the same amount, which keeps them small for float precision.
 */
const fromSeparateArrays = (e: Legacy): State => {
  const slots = e.counts.length
  let base = 0
  for (let b = 0; b < slots; b++) {
    if (e.counts[b]! > 0) {
      base = e.offsets[b]!
      break
    }
  }
  const buckets = Slab.float32(3 * slots)
  for (let b = 0; b < slots; b++) {
    const count = e.counts[b]!
    buckets[3 * b + OFFSET] = count > 0 ? e.offsets[b]! - base : 0
    buckets[3 * b + VARIANCE] = e.variances[b]!
    buckets[3 * b + COUNT] = count
  }
  const { offsets: _o, variances: _v, counts: _c, ...scalars } = e
  return { ...scalars, level: e.level + base, buckets }
}

const toSeparateArrays = (s: State): Legacy => {
  const slots = s.buckets.length / 3
  const column = (field: number) => Float64Array.from({ length: slots }, (_, b) => s.buckets[3 * b + field]!)
  const { buckets: _b, ...scalars } = s
  return { ...scalars, offsets: column(OFFSET), variances: column(VARIANCE), counts: column(COUNT) }
}

/**
 * The state's Schema for `slots` buckets: the current layout, or an earlier version's three arrays (converted).
 * A checkpoint with another number of buckets (another `period`) fails to decode.
 */
const stateSchema = (slots: number): Schema.Codec<State, unknown> => {
  const Current = Schema.Struct({ buckets: Detector.Float32ArrayState, ...scalarFields })
  const sized = Schema.makeFilter((s: { readonly buckets: Float32Array }) =>
    s.buckets.length === 3 * slots ? true : `expected ${slots} buckets, got ${s.buckets.length / 3}`
  )
  return Schema.Union([
    Current,
    SeparateArrays.pipe(
      Schema.decodeTo(
        Schema.toType(Current),
        SchemaTransformation.transform({ decode: fromSeparateArrays, encode: toSeparateArrays })
      )
    )
  ]).check(sized) as unknown as Schema.Codec<State, unknown>
}

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
 * Creates a seasonal (hour-of-day and hour-of-week) baseline detector.
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
  const daily = period !== "week"
  const weekly = period !== "day"
  // slots: [0, 24) hour of day (when used), then [24, 192) or [0, 168) hour of week (when used)
  const weekBase = daily ? 24 : 0
  const slots = (daily ? 24 : 0) + (weekly ? 168 : 0)
  const poolAlpha = alpha / 24
  const perCycleOf = (s: State): number => (s.interval > 0 ? Math.max(1, HOUR / s.interval) : 1)
  /**
   * The slot whose offset applies at `time`: the hour of the week once it is known (seen in two weeks: twice its
   * points per hour), else the hour of the day.
   */
  const slotOf = (s: State, time: number): number => {
    if (weekly) {
      const w = weekBase + bucketOf(time, "week")
      if (!daily || s.buckets[3 * w + COUNT]! >= Math.max(bucketMinSamples, 2 * perCycleOf(s))) return w
    }
    return bucketOf(time, "day")
  }
  // the level's memory is `levelMemory` of event time, in points of the learned interval, and at least 10 points
  // (on coarse data a shorter memory would follow the noise)
  const levelAlpha = (s: State): number => (s.interval > 0 ? Math.min(0.1, s.interval / p.levelMemory) : 0)
  const score = (s: State, x: number, time: number): Verdict.Assessment => {
    if (!Number.isFinite(x) || !Number.isFinite(time)) return rejected
    const b = slotOf(s, time)
    const count = s.buckets[3 * b + COUNT]!
    if (count === 0 || s.n === 0)
      return { score: 0, expected: Number.NaN, lower: Number.NaN, upper: Number.NaN, ready: false }
    const expected = s.level + s.buckets[3 * b + OFFSET]!
    const k = bucketMinSamples
    const sd = Math.sqrt(Math.max((count * s.buckets[3 * b + VARIANCE]! + k * s.pooled) / (count + k), 0))
    const scale = Math.max(sd, scaleFloor(s, expected, p))
    const z = (x - expected) / scale
    const result = count < 2 ? 0 : squash(Math.abs(z))
    const lower = expected - WARNING * scale
    const upper = expected + WARNING * scale
    const ready = count >= bucketMinSamples && s.n >= minSamples
    if (result < WARNING) return { score: result, expected, lower, upper, ready }
    const hour =
      b < weekBase || !weekly ? `${b}h UTC` : `day ${Math.floor((b - weekBase) / 24)} ${(b - weekBase) % 24}h UTC`
    return {
      score: result,
      expected,
      lower,
      upper,
      ready,
      reason: `z=${fmt(z)} against the usual ${fmt(expected)} (σ ${fmt(scale)}) at ${hour}`
    }
  }
  // `level`: the level before this point moved it, so that offsets and variances learn the one-step residual
  const learnSlot = (s: State, b: number, x: number, level: number): void => {
    const buckets = s.buckets
    const i = 3 * b
    const count = buckets[i + COUNT]! + 1
    // `alpha` per cycle: spread over the bucket's points per cycle (an hour of the learned interval), so the offsets
    // learn at the same pace in days at any sampling rate, slower than the level, which takes the shared shifts
    const a = Math.max(alpha / perCycleOf(s), 1 / count)
    const offset = buckets[i + OFFSET]!
    const d = x - level - offset
    buckets[i + OFFSET] = offset + a * d
    buckets[i + VARIANCE] = (1 - a) * (buckets[i + VARIANCE]! + a * d * d)
    buckets[i + COUNT] = count
  }
  const learn = (s: State, x: number, time: number): State => {
    if (!Number.isFinite(x) || !Number.isFinite(time)) return s
    if (s.n > 0) {
      const dt = time - s.lastTime
      if (dt > 0) s.interval = s.interval === 0 ? dt : s.interval + 0.05 * (dt - s.interval)
    }
    // the level starts at the first value, so that the offsets (float32) hold the seasonal shape, not the magnitude
    if (s.n === 0) s.level = x
    const b = slotOf(s, time)
    const level = s.level
    if (s.buckets[3 * b + COUNT]! > 0) {
      const d = x - s.level - s.buckets[3 * b + OFFSET]!
      s.residuals++
      const ap = Math.max(poolAlpha, 1 / s.residuals)
      s.pooled = (1 - ap) * s.pooled + ap * d * d
      // the level follows what the bucket's offset does not explain (a lasting shift of every hour)
      s.level += levelAlpha(s) * d
    }
    if (daily) learnSlot(s, bucketOf(time, "day"), x, level)
    if (weekly) learnSlot(s, weekBase + bucketOf(time, "week"), x, level)
    s.lastTime = time
    s.n++
    return s
  }
  return Detector.make<State>({
    name,
    params: { ...p },
    minSamples,
    ...learning(p.anomalies, learn),
    state: stateSchema(slots),
    initial: () => ({
      buckets: Slab.float32(3 * slots),
      n: 0,
      level: 0,
      pooled: 0,
      residuals: 0,
      lastTime: Number.NaN,
      interval: 0,
      last: Number.NaN,
      quantum: 0
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
  // the laws' points are a minute apart: a lasting step moves the level (memory 30 min here) within a few hours
  adapts: { size: 10, within: 300 },
  shiftInvariant: true,
  scaleInvariant: true,
  monotonic: true,
  // no sensitivity claim: the law's minute-spaced warm-up covers two hours, so the probe lands in an empty bucket
  maxStateBytes: 12_288,
  testParams: { minSamples: 20, bucketMinSamples: 5, alpha: 0.05, levelMemory: 30 * 60_000, period: "day" }
}
