import { assert, describe, it } from "@effect/vitest"
import { type Alert, Series } from "@llm-sentinel/core"
import { Effect, Fiber, Option, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as AlertLog from "../src/AlertLog.ts"
import * as AlertStream from "../src/AlertStream.ts"

const alert = (i: number): Alert.Alert => ({
  id: `a${i}`,
  series: Series.makeKey("checkout", "gpt-4o", "latency.p95"),
  status: "open",
  severity: "warning",
  openedAt: 1_700_000_000_000 + i,
  lastAnomalyAt: 1_700_000_000_000 + i,
  resolvedAt: null,
  anomalies: 1,
  detectors: ["mad"],
  reason: "r"
})
const opened = (i: number): Alert.AlertEvent => ({ _tag: "opened", alert: alert(i) })

const decoder = new TextDecoder()

/** The SSE messages (blocks between blank lines) of the first `n` chunks. */
const messages = (stream: Stream.Stream<Uint8Array>, n: number) =>
  stream.pipe(
    Stream.map((b) => decoder.decode(b)),
    Stream.take(n),
    Stream.runCollect,
    Effect.map((xs) =>
      xs
        .join("")
        .split("\n\n")
        .filter((m) => m !== "")
    )
  )

const ids = (ms: ReadonlyArray<string>) => ms.flatMap((m) => /^id: (\d+)$/m.exec(m)?.[1] ?? [])

describe("AlertStream", () => {
  it.effect("resumes after Last-Event-ID: the backlog first, then live events, none twice", () =>
    Effect.gen(function* () {
      const log = yield* AlertLog.AlertLog
      const first = yield* log.record([opened(1), opened(2), opened(3)])
      const reading = yield* messages(AlertStream.events(log, Option.some(first[0]!.seq)), 5).pipe(Effect.forkScoped)
      yield* Effect.yieldNow
      // recorded while the client reads: arrives once, after the backlog
      yield* log.record([opened(3), opened(4), opened(5)])
      const got = yield* Fiber.join(reading)
      assert.strictEqual(got[0], "retry: 3000")
      assert.deepStrictEqual(ids(got), ["2", "3", "4", "5"])
      const data = got[1]!.split("\n")
      assert.strictEqual(data[1], "event: alert")
      assert.deepStrictEqual(JSON.parse(data[2]!.slice("data: ".length)), opened(2))
    }).pipe(Effect.scoped, Effect.provide(AlertLog.layerMemory))
  )

  it.effect("without a position, only what is recorded from now on; after=0 is the whole history", () =>
    Effect.gen(function* () {
      const log = yield* AlertLog.AlertLog
      yield* log.record([opened(1), opened(2)])
      const live = yield* messages(AlertStream.events(log, Option.none()), 2).pipe(Effect.forkScoped)
      yield* Effect.yieldNow
      yield* log.record([opened(3)])
      assert.deepStrictEqual(ids(yield* Fiber.join(live)), ["3"])
      const history = yield* messages(AlertStream.events(log, Option.some(0)), 4)
      assert.deepStrictEqual(ids(history), ["1", "2", "3"])
    }).pipe(Effect.scoped, Effect.provide(AlertLog.layerMemory))
  )

  it.effect("a keep-alive comment on an idle stream", () =>
    Effect.gen(function* () {
      const log = yield* AlertLog.AlertLog
      const reading = yield* messages(AlertStream.events(log, Option.none(), "15 seconds"), 2).pipe(Effect.forkScoped)
      yield* TestClock.adjust("31 seconds")
      assert.deepStrictEqual(yield* Fiber.join(reading), ["retry: 3000", ": keepalive"])
    }).pipe(Effect.scoped, Effect.provide(AlertLog.layerMemory))
  )
})
