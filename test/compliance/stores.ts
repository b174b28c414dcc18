// The store compliance suite: one behaviour for every implementation of `AnomalyStore` and `StateStore` (the
// embedded SQLite store, PostgreSQL, the in-memory ones). Each store's test file calls `storeCompliance` with a
// layer factory that gives a fresh, empty store per test.
import { assert, describe, it } from "@effect/vitest"
import { Anomaly, AnomalyStore, StateStore } from "@llm-sentinel/core"
import { Effect, type Layer, Option } from "effect"

const services = ["chat", "search", "agent"]
const models = ["gpt-4o", "claude"]
const metrics = ["latency.p95", "error.rate"]
const detectors = ["zscore", "ewma"]

/** Deterministic anomalies; every 5 share a time, so the id tie-break of the order is exercised. */
export const anomalies = (n: number, offset = 0): Array<Anomaly.Anomaly> =>
  Array.from({ length: n }, (_, k) => {
    const i = k + offset
    const service = services[i % 3] as string
    const model = models[i % 2] as string
    const metric = metrics[(i >> 1) % 2] as string
    const detector = detectors[(i >> 2) % 2] as string
    const seriesId = `${service}/${model}/${metric}`
    const time = 1_700_000_000_000 + Math.floor(i / 5) * 60_000
    return {
      id: Anomaly.makeId(seriesId, detector, time + i),
      series: { id: seriesId, service, model, metric, dimensions: i % 7 === 0 ? { environment: "prod" } : {} },
      detector,
      time,
      observed: i % 17 === 0 ? null : 900 + i + 0.125,
      expected: i % 11 === 0 ? null : 500,
      lower: 400,
      upper: i % 13 === 0 ? null : 600.5,
      score: 4 + (i % 5),
      severity: i % 2 === 0 ? "warning" : "critical",
      reason: `z=${i} "quoted" \\ back, ünïcode ✓`,
      detectedAt: time + 1234
    }
  })

type Stores = AnomalyStore.AnomalyStore | StateStore.StateStore

const all = (
  store: AnomalyStore.AnomalyStore["Service"],
  q: Omit<AnomalyStore.Query, "limit" | "cursor">,
  limit: number
) =>
  Effect.gen(function* () {
    const out: Array<Anomaly.Anomaly> = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page: AnomalyStore.Page = yield* store.query({ ...q, limit, ...(cursor === null ? {} : { cursor }) })
      out.push(...page.items)
      cursor = page.next
      pages++
    } while (cursor !== null && pages < 1000)
    return { items: out, pages }
  })

const expected = (xs: ReadonlyArray<Anomaly.Anomaly>, q: Omit<AnomalyStore.Query, "limit" | "cursor">) =>
  xs.filter((a) => AnomalyStore.matches({ ...q, limit: 1 }, a)).sort(AnomalyStore.order)

/**
 * Registers the suite for one store. `layer` must give a new empty store each time it is built.
 */
export const storeCompliance = <E>(name: string, layer: () => Layer.Layer<Stores, E>): void => {
  const withStores = <A, E2>(
    f: (a: AnomalyStore.AnomalyStore["Service"], s: StateStore.StateStore["Service"]) => Effect.Effect<A, E2>
  ) =>
    Effect.gen(function* () {
      const a = yield* AnomalyStore.AnomalyStore
      const s = yield* StateStore.StateStore
      return yield* f(a, s)
    }).pipe(Effect.provide(layer()))

  describe(`${name}: store compliance`, () => {
    it.effect("AnomalyStore.insert is idempotent on the id and says how many were new", () =>
      withStores((store) =>
        Effect.gen(function* () {
          const xs = anomalies(50)
          assert.strictEqual(yield* store.insert(xs), 50)
          assert.strictEqual(yield* store.insert(xs), 0)
          assert.strictEqual(yield* store.insert([...anomalies(10, 45)]), 5)
          assert.strictEqual(yield* store.insert([]), 0)
          const page = yield* store.query({ limit: 1000 })
          assert.strictEqual(page.items.length, 55)
          assert.strictEqual(new Set(page.items.map((a) => a.id)).size, 55)
        })
      )
    )

    it.effect("AnomalyStore round-trips every field (nulls, dimensions, quotes, unicode, fractions)", () =>
      withStores((store) =>
        Effect.gen(function* () {
          const xs = anomalies(40)
          yield* store.insert(xs)
          const page = yield* store.query({ limit: 1000 })
          const byId = new Map(page.items.map((a) => [a.id, a]))
          for (const a of xs) assert.deepStrictEqual(byId.get(a.id), a)
        })
      )
    )

    it.effect("AnomalyStore orders by event time descending, then id, and each filter selects what it says", () =>
      withStores((store) =>
        Effect.gen(function* () {
          const xs = anomalies(120)
          yield* store.insert(xs)
          const t0 = 1_700_000_000_000
          const queries: Array<Omit<AnomalyStore.Query, "limit" | "cursor">> = [
            {},
            { service: "chat" },
            { model: "claude" },
            { metric: "error.rate" },
            { detector: "ewma" },
            { since: t0 + 5 * 60_000 },
            { until: t0 + 7 * 60_000 },
            { since: t0 + 3 * 60_000, until: t0 + 9 * 60_000, service: "search", detector: "zscore" },
            { service: "nobody" }
          ]
          for (const q of queries) {
            const page = yield* store.query({ ...q, limit: 1000 })
            assert.deepStrictEqual(
              page.items.map((a) => a.id),
              expected(xs, q).map((a) => a.id),
              JSON.stringify(q)
            )
            assert.strictEqual(page.next, null)
          }
        })
      )
    )

    it.effect("AnomalyStore keyset paging visits every match once, in order, for any page size", () =>
      withStores((store) =>
        Effect.gen(function* () {
          const xs = anomalies(97)
          yield* store.insert(xs)
          for (const limit of [1, 3, 5, 7, 96, 97, 98]) {
            for (const q of [{}, { service: "agent" }, { since: 1_700_000_000_000 + 4 * 60_000 }]) {
              const { items, pages } = yield* all(store, q, limit)
              const want = expected(xs, q)
              assert.deepStrictEqual(
                items.map((a) => a.id),
                want.map((a) => a.id),
                `limit ${limit} ${JSON.stringify(q)}`
              )
              assert.strictEqual(pages, Math.max(1, Math.ceil(want.length / limit)))
            }
          }
        })
      )
    )

    it.effect("AnomalyStore: a page written between two reads does not shift the next page", () =>
      withStores((store) =>
        Effect.gen(function* () {
          yield* store.insert(anomalies(20))
          const first = yield* store.query({ limit: 5 })
          // newer anomalies arrive: they sort before the cursor, so the next page continues where it was
          yield* store.insert(anomalies(10, 100))
          const second = yield* store.query({ limit: 5, cursor: first.next as string })
          const want = anomalies(20).sort(AnomalyStore.order).slice(5, 10)
          assert.deepStrictEqual(
            second.items.map((a) => a.id),
            want.map((a) => a.id)
          )
        })
      )
    )

    it.effect("AnomalyStore refuses an invalid cursor with a non-retryable error", () =>
      withStores((store) =>
        Effect.gen(function* () {
          const e = yield* Effect.flip(store.query({ limit: 5, cursor: "not-a-cursor" }))
          assert.strictEqual(e._tag, "StoreError")
          assert.strictEqual(e.reason, "Invalid")
          assert.isFalse(e.isRetryable)
        })
      )
    )

    it.effect("StateStore: get, setMany (the last value of a key wins), delete", () =>
      withStores((_, state) =>
        Effect.gen(function* () {
          assert.isTrue(Option.isNone(yield* state.get("missing")))
          yield* state.setMany([
            ["a", "1"],
            ["b", "2"],
            ["a", "3"]
          ])
          assert.deepStrictEqual(yield* state.get("a"), Option.some("3"))
          assert.deepStrictEqual(yield* state.get("b"), Option.some("2"))
          yield* state.setMany([["b", `{"json":"with \\"quotes\\" and ünïcode ✓"}`]])
          assert.deepStrictEqual(yield* state.get("b"), Option.some(`{"json":"with \\"quotes\\" and ünïcode ✓"}`))
          yield* state.delete("a")
          yield* state.delete("never-there")
          assert.isTrue(Option.isNone(yield* state.get("a")))
          yield* state.setMany([])
        })
      )
    )

    it.effect("StateStore: entries and keys read a prefix in byte order, LIKE wildcards taken literally", () =>
      withStores((_, state) =>
        Effect.gen(function* () {
          const keys = [
            "detector/mad/b",
            "detector/mad/a",
            "detector/zscore/a",
            "detector/ma_/x",
            "detector/ma%/y",
            "detector/mad\\z",
            "detector/madé",
            "detector/mad/ü",
            "detectorX/mad/a",
            "window/a",
            "partition/events/0/detector/mad/a"
          ]
          yield* state.setMany(keys.map((k, i) => [k, `v${i}`] as const))
          const bytes = (ks: ReadonlyArray<string>) =>
            [...ks].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
          const under = (p: string) => bytes(keys.filter((k) => k.startsWith(p)))
          for (const prefix of [
            "detector/",
            "detector/mad/",
            "detector/ma_/",
            "detector/ma%/",
            "detector/mad",
            "nothing/",
            ""
          ]) {
            const entries = yield* state.entries(prefix)
            assert.deepStrictEqual(
              entries.map(([k]) => k),
              under(prefix),
              prefix
            )
            for (const [k, v] of entries) assert.strictEqual(v, `v${keys.indexOf(k)}`)
            assert.deepStrictEqual(yield* state.keys(prefix), under(prefix), prefix)
          }
        })
      )
    )

    it.effect("StateStore: setMany of 12,000 entries is one write and reads back in one prefix scan", () =>
      withStores((_, state) =>
        Effect.gen(function* () {
          const entries = Array.from({ length: 12_000 }, (_, i) => [`detector/mad/s${i}`, `{"n":${i}}`] as const)
          yield* state.setMany(entries)
          const back = yield* state.entries("detector/")
          assert.strictEqual(back.length, 12_000)
          assert.deepStrictEqual(new Map(back), new Map(entries))
        })
      )
    )

    it.effect("StateStore.prefixed keeps one partition's keys apart from the others'", () =>
      withStores((_, state) =>
        Effect.gen(function* () {
          const p0 = StateStore.prefixed(state, "partition/events/0/")
          const p1 = StateStore.prefixed(state, "partition/events/1/")
          yield* p0.setMany([
            ["detector/mad/a", "0a"],
            ["source/position", "0p"]
          ])
          yield* p1.setMany([["detector/mad/a", "1a"]])
          assert.deepStrictEqual(yield* p0.entries("detector/"), [["detector/mad/a", "0a"]])
          assert.deepStrictEqual(yield* p1.entries("detector/"), [["detector/mad/a", "1a"]])
          assert.deepStrictEqual(yield* p0.get("source/position"), Option.some("0p"))
          assert.isTrue(Option.isNone(yield* p1.get("source/position")))
          assert.deepStrictEqual(yield* state.keys("partition/"), [
            "partition/events/0/detector/mad/a",
            "partition/events/0/source/position",
            "partition/events/1/detector/mad/a"
          ])
        })
      )
    )
  })
}
