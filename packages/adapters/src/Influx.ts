/**
 * The InfluxDB sink: window aggregates and anomalies as line protocol, for the dashboards people already have
 * (Grafana over InfluxDB). Writes are buffered and sent in batches, by size (`batchSize` lines) or time
 * (`flushInterval`), whichever comes first; a batch that fails with a retryable error (connection, timeout,
 * 5xx, 429) is retried with exponential backoff and jitter, honouring `Retry-After`, and kept at the head of
 * the buffer while InfluxDB stays down. The buffer is bounded (`maxBuffer` lines): past it the oldest lines are
 * dropped and counted (`sentinel_adapter_dropped_total{adapter="influx"}`), so memory stays bounded and the
 * pipeline is never held up by a dashboard. A batch InfluxDB refuses (400, e.g. a field type conflict) is
 * dropped and counted too: sending it again gives the same answer.
 *
 * Points (measurement names prefixed by `measurementPrefix`, default `sentinel_`):
 * - `sentinel_window`, tags `service`, `model`, `metric` and the series' extra dimensions; fields `count`,
 *   `size_ms` and `revision` (integers), `sum`, `mean`, `variance`, `min`, `max`, `p50`, `p95`, `p99`
 *   (floats; a NaN statistic is left out), `closed_by` (string); time = the window's start.
 * - `sentinel_anomaly`, tags as above plus `detector` and `severity`; fields `observed`, `expected`, `lower`,
 *   `upper`, `score` (floats, null ones left out), `reason` and `id` (strings); time = the anomaly's time.
 *
 * A dimension named like one of the fixed tags is written as `dim_<name>`. A replayed window or anomaly has the
 * same series and time, so InfluxDB overwrites the point instead of storing it twice.
 *
 * The API version is configuration: `v1` (`/write?db=`, InfluxDB 1.x and the 2.x compatibility API),
 * `v2` (`/api/v2/write?org=&bucket=`, token) or `v3` (`/api/v3/write_lp?db=`, token).
 *
 * @since 0.1.0
 */
import { type Anomaly, AnomalySink, type Window } from "@llm-sentinel/core"
import { Clock, Context, Effect, Latch, Layer, Option, Redacted, Schema, Semaphore, Stream } from "effect"
import * as AdapterError from "./AdapterError.ts"
import * as Counters from "./Counters.ts"
import * as Http from "./internal/http.ts"

/**
 * The InfluxDB sink's configuration. Unknown fields are errors ({@link decodeConfig}).
 *
 * @category models
 * @since 0.1.0
 */
export const Config = Schema.Struct({
  /** The server, e.g. `http://127.0.0.1:8086`. */
  url: Http.HttpUrl,
  /** Which write API to use (default `v1`). */
  api: Schema.optionalKey(Schema.Literals(["v1", "v2", "v3"])),
  /** The database (v1, v3). */
  database: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  /** The organisation and bucket (v2). */
  org: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  bucket: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  /** API token (v2 `Token`, v3 `Bearer`; v1 sends it as `Token` too, for the 2.x compatibility API). */
  token: Schema.optionalKey(Schema.RedactedFromValue(Schema.String.check(Schema.isNonEmpty()))),
  /** v1 user and password (basic authentication). */
  username: Schema.optionalKey(Schema.String),
  password: Schema.optionalKey(Schema.RedactedFromValue(Schema.String)),
  /** Timestamp precision of the lines (default `ms`). */
  precision: Schema.optionalKey(Schema.Literals(["ns", "ms"])),
  /** Prefix of the measurement names (default `sentinel_`). */
  measurementPrefix: Schema.optionalKey(Schema.String),
  /** Lines per request (default 5000). */
  batchSize: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 }))),
  /** Longest time a line waits in the buffer before it is sent (default 1 second). */
  flushInterval: Schema.optionalKey(Http.DurationInput),
  /** Lines kept while InfluxDB is slow or down; the oldest are dropped past it (default 100000). */
  maxBuffer: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  /** Time limit of one request (default 10 seconds). */
  timeout: Schema.optionalKey(Http.DurationInput),
  /** Attempts of one batch after the first, before it goes back to the buffer (default 5). */
  retries: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100 }))),
  /** First backoff delay, doubled on each retry (default 200 millis). */
  retryBaseDelay: Schema.optionalKey(Http.DurationInput),
  /** Longest wait between attempts, also the cap on `Retry-After` (default 30 seconds). */
  retryMaxDelay: Schema.optionalKey(Http.DurationInput),
  /** The sink's name in metrics and logs (default the database or bucket). */
  name: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty()))
})
  .check(
    Schema.makeFilter((c) =>
      (c.api ?? "v1") === "v2"
        ? (c.org !== undefined && c.bucket !== undefined && c.token !== undefined) ||
          "api v2 needs org, bucket and token"
        : c.database !== undefined || `api ${c.api ?? "v1"} needs database`
    )
  )
  .annotate({ identifier: "InfluxConfig" })

/**
 * @category models
 * @since 0.1.0
 */
export type Config = typeof Config.Type

/**
 * Decodes a configuration: unknown fields are errors, every problem reported.
 *
 * @category constructors
 * @since 0.1.0
 */
export const decodeConfig = (input: unknown): Effect.Effect<Config, Schema.SchemaError> =>
  Schema.decodeUnknownEffect(Config)(input, Http.strict)

// ---------------------------------------------------------------------------------------------- line protocol

/**
 * Escapes a measurement name: commas and spaces (newlines become `\n` text; line protocol has no newline).
 *
 * @category combinators
 * @since 0.1.0
 */
export const escapeMeasurement = (s: string): string => s.replace(/[, \n\r]/g, escapeChar)

/**
 * Escapes a tag key, tag value or field key: commas, equals signs and spaces get a backslash; newlines become
 * `\n` text (line protocol has no newline there). Other backslashes are kept as they are (InfluxDB 1.x stores
 * them verbatim), except trailing ones: no escaping can write a tag ending in a backslash, so they are cut.
 *
 * @category combinators
 * @since 0.1.0
 */
export const escapeTag = (s: string): string => s.replace(/\\+$/, "").replace(/[,= \n\r]/g, escapeChar)

/**
 * A string field value: double-quoted, with backslashes and double quotes escaped (newlines may stay inside
 * the quotes).
 *
 * @category combinators
 * @since 0.1.0
 */
export const quoteField = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`

const escapeChar = (c: string): string => (c === "\n" ? "\\n" : c === "\r" ? "\\r" : `\\${c}`)

const timestamp = (ms: number, precision: "ns" | "ms"): string => {
  const t = String(Math.round(ms))
  return precision === "ms" ? t : t === "0" ? "0" : `${t}000000`
}

const float = (x: number | null): string | undefined =>
  x === null || !Number.isFinite(x) ? undefined : Number.isInteger(x) ? `${x}` : String(x)

/**
 * Options of the line builders.
 *
 * @category models
 * @since 0.1.0
 */
export interface LineOptions {
  readonly precision?: "ns" | "ms"
  readonly measurementPrefix?: string
}

const reserved = new Set(["service", "model", "metric", "detector", "severity"])

const tags = (
  series: {
    readonly service: string
    readonly model: string
    readonly metric: string
    readonly dimensions: Readonly<Record<string, string>>
  },
  extra: ReadonlyArray<readonly [string, string]>
): string => {
  const pairs: Array<readonly [string, string]> = [
    ["service", series.service],
    ["model", series.model],
    ["metric", series.metric],
    ...extra
  ]
  for (const [k, v] of Object.entries(series.dimensions)) pairs.push([reserved.has(k) ? `dim_${k}` : k, v])
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  let out = ""
  // an empty tag value is not allowed in line protocol: such a tag is left out
  for (const [k, v] of pairs) if (k !== "" && v !== "") out += `,${escapeTag(k)}=${escapeTag(v)}`
  return out
}

const fields = (pairs: ReadonlyArray<readonly [string, string | undefined]>): string => {
  let out = ""
  for (const [k, v] of pairs) if (v !== undefined) out += `${out === "" ? "" : ","}${escapeTag(k)}=${v}`
  return out
}

/**
 * The line of an anomaly.
 *
 * @category combinators
 * @since 0.1.0
 */
export const anomalyLine = (a: Anomaly.Anomaly, options: LineOptions = {}): string =>
  `${escapeMeasurement(`${options.measurementPrefix ?? "sentinel_"}anomaly`)}${tags(a.series, [
    ["detector", a.detector],
    ["severity", a.severity]
  ])} ${fields([
    ["observed", float(a.observed)],
    ["expected", float(a.expected)],
    ["lower", float(a.lower)],
    ["upper", float(a.upper)],
    ["score", float(a.score)],
    ["reason", quoteField(a.reason)],
    ["id", quoteField(a.id)]
  ])} ${timestamp(a.time, options.precision ?? "ms")}`

/**
 * The line of a closed window, or `undefined` for an empty window (a point needs at least one field, and
 * `count` is always there, so only a window with nothing finite at all is left out).
 *
 * @category combinators
 * @since 0.1.0
 */
export const windowLine = (w: Window.WindowResult, options: LineOptions = {}): string => {
  const s = w.summary
  return `${escapeMeasurement(`${options.measurementPrefix ?? "sentinel_"}window`)}${tags(w.key, [])} ${fields([
    ["count", `${s.count}i`],
    ["size_ms", `${Math.round(w.end - w.start)}i`],
    ["revision", `${w.revision}i`],
    ["sum", float(s.sum)],
    ["mean", float(s.mean)],
    ["variance", float(s.variance)],
    ["min", float(s.min)],
    ["max", float(s.max)],
    ["p50", float(s.p50)],
    ["p95", float(s.p95)],
    ["p99", float(s.p99)],
    ["closed_by", quoteField(w.closedBy)]
  ])} ${timestamp(w.start, options.precision ?? "ms")}`
}

// ------------------------------------------------------------------------------------------------- the sink

/**
 * InfluxDB failed or refused a write.
 *
 * @category errors
 * @since 0.1.0
 */
export class InfluxError extends Schema.TaggedError<InfluxError>("@llm-sentinel/adapters/InfluxError")("InfluxError", {
  name: Schema.String,
  reason: AdapterError.Reason
}) {
  get isRetryable(): boolean {
    return this.reason.isRetryable
  }
  override get message(): string {
    return `influx ${this.name}: ${this.reason.message}`
  }
}

/**
 * The InfluxDB writer.
 *
 * @category services
 * @since 0.1.0
 */
export class Influx extends Context.Service<
  Influx,
  {
    /** Buffers the anomalies' lines; returns at once. */
    readonly writeAnomalies: (anomalies: ReadonlyArray<Anomaly.Anomaly>) => Effect.Effect<void>
    /** Buffers the windows' lines; returns at once. */
    readonly writeWindows: (windows: ReadonlyArray<Window.WindowResult>) => Effect.Effect<void>
    /** Buffers line-protocol lines as they are (they must use the configured precision). */
    readonly writeLines: (lines: ReadonlyArray<string>) => Effect.Effect<void>
    /** Sends everything buffered now, with retries; fails if InfluxDB did not take it (the lines stay buffered). */
    readonly flush: Effect.Effect<void, InfluxError>
    /** Lines waiting to be sent. */
    readonly buffered: Effect.Effect<number>
    /** Whether InfluxDB answers `/ping`. */
    readonly health: Effect.Effect<boolean>
    readonly counters: Counters.Counters
  }
>()("@llm-sentinel/adapters/Influx") {}

const writeUrl = (c: Config): string => {
  const base = c.url.replace(/\/+$/, "")
  const precision = c.precision ?? "ms"
  const q = (params: Record<string, string>) => new URLSearchParams(params).toString()
  switch (c.api ?? "v1") {
    case "v2":
      return `${base}/api/v2/write?${q({ org: c.org ?? "", bucket: c.bucket ?? "", precision })}`
    case "v3":
      return `${base}/api/v3/write_lp?${q({
        db: c.database ?? "",
        precision: precision === "ns" ? "nanosecond" : "millisecond"
      })}`
    default:
      return `${base}/write?${q({ db: c.database ?? "", precision })}`
  }
}

const authHeaders = (c: Config): Record<string, string> => {
  if (c.token !== undefined) {
    return { authorization: `${(c.api ?? "v1") === "v3" ? "Bearer" : "Token"} ${Redacted.value(c.token)}` }
  }
  if (c.username !== undefined) {
    const pw = c.password === undefined ? "" : Redacted.value(c.password)
    return { authorization: `Basic ${Buffer.from(`${c.username}:${pw}`).toString("base64")}` }
  }
  return {}
}

/**
 * Makes the writer, with its background flusher, in the current scope; closing the scope flushes what is
 * buffered (one round of retries) before it stops.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (config: Config) =>
  Effect.gen(function* () {
    const name = config.name ?? config.database ?? config.bucket ?? "influx"
    yield* Http.validate(Config, config).pipe(Effect.mapError((reason) => new InfluxError({ name, reason })))
    const counters = Counters.make("influx", name)
    const url = writeUrl(config)
    const headers = { "content-type": "text/plain; charset=utf-8", ...authHeaders(config) }
    const timeoutMs = Http.millis(config.timeout ?? "10 seconds")
    const batchSize = config.batchSize ?? 5000
    const maxBuffer = config.maxBuffer ?? 100_000
    const intervalMs = Http.millis(config.flushInterval ?? "1 second")
    const retry = {
      retries: config.retries ?? 5,
      baseDelayMs: Http.millis(config.retryBaseDelay ?? "200 millis"),
      maxDelayMs: Http.millis(config.retryMaxDelay ?? "30 seconds")
    }
    const lineOptions = {
      precision: config.precision ?? "ms",
      measurementPrefix: config.measurementPrefix ?? "sentinel_"
    }
    const encoder = new TextEncoder()

    // the buffer: lines in arrival order; a batch in flight is taken out and put back at the head on failure
    let buffer: Array<string> = []
    const full = Latch.makeUnsafe(false)
    const sending = Semaphore.makeUnsafe(1)

    const trim = (): number => {
      const excess = buffer.length - maxBuffer
      if (excess <= 0) return 0
      buffer = buffer.slice(excess)
      return excess
    }
    const enqueue = (lines: ReadonlyArray<string>) =>
      Effect.suspend(() => {
        if (lines.length === 0) return Effect.void
        for (const l of lines) buffer.push(l)
        const dropped = trim()
        if (buffer.length >= batchSize) full.openUnsafe()
        return Effect.andThen(
          counters.add("received", lines.length),
          dropped > 0 ? counters.add("dropped", dropped) : Effect.void
        )
      })

    const sendBatch = (batch: ReadonlyArray<string>) =>
      Http.withRetries(
        Http.post(url, encoder.encode(batch.join("\n")), headers, timeoutMs),
        retry,
        counters,
        (reason, delay, n) =>
          Effect.logWarning(`influx ${name}: ${reason.message}; retry ${n}/${retry.retries} in ${Math.round(delay)} ms`)
      )

    /**
     * Sends the buffer batch by batch (only full batches when `fullOnly`); stops at the first batch that still
     * fails retryably (it is kept buffered).
     */
    const send = (fullOnly: boolean): Effect.Effect<void, InfluxError> =>
      sending.withPermits(1)(
        Effect.gen(function* () {
          while (buffer.length > 0 && (!fullOnly || buffer.length >= batchSize)) {
            const batch = buffer.slice(0, batchSize)
            buffer = buffer.slice(batch.length)
            const result = yield* Effect.result(sendBatch(batch))
            if (result._tag === "Success") {
              yield* counters.add("sent", batch.length)
              continue
            }
            const reason = result.failure
            if (reason.isRetryable) {
              buffer = batch.concat(buffer)
              yield* counters.add("dropped", trim())
            } else {
              // refused (e.g. a field type conflict): 1.x still wrote the other points and says how many it dropped
              const m = /dropped=(\d+)/.exec(reason.message)
              const dropped = m === null ? batch.length : Math.min(batch.length, Number(m[1]))
              yield* counters.add("dropped", dropped)
              yield* counters.add("sent", batch.length - dropped)
              yield* Effect.logError(`influx ${name}: ${dropped} lines refused: ${reason.message}`)
            }
            return yield* Effect.fail(new InfluxError({ name, reason }))
          }
        })
      )

    const drain = send(false)
    // full batches go as soon as they are full; everything else on a fixed schedule of `flushInterval`
    const flusher = Effect.gen(function* () {
      let tick = (yield* Clock.currentTimeMillis) + intervalMs
      for (;;) {
        const wait = tick - (yield* Clock.currentTimeMillis)
        const woke = wait > 0 ? yield* Effect.timeoutOption(full.await, wait) : Option.none()
        full.closeUnsafe()
        if (Option.isSome(woke)) {
          yield* Effect.ignore(send(true))
          continue
        }
        tick += intervalMs
        yield* Effect.ignore(drain)
      }
    })
    yield* Effect.forkScoped(flusher)
    yield* Effect.addFinalizer(() => Effect.ignore(drain))

    const pingUrl = `${config.url.replace(/\/+$/, "")}/ping`
    const health = Effect.tryPromise({
      try: (signal) => fetch(pingUrl, { headers: authHeaders(config), signal }),
      catch: () => false
    }).pipe(
      Effect.map((r) => r.ok),
      Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.succeed(false) }),
      Effect.catch(() => Effect.succeed(false))
    )

    return Influx.of({
      writeAnomalies: (xs) => enqueue(xs.map((a) => anomalyLine(a, lineOptions))),
      writeWindows: (ws) => enqueue(ws.map((w) => windowLine(w, lineOptions))),
      writeLines: enqueue,
      flush: drain,
      buffered: Effect.sync(() => buffer.length),
      health,
      counters
    })
  })

/**
 * Writes the windows of a stream to InfluxDB as they pass (buffered, so the stream is not held up), e.g. after
 * `Window.aggregate` in a pipeline of your own.
 *
 * @example
 * ```ts
 * import { Influx } from "@llm-sentinel/adapters"
 * import { Window } from "@llm-sentinel/core"
 * import { Stream } from "effect"
 * declare const windows: Stream.Stream<Window.WindowResult>
 * const written = windows.pipe(Influx.tapWindows) // needs the Influx service
 * ```
 * @category combinators
 * @since 0.1.0
 */
export const tapWindows = <E, R>(
  self: Stream.Stream<Window.WindowResult, E, R>
): Stream.Stream<Window.WindowResult, E, R | Influx> =>
  Stream.mapArrayEffect(self, (windows) =>
    Effect.as(
      Influx.use((influx) => influx.writeWindows(windows)),
      windows
    )
  )

/**
 * The writer and an `AnomalySink` writing anomalies to it (buffered: the sink accepts at once; the buffer's
 * bound and drop counter, not the pipeline, absorb an InfluxDB outage).
 *
 * @example
 * ```ts
 * import { Influx } from "@llm-sentinel/adapters"
 * const sink = Influx.layer({ url: "http://127.0.0.1:8086", database: "sentinel", precision: "ms" })
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layer = (config: Config): Layer.Layer<Influx | AnomalySink.AnomalySink, InfluxError> =>
  Layer.effectContext(
    Effect.map(make(config), (influx) =>
      Context.make(Influx, influx).pipe(Context.add(AnomalySink.AnomalySink, { write: influx.writeAnomalies }))
    )
  )
