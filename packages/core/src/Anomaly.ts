/**
 * An anomaly: a verdict that fired, with its series, detector, event time, observed and expected values,
 * score, severity and window. Its `id` is a hash of series, detector and event time, so replaying the same
 * input yields the same ids and idempotent sinks store each anomaly once.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { Schema } from "effect"
import type * as Detector from "./Detector.ts"
import * as Series from "./Series.ts"
import * as Verdict from "./Verdict.ts"

const Num = Schema.NullOr(Schema.Finite)

/**
 * @category models
 * @since 0.1.0
 */
export const Anomaly = Schema.Struct({
  id: Schema.String,
  series: Series.SeriesKeySchema,
  detector: Schema.String,
  /** Event time of the point (for window signals, the window start), epoch ms. */
  time: Schema.Finite,
  observed: Num,
  expected: Num,
  lower: Num,
  upper: Num,
  score: Schema.Finite,
  severity: Verdict.Severity,
  reason: Schema.String,
  /** Processing time at which it was detected, epoch ms. */
  detectedAt: Schema.Finite
}).annotate({ identifier: "Anomaly" })

/**
 * @category models
 * @since 0.1.0
 */
export type Anomaly = typeof Anomaly.Type

/**
 * The deterministic id of an anomaly: the first 128 bits of SHA-256 over series id, detector and event time.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeId = (seriesId: string, detector: string, time: number): string =>
  createHash("sha256").update(`${seriesId}\u0000${detector}\u0000${time}`).digest("hex").slice(0, 32)

const finiteOrNull = (n: number): number | null => (Number.isFinite(n) ? n : null)

/**
 * Builds the anomaly of a scored point that fired.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromScored = (scored: Detector.Scored, detectedAt: number): Anomaly => {
  const { point, detector, verdict } = scored
  return {
    id: makeId(point.key.id, detector, point.time),
    series: {
      id: point.key.id,
      service: point.key.service,
      model: point.key.model,
      metric: point.key.metric,
      dimensions: point.key.dimensions
    },
    detector,
    time: point.time,
    observed: finiteOrNull(point.value),
    expected: finiteOrNull(verdict.expected),
    lower: finiteOrNull(verdict.lower),
    upper: finiteOrNull(verdict.upper),
    score: Number.isFinite(verdict.score) ? verdict.score : Number.MAX_VALUE,
    severity: verdict.severity,
    reason: verdict.reason,
    detectedAt
  }
}
