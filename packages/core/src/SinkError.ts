/**
 * The error of sources, sinks and stores: one wrapper with a `reason` that says what failed and whether trying
 * again may help, so retry policies can be generic.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Why an adapter failed. `Unavailable` and `Timeout` are retryable; `Rejected` (the peer refused the data) and
 * `Invalid` (our data or configuration is wrong) are not.
 *
 * @category errors
 * @since 0.1.0
 */
export const Reason = Schema.Literals(["Unavailable", "Timeout", "Rejected", "Invalid"])

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
    return this.reason === "Unavailable" || this.reason === "Timeout"
  }
}
