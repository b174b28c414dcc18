/**
 * The error of sinks (anomaly, alert and dead-letter sinks): one wrapper with a `reason` that says what failed and whether trying again may help, so
 * retry policies can be generic. Sources fail with `SourceError`, sinks with `SinkError`, stores with
 * `StoreError`; all three share the same reasons.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as internal from "./internal/reason.ts"

/**
 * Why an adapter failed. `Unavailable` and `Timeout` are retryable; `Rejected` (the peer refused the data) and
 * `Invalid` (our data or configuration is wrong) are not.
 *
 * @category errors
 * @since 0.1.0
 */
export const Reason = internal.Reason

/**
 * @category errors
 * @since 0.1.0
 */
export type Reason = typeof Reason.Type

/**
 * @category errors
 * @since 0.1.0
 */
export class SinkError extends Schema.TaggedError<SinkError>("@llm-sentinel/core/SinkError")("SinkError", {
  /** The adapter that failed, e.g. `postgres`, `memory`, `webhook`. */
  adapter: Schema.String,
  reason: Reason,
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {
  /** Whether trying the same operation again may succeed. */
  get isRetryable(): boolean {
    return internal.isRetryable(this.reason)
  }
}
