/**
 * Mergeable aggregates over the values of one series in one window: count, sum, mean and variance (Welford's
 * update, Chan's merge), min, max, and quantiles. Mergeability is what makes sliding windows cheap (a window is
 * the merge of its panes) and sharding correct.
 *
 * Quantiles are exact while a window holds at most {@link exactLimit} values (the raw values are kept), and come
 * from a DDSketch (1% relative error, mergeable) beyond. Most LLM series are low-volume per window, and a sketch's
 * 1% buckets (5 ms at 500 ms) are coarse next to the noise of a p95 over a few dozen calls: quantised values
 * repeat, which collapses robust spreads (MAD) and makes detectors over-react.
 *
 * `add` updates in place (the hot path); `combine` is pure. `finish` turns an aggregate into a {@link Summary}
 * and {@link derive} turns a summary into the rates teams watch: error rate, request rate, tokens/s, cost/min.
 *
 * @since 0.1.0
 */
import { DDSketch } from "@datadog/sketches-js"

/**
 * @category models
 * @since 0.1.0
 */
export interface Aggregate {
  count: number
  sum: number
  mean: number
  m2: number
  min: number
  max: number
  /** Whether quantiles are kept at all. */
  readonly quantiles: boolean
  /** The raw values while there are at most {@link exactLimit} of them (quantiles only). */
  values: Array<number> | undefined
  /** The sketch once there are more (quantiles only). */
  sketch: DDSketch | undefined
}

/**
 * How many values a window keeps for exact quantiles before it switches to a sketch.
 *
 * @category constructors
 * @since 0.1.0
 */
export const exactLimit = 512

const toSketch = (values: ReadonlyArray<number>): DDSketch => {
  const sketch = new DDSketch({ relativeAccuracy })
  for (const v of values) sketch.accept(v)
  return sketch
}

/**
 * Relative accuracy of the quantile sketches: 1%.
 *
 * @category constructors
 * @since 0.1.0
 */
export const relativeAccuracy = 0.01

/**
 * The identity of {@link combine}. `quantiles: true` keeps a DDSketch for p50/p95/p99.
 *
 * @category constructors
 * @since 0.1.0
 */
export const empty = (quantiles: boolean): Aggregate => ({
  count: 0,
  sum: 0,
  mean: 0,
  m2: 0,
  min: Number.POSITIVE_INFINITY,
  max: Number.NEGATIVE_INFINITY,
  quantiles,
  values: quantiles ? [] : undefined,
  sketch: undefined
})

/**
 * Adds one value, in place (Welford's update). Non-finite values are ignored.
 *
 * @category combinators
 * @since 0.1.0
 */
export const add = (a: Aggregate, x: number): Aggregate => {
  if (!Number.isFinite(x)) return a
  const n = a.count + 1
  const delta = x - a.mean
  a.count = n
  a.sum += x
  a.mean += delta / n
  a.m2 += delta * (x - a.mean)
  if (x < a.min) a.min = x
  if (x > a.max) a.max = x
  if (a.values !== undefined) {
    a.values.push(x)
    if (a.values.length > exactLimit) {
      a.sketch = toSketch(a.values)
      a.values = undefined
    }
  } else a.sketch?.accept(x)
  return a
}

/**
 * Merges two aggregates into a new one (Chan et al.'s parallel variance). Pure: neither input changes.
 *
 * @category combinators
 * @since 0.1.0
 */
export const combine = (a: Aggregate, b: Aggregate): Aggregate => {
  const quantiles = a.quantiles || b.quantiles
  let values: Array<number> | undefined
  let sketch: DDSketch | undefined
  if (quantiles) {
    if (
      a.sketch === undefined &&
      b.sketch === undefined &&
      (a.values?.length ?? 0) + (b.values?.length ?? 0) <= exactLimit
    ) {
      values = [...(a.values ?? []), ...(b.values ?? [])]
    } else {
      sketch = new DDSketch({ relativeAccuracy })
      for (const side of [a, b]) {
        if (side.sketch !== undefined) {
          if (side.sketch.count > 0) sketch.merge(side.sketch)
        } else if (side.values !== undefined) for (const v of side.values) sketch.accept(v)
      }
    }
  }
  const count = a.count + b.count
  if (count === 0) return { ...empty(false), quantiles, values, sketch }
  const delta = b.mean - a.mean
  return {
    count,
    sum: a.sum + b.sum,
    mean: a.count === 0 ? b.mean : b.count === 0 ? a.mean : a.mean + (delta * b.count) / count,
    m2: a.m2 + b.m2 + (delta * delta * a.count * b.count) / count,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
    quantiles,
    values,
    sketch
  }
}

/**
 * The finished statistics of a window. Quantiles are `NaN` without a sketch or without values.
 *
 * @category models
 * @since 0.1.0
 */
export interface Summary {
  readonly count: number
  readonly sum: number
  readonly mean: number
  /** Sample variance (n − 1), 0 for fewer than two values. */
  readonly variance: number
  readonly min: number
  readonly max: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
}

/**
 * @category combinators
 * @since 0.1.0
 */
export const finish = (a: Aggregate): Summary => {
  const sorted = a.values !== undefined && a.values.length > 0 ? Float64Array.from(a.values).sort() : undefined
  const q = (p: number) =>
    sorted !== undefined
      ? exactQuantile(sorted, p)
      : a.sketch !== undefined && a.sketch.count > 0
        ? a.sketch.getValueAtQuantile(p)
        : Number.NaN
  return {
    count: a.count,
    sum: a.sum,
    mean: a.count > 0 ? a.mean : Number.NaN,
    variance: a.count > 1 ? a.m2 / (a.count - 1) : 0,
    min: a.count > 0 ? a.min : Number.NaN,
    max: a.count > 0 ? a.max : Number.NaN,
    p50: q(0.5),
    p95: q(0.95),
    p99: q(0.99)
  }
}

/**
 * The `p` quantile of sorted values, linearly interpolated between the closest ranks (Hyndman and Fan's type 7,
 * the default of R and NumPy).
 *
 * @category combinators
 * @since 0.1.0
 */
export const exactQuantile = (sorted: ArrayLike<number>, p: number): number => {
  const h = (sorted.length - 1) * p
  const lo = Math.floor(h)
  const hi = Math.ceil(h)
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!)
}

/**
 * How a base metric's window summary becomes the signals that are watched:
 * - `quantiles`: `.p50`, `.p95`, `.p99` and `.mean` (latency, time to first token);
 * - `mean`: `.mean` (e.g. output tokens per call);
 * - `rate`: `.rate`, the mean of a 0/1 flag (error rate);
 * - `perSecond`: `.perSecond`, the sum over the window divided by its length in seconds (requests/s, tokens/s);
 * - `perMinute`: `.perMinute`, the sum per minute (cost per minute).
 *
 * @category models
 * @since 0.1.0
 */
export type Derivation = "quantiles" | "mean" | "rate" | "perSecond" | "perMinute"

/**
 * The signals a derivation yields, in order.
 *
 * @category models
 * @since 0.1.0
 */
export const signals: Record<Derivation, ReadonlyArray<string>> = {
  quantiles: ["p50", "p95", "p99", "mean"],
  mean: ["mean"],
  rate: ["rate"],
  perSecond: ["perSecond"],
  perMinute: ["perMinute"]
}

/**
 * The values of a derivation's signals for a window of `durationMs`. Signals with no data (a quantile of an
 * empty window) are `NaN`; sums and counts of an empty window are 0, which is what makes silence visible.
 *
 * @category combinators
 * @since 0.1.0
 */
export const derive = (derivation: Derivation, s: Summary, durationMs: number): ReadonlyArray<number> => {
  switch (derivation) {
    case "quantiles":
      return [s.p50, s.p95, s.p99, s.mean]
    case "mean":
      return [s.mean]
    case "rate":
      return [s.mean]
    case "perSecond":
      return [durationMs > 0 ? s.sum / (durationMs / 1000) : Number.NaN]
    case "perMinute":
      return [durationMs > 0 ? s.sum / (durationMs / 60_000) : Number.NaN]
  }
}
