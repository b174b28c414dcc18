/**
 * Static threshold / SLO bound: fires when a value reaches a fixed upper or lower bound.
 *
 * No learning is needed (`minSamples` defaults to 0). Score: 0 strictly inside `(lower, upper)`; at a bound it is
 * exactly 4 (the default warning threshold, so reaching a bound fires), and it grows linearly beyond it, reaching
 * 6 (critical) `margin` past the bound: `4 + 2·(x − upper)/margin` above, `4 + 2·(lower − x)/margin` below.
 * The default margin is half the bound's magnitude (1 for a bound of 0): a latency SLO of 500 ms is a warning
 * from 500 ms and critical from 750 ms. Without any bound the detector never fires.
 *
 * Adaptation: none, on purpose. The bounds are the user's (an SLO), so a lasting breach is still a breach and keeps
 * firing (the alert policy groups it into one alert); it is the one shipped detector that does not claim the
 * adaptation law.
 *
 * @since 0.1.0
 */
import { Detector, type Verdict } from "@llm-sentinel/core"
import { Schema } from "effect"
import {
  type Anomalies,
  AnomaliesSchema,
  adaptOptions,
  decodeParams,
  fmt,
  NonNegativeFinite,
  NonNegativeInt,
  rejected,
  squash,
  WARNING
} from "./internal.ts"
import type { LawClaims } from "./testing/Claims.ts"

/**
 * @category models
 * @since 0.1.0
 */
export const name = "threshold"

/**
 * @category models
 * @since 0.1.0
 */
export interface Params {
  /** Values at or above this fire (series unit). Default +∞ (no upper bound). */
  readonly upper: number
  /** Values at or below this fire (series unit). Default −∞ (no lower bound). */
  readonly lower: number
  /** Distance past a bound at which the score reaches 6, critical (series unit); 0 = half the bound's magnitude, or 1 for a bound of 0. Default 0. */
  readonly margin: number
  /** Points to learn before the detector may fire (count). Default 0. */
  readonly minSamples: number
  /** How points judged anomalous are learned: `"learn"` in full, `"clip"` to the band, `"skip"`. Default `"skip"`. */
  readonly anomalies: Anomalies
}

/**
 * @category models
 * @since 0.1.0
 */
export const defaults: Params = {
  upper: Number.POSITIVE_INFINITY,
  lower: Number.NEGATIVE_INFINITY,
  margin: 0,
  minSamples: 0,
  anomalies: "skip"
}

/**
 * Validates a (partial) configuration; `lower` must be below `upper`.
 *
 * @category models
 * @since 0.1.0
 */
export const ParamsSchema: Schema.Codec<Partial<Params>, unknown> = Schema.Struct({
  upper: Schema.optionalKey(Schema.Finite),
  lower: Schema.optionalKey(Schema.Finite),
  margin: Schema.optionalKey(NonNegativeFinite),
  minSamples: Schema.optionalKey(NonNegativeInt),
  anomalies: Schema.optionalKey(AnomaliesSchema)
}).check(
  Schema.makeFilter((p) =>
    p.lower !== undefined && p.upper !== undefined && p.lower >= p.upper
      ? { path: ["lower"], issue: "Expected lower to be below upper" }
      : undefined
  )
)

/**
 * Points seen (for the optional warm-up).
 *
 * @category models
 * @since 0.1.0
 */
export interface State {
  n: number
}

const StateSchema = Schema.Struct({ n: Schema.Number })

const marginOf = (bound: number, margin: number): number =>
  margin > 0 ? margin : bound !== 0 && Number.isFinite(bound) ? Math.abs(bound) / 2 : 1

/**
 * Creates a static threshold detector.
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { Threshold } from "@llm-sentinel/detectors"
 * const slo = Threshold.make({ upper: 2000 }) // p95 latency SLO, ms
 * const { verdicts } = Detector.run(slo, [800, 1200, 2400])
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = (params?: Partial<Params>): Detector.Detector<State, number> => {
  const p = decodeParams(ParamsSchema, defaults, params)
  const { upper, lower } = p
  const upMargin = marginOf(upper, p.margin)
  const lowMargin = marginOf(lower, p.margin)
  const expected =
    Number.isFinite(upper) && Number.isFinite(lower)
      ? (upper + lower) / 2
      : Number.isFinite(upper)
        ? upper
        : Number.isFinite(lower)
          ? lower
          : Number.NaN
  const score = (s: State, x: number): Verdict.Assessment => {
    if (!Number.isFinite(x)) return rejected
    const ready = s.n >= p.minSamples
    if (x >= upper) {
      const result = squash(WARNING + (2 * (x - upper)) / upMargin)
      return {
        score: result,
        expected,
        lower,
        upper,
        ready,
        reason: `value ${fmt(x)} at or above the bound ${fmt(upper)}`
      }
    }
    if (x <= lower) {
      const result = squash(WARNING + (2 * (lower - x)) / lowMargin)
      return {
        score: result,
        expected,
        lower,
        upper,
        ready,
        reason: `value ${fmt(x)} at or below the bound ${fmt(lower)}`
      }
    }
    return { score: 0, expected, lower, upper, ready }
  }
  const learn = (s: State, x: number): State => {
    if (!Number.isFinite(x)) return s
    s.n++
    return s
  }
  return Detector.make<State>({
    name,
    params: { ...p },
    minSamples: p.minSamples,
    ...adaptOptions(p.anomalies),
    state: StateSchema,
    initial: () => ({ n: 0 }),
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
  // fires on absolute bounds, not on changes relative to the noise: no shift, scale or sensitivity claims
  shiftInvariant: false,
  scaleInvariant: false,
  monotonic: true,
  maxStateBytes: 64,
  testParams: {}
}
