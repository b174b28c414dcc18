/**
 * Where anomalies go: a store, a log, a webhook, a Kafka topic. A sink receives each batch of anomalies that
 * the pipeline produced and must accept it (or fail) before the source's position is committed, so delivery is
 * at least once; anomalies carry deterministic ids so idempotent sinks store each one once.
 *
 * Every sink module has the same layers: `layerLog`, `layerNull`, and `layerMemory` with its {@link Memory}
 * reader.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Ref } from "effect"
import type { Anomaly } from "./Anomaly.ts"
import type { SinkError } from "./SinkError.ts"

/**
 * @category services
 * @since 0.1.0
 */
export class AnomalySink extends Context.Service<
  AnomalySink,
  {
    readonly write: (anomalies: ReadonlyArray<Anomaly>) => Effect.Effect<void, SinkError>
  }
>()("@llm-sentinel/core/AnomalySink") {}

/**
 * A sink that drops everything (benchmarks, or a pipeline whose output is only the alert log).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerNull: Layer.Layer<AnomalySink> = Layer.succeed(AnomalySink, { write: () => Effect.void })

/**
 * The reader of {@link layerMemory}: every anomaly written so far, in order.
 *
 * @category services
 * @since 0.1.0
 */
export class Memory extends Context.Service<
  Memory,
  {
    readonly written: Effect.Effect<ReadonlyArray<Anomaly>>
  }
>()("@llm-sentinel/core/AnomalySink/Memory") {}

/**
 * An in-memory sink that keeps every anomaly written, readable through {@link Memory} (tests, examples).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<AnomalySink | Memory> = Layer.effectContext(
  Effect.map(Ref.make<ReadonlyArray<Anomaly>>([]), (ref) =>
    Context.make(AnomalySink, { write: (xs) => Ref.update(ref, (all) => [...all, ...xs]) }).pipe(
      Context.add(Memory, { written: Ref.get(ref) })
    )
  )
)

/**
 * A sink that logs each anomaly at warning level.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerLog: Layer.Layer<AnomalySink> = Layer.succeed(AnomalySink, {
  write: (xs) =>
    Effect.forEach(
      xs,
      (a) =>
        Effect.logWarning(`anomaly ${a.series.id} ${a.detector} ${a.severity}: ${a.reason}`).pipe(
          Effect.annotateLogs({ anomalyId: a.id, time: new Date(a.time).toISOString() })
        ),
      { discard: true }
    )
})
