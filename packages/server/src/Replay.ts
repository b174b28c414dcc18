/**
 * `sentinel replay`: backtests a detector configuration on a recorded file and, given labels, scores it.
 *
 * The file is streamed in chunks of about 1 MiB and every chunk goes through `Detector.makeDetectFn`, the same
 * detection code the live pipeline runs. Inputs:
 * - **CSV** with a header row: one series, time from `--time-column` (epoch milliseconds or ISO 8601) and value
 *   from `--value-column`. A row whose time cannot be read is counted as rejected; a row whose value is empty or
 *   not a number is kept (the detectors ignore it without learning).
 * - **NDJSON** telemetry events: decoded with `Event.decodeBatch`, with live ingest's plausible event times
 *   (`Event.defaultTimeBounds`; invalid events are counted and the first few reported), turned into per-call metric points with `Extract.makeExtractFn`, one series per
 *   `service × model × metric`. By default every call is scored (`--metric` chooses the metrics). With
 *   `--window 1m` (or `30s`, `1h`, `5 minutes`) the points are aggregated per series into tumbling windows and turned into signals
 *   (`latency.p95`, `error.rate`, …) with `Window.makeWindower` and `Window.makeSignalFn`, as the live pipeline
 *   does (processing time follows event time), and the signals are scored; a signal point's time is its
 *   window's start, and its anomalies have `row: null`.
 *
 * Detectors: those named (`--detector`, with `Verdict.defaultThresholds` unless a `--config` gives thresholds), or
 * without names the default configuration `Defaults.config`: its detectors per metric and its own thresholds.
 *
 * Outputs: anomalies as NDJSON (`--out`, default stdout), one line per detector that fired; `--scores FILE`
 * writes one CSV line per input point in input order, `time,value,score,anomalous` (NDJSON input adds a `series`
 * column after `time`), where `score` is the highest score of the configured detectors that were ready and
 * `anomalous` whether any fired. `score` is **empty** for a point no detector could use (a non-finite value) and for
 * the warm-up rows, where no detector is ready yet: a warm-up row has no score, not a score of 0 or 1000. With `--window` the scores file has one line per
 * signal point, in the order windows close. The summary, and the label metrics, go to
 * stdout when anomalies go to a file, otherwise to stderr so that stdout stays NDJSON.
 *
 * Label metrics ({@link evaluate}), with `tolerance` (default 0):
 * - an **incident** is a labelled window `[start, end]` (a single timestamp is the window `[t, t]`);
 * - an incident is **detected** when at least one anomalous point has a time in `[start, end + tolerance]`;
 * - **recall** = detected incidents / incidents;
 * - **precision** = anomalous points whose time is inside some `[start, end + tolerance]` / anomalous points.
 *   Precision is point-wise: an anomalous point outside every window is a false positive, and every anomalous
 *   point inside a window is a true positive. An anomalous point is one point of one series on which at least
 *   one detector fired (several detectors firing on it count once);
 * - **F1** = 2·precision·recall / (precision + recall), 0 when both are 0;
 * - **mean detection delay** = mean over detected incidents of (when the first anomalous point in
 *   `[start, end + tolerance]` could first be known) − start, in milliseconds: a row is known at its time, a window
 *   signal (`--window`) at its window's end.
 * - an incident may name a **series** (`series` column or field: the series id, or a `/`-bounded suffix such as
 *   `latency.p95`): then only that series' anomalies detect it or count as inside it.
 * Precision is `null` when nothing fired, recall `null` when there are no incidents.
 *
 * @since 0.1.0
 */

import { basename, extname } from "node:path"
import { TextEncoder } from "node:util"
import { File } from "@llm-sentinel/adapters"
import { Detector, Event, Extract, Series, Verdict, Window } from "@llm-sentinel/core"
import * as Detectors from "@llm-sentinel/detectors"
import {
  Clock,
  Console,
  Duration,
  Effect,
  Fiber,
  FileSystem,
  Option,
  type PlatformError,
  Schedule,
  Schema,
  SchemaIssue,
  type Scope,
  Stdio,
  Stream
} from "effect"
import { Argument, Command, Flag } from "effect/cli"

// ---------------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------------

/**
 * One problem in a configuration: where (`detectors.0.params.window`) and what.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConfigIssue {
  readonly path: string
  readonly message: string
}

/**
 * The detector configuration is invalid: every problem with its path.
 *
 * @category errors
 * @since 0.1.0
 */
export class ReplayConfigError extends Schema.TaggedError<ReplayConfigError>("@llm-sentinel/server/ReplayConfigError")(
  "ReplayConfigError",
  {
    issues: Schema.Array(Schema.Struct({ path: Schema.String, message: Schema.String }))
  }
) {
  override get message(): string {
    return `invalid replay configuration:\n${this.issues.map((i) => `  ${i.path || "(root)"}: ${i.message}`).join("\n")}`
  }
}

/**
 * The input or labels file cannot be used (a missing column, an unknown format).
 *
 * @category errors
 * @since 0.1.0
 */
export class ReplayInputError extends Schema.TaggedError<ReplayInputError>("@llm-sentinel/server/ReplayInputError")(
  "ReplayInputError",
  {
    path: Schema.String,
    message: Schema.String
  }
) {}

const Finite = Schema.Finite.annotate({ message: "expected a finite number" })

/**
 * A replay configuration file, JSON:
 * `{ "detectors": [{ "type": "zscore", "params": { "window": 128 } }], "thresholds": { "warning": 4, "critical": 6 } }`.
 * Unknown fields are errors. `params` are checked against the detector's own `ParamsSchema`.
 *
 * @category models
 * @since 0.1.0
 */
export const ReplayConfig = Schema.Struct({
  /** The detectors to run, by their module `name` (`zscore`, `ewma`, …), each with optional parameters. */
  detectors: Schema.Array(
    Schema.Struct({
      type: Schema.String,
      params: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown))
    })
  ).check(Schema.isMinLength(1, { message: "expected at least one detector" })),
  /** Score thresholds of the deciding step (default `Verdict.defaultThresholds`, warning 4, critical 6). */
  thresholds: Schema.optionalKey(
    Schema.Struct({ info: Schema.optionalKey(Finite), warning: Finite, critical: Finite }).check(
      Schema.makeFilter((t) => t.critical >= t.warning || "expected critical ≥ warning")
    )
  )
})

/**
 * @category models
 * @since 0.1.0
 */
export type ReplayConfig = typeof ReplayConfig.Type

/**
 * A detector module (see `Catalog` in `@llm-sentinel/detectors`).
 *
 * @category models
 * @since 0.1.0
 */
export type DetectorModule = Detectors.Catalog.Module

/**
 * Whether a module's detector takes one number per point (replay feeds one series at a time; peer-group and
 * vector detectors need more), probed through its default instance's `accepts`.
 */
const isScalar = (m: DetectorModule): boolean => {
  try {
    return m.make().accepts(1)
  } catch {
    return false
  }
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()
const decodeOptions = { errors: "all", onExcessProperty: "error" } as const

const issuesOf = (issue: SchemaIssue.Issue, prefix: ReadonlyArray<PropertyKey>): Array<ConfigIssue> =>
  formatter(issue).issues.map((i) => ({
    path: [...prefix, ...(i.path ?? []).map((p) => (typeof p === "object" && p !== null ? p.key : p))]
      .map(String)
      .join("."),
    message: i.message
  }))

/**
 * The detectors and deciding step a replay runs.
 *
 * @category models
 * @since 0.1.0
 */
export interface Resolved {
  /** The detectors, for every series, or chosen per series (the default configuration picks them per metric). */
  readonly detectors: Detector.Selection
  readonly thresholds: Verdict.Thresholds
}

/**
 * What a replay runs when it is given neither detector names nor a configuration: `Defaults.config`, its detectors
 * per metric and its own thresholds (the same as `sentinel serve`).
 *
 * @category constructors
 * @since 0.2.0
 */
export const defaultResolved = (): Resolved => {
  const config = Detectors.Defaults.config
  return { detectors: config.detectOptions().detectors, thresholds: config.thresholds }
}

/**
 * Validates a raw configuration (parsed JSON) and builds its detectors; every problem is reported with its path.
 *
 * @example
 * ```ts
 * import { Replay } from "@llm-sentinel/server"
 * const resolved = Replay.resolveConfig({ detectors: [{ type: "zscore", params: { window: 64 } }] })
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const resolveConfig = (raw: unknown): Effect.Effect<Resolved, ReplayConfigError> =>
  Effect.suspend(() => {
    const decoded = Schema.decodeUnknownExit(ReplayConfig)(raw, decodeOptions)
    if (decoded._tag === "Failure") {
      const failure = decoded.cause.reasons.find((r) => r._tag === "Fail")
      const issues =
        failure !== undefined && failure._tag === "Fail"
          ? issuesOf(failure.error.issue, [])
          : [{ path: "", message: "invalid configuration" }]
      return Effect.fail(new ReplayConfigError({ issues }))
    }
    const config = decoded.value
    const modules = Detectors.Catalog.modules()
    const issues: Array<ConfigIssue> = []
    const detectors: Array<Detector.Any> = []
    config.detectors.forEach((spec, i) => {
      const module = modules.find((m) => m.name === spec.type)
      if (module === undefined || !isScalar(module)) {
        const known = modules
          .filter(isScalar)
          .map((m) => m.name)
          .join(", ")
        issues.push({
          path: `detectors.${i}.type`,
          message:
            module !== undefined
              ? `detector "${spec.type}" takes more than one number per point (peers or a vector) and cannot be replayed on one series`
              : `unknown detector "${spec.type}" (known: ${known || "none"})`
        })
        return
      }
      let params: unknown = spec.params ?? {}
      if (module.ParamsSchema !== undefined) {
        const p = Schema.decodeUnknownExit(module.ParamsSchema)(params, decodeOptions)
        if (p._tag === "Failure") {
          const failure = p.cause.reasons.find((r) => r._tag === "Fail")
          if (failure !== undefined && failure._tag === "Fail") {
            issues.push(...issuesOf(failure.error.issue, ["detectors", i, "params"]))
          }
          return
        }
        params = p.value
      }
      detectors.push(module.make(params) as Detector.Any)
    })
    if (issues.length > 0) return Effect.fail(new ReplayConfigError({ issues }))
    return Effect.succeed({ detectors, thresholds: config.thresholds ?? Verdict.defaultThresholds })
  })

// ---------------------------------------------------------------------------------------------------------------
// Labels and metrics
// ---------------------------------------------------------------------------------------------------------------

/**
 * A labelled incident, `[start, end]` in epoch milliseconds (`start === end` for a single timestamp).
 *
 * @category models
 * @since 0.1.0
 */
export interface Incident {
  readonly start: number
  readonly end: number
  /**
   * The series the incident happened on (optional): its id (`service/model/metric`) or a `/`-bounded suffix of it
   * (`latency.p95`, `gpt-4o/latency.p95`). Only anomalies of that series detect it or count as inside it; an
   * incident without a series applies to every series.
   */
  readonly series?: string
}

/**
 * How well the anomalies match the labels (see the module documentation for the definitions).
 *
 * @category models
 * @since 0.1.0
 */
export interface LabelMetrics {
  readonly incidents: number
  readonly detected: number
  readonly anomalies: number
  readonly truePositives: number
  readonly falsePositives: number
  readonly precision: number | null
  readonly recall: number | null
  readonly f1: number
  /**
   * Mean over detected incidents of (when the first anomaly in the incident could first be known − start), in ms:
   * a row's verdict is known at the row's time, a window signal's at the window's end. `null` when nothing was
   * detected.
   */
  readonly meanDelayMs: number | null
  readonly toleranceMs: number
}

const lowerBound = (xs: Float64Array, x: number): number => {
  let lo = 0
  let hi = xs.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (xs[mid]! < x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The first index whose value is greater than x. */
const upperBound = (xs: Float64Array, x: number): number => {
  let lo = 0
  let hi = xs.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (xs[mid]! <= x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Whether an anomaly of series `id` belongs to an incident that names `series` (exact, or a `/`-bounded suffix). */
export const seriesMatches = (id: string, series: string | undefined): boolean =>
  series === undefined || id === series || id.endsWith(`/${series}`)

/** Merges `[start, end + tolerance]` windows into sorted disjoint ranges. */
const mergeWindows = (incidents: ReadonlyArray<Incident>, toleranceMs: number): Array<[number, number]> =>
  incidents
    .map((w) => [w.start, w.end + toleranceMs] as [number, number])
    .sort((a, b) => a[0] - b[0])
    .reduce<Array<[number, number]>>((acc, [s, e]) => {
      const last = acc[acc.length - 1]
      if (last !== undefined && s <= last[1]) last[1] = Math.max(last[1], e)
      else acc.push([s, e])
      return acc
    }, [])

const inside = (ranges: ReadonlyArray<readonly [number, number]>, t: number): boolean => {
  let lo = 0
  let hi = ranges.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (ranges[mid]![1] < t) lo = mid + 1
    else hi = mid
  }
  return lo < ranges.length && ranges[lo]![0] <= t
}

/**
 * Options of {@link evaluate}.
 *
 * @category models
 * @since 0.2.0
 */
export interface EvaluateOptions {
  /** The series id of each anomaly (parallel to the times), for incidents that name a series. */
  readonly series?: ArrayLike<string>
  /** How long after its time an anomaly's verdict is known (a window signal: the window size). Default 0. */
  readonly knownAfterMs?: number
}

/**
 * Scores anomaly times against labelled incidents.
 *
 * @example
 * ```ts
 * import { Replay } from "@llm-sentinel/server"
 * Replay.evaluate([105, 300], [{ start: 100, end: 200 }], 0)
 * // { incidents: 1, detected: 1, precision: 0.5, recall: 1, meanDelayMs: 5, … }
 * ```
 * @category combinators
 * @since 0.1.0
 */
export const evaluate = (
  anomalyTimes: ArrayLike<number>,
  incidents: ReadonlyArray<Incident>,
  toleranceMs = 0,
  options: EvaluateOptions = {}
): LabelMetrics => {
  const knownAfter = options.knownAfterMs ?? 0
  const ids = options.series
  const n = anomalyTimes.length
  // anomaly times sorted, with their series ids alongside
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => anomalyTimes[a]! - anomalyTimes[b]!)
  const times = Float64Array.from(order, (i) => anomalyTimes[i]!)
  const seriesOf = (k: number): string => (ids === undefined ? "" : ids[order[k]!]!)
  let detected = 0
  let delaySum = 0
  for (const incident of incidents) {
    for (let k = lowerBound(times, incident.start); k < n && times[k]! <= incident.end + toleranceMs; k++) {
      if (incident.series !== undefined && !seriesMatches(seriesOf(k), incident.series)) continue
      detected++
      delaySum += times[k]! + knownAfter - incident.start
      break
    }
  }
  const general = mergeWindows(
    incidents.filter((w) => w.series === undefined),
    toleranceMs
  )
  const named = new Map<string, Array<[number, number]>>()
  for (const name of new Set(incidents.flatMap((w) => (w.series === undefined ? [] : [w.series])))) {
    named.set(
      name,
      mergeWindows(
        incidents.filter((w) => w.series === name),
        toleranceMs
      )
    )
  }
  let truePositives = 0
  if (named.size === 0) {
    for (const [s, e] of general) truePositives += upperBound(times, e) - lowerBound(times, s)
  } else {
    for (let k = 0; k < n; k++) {
      const t = times[k]!
      let hit = inside(general, t)
      if (!hit) {
        const id = seriesOf(k)
        for (const [name, ranges] of named) {
          if (seriesMatches(id, name) && inside(ranges, t)) {
            hit = true
            break
          }
        }
      }
      if (hit) truePositives++
    }
  }
  const anomalies = n
  const precision = anomalies === 0 ? null : truePositives / anomalies
  const recall = incidents.length === 0 ? null : detected / incidents.length
  const p = precision ?? 0
  const r = recall ?? 0
  return {
    incidents: incidents.length,
    detected,
    anomalies,
    truePositives,
    falsePositives: anomalies - truePositives,
    precision,
    recall,
    f1: p + r === 0 ? 0 : (2 * p * r) / (p + r),
    meanDelayMs: detected === 0 ? null : delaySum / detected,
    toleranceMs
  }
}

const unitMs: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000
}

/**
 * Reads a duration written on a command line: milliseconds (`"300000"`), a compact form (`"1m"`, `"30s"`, `"2h"`,
 * `"1d"`, `"500ms"`, `"1h30m"`), or Effect's long form (`"1 minute"`, `"5 minutes"`); `undefined` when it is
 * none of these.
 *
 * @example
 * ```ts
 * import { Replay } from "@llm-sentinel/server"
 * Replay.parseDuration("1m") // Duration of 60000 ms
 * ```
 * @category combinators
 * @since 0.2.0
 */
export const parseDuration = (raw: Duration.Input | string): Duration.Duration | undefined => {
  if (typeof raw !== "string") return Option.getOrUndefined(Duration.fromInput(raw as Duration.Input))
  const text = raw.trim().toLowerCase()
  if (/^\d+(\.\d+)?$/.test(text)) return Duration.millis(Number(text))
  const compact = /^(?:(\d+(?:\.\d+)?)(ms|sec|min|s|m|h|d|w))+$/
  if (compact.test(text)) {
    let ms = 0
    for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|sec|min|s|m|h|d|w)/g)) ms += Number(n) * unitMs[unit!]!
    return Duration.millis(ms)
  }
  return Option.getOrUndefined(Duration.fromInput(text as Duration.Input))
}

/**
 * Reads a time as epoch milliseconds (a number) or an ISO 8601 string; `NaN` when it is neither.
 *
 * @category combinators
 * @since 0.1.0
 */
export const parseTime = (raw: unknown): number => {
  if (typeof raw === "number") return Number.isFinite(raw) ? raw : Number.NaN
  if (typeof raw !== "string") return Number.NaN
  const s = raw.trim()
  if (s === "") return Number.NaN
  const n = Number(s)
  if (Number.isFinite(n)) return n
  return Date.parse(s)
}

const incidentOf = (start: unknown, end: unknown, series?: unknown): Incident | string => {
  const s = parseTime(start)
  const e = end === undefined || end === "" ? s : parseTime(end)
  if (!Number.isFinite(s)) return `cannot read time ${JSON.stringify(start)}`
  if (!Number.isFinite(e)) return `cannot read time ${JSON.stringify(end)}`
  if (e < s) return `end ${JSON.stringify(end)} is before start ${JSON.stringify(start)}`
  if (series !== undefined && series !== null && series !== "") {
    if (typeof series !== "string") return `series must be a string, got ${JSON.stringify(series)}`
    return { start: s, end: e, series: series.trim() }
  }
  return { start: s, end: e }
}

const incidentFromJson = (v: unknown): Incident | string => {
  if (typeof v === "number" || typeof v === "string") return incidentOf(v, undefined)
  if (typeof v === "object" && v !== null) {
    const o = v as Record<string, unknown>
    if (o.start !== undefined) return incidentOf(o.start, o.end, o.series)
    const t = o.time ?? o.timestamp
    if (t !== undefined) return incidentOf(t, undefined, o.series)
  }
  return "expected a timestamp, {time}, or {start, end}, each with an optional series"
}

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
): Effect.Effect<Array<Incident>, ReplayInputError | File.FileError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const lines = (yield* Stream.runCollect(File.lines(path))).map((l, i) => [i + 1, l.trim()] as const)
    const content = lines.filter(([, l]) => l !== "")
    const fail = (line: number, message: string) => new ReplayInputError({ path, message: `line ${line}: ${message}` })
    const first = content[0]?.[1]
    if (first === undefined) return []
    const incidents: Array<Incident> = []
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
        const incident = incidentFromJson(v)
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
      if (Number.isFinite(parseTime(header[0]))) rows = content // no header: the first line is a timestamp
    }
    for (const [n, l] of rows) {
      const fields = File.parseCsvLine(l)
      if (typeof fields === "string") return yield* fail(n, fields)
      const incident = incidentOf(fields[si], ei === -1 ? undefined : fields[ei], ri === -1 ? undefined : fields[ri])
      if (typeof incident === "string") return yield* fail(n, incident)
      incidents.push(incident)
    }
    return incidents
  })

// ---------------------------------------------------------------------------------------------------------------
// Replay
// ---------------------------------------------------------------------------------------------------------------

/**
 * The metrics scored by default in NDJSON input: per-call latency, time to first token, output and total tokens,
 * and cost. (`error` and `requests` are 0/1 and constant per call: watch them as windowed rates instead.)
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultEventMetrics: ReadonlyArray<string> = ["latency", "ttft", "outputTokens", "totalTokens", "cost"]

/**
 * The names of the detectors run when neither `detectors` nor `config` is given (`Defaults.config`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultDetectors: ReadonlyArray<string> = Detectors.Defaults.config.detectors().map((d) => d.name)

/**
 * Options of a replay.
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
  /** A raw configuration (parsed JSON, see {@link ReplayConfig}). */
  readonly config?: unknown
  /** NDJSON per call: the metrics to score (default {@link defaultEventMetrics}; `metrics.<name>` for custom ones). */
  readonly metrics?: ReadonlyArray<string>
  /**
   * NDJSON: aggregate into tumbling windows of this size per series and score the window signals, as the live
   * pipeline does, instead of scoring every call.
   */
  readonly window?: Duration.Input | string
  /** NDJSON with `window`: the signals to score (default `Extract.defaultSignals`: `latency.p95`, …). */
  readonly signals?: ReadonlyArray<string>
  /** Where anomalies go as NDJSON; stdout when absent. */
  readonly out?: string
  /** Where the per-point scores CSV goes, if anywhere. */
  readonly scores?: string
  /** A labels file to score the anomalies against. */
  readonly labels?: string
  /** How long after an incident's end an anomaly still counts as detecting it. Default 0. */
  readonly tolerance?: Duration.Input | string
  /** Print progress to stderr about every second (default true). */
  readonly progress?: boolean
}

/**
 * What a replay did.
 *
 * @category models
 * @since 0.1.0
 */
export interface ReplaySummary {
  readonly format: "csv" | "ndjson"
  /** Data rows (CSV, header excluded) or records (NDJSON) read. */
  readonly rows: number
  /** Rows that could not be used (unreadable time, invalid event). */
  readonly rejected: number
  /** Points scored (one per usable CSV row; one per metric per event for NDJSON). */
  readonly points: number
  readonly series: number
  /** Anomalous points (a point on which several detectors fired counts once). */
  readonly anomalousPoints: number
  /** Anomaly records written (one per detector that fired). */
  readonly anomalies: number
  readonly detectors: ReadonlyArray<string>
  readonly labels?: LabelMetrics
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

const anomalyLine = (s: Detector.Scored, row: number): string =>
  `${JSON.stringify({
    time: s.point.time,
    timestamp: new Date(s.point.time).toISOString(),
    series: s.point.key.id,
    detector: s.detector,
    severity: s.verdict.severity,
    value: s.point.value,
    score: Math.round(s.verdict.score * 1e4) / 1e4,
    expected: Number.isFinite(s.verdict.expected) ? s.verdict.expected : null,
    lower: Number.isFinite(s.verdict.lower) ? s.verdict.lower : null,
    upper: Number.isFinite(s.verdict.upper) ? s.verdict.upper : null,
    reason: s.verdict.reason,
    row: row > 0 ? row : null
  })}\n`

/** Mutable counters of one run, read by the progress fiber. */
interface Counters {
  rows: number
  rejected: number
  points: number
  anomalousPoints: number
  anomalies: number
}

const MAX_REPORTED = 5

/**
 * Runs a replay: reads the file chunk by chunk, detects, writes anomalies (and scores), and scores labels.
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
  ReplayConfigError | ReplayInputError | File.FileError | PlatformError.PlatformError,
  FileSystem.FileSystem | Stdio.Stdio
> =>
  Effect.scoped(
    Effect.gen(function* () {
      const format = formatOf(options.file, options.format)
      if (format === undefined) {
        return yield* new ReplayInputError({
          path: options.file,
          message: "cannot tell the format from the extension: pass --format csv or --format ndjson"
        })
      }
      if (options.config !== undefined && options.detectors !== undefined && options.detectors.length > 0) {
        return yield* new ReplayConfigError({
          issues: [{ path: "", message: "give either detector names or a configuration, not both" }]
        })
      }
      const resolved =
        options.config === undefined && (options.detectors === undefined || options.detectors.length === 0)
          ? defaultResolved()
          : yield* resolveConfig(options.config ?? { detectors: (options.detectors ?? []).map((type) => ({ type })) })
      if (options.window !== undefined && format !== "ndjson") {
        return yield* new ReplayConfigError({
          issues: [{ path: "window", message: "windowing applies to NDJSON events; a CSV is already one series" }]
        })
      }
      const windowSize = options.window === undefined ? undefined : parseDuration(options.window)
      if (options.window !== undefined && windowSize === undefined) {
        return yield* new ReplayConfigError({
          issues: [
            {
              path: "window",
              message: `cannot read duration ${JSON.stringify(options.window)} (e.g. "1m", "30s", "5 minutes")`
            }
          ]
        })
      }
      const windowing =
        windowSize === undefined
          ? undefined
          : yield* Effect.mapError(
              Effect.fromResult(Window.tumbling({ size: windowSize })),
              (e) => new ReplayConfigError({ issues: [{ path: "window", message: e.message }] })
            )
      const incidents = options.labels === undefined ? undefined : yield* readLabels(options.labels)
      const toleranceMs = Duration.toMillis(parseDuration(options.tolerance ?? 0) ?? Duration.zero)

      const out = yield* openWriter(options.out)
      const scoresOut = options.scores === undefined ? undefined : yield* openWriter(options.scores)
      const detect = Detector.makeDetectFn({
        detectors: resolved.detectors,
        decide: Verdict.threshold(resolved.thresholds)
      })
      const detectorNames = new Set<string>()
      const counters: Counters = { rows: 0, rejected: 0, points: 0, anomalousPoints: 0, anomalies: 0 }
      // anomalous point times and series for the label metrics (grown by doubling)
      let anomalyTimes = new Float64Array(1024)
      const anomalySeries: Array<string> = []
      const pushAnomaly = (t: number, series: string) => {
        if (counters.anomalousPoints === anomalyTimes.length) {
          const next = new Float64Array(anomalyTimes.length * 2)
          next.set(anomalyTimes)
          anomalyTimes = next
        }
        anomalyTimes[counters.anomalousPoints++] = t
        anomalySeries.push(series)
      }
      const reported: Array<string> = []

      /** Scores one chunk's points; `row(p)` gives the 1-based row of point p; returns the per-point scores text. */
      const score = (
        points: ReadonlyArray<Series.MetricPoint>,
        row: (p: number) => number,
        scoreLine: ((p: number, score: number, anomalous: boolean) => string) | undefined
      ): { anomalies: string; scores: Array<string> } => {
        const scored = detect.apply(points)
        let anomalies = ""
        const scores: Array<string> = []
        // the verdicts of one point are consecutive (one per detector of its series)
        let d = 0
        for (let p = 0; p < points.length; p++) {
          let best = Number.NaN
          let anomalous = false
          const point = points[p]!
          for (; d < scored.length && scored[d]!.point === point; d++) {
            const s = scored[d]!
            const v = s.verdict
            detectorNames.add(s.detector)
            // a non-finite value, or a detector still warming up, gives no score: it stays empty
            if (v.ready && !(v.score <= best)) best = v.score
            if (v.anomalous) {
              anomalous = true
              counters.anomalies++
              anomalies += anomalyLine(s, row(p))
            }
          }
          if (anomalous) pushAnomaly(point.time, point.key.id)
          if (scoreLine !== undefined) scores.push(scoreLine(p, best, anomalous))
        }
        counters.points += points.length
        return { anomalies, scores }
      }

      const progress = yield* Effect.forkChild(
        options.progress === false
          ? Effect.void
          : Effect.gen(function* () {
              const started = yield* Clock.currentTimeMillis
              yield* Effect.sleep("1 second")
              yield* Effect.repeat(
                Effect.gen(function* () {
                  const now = yield* Clock.currentTimeMillis
                  const rate = counters.rows / Math.max((now - started) / 1000, 1e-3)
                  yield* Console.error(
                    `replay: ${counters.rows.toLocaleString("en")} rows, ${Math.round(rate).toLocaleString("en")} rows/s, ${counters.anomalies} anomalies`
                  )
                }),
                Schedule.spaced("1 second")
              )
            })
      )

      if (format === "csv") {
        const timeColumn = options.timeColumn ?? "time"
        const valueColumn = options.valueColumn ?? "value"
        const key = Series.makeKey("replay", basename(options.file), valueColumn)
        let ti = -1
        let vi = -1
        if (scoresOut !== undefined) yield* scoresOut.write("time,value,score,anomalous\n")
        yield* File.csvRows(options.file).pipe(
          Stream.runForEachArray((rows) =>
            Effect.gen(function* () {
              let start = 0
              if (ti === -1) {
                const header = rows[0].map((h) => h.trim())
                ti = header.indexOf(timeColumn)
                vi = header.indexOf(valueColumn)
                const missing = [ti === -1 ? timeColumn : undefined, vi === -1 ? valueColumn : undefined].filter(
                  (c) => c !== undefined
                )
                if (missing.length > 0) {
                  return yield* new ReplayInputError({
                    path: options.file,
                    message: `no column ${missing.map((c) => JSON.stringify(c)).join(" or ")} in the header (${header.join(",")})`
                  })
                }
                start = 1
              }
              const points: Array<Series.MetricPoint> = []
              // for each data row of the chunk, the index of its point, or -1 when the row was rejected
              const pointOf = new Int32Array(rows.length - start)
              const rowOfPoint: Array<number> = []
              const rawValues: Array<string> = []
              const firstRow = counters.rows + 1
              for (let r = start; r < rows.length; r++) {
                const fields = rows[r]!
                const rawTime = fields[ti]
                const time = parseTime(rawTime)
                if (!Number.isFinite(time)) {
                  pointOf[r - start] = -1
                  counters.rejected++
                  if (reported.length < MAX_REPORTED) {
                    reported.push(`row ${firstRow + r - start}: cannot read time ${JSON.stringify(rawTime ?? null)}`)
                  }
                  continue
                }
                const rawValue = fields[vi]
                const value = rawValue === undefined || rawValue.trim() === "" ? Number.NaN : Number(rawValue)
                pointOf[r - start] = points.length
                rowOfPoint.push(firstRow + r - start)
                rawValues.push(rawValue === undefined ? "" : csvField(rawValue.trim()))
                points.push({ key, time, value })
              }
              counters.rows += rows.length - start
              const { anomalies, scores } = score(
                points,
                (p) => rowOfPoint[p]!,
                scoresOut === undefined
                  ? undefined
                  : // the value as written in the input (cheaper than formatting the number, and exact)
                    (p, s, anomalous) => `${points[p]!.time},${rawValues[p]},${num(s)},${anomalous}\n`
              )
              yield* out.write(anomalies)
              if (scoresOut !== undefined) {
                let text = ""
                for (let r = start; r < rows.length; r++) {
                  const p = pointOf[r - start]!
                  text += p === -1 ? `,${csvField(rows[r]![vi] ?? "")},,false\n` : scores[p]!
                }
                yield* scoresOut.write(text)
              }
            })
          )
        )
      } else {
        const registry = Series.makeRegistry()
        const decodeOptions: Event.DecodeOptions = {
          time: { now: yield* Clock.currentTimeMillis, bounds: Event.defaultTimeBounds }
        }
        const scoreLine = (points: ReadonlyArray<Series.MetricPoint>) =>
          scoresOut === undefined
            ? undefined
            : (p: number, s: number, anomalous: boolean) =>
                `${points[p]!.time},${points[p]!.key.id},${num(points[p]!.value)},${num(s)},${anomalous}\n`
        const decode = (raws: ReadonlyArray<unknown>) => {
          const firstRow = counters.rows + 1
          // the same plausibility rules as live ingest: a recorded 1e22 or epoch-seconds timestamp is a rejected row
          const decoded = Event.decodeBatch(raws, decodeOptions)
          counters.rows += raws.length
          counters.rejected += decoded.rejected.length
          for (const r of decoded.rejected) {
            if (reported.length >= MAX_REPORTED) break
            reported.push(
              `record ${firstRow + r.index}: ${r.errors.map((e) => `${e.path || "(root)"}: ${e.message}`).join("; ")}`
            )
          }
          return { firstRow, ...decoded }
        }
        if (scoresOut !== undefined) yield* scoresOut.write("time,series,value,score,anomalous\n")
        if (windowing !== undefined) {
          // as the live pipeline: per-call points → windows per series → signals (latency.p95, …) → detection
          const extract = Extract.makeExtractFn({ registry, custom: true })
          const windower = Window.makeWindower({ window: windowing })
          const toSignals = Window.makeSignalFn({ registry, signals: options.signals ?? Extract.defaultSignals })
          let now = Number.NEGATIVE_INFINITY
          const detectWindows = (windows: ReadonlyArray<Window.WindowResult>) =>
            Effect.gen(function* () {
              const signals = toSignals(windows)
              if (signals.length === 0) return
              const { anomalies, scores } = score(signals, () => 0, scoreLine(signals))
              yield* out.write(anomalies)
              if (scoresOut !== undefined) yield* scoresOut.write(scores.join(""))
            })
          yield* File.ndjson(options.file).pipe(
            Stream.runForEachArray((raws) =>
              Effect.gen(function* () {
                const { events } = decode(raws)
                // processing time follows event time, so idle timeouts behave as they would have live
                for (const e of events) if (e.timestamp > now) now = e.timestamp
                yield* detectWindows(windower.points(extract(events), now).windows)
              })
            )
          )
          yield* detectWindows(windower.flush().windows)
        } else {
          const wanted = new Set(options.metrics ?? defaultEventMetrics)
          const extract = Extract.makeExtractFn({
            registry,
            metrics: Extract.builtins.filter((m) => wanted.has(m.name)),
            custom: [...wanted].some((m) => m.startsWith("metrics."))
          })
          yield* File.ndjson(options.file).pipe(
            Stream.runForEachArray((raws) =>
              Effect.gen(function* () {
                const { firstRow, events, rejected } = decode(raws)
                // rows of the valid events: the input positions not rejected
                const eventRows: Array<number> = []
                let k = 0
                for (let i = 0; i < raws.length; i++) {
                  if (k < rejected.length && rejected[k]!.index === i) k++
                  else eventRows.push(firstRow + i)
                }
                // extract event by event so that each point knows the record it came from
                const points: Array<Series.MetricPoint> = []
                const rowOfPoint: Array<number> = []
                for (let i = 0; i < events.length; i++) {
                  for (const point of extract([events[i]!])) {
                    if (point.key.metric.startsWith("metrics.") && !wanted.has(point.key.metric)) continue
                    points.push(point)
                    rowOfPoint.push(eventRows[i]!)
                  }
                }
                const { anomalies, scores } = score(points, (p) => rowOfPoint[p]!, scoreLine(points))
                yield* out.write(anomalies)
                if (scoresOut !== undefined) yield* scoresOut.write(scores.join(""))
              })
            )
          )
        }
      }
      yield* Fiber.interrupt(progress)

      const summary: ReplaySummary = {
        format,
        rows: counters.rows,
        rejected: counters.rejected,
        points: counters.points,
        series: detect.state.series.size,
        anomalousPoints: counters.anomalousPoints,
        anomalies: counters.anomalies,
        detectors:
          typeof resolved.detectors === "function" ? [...detectorNames] : resolved.detectors.map((d) => d.name),
        ...(incidents === undefined
          ? {}
          : {
              labels: evaluate(anomalyTimes.subarray(0, counters.anomalousPoints), incidents, toleranceMs, {
                series: anomalySeries,
                // a window signal's verdict is known when its window closes; a row's at the row's time
                knownAfterMs: windowing === undefined || windowing._tag === "Session" ? 0 : windowing.sizeMs
              })
            })
      }
      const tell = options.out === undefined ? Console.error : Console.log
      for (const line of reported) yield* Console.error(`replay: rejected ${line}`)
      if (counters.rejected > reported.length) {
        yield* Console.error(`replay: … and ${counters.rejected - reported.length} more rejected`)
      }
      yield* tell(formatSummary(summary))
      return summary
    })
  )

const pct = (x: number | null): string => (x === null ? "n/a" : `${(x * 100).toFixed(1)}%`)

/**
 * The human-readable summary printed at the end of a replay.
 *
 * @category combinators
 * @since 0.1.0
 */
export const formatSummary = (s: ReplaySummary): string => {
  const lines = [
    `replay: ${s.rows} rows (${s.rejected} rejected), ${s.points} points in ${s.series} series, detectors ${s.detectors.join(", ")}`,
    `replay: ${s.anomalousPoints} anomalous points, ${s.anomalies} anomalies`
  ]
  if (s.labels !== undefined) {
    const l = s.labels
    lines.push(
      `labels: ${l.incidents} incidents, ${l.detected} detected (tolerance ${l.toleranceMs} ms)`,
      `labels: precision ${pct(l.precision)}  recall ${pct(l.recall)}  F1 ${l.f1.toFixed(3)}  mean detection delay ${
        l.meanDelayMs === null ? "n/a" : `${Math.round(l.meanDelayMs)} ms`
      }  false positives ${l.falsePositives}`
    )
  }
  return lines.join("\n")
}

// ---------------------------------------------------------------------------------------------------------------
// Command
// ---------------------------------------------------------------------------------------------------------------

const readConfigFile = (path: string): Effect.Effect<unknown, ReplayConfigError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs
      .readFileString(path)
      .pipe(
        Effect.mapError(
          (e) => new ReplayConfigError({ issues: [{ path: "", message: `cannot read ${path}: ${e.message}` }] })
        )
      )
    return yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) =>
        new ReplayConfigError({ issues: [{ path: "", message: `${path} is not JSON: ${(e as Error).message}` }] })
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
        `A detector to run with default parameters, by name; repeatable (default ${defaultDetectors.join(", ")})`
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
      Flag.withDescription(`NDJSON: a metric to score, repeatable (default ${defaultEventMetrics.join(", ")})`),
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
    const tolerance = parseDuration(flags.tolerance)
    if (tolerance === undefined) {
      return yield* new ReplayConfigError({
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
