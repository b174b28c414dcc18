// The backbone pipeline in memory: the scenario from an array, anomalies and alerts kept in memory. Prints the
// anomalies found; exits 1 if an incident was missed.
import { AlertSink, AnomalySink, DeadLetterSink, EventSource, Pipeline } from "@llm-sentinel/core"
import { Effect, Layer } from "effect"
import { config, missed, report, scenario } from "./pipeline.ts"

export const program = Effect.gen(function* () {
  const pipeline = Pipeline.make(config())
  yield* pipeline.run
  const anomalies = yield* AnomalySink.Memory.use((s) => s.written)
  return { anomalies, stats: yield* pipeline.stats }
}).pipe(
  Effect.provide(
    Layer.mergeAll(
      EventSource.layerFromIterable(scenario(), { batchSize: 1000 }),
      AnomalySink.layerMemory,
      DeadLetterSink.layerMemory,
      AlertSink.layerMemory
    )
  )
)

if (import.meta.main) {
  const { anomalies, stats } = await Effect.runPromise(program)
  console.log(report("memory", stats.received, anomalies))
  if (missed(anomalies).length > 0) process.exit(1)
}
