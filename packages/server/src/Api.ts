/**
 * The HTTP API of `sentinel serve`, declared with Effect's HttpApi (served with its OpenAPI document at
 * `/openapi.json`): anomaly queries, health, readiness and the event JSON Schema. Ingest (`POST /v1/events`) is a
 * plain route in `Ingest.ts`, because it reads the body chunk by chunk.
 *
 * Every error body is an RFC 9457 problem document (`Problem.ts`, `application/problem+json`); request validation
 * errors (400) also carry `errors`, a list of `{ path, message }` where `path` names the offending parameter or
 * field.
 *
 * @since 0.1.0
 */
import { AnomalyStore, Event, Series, Verdict } from "@llm-sentinel/core"
import { Catalog } from "@llm-sentinel/detectors"
import { Effect, Layer, Schema, SchemaIssue } from "effect"
import {
  HttpApi,
  HttpApiBuilder,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  OpenApi
} from "effect/http-api"
import * as AlertLog from "./AlertLog.ts"
import * as Auth from "./Auth.ts"
import { DeadLetterStore } from "./DeadLetters.ts"
import * as Problem from "./Problem.ts"
import { Readiness } from "./Readiness.ts"
import * as SeriesRegistry from "./SeriesRegistry.ts"

/**
 * One problem with one part of a request (see `Problem.FieldError`).
 *
 * @category models
 * @since 0.1.0
 */
export const FieldError = Problem.FieldError

/**
 * @category models
 * @since 0.1.0
 */
export type FieldError = Problem.FieldError

const problemSchema = <const C extends Problem.Code, F extends Schema.Struct.Fields>(code: C, fields: F) =>
  Schema.Struct({
    type: Schema.Literal(`${Problem.typeBase}${code}` as `https://llm-sentinel.dev/problems/${C}`),
    title: Schema.String,
    status: Schema.Literal(Problem.codes[code].status as (typeof Problem.codes)[C]["status"]),
    code: Schema.Literal(code),
    detail: Schema.String,
    ...fields
  })
    .annotate({
      identifier: `Problem-${code}`,
      description: `RFC 9457 problem document (${Problem.codes[code].title})`
    })
    .pipe(HttpApiSchema.status(Problem.codes[code].status), HttpApiSchema.asJson({ contentType: Problem.contentType }))

/**
 * The request is invalid (400): every problem, each naming its parameter.
 *
 * @category errors
 * @since 0.1.0
 */
export const BadRequest = problemSchema("validation", { errors: Schema.Array(FieldError) })

/**
 * @category errors
 * @since 0.1.0
 */
export type BadRequest = typeof BadRequest.Type

/**
 * The resource does not exist (404).
 *
 * @category errors
 * @since 0.1.0
 */
export const NotFound = problemSchema("not-found", {})

/**
 * @category errors
 * @since 0.1.0
 */
export type NotFound = typeof NotFound.Type

/**
 * The store cannot answer right now (503).
 *
 * @category errors
 * @since 0.1.0
 */
export const Unavailable = problemSchema("unavailable", {})

/**
 * @category errors
 * @since 0.1.0
 */
export type Unavailable = typeof Unavailable.Type

/**
 * Some readiness check failed (503), with every check.
 *
 * @category errors
 * @since 0.1.0
 */
export const NotReady = problemSchema("not-ready", {
  checks: Schema.Record(Schema.String, Schema.Boolean),
  adapters: Schema.Record(Schema.String, Schema.Boolean)
})

/**
 * @category errors
 * @since 0.1.0
 */
export type NotReady = typeof NotReady.Type

/**
 * A {@link BadRequest} problem.
 *
 * @category constructors
 * @since 0.1.0
 */
export const badRequest = (detail: string, errors: ReadonlyArray<FieldError>): BadRequest =>
  Problem.validation(detail, errors) as BadRequest

/**
 * An {@link Unavailable} problem.
 *
 * @category constructors
 * @since 0.1.0
 */
export const unavailable = (detail: string): Unavailable =>
  Problem.make({ status: 503, code: "unavailable", detail }) as Unavailable

/**
 * A {@link NotFound} problem.
 *
 * @category constructors
 * @since 0.1.0
 */
export const notFound = (detail: string): NotFound =>
  Problem.make({ status: 404, code: "not-found", detail }) as NotFound

const filter = (description: string) => Schema.optionalKey(Schema.String.annotate({ description }))

/**
 * The query string of `GET /v1/anomalies`. Parameters arrive as strings and are validated by {@link parseQuery},
 * which names the parameter in each error; unknown parameters are errors too.
 *
 * @category models
 * @since 0.1.0
 */
export const AnomaliesQuery = {
  service: filter("Only anomalies of this service"),
  model: filter("Only anomalies of this model"),
  metric: filter("Only anomalies of this signal, e.g. `latency.p95`"),
  detector: filter("Only anomalies found by this detector, e.g. `zscore`"),
  since: filter("Event time lower bound (inclusive): ISO 8601 date-time with a time zone, or epoch milliseconds"),
  until: filter("Event time upper bound (exclusive): ISO 8601 date-time with a time zone, or epoch milliseconds"),
  limit: filter("Page size, 1 to 1000 (default 100)"),
  cursor: filter("The `next` value of the previous page")
}

/**
 * The response of `GET /healthz`.
 *
 * @category models
 * @since 0.1.0
 */
export const Health = Schema.Struct({ status: Schema.Literal("ok") })

/**
 * The response of `GET /readyz` when ready.
 *
 * @category models
 * @since 0.1.0
 */
export const Ready = Schema.Struct({
  status: Schema.Literal("ready"),
  checks: Schema.Record(Schema.String, Schema.Boolean),
  /** Each configured sink's health (`sink:<name>`), reported without deciding readiness. */
  adapters: Schema.Record(Schema.String, Schema.Boolean)
})

/**
 * Query endpoints.
 *
 * @category models
 * @since 0.1.0
 */
export class AnomaliesGroup extends HttpApiGroup.make("anomalies").add(
  HttpApiEndpoint.get("list", "/v1/anomalies", {
    query: AnomaliesQuery,
    success: AnomalyStore.Page,
    error: [BadRequest, Unavailable]
  }).annotateMerge(
    OpenApi.annotations({
      summary: "Anomalies, newest first",
      description:
        "Ordered by event time descending, then id. Pass `next` back as `cursor` for the next page; " +
        "`next` is null on the last page."
    })
  )
) {}

/**
 * One stored dead letter, as served by `GET /v1/dead-letters`.
 *
 * @category models
 * @since 0.1.0
 */
export const DeadLetter = Schema.Struct({
  id: Schema.String,
  /** Where the record came from, e.g. `journal 0000000000000000.journal at byte 1234`. */
  source: Schema.NullOr(Schema.String),
  index: Schema.Number,
  errors: Schema.Array(FieldError),
  /** The record as JSON text (at most 64 KiB). */
  payload: Schema.String,
  receivedAt: Schema.Number
})

/**
 * Dead-letter endpoints.
 *
 * @category models
 * @since 0.1.0
 */
export class DeadLettersGroup extends HttpApiGroup.make("deadLetters").add(
  HttpApiEndpoint.get("list", "/v1/dead-letters", {
    query: { limit: filter("Page size, 1 to 1000 (default 100)") },
    success: Schema.Struct({ items: Schema.Array(DeadLetter) }),
    error: [BadRequest, Unavailable]
  }).annotateMerge(
    OpenApi.annotations({
      summary: "Records a source held that could not be used, newest first",
      description:
        "Journal lines quarantined on replay (bad checksum, not a record) and journaled records that no longer " +
        "decode, each with its errors, source (file and byte offset) and payload."
    })
  )
) {}

/**
 * The query string of `GET /v1/alerts`, validated by {@link parseAlertsQuery}.
 *
 * @category models
 * @since 0.2.0
 */
export const AlertsQuery = {
  status: filter("`open` (firing) or `resolved`; both when absent"),
  service: filter("Only alerts of this service"),
  model: filter("Only alerts of this model"),
  metric: filter("Only alerts of this signal, e.g. `latency.p95`"),
  severity: filter("`info`, `warning` or `critical`"),
  since: filter("Opened at or after: ISO 8601 date-time with a time zone, or epoch milliseconds"),
  until: filter("Opened before: ISO 8601 date-time with a time zone, or epoch milliseconds"),
  limit: filter("Page size, 1 to 1000 (default 100)"),
  cursor: filter("The `next` value of the previous page")
}

/**
 * Alert queries.
 *
 * @category models
 * @since 0.2.0
 */
export class AlertsGroup extends HttpApiGroup.make("alerts").add(
  HttpApiEndpoint.get("list", "/v1/alerts", {
    query: AlertsQuery,
    success: AlertLog.Page,
    error: [BadRequest, Unavailable]
  }).annotateMerge(
    OpenApi.annotations({
      summary: "Alerts, firing and resolved, newest opened first",
      description:
        "Each alert in its latest state (`status` open or resolved). Ordered by `openedAt` descending, then id; " +
        "pass `next` back as `cursor` for the next page. Live transitions: `GET /v1/stream/alerts` (server-sent events)."
    })
  )
) {}

const NumOrNull = Schema.NullOr(Schema.Finite)

/**
 * A detector's warm-up on one series.
 *
 * @category models
 * @since 0.1.0
 */
export const Progress = Schema.Struct({
  name: Schema.String,
  seen: Schema.Int,
  minSamples: Schema.Int,
  ready: Schema.Boolean,
  progress: Schema.String.annotate({ description: "`MAD 12/30 windows` or `MAD ready`" })
}).annotate({ identifier: "DetectorProgress" })

/**
 * One live series, as `GET /v1/series` lists it.
 *
 * @category models
 * @since 0.1.0
 */
export const SeriesSummary = Schema.Struct({
  series: Series.SeriesKeySchema,
  lastPoint: Schema.NullOr(Schema.Struct({ time: Schema.Finite, value: NumOrNull })),
  stats: Schema.Struct({ count: Schema.Int, mean: NumOrNull, min: NumOrNull, max: NumOrNull }),
  detectors: Schema.Array(Progress),
  warmingUp: Schema.Boolean,
  anomalies: Schema.Int,
  lastAnomalyAt: NumOrNull,
  alert: Schema.NullOr(Schema.Struct({ id: Schema.String, severity: Verdict.Severity }))
}).annotate({ identifier: "SeriesSummary" })

/**
 * One scored window aggregate of a series, for charts.
 *
 * @category models
 * @since 0.1.0
 */
export const SeriesPoint = Schema.Struct({
  time: Schema.Finite,
  value: NumOrNull,
  expected: NumOrNull,
  lower: NumOrNull,
  upper: NumOrNull,
  anomalous: Schema.Boolean,
  severity: Verdict.Severity,
  detectors: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      score: Schema.Finite,
      expected: NumOrNull,
      lower: NumOrNull,
      upper: NumOrNull,
      anomalous: Schema.Boolean,
      severity: Verdict.Severity,
      ready: Schema.Boolean
    })
  )
}).annotate({ identifier: "SeriesPoint" })

/**
 * The query string of `GET /v1/series`.
 *
 * @category models
 * @since 0.1.0
 */
export const SeriesQuery = {
  service: filter("Only series of this service"),
  model: filter("Only series of this model"),
  metric: filter("Only series of this signal"),
  q: filter("Case-insensitive substring of the series id"),
  state: filter("`warming`, `ready` or `alerting`"),
  limit: filter("Page size, 1 to 1000 (default 100)"),
  cursor: filter("The `next` value of the previous page")
}

/**
 * Live-series endpoints.
 *
 * @category models
 * @since 0.1.0
 */
export class SeriesGroup extends HttpApiGroup.make("series").add(
  HttpApiEndpoint.get("list", "/v1/series", {
    query: SeriesQuery,
    success: Schema.Struct({
      items: Schema.Array(SeriesSummary),
      next: Schema.NullOr(Schema.String),
      total: Schema.Int
    }),
    error: BadRequest
  }).annotateMerge(
    OpenApi.annotations({
      summary: "Live series with their statistics, warm-up progress and last point, by id",
      description:
        "Series seen since the process started, ordered by id. `total` counts every series matching the filter; " +
        "pass `next` back as `cursor` for the next page."
    })
  ),
  HttpApiEndpoint.get("points", "/v1/series/:id/points", {
    params: { id: Schema.String.annotate({ description: "The series id, URL-encoded" }) },
    query: {
      limit: filter("Points, 1 to the ring size (default: all kept)"),
      since: filter("Event time lower bound (inclusive)")
    },
    success: Schema.Struct({ series: SeriesSummary, points: Schema.Array(SeriesPoint) }),
    error: [BadRequest, NotFound]
  }).annotateMerge(
    OpenApi.annotations({
      summary: "Recent window aggregates of one series with expected value, band and anomaly markers",
      description: `Oldest first; the server keeps the last ${SeriesRegistry.defaultCapacity} points of each series in memory.`
    })
  )
) {}

/**
 * One shipped detector.
 *
 * @category models
 * @since 0.1.0
 */
export const DetectorInfo = Schema.Struct({
  name: Schema.String,
  defaults: Schema.Record(Schema.String, Schema.Unknown),
  parameters: Schema.NullOr(Schema.Record(Schema.String, Schema.Unknown))
}).annotate({ identifier: "DetectorInfo" })

/**
 * Detector catalog endpoints.
 *
 * @category models
 * @since 0.1.0
 */
export class DetectorsGroup extends HttpApiGroup.make("detectors").add(
  HttpApiEndpoint.get("list", "/v1/detectors", {
    success: Schema.Struct({ items: Schema.Array(DetectorInfo) })
  }).annotateMerge(
    OpenApi.annotations({ summary: "The shipped detectors: names, default parameters and the parameters' JSON Schema" })
  )
) {}

/**
 * Health, readiness and schema endpoints.
 *
 * @category models
 * @since 0.1.0
 */
export class SystemGroup extends HttpApiGroup.make("system").add(
  HttpApiEndpoint.get("health", "/healthz", { success: Health }).annotateMerge(
    OpenApi.annotations({ summary: "The process is up" })
  ),
  HttpApiEndpoint.get("ready", "/readyz", { success: Ready, error: NotReady }).annotateMerge(
    OpenApi.annotations({ summary: "The store is open and the pipeline is running" })
  ),
  HttpApiEndpoint.get("eventSchema", "/v1/schema/event", {
    success: Schema.Record(Schema.String, Schema.Unknown)
  }).annotateMerge(OpenApi.annotations({ summary: "The JSON Schema (2020-12) of one telemetry event" }))
) {}

/**
 * Renders request decoding failures (e.g. an unknown query parameter) as {@link BadRequest}.
 *
 * @category models
 * @since 0.1.0
 */
export class Validation extends HttpApiMiddleware.Service<Validation>()("@llm-sentinel/server/Api/Validation", {
  error: BadRequest
}) {}

/**
 * Declares the bearer scheme and, on every operation, the scope `Auth.required` asks of it (none for the open
 * routes), so the OpenAPI document says what the server enforces.
 */
const withSecurity = (spec: Record<string, any>): Record<string, any> => {
  const paths: Record<string, Record<string, Record<string, unknown>>> = spec.paths ?? {}
  for (const [path, operations] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const scope = Auth.required(method, path)
      operation.security = scope === "open" ? [] : [{ bearer: [scope] }]
    }
  }
  return {
    ...spec,
    components: {
      ...spec.components,
      securitySchemes: {
        ...spec.components?.securitySchemes,
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "An API key (`sentinel hash-key`), required when keys are configured; scopes ingest, read, admin"
        }
      }
    }
  }
}

/**
 * The API.
 *
 * @category models
 * @since 0.1.0
 */
export class Api extends HttpApi.make("sentinel")
  .add(AnomaliesGroup)
  .add(AlertsGroup)
  .add(DeadLettersGroup)
  .add(SeriesGroup)
  .add(DetectorsGroup)
  .add(SystemGroup)
  .middleware(Validation)
  .annotate(HttpApi.QueryParseOptions, { errors: "all" })
  .annotateMerge(
    OpenApi.annotations({
      title: "LLM-Sentinel",
      version: "0.1.0",
      description:
        "Streaming anomaly detection on LLM telemetry. Ingest: POST /v1/events (JSON object, JSON " +
        "array or NDJSON), answered 202 with `{ accepted, rejected }`. With API keys configured, requests send " +
        "`Authorization: Bearer <key>`; each operation names the scope it needs (`admin` has every scope).",
      transform: withSecurity
    })
  ) {}

const pathOf = (path: ReadonlyArray<unknown> | undefined): string =>
  (path ?? []).map((p) => String(typeof p === "object" && p !== null ? (p as { key: PropertyKey }).key : p)).join(".")

/**
 * The {@link Validation} middleware.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerValidation: Layer.Layer<Validation> = HttpApiMiddleware.layerSchemaErrorTransform(
  Validation,
  (error) => {
    // a response that does not encode is the server's fault: a logged 500 (see Http.layerErrors), not a 400
    if (error.kind === "Body" || error.kind === "ResponseHeaders") return Effect.die(error)
    const issues = Schema.isSchemaError(error.cause)
      ? standard(error.cause.issue).issues.map((i) => ({
          path: pathOf(i.path),
          message: i.message.replace(/^Expected no excess property$/i, "unknown parameter")
        }))
      : []
    return Effect.fail(
      badRequest(
        `invalid request ${error.kind.toLowerCase()}`,
        issues.length > 0 ? issues : [{ path: "", message: String(error.cause) }]
      )
    )
  }
)

const standard = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * Reads a time parameter: epoch milliseconds (digits) or an ISO 8601 date-time with a time zone.
 *
 * @category constructors
 * @since 0.1.0
 */
export const parseTime = (raw: string): number | undefined => {
  const s = raw.trim()
  if (/^\d+(\.\d+)?$/.test(s)) {
    const n = Number(s)
    return Number.isFinite(n) ? n : undefined
  }
  return Event.parseIsoDateTime(s)
}

/** Filters given as 1 to 256 characters: each valid one is set on `out`, each other one is an error. */
const textParams = <K extends string>(
  errors: Array<FieldError>,
  q: { readonly [N in K]?: string | undefined },
  names: ReadonlyArray<K>,
  out: { [N in K]?: string }
): void => {
  for (const name of names) {
    const v = q[name]
    if (v === undefined) continue
    if (v.length === 0 || v.length > 256) errors.push({ path: name, message: "expected 1 to 256 characters" })
    else out[name] = v
  }
}

/** `since` (inclusive) and `until` (exclusive) as ISO 8601 date-times or epoch ms, `until ≥ since`. */
const timeParams = (
  errors: Array<FieldError>,
  q: { readonly since?: string | undefined; readonly until?: string | undefined },
  out: { since?: number; until?: number }
): void => {
  for (const name of ["since", "until"] as const) {
    const v = q[name]
    if (v === undefined) continue
    const t = parseTime(v)
    if (t === undefined) {
      errors.push({
        path: name,
        message: `expected an ISO 8601 date-time with a time zone or epoch milliseconds, got ${JSON.stringify(v)}`
      })
    } else out[name] = t
  }
  if (out.since !== undefined && out.until !== undefined && out.until < out.since) {
    errors.push({ path: "until", message: "expected until ≥ since" })
  }
}

/** A `cursor` that `valid` accepts (the `next` of a previous page). */
const cursorParam = (
  errors: Array<FieldError>,
  raw: string | undefined,
  valid: (cursor: string) => boolean,
  out: { cursor?: string }
): void => {
  if (raw === undefined) return
  if (valid(raw)) out.cursor = raw
  else errors.push({ path: "cursor", message: "expected the `next` value of a previous page" })
}

/**
 * Validates the query string of `GET /v1/anomalies` into a store query; every problem names its parameter.
 *
 * @category constructors
 * @since 0.1.0
 */
export const parseQuery = (
  q: { readonly [K in keyof typeof AnomaliesQuery]?: string | undefined },
  names: Iterable<string> = []
):
  | { readonly _tag: "Ok"; readonly query: AnomalyStore.Query }
  | {
      readonly _tag: "Invalid"
      readonly errors: ReadonlyArray<FieldError>
    } => {
  const errors: Array<FieldError> = []
  for (const name of new Set(names)) {
    if (!Object.hasOwn(AnomaliesQuery, name)) {
      errors.push({
        path: name,
        message: `unknown parameter (known: ${Object.keys(AnomaliesQuery).join(", ")})`
      })
    }
  }
  const out: { -readonly [K in keyof AnomalyStore.Query]: AnomalyStore.Query[K] } = { limit: 100 }
  textParams(errors, q, ["service", "model", "metric", "detector"], out)
  timeParams(errors, q, out)
  out.limit = intParam(errors, "limit", q.limit, 1, 1000, 100)
  cursorParam(errors, q.cursor, (c) => AnomalyStore.decodeCursor(c) !== undefined, out)
  return errors.length > 0 ? { _tag: "Invalid", errors } : { _tag: "Ok", query: out }
}

/**
 * Validates the query string of `GET /v1/alerts`; every problem names its parameter.
 *
 * @category constructors
 * @since 0.2.0
 */
export const parseAlertsQuery = (
  q: {
    readonly [K in keyof typeof AlertsQuery]?: string | undefined
  }
):
  | { readonly _tag: "Ok"; readonly query: AlertLog.Query }
  | { readonly _tag: "Invalid"; readonly errors: ReadonlyArray<FieldError> } => {
  const errors: Array<FieldError> = []
  const out: { -readonly [K in keyof AlertLog.Query]: AlertLog.Query[K] } = { limit: 100 }
  if (q.status !== undefined) {
    if (q.status === "open" || q.status === "resolved") out.status = q.status
    else errors.push({ path: "status", message: `expected open or resolved, got ${JSON.stringify(q.status)}` })
  }
  textParams(errors, q, ["service", "model", "metric"], out)
  if (q.severity !== undefined) {
    if (q.severity === "info" || q.severity === "warning" || q.severity === "critical") out.severity = q.severity
    else {
      errors.push({
        path: "severity",
        message: `expected info, warning or critical, got ${JSON.stringify(q.severity)}`
      })
    }
  }
  timeParams(errors, q, out)
  out.limit = intParam(errors, "limit", q.limit, 1, 1000, 100)
  cursorParam(errors, q.cursor, (c) => AlertLog.decodeCursor(c) !== undefined, out)
  return errors.length > 0 ? { _tag: "Invalid", errors } : { _tag: "Ok", query: out }
}

/**
 * The handler of `GET /v1/alerts`, over the `AlertLog` in context.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerAlerts = HttpApiBuilder.group(
  Api,
  "alerts",
  Effect.fn(function* (handlers) {
    const log = yield* AlertLog.AlertLog
    return handlers.handle(
      "list",
      Effect.fn(function* ({ query }) {
        const parsed = parseAlertsQuery(query)
        if (parsed._tag === "Invalid") return yield* Effect.fail(badRequest("invalid query parameters", parsed.errors))
        return yield* log
          .list(parsed.query)
          .pipe(
            Effect.mapError((e) =>
              e.reason === "Invalid"
                ? badRequest("invalid query parameters", [{ path: "cursor", message: e.message }])
                : unavailable(e.message)
            )
          )
      })
    )
  })
)

/**
 * The handlers of the query endpoints, over the `AnomalyStore` in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerAnomalies = HttpApiBuilder.group(
  Api,
  "anomalies",
  Effect.fn(function* (handlers) {
    const store = yield* AnomalyStore.AnomalyStore
    return handlers.handle(
      "list",
      Effect.fn(function* ({ query, request }) {
        const search = request.url.indexOf("?")
        const names = search < 0 ? [] : new URLSearchParams(request.url.slice(search + 1)).keys()
        const parsed = parseQuery(query, names)
        if (parsed._tag === "Invalid") {
          return yield* Effect.fail(badRequest("invalid query parameters", parsed.errors))
        }
        return yield* store
          .query(parsed.query)
          .pipe(
            Effect.mapError((e): BadRequest | Unavailable =>
              e.reason === "Invalid"
                ? badRequest(e.message, [{ path: "cursor", message: e.message }])
                : unavailable(e.message)
            )
          )
      })
    )
  })
)

/**
 * The handlers of the dead-letter endpoints, over the `DeadLetterStore` in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerDeadLetters = HttpApiBuilder.group(
  Api,
  "deadLetters",
  Effect.fn(function* (handlers) {
    const store = yield* DeadLetterStore
    return handlers.handle(
      "list",
      Effect.fn(function* ({ query }) {
        const raw = query.limit ?? "100"
        const limit = /^\d+$/.test(raw) ? Number(raw) : Number.NaN
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
          return yield* Effect.fail(
            badRequest("invalid query parameters", [
              { path: "limit", message: `expected an integer from 1 to 1000, got ${JSON.stringify(raw)}` }
            ])
          )
        }
        const items = yield* store.latest(limit).pipe(Effect.mapError((e) => unavailable(e.message)))
        return { items }
      })
    )
  })
)

const intParam = (
  errors: Array<FieldError>,
  name: string,
  raw: string | undefined,
  min: number,
  max: number,
  fallback: number
): number => {
  if (raw === undefined) return fallback
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN
  if (!Number.isInteger(n) || n < min || n > max) {
    errors.push({ path: name, message: `expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}` })
    return fallback
  }
  return n
}

const unknownParams = (request: { readonly url: string }, known: object): Array<FieldError> => {
  const search = request.url.indexOf("?")
  if (search < 0) return []
  const out: Array<FieldError> = []
  for (const name of new Set(new URLSearchParams(request.url.slice(search + 1)).keys())) {
    if (!Object.hasOwn(known, name)) {
      out.push({ path: name, message: `unknown parameter (known: ${Object.keys(known).join(", ")})` })
    }
  }
  return out
}

/**
 * Validates the query string of `GET /v1/series`; every problem names its parameter.
 *
 * @category constructors
 * @since 0.1.0
 */
export const parseSeriesQuery = (
  q: {
    readonly [K in keyof typeof SeriesQuery]?: string | undefined
  }
):
  | { readonly _tag: "Ok"; readonly query: SeriesRegistry.ListQuery }
  | { readonly _tag: "Invalid"; readonly errors: ReadonlyArray<FieldError> } => {
  const errors: Array<FieldError> = []
  const out: { -readonly [K in keyof SeriesRegistry.ListQuery]: SeriesRegistry.ListQuery[K] } = { limit: 100 }
  for (const name of ["service", "model", "metric", "q", "cursor"] as const) {
    const v = q[name]
    if (v === undefined) continue
    if (v.length === 0 || v.length > 1024) errors.push({ path: name, message: "expected 1 to 1024 characters" })
    else out[name] = v
  }
  if (q.state !== undefined) {
    if (q.state === "warming" || q.state === "ready" || q.state === "alerting") out.state = q.state
    else errors.push({ path: "state", message: `expected warming, ready or alerting, got ${JSON.stringify(q.state)}` })
  }
  out.limit = intParam(errors, "limit", q.limit, 1, 1000, 100)
  return errors.length > 0 ? { _tag: "Invalid", errors } : { _tag: "Ok", query: out }
}

/**
 * The handlers of the live-series endpoints, over the {@link SeriesRegistry.SeriesRegistry} in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerSeries = HttpApiBuilder.group(
  Api,
  "series",
  Effect.fn(function* (handlers) {
    const registry = yield* SeriesRegistry.SeriesRegistry
    return handlers
      .handle(
        "list",
        Effect.fn(function* ({ query, request }) {
          const parsed = parseSeriesQuery(query)
          const errors = [...unknownParams(request, SeriesQuery), ...(parsed._tag === "Invalid" ? parsed.errors : [])]
          if (errors.length > 0 || parsed._tag === "Invalid") {
            return yield* Effect.fail(badRequest("invalid query parameters", errors))
          }
          return registry.list(parsed.query)
        })
      )
      .handle(
        "points",
        Effect.fn(function* ({ params, query, request }) {
          const errors = unknownParams(request, { limit: 0, since: 0 })
          const limit = intParam(errors, "limit", query.limit, 1, registry.capacity, registry.capacity)
          let since: number | undefined
          if (query.since !== undefined) {
            since = parseTime(query.since)
            if (since === undefined) {
              errors.push({
                path: "since",
                message: `expected an ISO 8601 date-time with a time zone or epoch milliseconds, got ${JSON.stringify(query.since)}`
              })
            }
          }
          if (errors.length > 0) return yield* Effect.fail(badRequest("invalid query parameters", errors))
          const found = registry.points(params.id, since === undefined ? { limit } : { limit, since })
          if (found === undefined) {
            return yield* Effect.fail(notFound(`no live series ${JSON.stringify(params.id.slice(0, 200))}`))
          }
          return found
        })
      )
  })
)

/**
 * The handler of `GET /v1/detectors`, from the detectors' catalog.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerDetectors = HttpApiBuilder.group(Api, "detectors", (handlers) => {
  const items = Catalog.modules().map((m) => {
    let parameters: Record<string, unknown> | null = null
    if (m.ParamsSchema !== undefined) {
      const doc = Schema.toJsonSchemaDocument(m.ParamsSchema)
      parameters = {
        ...(doc.schema as Record<string, unknown>),
        ...(doc.definitions ? { $defs: doc.definitions } : {})
      }
    }
    // as JSON: a default may be a detector (an ensemble's members), shown by its name and parameters
    const defaults = JSON.parse(JSON.stringify(m.defaults ?? {})) as Record<string, unknown>
    return { name: m.name, defaults, parameters }
  })
  return Effect.succeed(handlers.handle("list", () => Effect.succeed({ items })))
})

/**
 * The handlers of the system endpoints, over the {@link Readiness} checks in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerSystem = HttpApiBuilder.group(
  Api,
  "system",
  Effect.fn(function* (handlers) {
    const readiness = yield* Readiness
    const schema = Event.jsonSchema()
    return handlers
      .handle("health", () => Effect.succeed({ status: "ok" as const }))
      .handle("ready", () =>
        Effect.flatMap(readiness.report, (r) =>
          r.ready
            ? Effect.succeed({ status: "ready" as const, checks: r.checks, adapters: r.adapters })
            : Effect.fail(
                Problem.make({
                  status: 503,
                  code: "not-ready",
                  detail: `not ready: ${
                    Object.entries(r.checks)
                      .filter(([, ok]) => !ok)
                      .map(([name]) => name)
                      .join(", ") || "no checks"
                  }`,
                  extensions: { checks: r.checks, adapters: r.adapters }
                }) as NotReady
              )
        )
      )
      .handle("eventSchema", () => Effect.succeed(schema))
  })
)

/**
 * The API routes with their handlers and the OpenAPI document at `/openapi.json`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(
  Layer.provide(
    Layer.mergeAll(layerAnomalies, layerAlerts, layerDeadLetters, layerSeries, layerDetectors, layerSystem).pipe(
      Layer.provideMerge(layerValidation)
    )
  )
)
