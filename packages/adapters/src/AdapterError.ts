/**
 * Why an adapter operation failed, as a union of reasons that each say whether trying again may help
 * (`isRetryable`). Every adapter wraps them in its own error (`WebhookError`, `InfluxError`, `NatsError`) and
 * converts that to the core's role error (`SourceError`, `SinkError`, `StoreError`) where it implements a core
 * service.
 *
 * @since 0.1.0
 */
import { SinkError } from "@llm-sentinel/core/SinkError"
import { SourceError } from "@llm-sentinel/core/SourceError"
import { StoreError } from "@llm-sentinel/core/StoreError"
import { Schema } from "effect"

/**
 * The peer could not be reached or answered 5xx. Retryable; `retryAfterMs` is the peer's `Retry-After`, if any.
 *
 * @category errors
 * @since 0.1.0
 */
export class Unavailable extends Schema.TaggedError<Unavailable>("@llm-sentinel/adapters/AdapterError/Unavailable")(
  "Unavailable",
  {
    message: Schema.String,
    status: Schema.optionalKey(Schema.Number),
    retryAfterMs: Schema.optionalKey(Schema.Number)
  }
) {
  get isRetryable(): boolean {
    return true
  }
}

/**
 * The peer did not answer in time. Retryable.
 *
 * @category errors
 * @since 0.1.0
 */
export class Timeout extends Schema.TaggedError<Timeout>("@llm-sentinel/adapters/AdapterError/Timeout")("Timeout", {
  message: Schema.String
}) {
  get isRetryable(): boolean {
    return true
  }
}

/**
 * The peer asked us to slow down (HTTP 429). Retryable, after `retryAfterMs` when the peer said so.
 *
 * @category errors
 * @since 0.1.0
 */
export class RateLimited extends Schema.TaggedError<RateLimited>("@llm-sentinel/adapters/AdapterError/RateLimited")(
  "RateLimited",
  {
    message: Schema.String,
    retryAfterMs: Schema.optionalKey(Schema.Number)
  }
) {
  get isRetryable(): boolean {
    return true
  }
}

/**
 * The peer refused the data (a 4xx other than 429): sending it again gives the same answer.
 *
 * @category errors
 * @since 0.1.0
 */
export class Rejected extends Schema.TaggedError<Rejected>("@llm-sentinel/adapters/AdapterError/Rejected")("Rejected", {
  message: Schema.String,
  status: Schema.optionalKey(Schema.Number)
}) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Our configuration or data is wrong (a bad URL, an unserialisable value). Not retryable.
 *
 * @category errors
 * @since 0.1.0
 */
export class Invalid extends Schema.TaggedError<Invalid>("@llm-sentinel/adapters/AdapterError/Invalid")("Invalid", {
  message: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * @category errors
 * @since 0.1.0
 */
export const Reason = Schema.Union([Unavailable, Timeout, RateLimited, Rejected, Invalid])

/**
 * @category errors
 * @since 0.1.0
 */
export type Reason = Unavailable | Timeout | RateLimited | Rejected | Invalid

const coreReason = (reason: Reason): SinkError["reason"] =>
  reason._tag === "RateLimited"
    ? "Unavailable"
    : reason._tag === "Rejected"
      ? "Rejected"
      : reason._tag === "Invalid"
        ? "Invalid"
        : reason._tag

const fields = (adapter: string, reason: Reason, cause: unknown) => ({
  adapter,
  reason: coreReason(reason),
  message: reason.message,
  ...(cause === undefined ? {} : { cause })
})

/**
 * The core's `SinkError` for a reason (for adapters implementing `AnomalySink`, `AlertSink`, `DeadLetterSink`).
 *
 * @category errors
 * @since 0.1.0
 */
export const toSinkError = (adapter: string, reason: Reason, cause?: unknown): SinkError =>
  new SinkError(fields(adapter, reason, cause))

/**
 * The core's `SourceError` for a reason (for adapters implementing `EventSource`, `PartitionedSource`,
 * `EventQueue`).
 *
 * @category errors
 * @since 0.1.0
 */
export const toSourceError = (adapter: string, reason: Reason, cause?: unknown): SourceError =>
  new SourceError(fields(adapter, reason, cause))

/**
 * The core's `StoreError` for a reason (for adapters implementing `StateStore`, `AnomalyStore`).
 *
 * @category errors
 * @since 0.1.0
 */
export const toStoreError = (adapter: string, reason: Reason, cause?: unknown): StoreError =>
  new StoreError(fields(adapter, reason, cause))
