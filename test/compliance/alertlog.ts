// The alert log compliance suite: one behaviour for every implementation of the server's `AlertLog` (memory, the
// embedded SQLite store, PostgreSQL). Each caller passes a layer factory giving a fresh, empty log per test.
import { assert, describe, it } from "@effect/vitest"
import { type Alert, Series } from "@llm-sentinel/core"
import { Effect, Fiber, type Layer, Stream } from "effect"
import * as AlertLog from "../../packages/server/src/AlertLog.ts"

const base = 1_700_000_000_000

const alertOf = (i: number, over: Partial<Alert.Alert> = {}): Alert.Alert => ({
  id: `alert-${String(i).padStart(3, "0")}`,
  series: Series.makeKey(i % 2 === 0 ? "checkout" : "search", i % 3 === 0 ? "gpt-4o" : "claude", "latency.p95"),
  status: "open",
  severity: i % 4 === 0 ? "critical" : "warning",
  // every 3 alerts share an opening time: the id tie-break of the order is exercised
  openedAt: base + Math.floor(i / 3) * 60_000,
  lastAnomalyAt: base + Math.floor(i / 3) * 60_000,
  resolvedAt: null,
  anomalies: 1,
  detectors: ["mad"],
  reason: `score ${i} "quoted" ✓`,
  ...over
})

const opened = (i: number): Alert.AlertEvent => ({ _tag: "opened", alert: alertOf(i) })
const resolved = (i: number): Alert.AlertEvent => {
  const a = alertOf(i)
  return {
    _tag: "resolved",
    alert: { ...a, status: "resolved", resolvedAt: a.openedAt + 300_000, lastAnomalyAt: a.openedAt + 120_000 }
  }
}

const allPages = (log: AlertLog.AlertLog["Service"], q: Omit<AlertLog.Query, "limit" | "cursor">, limit: number) =>
  Effect.gen(function* () {
    const out: Array<Alert.Alert> = []
    let cursor: string | null = null
    do {
      const page: AlertLog.Page = yield* log.list({ ...q, limit, ...(cursor === null ? {} : { cursor }) })
      out.push(...page.items)
      cursor = page.next
    } while (cursor !== null)
    return out
  })

export const alertLogCompliance = <E>(name: string, make: () => Layer.Layer<AlertLog.AlertLog, E>) =>
  describe(`AlertLog compliance: ${name}`, () => {
    it.effect("records each event once, in order, with increasing sequence numbers; unseen narrows a batch", () =>
      Effect.gen(function* () {
        const log = yield* AlertLog.AlertLog
        assert.strictEqual((yield* log.unseen([opened(1), opened(1), opened(2)])).length, 2)
        const first = yield* log.record([opened(1), opened(2), opened(1)])
        assert.deepStrictEqual(
          first.map((r) => r.event._tag),
          ["opened", "opened"]
        )
        assert.isTrue(first[0]!.seq < first[1]!.seq)
        // a replay of the same events (a restart) plus one new transition
        assert.deepStrictEqual(
          (yield* log.unseen([opened(1), opened(2), resolved(1)])).map((e) => e._tag),
          ["resolved"]
        )
        const second = yield* log.record([
          opened(1),
          opened(2),
          resolved(1),
          { _tag: "storm", time: base, suppressed: 7 }
        ])
        assert.deepStrictEqual(
          second.map((r) => r.event._tag),
          ["resolved", "storm"]
        )
        assert.isTrue(second[0]!.seq > first[1]!.seq)
        const after = yield* log.after(first[0]!.seq, 10)
        assert.deepStrictEqual(
          after.map((r) => r.seq),
          [first[1]!.seq, second[0]!.seq, second[1]!.seq]
        )
        assert.deepStrictEqual(yield* log.after(second[1]!.seq, 10), [])
        assert.deepStrictEqual(after[2]!.event, { _tag: "storm", time: base, suppressed: 7 })
        assert.strictEqual((yield* log.after(0, 2)).length, 2)
      }).pipe(Effect.provide(make()))
    )

    it.effect("alerts keep their latest state; a replayed earlier transition does not reopen a resolved alert", () =>
      Effect.gen(function* () {
        const log = yield* AlertLog.AlertLog
        yield* log.record([opened(1), resolved(1)])
        // an escalation that happened before the resolve, recorded late (out of order)
        const late: Alert.AlertEvent = { _tag: "escalated", alert: { ...alertOf(1), severity: "critical" } }
        yield* log.record([late])
        const page = yield* log.list({ limit: 10 })
        assert.strictEqual(page.items.length, 1)
        assert.strictEqual(page.items[0]!.status, "resolved")
        assert.deepStrictEqual(
          page.items[0],
          resolved(1)._tag === "resolved" ? (resolved(1) as { alert: Alert.Alert }).alert : undefined
        )
      }).pipe(Effect.provide(make()))
    )

    it.effect("lists newest opened first with filters and keyset paging, every alert once", () =>
      Effect.gen(function* () {
        const log = yield* AlertLog.AlertLog
        const n = 40
        yield* log.record(Array.from({ length: n }, (_, i) => opened(i)))
        yield* log.record([resolved(3), resolved(4), resolved(5)])
        const everything = yield* allPages(log, {}, 7)
        assert.strictEqual(everything.length, n)
        assert.strictEqual(new Set(everything.map((a) => a.id)).size, n)
        for (let i = 1; i < everything.length; i++) {
          const a = everything[i - 1]!
          const b = everything[i]!
          assert.isTrue(a.openedAt > b.openedAt || (a.openedAt === b.openedAt && a.id > b.id), `${a.id} before ${b.id}`)
        }
        const queries: ReadonlyArray<Omit<AlertLog.Query, "limit" | "cursor">> = [
          { status: "open" },
          { status: "resolved" },
          { service: "checkout" },
          { model: "gpt-4o", severity: "critical" },
          { metric: "latency.p95", since: base + 5 * 60_000, until: base + 9 * 60_000 },
          { service: "nobody" }
        ]
        for (const q of queries) {
          const want = everything.filter((a) => AlertLog.matches(a, { ...q, limit: 1 })).map((a) => a.id)
          for (const limit of [1, 3, 100]) {
            assert.deepStrictEqual(
              (yield* allPages(log, q, limit)).map((a) => a.id),
              want,
              `${JSON.stringify(q)} limit ${limit}`
            )
          }
        }
        assert.strictEqual((yield* allPages(log, { status: "resolved" }, 2)).length, 3)
        const bad = yield* Effect.flip(log.list({ limit: 10, cursor: "not a cursor" }))
        assert.strictEqual(bad.reason, "Invalid")
      }).pipe(Effect.provide(make()))
    )

    it.effect("live subscribers get what is recorded after they subscribed, once each", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const log = yield* AlertLog.AlertLog
          yield* log.record([opened(1)])
          const sub = yield* log.subscribe
          const got = yield* Stream.fromSubscription(sub).pipe(Stream.take(2), Stream.runCollect, Effect.forkScoped)
          yield* log.record([opened(1), opened(2)])
          yield* log.record([resolved(2)])
          const events = yield* Fiber.join(got)
          assert.deepStrictEqual(
            events.map((r) => `${r.event._tag}`),
            ["opened", "resolved"]
          )
        })
      ).pipe(Effect.provide(make()))
    )
  })
