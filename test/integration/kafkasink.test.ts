// The Kafka sink against the real broker: the backbone pipeline (examples/backbone/pipeline.ts) reads a
// 6-partition events topic with PostgreSQL as its StateStore and publishes to Kafka.layerSink; both topics are
// then read back from the start. Between two runs the StateStore is put back to a checkpoint taken mid-stream
// (what a crash after it leaves behind) and the second run replays the whole topic: the anomaly topic may
// repeat anomalies (Kafka has no upsert) but every repeat carries the same id, so consumers drop it by the `id`
// header; alert transitions are idempotent and are not published twice at all.
import { assert, describe, it } from "@effect/vitest"
import { AlertJson, Kafka } from "@llm-sentinel/adapters"
import {
  Alert,
  AlertSink,
  Anomaly,
  AnomalySink,
  DeadLetterSink,
  type Event,
  EventSource,
  Pipeline,
  StateStore
} from "@llm-sentinel/core"
import { Effect, Fiber, Layer, Schema } from "effect"
import { config, missed, scenario } from "../../examples/backbone/pipeline.ts"
import { brokers, committedOffsets, endOffsets, produce, readAll, testTopic } from "./kafka.ts"
import { freshStore } from "./postgres.ts"

// idle series never close by processing time here: the pause between producing the two halves would otherwise
// advance their watermarks (and a run's result would depend on the machine's speed)
const pipelineConfig = () => config({ flushOnEnd: false, checkpointEvery: "200 millis", idleTimeout: "1 hour" })

const inMemory = (events: ReadonlyArray<unknown>) =>
  Effect.gen(function* () {
    yield* Pipeline.make(pipelineConfig()).run
    return {
      anomalies: yield* AnomalySink.Memory.use((s) => s.written),
      alerts: yield* AlertSink.Memory.use((s) => s.written)
    }
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

const waitUntil = (
  what: string,
  check: () => Effect.Effect<boolean, unknown>,
  timeoutMs: number,
  state: Effect.Effect<unknown>
) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!(yield* check())) {
      if (Date.now() > deadline)
        return yield* Effect.die(new Error(`timed out waiting for ${what}: ${JSON.stringify(yield* state)}`))
      yield* Effect.sleep("200 millis")
    }
  })

const decodeAnomaly = Schema.decodeUnknownSync(Schema.fromJsonString(Anomaly.Anomaly))
const decodeAlertEvent = Schema.decodeUnknownSync(Schema.fromJsonString(Alert.AlertEvent))

describe("pipeline → Kafka sink", () => {
  it.live(
    "anomalies and alert events on their topics: keyed by series, ids in headers, payloads decode; after a replay from an older checkpoint anomalies repeat only under their ids and alert events not at all",
    () =>
      Effect.gen(function* () {
        const topic = yield* testTopic(6)
        const anomalyTopic = yield* testTopic(3, "anomalies")
        const alertTopic = yield* testTopic(3, "alerts")
        const events = scenario()
        const expected = yield* inMemory(events)
        assert.deepStrictEqual(missed(expected.anomalies), [], "the in-memory run finds every incident")
        assert.isAbove(expected.alerts.length, 0)
        // the first 25 minutes (before any incident), then the rest
        const split = 12 * 25 * 60
        const store = yield* StateStore.StateStore

        const start = (groupId: string) => {
          const partitioned = Pipeline.makePartitioned(pipelineConfig())
          return Effect.map(
            partitioned.run.pipe(
              Effect.provide(
                Layer.mergeAll(Kafka.layerSink({ brokers, anomalyTopic, alertTopic }), DeadLetterSink.layerMemory).pipe(
                  Layer.provideMerge(Kafka.layerSource({ brokers, topic, groupId, batchSize: 500 }))
                )
              ),
              Effect.forkChild
            ),
            (fiber) => ({ partitioned, fiber })
          )
        }

        // run 1: the first part, then a checkpoint of every partition taken once all of it was processed
        yield* produce(topic, events.slice(0, split))
        const first = yield* start(`sink-a-${topic}`)
        yield* waitUntil(
          "the first part processed",
          () => Effect.map(first.partitioned.stats, (s) => s.decoded === split),
          60_000,
          first.partitioned.stats
        )
        const checkpointsThen = (yield* first.partitioned.stats).checkpoints
        yield* waitUntil(
          "a checkpoint of each partition after it",
          () => Effect.map(first.partitioned.stats, (s) => s.checkpoints > checkpointsThen),
          10_000,
          first.partitioned.stats
        )
        yield* Effect.sleep("1500 millis") // every partition's pipeline checkpoints at its next tick
        const older = (yield* store.entries("partition/")).filter(([k]) => !k.includes(Pipeline.alertsEmittedPrefix))
        assert.isAbove(older.length, 12, "detector states, window clocks and positions of the partitions")

        // the rest: incidents, anomalies and alerts; every offset committed past the incidents
        yield* produce(topic, events.slice(split))
        yield* waitUntil(
          "everything processed",
          () => Effect.map(first.partitioned.stats, (s) => s.decoded === events.length),
          60_000,
          first.partitioned.stats
        )
        yield* Effect.sleep("1500 millis")
        const firstStats = yield* first.partitioned.stats
        yield* Fiber.interrupt(first.fiber)
        const end = yield* endOffsets(topic)
        const committed = yield* committedOffsets(`sink-a-${topic}`, topic, 6)
        for (let p = 0; p < 6; p++) {
          if ((end[p] as number) > 0) assert.isAbove(committed[p] as number, 0, `partition ${p} committed`)
          assert.isAtMost(committed[p] as number, end[p] as number)
        }
        const afterFirst = (yield* readAll(anomalyTopic)).length

        // a crash after the mid-stream checkpoint leaves it behind (and the alert transitions already published,
        // which are recorded as soon as the sink accepts them): put it back and replay the topic from its start
        const now = new Set((yield* store.keys("partition/")).filter((k) => !k.includes(Pipeline.alertsEmittedPrefix)))
        for (const [k] of older) now.delete(k)
        for (const k of now) yield* store.delete(k)
        yield* store.setMany(older)
        const second = yield* start(`sink-b-${topic}`)
        yield* waitUntil(
          "the replay processed",
          () => Effect.map(second.partitioned.stats, (s) => s.received === events.length),
          60_000,
          second.partitioned.stats
        )
        yield* Effect.sleep("1500 millis")
        const secondStats = yield* second.partitioned.stats
        yield* Fiber.interrupt(second.fiber)

        const anomalyRecords = yield* readAll(anomalyTopic)
        const alertRecords = yield* readAll(alertTopic)

        // every anomaly record: keyed by its series, its id in the header, its payload an Anomaly
        // the same anomaly but for `detectedAt` (the processing time of the run that found it)
        const byId = new Map<string, string>()
        for (const r of anomalyRecords) {
          const a = decodeAnomaly(r.value)
          assert.strictEqual(r.key, a.series.id)
          assert.strictEqual(r.headers.get("id"), a.id)
          const seen = byId.get(a.id)
          const same = JSON.stringify({ ...a, detectedAt: 0 })
          if (seen !== undefined) assert.strictEqual(same, seen, "a repeat is the same anomaly")
          byId.set(a.id, same)
        }
        assert.deepStrictEqual(
          [...byId.keys()].sort(),
          expected.anomalies.map((a) => a.id).sort(),
          "exactly the anomalies of the in-memory run, by id"
        )
        assert.strictEqual(afterFirst, expected.anomalies.length, "the first run published each anomaly once")
        assert.isAbove(secondStats.anomalies, 0, "the replay found the incidents' anomalies again")
        assert.strictEqual(anomalyRecords.length, afterFirst + secondStats.anomalies)

        // every alert record: keyed by its series, its delivery id in the header, its payload an AlertEvent
        const deliveries = new Set<string>()
        for (const r of alertRecords) {
          const e = decodeAlertEvent(r.value) as Alert.AlertEvent
          assert.strictEqual(r.key, e._tag === "storm" ? "storm" : e.alert.series.id)
          assert.strictEqual(r.headers.get("id"), AlertJson.deliveryId(e))
          deliveries.add(AlertJson.deliveryId(e))
        }
        assert.strictEqual(deliveries.size, alertRecords.length, "no alert event published twice")
        assert.deepStrictEqual(
          [...deliveries].sort(),
          expected.alerts.map(AlertJson.deliveryId).sort(),
          "exactly the alert events of the in-memory run"
        )
        assert.strictEqual(firstStats.alertEvents, expected.alerts.length)
        console.log(
          `kafka sink: ${events.length} events in, ${byId.size} distinct anomalies (${anomalyRecords.length} records, ${anomalyRecords.length - byId.size} repeats under their ids after the replay), ${alertRecords.length} alert events (duplicates 0, ${secondStats.alertsSkipped} skipped by the replay), committed ${JSON.stringify(committed)} of ${JSON.stringify(end)}`
        )
        assert.isAbove(secondStats.alertsSkipped, 0, "the replay's transitions were recognised as published")
      }).pipe(Effect.provide(freshStore("kafkasink")), Effect.scoped),
    180_000
  )
})

describe("Kafka ingest producer", () => {
  it.live(
    "bounded in-flight produce: past maxInFlight unacknowledged events tryOffer answers false (ingest's 429), each batch's ack runs once the broker acknowledged it",
    () =>
      Effect.gen(function* () {
        const topic = yield* testTopic(3, "ingest")
        const events = scenario({ seconds: 200 }) as unknown as ReadonlyArray<Event.TelemetryEvent>
        let acked = 0
        const batch = (n: number) => ({
          raw: [],
          events: events.slice(0, n),
          ack: Effect.sync(() => void (acked += n))
        })
        const { accepted, answers, left } = yield* Effect.gen(function* () {
          const queue = yield* EventSource.EventQueue
          // 20 batches of 300 at once against a bound of 1000: at most 3 fit while the broker has not answered
          const answers = yield* Effect.forEach(
            Array.from({ length: 20 }, () => batch(300)),
            (b) => queue.tryOffer(b),
            { concurrency: "unbounded" }
          )
          // with nothing in flight a batch larger than the bound still goes through (one at a time)
          assert.isTrue(yield* queue.tryOffer(batch(1500)))
          return { answers, accepted: answers.filter((a) => a).length, left: yield* queue.size }
        }).pipe(Effect.provide(Kafka.layerEventQueue({ brokers, topic, maxInFlight: 1000 })))
        assert.isAbove(accepted, 0)
        assert.isAtMost(accepted, 3, JSON.stringify(answers))
        assert.strictEqual(acked, accepted * 300 + 1500, "every accepted batch acknowledged")
        assert.strictEqual(left, 0, "nothing in flight once acknowledged")
        const end = yield* endOffsets(topic)
        assert.strictEqual(
          end.reduce((a, b) => a + b, 0),
          accepted * 300 + 1500,
          "exactly the accepted events are in the topic"
        )
      }).pipe(Effect.scoped),
    60_000
  )
})
