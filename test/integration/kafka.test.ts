// The Kafka source and sink against the real broker (KRaft, started by scripts/services.sh) with PostgreSQL as
// the store: the backbone pipeline (examples/backbone/pipeline.ts) runs from a 6-partition topic into PostgreSQL
// and must store exactly the anomalies the same pipeline finds in memory, dead-letter bad records with their
// topic/partition/offset, commit every partition's offset to its end, and pause fetching under backpressure.
import { assert, describe, it } from "@effect/vitest"
import { Kafka, Postgres } from "@llm-sentinel/adapters"
import {
  AlertSink,
  type Anomaly,
  AnomalySink,
  AnomalyStore,
  DeadLetterSink,
  EventSource,
  Pipeline
} from "@llm-sentinel/core"
import { Effect, Fiber, Layer, Stream } from "effect"
import { config, defaultIncidents, missed, scenario, scenarioEnd } from "../../examples/backbone/pipeline.ts"
import { brokers, committedOffsets, endOffsets, produce, testTopic } from "./kafka.ts"
import { freshStore } from "./postgres.ts"

const memoryAnomalies = (events: ReadonlyArray<unknown>) =>
  Effect.gen(function* () {
    yield* Pipeline.make(config()).run
    return yield* AnomalySink.Memory.use((s) => s.written)
  }).pipe(
    Effect.provide(
      Layer.mergeAll(
        EventSource.layerFromIterable(events, { batchSize: 1000 }),
        AnomalySink.layerMemory,
        DeadLetterSink.layerMemory,
        AlertSink.layerMemory
      )
    )
  )

const allStored = Effect.gen(function* () {
  const store = yield* AnomalyStore.AnomalyStore
  const out: Array<Anomaly.Anomaly> = []
  let cursor: string | null = null
  do {
    const page: AnomalyStore.Page = yield* store.query({ limit: 1000, ...(cursor === null ? {} : { cursor }) })
    out.push(...page.items)
    cursor = page.next
  } while (cursor !== null)
  return out
})

const waitUntil = <E, R>(
  what: string,
  check: Effect.Effect<boolean, E, R>,
  timeoutMs: number,
  state: Effect.Effect<unknown> = Effect.succeed("")
) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!(yield* check)) {
      if (Date.now() > deadline) {
        return yield* Effect.die(new Error(`timed out waiting for ${what}: ${JSON.stringify(yield* state)}`))
      }
      yield* Effect.sleep("200 millis")
    }
  })

describe("Kafka → pipeline → PostgreSQL", () => {
  it.live(
    "28,800 events with 3 incidents over 6 partitions: exactly the in-memory anomalies stored, bad records dead-lettered with topic/partition/offset, every offset committed",
    () =>
      Effect.gen(function* () {
        const topic = yield* testTopic(6)
        const events = scenario()
        const expected = yield* memoryAnomalies(events)
        assert.deepStrictEqual(missed(expected), [], "the in-memory run finds every incident")
        // 28,800 events, one message each, plus 3 bad records on known keys
        yield* produce(topic, events)
        yield* produce(topic, [
          ["chat/gpt-4o", "not json {"],
          [
            "chat/gpt-4o",
            JSON.stringify({ service: "chat", model: "gpt-4o", latencyMs: -5, timestamp: events[0]?.timestamp })
          ],
          ["search/claude", JSON.stringify([{ service: "search" }])]
        ])
        const end = yield* endOffsets(topic)
        assert.strictEqual(
          end.reduce((a, b) => a + b, 0),
          events.length + 3
        )

        const groupId = `sentinel-${topic}`
        const partitioned = Pipeline.makePartitioned(config({ flushOnEnd: false, checkpointEvery: "500 millis" }))
        const fiber = yield* partitioned.run.pipe(
          Effect.provide(
            Layer.mergeAll(
              AnomalyStore.layerSink,
              Postgres.layerDeadLetters,
              Postgres.layerAlertSink(Layer.succeed(AlertSink.AlertSink, { write: () => Effect.void }))
            ).pipe(Layer.provideMerge(Kafka.layerSource({ brokers, topic, groupId, batchSize: 500 })))
          ),
          Effect.forkChild
        )
        // every partition committed to its end: all windows closed (idle) and checkpointed after the sinks
        let last: ReadonlyArray<number> = []
        yield* waitUntil(
          "every partition committed to its end offset",
          Effect.map(committedOffsets(groupId, topic, 6), (c) => {
            last = c
            return c.every((o, i) => o === (end[i] === 0 ? -1 : end[i]))
          }),
          60_000,
          Effect.all({
            end: Effect.succeed(end),
            committed: Effect.sync(() => last),
            stats: partitioned.stats,
            partitions: partitioned.partitions
          })
        )
        // anomalies after the data: the idle series' silence (no traffic) seen by the detectors, which a
        // finite in-memory run cannot see; everything within the data's time must be the in-memory run's
        const stored = (yield* allStored).filter((a) => a.time < scenarioEnd())
        const pg = yield* Postgres.Postgres
        const dead = yield* pg.deadLetters(100)
        const stats = yield* partitioned.stats
        yield* Fiber.interrupt(fiber)

        assert.strictEqual(stats.received, events.length + 3)
        assert.strictEqual(stats.decoded, events.length)
        assert.deepStrictEqual(missed(stored), [])
        const want = new Set(expected.map((a) => a.id))
        const got = new Set(stored.map((a) => a.id))
        const extra = stored.filter((a) => !want.has(a.id)).slice(0, 5)
        const lacking = expected.filter((a) => !got.has(a.id)).slice(0, 5)
        assert.deepStrictEqual({ extra, lacking }, { extra: [], lacking: [] })
        assert.deepStrictEqual(
          stored.map((a) => a.id).sort(),
          expected.map((a) => a.id).sort(),
          "exactly the anomalies of the in-memory run"
        )
        assert.strictEqual(new Set(stored.map((a) => a.id)).size, stored.length)
        assert.strictEqual(dead.length, 3)
        for (const d of dead) assert.match(d.source ?? "", new RegExp(`^kafka ${topic}/\\d offset \\d+$`))
        assert.deepStrictEqual(
          (yield* partitioned.partitions).length,
          0,
          "every partition released after the interruption"
        )
        assert.strictEqual(defaultIncidents.length, 3)
      }).pipe(Effect.provide(freshStore("kafka")), Effect.scoped),
    150_000
  )

  it.live(
    "under backpressure the consumer pauses fetching instead of buffering without bound",
    () =>
      Effect.gen(function* () {
        const topic = yield* testTopic(1, "slow")
        const events = scenario({ seconds: 2000 }).filter((e) => e.service === "chat" && e.model === "claude")
        yield* produce(topic, events)
        let maxInFlight = 0
        const counted = Effect.gen(function* () {
          const source = yield* EventSource.PartitionedSource
          const handle = yield* Kafka.KafkaSource
          let taken = 0
          yield* source.partitions.pipe(
            Stream.flatMap((p) => p.batches, { concurrency: "unbounded" }),
            Stream.mapEffect((b) =>
              Effect.gen(function* () {
                taken += b.raw.length
                const c = yield* handle.counters.values
                maxInFlight = Math.max(maxInFlight, c.received - taken)
                yield* Effect.sleep("20 millis") // a slow sink
              })
            ),
            Stream.take(100),
            Stream.runDrain
          )
          return yield* handle.paused
        }).pipe(
          Effect.provide(
            Kafka.layerSource({
              brokers,
              topic,
              groupId: `slow-${topic}`,
              batchSize: 10,
              maxBuffered: 200,
              fetchMaxBytes: 16 * 1024
            })
          )
        )
        const paused = yield* counted
        assert.isAbove(paused.times, 0, "fetching was paused")
        // bounded by the limit plus what one fetch brings (per partition, maxBytes), far below the 2400 produced
        assert.isBelow(maxInFlight, 2000)
      }).pipe(Effect.scoped),
    60_000
  )
})
