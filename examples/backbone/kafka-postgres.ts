// The backbone pipeline from a Kafka consumer group into PostgreSQL: the same definition as memory.ts, run per
// partition (Pipeline.makePartitioned); only the layers change (Kafka.layerSource, Postgres). Runs until every
// partition committed its end offset (all windows closed and checkpointed), then stops.
//   node examples/backbone/kafka-postgres.ts [topic] [postgres://user@host:port/db] [schema]
import { Kafka, Postgres } from "@llm-sentinel/adapters"
import { AlertSink, AnomalyStore, Pipeline } from "@llm-sentinel/core"
import { Effect, Fiber, Layer } from "effect"
import { config, report } from "./pipeline.ts"

export const program = (options: {
  readonly brokers: ReadonlyArray<string>
  readonly topic: string
  readonly groupId: string
  readonly pg: Postgres.Config
}) =>
  Effect.gen(function* () {
    const pipeline = Pipeline.makePartitioned(config({ flushOnEnd: false, checkpointEvery: "500 millis" }))
    const fiber = yield* Effect.forkChild(pipeline.run)
    const kafka = yield* Kafka.KafkaSource
    // done when every partition's commit reached its end (partitions without data have no commit)
    const ends = yield* Effect.tryPromise(async () => {
      const { Consumer } = await import("@platformatic/kafka")
      const c = new Consumer({
        clientId: "example",
        groupId: `${options.groupId}-probe`,
        bootstrapBrokers: [...options.brokers]
      })
      try {
        return ((await c.listOffsets({ topics: [options.topic] })).get(options.topic) ?? []).map(Number)
      } finally {
        await c.close()
      }
    })
    for (;;) {
      const committed = yield* kafka.committed
      if (ends.every((e, i) => e === 0 || committed[i] === e)) break
      yield* Effect.sleep("250 millis")
    }
    yield* Fiber.interrupt(fiber)
    const stored = yield* AnomalyStore.AnomalyStore.use((s) => s.query({ limit: 1000 }))
    return { anomalies: stored.items, stats: yield* pipeline.stats }
  }).pipe(
    Effect.provide(
      Layer.mergeAll(
        AnomalyStore.layerSink,
        Postgres.layerDeadLetters,
        Postgres.layerAlertSink(AlertSink.layerLog)
      ).pipe(
        Layer.provideMerge(
          Kafka.layerSource({ brokers: options.brokers, topic: options.topic, groupId: options.groupId })
        ),
        Layer.provideMerge(Postgres.layer(options.pg))
      )
    )
  )

if (import.meta.main) {
  const { Redacted } = await import("effect")
  const topic = process.argv[2] ?? "llm-events"
  const { anomalies, stats } = await Effect.runPromise(
    program({
      brokers: [process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"],
      topic,
      groupId: `example-${topic}`,
      pg: {
        url: Redacted.make(process.argv[3] ?? "postgres://postgres@127.0.0.1:5432/test"),
        schema: process.argv[4] ?? "sentinel_example"
      }
    })
  )
  console.log(report("kafka → postgres", stats.received, anomalies))
}
