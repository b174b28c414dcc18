// The PostgreSQL store against the machine's PostgreSQL: the store compliance suite (the same one the embedded
// store passes), migrations (versioned, idempotent, concurrent starts), alert events stored once, dead letters.
import { assert, describe, it } from "@effect/vitest"
import { Postgres } from "@llm-sentinel/adapters"
import { type Alert, AlertSink, DeadLetterSink, StateStore } from "@llm-sentinel/core"
import { Context, Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import * as AlertLog from "../../packages/server/src/AlertLog.ts"
import { alertLogCompliance } from "../compliance/alertlog.ts"
import { storeCompliance } from "../compliance/stores.ts"
import { opened, resolved } from "./fixtures.ts"
import { admin, dropSchema, freshStore, newSchema, pgBase } from "./postgres.ts"

storeCompliance("postgres", () => freshStore("compliance"))
alertLogCompliance("postgres", () => AlertLog.layerPostgres.pipe(Layer.provide(freshStore("alertlog"))))

describe("Postgres", () => {
  it.effect(
    "partition state is fenced: after another instance restored a partition, the old owner cannot write it",
    () =>
      Effect.gen(function* () {
        const schema = newSchema("fence")
        yield* Effect.addFinalizer(() => dropSchema(schema))
        const store = (layer: Layer.Layer<StateStore.StateStore, unknown>) =>
          Effect.map(Layer.build(layer), (ctx) => Context.get(ctx, StateStore.StateStore))
        const a = yield* store(Postgres.layer({ ...pgBase, schema }))
        const b = yield* store(Postgres.layer({ ...pgBase, schema }))
        const p3 = (k: string) => `partition/3/${k}`
        // instance a owns partition 3: it restores it, then checkpoints
        yield* a.entries(p3("detector/"))
        yield* a.setMany([[p3("detector/mad/s"), "a1"]])
        // a rebalance gives partition 3 to b, which restores it (what a wrote is there)
        assert.deepStrictEqual(yield* b.entries(p3("detector/")), [[p3("detector/mad/s"), "a1"]])
        yield* b.setMany([[p3("detector/mad/s"), "b1"]])
        // a, still running after losing the partition, tries to checkpoint it: refused, whole transaction
        const late = yield* Effect.flip(
          a.setMany([
            [p3("detector/mad/s"), "a2"],
            ["global/key", "x"]
          ])
        )
        assert.strictEqual(late.reason, "Rejected")
        assert.isFalse(late.isRetryable)
        assert.match(late.message, /partition 3 was claimed by .* \(epoch 2; this instance holds 1\)/)
        assert.deepStrictEqual(yield* b.get(p3("detector/mad/s")), Option.some("b1"))
        assert.deepStrictEqual(yield* b.get("global/key"), Option.none())
        // the partitions a still owns, and keys outside partitions, are written as before
        yield* a.entries("partition/4/detector/")
        yield* a.setMany([
          ["partition/4/detector/mad/s", "a"],
          ["global/key", "x"]
        ])
        assert.deepStrictEqual(yield* b.get("partition/4/detector/mad/s"), Option.some("a"))
        // when a gets partition 3 back, it claims it again and writes
        yield* a.entries(p3("detector/"))
        yield* a.setMany([[p3("detector/mad/s"), "a3"]])
        assert.deepStrictEqual(yield* b.get(p3("detector/mad/s")), Option.some("a3"))
        assert.strictEqual((yield* Effect.flip(b.setMany([[p3("x"), "b"]]))).reason, "Rejected")
      }).pipe(Effect.scoped)
  )

  it.effect("migrations are versioned and idempotent, also when two instances start at once", () =>
    Effect.gen(function* () {
      const schema = newSchema("migrate")
      yield* Effect.addFinalizer(() => dropSchema(schema))
      const [a, b] = yield* Effect.all(
        [Postgres.migrateWith({ ...pgBase, schema }), Postgres.migrateWith({ ...pgBase, schema })],
        {
          concurrency: 2
        }
      )
      const ids = Postgres.migrations.map((m) => m.id)
      assert.deepStrictEqual(a, ids)
      assert.deepStrictEqual(b, ids)
      assert.deepStrictEqual(yield* Postgres.migrateWith({ ...pgBase, schema }), ids)
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{
        id: number
        n: number
      }>`SELECT id, count(*)::int4 AS n FROM ${sql(schema)}.sentinel_migrations GROUP BY id ORDER BY id`
      assert.deepStrictEqual(
        rows.map((r) => [r.id, r.n]),
        ids.map((id) => [id, 1])
      )
      const tables = yield* sql<{ table_name: string }>`SELECT table_name FROM information_schema.tables
        WHERE table_schema = ${schema} ORDER BY table_name`
      assert.deepStrictEqual(
        tables.map((t) => t.table_name),
        [
          "alert_events",
          "alerts",
          "anomalies",
          "checkpoints",
          "dead_letters",
          "partition_owners",
          "sentinel_migrations",
          "source_positions"
        ]
      )
    }).pipe(Effect.provide(admin), Effect.scoped)
  )

  it.effect("a configuration with an unknown field or a bad schema name is refused before connecting", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(Postgres.decodeConfig({ host: "127.0.0.1", databse: "x" }))
      assert.include(e.message, "databse")
      const bad = yield* Effect.flip(Postgres.migrateWith({ ...pgBase, schema: 'x"; DROP TABLE y; --' }))
      assert.strictEqual(bad._tag, "PostgresError")
      assert.isFalse(bad.isRetryable)
    })
  )

  it.effect("a server that does not answer is a retryable PostgresError", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(Postgres.migrateWith({ ...pgBase, port: 1, connectTimeout: "1 second" }))
      assert.strictEqual(e._tag, "PostgresError")
      assert.isTrue(e.isRetryable)
    })
  )

  it.effect("alert events are stored once each; the alert row follows its transitions; only new events go on", () =>
    Effect.gen(function* () {
      const pg = yield* Postgres.Postgres
      const first = yield* pg.recordAlertEvents([opened(1), opened(2)])
      assert.strictEqual(first.length, 2)
      // a replay of the same events (a restart) and the next transition of alert 1
      const second = yield* pg.recordAlertEvents([opened(1), opened(2), resolved(1)])
      assert.deepStrictEqual(
        second.map((e) => e.event._tag),
        ["resolved"]
      )
      assert.strictEqual((yield* pg.recordAlertEvents([resolved(1)])).length, 0)
      const history = yield* pg.alertEvents(100)
      assert.deepStrictEqual(
        history.map((h) => h.kind),
        ["opened", "opened", "resolved"]
      )
      // recorded in order, each with a sequence number: what the alert stream resumes from
      assert.isTrue(first[0]!.seq < first[1]!.seq && first[1]!.seq < second[0]!.seq)
      assert.deepStrictEqual(
        (yield* pg.alertEventsAfter(first[0]!.seq, 10)).map((h) => h.seq),
        [first[1]!.seq, second[0]!.seq]
      )
      assert.deepStrictEqual([...(yield* pg.recordedAlertEvents([first[0]!.id, "not-recorded"]))], [first[0]!.id])
      const newest = yield* pg.listAlerts({ limit: 1 })
      const rest = yield* pg.listAlerts({ limit: 10, after: { openedAt: newest[0]!.openedAt, id: newest[0]!.id } })
      assert.strictEqual(newest.length + rest.length, 2)
      assert.strictEqual((yield* pg.listAlerts({ limit: 10, status: "resolved" })).length, 1)
      const open = yield* pg.alerts("open", 10)
      const done = yield* pg.alerts("resolved", 10)
      assert.deepStrictEqual(
        open.map((a) => a.id),
        [opened(2)._tag === "opened" ? (opened(2) as { alert: Alert.Alert }).alert.id : ""]
      )
      assert.strictEqual(done.length, 1)
      assert.strictEqual(done[0]?.anomalies, 4)
      // the sink passes on only what was new
      const seen: Array<Alert.AlertEvent> = []
      const downstream = Layer.succeed(AlertSink.AlertSink, {
        write: (events) => Effect.sync(() => void seen.push(...events))
      })
      const sink = yield* AlertSink.AlertSink.pipe(Effect.provide(Postgres.layerAlertSink(downstream)))
      yield* sink.write([opened(1), resolved(1), opened(3)])
      assert.deepStrictEqual(
        seen.map((e) => e._tag),
        ["opened"]
      )
    }).pipe(Effect.provide(freshStore("alerts")))
  )

  it.effect("dead letters are stored once each with their source, and read newest first", () =>
    Effect.gen(function* () {
      const pg = yield* Postgres.Postgres
      const sink = yield* DeadLetterSink.DeadLetterSink.pipe(Effect.provide(Postgres.layerDeadLetters))
      const rejected = [
        {
          index: 0,
          errors: [{ path: "latencyMs", message: "Expected a finite number" }],
          payload: { latencyMs: "x" },
          source: "kafka events/2 offset 17"
        },
        { index: 1, errors: [{ path: "", message: "not JSON" }], payload: "{nope", source: "kafka events/2 offset 18" }
      ]
      yield* sink.write(rejected)
      yield* sink.write(rejected)
      const stored = yield* pg.deadLetters(10)
      assert.strictEqual(stored.length, 2)
      assert.deepStrictEqual(stored.map((d) => d.source).sort(), [
        "kafka events/2 offset 17",
        "kafka events/2 offset 18"
      ])
      assert.deepStrictEqual(stored.find((d) => d.index === 0)?.errors, rejected[0]?.errors)
      assert.isTrue(yield* pg.health)
    }).pipe(Effect.provide(freshStore("deadletters")))
  )
})
