// A user's own program, as written outside the repository against the installed packages: the whole Pipeline
// (acknowledgements, backpressure, alert policy) reading an NDJSON file with the adapters' file source layer,
// with a custom anomaly sink that appends one JSON line per anomaly to a file.
// Usage: node dist/filePipeline.js <events.ndjson> <anomalies.ndjson>
import { appendFile, writeFile } from "node:fs/promises"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { File } from "@llm-sentinel/adapters"
import { AlertSink, AnomalySink, DeadLetterSink, Pipeline, SinkError } from "@llm-sentinel/core"
import { ZScore } from "@llm-sentinel/detectors"
import { Console, Effect, Layer } from "effect"

/** A custom `AnomalySink`: appends each anomaly as one JSON line to `path` (truncated when the layer starts). */
export const layerNdjsonSink = (path: string): Layer.Layer<AnomalySink.AnomalySink> =>
  Layer.effect(
    AnomalySink.AnomalySink,
    Effect.gen(function* () {
      const failed = (cause: unknown) =>
        new SinkError.SinkError({ adapter: "ndjson-file", reason: "Unavailable", message: String(cause), cause })
      yield* Effect.tryPromise({ try: () => writeFile(path, ""), catch: failed }).pipe(Effect.orDie)
      return AnomalySink.AnomalySink.of({
        write: (anomalies) =>
          anomalies.length === 0
            ? Effect.void
            : Effect.tryPromise({
                try: () => appendFile(path, anomalies.map((a) => `${JSON.stringify(a)}\n`).join("")),
                catch: failed
              })
      })
    })
  )

export const main = (input: string, output: string) =>
  Effect.gen(function* () {
    const config = yield* Effect.fromResult(
      Pipeline.makeConfig({
        detectors: [ZScore.make({ minSamples: 20 })],
        window: "10 seconds",
        signals: ["latency.p95"]
      })
    )
    const pipeline = Pipeline.make(config)
    yield* pipeline.run
    const deadLetters = yield* DeadLetterSink.Memory.use((m) => m.written)
    const alerts = yield* AlertSink.Memory.use((m) => m.written)
    yield* Console.log(
      JSON.stringify({
        stats: yield* pipeline.stats,
        deadLetters: deadLetters.map((d) => d.errors),
        alerts: alerts.map((e) => e._tag)
      })
    )
  }).pipe(
    Effect.provide(
      Layer.mergeAll(
        File.layerSource({ path: input }).pipe(Layer.provide(NodeServices.layer)),
        layerNdjsonSink(output),
        DeadLetterSink.layerMemory,
        AlertSink.layerMemory
      )
    )
  )

if (import.meta.main) {
  const [input, output] = process.argv.slice(2)
  if (input === undefined || output === undefined) throw new Error("usage: filePipeline <events.ndjson> <out.ndjson>")
  Effect.runPromise(main(input, output)).catch((e: unknown) => {
    console.error(e)
    process.exitCode = 1
  })
}
