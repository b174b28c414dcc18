// The backbone pipeline from an NDJSON file into PostgreSQL: the same definition as memory.ts; only the layers
// change (File.layerSource as the source, Postgres as the store, its dead-letter and alert sinks).
//   node examples/backbone/file-postgres.ts [file.ndjson] [postgres://user@host:port/db] [schema]
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { File, Postgres } from "@llm-sentinel/adapters"
import { AlertSink, AnomalyStore, Pipeline } from "@llm-sentinel/core"
import { Effect, Layer, Redacted } from "effect"
import { config, report, scenario } from "./pipeline.ts"

export const program = (path: string, pg: Postgres.Config) =>
  Effect.gen(function* () {
    const pipeline = Pipeline.make(config())
    yield* pipeline.run
    const stored = yield* AnomalyStore.AnomalyStore.use((s) => s.query({ limit: 1000 }))
    return { anomalies: stored.items, stats: yield* pipeline.stats }
  }).pipe(
    Effect.provide(
      Layer.mergeAll(
        File.layerSource({ path }).pipe(Layer.provide(NodeServices.layer)),
        AnomalyStore.layerSink,
        Postgres.layerDeadLetters,
        Postgres.layerAlertSink(AlertSink.layerLog)
      ).pipe(Layer.provideMerge(Postgres.layer(pg)))
    )
  )

if (import.meta.main) {
  const path = process.argv[2] ?? join(tmpdir(), "sentinel-backbone.ndjson")
  if (process.argv[2] === undefined)
    writeFileSync(
      path,
      `${scenario()
        .map((e) => JSON.stringify(e))
        .join("\n")}\n`
    )
  const url = process.argv[3] ?? "postgres://postgres@127.0.0.1:5432/test"
  const { anomalies, stats } = await Effect.runPromise(
    program(path, { url: Redacted.make(url), schema: process.argv[4] ?? "sentinel_example" })
  )
  console.log(report("file → postgres", stats.received, anomalies))
}
