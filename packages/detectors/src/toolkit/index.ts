/**
 * `@llm-sentinel/detectors/toolkit`: the building blocks of the shipped robust detectors, for your own: a rolling
 * window kept sorted (O(log w) per point, no allocation), order statistics over sorted arrays, and robust scales
 * (MAD, with fallbacks for flat and discrete series). The shipped `Mad` and `Iqr` detectors are made of these.
 *
 * Everything works in place on `Float64Array`s and a length, so a detector's state stays flat and cheap to
 * checkpoint ({@link WindowSchema} encodes a window for the state's Schema). Check a detector built from them
 * with the law suite (`@llm-sentinel/detectors/testing`): it catches, for example, a score of `NaN` on an empty
 * window.
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { makeWindow, quantile, robustScale, type SortedWindow, WindowSchema, windowPush } from "@llm-sentinel/detectors/toolkit"
 * // a median detector: how many robust σ a point is from the median of the last 64
 * export const medianJump = Detector.make<SortedWindow>({
 *   name: "median-jump",
 *   minSamples: 30,
 *   state: WindowSchema,
 *   initial: () => makeWindow(64),
 *   score: (w, x) => {
 *     if (w.count === 0) return { score: 0, expected: x, lower: x, upper: x, ready: false } // nothing learned yet
 *     const median = quantile(w.sorted, w.count, 0.5)
 *     const scale = robustScale(w.sorted, w.count, median, 1e-3)
 *     return { score: Math.abs(x - median) / scale, expected: median, lower: median - 4 * scale, upper: median + 4 * scale, ready: w.count >= 30 }
 *   },
 *   learn: (w, x) => {
 *     windowPush(w, x)
 *     return w
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Detector, Slab } from "@llm-sentinel/core"
import { Schema } from "effect"
import * as internal from "../internal.ts"

// ---------------------------------------------------------------------------------------------------------------
// Rolling windows
// ---------------------------------------------------------------------------------------------------------------

/**
 * A rolling window of the last `ring.length` values, also kept sorted: `ring` holds them in arrival order (the
 * next goes to `pos`), `sorted[0, count)` the same values in ascending order.
 *
 * @category models
 * @since 0.1.0
 */
export type SortedWindow = internal.SortedWindow

/**
 * An empty window of `size` values.
 *
 * @example
 * ```ts
 * import { makeWindow, windowPush } from "@llm-sentinel/detectors/toolkit"
 * const w = makeWindow(3)
 * for (const x of [5, 1, 4, 2]) windowPush(w, x)
 * // w.sorted holds [1, 2, 4]: 5 was evicted
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const makeWindow = (size: number): SortedWindow => ({
  ring: Slab.float64(size),
  sorted: Slab.float64(size),
  count: 0,
  pos: 0
})

/**
 * Adds `x` to the window in place, evicting the oldest value when it is full: a binary search and one
 * `copyWithin` of the values between the evicted one and `x`, no allocation. Feed it finite values only (check
 * with `Number.isFinite` first): a `NaN` has no place in a sorted array.
 *
 * @category combinators
 * @since 0.1.0
 */
export const windowPush: (window: SortedWindow, x: number) => void = internal.windowPush

/**
 * The window's values in ascending order (a view of `sorted`, not a copy).
 *
 * @example
 * ```ts
 * import { makeWindow, windowPush, windowValues } from "@llm-sentinel/detectors/toolkit"
 * const w = makeWindow(8)
 * windowPush(w, 3)
 * windowPush(w, 1)
 * Array.from(windowValues(w)) // [1, 3]
 * ```
 * @category combinators
 * @since 0.1.0
 */
export const windowValues = (window: SortedWindow): Float64Array => window.sorted.subarray(0, window.count)

/**
 * The Schema of a {@link SortedWindow}, for a detector's state Schema (checkpoints): the two arrays encode as JSON
 * arrays of numbers.
 *
 * @category models
 * @since 0.1.0
 */
export const WindowSchema = Schema.Struct({
  ring: Detector.Float64ArrayState,
  sorted: Detector.Float64ArrayState,
  count: Schema.Number,
  pos: Schema.Number
})

// ---------------------------------------------------------------------------------------------------------------
// Order statistics (over `sorted[0, len)`)
// ---------------------------------------------------------------------------------------------------------------

/**
 * The first index in `sorted[0, len)` whose value is `>= x` (`len` when there is none).
 *
 * @category combinators
 * @since 0.1.0
 */
export const lowerBound: (sorted: Float64Array, len: number, x: number) => number = internal.lowerBound

/**
 * The first index in `sorted[0, len)` whose value is `> x` (`len` when there is none). With {@link lowerBound}:
 * `upperBound - lowerBound` values equal `x`, and `lowerBound / len` is the empirical rank of `x`.
 *
 * @example
 * ```ts
 * import { lowerBound, upperBound } from "@llm-sentinel/detectors/toolkit"
 * const sorted = Float64Array.of(1, 2, 2, 5)
 * upperBound(sorted, 4, 2) - lowerBound(sorted, 4, 2) // 2
 * ```
 * @category combinators
 * @since 0.1.0
 */
export const upperBound: (sorted: Float64Array, len: number, x: number) => number = internal.upperBound

/**
 * Inserts `x` into `sorted[0, len)` in place (binary search, then one `copyWithin`); the array must have room for
 * `len + 1` values.
 *
 * @category combinators
 * @since 0.1.0
 */
export const insertSorted: (sorted: Float64Array, len: number, x: number) => void = internal.insertSorted

/**
 * Removes one occurrence of `x` from `sorted[0, len)` in place; false when `x` is not there.
 *
 * @category combinators
 * @since 0.1.0
 */
export const removeSorted: (sorted: Float64Array, len: number, x: number) => boolean = internal.removeSorted

/**
 * The `p`-quantile of `sorted[0, len)`, `0 <= p <= 1`, interpolated linearly between order statistics (type 7, as
 * R's and NumPy's default); `NaN` when empty.
 *
 * @example
 * ```ts
 * import { quantile } from "@llm-sentinel/detectors/toolkit"
 * const sorted = Float64Array.of(10, 20, 30, 40)
 * quantile(sorted, 4, 0.5) // 25
 * quantile(sorted, 4, 0.75) // 32.5
 * ```
 * @category combinators
 * @since 0.1.0
 */
export const quantile: (sorted: Float64Array, len: number, p: number) => number = internal.quantile

// ---------------------------------------------------------------------------------------------------------------
// Robust scales
// ---------------------------------------------------------------------------------------------------------------

/**
 * The median absolute deviation from `m` of `sorted[0, len)`, in O(log len) without allocating (the deviations on
 * each side of `m` are two sorted sequences; one binary search finds the median of their union). `NaN` when empty.
 *
 * @example
 * ```ts
 * import { medianAbsDeviation, quantile } from "@llm-sentinel/detectors/toolkit"
 * const sorted = Float64Array.of(1, 2, 3, 4, 100)
 * medianAbsDeviation(sorted, 5, quantile(sorted, 5, 0.5)) // 1: the outlier does not move it
 * ```
 * @category combinators
 * @since 0.1.0
 */
export const medianAbsDeviation: (sorted: Float64Array, len: number, m: number) => number = internal.medianAbsDeviation

/**
 * The mean absolute deviation from `m` of `xs[0, len)` (any order), in O(len); `NaN` when empty. The fallback of
 * {@link robustScale} when the MAD is zero.
 *
 * @category combinators
 * @since 0.1.0
 */
export const meanAbsDeviation: (xs: Float64Array, len: number, m: number) => number = internal.meanAbsDeviation

/**
 * A robust scale of `sorted[0, len)` around its median `median`, in σ units of normal data: 1.4826·MAD; when that
 * is zero (a flat or discrete series) 1.2533·mean absolute deviation; when that is zero too (every value equal)
 * `relativeFloor`·|median|, never below 1e-12. The floor applies only to all-equal windows, so the scale stays
 * shift-invariant on any series with spread.
 *
 * @example
 * ```ts
 * import { quantile, robustScale } from "@llm-sentinel/detectors/toolkit"
 * const sorted = Float64Array.of(98, 99, 100, 100, 100, 101, 102)
 * const median = quantile(sorted, 7, 0.5)
 * const z = (130 - median) / robustScale(sorted, 7, median, 1e-3) // ≈ 20: far outside
 * ```
 * @category combinators
 * @since 0.1.0
 */
export const robustScale: (sorted: Float64Array, len: number, median: number, relativeFloor: number) => number =
  internal.robustScale
