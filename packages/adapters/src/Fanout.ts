/**
 * Fan-out: one `AlertSink` (or `AnomalySink`) that writes to several, so a pipeline can send alerts to Slack
 * and a webhook, or anomalies to the store and InfluxDB, at once. Each write goes to every sink concurrently
 * and succeeds when all of them accepted it; the first failure fails it (so the source is not acknowledged).
 *
 * @since 0.1.0
 */
import { AlertSink, AnomalySink } from "@llm-sentinel/core"
import { Context, Effect, Layer } from "effect"

/**
 * An `AlertSink` writing to every sink the given layers build (each layer is built on its own, so two layers
 * may both provide an `AlertSink`).
 *
 * @example
 * ```ts
 * import { Fanout, Slack, Webhook } from "@llm-sentinel/adapters"
 * import { DeadLetterSink } from "@llm-sentinel/core"
 * import { Layer, Redacted } from "effect"
 * const alerts = Fanout.layerAlerts(
 *   Slack.layer({ url: Redacted.make("https://hooks.slack.com/services/T/B/X") }),
 *   Webhook.layer({ url: "https://incidents.example/hook", secret: Redacted.make("s3cret") })
 * ).pipe(Layer.provide(DeadLetterSink.layerLog))
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layerAlerts = <E, R>(
  ...layers: ReadonlyArray<Layer.Layer<AlertSink.AlertSink, E, R>>
): Layer.Layer<AlertSink.AlertSink, E, R> =>
  Layer.effect(
    AlertSink.AlertSink,
    Effect.gen(function* () {
      const sinks = yield* Effect.forEach(layers, (l) => Effect.map(Layer.build(l), Context.get(AlertSink.AlertSink)))
      return {
        write: (events) => Effect.forEach(sinks, (s) => s.write(events), { discard: true, concurrency: "unbounded" })
      }
    })
  )

/**
 * An `AnomalySink` writing to every sink the given layers build.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerAnomalies = <E, R>(
  ...layers: ReadonlyArray<Layer.Layer<AnomalySink.AnomalySink, E, R>>
): Layer.Layer<AnomalySink.AnomalySink, E, R> =>
  Layer.effect(
    AnomalySink.AnomalySink,
    Effect.gen(function* () {
      const sinks = yield* Effect.forEach(layers, (l) =>
        Effect.map(Layer.build(l), Context.get(AnomalySink.AnomalySink))
      )
      return {
        write: (xs) => Effect.forEach(sinks, (s) => s.write(xs), { discard: true, concurrency: "unbounded" })
      }
    })
  )
