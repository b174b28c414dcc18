import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Logger, Option, Result, Stream } from "effect"
import { TestClock } from "effect/testing"
import {
  AlertSink,
  AnomalySink,
  DeadLetterSink,
  Event,
  EventSource,
  Pipeline,
  StateStore,
  Verdict
} from "../src/index.ts"
import { events, T0, welford } from "./fixtures.ts"

// p95 of 10 samples is right-skewed: the cumulative reference detector needs a higher threshold than 4 on it
const config = (overrides: Partial<Parameters<typeof Pipeline.makeConfig>[0]> = {}) =>
  Result.getOrThrow(
    Pipeline.makeConfig({
      detectors: [welford],
      window: "10 seconds",
      maxDelay: "1 second",
      signals: ["latency.p95", "latency.p50", "error.rate"],
      decide: Verdict.threshold({ warning: 6, critical: 8 }),
      ...overrides
    })
  )

const sinks = Layer.mergeAll(AnomalySink.layerMemory, DeadLetterSink.layerMemory, AlertSink.layerMemory)

it("makeConfig refuses an invalid tick, drainTimeout or checkpointEvery with a typed error naming it", () => {
  for (const parameter of ["tick", "drainTimeout", "checkpointEvery"] as const) {
    for (const bad of [0, -5, "later" as never]) {
      const result = Pipeline.makeConfig({ detectors: [welford], [parameter]: bad })
      assert.ok(Result.isFailure(result), `${parameter} ${String(bad)}`)
      if (Result.isFailure(result)) {
        assert.strictEqual(result.failure._tag, "InvalidConfig")
        assert.strictEqual(result.failure.parameter, parameter)
      }
    }
  }
  const config = Result.getOrThrow(Pipeline.makeConfig({ detectors: [welford], tick: "250 millis" }))
  assert.strictEqual(config.tickMs, 250)
})

describe("Pipeline", () => {
  it.effect("finds the latency spike of one series and nothing on the steady part", () =>
    Effect.gen(function* () {
      const input = events({
        seconds: 1200,
        services: ["chat", "search", "summarize"],
        spike: (i, service) => (service === "search" && i >= 600 && i < 610 ? 3000 : undefined)
      })
      const pipeline = Pipeline.make(config())
      yield* pipeline.run.pipe(Effect.provide(EventSource.layerFromIterable(input, { batchSize: 500 })))
      const anomalies = yield* AnomalySink.Memory.use((s) => s.written)
      assert.isAbove(anomalies.length, 0)
      for (const a of anomalies) {
        assert.strictEqual(a.series.service, "search")
        assert.strictEqual(a.time, T0 + 600_000)
        assert.match(a.series.metric, /^latency\./)
      }
      const alerts = yield* AlertSink.Memory.use((s) => s.written)
      // one alert per watched signal of the series (p50 and p95), each resolved once latency is back
      assert.deepStrictEqual(alerts.map((e) => e._tag).sort(), ["opened", "opened", "resolved", "resolved"])
      const stats = yield* pipeline.stats
      assert.strictEqual(stats.received, 3600)
      assert.strictEqual(stats.decoded, 3600)
      assert.strictEqual(stats.deadLettered, 0)
      assert.strictEqual(stats.windows, 3 * 120 * 7) // 7 base metrics (no ttft) per series, 120 windows each
      assert.strictEqual(stats.batchesAcknowledged, 8)
    }).pipe(Effect.provide(sinks))
  )

  it.effect("onClosed sees every closed window once, before onScored sees a verdict on it", () =>
    Effect.gen(function* () {
      const input = events({
        seconds: 600,
        services: ["chat", "search"],
        spike: (i, service) => (service === "search" && i >= 300 && i < 310 ? 3000 : undefined)
      })
      const closed = new Set<string>()
      const closedPairs = new Set<string>()
      let closedCount = 0
      let scoredCount = 0
      const unseen: Array<string> = []
      const windowOf = (service: string, model: string, start: number) => `${service}/${model}@${start}`
      const pipeline = Pipeline.make(config(), {
        onClosed: (windows) => {
          for (const w of windows) {
            closedCount++
            closed.add(`${w.key.id}@${w.start}`)
            closedPairs.add(windowOf(w.key.service, w.key.model, w.start))
          }
        },
        onScored: (scored) => {
          for (const sc of scored) {
            scoredCount++
            const k = sc.point.key
            if (!closedPairs.has(windowOf(k.service, k.model, sc.point.time))) unseen.push(`${k.id}@${sc.point.time}`)
          }
        }
      })
      yield* pipeline.run.pipe(Effect.provide(EventSource.layerFromIterable(input, { batchSize: 300 })))
      const stats = yield* pipeline.stats
      assert.strictEqual(closedCount, stats.windows)
      assert.strictEqual(closed.size, stats.windows) // each window once
      assert.isAbove(scoredCount, 0)
      assert.deepStrictEqual(unseen, [])
      assert.isAbove((yield* AnomalySink.Memory.use((s) => s.written)).length, 0)
    }).pipe(Effect.provide(sinks))
  )

  it.effect("a flush that closes 150,000 windows at once completes (no spread-argument RangeError)", () =>
    Effect.gen(function* () {
      // 30,000 service × model pairs, one event each: the end of the input closes 5 base-metric windows per pair
      const input = Array.from({ length: 30_000 }, (_, i) => ({
        timestamp: T0 + (i % 1000),
        service: `service-${i % 1000}`,
        model: `model-${Math.floor(i / 1000)}`,
        latencyMs: 400,
        inputTokens: 10,
        outputTokens: 20
      }))
      const pipeline = Pipeline.make(config({ maxSeries: 300_000 }))
      yield* pipeline.run.pipe(Effect.provide(EventSource.layerFromIterable(input, { batchSize: 30_000 })))
      const stats = yield* pipeline.stats
      assert.strictEqual(stats.decoded, 30_000)
      assert.isAtLeast(stats.windows, 150_000)
    }).pipe(Effect.provide(sinks))
  )

  it.effect("dead-letters invalid records with their errors and keeps the valid ones", () =>
    Effect.gen(function* () {
      const input = [...events({ seconds: 3, services: ["chat"] }), { service: "chat" }, 42]
      const pipeline = Pipeline.make(config())
      yield* pipeline.run.pipe(Effect.provide(EventSource.layerFromIterable(input)))
      const dead = yield* DeadLetterSink.Memory.use((s) => s.written)
      assert.deepStrictEqual(
        dead.map((d) => d.payload),
        [{ service: "chat" }, 42]
      )
      assert.ok(dead[0]!.errors.some((e) => e.path === "latencyMs" && /required/.test(e.message)))
      assert.deepStrictEqual(
        [(yield* pipeline.stats).received, (yield* pipeline.stats).decoded, (yield* pipeline.stats).deadLettered],
        [5, 3, 2]
      )
    }).pipe(Effect.provide(sinks))
  )

  it.effect("acknowledges a batch only after the sinks accepted what it produced, in order", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      // the spike's window [200 s, 210 s) closes, and its anomalies are written, while batch 4 (200–249 s) passes
      const input = events({ seconds: 300, services: ["chat"], spike: (i) => (i >= 200 && i < 205 ? 3000 : undefined) })
      const batches = [0, 1, 2, 3, 4, 5].map((i) =>
        EventSource.rawBatch(
          input.slice(i * 50, (i + 1) * 50),
          Effect.sync(() => log.push(`ack${i}`))
        )
      )
      const slowSink = Layer.succeed(AnomalySink.AnomalySink, {
        write: (xs) =>
          Effect.gen(function* () {
            for (let i = 0; i < 20; i++) yield* Effect.yieldNow // a sink that takes its time
            log.push(`write${xs.length}`)
          })
      })
      const queue = yield* Layer.build(EventSource.layerQueue({ capacity: 8 }))
      const handle = Context.get(queue, EventSource.EventQueue)
      const fiber = yield* Pipeline.make(config()).run.pipe(
        Effect.provide(Layer.mergeAll(slowSink, DeadLetterSink.layerLog, AlertSink.layerLog)),
        Effect.provideContext(queue),
        Effect.forkChild
      )
      for (const b of batches) yield* handle.offer(b)
      yield* handle.end
      yield* Fiber.join(fiber)
      const acks = log.filter((l) => l.startsWith("ack"))
      assert.deepStrictEqual(acks, ["ack0", "ack1", "ack2", "ack3", "ack4", "ack5"])
      const write = log.findIndex((l) => l.startsWith("write"))
      assert.isAtLeast(write, 0, log.join(" "))
      assert.isBelow(write, log.indexOf("ack4"), log.join(" ")) // written before the batch that produced it is acked
    })
  )

  it.effect("drains in-flight batches and flushes open windows when interrupted", () =>
    Effect.gen(function* () {
      const acked: Array<number> = []
      const input = events({ seconds: 120, services: ["chat"] })
      const batches = [0, 1, 2, 3].map((i) =>
        EventSource.rawBatch(
          input.slice(i * 30, (i + 1) * 30),
          Effect.sync(() => acked.push(i))
        )
      )
      // a source that never ends on its own, like Kafka
      const source = Layer.succeed(EventSource.EventSource, {
        batches: Stream.concat(Stream.fromIterable(batches), Stream.never)
      })
      const pipeline = Pipeline.make(config())
      const fiber = yield* pipeline.run.pipe(Effect.provide(source), Effect.forkChild)
      for (let i = 0; i < 10_000 && acked.length < 4; i++) yield* Effect.yieldNow
      assert.deepStrictEqual(acked, [0, 1, 2, 3])
      assert.strictEqual((yield* pipeline.stats).windows, 11 * 7) // 7 base metrics (no ttft); [110 s, 120 s) still open
      yield* Fiber.interrupt(fiber)
      assert.strictEqual((yield* pipeline.stats).decoded, 120)
      assert.strictEqual((yield* pipeline.stats).windows, 12 * 7) // the open windows were flushed, nothing lost
    }).pipe(Effect.provide(sinks))
  )

  it.effect("checkpoints detector states to the StateStore and a new instance resumes from them", () =>
    Effect.gen(function* () {
      const input = events({
        seconds: 1200,
        services: ["search"],
        spike: (i) => (i >= 600 && i < 610 ? 3000 : undefined)
      })
      const store = Context.get(yield* Layer.build(StateStore.layerMemory), StateStore.StateStore)
      const first = Pipeline.make(config())
      yield* first.run.pipe(
        Effect.provide(EventSource.layerFromIterable(input.slice(0, 600))),
        Effect.provideService(StateStore.StateStore, store)
      )
      assert.isAbove((yield* first.stats).checkpoints, 0)
      // the second instance sees the spike in its very first window: only restored baselines can catch it
      const second = Pipeline.make(config())
      yield* second.run.pipe(
        Effect.provide(EventSource.layerFromIterable(input.slice(600))),
        Effect.provideService(StateStore.StateStore, store)
      )
      assert.strictEqual((yield* second.stats).restored, 3) // latency.p95, latency.p50, error.rate × welford
      assert.strictEqual((yield* second.stats).restoreFailed, 0)
      const anomalies = yield* AnomalySink.Memory.use((s) => s.written)
      assert.ok(anomalies.some((a) => a.time === T0 + 600_000 && a.series.metric === "latency.p95"))
      // and without the store, the same second half finds nothing (the detector is still warming up)
      const cold = Pipeline.make(config())
      yield* cold.run.pipe(Effect.provide(Layer.mergeAll(EventSource.layerFromIterable(input.slice(600)), sinks)))
      assert.strictEqual((yield* cold.stats).restored, 0)
      assert.strictEqual((yield* cold.stats).anomalies, 0)
    }).pipe(Effect.provide(sinks))
  )

  it.effect("a restart that replays from the checkpointed position finds the same anomalies as one run", () =>
    Effect.gen(function* () {
      const input = events({
        seconds: 1200,
        services: ["chat", "search"],
        spike: (i, service) => (service === "search" && i >= 700 && i < 705 ? 3000 : undefined)
      })
      const batches = (from: number, to: number) =>
        Array.from({ length: to - from }, (_, k) => {
          const position = from + k
          return { ...EventSource.rawBatch(input.slice(position * 25, (position + 1) * 25)), position }
        })
      const source = (from: number, to: number) =>
        Layer.succeed(EventSource.EventSource, { batches: Stream.fromIterable(batches(from, to)) })
      const total = input.length / 25
      const run = (pipeline: Pipeline.Pipeline, from: number, to: number, store?: StateStore.StateStore["Service"]) =>
        Effect.gen(function* () {
          const layers = yield* Layer.build(Layer.mergeAll(sinks, source(from, to)))
          yield* (
            store === undefined ? pipeline.run : Effect.provideService(pipeline.run, StateStore.StateStore, store)
          ).pipe(Effect.provideContext(layers))
          return yield* AnomalySink.Memory.use((m) => m.written).pipe(Effect.provideContext(layers))
        })
      const options = { flushOnEnd: false, checkpointEvery: "1 hour" as const }
      // one uninterrupted run
      const wholePipeline = Pipeline.make(config(options))
      const whole = yield* run(wholePipeline, 0, total)
      // the same input, stopped at batch 50 (a checkpoint is taken at the stop), restarted, replayed
      const store = Context.get(yield* Layer.build(StateStore.layerMemory), StateStore.StateStore)
      const first = Pipeline.make(config(options))
      const before = yield* run(first, 0, 50, store)
      const position = Option.getOrThrow(yield* Pipeline.readPosition(store))
      assert.strictEqual(position.processed, 49)
      assert.isBelow(position.replayFrom, 50) // the open windows hold points of earlier batches
      const second = Pipeline.make(config(options))
      const after = yield* run(second, position.replayFrom, total, store)
      assert.isAbove((yield* second.stats).late, 0) // replayed points of windows fired before the stop
      const ids = (xs: ReadonlyArray<{ id: string }>) => [...new Set(xs.map((a) => a.id))].sort()
      assert.isAbove(whole.length, 0)
      assert.deepStrictEqual(ids([...before, ...after]), ids(whole))
      // every window closed exactly once across the stop
      assert.strictEqual(
        (yield* first.stats).windows + (yield* second.stats).windows,
        (yield* wholePipeline.stats).windows
      )
    })
  )

  it.effect("dead-letters raw records with implausible times, and what the source could not read, with sources", () =>
    Effect.gen(function* () {
      const good = events({ seconds: 3, services: ["chat"] })
      const now = T0 + 10_000
      const batch: EventSource.SourceBatch = {
        raw: [
          ...good,
          { ...(good[0] as object), timestamp: 1e15 },
          { ...(good[0] as object), timestamp: 1_764_600_000 }
        ],
        events: [],
        ack: Effect.void,
        origin: "journal 0000000000000000.journal at byte 42"
      }
      const damaged: EventSource.SourceBatch = {
        raw: [],
        events: [],
        ack: Effect.void,
        rejected: [
          { index: 0, errors: [{ path: "", message: "checksum mismatch" }], payload: "x", source: "journal x" }
        ]
      }
      const pipeline = Pipeline.make(config({ timeBounds: Event.defaultTimeBounds }))
      yield* TestClock.setTime(now)
      yield* pipeline.run.pipe(
        Effect.provide(Layer.succeed(EventSource.EventSource, { batches: Stream.make(batch, damaged) }))
      )
      const dead = yield* DeadLetterSink.Memory.use((d) => d.written)
      assert.deepStrictEqual(
        dead.map((d) => [d.index, d.errors[0]!.path, d.source]),
        [
          [3, "timestamp", "journal 0000000000000000.journal at byte 42"],
          [4, "timestamp", "journal 0000000000000000.journal at byte 42"],
          [0, "", "journal x"]
        ]
      )
      assert.deepStrictEqual(
        [(yield* pipeline.stats).received, (yield* pipeline.stats).decoded, (yield* pipeline.stats).deadLettered],
        [6, 3, 3]
      )
    }).pipe(Effect.provide(sinks))
  )

  it.effect("ignores checkpoint rows that do not decode, naming their keys, and warms those series up again", () =>
    Effect.gen(function* () {
      const input = events({ seconds: 120, services: ["search"] })
      const store = Context.get(yield* Layer.build(StateStore.layerMemory), StateStore.StateStore)
      const first = Pipeline.make(config())
      yield* first.run.pipe(
        Effect.provide(EventSource.layerFromIterable(input.slice(0, 60))),
        Effect.provideService(StateStore.StateStore, store)
      )
      const keys = [...(yield* store.keys(Pipeline.checkpointPrefix)), ...(yield* store.keys(Pipeline.windowPrefix))]
      assert.isAbove(keys.length, 1)
      yield* store.setMany([
        ...keys.map((k) => [k, k.startsWith(Pipeline.windowPrefix) ? '{"maxTime":"x"}' : "not json"] as const),
        [Pipeline.alertsKey, '{"series":[{"id":1}]}'],
        [Pipeline.positionKey, "{"]
      ])
      assert.isTrue(Option.isNone(yield* Pipeline.readPosition(store)))
      const logs: Array<string> = []
      const logger = Logger.make(({ message }) => void logs.push(String(message)))
      const second = Pipeline.make(config())
      yield* second.run.pipe(
        Effect.provide(EventSource.layerFromIterable(input.slice(60))),
        Effect.provideService(StateStore.StateStore, store),
        Effect.provide(Logger.layer([logger]))
      )
      assert.strictEqual((yield* second.stats).restored, 0)
      assert.strictEqual((yield* second.stats).restoreFailed, 3)
      assert.isAbove((yield* second.stats).windows, 0)
      const all = logs.join("\n")
      for (const k of keys) assert.include(all, k)
      assert.include(all, Pipeline.alertsKey)
    }).pipe(Effect.provide(sinks))
  )

  it("rejects invalid configuration with a typed error", () => {
    const bad = Pipeline.makeConfig({ detectors: [], window: "0 seconds" })
    assert.ok(Result.isFailure(bad))
    if (Result.isFailure(bad)) assert.strictEqual(bad.failure._tag, "InvalidWindow")
  })
})
