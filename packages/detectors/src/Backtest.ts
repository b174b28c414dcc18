/**
 * Backtesting: runs detectors over recorded data and tells what they would have flagged, and, given labelled
 * incidents, how well (precision, recall, F1, detection delay). `sentinel replay` is a thin layer over
 * {@link run}: it reads the files (with `File` from `@llm-sentinel/adapters`) and writes the outputs; in code, a
 * backtest is the same call on any stream of records.
 *
 * Every chunk of input goes through `Detector.makeDetectFn`, the detection code the live pipeline runs. Inputs:
 * - **a series** ({@link series}): rows of fields with a header row first (a CSV as `File.csvRows` reads it), time
 *   from `timeColumn` (epoch milliseconds or ISO 8601) and value from `valueColumn`. A row whose time cannot be
 *   read is counted as rejected; a row whose value is empty or not a number is kept (the detectors ignore it
 *   without learning).
 * - **telemetry events** ({@link events}): raw records decoded with `Event.decodeBatch`, with live ingest's
 *   plausible event times (`Event.defaultTimeBounds` against the `Clock`; invalid events are counted and the first
 *   few reported), turned into per-call metric points with `Extract.makeExtractFn`, one series per
 *   `service × model × metric`. By default every call is scored (`metrics` chooses the metrics). With `window`
 *   (`"1 minute"`, or `1m`, `30s`, `1h`) the points are aggregated per series into tumbling windows and turned
 *   into signals (`latency.p95`, `error.rate`, …) with `Window.makeWindower` and `Window.makeSignalFn`, as the
 *   live pipeline does (processing time follows event time), and the signals are scored; a signal point's time is
 *   its window's start, and its anomalies have `row: null`.
 *
 * Detectors: those given (by name with their default parameters, or built in code, with `thresholds` or
 * `Verdict.defaultThresholds`), a configuration ({@link Config}), or by default `Defaults.config`: its detectors
 * per metric and its own thresholds (the same as `sentinel serve`).
 *
 * Outputs: `onAnomalies` receives one {@link AnomalyRecord} per detector that fired; `onScores` one
 * {@link ScoreRow} per input point in input order (per signal point, in the order windows close, with `window`),
 * whose `score` is the highest score of the detectors that were ready and `anomalous` whether any fired. `score`
 * is `NaN` for a point no detector could use (a non-finite value) and for warm-up points, where no detector is
 * ready yet: a warm-up point has no score, not a score of 0 or 1000.
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
 *   signal (`window`) at its window's end.
 * - an incident may name a **series** (the series id, or a `/`-bounded suffix such as `latency.p95`): then only
 *   that series' anomalies detect it or count as inside it.
 * Precision is `null` when nothing fired, recall `null` when there are no incidents.
 *
 * @since 0.1.0
 */
import { Detector, Event, Extract, Series, Verdict, Window } from "@llm-sentinel/core"
import { Clock, Duration, Effect, Fiber, Option, Schedule, Schema, SchemaIssue, Stream } from "effect"
import * as Catalog from "./Catalog.ts"
import * as Defaults from "./Defaults.ts"

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
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>("@llm-sentinel/detectors/Backtest/InvalidConfig")(
  "InvalidConfig",
  {
    issues: Schema.Array(Schema.Struct({ path: Schema.String, message: Schema.String }))
  }
) {
  override get message(): string {
    return `invalid backtest configuration:\n${this.issues.map((i) => `  ${i.path || "(root)"}: ${i.message}`).join("\n")}`
  }
}

/**
 * The input cannot be used (a missing column, an unknown format, a labels file that does not read).
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>("@llm-sentinel/detectors/Backtest/InvalidInput")(
  "InvalidInput",
  {
    /** What was read: a file path, or the name given to an input built in code. */
    path: Schema.String,
    message: Schema.String
  }
) {}

const Finite = Schema.Finite.annotate({ message: "expected a finite number" })

/**
 * A backtest configuration (the JSON of `sentinel replay --config`):
 * `{ "detectors": [{ "type": "zscore", "params": { "window": 128 } }], "thresholds": { "warning": 4, "critical": 6 } }`.
 * Unknown fields are errors. `params` are checked against the detector's own `ParamsSchema`.
 *
 * @category models
 * @since 0.1.0
 */
export const Config = Schema.Struct({
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
export type Config = typeof Config.Type

/**
 * A detector module (see `Catalog` in `@llm-sentinel/detectors`).
 *
 * @category models
 * @since 0.1.0
 */
export type DetectorModule = Catalog.Module

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
 * The detectors and deciding step a backtest runs.
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
 * What a backtest runs when it is given neither detector names nor a configuration: `Defaults.config`, its detectors
 * per metric and its own thresholds (the same as `sentinel serve`).
 *
 * @category constructors
 * @since 0.2.0
 */
export const defaultResolved = (): Resolved => {
  const config = Defaults.config
  return { detectors: config.detectOptions().detectors, thresholds: config.thresholds }
}

/**
 * Validates a raw configuration (parsed JSON) and builds its detectors; every problem is reported with its path.
 *
 * @example
 * ```ts
 * import { Backtest } from "@llm-sentinel/detectors"
 * const resolved = Backtest.resolveConfig({ detectors: [{ type: "zscore", params: { window: 64 } }] })
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const resolveConfig = (raw: unknown): Effect.Effect<Resolved, InvalidConfig> =>
  Effect.suspend(() => {
    const decoded = Schema.decodeUnknownExit(Config)(raw, decodeOptions)
    if (decoded._tag === "Failure") {
      const failure = decoded.cause.reasons.find((r) => r._tag === "Fail")
      const issues =
        failure !== undefined && failure._tag === "Fail"
          ? issuesOf(failure.error.issue, [])
          : [{ path: "", message: "invalid configuration" }]
      return Effect.fail(new InvalidConfig({ issues }))
    }
    const config = decoded.value
    const modules = Catalog.modules()
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
              ? `detector "${spec.type}" takes more than one number per point (peers or a vector) and cannot be backtested on one series`
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
    if (issues.length > 0) return Effect.fail(new InvalidConfig({ issues }))
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

/**
 * Whether an anomaly of series `id` belongs to an incident that names `series` (exact, or a `/`-bounded suffix).
 *
 * @category combinators
 * @since 0.1.0
 */
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
  readonly knownAfter?: Duration.Input
}

/**
 * Scores anomaly times against labelled incidents.
 *
 * @example
 * ```ts
 * import { Backtest } from "@llm-sentinel/detectors"
 * Backtest.evaluate([105, 300], [{ start: 100, end: 200 }], 0)
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
  const knownAfter = options.knownAfter === undefined ? 0 : Duration.toMillis(options.knownAfter)
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
 * import { Backtest } from "@llm-sentinel/detectors"
 * Backtest.parseDuration("1m") // Duration of 60000 ms
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

/**
 * Reads one labelled incident: a timestamp, `{ time }` (or `{ timestamp }`), or `{ start, end }`, each with an
 * optional `series`; times are epoch milliseconds or ISO 8601 (strings from a CSV cell are fine). A string says
 * what is wrong.
 *
 * @example
 * ```ts
 * import { Backtest } from "@llm-sentinel/detectors"
 * Backtest.incident({ start: "2026-11-01T10:00:00Z", end: "2026-11-01T10:05:00Z", series: "latency.p95" })
 * Backtest.incident(1761991200000) // { start: 1761991200000, end: 1761991200000 }
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const incident = (v: unknown): Incident | string => {
  if (typeof v === "number" || typeof v === "string") return incidentOf(v, undefined)
  if (typeof v === "object" && v !== null) {
    const o = v as Record<string, unknown>
    if (o.start !== undefined) return incidentOf(o.start, o.end, o.series)
    const t = o.time ?? o.timestamp
    if (t !== undefined) return incidentOf(t, undefined, o.series)
  }
  return "expected a timestamp, {time}, or {start, end}, each with an optional series"
}

// ---------------------------------------------------------------------------------------------------------------
// Backtest
// ---------------------------------------------------------------------------------------------------------------

/**
 * The metrics scored by default in telemetry events: per-call latency, time to first token, output and total
 * tokens, and cost. (`error` and `requests` are 0/1 and constant per call: watch them as windowed rates instead.)
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultEventMetrics: ReadonlyArray<string> = ["latency", "ttft", "outputTokens", "totalTokens", "cost"]

/**
 * The names of the detectors run when no detectors and no configuration are given (`Defaults.config`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultDetectors: ReadonlyArray<string> = Defaults.config.detectors().map((d) => d.name)

/**
 * What a backtest reads: one series of rows ({@link series}) or telemetry events ({@link events}).
 *
 * @category models
 * @since 0.1.0
 */
export type Input<E = never, R = never> =
  | {
      readonly _tag: "Series"
      readonly rows: Stream.Stream<ReadonlyArray<string>, E, R>
      readonly name: string
      readonly timeColumn: string
      readonly valueColumn: string
    }
  | {
      readonly _tag: "Events"
      readonly records: Stream.Stream<unknown, E, R>
      readonly timeBounds: Event.TimeBounds
    }

/**
 * One series as rows of fields, the header row first (a CSV as `File.csvRows` reads it). Its series id is
 * `replay/<name>/<valueColumn>`.
 *
 * @example
 * ```ts
 * import { Backtest } from "@llm-sentinel/detectors"
 * import { Stream } from "effect"
 * const input = Backtest.series(Stream.make(["time", "value"], ["1764600000000", "512"], ["1764600060000", "530"]), {
 *   name: "latency.csv"
 * })
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const series = <E, R>(
  rows: Stream.Stream<ReadonlyArray<string>, E, R>,
  options: {
    /** The series' name (the file name for `sentinel replay`). */
    readonly name: string
    /** The column holding the time (epoch ms or ISO 8601). Default `time`. */
    readonly timeColumn?: string
    /** The column holding the value. Default `value`. */
    readonly valueColumn?: string
  }
): Input<E, R> => ({
  _tag: "Series",
  rows,
  name: options.name,
  timeColumn: options.timeColumn ?? "time",
  valueColumn: options.valueColumn ?? "value"
})

/**
 * Telemetry events as raw records (decoded by the backtest, e.g. `File.ndjson`), with plausible event times
 * `timeBounds` against the `Clock` (default `Event.defaultTimeBounds`, as live ingest).
 *
 * @category constructors
 * @since 0.1.0
 */
export const events = <E, R>(
  records: Stream.Stream<unknown, E, R>,
  options: { readonly timeBounds?: Event.TimeBounds } = {}
): Input<E, R> => ({ _tag: "Events", records, timeBounds: options.timeBounds ?? Event.defaultTimeBounds })

/**
 * An anomaly as a backtest reports it: one per detector that fired on a point (the NDJSON lines of
 * `sentinel replay`). `row` is the 1-based row or record of the input the point came from (`null` for a window
 * signal).
 *
 * @category models
 * @since 0.1.0
 */
export interface AnomalyRecord {
  readonly time: number
  readonly timestamp: string
  readonly series: string
  readonly detector: string
  readonly severity: Verdict.Severity
  readonly value: number
  readonly score: number
  readonly expected: number | null
  readonly lower: number | null
  readonly upper: number | null
  readonly reason: string
  readonly row: number | null
}

/**
 * The score of one input point (the lines of `sentinel replay --scores`).
 *
 * @category models
 * @since 0.1.0
 */
export interface ScoreRow {
  /** The point's time; `undefined` for a series row whose time could not be read (kept so rows line up). */
  readonly time: number | undefined
  readonly series: string
  readonly value: number
  /** Series input: the value's field as written in the row. */
  readonly field?: string
  /** The highest score of the detectors that were ready; `NaN` when none was (warm-up, or an unusable value). */
  readonly score: number
  readonly anomalous: boolean
}

/**
 * How far a backtest got, for progress reports.
 *
 * @category models
 * @since 0.1.0
 */
export interface Progress {
  readonly rows: number
  readonly anomalies: number
  readonly elapsedMs: number
}

/**
 * Options of {@link run}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<E = never, R = never> {
  /**
   * The detectors: names (each with its default parameters, see `Catalog`) or detectors built in code (a
   * `Detector.Selection`). Exclusive with `config`. Default: `Defaults.config`.
   */
  readonly detectors?: ReadonlyArray<string> | Detector.Selection
  /** With detectors built in code: the thresholds of the deciding step (default `Verdict.defaultThresholds`). */
  readonly thresholds?: Verdict.Thresholds
  /** A raw configuration (parsed JSON, see {@link Config}). */
  readonly config?: unknown
  /** Events per call: the metrics to score (default {@link defaultEventMetrics}; `metrics.<name>` for custom ones). */
  readonly metrics?: ReadonlyArray<string>
  /** Events: aggregate into tumbling windows of this size per series and score the signals, as live. */
  readonly window?: Duration.Input | string
  /** Events with `window`: the signals to score (default `Extract.defaultSignals`: `latency.p95`, …). */
  readonly signals?: ReadonlyArray<string>
  /** Labelled incidents to score the anomalies against (see {@link incident} to read them). */
  readonly incidents?: ReadonlyArray<Incident>
  /** How long after an incident's end an anomaly still counts as detecting it. Default 0. */
  readonly tolerance?: Duration.Input | string
  /** Receives the anomalies of each chunk, in input order. */
  readonly onAnomalies?: (anomalies: ReadonlyArray<AnomalyRecord>) => Effect.Effect<void, E, R>
  /** Receives the scores of each chunk, in input order. */
  readonly onScores?: (scores: ReadonlyArray<ScoreRow>) => Effect.Effect<void, E, R>
  /** Called about every second while the backtest runs. */
  readonly onProgress?: (progress: Progress) => Effect.Effect<void, never, R>
}

/**
 * What a backtest did.
 *
 * @category models
 * @since 0.1.0
 */
export interface Summary {
  readonly input: "series" | "events"
  /** Data rows (header excluded) or records read. */
  readonly rows: number
  /** Rows that could not be used (unreadable time, invalid event). */
  readonly rejected: number
  /** The first few rejections, with their row or record and what was wrong. */
  readonly rejectedExamples: ReadonlyArray<string>
  /** Points scored (one per usable row; one per metric per event, or per signal with `window`). */
  readonly points: number
  readonly series: number
  /** Anomalous points (a point on which several detectors fired counts once). */
  readonly anomalousPoints: number
  /** Anomaly records (one per detector that fired). */
  readonly anomalies: number
  readonly detectors: ReadonlyArray<string>
  readonly labels?: LabelMetrics
}

const anomalyRecord = (s: Detector.Scored, row: number): AnomalyRecord => ({
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
})

const MAX_REPORTED = 5

const isNames = (d: ReadonlyArray<string> | Detector.Selection): d is ReadonlyArray<string> =>
  Array.isArray(d) && d.every((x) => typeof x === "string")

const resolve = (options: Options<unknown, unknown>): Effect.Effect<Resolved, InvalidConfig> => {
  const d = options.detectors
  const names = d === undefined ? [] : isNames(d) ? d : undefined
  if (options.config !== undefined && (names === undefined || names.length > 0)) {
    return Effect.fail(
      new InvalidConfig({ issues: [{ path: "", message: "give either detectors or a configuration, not both" }] })
    )
  }
  if (names === undefined) {
    return Effect.succeed({
      detectors: d as Detector.Selection,
      thresholds: options.thresholds ?? Verdict.defaultThresholds
    })
  }
  if (options.config === undefined && names.length === 0) return Effect.succeed(defaultResolved())
  return resolveConfig(options.config ?? { detectors: names.map((type) => ({ type })) })
}

/**
 * Runs a backtest: reads the input chunk by chunk, detects, hands anomalies (and scores) to the callbacks, and
 * scores the labels. `sentinel replay` is this function over files.
 *
 * @example
 * ```ts
 * import { Backtest, ZScore } from "@llm-sentinel/detectors"
 * import { Effect, Stream } from "effect"
 * const rows = Stream.fromIterable([["time", "value"], ...Array.from({ length: 200 }, (_, i) => [String(i * 60_000), String(i === 150 ? 900 : 100 + (i % 7))])])
 * const summary = Backtest.run(Backtest.series(rows, { name: "latency" }), {
 *   detectors: [ZScore.make()],
 *   incidents: [{ start: 150 * 60_000, end: 151 * 60_000 }]
 * }) // Effect<Summary>: summary.labels.recall === 1
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const run = <E, R, E2 = never, R2 = never>(
  input: Input<E, R>,
  options: Options<E2, R2> = {}
): Effect.Effect<Summary, InvalidConfig | InvalidInput | E | E2, R | R2> =>
  Effect.gen(function* () {
    const resolved = yield* resolve(options as Options<unknown, unknown>)
    if (options.window !== undefined && input._tag !== "Events") {
      return yield* new InvalidConfig({
        issues: [{ path: "window", message: "windowing applies to events; a series is already one series" }]
      })
    }
    const windowSize = options.window === undefined ? undefined : parseDuration(options.window)
    if (options.window !== undefined && windowSize === undefined) {
      return yield* new InvalidConfig({
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
            (e) => new InvalidConfig({ issues: [{ path: "window", message: e.message }] })
          )
    const tolerance = parseDuration(options.tolerance ?? 0)
    if (tolerance === undefined) {
      return yield* new InvalidConfig({
        issues: [{ path: "tolerance", message: `cannot read duration ${JSON.stringify(options.tolerance)}` }]
      })
    }
    const toleranceMs = Duration.toMillis(tolerance)
    const onAnomalies = options.onAnomalies
    const onScores = options.onScores
    const emit = (anomalies: ReadonlyArray<AnomalyRecord>, scores: ReadonlyArray<ScoreRow>) =>
      Effect.andThen(
        onAnomalies === undefined || anomalies.length === 0 ? Effect.void : onAnomalies(anomalies),
        onScores === undefined || scores.length === 0 ? Effect.void : onScores(scores)
      )

    const detect = Detector.makeDetectFn({
      detectors: resolved.detectors,
      decide: Verdict.threshold(resolved.thresholds)
    })
    const detectorNames = new Set<string>()
    const counters = { rows: 0, rejected: 0, points: 0, anomalousPoints: 0, anomalies: 0 }
    // anomalous point times and series for the label metrics (grown by doubling)
    let anomalyTimes = new Float64Array(1024)
    const anomalySeries: Array<string> = []
    const pushAnomaly = (t: number, id: string) => {
      if (counters.anomalousPoints === anomalyTimes.length) {
        const next = new Float64Array(anomalyTimes.length * 2)
        next.set(anomalyTimes)
        anomalyTimes = next
      }
      anomalyTimes[counters.anomalousPoints++] = t
      anomalySeries.push(id)
    }
    const reported: Array<string> = []

    /** Scores one chunk's points; `row(p)` gives the 1-based row of point p; `score(p, s, anomalous)` a score row. */
    const score = (
      points: ReadonlyArray<Series.MetricPoint>,
      row: (p: number) => number,
      scoreRow: ((p: number, score: number, anomalous: boolean) => ScoreRow) | undefined
    ): { anomalies: Array<AnomalyRecord>; scores: Array<ScoreRow> } => {
      const scored = detect.apply(points)
      const anomalies: Array<AnomalyRecord> = []
      const scores: Array<ScoreRow> = []
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
          // a non-finite value, or a detector still warming up, gives no score
          if (v.ready && !(v.score <= best)) best = v.score
          if (v.anomalous) {
            anomalous = true
            counters.anomalies++
            if (onAnomalies !== undefined) anomalies.push(anomalyRecord(s, row(p)))
          }
        }
        if (anomalous) pushAnomaly(point.time, point.key.id)
        if (scoreRow !== undefined) scores.push(scoreRow(p, best, anomalous))
      }
      counters.points += points.length
      return { anomalies, scores }
    }

    const progress =
      options.onProgress === undefined
        ? undefined
        : yield* Effect.forkChild(
            Effect.gen(function* () {
              const report = options.onProgress!
              const started = yield* Clock.currentTimeMillis
              yield* Effect.sleep("1 second")
              yield* Effect.repeat(
                Effect.flatMap(Clock.currentTimeMillis, (now) =>
                  report({ rows: counters.rows, anomalies: counters.anomalies, elapsedMs: now - started })
                ),
                Schedule.spaced("1 second")
              )
            })
          )

    if (input._tag === "Series") {
      const { timeColumn, valueColumn } = input
      const key = Series.makeKey("replay", input.name, valueColumn)
      let ti = -1
      let vi = -1
      yield* input.rows.pipe(
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
                return yield* new InvalidInput({
                  path: input.name,
                  message: `no column ${missing.map((c) => JSON.stringify(c)).join(" or ")} in the header (${header.join(",")})`
                })
              }
              start = 1
            }
            const points: Array<Series.MetricPoint> = []
            // for each data row of the chunk, the index of its point, or -1 when the row was rejected
            const pointOf = new Int32Array(rows.length - start)
            const rowOfPoint: Array<number> = []
            const fieldOfPoint: Array<string> = []
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
              fieldOfPoint.push(rawValue === undefined ? "" : rawValue.trim())
              points.push({ key, time, value })
            }
            counters.rows += rows.length - start
            const { anomalies, scores } = score(
              points,
              (p) => rowOfPoint[p]!,
              onScores === undefined
                ? undefined
                : (p, s, anomalous) => ({
                    time: points[p]!.time,
                    series: key.id,
                    value: points[p]!.value,
                    field: fieldOfPoint[p]!,
                    score: s,
                    anomalous
                  })
            )
            if (onScores === undefined) return yield* emit(anomalies, scores)
            // every data row in input order: a rejected row keeps its place, with no time and no score
            const all: Array<ScoreRow> = []
            for (let r = start; r < rows.length; r++) {
              const p = pointOf[r - start]!
              all.push(
                p === -1
                  ? {
                      time: undefined,
                      series: key.id,
                      value: Number.NaN,
                      field: rows[r]![vi] ?? "",
                      score: Number.NaN,
                      anomalous: false
                    }
                  : scores[p]!
              )
            }
            yield* emit(anomalies, all)
          })
        )
      )
    } else {
      const registry = Series.makeRegistry()
      const decodeOptions: Event.DecodeOptions = {
        time: { now: yield* Clock.currentTimeMillis, bounds: input.timeBounds }
      }
      const scoreRow = (points: ReadonlyArray<Series.MetricPoint>) =>
        onScores === undefined
          ? undefined
          : (p: number, s: number, anomalous: boolean): ScoreRow => ({
              time: points[p]!.time,
              series: points[p]!.key.id,
              value: points[p]!.value,
              score: s,
              anomalous
            })
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
      if (windowing !== undefined) {
        // as the live pipeline: per-call points → windows per series → signals (latency.p95, …) → detection
        const extract = Extract.makeExtractFn({ registry, custom: true })
        const windower = Window.makeWindower({ window: windowing })
        const toSignals = Window.makeSignalFn({ registry, signals: options.signals ?? Extract.defaultSignals })
        let now = Number.NEGATIVE_INFINITY
        const detectWindows = (windows: ReadonlyArray<Window.WindowResult>) => {
          const signals = toSignals(windows)
          if (signals.length === 0) return Effect.void
          const { anomalies, scores } = score(signals, () => 0, scoreRow(signals))
          return emit(anomalies, scores)
        }
        yield* input.records.pipe(
          Stream.runForEachArray((raws) =>
            Effect.suspend(() => {
              const { events } = decode(raws)
              // processing time follows event time, so idle timeouts behave as they would have live
              for (const e of events) if (e.timestamp > now) now = e.timestamp
              return detectWindows(windower.points(extract(events), now).windows)
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
        yield* input.records.pipe(
          Stream.runForEachArray((raws) =>
            Effect.suspend(() => {
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
              const { anomalies, scores } = score(points, (p) => rowOfPoint[p]!, scoreRow(points))
              return emit(anomalies, scores)
            })
          )
        )
      }
    }
    if (progress !== undefined) yield* Fiber.interrupt(progress)

    return {
      input: input._tag === "Series" ? "series" : "events",
      rows: counters.rows,
      rejected: counters.rejected,
      rejectedExamples: reported,
      points: counters.points,
      series: detect.state.series.size,
      anomalousPoints: counters.anomalousPoints,
      anomalies: counters.anomalies,
      detectors: typeof resolved.detectors === "function" ? [...detectorNames] : resolved.detectors.map((d) => d.name),
      ...(options.incidents === undefined
        ? {}
        : {
            labels: evaluate(anomalyTimes.subarray(0, counters.anomalousPoints), options.incidents, toleranceMs, {
              series: anomalySeries,
              // a window signal's verdict is known when its window closes; a row's at the row's time
              knownAfter: windowing === undefined || windowing._tag === "Session" ? 0 : windowing.sizeMs
            })
          })
    } satisfies Summary
  })

const pct = (x: number | null): string => (x === null ? "n/a" : `${(x * 100).toFixed(1)}%`)

/**
 * The human-readable summary of a backtest (what `sentinel replay` prints at the end).
 *
 * @category combinators
 * @since 0.1.0
 */
export const formatSummary = (s: Summary): string => {
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
