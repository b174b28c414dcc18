import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { program } from "./main.ts"

it.effect("the compose-your-own-pipeline example finds the one latency spike", () =>
  Effect.gen(function* () {
    const anomalies = yield* program
    assert.deepStrictEqual(
      anomalies.map((a) => [new Date(a.point.time).toISOString(), a.point.key.metric]),
      [["2026-11-26T09:12:00.000Z", "latency.p95"]]
    )
  })
)
