/**
 * Robust MAD / Hampel filter: how many robust standard deviations a point lies from the rolling median.
 *
 * The window is kept in arrival order, with its ring slots kept sorted by value (binary insertion, one memmove of
 * one-byte slot numbers per point; 9 bytes a value), so the median is
 * O(1) and the MAD O(log w) (the k-th element of the two sorted deviation sequences either side of the median),
 * never a sort per point. Score: `|x − median| / scale` in σ units (4 = warning), where `scale = 1.4826·MAD`
 * (σ for normal data). On flat or discrete series the MAD is often 0: then the scale falls back to the mean
 * absolute deviation from the median ·1.2533 (also σ for normal data); when that is 0 too (an all-equal window)
 * the scale is `scaleFloor·|median|`. The scale never falls below what the data resolve (one learned quantum) or
 * the metric's minimum change (`minChange`, `minRelativeChange`, `counts`; see `scaleFloor` in `internal.ts`),
 * so a counter at 0 that blips to 1 scores 1, and a value 1% off a flat level (the default floor) scores 1.
 * Scores above 50 are squashed logarithmically (monotone, never tied).
 *
 * Adaptation (`anomalies: "clip"`, the default): an anomalous point is learned clipped to `median ± 4·scale`; a
 * lasting shift fills the window with band-edge values until the median and the spread follow it (about half a
 * window per band width).
 *
 * @since 0.1.0
 */
import { Detector, type Verdict } from "@llm-sentinel/core"
import { Schema } from "effect"
import {
  type Anomalies,
  AnomaliesSchema,
  type CountedWindow,
  CountedWindowSchema,
  decodeParams,
  emptyCountedWindow,
  fmt,
  learnCountedWindow,
  learning,
  type MinimumChange,
  MinimumChangeFields,
  NonNegativeFinite,
  noMinimumChange,
  PositiveInt,
  rankedQuantile,
  rankedRobustScale,
  rejected,
  scaleFloor,
  squash,
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
export interface Params extends MinimumChange {
  /** Points in the rolling window (count). Default 128. */
  readonly window: number
  /** The scale of an all-equal window, as a fraction of |median| (dimensionless). Default 0.01. */
  readonly scaleFloor: number
  /** Points to learn before the detector may fire (count, at least 3). Default 30. */
  readonly minSamples: number
  /** How points judged anomalous are learned: `"clip"` (to the band, default), `"learn"` in full, `"skip"`. */
  readonly anomalies: Anomalies
}

/**
 * @category models
 * @since 0.1.0
 */
export const defaults: Params = {
  window: 128,
  scaleFloor: 0.01,
  minSamples: 30,
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
  window: Schema.optionalKey(WindowSize),
  scaleFloor: Schema.optionalKey(NonNegativeFinite),
  minSamples: Schema.optionalKey(PositiveInt),
  anomalies: Schema.optionalKey(AnomaliesSchema),
  ...MinimumChangeFields
})

/**
 * The window in arrival order and its slots in rank order, and the points learned in total, updated in place by
 * `learn`.
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
    const median = rankedQuantile(s, 0.5)
    const scale = Math.max(rankedRobustScale(s, median, p.scaleFloor), scaleFloor(s, median, p))
    const z = (x - median) / scale
    const result = squash(Math.abs(z))
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
    ...learning(p.anomalies, learnCountedWindow),
    state: CountedWindowSchema,
    initial: () => emptyCountedWindow(w),
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
  // the scale floor is relative to |median|, so a shift changes it, but it applies only to all-equal windows
  shiftInvariant: true,
  scaleInvariant: true,
  monotonic: true,
  sensitivity: { kind: "spike", size: 7 },
  maxStateBytes: 4096,
  testParams: { window: 64, minSamples: 20 }
}
