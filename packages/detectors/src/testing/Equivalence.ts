/**
 * When two verdicts count as the same for the laws: every number equal (NaN equals NaN, -0 equals 0, because a
 * JSON round trip turns -0 into 0 and that changes nothing a user can see) and every flag and text equal.
 *
 * @since 0.1.0
 */
import type { Verdict } from "@llm-sentinel/core"

/**
 * Number equality where NaN equals NaN and -0 equals 0.
 *
 * @category combinators
 * @since 0.1.0
 */
export const sameNumber = (a: number, b: number): boolean => a === b || (Number.isNaN(a) && Number.isNaN(b))

/**
 * Whether two assessments are the same (the reason included when both have one).
 *
 * @category combinators
 * @since 0.1.0
 */
export const sameAssessment = (a: Verdict.Assessment, b: Verdict.Assessment): boolean =>
  sameNumber(a.score, b.score) &&
  sameNumber(a.expected, b.expected) &&
  sameNumber(a.lower, b.lower) &&
  sameNumber(a.upper, b.upper) &&
  a.ready === b.ready &&
  a.reason === b.reason

/**
 * Whether two verdicts are the same.
 *
 * @category combinators
 * @since 0.1.0
 */
export const sameVerdict = (a: Verdict.Verdict, b: Verdict.Verdict): boolean =>
  sameAssessment(a, b) && a.anomalous === b.anomalous && a.severity === b.severity

/**
 * A compact rendering of a verdict for violation messages.
 *
 * @category combinators
 * @since 0.1.0
 */
export const show = (v: Verdict.Verdict): string =>
  `{ anomalous: ${v.anomalous}, ready: ${v.ready}, score: ${v.score}, expected: ${v.expected}, reason: ${JSON.stringify(v.reason)} }`

/**
 * The first index where two verdict sequences differ (in length or content), or -1.
 *
 * @category combinators
 * @since 0.1.0
 */
export const firstDifference = (a: ReadonlyArray<Verdict.Verdict>, b: ReadonlyArray<Verdict.Verdict>): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (!sameVerdict(a[i]!, b[i]!)) return i
  return a.length === b.length ? -1 : n
}
