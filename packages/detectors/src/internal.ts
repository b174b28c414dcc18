/**
 * Shared pieces of the shipped detectors: parameter validation, score clamping, an exponentially weighted
 * baseline (mean and variance), and order-statistics windows (a ring in arrival order plus the same values kept
 * sorted by binary insertion, or, more compactly, their ring slots kept sorted).
 *
 * Not part of the public API: the detector modules re-export what users need.
 *
 * @internal
 */
import { Detector, Slab, Verdict } from "@llm-sentinel/core"
import { Schema, SchemaTransformation } from "effect"

/** The default warning threshold: bounds are placed where a score would reach it. */
export const WARNING = Verdict.defaultThresholds.warning

/** Raw scores up to this pass through {@link squash} unchanged; above it they grow logarithmically. */
export const SQUASH_KNEE = 50

/**
 * Makes any raw score a finite number >= 0 (NaN becomes 0) without ties: the identity up to {@link SQUASH_KNEE},
 * then `knee·(1 + ln(s/knee))`, strictly increasing, so that two different raw scores never become equal (a cap
 * would make every huge score tie and the scores could not be ranked). A raw score of 1000 becomes 200, 1e9 about
 * 890; +∞ becomes the largest finite number.
 */
export const squash = (s: number): number => {
  if (!(s > 0)) return 0
  if (s <= SQUASH_KNEE) return s
  const out = SQUASH_KNEE * (1 + Math.log(s / SQUASH_KNEE))
  return Math.min(out, Number.MAX_VALUE)
}

/** The smallest scale used for a series whose spread and level are both zero. */
export const TINY = 1e-12

/** The assessment for an input a detector cannot use (called directly, bypassing `Detector.step`). */
export const rejected: Verdict.Assessment = {
  score: 0,
  expected: Number.NaN,
  lower: Number.NaN,
  upper: Number.NaN,
  ready: false,
  reason: "non-finite input ignored"
}

/** A positive integer. */
export const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
/** A non-negative integer. */
export const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
/** A finite number in (0, 1]. */
export const UnitInterval = Schema.Finite.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(1))
/** A finite positive number. */
export const PositiveFinite = Schema.Finite.check(Schema.isGreaterThan(0))
/** A finite non-negative number. */
export const NonNegativeFinite = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
/** The size of a rolling order-statistics window: 3 to 100,000 points. */
export const WindowSize = PositiveInt.check(Schema.isGreaterThanOrEqualTo(3), Schema.isLessThanOrEqualTo(100_000))

/**
 * Validates user parameters against a detector's schema (unknown keys are an error) and fills in defaults.
 * Throws a `SchemaError` naming the offending field: acceptable at construction time only.
 */
export const decodeParams = <P extends object>(
  schema: Schema.Codec<Partial<P>, unknown>,
  defaults: P,
  params: unknown
): P => ({ ...defaults, ...Schema.decodeUnknownSync(schema)(params ?? {}, { onExcessProperty: "error" }) })

/** Formats a number for a reason string. */
export const fmt = (n: number): string => {
  if (!Number.isFinite(n)) return String(n)
  const a = Math.abs(n)
  return a !== 0 && (a >= 1e6 || a < 1e-3) ? n.toExponential(3) : String(Math.round(n * 1000) / 1000)
}

/** Standard normal upper tail quantile from the natural log of a tail probability: z with P(Z > z) = e^logp. */
export const zFromLogTail = (logp: number): number => {
  if (!(logp < 0)) return 0
  if (logp < -700) {
    // asymptotic inversion of the Mills ratio: p ≈ φ(z)/z
    const l = -2 * logp
    return Math.sqrt(l - Math.log(l) - Math.log(2 * Math.PI))
  }
  return normalUpperQuantile(Math.exp(logp))
}

/** z with P(Z > z) = p for a standard normal Z (Acklam's rational approximation, relative error < 1.2e-9). */
export const normalUpperQuantile = (p: number): number => {
  if (p === 0.5) return 0
  if (p > 0.5) return p >= 1 ? Number.NEGATIVE_INFINITY : -normalUpperQuantile(1 - p)
  if (p <= 0) return Number.POSITIVE_INFINITY
  // lower tail quantile of q = p, negated
  const q = Math.sqrt(-2 * Math.log(p))
  if (p < 0.02425) {
    return -(
      (((((-7.784894002430293e-3 * q - 3.223964580411365e-1) * q - 2.400758277161838) * q - 2.549732539343734) * q +
        4.374664141464968) *
        q +
        2.938163982698783) /
      ((((7.784695709041462e-3 * q + 3.224671290700398e-1) * q + 2.445134137142996) * q + 3.754408661907416) * q + 1)
    )
  }
  const r0 = p - 0.5
  const r = r0 * r0
  return -(
    ((((((-3.969683028665376e1 * r + 2.209460984245205e2) * r - 2.759285104469687e2) * r + 1.38357751867269e2) * r -
      3.066479806614716e1) *
      r +
      2.506628277459239) *
      r0) /
    (((((-5.447609879822406e1 * r + 1.615858368580409e2) * r - 1.556989798598866e2) * r + 6.680131188771972e1) * r -
      1.328068155288572e1) *
      r +
      1)
  )
}

// --- resolution-aware scale floors ---------------------------------------------------------------------------

/**
 * What the data can resolve, learned from the values: the smallest non-zero step between consecutive values
 * (`quantum`: 1 for integer counts, 0.01 for values rounded to hundredths; 0 until two different values were seen).
 * Steps below 1e-9 of the values' magnitude are float rounding and are ignored.
 */
export interface Resolution {
  /** The last value learned (NaN before the first). */
  last: number
  quantum: number
}

/** Schema fields of a {@link Resolution}, to spread into a state Schema. */
export const ResolutionFields = { last: Detector.AnyNumberState, quantum: Schema.Number }

/** Learns `x` into a resolution in place. */
export const learnResolution = (r: Resolution, x: number): void => {
  const d = Math.abs(x - r.last)
  if (d > 1e-9 * Math.max(Math.abs(x), Math.abs(r.last)) && (r.quantum === 0 || d < r.quantum)) r.quantum = d
  r.last = x
}

/**
 * The smallest meaningful change of a metric, shared by the detectors' parameters: a scale never falls below
 * `minChange / MIN_CHANGE_SCORE` nor `minRelativeChange·|level| / MIN_CHANGE_SCORE`, so a change smaller than
 * either scores below {@link MIN_CHANGE_SCORE} (3), under every default threshold.
 */
export interface MinimumChange {
  /** Changes smaller than this, in the metric's unit (20 for 20 ms), are not meaningful. Default 0. */
  readonly minChange: number
  /** Changes smaller than this fraction of the typical level (0.05 for 5%) are not meaningful. Default 0. */
  readonly minRelativeChange: number
  /**
   * The values are counts of events (or a rate of them) in steps of the learned quantum: their spread is at least
   * Poisson, `σ ≥ √(level·quantum)`, so one event in a quiet interval is a small change but a burst is not.
   * Default false.
   */
  readonly counts: boolean
}

/** The defaults of {@link MinimumChange}: nothing beyond what the data can resolve. */
export const noMinimumChange: MinimumChange = { minChange: 0, minRelativeChange: 0, counts: false }

/** Schema fields of {@link MinimumChange}, to spread into a detector's `ParamsSchema`. */
export const MinimumChangeFields = {
  minChange: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))),
  minRelativeChange: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))),
  counts: Schema.optionalKey(Schema.Boolean)
}

/** A change of exactly the minimum change scores this much at most. */
export const MIN_CHANGE_SCORE = 3

/**
 * The smallest scale (σ) a detector may use at this level: one quantum of the data (a change of one step is 1σ),
 * the minimum changes over {@link MIN_CHANGE_SCORE}, the Poisson spread for counts, and float precision
 * (1e-9·|level|, then {@link TINY}).
 */
export const scaleFloor = (r: Resolution, level: number, m: MinimumChange): number => {
  const a = Math.abs(level)
  let floor = Math.max(r.quantum, 1e-9 * a, TINY)
  if (m.minChange > 0) floor = Math.max(floor, m.minChange / MIN_CHANGE_SCORE)
  if (m.minRelativeChange > 0) floor = Math.max(floor, (m.minRelativeChange * a) / MIN_CHANGE_SCORE)
  if (m.counts && r.quantum > 0) floor = Math.max(floor, Math.sqrt(Math.max(a, r.quantum) * r.quantum))
  return floor
}

/** Whether points judged anomalous are learned: in full, clipped to the band, or not at all. */
export type Anomalies = "learn" | "clip" | "skip"

/** The Schema of {@link Anomalies}. */
export const AnomaliesSchema = Schema.Literals(["learn", "clip", "skip"])

/**
 * The `Detector.make` learning options of a detector that keeps a {@link Resolution}: `learn` learns the value's
 * resolution, then `core`; under `"clip"` an anomalous point teaches the resolution its real value (so the quantum
 * is that of the data, not of band edges) and `core` its value clipped to the band.
 */
export const learning = <S extends Resolution>(
  anomalies: Anomalies,
  core: (s: S, x: number, time: number) => S
): {
  readonly learn: (s: S, x: number, time: number) => S
  readonly learnAnomalies: boolean
  readonly adapt: Detector.Adapt<S, number>
} => ({
  learn: (s, x, time) => {
    if (!Number.isFinite(x)) return s
    learnResolution(s, x)
    return core(s, x, time)
  },
  learnAnomalies: anomalies === "learn",
  adapt:
    anomalies === "clip"
      ? (s, x, time, a) => {
          if (!Number.isFinite(x)) return s
          const clipped = Detector.clipToBand(x, a)
          learnResolution(s, x)
          return clipped === undefined ? s : core(s, clipped, time)
        }
      : "skip"
})

/** The `Detector.make` options for an {@link Anomalies} choice. */
export const adaptOptions = (a: Anomalies): { readonly learnAnomalies: boolean; readonly adapt: "clip" | "skip" } => ({
  learnAnomalies: a === "learn",
  adapt: a === "clip" ? "clip" : "skip"
})

// --- exponentially weighted baseline --------------------------------------------------------------------------

/**
 * Moves an exponentially weighted mean and variance towards `x` with weight `a`, in place. With `a = max(alpha, 1/n)`
 * for the n-th value they are the exact mean and (population) variance at first, then forget with `alpha`.
 */
export const ewUpdate = (s: { mean: number; variance: number }, a: number, x: number): void => {
  const d = x - s.mean
  s.mean += a * d
  s.variance = (1 - a) * (s.variance + a * d * d)
}

/** The σ of a baseline, floored by {@link scaleFloor} so that a flat baseline still has a meaningful scale. */
export const baselineSigma = (
  s: { readonly mean: number; readonly variance: number } & Resolution,
  m: MinimumChange
): number => Math.max(Math.sqrt(Math.max(s.variance, 0)), scaleFloor(s, s.mean, m))

// --- order statistics over a sorted Float64Array prefix -------------------------------------------------------

/** First index in `sorted[0, len)` whose value is `>= x`. */
export const lowerBound = (sorted: Float64Array, len: number, x: number): number => {
  let lo = 0
  let hi = len
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! < x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** First index in `sorted[0, len)` whose value is `> x`. */
export const upperBound = (sorted: Float64Array, len: number, x: number): number => {
  let lo = 0
  let hi = len
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! <= x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Inserts `x` into `sorted[0, len)` (binary search, then one memmove); the array must have room. */
export const insertSorted = (sorted: Float64Array, len: number, x: number): void => {
  const i = upperBound(sorted, len, x)
  sorted.copyWithin(i + 1, i, len)
  sorted[i] = x
}

/** Removes one occurrence of `x` from `sorted[0, len)`; returns false when it is absent. */
export const removeSorted = (sorted: Float64Array, len: number, x: number): boolean => {
  const i = lowerBound(sorted, len, x)
  if (i >= len || sorted[i] !== x) return false
  sorted.copyWithin(i, i + 1, len)
  sorted[len - 1] = 0
  return true
}

/** The `p`-quantile of `sorted[0, len)` with linear interpolation (type 7); NaN when empty. */
export const quantile = (sorted: Float64Array, len: number, p: number): number => {
  if (len === 0) return Number.NaN
  const h = (len - 1) * p
  const i = Math.floor(h)
  const lo = sorted[i]!
  return i + 1 < len ? lo + (h - i) * (sorted[i + 1]! - lo) : lo
}

/**
 * The median absolute deviation from `m` of `sorted[0, len)`, in O(log len) and without allocating: the
 * deviations left and right of `m` form two sorted sequences (`m - x` walking left, `x - m` walking right), and
 * the median of their union is found by one binary search over how many of the lower half come from the left.
 * For an even `len` the same split also yields the next deviation, so both middle values cost one search.
 */
export const medianAbsDeviation = (sorted: Float64Array, len: number, m: number): number =>
  len === 0 ? Number.NaN : medianDeviation((k) => sorted[k]!, len, lowerBound(sorted, len, m), m)

/**
 * The search of {@link medianAbsDeviation} over a sorted sequence read through `at`, `split` being the first index
 * whose value is `>= m`: shared by the sorted-array and the ranked-window forms.
 */
const medianDeviation = (at: (k: number) => number, len: number, split: number, m: number): number => {
  const na = split
  const nb = len - split
  // the lower half of the union: its largest element is the (lower) median deviation
  const count = (len + 1) >>> 1
  let lo = Math.max(0, count - nb)
  let hi = Math.min(count, na)
  while (lo <= hi) {
    const i = (lo + hi) >>> 1
    const j = count - i
    const aPrev = i > 0 ? m - at(split - i) : Number.NEGATIVE_INFINITY
    const aCur = i < na ? m - at(split - 1 - i) : Number.POSITIVE_INFINITY
    const bPrev = j > 0 ? at(split + j - 1) - m : Number.NEGATIVE_INFINITY
    const bCur = j < nb ? at(split + j) - m : Number.POSITIVE_INFINITY
    if (aPrev > bCur) hi = i - 1
    else if (bPrev > aCur) lo = i + 1
    else {
      const lower = Math.max(aPrev, bPrev)
      return len % 2 === 1 ? lower : (lower + Math.min(aCur, bCur)) / 2
    }
  }
  return Number.NaN
}

/** The mean absolute deviation from `m` of `xs[0, len)`, in O(len): the fallback when the MAD is zero. */
export const meanAbsDeviation = (xs: Float64Array, len: number, m: number): number => {
  let sum = 0
  for (let i = 0; i < len; i++) sum += Math.abs(xs[i]! - m)
  return len === 0 ? Number.NaN : sum / len
}

/**
 * The robust scale of a window in σ units: 1.4826·MAD; when that is zero (flat or discrete series) the mean
 * absolute deviation ·1.2533 (also σ for normal data); when that is zero too (an all-equal window),
 * `relativeFloor`·|median|, or {@link TINY} for an all-zero window. The floor applies only to all-equal windows,
 * so the scale stays shift-invariant on any series with spread.
 */
export const robustScale = (sorted: Float64Array, len: number, median: number, relativeFloor: number): number => {
  const mad = medianAbsDeviation(sorted, len, median) * 1.482602218505602
  if (mad > 0) return mad
  const meanAd = meanAbsDeviation(sorted, len, median) * 1.2533141373155003
  if (meanAd > 0) return meanAd
  return Math.max(relativeFloor * Math.abs(median), TINY)
}

/** An order-statistics window: `ring` holds the last values in arrival order, `sorted` the same values sorted. */
export interface SortedWindow {
  readonly ring: Float64Array<ArrayBuffer>
  readonly sorted: Float64Array<ArrayBuffer>
  /** Values held, at most `ring.length`. */
  count: number
  /** The ring slot the next value goes to. */
  pos: number
}

/**
 * Learns `x` into a sorted window in place: O(log w) search plus one memmove, no allocation. When the window is
 * full, the evicted value's slot and `x`'s slot are found first and only the values between them move, so the
 * sorted array ends up exactly as "remove the evicted value, then insert `x` after its equals" would leave it.
 */
export const windowPush = (s: SortedWindow, x: number): void => {
  const w = s.ring.length
  const sorted = s.sorted
  if (s.count < w) {
    insertSorted(sorted, s.count, x)
    s.count++
  } else {
    const evicted = s.ring[s.pos]!
    const r = lowerBound(sorted, w, evicted)
    if (r < w && sorted[r] === evicted) {
      // x's slot once the evicted value is gone: after every value <= x, one to the left if the gap is below it
      const after = upperBound(sorted, w, x)
      if (r < after) {
        sorted.copyWithin(r, r + 1, after)
        sorted[after - 1] = x
      } else {
        sorted.copyWithin(after + 1, after, r)
        sorted[after] = x
      }
    } else {
      // a ring value missing from the sorted copy (a hand-edited checkpoint): keep the two-step behaviour
      removeSorted(sorted, w, evicted)
      insertSorted(sorted, w - 1, x)
    }
  }
  s.ring[s.pos] = x
  s.pos = s.pos + 1 === w ? 0 : s.pos + 1
}

// --- a compact order-statistics window: each value stored once, its ring slot kept in sorted order -------------

/**
 * An order-statistics window that stores each value once: `ring` holds the last values in arrival order (the next
 * goes to `pos`), `order[0, count)` their ring slots sorted by value, equal values in arrival order. A slot takes
 * one byte for windows up to 256 values (two beyond), so the window costs 9 bytes a value instead of the 16 of a
 * sorted copy, and the values stay exact float64s (a float32 copy would break shift and scale invariance).
 */
export interface RankedWindow {
  readonly ring: Float64Array<ArrayBuffer>
  readonly order: Uint8Array<ArrayBuffer> | Uint16Array<ArrayBuffer>
  /** Values held, at most `ring.length`. */
  count: number
  /** The ring slot the next value goes to. */
  pos: number
}

/** The ring and the slot order of a window of `w` values, in one buffer (one backing store, not two). */
export const rankedArrays = (w: number): Pick<RankedWindow, "ring" | "order"> => {
  const wide = w > 256
  const { buffer, byteOffset } = Slab.region(w * (wide ? 10 : 9))
  return {
    ring: new Float64Array(buffer, byteOffset, w),
    order: wide ? new Uint16Array(buffer, byteOffset + w * 8, w) : new Uint8Array(buffer, byteOffset + w * 8, w)
  }
}

/** First rank in `[0, len)` whose value is `>= x`. */
const rankLowerBound = (s: RankedWindow, len: number, x: number): number => {
  const { ring, order } = s
  let lo = 0
  let hi = len
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (ring[order[mid]!]! < x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** First rank in `[0, len)` whose value is `> x`. */
const rankUpperBound = (s: RankedWindow, len: number, x: number): number => {
  const { ring, order } = s
  let lo = 0
  let hi = len
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (ring[order[mid]!]! <= x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * Learns `x` into a ranked window in place: O(log w) search plus one memmove of slot numbers, no allocation. The
 * new value takes the evicted value's ring slot, so only the slots ranked between the two move. Ties stay in
 * arrival order (a value is ranked after its equals), so the evicted value, the oldest, is the first of its equals.
 */
export const rankedPush = (s: RankedWindow, x: number): void => {
  const { ring, order } = s
  const w = ring.length
  const slot = s.pos
  if (s.count < w) {
    const i = rankUpperBound(s, s.count, x)
    order.copyWithin(i + 1, i, s.count)
    order[i] = slot
    s.count++
  } else {
    let r = rankLowerBound(s, w, ring[slot]!)
    // unreachable with the invariant above; a decoded window is checked for it, but never lose track of a slot
    if (order[r] !== slot) r = order.indexOf(slot)
    // x's rank once the evicted value is gone: after every value <= x, one to the left if the gap is below it
    const after = rankUpperBound(s, w, x)
    if (r < after) {
      order.copyWithin(r, r + 1, after)
      order[after - 1] = slot
    } else {
      order.copyWithin(after + 1, after, r)
      order[after] = slot
    }
  }
  ring[slot] = x
  s.pos = slot + 1 === w ? 0 : slot + 1
}

/** The `p`-quantile of a ranked window with linear interpolation (type 7); NaN when empty. */
export const rankedQuantile = (s: RankedWindow, p: number): number => {
  const len = s.count
  if (len === 0) return Number.NaN
  const { ring, order } = s
  const h = (len - 1) * p
  const i = Math.floor(h)
  const lo = ring[order[i]!]!
  return i + 1 < len ? lo + (h - i) * (ring[order[i + 1]!]! - lo) : lo
}

/** {@link medianAbsDeviation} of a ranked window (the same search, reading values through the slot order). */
export const rankedMedianAbsDeviation = (s: RankedWindow, m: number): number => {
  const len = s.count
  if (len === 0) return Number.NaN
  const { ring, order } = s
  return medianDeviation((k) => ring[order[k]!]!, len, rankLowerBound(s, len, m), m)
}

/** {@link robustScale} of a ranked window (sums in rank order, so the result is the sorted copy's to the bit). */
export const rankedRobustScale = (s: RankedWindow, median: number, relativeFloor: number): number => {
  const mad = rankedMedianAbsDeviation(s, median) * 1.482602218505602
  if (mad > 0) return mad
  const len = s.count
  const { ring, order } = s
  let sum = 0
  for (let k = 0; k < len; k++) sum += Math.abs(ring[order[k]!]! - median)
  const meanAd = len === 0 ? Number.NaN : (sum / len) * 1.2533141373155003
  if (meanAd > 0) return meanAd
  return Math.max(relativeFloor * Math.abs(median), TINY)
}

/** The slots of `ring[0, count)` sorted by value, equal values in arrival order (the oldest is at `pos` when full). */
const orderOf = (ring: Float64Array, count: number, pos: number): Array<number> => {
  const w = ring.length
  const start = count < w ? 0 : pos
  const age = (slot: number): number => (slot - start + w) % w
  return Array.from({ length: count }, (_, k) => k).sort((a, b) => ring[a]! - ring[b]! || age(a) - age(b))
}

/** Why a decoded window is inconsistent, or undefined when it is a valid {@link RankedWindow}. */
const windowIssue = (
  ring: Float64Array,
  order: ReadonlyArray<number>,
  count: number,
  pos: number
): string | undefined => {
  const w = ring.length
  if (w < 1 || w > 65_536) return `a window of ${w} values`
  if (!Number.isInteger(count) || count < 0 || count > w) return `count ${count} outside [0, ${w}]`
  if (!Number.isInteger(pos) || pos < 0 || pos >= w || (count < w && pos !== count))
    return `pos ${pos} with count ${count} of ${w}`
  if (order.length !== count) return `${order.length} ranked slots for ${count} values`
  const seen = new Uint8Array(w)
  const start = count < w ? 0 : pos
  for (let k = 0; k < count; k++) {
    const slot = order[k]!
    if (!Number.isInteger(slot) || slot < 0 || slot >= count || seen[slot] === 1)
      return `slot ${slot} ranked twice or out of range`
    seen[slot] = 1
    if (!Number.isFinite(ring[slot]!)) return `a non-finite value in slot ${slot}`
    if (k > 0) {
      const prev = order[k - 1]!
      const d = ring[slot]! - ring[prev]!
      if (d < 0 || (d === 0 && (slot - start + w) % w < (prev - start + w) % w))
        return `slots ${prev} and ${slot} out of order`
    }
  }
  return undefined
}

/** The state of a rolling order-statistics detector: its window, the points it learned in total, its resolution. */
export interface CountedWindow extends RankedWindow, Resolution {
  /** Points learned in total. */
  n: number
}

/** An empty window of `w` points. */
export const emptyCountedWindow = (w: number): CountedWindow => ({
  ...rankedArrays(w),
  count: 0,
  pos: 0,
  n: 0,
  last: Number.NaN,
  quantum: 0
})

const SlotsState = Schema.declare(
  (u: unknown): u is ReadonlyArray<number> => Array.isArray(u) && u.every((x) => typeof x === "number"),
  { expected: "an array of ring slots" }
)

const windowFields = {
  ring: Detector.Float64ArrayState,
  count: Schema.Number,
  pos: Schema.Number,
  n: Schema.Number,
  ...ResolutionFields
}

/** A window as checkpointed: the ring and the ranked slots of its values. */
const RankedEncoded = Schema.Struct({ ...windowFields, order: SlotsState })
/** A window as checkpointed by earlier versions (a sorted copy of the values instead of their slots): ranked again. */
const SortedEncoded = Schema.Struct({ ...windowFields, sorted: Detector.Float64ArrayState })

const isCountedWindow = (u: unknown): u is CountedWindow =>
  typeof u === "object" && u !== null && (u as CountedWindow).ring instanceof Float64Array

/**
 * Encodes a {@link CountedWindow} for checkpoints (the ring, and the slots in rank order); decodes both that and
 * the earlier layout (the ring and a sorted copy of the values, whose slots are then ranked again). A window
 * whose slots are not a ranking of its values fails to decode.
 */
export const CountedWindowSchema: Schema.Codec<CountedWindow, unknown> = Schema.Union([RankedEncoded, SortedEncoded])
  .check(
    Schema.makeFilter((e) => {
      const order = "order" in e ? e.order : orderOf(e.ring, e.count, e.pos)
      return windowIssue(e.ring, order, e.count, e.pos) ?? true
    })
  )
  .pipe(
    Schema.decodeTo(
      Schema.declare(isCountedWindow, { expected: "a counted window" }),
      SchemaTransformation.transform({
        decode: (e): CountedWindow => {
          const w = e.ring.length
          const s: CountedWindow = {
            ...rankedArrays(w),
            count: e.count,
            pos: e.pos,
            n: e.n,
            last: e.last,
            quantum: e.quantum
          }
          s.ring.set(e.ring)
          s.order.set("order" in e ? e.order : orderOf(e.ring, e.count, e.pos))
          return s
        },
        encode: (s) => ({
          ring: s.ring,
          order: Array.from(s.order.subarray(0, s.count)),
          count: s.count,
          pos: s.pos,
          n: s.n,
          last: s.last,
          quantum: s.quantum
        })
      })
    )
  ) as unknown as Schema.Codec<CountedWindow, unknown>

/** Learns a finite `x` into the window in place (a non-finite one is ignored); the resolution is learned by {@link learning}. */
export const learnCountedWindow = <S extends CountedWindow>(s: S, x: number): S => {
  if (!Number.isFinite(x)) return s
  rankedPush(s, x)
  s.n++
  return s
}
