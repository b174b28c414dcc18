/**
 * The file adapter: reads NDJSON and CSV files as streams of records, in large chunks (one chunk per read of the
 * file, about 1 MiB), so that per-record work downstream runs in tight loops over arrays; and, as layers, an
 * `EventSource` over a file ({@link layerSource}) and sinks that append NDJSON ({@link layerAnomalySink},
 * {@link layerAlertSink}, {@link layerDeadLetterSink}). The layers need Effect's `FileSystem`: provide
 * `NodeServices.layer` from `@effect/platform-node` (or any other `FileSystem`).
 *
 * Decisions:
 * - Lines end in `\n` or `\r\n`; a final line without a newline is still read. Blank lines are skipped by the
 *   NDJSON and CSV readers but still counted, so error line numbers match what an editor shows.
 * - A line that is not JSON (NDJSON) or has an unterminated quote (CSV) fails the stream with a
 *   {@link FileError} naming the 1-based line: a backtest on silently truncated data is worse than no backtest.
 * - CSV follows RFC 4180 within one line (quoted fields, `""` escapes); quoted fields spanning lines are not
 *   supported. The header-keyed reader {@link csv} requires every row to have as many fields as the header.
 * - Bytes are decoded as UTF-8 with a streaming decoder, so characters split across reads survive.
 *
 * @since 0.1.0
 */

import { TextDecoder, TextEncoder } from "node:util"
import {
  Alert,
  AlertSink,
  Anomaly,
  AnomalySink,
  DeadLetterSink,
  type Event,
  EventSource,
  SinkError,
  SourceError
} from "@llm-sentinel/core"
import { Effect, FileSystem, Layer, Schema, Semaphore, Stream } from "effect"
import * as Counters from "./Counters.ts"

/**
 * The file could not be opened or read.
 *
 * @category errors
 * @since 0.1.0
 */
export class ReadFailed extends Schema.TaggedError<ReadFailed>("@llm-sentinel/adapters/File/ReadFailed")("ReadFailed", {
  message: Schema.String
}) {
  /** A missing file or a permission problem does not fix itself. */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A line could not be parsed.
 *
 * @category errors
 * @since 0.1.0
 */
export class MalformedLine extends Schema.TaggedError<MalformedLine>("@llm-sentinel/adapters/File/MalformedLine")(
  "MalformedLine",
  {
    /** 1-based line number in the file. */
    line: Schema.Number,
    message: Schema.String
  }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The one error of the file source.
 *
 * @category errors
 * @since 0.1.0
 */
export class FileError extends Schema.TaggedError<FileError>("@llm-sentinel/adapters/FileError")("FileError", {
  path: Schema.String,
  reason: Schema.Union([ReadFailed, MalformedLine])
}) {
  get isRetryable(): boolean {
    return this.reason.isRetryable
  }
  override get message(): string {
    return this.reason._tag === "MalformedLine"
      ? `${this.path}:${this.reason.line}: ${this.reason.message}`
      : `${this.path}: ${this.reason.message}`
  }
}

/**
 * Lines of a file as read in one go: `lines[i]` is line `firstLine + i` (1-based). Blank lines are kept.
 *
 * @category models
 * @since 0.1.0
 */
export interface LineBatch {
  readonly firstLine: number
  readonly lines: ReadonlyArray<string>
}

/**
 * Options shared by the readers.
 *
 * @category models
 * @since 0.1.0
 */
export interface ReadOptions {
  /** Bytes per read (default 1 MiB). Each read becomes one chunk of records. */
  readonly chunkSize?: number
}

interface Splitter {
  readonly decoder: TextDecoder
  rest: string
  line: number
}

const splitChunk = (s: Splitter, bufs: ReadonlyArray<Uint8Array>): LineBatch => {
  let text = s.rest
  for (const buf of bufs) text += s.decoder.decode(buf, { stream: true })
  const lines = text.split("\n")
  s.rest = lines.pop() ?? ""
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!
    if (l.charCodeAt(l.length - 1) === 13) lines[i] = l.slice(0, -1)
  }
  const batch = { firstLine: s.line + 1, lines }
  s.line += lines.length
  return batch
}

const flushSplitter = (s: Splitter): ReadonlyArray<LineBatch> => {
  let last = s.rest + s.decoder.decode()
  if (last === "") return []
  if (last.charCodeAt(last.length - 1) === 13) last = last.slice(0, -1)
  return [{ firstLine: s.line + 1, lines: [last] }]
}

/**
 * The file as batches of lines, one batch per read.
 *
 * @category constructors
 * @since 0.1.0
 */
export const lineBatches = (
  path: string,
  options: ReadOptions = {}
): Stream.Stream<LineBatch, FileError, FileSystem.FileSystem> =>
  Stream.unwrap(
    Effect.map(FileSystem.FileSystem, (fs) =>
      fs.stream(path, { chunkSize: options.chunkSize ?? 1 << 20 }).pipe(
        Stream.mapError((e) => new FileError({ path, reason: new ReadFailed({ message: e.message }) })),
        Stream.mapAccumArray(
          (): Splitter => ({ decoder: new TextDecoder("utf-8"), rest: "", line: 0 }),
          (s, bufs) => [s, [splitChunk(s, bufs)]] as const,
          { onHalt: flushSplitter }
        )
      )
    )
  )

const flatten = <A, E, R>(self: Stream.Stream<ReadonlyArray<A>, E, R>): Stream.Stream<A, E, R> =>
  Stream.flattenArray(Stream.filter(self, (xs): xs is readonly [A, ...Array<A>] => xs.length > 0))

/**
 * The lines of a text file, blank ones included.
 *
 * @category constructors
 * @since 0.1.0
 */
export const lines = (path: string, options?: ReadOptions): Stream.Stream<string, FileError, FileSystem.FileSystem> =>
  flatten(Stream.map(lineBatches(path, options), (b) => b.lines))

const parseJsonBatch = (path: string, batch: LineBatch): Effect.Effect<Array<unknown>, FileError> =>
  Effect.suspend(() => {
    const out: Array<unknown> = []
    const lines = batch.lines
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!
      if (line.length === 0 || line.trim().length === 0) continue
      try {
        out.push(JSON.parse(line))
      } catch (e) {
        return Effect.fail(
          new FileError({
            path,
            reason: new MalformedLine({ line: batch.firstLine + i, message: `not JSON: ${(e as Error).message}` })
          })
        )
      }
    }
    return Effect.succeed(out)
  })

/**
 * An NDJSON file as parsed JSON values, one per non-blank line. Validation is left to the consumer (for
 * telemetry, `Event.decodeBatch` on each chunk).
 *
 * @example
 * ```ts
 * import { File } from "@llm-sentinel/adapters"
 * import { Stream } from "effect"
 * const events = File.ndjson("events.ndjson").pipe(Stream.runCollect)
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const ndjson = (path: string, options?: ReadOptions): Stream.Stream<unknown, FileError, FileSystem.FileSystem> =>
  flatten(Stream.mapEffect(lineBatches(path, options), (b) => parseJsonBatch(path, b)))

/**
 * Options of the CSV readers.
 *
 * @category models
 * @since 0.1.0
 */
export interface CsvOptions extends ReadOptions {
  /** Field separator, one character (default `,`). */
  readonly delimiter?: string
}

/**
 * Splits one CSV line into fields (RFC 4180 quoting within the line). Returns a string describing the problem
 * when a quoted field is not terminated.
 *
 * @example
 * ```ts
 * import { File } from "@llm-sentinel/adapters"
 * File.parseCsvLine('a,"b,c",""""', ",") // ["a", "b,c", "\""]
 * ```
 * @category combinators
 * @since 0.1.0
 */
export const parseCsvLine = (line: string, delimiter = ","): Array<string> | string => {
  if (line.indexOf('"') === -1) return line.split(delimiter)
  const fields: Array<string> = []
  const d = delimiter.charCodeAt(0)
  let i = 0
  const n = line.length
  for (;;) {
    if (line.charCodeAt(i) === 34) {
      let field = ""
      let from = ++i
      for (;;) {
        const q = line.indexOf('"', from)
        if (q === -1) return `unterminated quoted field starting at column ${from}`
        if (line.charCodeAt(q + 1) === 34) {
          field += line.slice(from, q + 1)
          from = q + 2
          continue
        }
        field += line.slice(from, q)
        i = q + 1
        break
      }
      // tolerate spaces between the closing quote and the delimiter
      while (i < n && line.charCodeAt(i) !== d) i++
      fields.push(field)
    } else {
      let j = i
      while (j < n && line.charCodeAt(j) !== d) j++
      fields.push(line.slice(i, j))
      i = j
    }
    if (i >= n) return fields
    i++ // skip the delimiter
    if (i === n) {
      fields.push("")
      return fields
    }
  }
}

const parseCsvBatch = (
  path: string,
  batch: LineBatch,
  delimiter: string
): Effect.Effect<Array<ReadonlyArray<string>>, FileError> =>
  Effect.suspend(() => {
    const out: Array<ReadonlyArray<string>> = []
    const lines = batch.lines
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!
      if (line.length === 0) continue
      const fields = parseCsvLine(line, delimiter)
      if (typeof fields === "string") {
        return Effect.fail(
          new FileError({ path, reason: new MalformedLine({ line: batch.firstLine + i, message: fields }) })
        )
      }
      out.push(fields)
    }
    return Effect.succeed(out)
  })

/**
 * A CSV file as arrays of fields, one per non-blank line, the header row (if any) included as the first.
 * The cheapest CSV reader: pick columns by index.
 *
 * @category constructors
 * @since 0.1.0
 */
export const csvRows = (
  path: string,
  options: CsvOptions = {}
): Stream.Stream<ReadonlyArray<string>, FileError, FileSystem.FileSystem> => {
  const delimiter = options.delimiter ?? ","
  return flatten(Stream.mapEffect(lineBatches(path, options), (b) => parseCsvBatch(path, b, delimiter)))
}

/**
 * A CSV file with a header row as records keyed by the header's column names. A row with a different number of
 * fields than the header fails the stream.
 *
 * @example
 * ```ts
 * import { File } from "@llm-sentinel/adapters"
 * import { Stream } from "effect"
 * // time,value\n0,1.5\n → [{ time: "0", value: "1.5" }]
 * const rows = File.csv("latency.csv").pipe(Stream.runCollect)
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const csv = (
  path: string,
  options: CsvOptions = {}
): Stream.Stream<Readonly<Record<string, string>>, FileError, FileSystem.FileSystem> => {
  const delimiter = options.delimiter ?? ","
  return lineBatches(path, options).pipe(
    Stream.mapAccumArrayEffect(
      (): { header: ReadonlyArray<string> | undefined } => ({ header: undefined }),
      (state, batches) =>
        Effect.suspend(() => {
          const out: Array<Record<string, string>> = []
          for (const batch of batches) {
            const lines = batch.lines
            for (let i = 0; i < lines.length; i++) {
              const line = lines[i]!
              if (line.length === 0) continue
              const fields = parseCsvLine(line, delimiter)
              const header = state.header
              const problem =
                typeof fields === "string"
                  ? fields
                  : header !== undefined && fields.length !== header.length
                    ? `expected ${header.length} fields as in the header, found ${fields.length}`
                    : undefined
              if (problem !== undefined) {
                return Effect.fail(
                  new FileError({ path, reason: new MalformedLine({ line: batch.firstLine + i, message: problem }) })
                )
              }
              const row = fields as Array<string>
              if (header === undefined) {
                state.header = row
                continue
              }
              const record: Record<string, string> = {}
              for (let c = 0; c < header.length; c++) record[header[c]!] = row[c]!
              out.push(record)
            }
          }
          return Effect.succeed([state, out] as const)
        })
    )
  )
}

/**
 * Options of {@link layerSource}.
 *
 * @category models
 * @since 0.1.0
 */
export interface SourceOptions extends CsvOptions {
  /** The file to read. */
  readonly path: string
  /** `ndjson` (one telemetry event per line) or `csv` (a header row of event fields); default from the extension. */
  readonly format?: "ndjson" | "csv"
}

/** Event fields a CSV cell holds as a number (the others stay strings: `status`, names, ids). */
const numericFields = new Set([
  "latencyMs",
  "ttftMs",
  "inputTokens",
  "outputTokens",
  "cachedInputTokens",
  "reasoningTokens",
  "costUsd"
])
const epochMs = /^\d+(?:\.\d+)?$/

/**
 * One CSV row as a raw telemetry record: empty cells are absent; the numeric fields and an epoch-ms `timestamp`
 * become numbers (a cell that is not a number stays a string, so decoding names the field); `metrics.<name>`
 * columns fill `metrics` (numbers) and `attributes.<name>` columns fill `attributes` (strings).
 *
 * @example
 * ```ts
 * import { File } from "@llm-sentinel/adapters"
 * File.csvRecord(["timestamp", "service", "model", "latencyMs", "metrics.score"], ["1764600000000", "chat", "m", "812", "0.9"])
 * // { timestamp: 1764600000000, service: "chat", model: "m", latencyMs: 812, metrics: { score: 0.9 } }
 * ```
 * @category combinators
 * @since 0.1.0
 */
export const csvRecord = (header: ReadonlyArray<string>, row: ReadonlyArray<string>): Record<string, unknown> => {
  const record: Record<string, unknown> = {}
  for (let c = 0; c < header.length; c++) {
    const name = header[c]!
    const cell = row[c]?.trim() ?? ""
    if (cell === "") continue
    const number = Number(cell)
    if (name.startsWith("metrics.")) {
      const metrics = (record.metrics ??= {}) as Record<string, unknown>
      metrics[name.slice(8)] = Number.isFinite(number) ? number : cell
    } else if (name.startsWith("attributes.")) {
      const attributes = (record.attributes ??= {}) as Record<string, unknown>
      attributes[name.slice(11)] = cell
    } else if ((numericFields.has(name) && Number.isFinite(number)) || (name === "timestamp" && epochMs.test(cell))) {
      record[name] = number
    } else record[name] = cell
  }
  return record
}

const toSourceError = (e: FileError): SourceError.SourceError =>
  new SourceError.SourceError({ adapter: "file", reason: "Invalid", message: e.message, cause: e })

const malformed = (path: string, index: number, line: number, message: string, payload: string): Event.Rejected => ({
  index,
  errors: [{ path: "", message }],
  payload,
  source: `${path}:${line}`
})

/**
 * Parses one read of the file into a source batch: the records as raw values (decoded by the pipeline) with the
 * `path:line` each came from; a line that is not JSON, or a CSV row that does not parse or does not match the
 * header, is a rejected record with its text (dead-lettered by the pipeline), not the end of the run.
 */
const parseBatch = (
  path: string,
  batch: LineBatch,
  csv: { header: ReadonlyArray<string> | undefined; readonly delimiter: string } | undefined
): EventSource.SourceBatch | undefined => {
  const raw: Array<unknown> = []
  const origins: Array<string> = []
  const rejected: Array<Event.Rejected> = []
  const lines = batch.lines
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!
    if (text.trim().length === 0) continue
    const line = batch.firstLine + i
    if (csv === undefined) {
      try {
        raw.push(JSON.parse(text))
        origins.push(`${path}:${line}`)
      } catch (e) {
        rejected.push(malformed(path, rejected.length, line, `not JSON: ${(e as Error).message}`, text))
      }
      continue
    }
    const fields = parseCsvLine(text, csv.delimiter)
    if (typeof fields === "string") {
      rejected.push(malformed(path, rejected.length, line, fields, text))
    } else if (csv.header === undefined) {
      csv.header = fields.map((f) => f.trim())
    } else if (fields.length !== csv.header.length) {
      const message = `expected ${csv.header.length} fields as in the header, found ${fields.length}`
      rejected.push(malformed(path, rejected.length, line, message, text))
    } else {
      raw.push(csvRecord(csv.header, fields))
      origins.push(`${path}:${line}`)
    }
  }
  if (raw.length === 0 && rejected.length === 0) return undefined
  return { raw, events: [], ack: Effect.void, origins, ...(rejected.length > 0 ? { rejected } : {}) }
}

/**
 * An `EventSource` over a file of telemetry events, NDJSON or CSV (a header row naming event fields, see
 * {@link csvRecord}), one batch per read (about 1 MiB). The source ends at the end of the file, so the pipeline
 * drains and flushes its windows. Records that do not decode, lines that are not JSON and CSV rows that do not
 * parse are dead-lettered with their `path:line`; a file that cannot be read fails the run with a `SourceError`
 * (`Invalid`, not retryable).
 *
 * @example
 * ```ts
 * import * as NodeServices from "@effect/platform-node/NodeServices"
 * import { File } from "@llm-sentinel/adapters"
 * import { Layer } from "effect"
 * const source = File.layerSource({ path: "events.csv", format: "csv" }).pipe(Layer.provide(NodeServices.layer))
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layerSource = (
  options: SourceOptions
): Layer.Layer<EventSource.EventSource, never, FileSystem.FileSystem> =>
  Layer.effect(
    EventSource.EventSource,
    Effect.map(FileSystem.FileSystem, (fs) => {
      const format = options.format ?? (options.path.toLowerCase().endsWith(".csv") ? "csv" : "ndjson")
      const counters = Counters.make("file", options.path)
      return EventSource.EventSource.of({
        batches: Stream.suspend(() => {
          const csv = format === "csv" ? { header: undefined, delimiter: options.delimiter ?? "," } : undefined
          return lineBatches(options.path, options).pipe(
            Stream.provideService(FileSystem.FileSystem, fs),
            Stream.mapError(toSourceError),
            Stream.mapEffect((b) =>
              Effect.sync(() => parseBatch(options.path, b, csv)).pipe(
                Effect.tap((batch) =>
                  batch === undefined
                    ? Effect.void
                    : Effect.andThen(
                        counters.add("received", batch.raw.length + (batch.rejected?.length ?? 0)),
                        counters.add("dropped", batch.rejected?.length ?? 0)
                      )
                )
              )
            ),
            Stream.filter((b): b is EventSource.SourceBatch => b !== undefined)
          )
        })
      })
    })
  )

/**
 * Options of the file sinks.
 *
 * @category models
 * @since 0.1.0
 */
export interface SinkOptions {
  /** The NDJSON file written; created if missing. */
  readonly path: string
  /** Empty the file when the layer starts (default false: lines are appended to what it holds). */
  readonly truncate?: boolean
}

const encoder = new TextEncoder()

/** Opens `path` for appending for the layer's lifetime; writes are serialized, one `writeAll` per batch. */
const ndjsonWriter = <A>(
  options: SinkOptions,
  line: (a: A) => string
): Effect.Effect<
  (items: ReadonlyArray<A>) => Effect.Effect<void, SinkError.SinkError>,
  SinkError.SinkError,
  FileSystem.FileSystem | import("effect").Scope.Scope
> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const failed = (e: { readonly message: string }) =>
      new SinkError.SinkError({
        adapter: "file",
        reason: "Unavailable",
        message: `${options.path}: ${e.message}`,
        cause: e
      })
    const file = yield* fs.open(options.path, { flag: options.truncate === true ? "w" : "a" }).pipe(
      Effect.mapError(
        (e) =>
          new SinkError.SinkError({
            adapter: "file",
            reason: "Invalid",
            message: `${options.path}: ${e.message}`,
            cause: e
          })
      )
    )
    const lock = yield* Semaphore.make(1)
    const counters = Counters.make("file", options.path)
    return (items: ReadonlyArray<A>) =>
      items.length === 0
        ? Effect.void
        : Effect.suspend(() => {
            let text = ""
            for (const a of items) text += `${line(a)}\n`
            return counters.add("received", items.length).pipe(
              Effect.andThen(lock.withPermits(1)(file.writeAll(encoder.encode(text)))),
              Effect.tapError(() => counters.add("errors", 1)),
              Effect.mapError(failed),
              Effect.andThen(counters.add("sent", items.length))
            )
          })
  })

const anomalyJson = Schema.encodeSync(Schema.fromJsonString(Anomaly.Anomaly))
const alertEventJson = Schema.encodeSync(Schema.fromJsonString(Alert.AlertEvent))

/**
 * An `AnomalySink` appending one JSON line per anomaly (the `Anomaly.Anomaly` Schema's encoding) to a file. Each
 * `write` is one append; an anomaly replayed after a restart is written again under the same `id`.
 *
 * @example
 * ```ts
 * import * as NodeServices from "@effect/platform-node/NodeServices"
 * import { File } from "@llm-sentinel/adapters"
 * import { Layer } from "effect"
 * const sink = File.layerAnomalySink({ path: "anomalies.ndjson" }).pipe(Layer.provide(NodeServices.layer))
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layerAnomalySink = (
  options: SinkOptions
): Layer.Layer<AnomalySink.AnomalySink, SinkError.SinkError, FileSystem.FileSystem> =>
  Layer.effect(
    AnomalySink.AnomalySink,
    Effect.map(ndjsonWriter(options, anomalyJson), (write) => AnomalySink.AnomalySink.of({ write }))
  )

/**
 * An `AlertSink` appending one JSON line per alert event (the `Alert.AlertEvent` Schema's encoding, `_tag`
 * `opened`, `escalated`, `resolved` or `storm`) to a file.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerAlertSink = (
  options: SinkOptions
): Layer.Layer<AlertSink.AlertSink, SinkError.SinkError, FileSystem.FileSystem> =>
  Layer.effect(
    AlertSink.AlertSink,
    Effect.map(ndjsonWriter(options, alertEventJson), (write) => AlertSink.AlertSink.of({ write }))
  )

/**
 * A `DeadLetterSink` appending one JSON line per rejected record (`{ index, errors, payload, source? }`) to a
 * file. A payload that JSON cannot represent (a `bigint`, a cycle) is written as its string form.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerDeadLetterSink = (
  options: SinkOptions
): Layer.Layer<DeadLetterSink.DeadLetterSink, SinkError.SinkError, FileSystem.FileSystem> =>
  Layer.effect(
    DeadLetterSink.DeadLetterSink,
    Effect.map(
      ndjsonWriter(options, (r: Event.Rejected) => {
        try {
          return JSON.stringify(r)
        } catch {
          return JSON.stringify({ ...r, payload: String(r.payload) })
        }
      }),
      (write) => DeadLetterSink.DeadLetterSink.of({ write })
    )
  )
