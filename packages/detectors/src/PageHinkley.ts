/**
 * Page-Hinkley test: detects a change of the mean by the cumulative deviation from the running mean.
 *
 * Deviations are standardised, `d = (x − x̄)/σ`, where `x̄` is the running mean including the point (exactly
 * averaged at first, then exponentially forgotten with `alpha`) and σ its exponentially weighted deviation.
 * Upwards: `m⁺ += d − δ`, `M⁺ = min(M⁺, m⁺)`, `PH⁺ = m⁺ − M⁺`; downwards symmetrically. Score:
 * `4·max(PH⁺, PH⁻)/λ`, so the classic alarm `PH ≥ λ` is the warning threshold 4. With the defaults a sustained
 * shift of `c`σ adds about `c − 0.5` per point (alarm after ~4 points at 3σ); a single spike of `c`σ scores
 * about `0.5·(c − 0.5)`, so this is a change detector, not a spike detector.
 *
 * Re-baseline: when a learned point reaches `PH ≥ λ`, the sums restart at 0 and the post-change mean the signal
 * estimates (`x̄ ± σ·(δ + PH/N)`, `N` = points since that sum was last 0) becomes the running mean as soon as the
 * next point confirms it (lies nearer to it than to the old mean; a lone spike does not), keeping σ and staying
 * ready, so a false alarm does not blind the test while it warms up again: this is its adaptation to a
 * lasting change (`anomalies: "learn"`, the default), one signal at the change and the new level from then on.
 * With `"skip"` it keeps signalling while the change lasts. Sums stay at 0 during warm-up. The σ never falls below one learned quantum of the data or the metric's
 * minimum change (`scaleFloor` in `internal.ts`); scores above 50 are squashed logarithmically.
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
export const name = "page-hinkley"

/**
 * @category models
 * @since 0.1.0
 */
export interface Params extends MinimumChange {
  /** Forgetting of the running mean and variance, in (0, 1]; memory about `2/alpha` points. Default 0.005. */
  readonly alpha: number
  /** Tolerated deviation δ per point (in σ). Default 0.5. */
  readonly delta: number
  /** Alarm threshold λ on the cumulative deviation (in σ): reaching it scores 4 (warning). Default 8. */
  readonly lambda: number
  /** Points to learn before the detector may fire (count, at least 2). Default 30. */
  readonly minSamples: number
  /** How points judged anomalous are learned: `"learn"` in full, `"clip"` to the band, `"skip"`. Default `"learn"`. */
  readonly anomalies: Anomalies
}

/**
 * @category models
 * @since 0.1.0
 */
export const defaults: Params = {
  alpha: 0.005,
  delta: 0.5,
  lambda: 8,
  minSamples: 30,
  anomalies: "learn",
  ...noMinimumChange
}

/**
 * Validates a (partial) configuration.
 *
 * @category models
 * @since 0.1.0
 */
export const ParamsSchema: Schema.Codec<Partial<Params>, unknown> = Schema.Struct({
  alpha: Schema.optionalKey(UnitInterval),
  delta: Schema.optionalKey(NonNegativeFinite),
  lambda: Schema.optionalKey(PositiveFinite),
  minSamples: Schema.optionalKey(PositiveInt),
  anomalies: Schema.optionalKey(AnomaliesSchema),
  ...MinimumChangeFields
})

/**
 * The running mean and variance and the two cumulative sums with their minima, updated in place by `learn`.
 *
 * @category models
 * @since 0.1.0
 */
export interface State {
  /** Points learned since the start or the last reset. */
  n: number
  mean: number
  variance: number
  /** `PH⁺ = m⁺ − M⁺` (σ). */
  up: number
  /** `PH⁻ = m⁻ − M⁻` (σ). */
  down: number
  /** Points since PH⁺ was last 0. */
  upLength: number
  /** Points since PH⁻ was last 0. */
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
 * Creates a Page-Hinkley change detector.
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { PageHinkley } from "@llm-sentinel/detectors"
 * const detector = PageHinkley.make({ delta: 0.1, lambda: 10 })
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = (params?: Partial<Params>): Detector.Detector<State, number> => {
  const p = decodeParams(ParamsSchema, defaults, params)
  const { alpha, delta, lambda } = p
  const minSamples = Math.max(2, p.minSamples)
  // PH = m − min m evolves as PH' = max(0, PH + d): only the differences are kept
  const deviation = (s: State, x: number, mean: number): number => {
    const a = Math.max(alpha, 1 / (s.n + 1))
    return ((1 - a) * (x - mean)) / Math.max(Math.sqrt(Math.max(s.variance, 0)), scaleFloor(s, mean, p))
  }
  // the mean `x` is judged against: the pending post-change mean when `x` confirms it, else the running mean
  const meanFor = (s: State, x: number): number =>
    Number.isFinite(s.pending) && Math.abs(x - s.pending) < Math.abs(x - s.mean) ? s.pending : s.mean
  const score = (s: State, x: number): Verdict.Assessment => {
    if (!Number.isFinite(x)) return rejected
    if (s.n < 2)
      return { score: 0, expected: s.n === 1 ? s.mean : Number.NaN, lower: Number.NaN, upper: Number.NaN, ready: false }
    const mean = meanFor(s, x)
    const d = deviation(s, x, mean)
    const up = Math.max(0, s.up + d - delta)
    const down = Math.max(0, s.down - d - delta)
    const result = squash((WARNING * Math.max(up, down)) / lambda)
    const a = Math.max(alpha, 1 / (s.n + 1))
    const unit = Math.max(Math.sqrt(Math.max(s.variance, 0)), scaleFloor(s, mean, p)) / (1 - a || 1)
    const lower = mean - unit * (lambda - s.down + delta)
    const upper = mean + unit * (lambda - s.up + delta)
    const ready = s.n >= minSamples
    if (result < WARNING) return { score: result, expected: mean, lower, upper, ready }
    return {
      score: result,
      expected: mean,
      lower,
      upper,
      ready,
      reason: `Page-Hinkley ${up >= down ? "increase" : "decrease"}: PH=${fmt(Math.max(up, down))}σ ≥ λ=${fmt(lambda)} from mean ${fmt(mean)}`
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
      const d = deviation(s, x, s.mean)
      s.up = Math.max(0, s.up + d - delta)
      s.down = Math.max(0, s.down - d - delta)
      s.upLength = s.up > 0 ? s.upLength + 1 : 0
      s.downLength = s.down > 0 ? s.downLength + 1 : 0
      if (s.up >= lambda || s.down >= lambda) {
        // the post-change mean: the mean deviation over the points since the sum left 0 (d is in units of
        // σ/(1 − a)), plus the tolerated δ
        const unit = baselineSigma(s, p) / (1 - Math.max(alpha, 1 / (s.n + 1)) || 1)
        s.pending =
          s.mean + (s.up >= s.down ? unit * (delta + s.up / s.upLength) : -unit * (delta + s.down / s.downLength))
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
  adapts: { size: 10, within: 100 },
  shiftInvariant: true,
  scaleInvariant: true,
  // the accumulated evidence of one side makes the score asymmetric around the mean
  monotonic: false,
  sensitivity: { kind: "step", size: 5 },
  maxStateBytes: 512,
  testParams: { minSamples: 30 }
}
