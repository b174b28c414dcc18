/**
 * Two-sided CUSUM on standardised values: accumulates evidence of a sustained shift of the level.
 *
 * Each point is standardised against an exponentially weighted baseline, `z = (x − μ)/σ`, and two sums are kept:
 * `S⁺ = max(0, S⁺ + z − k)` and `S⁻ = max(0, S⁻ − z − k)` (`k` = slack, `h` = decision interval, both in σ).
 * Score: `4·max(S⁺, S⁻)/h`, so the classic alarm `S ≥ h` is the warning threshold 4 (and `S ≥ 1.5·h` critical).
 * A single spike of `c`σ scores `0.5·(c − k)` with the defaults; a sustained shift of `c`σ adds `c − k` per point.
 *
 * Re-baseline: the sums stay at 0 during warm-up. When a learned point reaches `S ≥ h`, the sums restart at 0 and
 * the post-change mean the signal estimates, `μ ± σ·(k + S/N)` (`N` = points since that sum was last 0), becomes
 * the baseline mean as soon as the next point confirms it (lies nearer to it than to the old mean; a lone spike
 * does not), keeping σ and staying ready. Adaptation (`anomalies: "learn"`, the default): signalling points
 * are learned, so a lasting shift signals once, at its start, and is the new baseline from then on (a slow baseline
 * alone would lag behind the new level for `1/alpha` points and signal again and again); with `"skip"` it keeps
 * signalling while the shift lasts. The σ never falls below one learned quantum of the data or the metric's minimum change
 * (`scaleFloor` in `internal.ts`); scores above 50 are squashed logarithmically.
 *
 * @since 0.1.0
 */
import { Detector, type Verdict } from "@llm-sentinel/core"
import { Schema } from "effect"
import {
  type Anomalies,
  AnomaliesSchema,
  adaptOptions,
  baselineSigma,
  decodeParams,
  ewUpdate,
  fmt,
  learnResolution,
  type MinimumChange,
  MinimumChangeFields,
  NonNegativeFinite,
  noMinimumChange,
  PositiveFinite,
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
export const name = "cusum"

/**
 * @category models
 * @since 0.1.0
 */
export interface Params extends MinimumChange {
  /** Smoothing of the baseline mean and variance, in (0, 1]; memory about `2/alpha` points. Default 0.02. */
  readonly alpha: number
  /** Slack `k`: the shift (in σ) that is tolerated without accumulating, about half the shift to detect. Default 0.5. */
  readonly k: number
  /** Decision interval `h` (in σ): a sum reaching it scores 4 (warning). Default 8 (in-control run length ~10⁴ points). */
  readonly h: number
  /** Points to learn before the detector may fire (count, at least 2). Default 30. */
  readonly minSamples: number
  /** How points judged anomalous are learned: `"learn"` in full, `"clip"` to the band, `"skip"`. Default `"learn"`. */
  readonly anomalies: Anomalies
}

/**
 * @category models
 * @since 0.1.0
 */
export const defaults: Params = { alpha: 0.02, k: 0.5, h: 8, minSamples: 30, anomalies: "learn", ...noMinimumChange }

/**
 * Validates a (partial) configuration.
 *
 * @category models
 * @since 0.1.0
 */
export const ParamsSchema: Schema.Codec<Partial<Params>, unknown> = Schema.Struct({
  alpha: Schema.optionalKey(UnitInterval),
  k: Schema.optionalKey(NonNegativeFinite),
  h: Schema.optionalKey(PositiveFinite),
  minSamples: Schema.optionalKey(PositiveInt),
  anomalies: Schema.optionalKey(AnomaliesSchema),
  ...MinimumChangeFields
})

/**
 * The baseline and the two sums, updated in place by `learn`.
 *
 * @category models
 * @since 0.1.0
 */
export interface State {
  n: number
  mean: number
  variance: number
  /** S⁺, upward evidence (σ). */
  up: number
  /** S⁻, downward evidence (σ). */
  down: number
  /** Points since S⁺ was last 0. */
  upLength: number
  /** Points since S⁻ was last 0. */
  downLength: number
  /** The post-change mean estimated by the last signal, until the next point confirms it or not (NaN: none). */
  pending: number
  /** The last value learned (for the quantum). */
  last: number
  /** The smallest non-zero step between consecutive values seen. */
  quantum: number
}

const StateSchema = Schema.Struct({
  n: Schema.Number,
  mean: Detector.AnyNumberState,
  variance: Detector.AnyNumberState,
  up: Detector.AnyNumberState,
  down: Detector.AnyNumberState,
  upLength: Schema.Number,
  downLength: Schema.Number,
  pending: Detector.AnyNumberState,
  ...ResolutionFields
})

/**
 * Creates a two-sided CUSUM detector.
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { Cusum } from "@llm-sentinel/detectors"
 * const detector = Cusum.make({ k: 0.25, h: 8 }) // smaller shifts, fewer false alarms
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = (params?: Partial<Params>): Detector.Detector<State, number> => {
  const p = decodeParams(ParamsSchema, defaults, params)
  const { alpha, k, h } = p
  const minSamples = Math.max(2, p.minSamples)
  // the mean `x` is judged against: the pending post-change mean when `x` confirms it, else the baseline's
  const meanFor = (s: State, x: number): number =>
    Number.isFinite(s.pending) && Math.abs(x - s.pending) < Math.abs(x - s.mean) ? s.pending : s.mean
  const score = (s: State, x: number): Verdict.Assessment => {
    if (!Number.isFinite(x)) return rejected
    if (s.n < 2)
      return { score: 0, expected: s.n === 1 ? s.mean : Number.NaN, lower: Number.NaN, upper: Number.NaN, ready: false }
    const mean = meanFor(s, x)
    const scale = Math.max(Math.sqrt(Math.max(s.variance, 0)), scaleFloor(s, mean, p))
    const z = (x - mean) / scale
    const up = Math.max(0, s.up + z - k)
    const down = Math.max(0, s.down - z - k)
    const result = squash((WARNING * Math.max(up, down)) / h)
    const lower = mean - scale * (h - s.down + k)
    const upper = mean + scale * (h - s.up + k)
    const ready = s.n >= minSamples
    if (result < WARNING) return { score: result, expected: mean, lower, upper, ready }
    return {
      score: result,
      expected: mean,
      lower,
      upper,
      ready,
      reason: `CUSUM ${up >= down ? "upward" : "downward"} shift: S=${fmt(Math.max(up, down))}σ ≥ h=${fmt(h)} from mean ${fmt(mean)} (σ ${fmt(scale)})`
    }
  }
  const learn = (s: State, x: number): State => {
    if (!Number.isFinite(x)) return s
    learnResolution(s, x)
    if (Number.isFinite(s.pending)) {
      s.mean = meanFor(s, x)
      s.pending = Number.NaN
    }
    if (s.n >= 2 && s.n >= minSamples) {
      const scale = baselineSigma(s, p)
      const z = (x - s.mean) / scale
      s.up = Math.max(0, s.up + z - k)
      s.down = Math.max(0, s.down - z - k)
      s.upLength = s.up > 0 ? s.upLength + 1 : 0
      s.downLength = s.down > 0 ? s.downLength + 1 : 0
      if (s.up >= h || s.down >= h) {
        // the post-change mean: the evidence accumulated over the points since the sum left 0, plus the slack
        s.pending = s.mean + (s.up >= s.down ? scale * (k + s.up / s.upLength) : -scale * (k + s.down / s.downLength))
        s.up = 0
        s.down = 0
        s.upLength = 0
        s.downLength = 0
      }
    }
    s.n++
    ewUpdate(s, Math.max(alpha, 1 / s.n), x)
    return s
  }
  return Detector.make<State>({
    name,
    params: { ...p },
    minSamples,
    ...adaptOptions(p.anomalies),
    state: StateSchema,
    initial: () => ({
      n: 0,
      mean: 0,
      variance: 0,
      up: 0,
      down: 0,
      upLength: 0,
      downLength: 0,
      pending: Number.NaN,
      last: Number.NaN,
      quantum: 0
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
export const claims: LawClaims<Params> = {
  adapts: { size: 10, within: 300 },
  shiftInvariant: true,
  scaleInvariant: true,
  // the accumulated evidence of one side makes the score asymmetric around the mean
  monotonic: false,
  sensitivity: { kind: "step", size: 5 },
  maxStateBytes: 512,
  testParams: { alpha: 0.02, minSamples: 30 }
}
