/**
 * `sentinel replay`: backtests a detector configuration on a recorded file and, given labels, scores it.
 *
 * A thin layer over `Backtest.run` from `@llm-sentinel/detectors` (which documents the inputs, the detectors and
 * the label metrics): this module reads the files with `File` from `@llm-sentinel/adapters` (CSV in chunks of
 * about 1 MiB as one series, NDJSON as telemetry events, labels as CSV or NDJSON) and writes the outputs.
 *
 * Outputs: anomalies as NDJSON (`--out`, default stdout), one line per detector that fired
 * (`Backtest.AnomalyRecord`); `--scores FILE` writes one CSV line per input point in input order,
 * `time,value,score,anomalous` (NDJSON input adds a `series` column after `time`); `score` is **empty** for a
 * point no detector could use and for the warm-up rows. With `--window` the scores file has one line per signal
 * point, in the order windows close. The summary, and the label metrics, go to stdout when anomalies go to a
 * file, otherwise to stderr so that stdout stays NDJSON.
 *
 * @since 0.1.0
 */

import { basename, extname } from "node:path"
import { TextEncoder } from "node:util"
import { File } from "@llm-sentinel/adapters"
import { Extract } from "@llm-sentinel/core"
import { Backtest } from "@llm-sentinel/detectors"
import {
  Console,
  type Duration,
  Effect,
  FileSystem,
  Option,
  type PlatformError,
  type Scope,
  Stdio,
  Stream
} from "effect"
import { Argument, Command, Flag } from "effect/cli"

/**
 * Reads labelled incidents: CSV with a header (`start,end` windows, or a `time`/`timestamp` column of single
 * timestamps; a single unnamed column is read as timestamps; an optional `series` column), or NDJSON of
 * timestamps, `{ "time": … }` or `{ "start": …, "end": … }`, each with an optional `"series"`. Times are epoch
 * milliseconds or ISO 8601. The format is told from the first line: a JSON object or string (or a bare number
 * without a comma) means NDJSON, anything else is a CSV header.
 *
 * @category constructors
 * @since 0.1.0
 */
export const readLabels = (
  path: string
): Effect.Effect<Array<Backtest.Incident>, Backtest.InvalidInput | File.FileError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const lines = (yield* Stream.runCollect(File.lines(path))).map((l, i) => [i + 1, l.trim()] as const)
    const content = lines.filter(([, l]) => l !== "")
    const fail = (line: number, message: string) =>
      new Backtest.InvalidInput({ path, message: `line ${line}: ${message}` })
    const first = content[0]?.[1]
    if (first === undefined) return []
    const incidents: Array<Backtest.Incident> = []
    // a JSON object line contains commas of its own ({"start":…,"end":…}): only a bare number line is ambiguous
    // with a one-column CSV, and a CSV line with a comma is never a number
    const isJson =
      first.startsWith("{") ||
      (first.startsWith('"') && !first.includes(",")) ||
      (Number.isFinite(Number(first)) && !first.includes(","))
    if (isJson) {
      for (const [n, l] of content) {
        let v: unknown
        try {
          v = JSON.parse(l)
        } catch {
          return yield* fail(n, "not JSON")
        }
        const incident = Backtest.incident(v)
        if (typeof incident === "string") return yield* fail(n, incident)
        incidents.push(incident)
      }
      return incidents
    }
    const header = File.parseCsvLine(first)
    if (typeof header === "string") return yield* fail(content[0]![0], header)
    const names = header.map((h) => h.trim().toLowerCase())
    const ri = names.indexOf("series")
    let si = names.indexOf("start")
    let ei = names.indexOf("end")
    if (si === -1) {
      si = names.indexOf("time")
      if (si === -1) si = names.indexOf("timestamp")
      ei = -1
    }
    let rows = content.slice(1)
    if (si === -1) {
      if (names.length !== 1) {
        return yield* fail(content[0]![0], "expected a header with start,end or time columns")
      }
      si = 0
      if (Number.isFinite(Backtest.parseTime(header[0]))) rows = content // no header: the first line is a timestamp
    }
    for (const [n, l] of rows) {
      const fields = File.parseCsvLine(l)
      if (typeof fields === "string") return yield* fail(n, fields)
      const series = ri === -1 ? undefined : fields[ri]
      const incident = Backtest.incident(
        ei === -1 ? { time: fields[si] ?? "", series } : { start: fields[si] ?? "", end: fields[ei], series }
      )
      if (typeof incident === "string") return yield* fail(n, incident)
      incidents.push(incident)
    }
    return incidents
  })

/**
 * Options of a replay: the files, and the backtest's options.
 *
 * @category models
 * @since 0.1.0
 */
export interface ReplayOptions {
  /** The input file. */
  readonly file: string
  /** `csv` or `ndjson`; by default from the extension (`.csv`; `.ndjson`, `.jsonl`, `.json`). */
  readonly format?: "csv" | "ndjson"
  /** CSV: the column holding the time (epoch ms or ISO 8601). Default `time`. */
  readonly timeColumn?: string
  /** CSV: the column holding the value. Default `value`. */
  readonly valueColumn?: string
  /** Detector names, each with its default parameters (exclusive with `config`). */
  readonly detectors?: ReadonlyArray<string>
  /** A raw configuration (parsed JSON, see `Backtest.Config`). */
  readonly config?: unknown
  /** NDJSON per call: the metrics to score (default `Backtest.defaultEventMetrics`). */
  readonly metrics?: ReadonlyArray<string>
  /** NDJSON: aggregate into tumbling windows of this size per series and score the window signals. */
  readonly window?: Duration.Input | string
  /** NDJSON with `window`: the signals to score (default `Extract.defaultSignals`). */
  readonly signals?: ReadonlyArray<string>
  /** Where anomalies go as NDJSON; stdout when absent. */
  readonly out?: string
  /** Where the per-point scores CSV goes, if anywhere. */
  readonly scores?: string
  /** A labels file to score the anomalies against (see {@link readLabels}). */
  readonly labels?: string
  /** How long after an incident's end an anomaly still counts as detecting it. Default 0. */
  readonly tolerance?: Duration.Input | string
  /** Print progress to stderr about every second (default true). */
  readonly progress?: boolean
}

/**
 * What a replay did: the backtest's summary and the input format.
 *
 * @category models
 * @since 0.1.0
 */
export interface ReplaySummary extends Backtest.Summary {
  readonly format: "csv" | "ndjson"
}

interface Writer {
  readonly write: (text: string) => Effect.Effect<void, PlatformError.PlatformError>
}

const encoder = new TextEncoder()

const openWriter = (
  path: string | undefined
): Effect.Effect<Writer, PlatformError.PlatformError, FileSystem.FileSystem | Stdio.Stdio | Scope.Scope> =>
  Effect.gen(function* () {
    if (path === undefined) {
      const stdio = yield* Stdio.Stdio
      const sink = stdio.stdout({ endOnDone: false })
      return { write: (text) => (text === "" ? Effect.void : Stream.run(Stream.succeed(text), sink)) }
    }
    const fs = yield* FileSystem.FileSystem
    const file = yield* fs.open(path, { flag: "w" })
    return { write: (text) => (text === "" ? Effect.void : file.writeAll(encoder.encode(text))) }
  })

const formatOf = (file: string, format: "csv" | "ndjson" | undefined): "csv" | "ndjson" | undefined => {
  if (format !== undefined) return format
  const ext = extname(file).toLowerCase()
  return ext === ".csv" ? "csv" : ext === ".ndjson" || ext === ".jsonl" || ext === ".json" ? "ndjson" : undefined
}

const csvField = (s: string): string => (s.includes(",") || s.includes('"') ? `"${s.replaceAll('"', '""')}"` : s)

const num = (x: number): string => (Number.isFinite(x) ? String(Math.round(x * 1e4) / 1e4) : "")

/** A CSV input's score line echoes the value as written (cheaper than formatting the number, and exact). */
const seriesScoreLine = (s: Backtest.ScoreRow): string =>
  s.time === undefined
    ? `,${csvField(s.field ?? "")},,false\n`
    : `${s.time},${csvField(s.field ?? "")},${num(s.score)},${s.anomalous}\n`

const eventScoreLine = (s: Backtest.ScoreRow): string =>
  `${s.time},${s.series},${num(s.value)},${num(s.score)},${s.anomalous}\n`

/**
 * Runs a replay: `Backtest.run` over the file, anomalies (and scores) written as they come, labels scored.
 *
 * @example
 * ```ts
 * import { Replay } from "@llm-sentinel/server"
 * const summary = Replay.replay({ file: "latency.csv", detectors: ["zscore"], scores: "scores.csv" })
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const replay = (
  options: ReplayOptions
): Effect.Effect<
  ReplaySummary,
  Backtest.InvalidConfig | Backtest.InvalidInput | File.FileError | PlatformError.PlatformError,
  FileSystem.FileSystem | Stdio.Stdio
> =>
  Effect.scoped(
    Effect.gen(function* () {
      const format = formatOf(options.file, options.format)
      if (format === undefined) {
        return yield* new Backtest.InvalidInput({
          path: options.file,
          message: "cannot tell the format from the extension: pass --format csv or --format ndjson"
        })
      }
      const incidents = options.labels === undefined ? undefined : yield* readLabels(options.labels)
      const out = yield* openWriter(options.out)
      const scoresOut = options.scores === undefined ? undefined : yield* openWriter(options.scores)
      if (scoresOut !== undefined) {
        yield* scoresOut.write(
          format === "csv" ? "time,value,score,anomalous\n" : "time,series,value,score,anomalous\n"
        )
      }
      const scoreLine = format === "csv" ? seriesScoreLine : eventScoreLine
      const input =
        format === "csv"
          ? Backtest.series(File.csvRows(options.file), {
              name: basename(options.file),
              ...(options.timeColumn !== undefined ? { timeColumn: options.timeColumn } : {}),
              ...(options.valueColumn !== undefined ? { valueColumn: options.valueColumn } : {})
            })
          : Backtest.events(File.ndjson(options.file))
      const summary = yield* Backtest.run(input, {
        ...(options.detectors !== undefined ? { detectors: options.detectors } : {}),
        ...(options.config !== undefined ? { config: options.config } : {}),
        ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
        ...(options.window !== undefined ? { window: options.window } : {}),
        ...(options.signals !== undefined ? { signals: options.signals } : {}),
        ...(incidents !== undefined ? { incidents } : {}),
        ...(options.tolerance !== undefined ? { tolerance: options.tolerance } : {}),
        onAnomalies: (anomalies) => {
          let text = ""
          for (const a of anomalies) text += `${JSON.stringify(a)}\n`
          return out.write(text)
        },
        ...(scoresOut !== undefined
          ? {
              onScores: (scores: ReadonlyArray<Backtest.ScoreRow>) => {
                let text = ""
                for (const s of scores) text += scoreLine(s)
                return scoresOut.write(text)
              }
            }
          : {}),
        ...(options.progress === false
          ? {}
          : {
              onProgress: (p: Backtest.Progress) =>
                Console.error(
                  `replay: ${p.rows.toLocaleString("en")} rows, ${Math.round(p.rows / Math.max(p.elapsedMs / 1000, 1e-3)).toLocaleString("en")} rows/s, ${p.anomalies} anomalies`
                )
            })
      })
      const tell = options.out === undefined ? Console.error : Console.log
      for (const line of summary.rejectedExamples) yield* Console.error(`replay: rejected ${line}`)
      if (summary.rejected > summary.rejectedExamples.length) {
        yield* Console.error(`replay: … and ${summary.rejected - summary.rejectedExamples.length} more rejected`)
      }
      yield* tell(Backtest.formatSummary(summary))
      return { ...summary, format }
    })
  )

// ---------------------------------------------------------------------------------------------------------------
// Command
// ---------------------------------------------------------------------------------------------------------------

const readConfigFile = (path: string): Effect.Effect<unknown, Backtest.InvalidConfig, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs
      .readFileString(path)
      .pipe(
        Effect.mapError(
          (e) => new Backtest.InvalidConfig({ issues: [{ path: "", message: `cannot read ${path}: ${e.message}` }] })
        )
      )
    return yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) =>
        new Backtest.InvalidConfig({ issues: [{ path: "", message: `${path} is not JSON: ${(e as Error).message}` }] })
    })
  })

/**
 * The `replay` subcommand.
 *
 * @example
 * ```sh
 * sentinel replay latency.csv --value-column p95 --detector zscore --detector ewma --scores scores.csv
 * sentinel replay events.ndjson --config replay.json --labels incidents.csv --tolerance "5 minutes" --out anomalies.ndjson
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const command = Command.make(
  "replay",
  {
    file: Argument.File("file", { mustExist: true }).pipe(
      Argument.withDescription("The recorded input: CSV with a header row, or NDJSON telemetry events")
    ),
    format: Flag.Literals("format", ["csv", "ndjson"]).pipe(
      Flag.withDescription("Input format (default: from the file extension)"),
      Flag.optional
    ),
    timeColumn: Flag.String("time-column").pipe(
      Flag.withDescription("CSV column with the time, epoch ms or ISO 8601"),
      Flag.withDefault("time")
    ),
    valueColumn: Flag.String("value-column").pipe(
      Flag.withDescription("CSV column with the value"),
      Flag.withDefault("value")
    ),
    detector: Flag.String("detector").pipe(
      Flag.withAlias("d"),
      Flag.withDescription(
        `A detector to run with default parameters, by name; repeatable (default ${Backtest.defaultDetectors.join(", ")})`
      ),
      Flag.atLeast(0)
    ),
    config: Flag.File("config", { mustExist: true }).pipe(
      Flag.withDescription(
        'JSON: { "detectors": [{ "type": "zscore", "params": {} }], "thresholds": { "warning": 4, "critical": 6 } }'
      ),
      Flag.optional
    ),
    window: Flag.String("window").pipe(
      Flag.withDescription(
        'NDJSON: aggregate per series into tumbling windows of this size ("1m", "30s", "1 minute") and score the signals, as live'
      ),
      Flag.optional
    ),
    signal: Flag.String("signal").pipe(
      Flag.withDescription(
        `NDJSON with --window: a signal to score, repeatable (default ${Extract.defaultSignals.join(", ")})`
      ),
      Flag.atLeast(0)
    ),
    metric: Flag.String("metric").pipe(
      Flag.withDescription(
        `NDJSON: a metric to score, repeatable (default ${Backtest.defaultEventMetrics.join(", ")})`
      ),
      Flag.atLeast(0)
    ),
    out: Flag.String("out").pipe(
      Flag.withAlias("o"),
      Flag.withDescription("Write anomalies (NDJSON) here instead of stdout"),
      Flag.optional
    ),
    scores: Flag.String("scores").pipe(
      Flag.withDescription(
        "Write per-point scores here as CSV: time,value,score,anomalous (score empty while the detectors warm up)"
      ),
      Flag.optional
    ),
    labels: Flag.File("labels", { mustExist: true }).pipe(
      Flag.withDescription(
        "Labelled incidents (CSV or NDJSON: timestamps or start,end windows): print precision, recall, F1, delay"
      ),
      Flag.optional
    ),
    tolerance: Flag.String("tolerance").pipe(
      Flag.withDescription('How late after an incident\'s end an anomaly still detects it: ms, "5m" or "5 minutes"'),
      Flag.withDefault("0")
    ),
    quiet: Flag.Boolean("quiet").pipe(Flag.withDescription("No progress on stderr"), Flag.withDefault(false))
  },
  Effect.fn(function* (flags) {
    const tolerance = Backtest.parseDuration(flags.tolerance)
    if (tolerance === undefined) {
      return yield* new Backtest.InvalidConfig({
        issues: [{ path: "tolerance", message: `cannot read duration ${JSON.stringify(flags.tolerance)}` }]
      })
    }
    const config = Option.isSome(flags.config) ? yield* readConfigFile(flags.config.value) : undefined
    yield* replay({
      file: flags.file,
      timeColumn: flags.timeColumn,
      valueColumn: flags.valueColumn,
      ...(flags.detector.length > 0 ? { detectors: flags.detector } : {}),
      ...(config !== undefined ? { config } : {}),
      ...(flags.metric.length > 0 ? { metrics: flags.metric } : {}),
      ...(flags.signal.length > 0 ? { signals: flags.signal } : {}),
      ...(Option.isSome(flags.window) ? { window: flags.window.value as Duration.Input } : {}),
      ...(Option.isSome(flags.format) ? { format: flags.format.value } : {}),
      ...(Option.isSome(flags.out) ? { out: flags.out.value } : {}),
      ...(Option.isSome(flags.scores) ? { scores: flags.scores.value } : {}),
      ...(Option.isSome(flags.labels) ? { labels: flags.labels.value } : {}),
      tolerance,
      progress: !flags.quiet
    })
  })
).pipe(Command.withDescription("Backtest detectors on a recorded CSV or NDJSON file, optionally against labels"))
