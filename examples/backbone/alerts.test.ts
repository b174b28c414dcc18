// Alert transitions are idempotent across restarts: a pipeline that replays batches from a checkpoint older than
// the alert events it already emitted (a crash after the alert sink accepted them, before the next checkpoint)
// emits none of them again, and misses none. Without the record of emitted transitions the replay repeats them.
import { assert, describe, it } from "@effect/vitest"
import { AlertJson } from "@llm-sentinel/adapters"
import { AlertSink, AnomalySink, DeadLetterSink, EventSource, Pipeline, StateStore } from "@llm-sentinel/core"
import { Context, Effect, Layer } from "effect"
import { config, scenario, T0 } from "./pipeline.ts"

const runOn = (events: ReadonlyArray<unknown>, store: StateStore.StateStore["Service"], flushOnEnd: boolean) =>
  Effect.gen(function* () {
    yield* Pipeline.make(config({ flushOnEnd })).run
    return (yield* AlertSink.Memory.use((s) => s.written)).map(AlertJson.deliveryId)
  }).pipe(
    Effect.provideService(StateStore.StateStore, store),
    Effect.provide(
      Layer.mergeAll(
        EventSource.layerFromIterable(events, { batchSize: 1000 }),
        AnomalySink.layerMemory,
        DeadLetterSink.layerMemory,
        AlertSink.layerMemory
      )
    )
  )

const copy = (store: StateStore.StateStore["Service"], keep: (key: string) => boolean) =>
  Effect.gen(function* () {
    const fresh = Context.get(yield* Layer.build(StateStore.layerMemory), StateStore.StateStore)
    yield* fresh.setMany((yield* store.entries("")).filter(([k]) => keep(k)))
    return fresh
  })

describe("alert transitions across a restart", () => {
  it.effect("a replay from an older checkpoint emits no transition twice and misses none", () =>
    Effect.gen(function* () {
      const events = scenario()
      const at = (minute: number) => (e: Record<string, unknown>) => (e.timestamp as number) < T0 + minute * 60_000
      const full = yield* runOn(
        events,
        Context.get(yield* Layer.build(StateStore.layerMemory), StateStore.StateStore),
        true
      )
      assert.isAbove(full.length, 4)

      // the first life: up to minute 29, checkpointed at its end
      const store = Context.get(yield* Layer.build(StateStore.layerMemory), StateStore.StateStore)
      yield* runOn(events.filter(at(29)), store, false)
      const checkpoint = yield* copy(store, () => true)
      // it goes on to minute 35 (incidents at 30 and 33 open and resolve) and crashes before its next
      // checkpoint: only the record of emitted transitions, written with the alerts, survives
      const lost: StateStore.StateStore["Service"] = {
        ...store,
        setMany: (entries) => store.setMany(entries.filter(([k]) => k.startsWith(Pipeline.alertsEmittedPrefix)))
      }
      // (each life starts a minute before the checkpoint: the replay must cover the windows still open at it)
      const second = events.filter((e) => !at(28)(e) && at(35)(e))
      const beforeCrash = yield* runOn(second, lost, false)
      assert.isAbove(beforeCrash.length, 0, "transitions emitted before the crash")

      // the restart: the checkpoint of minute 29 plus the emitted record; the batches since minute 29 replayed
      const restored = yield* copy(store, () => true)
      const rest = events.filter((e) => !at(28)(e))
      const afterRestart = yield* runOn(rest, restored, true)
      assert.deepStrictEqual(
        afterRestart.filter((id) => beforeCrash.includes(id)),
        [],
        "nothing emitted twice"
      )
      assert.deepStrictEqual([...beforeCrash, ...afterRestart].sort(), [...full].sort(), "nothing missed")

      // the control: the same restart without the record repeats what was emitted before the crash
      const repeated = yield* runOn(rest, checkpoint, true)
      assert.isAbove(repeated.filter((id) => beforeCrash.includes(id)).length, 0)
    })
  )
})
