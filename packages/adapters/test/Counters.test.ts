import { assert, describe, it } from "@effect/vitest"
import { Counters } from "@llm-sentinel/adapters"
import { Effect } from "effect"
import { PrometheusMetrics } from "effect/observability"

describe("Counters", () => {
  it.effect("are Effect metrics with adapter and name attributes, as /metrics shows them", () =>
    Effect.gen(function* () {
      const c = Counters.make("webhook", "counters-test")
      yield* c.add("sent", 3)
      yield* c.add("errors", 1)
      assert.deepStrictEqual(yield* c.values, { received: 0, sent: 3, retried: 0, dropped: 0, errors: 1 })
      const text = yield* PrometheusMetrics.format()
      assert.include(text, 'sentinel_adapter_sent_total{adapter="webhook",name="counters-test"} 3')
      assert.include(text, 'sentinel_adapter_errors_total{adapter="webhook",name="counters-test"} 1')
    })
  )
})
