/**
 * Robust MAD / Hampel filter: how many robust standard deviations a point lies from the rolling median.
 *
 * The window is kept both in arrival order and sorted (binary insertion, one memmove per point), so the median is
 * O(1) and the MAD O(log w) (the k-th element of the two sorted deviation sequences either side of the median),
 * never a sort per point. Score: `|x − median| / scale` in σ units (4 = warning), where `scale = 1.4826·MAD`
 * (σ for normal data). On flat or discrete series the MAD is often 0: then the scale falls back to the mean
 * absolute deviation from the median ·1.2533 (also σ for normal data); when that is 0 too (an all-equal window)
 * the scale is `scaleFloor·|median|` (or 1e-12 for an all-zero window), and scores are capped at 1000. So an
 * all-equal window followed by a different value fires with a finite score instead of dividing by zero, and a
 * value 1% off a flat level (with the default floor) scores 1.
 *
 * @since 0.1.0
 */
import { Detector, type Verdict } from "@llm-sentinel/core"
import { Schema } from "effect"
import {
  type CountedWindow,
  CountedWindowSchema,
  clampScore,
  decodeParams,
  emptyCountedWindow,
  fmt,
  learnCountedWindow,
  NonNegativeFinite,
  PositiveInt,
  quantile,
  rejected,
  robustScale,
  WARNING,
  WindowSize
} from "./internal.ts"
import type { LawClaims } from "./testing/Claims.ts"

/**
 * @category models
 * @since 0.1.0
 */
export const name = "mad"

/**
 * @category models
 * @since 0.1.0
 */
export interface Params {
  /** Points in the rolling window (count). Default 128. */
  readonly window: number
  /** The scale of an all-equal window, as a fraction of |median| (dimensionless). Default 0.01. */
  readonly scaleFloor: number
  /** Points to learn before the detector may fire (count, at least 3). Default 30. */
  readonly minSamples: number
  /** Whether points judged anomalous are learned. Default false. */
  readonly learnAnomalies: boolean
}

/**
 * @category models
 * @since 0.1.0
 */
export const defaults: Params = { window: 128, scaleFloor: 0.01, minSamples: 30, learnAnomalies: false }

/**
 * Validates a (partial) configuration.
 *
 * @category models
 * @since 0.1.0
 */
export const ParamsSchema: Schema.Codec<Partial<Params>, unknown> = Schema.Struct({
  window: Schema.optionalKey(WindowSize),
  scaleFloor: Schema.optionalKey(NonNegativeFinite),
  minSamples: Schema.optionalKey(PositiveInt),
  learnAnomalies: Schema.optionalKey(Schema.Boolean)
})

/**
 * The window in arrival order and sorted, and the points learned in total, updated in place by `learn`.
 *
 * @category models
 * @since 0.1.0
 */
export type State = CountedWindow

/**
 * Creates a MAD (Hampel) detector.
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { Mad } from "@llm-sentinel/detectors"
 * const { verdicts } = Detector.run(Mad.make({ window: 64, minSamples: 5 }), [0, 0, 1, 0, 0, 0, 0, 1, 0, 9])
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = (params?: Partial<Params>): Detector.Detector<State, number> => {
  const p = decodeParams(ParamsSchema, defaults, params)
  const w = p.window
  const minSamples = Math.max(3, p.minSamples)
  const score = (s: State, x: number): Verdict.Assessment => {
    if (!Number.isFinite(x)) return rejected
    const count = s.count
    if (count === 0) return { score: 0, expected: Number.NaN, lower: Number.NaN, upper: Number.NaN, ready: false }
    const median = quantile(s.sorted, count, 0.5)
    const scale = robustScale(s.sorted, count, median, p.scaleFloor)
    const z = (x - median) / scale
    const result = clampScore(Math.abs(z))
    const lower = median - WARNING * scale
    const upper = median + WARNING * scale
    const ready = s.n >= minSamples
    if (result < WARNING) return { score: result, expected: median, lower, upper, ready }
    return {
      score: result,
      expected: median,
      lower,
      upper,
      ready,
      reason: `${fmt(Math.abs(z))} robust σ ${z > 0 ? "above" : "below"} median ${fmt(median)} (scale ${fmt(scale)}, last ${count})`
    }
  }
  return Detector.make<State>({
    name,
    params: { ...p },
    minSamples,
    learnAnomalies: p.learnAnomalies,
    state: CountedWindowSchema,
    initial: () => emptyCountedWindow(w),
    score,
    learn: learnCountedWindow
  })
}

/**
 * The laws this detector claims (see `@llm-sentinel/detectors/testing`).
 *
 * @category testing
 * @since 0.1.0
 */
export const laws: LawClaims<Params> = {
  // the scale floor is relative to |median|, so a shift changes it, but it applies only to all-equal windows
  shiftInvariant: true,
  scaleInvariant: true,
  monotonic: true,
  sensitivity: { kind: "spike", size: 7 },
  maxStateBytes: 8192,
  testParams: { window: 64, minSamples: 20 }
}
