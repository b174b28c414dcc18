/**
 * The counters every adapter keeps, under one naming scheme, as Effect metrics (so `/metrics` shows them):
 * `sentinel_adapter_{received,sent,retried,dropped,errors}_total`, each with the attributes `adapter` (e.g.
 * `webhook`, `influx`, `nats`) and `name` (the destination or source, as configured).
 *
 * - **received**: items handed to the adapter (alert events, anomalies, lines, messages read);
 * - **sent**: items the destination accepted (for a source: items acknowledged);
 * - **retried**: attempts made again after a retryable failure;
 * - **dropped**: items that did not reach the destination (dead-lettered, or dropped from a full buffer);
 * - **errors**: failed attempts, retryable or not.
 *
 * @since 0.1.0
 */
import { Effect, Metric } from "effect"

const base = {
  received: Metric.counter("sentinel_adapter_received_total", {
    description: "items handed to an adapter",
    incremental: true
  }),
  sent: Metric.counter("sentinel_adapter_sent_total", {
    description: "items an adapter's destination accepted",
    incremental: true
  }),
  retried: Metric.counter("sentinel_adapter_retried_total", {
    description: "attempts an adapter made again after a retryable failure",
    incremental: true
  }),
  dropped: Metric.counter("sentinel_adapter_dropped_total", {
    description: "items that did not reach an adapter's destination (dead-lettered or dropped from a full buffer)",
    incremental: true
  }),
  errors: Metric.counter("sentinel_adapter_errors_total", {
    description: "failed attempts of an adapter",
    incremental: true
  })
}

/**
 * The names of the counters.
 *
 * @category models
 * @since 0.1.0
 */
export type Name = keyof typeof base

/**
 * The counters of one adapter instance.
 *
 * @category models
 * @since 0.1.0
 */
export interface Counters {
  readonly adapter: string
  readonly name: string
  readonly metrics: { readonly [K in Name]: Metric.Counter<number> }
  /** Adds `n` to a counter. */
  readonly add: (counter: Name, n: number) => Effect.Effect<void>
  /**
   * What this instance counted (the metrics add up every instance with the same adapter and name), for tests
   * and health pages.
   */
  readonly values: Effect.Effect<{ readonly [K in Name]: number }>
}

/**
 * The counters of the adapter `adapter` for the destination or source `name`.
 *
 * @example
 * ```ts
 * import { Counters } from "@llm-sentinel/adapters"
 * const c = Counters.make("webhook", "pager")
 * // yield* c.add("sent", 3)
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = (adapter: string, name: string): Counters => {
  const attributes = { adapter, name }
  const metrics = {
    received: Metric.withAttributes(base.received, attributes),
    sent: Metric.withAttributes(base.sent, attributes),
    retried: Metric.withAttributes(base.retried, attributes),
    dropped: Metric.withAttributes(base.dropped, attributes),
    errors: Metric.withAttributes(base.errors, attributes)
  }
  const local = { received: 0, sent: 0, retried: 0, dropped: 0, errors: 0 }
  return {
    adapter,
    name,
    metrics,
    add: (counter, n) =>
      n === 0
        ? Effect.void
        : Effect.suspend(() => {
            local[counter] += n
            return Metric.update(metrics[counter], n)
          }),
    values: Effect.sync(() => ({ ...local }))
  }
}
