/**
 * A verdict is what a detector's deciding step says about one point: how unusual it is (`score`), whether it
 * fires (`anomalous`), what was expected and within which bounds, and how severe it is.
 *
 * Scoring (the detector) and deciding (this module) are separate so that one detector can be used with
 * different thresholds, and so that an ensemble can decide on combined scores.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * How loud an anomaly is. `none` is the severity of a verdict that did not fire.
 *
 * @category models
 * @since 0.1.0
 */
export const Severity = Schema.Literals(["none", "info", "warning", "critical"])

/**
 * @category models
 * @since 0.1.0
 */
export type Severity = typeof Severity.Type

const severityRank: Record<Severity, number> = { none: 0, info: 1, warning: 2, critical: 3 }

/**
 * Orders severities: `rank("critical") > rank("warning")`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const rank = (severity: Severity): number => severityRank[severity]

/**
 * What a detector says about one point before anything is decided. `score` is non-negative and, for the
 * shipped detectors, in "standard deviations" units: 3 is unusual, 5 is very unusual. `ready` is false during
 * warm-up (fewer than `minSamples` points learned): such an assessment never fires.
 *
 * @category models
 * @since 0.1.0
 */
export interface Assessment {
  readonly score: number
  readonly expected: number
  readonly lower: number
  readonly upper: number
  readonly ready: boolean
  /** A short human explanation, e.g. `"z=6.2 above mean 512 (σ 20)"`. Optional: the decider writes one if absent. */
  readonly reason?: string
}

/**
 * The decided outcome for one point.
 *
 * @category models
 * @since 0.1.0
 */
export interface Verdict extends Assessment {
  readonly anomalous: boolean
  readonly severity: Severity
  readonly reason: string
}

/**
 * The deciding step: turns an assessment (and the observed value) into a verdict.
 *
 * @category models
 * @since 0.1.0
 */
export type Decide = (assessment: Assessment, value: number) => Verdict

/**
 * Thresholds on the score for each severity. A score at or above `info` fires.
 *
 * @category models
 * @since 0.1.0
 */
export interface Thresholds {
  readonly info?: number
  readonly warning: number
  readonly critical: number
}

/**
 * The default thresholds: warning at score 4, critical at 6 (in σ units), no info level.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultThresholds: Thresholds = { warning: 4, critical: 6 }

/**
 * A deciding step that fires when `score >= info` (or `warning` when no info level is set) and maps the score to
 * a severity. Assessments that are not `ready`, or whose score is not finite, never fire.
 *
 * @example
 * ```ts
 * import { Verdict } from "@llm-sentinel/core"
 * const decide = Verdict.threshold({ warning: 3, critical: 5 })
 * decide({ score: 4, expected: 10, lower: 7, upper: 13, ready: true }, 22).severity // "warning"
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const threshold = (thresholds: Thresholds = defaultThresholds): Decide => {
  const fire = thresholds.info ?? thresholds.warning
  return (a, value) => {
    const anomalous = a.ready && Number.isFinite(a.score) && a.score >= fire
    const severity: Severity = !anomalous
      ? "none"
      : a.score >= thresholds.critical
        ? "critical"
        : a.score >= thresholds.warning
          ? "warning"
          : "info"
    // explanations are built only for verdicts that fire: formatting numbers costs more than scoring
    const reason = anomalous ? (a.reason ?? describe(a, value)) : a.ready ? "normal" : "warming up"
    return {
      score: a.score,
      expected: a.expected,
      lower: a.lower,
      upper: a.upper,
      ready: a.ready,
      anomalous,
      severity,
      reason
    }
  }
}

const fmt = (n: number): string => (Number.isFinite(n) ? String(Math.round(n * 1000) / 1000) : String(n))

/**
 * The default explanation of an assessment: `"value 3000 above expected 500 [440, 560], score 41.7"`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const describe = (a: Assessment, value: number): string => {
  if (!a.ready) return "warming up"
  const side = value > a.upper ? "above" : value < a.lower ? "below" : "within"
  return `value ${fmt(value)} ${side} expected ${fmt(a.expected)} [${fmt(a.lower)}, ${fmt(a.upper)}], score ${fmt(
    a.score
  )}`
}

/**
 * A verdict that says nothing: used for warm-up and for rejected (non-finite) input.
 *
 * @category constructors
 * @since 0.1.0
 */
export const notReady = (reason: string): Verdict => ({
  score: 0,
  expected: Number.NaN,
  lower: Number.NaN,
  upper: Number.NaN,
  ready: false,
  anomalous: false,
  severity: "none",
  reason
})
