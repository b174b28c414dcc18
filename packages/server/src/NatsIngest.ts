/**
 * `source: { type: nats }` of `sentinel serve`: a JetStream durable consumer feeding the journal, beside HTTP and
 * OTLP ingest. Each fetched batch is decoded and redacted (as HTTP ingest does), its valid events are journaled
 * (the same `EventQueue` as HTTP ingest, so they survive `kill -9` and are replayed from the journal), its bad
 * records go to the dead-letter store, and only then are its messages acknowledged. A crash before the ack makes
 * JetStream redeliver the batch (at least once: a redelivered batch is journaled again).
 *
 * Backpressure: `offer` waits while the journal's queue is full, so no more is fetched than the pipeline takes
 * (JetStream holds the rest, up to the consumer's `maxAckPending`). The consumer's health is reported by
 * `/readyz` as `source:nats` (without deciding readiness: HTTP ingest still works while NATS is down) and its
 * counters are `sentinel_adapter_*_total{adapter="nats"}`. If the consumer fails, it is restarted with backoff.
 *
 * @since 0.2.0
 */
import { Nats } from "@llm-sentinel/adapters"
import { DeadLetterSink, type Event, EventSource } from "@llm-sentinel/core"
import { Context, Duration, Effect, Layer, Schedule, Stream } from "effect"
import * as Readiness from "./Readiness.ts"
import * as Redaction from "./Redaction.ts"

/**
 * Options of {@link layer}.
 *
 * @category models
 * @since 0.2.0
 */
export interface Options {
  readonly config: Nats.SourceConfig
  readonly redactor: Redaction.Redactor
  readonly timeBounds: Event.TimeBounds
}

/**
 * Runs the consumer for the lifetime of the layer.
 *
 * @category layers
 * @since 0.2.0
 */
export const layer = (
  options: Options
): Layer.Layer<never, never, EventSource.EventQueue | DeadLetterSink.DeadLetterSink | Readiness.Readiness> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const queue = yield* EventSource.EventQueue
      const deadLetters = yield* DeadLetterSink.DeadLetterSink
      const readiness = yield* Readiness.Readiness
      let healthy: Effect.Effect<boolean> = Effect.succeed(false)
      yield* readiness.register(
        "source:nats",
        Effect.suspend(() => healthy),
        { decides: false }
      )
      const consume = Effect.scoped(
        Effect.gen(function* () {
          const context = yield* Layer.build(
            Nats.layerSource(options.config).pipe(
              Redaction.layerSource(options.redactor, { timeBounds: options.timeBounds })
            )
          )
          healthy = Context.get(context, Nats.NatsSource).health
          yield* Effect.logInfo(`nats: consuming stream ${options.config.stream} as ${options.config.consumer}`)
          yield* Context.get(context, EventSource.EventSource).batches.pipe(
            Stream.runForEach((batch) =>
              Effect.gen(function* () {
                if (batch.rejected !== undefined && batch.rejected.length > 0) yield* deadLetters.write(batch.rejected)
                if (batch.events.length > 0) yield* queue.offer({ raw: [], events: batch.events, ack: Effect.void })
                yield* batch.ack
              })
            )
          )
        })
      ).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            healthy = Effect.succeed(false)
          })
        )
      )
      yield* consume.pipe(
        Effect.tapCause((cause) => Effect.logError("nats: the consumer stopped; restarting", cause)),
        Effect.retry(
          Schedule.exponential("500 millis").pipe(
            Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(30))))
          )
        ),
        Effect.forkScoped
      )
    })
  )
