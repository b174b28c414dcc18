// The backbone pipeline from an NDJSON file into PostgreSQL: the same definition as memory.ts; only the layers
// change (File.ndjson as the source, Postgres as the store, its dead-letter and alert sinks).
//   node examples/backbone/file-postgres.ts [file.ndjson] [postgres://user@host:port/db] [schema]
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { File, Postgres } from "@llm-sentinel/adapters"
import { AlertSink, AnomalyStore, EventSource, Pipeline, SourceError } from "@llm-sentinel/core"
import { Effect, Layer, Redacted, Stream } from "effect"
import { config, report, scenario } from "./pipeline.ts"

/** The file source: the file's records in batches, read errors as the source's `SourceError`. */
const fileSource = (path: string) =>
  Layer.effect(
    EventSource.EventSource,
    Effect.map(Effect.context<import("effect").FileSystem.FileSystem>(), (context) => ({
      batches: File.ndjson(path).pipe(
        Stream.rechunk(1000),
        Stream.mapArray((raw) => [EventSource.rawBatch(raw)] as const),
        Stream.mapError(
          (e) => new SourceError.SourceError({ adapter: "file", reason: "Unavailable", message: e.message, cause: e })
        ),
        Stream.provideContext(context)
      )
    }))
  ).pipe(Layer.provide(NodeServices.layer))

export const program = (path: string, pg: Postgres.Config) =>
  Effect.gen(function* () {
    const pipeline = Pipeline.make(config())
    yield* pipeline.run
    const stored = yield* AnomalyStore.AnomalyStore.use((s) => s.query({ limit: 1000 }))
    return { anomalies: stored.items, stats: yield* pipeline.stats }
  }).pipe(
    Effect.provide(
      Layer.mergeAll(
        fileSource(path),
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
