// `sentinel serve --kafka-brokers … --postgres …` as real processes over the real broker and PostgreSQL:
// - SIGKILL mid-stream and restart: the stored anomalies are exactly those of the same pipeline run in memory
//   (nothing lost, no row twice), the detectors resume from their checkpoints (no second warm-up: an incident
//   right after the restart is found as in memory), every offset committed to its end;
// - scale-out: two instances in one group over 6 partitions; one stops, the other takes its partitions and
//   restores their state; incidents ingested over HTTP after the rebalance are found, with no duplicates;
//   the stopped one starts again and partitions move back to it.
import { afterAll, assert, describe, it } from "@effect/vitest"
import { AlertJson } from "@llm-sentinel/adapters"
import { AlertSink, type Anomaly, AnomalySink, DeadLetterSink, EventSource, Pipeline } from "@llm-sentinel/core"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { config, missed, scenario, scenarioEnd, T0 } from "../../examples/backbone/pipeline.ts"
import { eventually, kill, killAll, type Server, sleep, start, stop } from "../e2e/sentinel.ts"
import { brokers, committedOffsets, endOffsets, produce, testTopic } from "./kafka.ts"
import { admin, dropSchema, newSchema, pgBase } from "./postgres.ts"

afterAll(killAll)

const run = <A, E>(effect: Effect.Effect<A, E, import("effect").Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(effect))

const memoryRun = (events: ReadonlyArray<unknown>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      yield* Pipeline.make(config()).run
      const anomalies = yield* AnomalySink.Memory.use((s) => s.written)
      const alerts = yield* AlertSink.Memory.use((s) => s.written)
      return { anomalies, alerts }
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
  )

const sql = <A>(f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(Effect.flatMap(SqlClient.SqlClient, f).pipe(Effect.provide(admin)) as Effect.Effect<A, unknown>)

const counts = (schema: string) =>
  sql(
    (q) =>
      q<{
        rows: number
        ids: number
      }>`SELECT count(*)::int4 AS rows, count(DISTINCT id)::int4 AS ids FROM ${q(schema)}.anomalies`
  ).then((r) => r[0] as { rows: number; ids: number })

const storedIds = (schema: string) =>
  sql(
    (q) =>
      q<{
        id: string
        time: number
        series: string
        detector: string
      }>`SELECT id, event_time AS time, series_id AS series, detector FROM ${q(schema)}.anomalies`
  ).then((rows) => {
    const inData = rows.filter((r) => Number(r.time) < scenarioEnd())
    return inData.map((r) => r.id)
  })

const alertEventIds = (schema: string) =>
  // alerts after the data (the silence once the scenario ends) are not in the in-memory run
  sql((q) => q<{ id: string }>`SELECT id FROM ${q(schema)}.alert_events WHERE event_time < ${scenarioEnd()}`).then(
    (rows) => rows.map((r) => r.id)
  )

// The idle timeout (processing time) closes a silent series' windows: it must outlast the pauses of a test
// (a restart, a rebalance), or the silence itself becomes data that the in-memory run never saw.
const sentinel = (schema: string, topic: string, group: string, dataDir: string, idle = "20 seconds") =>
  start(dataDir, [
    "--window",
    "10 seconds",
    "--max-delay",
    "5 seconds",
    "--idle-timeout",
    idle,
    "--checkpoint-every",
    "1 second",
    "--postgres",
    `postgres://${pgBase.username}@${pgBase.host}:${pgBase.port}/${pgBase.database}`,
    "--postgres-schema",
    schema,
    "--kafka-brokers",
    brokers.join(","),
    "--kafka-topic",
    topic,
    "--kafka-group",
    group
  ])

const allCommitted = async (group: string, topic: string, end: ReadonlyArray<number>) => {
  const c = await run(committedOffsets(group, topic, end.length))
  return c.every((o, i) => o === (end[i] === 0 ? -1 : end[i]))
}

/** The partitions a server's log says it was assigned, and released, in order. */
const assignments = (server: Server, topic: string) => {
  const assigned = [...server.output().matchAll(new RegExp(`partition ${topic}/(\\d+) assigned`, "g"))].map((m) =>
    Number(m[1])
  )
  const released = [...server.output().matchAll(new RegExp(`partition ${topic}/(\\d+) released`, "g"))].map((m) =>
    Number(m[1])
  )
  return { assigned, released }
}

/** Alert transitions of latency series logged (the ones of the scenario's incidents). */
const alertLines = (text: string) => (text.match(/alert (opened|escalated|resolved): \S+\/latency\./g) ?? []).length

describe("sentinel processes on Kafka + PostgreSQL", () => {
  it("SIGKILL mid-stream, restart: nothing lost or duplicated, detectors resume from checkpoints, offsets committed", async () => {
    await run(
      Effect.gen(function* () {
        const schema = newSchema("kill")
        yield* Effect.addFinalizer(() => dropSchema(schema))
        const topic = yield* testTopic(6, "kill")
        const group = `sentinel-${topic}`
        const events = scenario()
        const expected = yield* Effect.promise(() => memoryRun(events))
        const before = events.filter((e) => (e.timestamp as number) < T0 + 29 * 60_000)
        const after = events.filter((e) => (e.timestamp as number) >= T0 + 29 * 60_000)
        yield* produce(topic, before)
        yield* Effect.promise(async () => {
          const dir = `/tmp/sentinel-kill-${topic}`
          const a = await sentinel(schema, topic, group, dir)
          // killed as soon as some partitions committed, while the others are still being read
          await eventually(
            "a first commit",
            async () => (await run(committedOffsets(group, topic, 6))).some((o) => o > 0),
            60_000
          )
          await kill(a)
          const b = await sentinel(schema, topic, group, dir)
          // the incidents start a minute after the data the killed instance saw
          await run(produce(topic, after))
          const end = await run(endOffsets(topic))
          await eventually("every offset committed to its end", () => allCommitted(group, topic, end), 90_000)
          // the consumer lag of each owned partition in /metrics, 0 once everything is committed
          await eventually(
            "lag 0 on every partition in /metrics",
            async () => {
              const text = await (await fetch(`${b.url}/metrics`)).text()
              const lags = [...text.matchAll(/^sentinel_kafka_lag_records\{[^}]*partition="(\d+)"[^}]*\} (\d+)/gm)]
              return new Set(lags.map((m) => m[1])).size === 6 && lags.every((m) => m[2] === "0")
            },
            20_000
          )
          await stop(b)
          const c = await counts(schema)
          assert.strictEqual(c.rows, c.ids, "no anomaly stored twice")
          const ids = await storedIds(schema)
          assert.deepStrictEqual(
            ids.sort(),
            expected.anomalies.map((x) => x.id).sort(),
            "exactly the in-memory anomalies"
          )
          assert.deepStrictEqual(missed(expected.anomalies as ReadonlyArray<Anomaly.Anomaly>), [])
          const restored = /(\d+) states restored/.exec(b.output())
          assert.isAbove(Number(restored?.[1] ?? 0), 0, "the restarted instance restored detector states")
          // alert transitions: each stored once, and each logged once over both lives
          assert.deepStrictEqual((await alertEventIds(schema)).sort(), expected.alerts.map(AlertJson.deliveryId).sort())
          assert.strictEqual(
            alertLines(a.output()) + alertLines(b.output()),
            expected.alerts.filter((e) => e._tag !== "storm" && e.alert.series.metric.startsWith("latency.")).length
          )
        })
      })
    )
  }, 240_000)

  it("scale-out: two instances share 6 partitions; one stops, the other takes over; it comes back and partitions move back", async () => {
    await run(
      Effect.gen(function* () {
        const schema = newSchema("scale")
        yield* Effect.addFinalizer(() => dropSchema(schema))
        const topic = yield* testTopic(6, "scale")
        const group = `sentinel-${topic}`
        const events = scenario()
        const expected = yield* Effect.promise(() => memoryRun(events))
        const first = events.filter((e) => (e.timestamp as number) < T0 + 28 * 60_000)
        const rest = events.filter((e) => (e.timestamp as number) >= T0 + 28 * 60_000)
        yield* produce(topic, first)
        yield* Effect.promise(async () => {
          const s1 = await sentinel(schema, topic, group, `/tmp/sentinel-s1-${topic}`, "40 seconds")
          const s2 = await sentinel(schema, topic, group, `/tmp/sentinel-s2-${topic}`, "40 seconds")
          // the partitions an instance owns now: the last assignment its consumer logged
          const live = (s: Server) => {
            const all = [
              ...s.output().matchAll(new RegExp(`kafka ${topic} group \\S+: assigned partitions \\[([\\d,]*)\\]`, "g"))
            ]
            const last = all[all.length - 1]?.[1] ?? ""
            return new Set(last === "" ? [] : last.split(",").map(Number))
          }
          await eventually("both instances own partitions", async () => live(s1).size > 0 && live(s2).size > 0, 60_000)
          let end = await run(endOffsets(topic))
          // the first part processed and checkpointed (not closed by idleness: that would make silence data),
          // read from the source_positions view: each partition's last batch (at most 1000 records) processed
          await eventually(
            "the first part processed",
            async () => {
              const rows = await sql(
                (q) =>
                  q<{
                    partition: string
                    processed: number
                  }>`SELECT partition, processed FROM ${q(schema)}.source_positions`
              )
              const at = new Map(rows.map((r) => [r.partition, Number(r.processed)]))
              return end.every((e, p) => e === 0 || (at.get(`${topic}/${p}`) ?? -1) >= e - 1000)
            },
            60_000
          )
          const s2Had = [...live(s2)]
          await stop(s2)
          await eventually("s1 takes over s2's partitions", async () => live(s1).size === 6, 60_000)
          // the rest, incidents included, through s1's HTTP ingest: produced to Kafka before each 202
          for (let i = 0; i < rest.length; i += 2000) {
            const body = rest
              .slice(i, i + 2000)
              .map((e) => JSON.stringify(e))
              .join("\n")
            const res = await fetch(`${s1.url}/v1/events`, {
              method: "POST",
              headers: { "content-type": "application/x-ndjson" },
              body
            })
            assert.strictEqual(res.status, 202, await res.text())
          }
          end = await run(endOffsets(topic))
          assert.strictEqual(
            end.reduce((a, b) => a + b, 0),
            events.length,
            "every event is in the topic"
          )
          await eventually("everything committed by s1", () => allCommitted(group, topic, end), 90_000)
          // s1 ran a pipeline for each of s2's partitions (opened on their first record, restored from the
          // checkpoints s2 left when it stopped)
          for (const p of s2Had) if ((end[p] ?? 0) > 0) assert.include(assignments(s1, topic).assigned, p)
          const c = await counts(schema)
          assert.strictEqual(c.rows, c.ids, "no anomaly stored twice")
          assert.deepStrictEqual((await storedIds(schema)).sort(), expected.anomalies.map((x) => x.id).sort())
          assert.deepStrictEqual((await alertEventIds(schema)).sort(), expected.alerts.map(AlertJson.deliveryId).sort())
          // s2 comes back: the group rebalances and partitions move back to it
          const s2b = await sentinel(schema, topic, group, `/tmp/sentinel-s2-${topic}`, "40 seconds")
          await eventually(
            "partitions move back to s2",
            async () => live(s2b).size > 0 && live(s1).size + live(s2b).size === 6,
            60_000
          )
          await sleep(500)
          assert.isAbove(assignments(s1, topic).released.length, 0, "s1 let partitions go")
          await Promise.all([stop(s1), stop(s2b)])
          const c2 = await counts(schema)
          assert.strictEqual(c2.rows, c2.ids, "still no anomaly stored twice after the partitions moved back")
        })
      })
    )
  }, 300_000)
})
