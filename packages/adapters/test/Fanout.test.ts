import { assert, describe, it } from "@effect/vitest"
import { Fanout } from "@llm-sentinel/adapters"
import { type Alert, AlertSink, AnomalySink } from "@llm-sentinel/core"
import { SinkError } from "@llm-sentinel/core/SinkError"
import { Effect, Layer } from "effect"

const event: Alert.AlertEvent = { _tag: "storm", time: 0, suppressed: 3 }
const recording = (log: Array<string>, name: string) =>
  Layer.succeed(AlertSink.AlertSink, { write: (xs) => Effect.sync(() => log.push(`${name}:${xs.length}`)) })

describe("Fanout", () => {
  it.effect("writes every alert batch to every sink", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      yield* AlertSink.AlertSink.use((s) => s.write([event, event])).pipe(
        Effect.provide(Fanout.layerAlerts(recording(log, "a"), recording(log, "b")))
      )
      assert.deepStrictEqual(log.sort(), ["a:2", "b:2"])
    })
  )

  it.effect("a failing sink fails the write (so the source is not acknowledged)", () =>
    Effect.gen(function* () {
      const failing = Layer.succeed(AnomalySink.AnomalySink, {
        write: () => Effect.fail(new SinkError({ adapter: "x", reason: "Unavailable", message: "down" }))
      })
      const error = yield* Effect.flip(
        AnomalySink.AnomalySink.use((s) => s.write([])).pipe(
          Effect.provide(Fanout.layerAnomalies(AnomalySink.layerNull, failing))
        )
      )
      assert.strictEqual(error.message, "down")
      assert.isTrue(error.isRetryable)
    })
  )
})
