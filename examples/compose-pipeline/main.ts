// Compose your own pipeline from Sentinel's stream operators: decode (bad records to a dead-letter callback),
// extract metric points, aggregate 10-second windows, derive signals, detect with a rolling z-score, print.
import { Detector, Event, Extract, Series, Window } from "@llm-sentinel/core"
import { ZScore } from "@llm-sentinel/detectors"
import { Console, Effect, Stream } from "effect"

// 20 minutes of one call per second; the p95 latency of "search" jumps for 10 seconds at minute 12
const t0 = Date.parse("2026-11-26T09:00:00Z")
const calls = Array.from({ length: 1200 }, (_, i) => ({
  timestamp: new Date(t0 + i * 1000).toISOString(),
  service: "search",
  model: "gpt-4o-mini",
  latencyMs: i >= 720 && i < 730 ? 4000 : 400 + ((i * 37) % 50)
}))

const registry = Series.makeRegistry()
export const program = Effect.gen(function* () {
  const window = yield* Effect.fromResult(Window.tumbling({ size: "10 seconds" }))
  return yield* Stream.fromIterable([...calls, { service: "search", latencyMs: -1 }]).pipe(
    Event.decode({ onRejected: (rejected) => Console.error(`dead letter: ${JSON.stringify(rejected[0]?.errors)}`) }),
    Extract.extract({ registry }),
    Window.aggregate({ window }),
    Window.signals({ registry, signals: ["latency.p95"] }),
    Detector.detect({ detectors: [ZScore.make({ minSamples: 20 })], onlyAnomalous: true }),
    Stream.tap((s) => Console.log(`${new Date(s.point.time).toISOString()} ${s.point.key.id}: ${s.verdict.reason}`)),
    Stream.runCollect
  )
})

if (import.meta.main) Effect.runFork(program)
