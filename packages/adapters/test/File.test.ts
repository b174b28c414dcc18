import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { File } from "@llm-sentinel/adapters"
import {
  Alert,
  AlertSink,
  Anomaly,
  AnomalySink,
  DeadLetterSink,
  type Event,
  EventSource,
  Pipeline
} from "@llm-sentinel/core"
import { ZScore } from "@llm-sentinel/detectors"
import { Effect, type FileSystem, Layer, Result, Schema, Stream } from "effect"

const dir = mkdtempSync(join(tmpdir(), "sentinel-file-"))
const write = (name: string, text: string | Uint8Array): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

describe("File", () => {
  it.effect("lines: CRLF, final line without newline, reads split across chunks", () =>
    Effect.gen(function* () {
      const path = write("lines.txt", "alpha\r\nbeta\n\ngamma delta\nlast")
      const got = yield* Stream.runCollect(File.lines(path, { chunkSize: 3 }))
      assert.deepStrictEqual(got, ["alpha", "beta", "", "gamma delta", "last"])
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("lines: multi-byte characters split between reads survive", () =>
    Effect.gen(function* () {
      const path = write("utf8.txt", "é→✓\n😀x\n")
      const got = yield* Stream.runCollect(File.lines(path, { chunkSize: 1 }))
      assert.deepStrictEqual(got, ["é→✓", "😀x"])
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("ndjson: parses each non-blank line, in order, in large chunks", () =>
    Effect.gen(function* () {
      const rows = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ i, s: `r${i}` }))
      const path = write("many.ndjson", `${rows.join("\n")}\n\n`)
      const chunks = yield* Stream.runCollect(Stream.chunks(File.ndjson(path)))
      const values = chunks.flat() as Array<{ i: number }>
      assert.strictEqual(values.length, 5000)
      assert.isTrue(values.every((v, i) => v.i === i))
      assert.isBelow(chunks.length, 5, "one chunk per read, not per line")
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("ndjson: a malformed line fails with its 1-based line number", () =>
    Effect.gen(function* () {
      const path = write("bad.ndjson", '{"a":1}\n\n{"a":\n')
      const error = yield* Effect.flip(Stream.runCollect(File.ndjson(path)))
      assert.strictEqual(error._tag, "FileError")
      assert.strictEqual(error.reason._tag, "MalformedLine")
      assert.strictEqual(error.reason._tag === "MalformedLine" ? error.reason.line : -1, 3)
      assert.isFalse(error.isRetryable)
      assert.include(error.message, "bad.ndjson:3:")
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("a missing file is a ReadFailed FileError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Stream.runCollect(File.lines(join(dir, "nope.txt"))))
      assert.strictEqual(error.reason._tag, "ReadFailed")
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it("parseCsvLine: RFC 4180 quoting within a line", () => {
    assert.deepStrictEqual(File.parseCsvLine("a,b,,c"), ["a", "b", "", "c"])
    assert.deepStrictEqual(File.parseCsvLine('a,"b,c",""""'), ["a", "b,c", '"'])
    assert.deepStrictEqual(File.parseCsvLine('"x",'), ["x", ""])
    assert.deepStrictEqual(File.parseCsvLine('"say ""hi""";2', ";"), ['say "hi"', "2"])
    assert.isString(File.parseCsvLine('a,"open'))
  })

  it.effect("csvRows: header included, blank lines skipped", () =>
    Effect.gen(function* () {
      const path = write("rows.csv", 'time,value\r\n1,"2.5"\n\n2,3\n')
      const got = yield* Stream.runCollect(File.csvRows(path))
      assert.deepStrictEqual(got, [
        ["time", "value"],
        ["1", "2.5"],
        ["2", "3"]
      ])
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("csv: records keyed by header; a ragged row fails with its line", () =>
    Effect.gen(function* () {
      const ok = write("ok.csv", "time,value\n1,2\n3,4")
      assert.deepStrictEqual(yield* Stream.runCollect(File.csv(ok)), [
        { time: "1", value: "2" },
        { time: "3", value: "4" }
      ])
      const ragged = write("ragged.csv", "time,value\n1,2\n3\n")
      const error = yield* Effect.flip(Stream.runCollect(File.csv(ragged)))
      assert.include(error.message, "ragged.csv:3: expected 2 fields")
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )
})

// The file layers through a whole pipeline: the same events read from an NDJSON file, from a CSV file and from
// memory must give the same anomalies; what the file sinks wrote decodes with the core's Schemas.
const T0 = Date.UTC(2026, 10, 26)
const telemetry = (): Array<Record<string, unknown>> => {
  let seed = 7
  const random = () => {
    seed = (seed * 16807) % 2147483647
    return seed / 2147483647
  }
  const out: Array<Record<string, unknown>> = []
  for (let i = 0; i < 900; i++) {
    for (const service of ["chat", "search"]) {
      const spike = service === "search" && i >= 600 && i < 620
      out.push({
        timestamp: T0 + i * 1000,
        service,
        model: "gpt-4o",
        latencyMs: Math.round(spike ? 3000 + 50 * random() : 500 + 40 * random()),
        outputTokens: 200,
        status: "ok"
      })
    }
  }
  return out
}
const pipelineConfig = Result.getOrThrow(
  Pipeline.makeConfig({
    detectors: [ZScore.make({ minSamples: 20 })],
    window: "10 seconds",
    maxDelay: "1 second",
    signals: ["latency.p95"]
  })
)
const readNdjson = (path: string): Array<unknown> =>
  readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as unknown)
const decodeAnomalies = Schema.decodeUnknownSync(Schema.Array(Anomaly.Anomaly))
const decodeAlertEvents = Schema.decodeUnknownSync(Schema.Array(Alert.AlertEvent))

const runThroughFiles = (source: Layer.Layer<EventSource.EventSource, never, FileSystem.FileSystem>, name: string) =>
  Effect.gen(function* () {
    const out = { anomalies: join(dir, `${name}.anomalies.ndjson`), alerts: join(dir, `${name}.alerts.ndjson`) }
    const deadLetters = join(dir, `${name}.dead.ndjson`)
    const pipeline = Pipeline.make(pipelineConfig)
    yield* pipeline.run.pipe(
      Effect.provide(
        Layer.mergeAll(
          source,
          File.layerAnomalySink({ path: out.anomalies }),
          File.layerAlertSink({ path: out.alerts }),
          File.layerDeadLetterSink({ path: deadLetters })
        ).pipe(Layer.provide(NodeFileSystem.layer))
      )
    )
    return {
      stats: yield* pipeline.stats,
      anomalies: decodeAnomalies(readNdjson(out.anomalies)),
      alerts: decodeAlertEvents(readNdjson(out.alerts)),
      deadLetters: readNdjson(deadLetters) as Array<Event.Rejected>
    }
  })

describe("File layers", () => {
  it.effect("NDJSON and CSV sources give the in-memory run's anomalies; sinks write decodable NDJSON", () =>
    Effect.gen(function* () {
      const events = telemetry()
      const inMemory = Pipeline.make(pipelineConfig)
      yield* inMemory.run.pipe(
        Effect.provide(
          Layer.mergeAll(
            EventSource.layerFromIterable(events),
            AnomalySink.layerMemory,
            AlertSink.layerMemory,
            DeadLetterSink.layerMemory
          )
        )
      )
      const lines = events.map((e) => JSON.stringify(e))
      // line 3 is not JSON, line 6 is an invalid event: both dead-lettered with their line, the run goes on
      lines.splice(2, 0, '{"timestamp":')
      lines.splice(5, 0, JSON.stringify({ ...events[0], latencyMs: -1 }))
      const ndjsonPath = write("events.ndjson", `${lines.join("\n")}\n`)
      const fromNdjson = yield* runThroughFiles(File.layerSource({ path: ndjsonPath }), "ndjson")

      const header = "timestamp,service,model,latencyMs,outputTokens,status"
      const rows = events.map((e, i) =>
        [
          i % 2 === 0 ? new Date(e.timestamp as number).toISOString() : String(e.timestamp),
          e.service,
          e.model,
          e.latencyMs,
          e.outputTokens,
          e.status
        ].join(",")
      )
      rows.splice(10, 0, 'x,"unterminated') // line 12 of the file
      const csvPath = write("events.csv", `${header}\r\n${rows.join("\r\n")}\r\n`)
      const fromCsv = yield* runThroughFiles(File.layerSource({ path: csvPath, chunkSize: 4096 }), "csv")

      const memoryStats = yield* inMemory.stats
      assert.isAbove(memoryStats.anomalies, 0)
      for (const run of [fromNdjson, fromCsv]) {
        assert.strictEqual(run.stats.decoded, events.length)
        assert.strictEqual(run.stats.anomalies, memoryStats.anomalies)
        assert.isTrue(
          run.anomalies.some((a) => a.series.service === "search" && a.time >= T0 + 600_000 && a.time < T0 + 630_000),
          "the latency spike of search"
        )
        assert.isAbove(run.alerts.length, 0)
        assert.strictEqual(run.alerts[0]?._tag, "opened")
      }
      assert.deepStrictEqual(
        fromCsv.anomalies.map((a) => a.id),
        fromNdjson.anomalies.map((a) => a.id)
      )
      // the pipeline dead-letters decode errors before the source's unreadable lines: sorted by line here
      const deadLetters = fromNdjson.deadLetters.map((d) => [d.source, d.errors[0]?.path]).sort()
      assert.deepStrictEqual(deadLetters, [
        [`${ndjsonPath}:3`, ""],
        [`${ndjsonPath}:6`, "latencyMs"]
      ])
      assert.deepStrictEqual(
        fromCsv.deadLetters.map((d) => d.source),
        [`${csvPath}:12`]
      )
    })
  )

  it.effect("the anomalies of a file run are the in-memory run's", () =>
    Effect.gen(function* () {
      const events = telemetry()
      const path = write("same.ndjson", events.map((e) => JSON.stringify(e)).join("\n"))
      const fromFile = yield* runThroughFiles(File.layerSource({ path }), "same")
      const pipeline = Pipeline.make(pipelineConfig)
      const expected = yield* Effect.gen(function* () {
        yield* pipeline.run
        return yield* AnomalySink.Memory.use((m) => m.written)
      }).pipe(
        Effect.provide(
          Layer.mergeAll(
            EventSource.layerFromIterable(events),
            AnomalySink.layerMemory,
            AlertSink.layerMemory,
            DeadLetterSink.layerMemory
          )
        )
      )
      assert.isAbove(expected.length, 0)
      assert.deepStrictEqual(fromFile.anomalies, expected)
    })
  )

  it("csvRecord: numbers, epoch or ISO timestamps, metrics and attributes columns, empty cells absent", () => {
    assert.deepStrictEqual(
      File.csvRecord(
        ["timestamp", "service", "model", "latencyMs", "ttftMs", "metrics.score", "attributes.region", "costUsd"],
        ["1764600000000", "chat", "m", " 812 ", "", "0.9", "eu", "abc"]
      ),
      {
        timestamp: 1764600000000,
        service: "chat",
        model: "m",
        latencyMs: 812,
        metrics: { score: 0.9 },
        attributes: { region: "eu" },
        costUsd: "abc"
      }
    )
    assert.deepStrictEqual(File.csvRecord(["timestamp"], ["2026-11-26T00:00:00Z"]), {
      timestamp: "2026-11-26T00:00:00Z"
    })
  })

  it.effect("a missing file fails the source with a SourceError that is not retryable", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Effect.flatMap(EventSource.EventSource, (s) => Stream.runDrain(s.batches)).pipe(
          Effect.provide(File.layerSource({ path: join(dir, "missing.ndjson") })),
          Effect.provide(NodeFileSystem.layer)
        )
      )
      assert.strictEqual(error._tag, "SourceError")
      assert.strictEqual(error.adapter, "file")
      assert.isFalse(error.isRetryable)
      assert.include(error.message, "missing.ndjson")
    })
  )

  it.effect("sinks append by default, truncate on request, and fail with a SinkError where they cannot write", () =>
    Effect.gen(function* () {
      const path = write("alerts.ndjson", "")
      const storm: Alert.AlertEvent = { _tag: "storm", time: 1, suppressed: 2 }
      const writeOnce = (truncate: boolean) =>
        AlertSink.AlertSink.use((s) => s.write([storm])).pipe(
          Effect.provide(File.layerAlertSink({ path, truncate })),
          Effect.provide(NodeFileSystem.layer)
        )
      yield* writeOnce(false)
      yield* writeOnce(false)
      assert.strictEqual(readNdjson(path).length, 2)
      yield* writeOnce(true)
      assert.deepStrictEqual(readNdjson(path), [{ _tag: "storm", time: 1, suppressed: 2 }])
      const error = yield* Effect.flip(
        AnomalySink.AnomalySink.use((s) => s.write([])).pipe(
          Effect.provide(File.layerAnomalySink({ path: join(dir, "no", "such", "dir.ndjson") })),
          Effect.provide(NodeFileSystem.layer)
        )
      )
      assert.strictEqual(error._tag, "SinkError")
      assert.strictEqual(error.adapter, "file")
    })
  )
})
