import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Anomaly, AnomalyStore, StateStore } from "@llm-sentinel/core"
import { Effect, Fiber, Layer, Option } from "effect"
import * as EmbeddedStore from "../src/EmbeddedStore.ts"

const services = ["chat", "search", "agent"]
const models = ["gpt-4o", "claude"]
const metrics = ["latency.p95", "error.rate"]
const detectors = ["zscore", "ewma"]

/** Deterministic anomalies; times repeat (every 5th shares a time) so that the id tie-break is exercised. */
const make = (n: number, offset = 0): Array<Anomaly.Anomaly> =>
  Array.from({ length: n }, (_, k) => {
    const i = k + offset
    const service = services[i % 3]!
    const model = models[i % 2]!
    const metric = metrics[(i >> 1) % 2]!
    const detector = detectors[(i >> 2) % 2]!
    const seriesId = `${service}/${model}/${metric}`
    const time = 1_700_000_000_000 + Math.floor(i / 5) * 60_000
    return {
      id: Anomaly.makeId(seriesId, detector, time + i),
      series: { id: seriesId, service, model, metric, dimensions: i % 7 === 0 ? { environment: "prod" } : {} },
      detector,
      time,
      observed: 900 + i,
      expected: i % 11 === 0 ? null : 500,
      lower: 400,
      upper: i % 13 === 0 ? null : 600.5,
      score: 4 + (i % 5),
      severity: i % 2 === 0 ? "warning" : "critical",
      reason: `z=${i}`,
      detectedAt: time + 1234
    }
  })

const tempDir = () => mkdtempSync(join(tmpdir(), "sentinel-store-"))

const collectAll = (store: AnomalyStore.AnomalyStore["Service"], q: Omit<AnomalyStore.Query, "cursor">) =>
  Effect.gen(function* () {
    const items: Array<Anomaly.Anomaly> = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page: AnomalyStore.Page = yield* store.query(cursor === null ? q : { ...q, cursor })
      items.push(...page.items)
      cursor = page.next
      pages++
      assert.isAtMost(page.items.length, q.limit)
      if (cursor !== null) assert.strictEqual(page.items.length, q.limit)
    } while (cursor !== null && pages < 10_000)
    return { items, pages }
  })

describe("EmbeddedStore", () => {
  it.effect("inserts idempotently on id", () =>
    Effect.gen(function* () {
      const store = yield* AnomalyStore.AnomalyStore
      const first = make(50)
      assert.strictEqual(yield* store.insert(first), 50)
      assert.strictEqual(yield* store.insert(first), 0)
      assert.strictEqual(yield* store.insert(make(30, 40)), 20) // 40..49 already there
      assert.strictEqual(yield* store.insert([]), 0)
      const all = yield* collectAll(store, { limit: 1000 })
      assert.strictEqual(all.items.length, 70)
      assert.strictEqual(new Set(all.items.map((a) => a.id)).size, 70)
    }).pipe(Effect.provide(EmbeddedStore.layer({ path: ":memory:" })))
  )

  it.effect("round-trips every field, including nulls and dimensions", () =>
    Effect.gen(function* () {
      const store = yield* AnomalyStore.AnomalyStore
      const input = make(30)
      yield* store.insert(input)
      const { items } = yield* collectAll(store, { limit: 1000 })
      const byId = new Map(items.map((a) => [a.id, a]))
      for (const a of input) assert.deepStrictEqual(byId.get(a.id), a)
    }).pipe(Effect.provide(EmbeddedStore.layer({ path: ":memory:" })))
  )

  it.effect("filters and orders exactly like the in-memory store", () =>
    Effect.gen(function* () {
      const sqlite = yield* AnomalyStore.AnomalyStore
      const memory = yield* AnomalyStore.AnomalyStore.use(Effect.succeed).pipe(Effect.provide(AnomalyStore.layerMemory))
      const input = make(400)
      yield* sqlite.insert(input)
      yield* memory.insert(input)
      const t0 = 1_700_000_000_000
      const queries: Array<Omit<AnomalyStore.Query, "cursor">> = [
        { limit: 1000 },
        { limit: 1000, service: "chat" },
        { limit: 1000, model: "claude" },
        { limit: 1000, metric: "error.rate" },
        { limit: 1000, detector: "ewma" },
        { limit: 1000, since: t0 + 20 * 60_000 },
        { limit: 1000, until: t0 + 20 * 60_000 },
        { limit: 1000, service: "search", since: t0 + 10 * 60_000, until: t0 + 50 * 60_000 },
        { limit: 1000, service: "agent", model: "gpt-4o", metric: "latency.p95", detector: "zscore" },
        { limit: 1000, service: "nobody" }
      ]
      for (const q of queries) {
        const got = yield* collectAll(sqlite, q)
        const want = input.filter((a) => AnomalyStore.matches(q as AnomalyStore.Query, a)).sort(AnomalyStore.order)
        assert.deepStrictEqual(
          got.items.map((a) => a.id),
          want.map((a) => a.id),
          JSON.stringify(q)
        )
        const mem = yield* collectAll(memory, q)
        assert.deepStrictEqual(
          got.items.map((a) => a.id),
          mem.items.map((a) => a.id),
          JSON.stringify(q)
        )
      }
      // the filters really filter
      const chat = yield* collectAll(sqlite, { limit: 1000, service: "chat", detector: "ewma" })
      assert.isAbove(chat.items.length, 0)
      for (const a of chat.items) {
        assert.strictEqual(a.series.service, "chat")
        assert.strictEqual(a.detector, "ewma")
      }
    }).pipe(Effect.provide(EmbeddedStore.layer({ path: ":memory:" })))
  )

  it.effect("pages without gaps or duplicates, newest first then by id", () =>
    Effect.gen(function* () {
      const store = yield* AnomalyStore.AnomalyStore
      const input = make(257)
      yield* store.insert(input)
      const want = [...input].sort(AnomalyStore.order).map((a) => a.id)
      for (const limit of [1, 5, 7, 100, 257, 1000]) {
        const { items, pages } = yield* collectAll(store, { limit })
        assert.deepStrictEqual(
          items.map((a) => a.id),
          want,
          `limit ${limit}`
        )
        assert.strictEqual(pages, Math.max(1, Math.ceil(257 / limit)))
      }
      // filtered paging too
      const q = { limit: 4, service: "chat", since: 1_700_000_000_000 + 5 * 60_000 }
      const { items } = yield* collectAll(store, q)
      assert.deepStrictEqual(
        items.map((a) => a.id),
        input
          .filter((a) => AnomalyStore.matches(q, a))
          .sort(AnomalyStore.order)
          .map((a) => a.id)
      )
      // a page cut inside a run of equal times continues within that run
      const first = yield* store.query({ limit: 3 })
      assert.isNotNull(first.next)
      const second = yield* store.query({ limit: 3, cursor: first.next! })
      assert.deepStrictEqual(
        [...first.items, ...second.items].map((a) => a.id),
        want.slice(0, 6)
      )
      // an invalid cursor is a typed, non-retryable error
      const bad = yield* store.query({ limit: 3, cursor: "garbage" }).pipe(Effect.flip)
      assert.strictEqual(bad.reason, "Invalid")
    }).pipe(Effect.provide(EmbeddedStore.layer({ path: ":memory:" })))
  )

  it.effect("survives close and reopen, with WAL journal and migrations recorded once", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const path = join(dir, "nested", "sentinel.db")
      try {
        const input = make(120)
        yield* Effect.gen(function* () {
          const handle = yield* EmbeddedStore.EmbeddedStore
          assert.deepStrictEqual(handle.migrations, [1, 2, 3])
          const mode = handle.database.prepare("PRAGMA journal_mode").get()
          assert.strictEqual(mode?.journal_mode, "wal")
          const sync = handle.database.prepare("PRAGMA synchronous").get()
          assert.strictEqual(sync?.synchronous, 1) // NORMAL
          yield* AnomalyStore.AnomalyStore.use((s) => s.insert(input))
          yield* StateStore.StateStore.use((s) => s.setMany([["detector/a", '{"n":1}']]))
        }).pipe(Effect.provide(EmbeddedStore.layer({ path })))

        yield* Effect.gen(function* () {
          const handle = yield* EmbeddedStore.EmbeddedStore
          assert.deepStrictEqual(handle.migrations, [1, 2, 3])
          const count = handle.database.prepare("SELECT count(*) AS n FROM sentinel_migrations").get()
          assert.strictEqual(count?.n, 3)
          const store = yield* AnomalyStore.AnomalyStore
          const { items } = yield* collectAll(store, { limit: 1000 })
          assert.deepStrictEqual(
            items.map((a) => a.id),
            [...input].sort(AnomalyStore.order).map((a) => a.id)
          )
          assert.strictEqual(yield* store.insert(input), 0)
          const state = yield* StateStore.StateStore.use((s) => s.get("detector/a"))
          assert.deepStrictEqual(state, Option.some('{"n":1}'))
        }).pipe(Effect.provide(EmbeddedStore.layer({ path })))
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  )

  it.live("copies the WAL into the database on its worker thread, not in a commit on the event loop", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const path = join(dir, "sentinel.db")
      try {
        yield* Effect.gen(function* () {
          const handle = yield* EmbeddedStore.EmbeddedStore
          // the serving connection never checkpoints in a commit while the worker runs
          const auto = handle.database.prepare("PRAGMA wal_autocheckpoint").get()
          assert.strictEqual(auto?.wal_autocheckpoint, 0)
          const before = statSync(path).size
          const value = "x".repeat(3_000)
          yield* StateStore.StateStore.use((s) =>
            s.setMany(Array.from({ length: 2_000 }, (_, i) => [`detector/d/${i}`, value] as const))
          )
          // ~6 MB went to the WAL; the worker's passive checkpoint (every second) moves it into the database file
          let after = statSync(path).size
          for (let i = 0; i < 50 && after < before + 5_000_000; i++) {
            yield* Effect.sleep("100 millis")
            after = statSync(path).size
          }
          assert.isAbove(after, before + 5_000_000)
        }).pipe(Effect.provide(EmbeddedStore.layer({ path })))
        // the worker was stopped with the layer: the file reopens, with every entry
        const n = yield* StateStore.StateStore.use((s) => s.keys("detector/d/")).pipe(
          Effect.provide(EmbeddedStore.layer({ path }))
        )
        assert.strictEqual(n.length, 2_000)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  )

  it.live(
    "writes checkpoints on its writer thread: a write lock held by the serving connection does not block it",
    () =>
      Effect.gen(function* () {
        const dir = tempDir()
        const path = join(dir, "sentinel.db")
        try {
          yield* Effect.gen(function* () {
            const handle = yield* EmbeddedStore.EmbeddedStore
            const state = yield* StateStore.StateStore
            yield* state.setMany([["det/a", "1"]])
            // the serving connection takes the write lock; a write on this connection would fail at once (no nested
            // transaction) or wait here, blocking the event loop. The writer thread's connection waits for the lock.
            handle.database.exec("BEGIN IMMEDIATE")
            const write = yield* Effect.forkChild(
              state.setMany([
                ["det/a", "2"],
                ["det/b", "3"]
              ])
            )
            let turns = 0
            for (let i = 0; i < 10; i++) {
              yield* Effect.sleep("20 millis")
              turns++
            }
            assert.strictEqual(turns, 10)
            assert.isUndefined(write.pollUnsafe())
            assert.deepStrictEqual(yield* state.get("det/a"), Option.some("1"))
            handle.database.exec("COMMIT")
            yield* Fiber.join(write)
            assert.deepStrictEqual(yield* state.get("det/a"), Option.some("2"))
            assert.deepStrictEqual(yield* state.get("det/b"), Option.some("3"))
            // in order with the writes: a delete after them
            yield* state.delete("det/b")
            assert.deepStrictEqual(yield* state.keys("det/"), ["det/a"])
            // its errors are the write's own, typed
            const failed = yield* state.setMany([["tx/1", null as unknown as string]]).pipe(Effect.flip)
            assert.strictEqual(failed._tag, "StoreError")
            assert.deepStrictEqual(yield* state.keys("tx/"), [])
          }).pipe(Effect.provide(EmbeddedStore.layer({ path })))
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      })
  )

  it.effect("reports closed after release, and fails typed on an unusable path", () =>
    Effect.gen(function* () {
      const handle = yield* Effect.scoped(
        Layer.build(EmbeddedStore.layer({ path: ":memory:" })).pipe(
          Effect.map((ctx) => ({
            store: ctx.mapUnsafe.get(AnomalyStore.AnomalyStore.key) as AnomalyStore.AnomalyStore["Service"],
            isOpen: (ctx.mapUnsafe.get(EmbeddedStore.EmbeddedStore.key) as EmbeddedStore.EmbeddedStore["Service"])
              .isOpen
          }))
        )
      )
      assert.isFalse(yield* handle.isOpen)
      const closed = yield* handle.store.query({ limit: 1 }).pipe(Effect.flip)
      assert.strictEqual(closed.reason, "Unavailable")
      const dir = tempDir()
      const file = join(dir, "a-file")
      writeFileSync(file, "not a directory")
      const failed = yield* Layer.build(EmbeddedStore.layer({ path: join(file, "sub", "here.db") })).pipe(
        Effect.scoped,
        Effect.flip
      )
      rmSync(dir, { recursive: true, force: true })
      assert.strictEqual(failed._tag, "StoreError")
      assert.include(failed.message, join(file, "sub", "here.db"))
    })
  )

  it.effect("StateStore: get, setMany (atomic, overwrites), keys by prefix, delete", () =>
    Effect.gen(function* () {
      const state = yield* StateStore.StateStore
      assert.deepStrictEqual(yield* state.get("missing"), Option.none())
      yield* state.setMany([
        ["det/chat/b", "2"],
        ["det/chat/a", "1"],
        ["det/search/a", "3"],
        ["src/kafka/0", "42"],
        ["det", "root"]
      ])
      assert.deepStrictEqual(yield* state.get("det/chat/a"), Option.some("1"))
      yield* state.setMany([["det/chat/a", "1b"]])
      assert.deepStrictEqual(yield* state.get("det/chat/a"), Option.some("1b"))
      assert.deepStrictEqual(yield* state.keys("det/chat/"), ["det/chat/a", "det/chat/b"])
      assert.deepStrictEqual(yield* state.keys("det/"), ["det/chat/a", "det/chat/b", "det/search/a"])
      assert.deepStrictEqual(yield* state.keys(""), ["det", "det/chat/a", "det/chat/b", "det/search/a", "src/kafka/0"])
      assert.deepStrictEqual(yield* state.keys("nope"), [])
      yield* state.delete("det/chat/b")
      assert.deepStrictEqual(yield* state.get("det/chat/b"), Option.none())
      assert.deepStrictEqual(yield* state.keys("det/chat/"), ["det/chat/a"])
      // setMany is all or nothing: a failing entry (NULL value) leaves nothing behind
      const failed = yield* state
        .setMany([
          ["tx/1", "x"],
          ["tx/2", null as unknown as string]
        ])
        .pipe(Effect.flip)
      assert.strictEqual(failed._tag, "StoreError")
      assert.deepStrictEqual(yield* state.keys("tx/"), [])
    }).pipe(Effect.provide(EmbeddedStore.layer({ path: ":memory:" })))
  )
})
