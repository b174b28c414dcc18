/**
 * IQR / Tukey fences: how far a point lies outside the interquartile box of the rolling window.
 *
 * The window is kept in arrival order, with its ring slots kept sorted by value (binary insertion, one memmove of
 * one-byte slot numbers per point; 9 bytes a value), so quartiles
 * are O(1). The robust σ is `σ̂ = IQR / 1.349` (σ for normal data). Score above the box: `0.6745 + (x − Q3)/σ̂`,
 * below: `0.6745 + (Q1 − x)/σ̂`, which is `|x − midhinge|/σ̂` with `midhinge = (Q1 + Q3)/2`: for normal data the
 * z-score, in σ units (4 = warning). Tukey's fences `Q3 + k·IQR` map to: `k = 1.5` (outlier) ↔ score 2.7,
 * `k = 3` (far out) ↔ score 4.7; the warning score 4 is `k ≈ 2.47`. `expected` is the midhinge (the
 * median when the window has no spread). On flat or discrete series the IQR is often 0: then σ̂ falls back to the MAD ·1.4826, then to
 * the mean absolute deviation from the median ·1.2533 (also σ for normal data); when that is 0 too (an all-equal window)
 * the scale is `scaleFloor·|median|`. The scale never falls below one learned quantum of the data or the metric's
 * minimum change (`minChange`, `minRelativeChange`, `counts`; see `scaleFloor` in `internal.ts`). Scores above 50
 * are squashed logarithmically (monotone, never tied).
 *
 * Adaptation (`anomalies: "clip"`, the default): an anomalous point is learned clipped to `center ± 4σ̂`, so a
 * lasting shift moves the box after about half a window per band width.
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
export const name = "iqr"

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
 * Creates an IQR (Tukey fences) detector.
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { Iqr } from "@llm-sentinel/detectors"
 * const { verdicts } = Detector.run(Iqr.make({ window: 64, minSamples: 5 }), [0, 0, 1, 0, 0, 0, 0, 1, 0, 9])
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
    const q1 = rankedQuantile(s, 0.25)
    const q3 = rankedQuantile(s, 0.75)
    const iqr = (q3 - q1) / 1.3489795003921634
    const scale = Math.max(iqr > 0 ? iqr : rankedRobustScale(s, median, p.scaleFloor), scaleFloor(s, median, p))
    // 0.6745 + (x − Q3)/σ̂ above the box and 0.6745 + (Q1 − x)/σ̂ below are both |x − midhinge|/σ̂
    const center = iqr > 0 && iqr >= scale ? (q1 + q3) / 2 : median
    const z = (x - center) / scale
    const result = squash(Math.abs(z))
    const lower = center - WARNING * scale
    const upper = center + WARNING * scale
    const ready = s.n >= minSamples
    if (result < WARNING) return { score: result, expected: center, lower, upper, ready }
    return {
      score: result,
      expected: center,
      lower,
      upper,
      ready,
      reason: `${fmt(result)} σ̂ ${z > 0 ? "above" : "below"} the box [${fmt(q1)}, ${fmt(q3)}] (σ̂ ${fmt(scale)}, last ${count})`
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
