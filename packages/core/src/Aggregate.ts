/**
 * Mergeable aggregates over the values of one series in one window: count, sum, mean and variance (Welford's
 * update, Chan's merge), min, max, and quantiles from a DDSketch (relative-error, mergeable). Mergeability is
 * what makes sliding windows cheap (a window is the merge of its panes) and sharding correct.
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
  readonly sketch: DDSketch | undefined
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
  sketch: quantiles ? new DDSketch({ relativeAccuracy }) : undefined
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
  a.sketch?.accept(x)
  return a
}

/**
 * Merges two aggregates into a new one (Chan et al.'s parallel variance). Pure: neither input changes.
 *
 * @category combinators
 * @since 0.1.0
 */
export const combine = (a: Aggregate, b: Aggregate): Aggregate => {
  const sketch = a.sketch !== undefined || b.sketch !== undefined ? new DDSketch({ relativeAccuracy }) : undefined
  if (sketch !== undefined) {
    if (a.sketch !== undefined && a.sketch.count > 0) sketch.merge(a.sketch)
    if (b.sketch !== undefined && b.sketch.count > 0) sketch.merge(b.sketch)
  }
  const count = a.count + b.count
  if (count === 0) return { ...empty(false), sketch }
  const delta = b.mean - a.mean
  return {
    count,
    sum: a.sum + b.sum,
    mean: a.count === 0 ? b.mean : b.count === 0 ? a.mean : a.mean + (delta * b.count) / count,
    m2: a.m2 + b.m2 + (delta * delta * a.count * b.count) / count,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
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
  const q = (p: number) => (a.sketch !== undefined && a.sketch.count > 0 ? a.sketch.getValueAtQuantile(p) : Number.NaN)
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
