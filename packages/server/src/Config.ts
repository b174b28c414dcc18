/**
 * The configuration of `sentinel serve`, as one Schema ({@link Config}): a YAML or JSON file (`--config`),
 * overridden by `SENTINEL_*` environment variables, overridden by flags ({@link load}). Unknown keys are errors,
 * and every problem names its path and what was expected, with the value found
 * (`detectors[2].params.window: expected a value greater than or equal to 2, got 0`). Secrets decode to
 * `Redacted` values, which {@link render} prints as `<redacted>`. `docs/configuration.md` is generated from this
 * Schema (`scripts/config-reference.ts`).
 *
 * @since 0.2.0
 */
import { Influx, Nats, Slack, Webhook } from "@llm-sentinel/adapters"
import { Verdict } from "@llm-sentinel/core"
import { Catalog } from "@llm-sentinel/detectors"
import { ByteSize, Duration, Effect, Option, Redacted, Schema, SchemaIssue } from "effect"
import * as Yaml from "yaml"

// ---------------------------------------------------------------------------------------------------- values

const NonEmpty = Schema.String.check(Schema.isNonEmpty())

/**
 * A duration: an Effect duration string (`"10 seconds"`, `"1 minute"`) or milliseconds.
 *
 * @category models
 * @since 0.2.0
 */
export const DurationInput = Schema.Union([
  Schema.String.check(
    Schema.makeFilter(
      (s) =>
        Option.isSome(Duration.fromInput(s as Duration.Input)) ||
        `expected a duration such as "10 seconds" or "1 minute"`
    )
  ),
  Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
]).annotate({ description: 'a duration: "10 seconds", "1 minute", or milliseconds' })

/**
 * A size: `"10 MiB"`, `"2 GiB"`, or bytes.
 *
 * @category models
 * @since 0.2.0
 */
export const SizeInput = Schema.Union([
  Schema.String.check(
    Schema.makeFilter(
      (s) =>
        Option.isSome(Option.flatMap(ByteSize.fromString(s), ByteSize.toNumber)) ||
        /^\d+$/.test(s) ||
        `expected a size such as "10 MiB" or a number of bytes`
    )
  ),
  Schema.Int.check(Schema.isGreaterThan(0))
]).annotate({ description: 'a size: "10 MiB", "2 GiB", or bytes' })

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const Secret = Schema.RedactedFromValue(NonEmpty)

// ---------------------------------------------------------------------------------------------------- sections

/**
 * `server`: where and how Sentinel listens.
 *
 * @category models
 * @since 0.2.0
 */
export const Server = Schema.Struct({
  /** Address to listen on (default `127.0.0.1`). A non-loopback address needs `auth.keys` or `allowUnauthenticated`. */
  host: Schema.optionalKey(NonEmpty.check(Schema.makeFilter((s) => !/\s/.test(s) || "expected no spaces"))),
  /** HTTP port (default 7300; 0 picks a free one). */
  port: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))),
  /** Directory of the embedded store and the journal (default `.sentinel`). */
  dataDir: Schema.optionalKey(NonEmpty),
  /** Accept a non-loopback `host` without API keys (default false). */
  allowUnauthenticated: Schema.optionalKey(Schema.Boolean),
  /** Origins whose web pages may call the API (CORS). */
  corsOrigins: Schema.optionalKey(Schema.Array(NonEmpty)),
  /** More `Host` names accepted on a loopback bind. */
  allowedHosts: Schema.optionalKey(Schema.Array(NonEmpty)),
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls: Schema.optionalKey(
    Schema.Struct({
      /** The certificate chain, PEM. */
      cert: NonEmpty,
      /** The private key, PEM. */
      key: NonEmpty
    })
  )
})

/**
 * `limits`: every limit of ingest and the journal (see the server README).
 *
 * @category models
 * @since 0.2.0
 */
export const Limits = Schema.Struct({
  /** Largest request body (default `10 MiB`). */
  maxBody: Schema.optionalKey(SizeInput),
  /** Most records in one request (default 10000). */
  maxRecords: Schema.optionalKey(PositiveInt),
  /** Ingest requests queued for the pipeline (default 1024). */
  queueCapacity: Schema.optionalKey(PositiveInt),
  /** Events accepted and not yet processed (default 100000). */
  maxEventsInFlight: Schema.optionalKey(PositiveInt),
  /** Request bytes being read at once (default `64 MiB`). */
  maxBytesInFlight: Schema.optionalKey(SizeInput),
  /** Disk budget of the journal (default `2 GiB`). */
  journalMax: Schema.optionalKey(SizeInput),
  /** Size at which the journal starts a new segment (default `64 MiB`). */
  journalSegment: Schema.optionalKey(SizeInput),
  /** Earliest accepted event time, ISO 8601 with a zone (default `2000-01-01T00:00:00Z`). */
  minTimestamp: Schema.optionalKey(
    Schema.String.check(
      Schema.makeFilter(
        (s) =>
          (/(Z|[+-]\d\d:\d\d)$/.test(s) && Number.isFinite(Date.parse(s))) ||
          "expected an ISO 8601 date-time with a time zone"
      )
    )
  ),
  /** How far ahead of the server clock an event time may be (default `5 minutes`). */
  maxFuture: Schema.optionalKey(DurationInput),
  /** Empty windows a silent series emits in a row before the windowing skips ahead (default 10). */
  maxEmptyWindows: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)))
})

/**
 * `pipeline`: windows and series.
 *
 * @category models
 * @since 0.2.0
 */
export const PipelineSection = Schema.Struct({
  /** Tumbling window size (default `1 minute`). */
  window: Schema.optionalKey(DurationInput),
  /** Watermark: how late an event may arrive (default `5 seconds`). */
  maxDelay: Schema.optionalKey(DurationInput),
  /** Processing time after which a silent series' windows close (default `30 seconds`). */
  idleTimeout: Schema.optionalKey(DurationInput),
  /** How often detector states, window clocks and the journal position are saved (default `30 seconds`). */
  checkpointEvery: Schema.optionalKey(DurationInput),
  /** Most live series (default 100000); overflow is counted. */
  maxSeries: Schema.optionalKey(PositiveInt),
  /**
   * Memory for the recent points of all live series together, as `GET /v1/series/{id}/points` and the dashboard
   * show them (default `64 MiB`): each series keeps up to 240 points, fewer when many series share it (at least 8).
   */
  seriesHistory: Schema.optionalKey(SizeInput),
  /** One more dimension of the series key besides service × model. */
  dimension: Schema.optionalKey(Schema.Literals(["environment", "provider", "operation"])),
  /** The watched signals (default: every built-in signal, e.g. `latency.p95`, `error.rate`). */
  signals: Schema.optionalKey(Schema.Array(NonEmpty).check(Schema.isMinLength(1)))
})

/**
 * One entry of `detectors`: a detector of the catalog on the signals matching `metric`.
 *
 * @category models
 * @since 0.2.0
 */
export const DetectorRule = Schema.Struct({
  /** A signal name (`latency.p95`), a family prefix (`latency`), or `*` for every signal (default `*`). */
  metric: Schema.optionalKey(NonEmpty),
  /** The detector's name in the catalog (`zscore`, `ewma`, `mad`, `iqr`, `cusum`, `seasonal`, …). */
  type: NonEmpty,
  /** The detector's parameters, checked against its own parameter Schema (defaults for what is left out). */
  params: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)),
  /** Wrap the detector in `calibrated` (scores as rarity for the series, in σ units; default false). */
  calibrated: Schema.optionalKey(Schema.Boolean)
})

/**
 * @category models
 * @since 0.2.0
 */
export type DetectorRule = typeof DetectorRule.Type

/**
 * `thresholds`: the deciding step's score thresholds.
 *
 * @category models
 * @since 0.2.0
 */
export const Thresholds = Schema.Struct({
  info: Schema.optionalKey(Schema.Finite),
  warning: Schema.Finite,
  critical: Schema.Finite
}).check(Schema.makeFilter((t) => t.critical >= t.warning || "expected critical ≥ warning"))

/**
 * `store`: where anomalies, alerts, dead letters and checkpoints live.
 *
 * @category models
 * @since 0.2.0
 */
export const Store = Schema.Union([
  Schema.Struct({ type: Schema.Literal("embedded") }),
  Schema.Struct({
    type: Schema.Literal("postgres"),
    /** A `postgres://` URL (a secret: it may hold a password). */
    url: Secret,
    /** The schema of Sentinel's tables (default `public`). */
    schema: Schema.optionalKey(NonEmpty)
  })
])

/**
 * `source`: where events come from besides HTTP/OTLP ingest.
 *
 * @category models
 * @since 0.2.0
 */
export const Source = Schema.Union([
  /** HTTP and OTLP ingest into the journal (the default). */
  Schema.Struct({ type: Schema.Literal("embedded") }),
  /** Kafka as the backbone: ingest produces to `topic`, instances of `groupId` share partitions (needs postgres). */
  Schema.Struct({
    type: Schema.Literal("kafka"),
    brokers: Schema.Array(NonEmpty).check(Schema.isMinLength(1)),
    topic: Schema.optionalKey(NonEmpty),
    groupId: Schema.optionalKey(NonEmpty),
    partitions: Schema.optionalKey(PositiveInt)
  }),
  /** A NATS JetStream durable consumer; its messages are journaled, then acknowledged (HTTP ingest stays on). */
  Schema.Struct({ type: Schema.Literal("nats"), ...Nats.SourceConfig.fields })
])

const influxCheck = Schema.makeFilter(
  (c: {
    readonly api?: string
    readonly org?: string
    readonly bucket?: string
    readonly token?: unknown
    readonly database?: string
  }) =>
    (c.api ?? "v1") === "v2"
      ? (c.org !== undefined && c.bucket !== undefined && c.token !== undefined) || "api v2 needs org, bucket and token"
      : c.database !== undefined || `api ${c.api ?? "v1"} needs database`
)

/**
 * One entry of `sinks`: a destination, chosen by `type`, named by `name` (what `alerts.routes` refer to).
 *
 * @category models
 * @since 0.2.0
 */
export const Sink = Schema.Union([
  /** Alerts as signed JSON POSTs. */
  Schema.Struct({ type: Schema.Literal("webhook"), ...Webhook.Config.fields }),
  /** Alerts as Slack messages (incoming webhook). */
  Schema.Struct({ type: Schema.Literal("slack"), ...Slack.Config.fields }),
  /** Anomalies as InfluxDB line protocol. */
  Schema.Struct({ type: Schema.Literal("influxdb"), ...Influx.Config.fields }).check(influxCheck),
  /** Anomalies and alert events published to NATS subjects. */
  Schema.Struct({
    type: Schema.Literal("nats"),
    /** The sink's name in routes, metrics and logs (default `nats`). */
    name: Schema.optionalKey(NonEmpty),
    ...Nats.SinkConfig.fields
  }),
  /** Anomalies and alert events appended to an NDJSON file. */
  Schema.Struct({
    type: Schema.Literal("file"),
    name: Schema.optionalKey(NonEmpty),
    /** The file (created if missing, appended to). */
    path: NonEmpty
  })
])

/**
 * @category models
 * @since 0.2.0
 */
export type Sink = typeof Sink.Type

/**
 * One alert route: alert events matching every given filter go to `sinks`.
 *
 * @category models
 * @since 0.2.0
 */
export const Route = Schema.Struct({
  /** Names of sinks (from `sinks[].name`). */
  sinks: Schema.Array(NonEmpty).check(Schema.isMinLength(1)),
  /** Only these severities. */
  severity: Schema.optionalKey(Schema.Array(Schema.Literals(["info", "warning", "critical"]))),
  /** Only these services. */
  services: Schema.optionalKey(Schema.Array(NonEmpty))
})

/**
 * `alerts`: the alert policy and routing.
 *
 * @category models
 * @since 0.2.0
 */
export const Alerts = Schema.Struct({
  /** The lowest severity that opens an alert (default `warning`). */
  minSeverity: Schema.optionalKey(Schema.Literals(["info", "warning", "critical"])),
  /** Normal points in a row that resolve an alert (default 3). */
  resolveAfter: Schema.optionalKey(PositiveInt),
  /** Quiet time after a resolve before a series may alert again (default `5 minutes`). */
  cooldown: Schema.optionalKey(DurationInput),
  /** Most new alerts per `stormWindow` (default 50); more are counted and summarised. */
  stormCap: Schema.optionalKey(PositiveInt),
  /** (default `1 minute`) */
  stormWindow: Schema.optionalKey(DurationInput),
  /** Routing by severity and service; without routes every alert sink gets every alert event. */
  routes: Schema.optionalKey(Schema.Array(Route))
})

/**
 * The scopes an API key may have.
 *
 * @category models
 * @since 0.2.0
 */
export const Scope = Schema.Literals(["ingest", "read", "admin"])

/**
 * One API key: its name (logged, never the key), scopes, and where the key comes from (exactly one of `sha256`,
 * `file`, `env`).
 *
 * @category models
 * @since 0.2.0
 */
export const ApiKey = Schema.Struct({
  /** The key's name, as logs show it. */
  name: NonEmpty,
  /** What the key may do: `ingest` (POST events and traces), `read` (GET the API and metrics), `admin` (all). */
  scopes: Schema.Array(Scope).check(Schema.isMinLength(1)),
  /** The SHA-256 of the key, 64 hex digits (`printf %s "$KEY" | sha256sum`). */
  sha256: Schema.optionalKey(
    Schema.String.check(Schema.makeFilter((s) => /^[0-9a-fA-F]{64}$/.test(s) || "expected 64 hex digits"))
  ),
  /** A file holding the key itself, or `sha256:<64 hex digits>` (trailing newline ignored; read at start-up). */
  file: Schema.optionalKey(NonEmpty),
  /** An environment variable holding the key itself, or `sha256:<64 hex digits>`. */
  env: Schema.optionalKey(NonEmpty)
}).check(
  Schema.makeFilter(
    (k) =>
      [k.sha256, k.file, k.env].filter((x) => x !== undefined).length === 1 ||
      "expected exactly one of sha256, file, env"
  )
)

/**
 * `auth`: API keys, sent as `Authorization: Bearer <key>`.
 *
 * @category models
 * @since 0.2.0
 */
export const Auth = Schema.Struct({
  keys: Schema.optionalKey(Schema.Array(ApiKey))
})

/**
 * `privacy`: what of an event's text is kept.
 *
 * @category models
 * @since 0.2.0
 */
export const Privacy = Schema.Struct({
  /** Keep prompt and response text attributes (default false: they are removed at ingest). */
  storeText: Schema.optionalKey(Schema.Boolean),
  /** Redaction of attribute values before anything is stored or sent. */
  redact: Schema.optionalKey(
    Schema.Struct({
      /** Built-in patterns (default all three). */
      builtin: Schema.optionalKey(Schema.Array(Schema.Literals(["email", "apiKey", "cardNumber"]))),
      /** More patterns (JavaScript regular expressions, matched globally). */
      patterns: Schema.optionalKey(
        Schema.Array(
          Schema.Struct({
            name: NonEmpty,
            regex: Schema.String.check(
              Schema.makeFilter((s) => {
                try {
                  new RegExp(s, "g")
                  return true
                } catch (e) {
                  return `expected a regular expression (${(e as Error).message})`
                }
              })
            )
          })
        )
      ),
      /** What a match is replaced with (default `[redacted]`). */
      replacement: Schema.optionalKey(Schema.String)
    })
  )
})

/**
 * `observability`: Sentinel's own logs and traces.
 *
 * @category models
 * @since 0.2.0
 */
export const Observability = Schema.Struct({
  /** `text` (human-readable, the default) or `json` (one object per line, with `traceId`/`spanId` inside spans). */
  logFormat: Schema.optionalKey(Schema.Literals(["json", "text"])),
  /** The lowest level logged (default `info`). */
  logLevel: Schema.optionalKey(Schema.Literals(["trace", "debug", "info", "warn", "error"])),
  /** Export traces and metrics over OTLP/HTTP (JSON) to `<endpoint>/v1/traces` and `<endpoint>/v1/metrics`. */
  otlp: Schema.optionalKey(
    Schema.Struct({
      endpoint: Schema.String.check(
        Schema.makeFilter((s) => /^https?:\/\/[^\s]+$/.test(s) || "expected an http:// or https:// URL")
      ),
      /** The `service.name` of the spans (default `sentinel`). */
      serviceName: Schema.optionalKey(NonEmpty),
      /** Extra headers (e.g. an API key of the collector), kept redacted. */
      headers: Schema.optionalKey(Schema.Record(Schema.String, Schema.RedactedFromValue(Schema.String)))
    })
  )
})

/**
 * The whole configuration. Every section is optional: an empty file runs the embedded default.
 *
 * @category models
 * @since 0.2.0
 */
export const Config = Schema.Struct({
  /** Where and how Sentinel listens (address, port, data directory, CORS, TLS). */
  server: Schema.optionalKey(Server),
  /** Limits of ingest and the journal, each answered with a status naming it. */
  limits: Schema.optionalKey(Limits),
  /** Windows, watermark, checkpoints and series. */
  pipeline: Schema.optionalKey(PipelineSection),
  /** Detectors per signal (default: the built-in `Defaults.config`). */
  detectors: Schema.optionalKey(Schema.Array(DetectorRule).check(Schema.isMinLength(1))),
  /** Score thresholds (default: warning 4.3 / critical 5 with the default detectors, else warning 4 / critical 6). */
  thresholds: Schema.optionalKey(Thresholds),
  /** Where anomalies, alerts, dead letters and checkpoints live (default `embedded`). */
  store: Schema.optionalKey(Store),
  /** Where events come from besides HTTP and OTLP ingest (default `embedded`). */
  source: Schema.optionalKey(Source),
  /** Destinations of anomalies and alerts besides the store, each with a unique `name`. */
  sinks: Schema.optionalKey(Schema.Array(Sink)),
  /** The alert policy and the routing of alert events to sinks. */
  alerts: Schema.optionalKey(Alerts),
  /** API keys and their scopes. */
  auth: Schema.optionalKey(Auth),
  /** What of an event's text is kept, and redaction patterns. */
  privacy: Schema.optionalKey(Privacy),
  /** Sentinel's own logs and traces. */
  observability: Schema.optionalKey(Observability)
}).annotate({ identifier: "SentinelConfig" })

/**
 * @category models
 * @since 0.2.0
 */
export type Config = typeof Config.Type

// ---------------------------------------------------------------------------------------------------- errors

/**
 * One problem of a configuration: its path (`detectors[2].params.window`) and what was expected.
 *
 * @category models
 * @since 0.2.0
 */
export interface Issue {
  readonly path: string
  readonly message: string
}

/**
 * The configuration is invalid: every problem with its path.
 *
 * @category errors
 * @since 0.2.0
 */
export class ConfigError extends Schema.TaggedError<ConfigError>("@llm-sentinel/server/ConfigError")("ConfigError", {
  issues: Schema.Array(Schema.Struct({ path: Schema.String, message: Schema.String }))
}) {
  override get message(): string {
    return `invalid configuration:\n${this.issues.map((i) => `  ${i.path || "(root)"}: ${i.message}`).join("\n")}`
  }
}

/**
 * A path as users write it: `detectors[2].params.window`.
 *
 * @category constructors
 * @since 0.2.0
 */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (out, p) => (typeof p === "number" ? `${out}[${p}]` : out === "" ? String(p) : `${out}.${String(p)}`),
    ""
  )

const at = (value: unknown, path: ReadonlyArray<PropertyKey>): { found: boolean; value: unknown } => {
  let v = value
  for (const p of path) {
    if (typeof v !== "object" || v === null || !(p in v)) return { found: false, value: undefined }
    v = (v as Record<PropertyKey, unknown>)[p]
  }
  return { found: true, value: v }
}

const show = (v: unknown): string => {
  if (Redacted.isRedacted(v)) return "<redacted>"
  const s = JSON.stringify(v)
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * The issues of a Schema failure on `input`, each with its path, a lower-case expectation and the value found.
 * `prefix` is prepended to every path; `origins` names where a path's value came from (an environment variable
 * or a flag).
 *
 * @category constructors
 * @since 0.2.0
 */
export const issuesOf = (
  issue: SchemaIssue.Issue,
  input: unknown,
  prefix: ReadonlyArray<PropertyKey> = [],
  origins: ReadonlyMap<string, string> = new Map()
): Array<Issue> =>
  formatter(issue).issues.map((i) => {
    const path = (i.path ?? []).map((p) => (typeof p === "object" && p !== null ? (p as { key: PropertyKey }).key : p))
    const full = formatPath([...prefix, ...path])
    const origin = [...origins].find(([p]) => full === p || full.startsWith(`${p}.`))
    const from = origin === undefined ? "" : ` (from ${origin[1]})`
    if (i.message === "Expected no excess property") return { path: full, message: `unknown key${from}` }
    const found = at(input, path)
    const message = i.message.charAt(0).toLowerCase() + i.message.slice(1)
    return {
      path: full,
      message: found.found
        ? `${message}, got ${show(found.value)}${from}`
        : message === "missing key"
          ? "required"
          : `${message}${from}`
    }
  })

const strict = { errors: "all", onExcessProperty: "error" } as const

// ---------------------------------------------------------------------------------------------------- sources

/**
 * Parses a file's text: JSON when the name ends in `.json`, YAML otherwise (an empty file is `{}`).
 *
 * @category constructors
 * @since 0.2.0
 */
export const parse = (path: string, text: string): Effect.Effect<unknown, ConfigError> =>
  Effect.try({
    try: () => {
      const value = path.endsWith(".json")
        ? JSON.parse(text)
        : Yaml.parse(text, { prettyErrors: true, uniqueKeys: true })
      return value ?? {}
    },
    catch: (e) =>
      new ConfigError({
        issues: [
          { path: "", message: `${path} is not ${path.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message}` }
        ]
      })
  })

/** Sections whose scalar keys environment variables may set, and their nested objects. */
const envSections: Record<string, ReadonlyArray<string>> = {
  server: ["tls"],
  limits: [],
  pipeline: [],
  store: [],
  source: [],
  alerts: [],
  privacy: ["redact"],
  observability: ["otlp"],
  thresholds: []
}

const camel = (parts: ReadonlyArray<string>): string =>
  parts.map((p, i) => (i === 0 ? p.toLowerCase() : p.charAt(0) + p.slice(1).toLowerCase())).join("")

const sectionName = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()

const scalar = (text: string): unknown => {
  try {
    const v = Yaml.parse(text)
    return v === null || typeof v === "object" ? text : v
  } catch {
    return text
  }
}

const setPath = (target: Record<string, unknown>, path: ReadonlyArray<string>, value: unknown): void => {
  let o = target
  for (const p of path.slice(0, -1)) {
    const next = o[p]
    if (typeof next !== "object" || next === null || Array.isArray(next)) o[p] = {}
    o = o[p] as Record<string, unknown>
  }
  o[path[path.length - 1]!] = value
}

/**
 * Overlays `SENTINEL_<SECTION>_<KEY>` variables on a raw configuration (`SENTINEL_SERVER_PORT=8080` sets
 * `server.port`; `SENTINEL_SERVER_TLS_CERT` sets `server.tls.cert`); values are read as YAML scalars. Returns the
 * new raw configuration and, per path set, the variable that set it (for error messages).
 *
 * @category constructors
 * @since 0.2.0
 */
export const applyEnv = (
  raw: unknown,
  env: Readonly<Record<string, string | undefined>>
): { readonly raw: Record<string, unknown>; readonly origins: Map<string, string> } => {
  const out = structuredClone((typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>)
  const origins = new Map<string, string>()
  const names = Object.keys(env).sort()
  for (const name of names) {
    const value = env[name]
    if (value === undefined || !name.startsWith("SENTINEL_")) continue
    if (name === "SENTINEL_POSTGRES_URL") {
      if (value !== "" && (out.store === undefined || (out.store as { type?: string }).type !== "postgres")) {
        out.store = { type: "postgres", url: value }
        origins.set("store", name)
      }
      continue
    }
    for (const [section, nested] of Object.entries(envSections)) {
      const head = `SENTINEL_${sectionName(section)}_`
      if (!name.startsWith(head)) continue
      const parts = name.slice(head.length).split("_")
      const sub = nested.find((n) => parts.length > 1 && parts[0]!.toLowerCase() === n.toLowerCase())
      const path = sub === undefined ? [section, camel(parts)] : [section, sub, camel(parts.slice(1))]
      setPath(out, path, scalar(value))
      origins.set(path.join("."), name)
    }
  }
  return { raw: out, origins }
}

/**
 * Overlays values set by flags (a map from the config path, `server.port`, to the flag's value).
 *
 * @category constructors
 * @since 0.2.0
 */
export const applyFlags = (
  raw: Record<string, unknown>,
  flags: ReadonlyArray<readonly [path: string, flag: string, value: unknown]>,
  origins: Map<string, string>
): Record<string, unknown> => {
  const out = structuredClone(raw)
  for (const [path, flag, value] of flags) {
    setPath(out, path.split("."), value)
    origins.set(path, `--${flag}`)
  }
  return out
}

/**
 * Decodes a raw configuration, then checks what the Schema alone cannot: each detector's type and parameters
 * against the catalog, sink names and key names unique, routes naming configured sinks.
 *
 * @category constructors
 * @since 0.2.0
 */
export const decode = (
  raw: unknown,
  origins: ReadonlyMap<string, string> = new Map()
): Effect.Effect<Config, ConfigError> =>
  Effect.suspend(() => {
    const decoded = Schema.decodeUnknownExit(Config)(raw, strict)
    if (decoded._tag === "Failure") {
      const failure = decoded.cause.reasons.find((r) => r._tag === "Fail")
      const issues =
        failure !== undefined && failure._tag === "Fail"
          ? issuesOf(failure.error.issue, raw, [], origins)
          : [{ path: "", message: "invalid configuration" }]
      return Effect.fail(new ConfigError({ issues }))
    }
    const config = decoded.value
    const issues: Array<Issue> = []
    const rawDetectors = (raw as { detectors?: ReadonlyArray<{ params?: unknown }> }).detectors ?? []
    config.detectors?.forEach((rule, i) => {
      const module = Catalog.byName(rule.type)
      if (module === undefined) {
        issues.push({
          path: `detectors[${i}].type`,
          message: `unknown detector ${JSON.stringify(rule.type)} (known: ${Catalog.modules()
            .map((m) => m.name)
            .join(", ")})`
        })
        return
      }
      if (module.ParamsSchema !== undefined) {
        const p = Schema.decodeUnknownExit(module.ParamsSchema)(rule.params ?? {}, strict)
        if (p._tag === "Failure") {
          const failure = p.cause.reasons.find((r) => r._tag === "Fail")
          if (failure !== undefined && failure._tag === "Fail") {
            issues.push(...issuesOf(failure.error.issue, rawDetectors[i]?.params ?? {}, ["detectors", i, "params"]))
          }
        }
      }
    })
    const names = new Map<string, number>()
    const types = new Map<string, Sink["type"]>()
    config.sinks?.forEach((s, i) => {
      const name = sinkName(s, i)
      types.set(name, s.type)
      if (names.has(name)) {
        issues.push({
          path: `sinks[${i}].name`,
          message: `expected a unique name, got ${JSON.stringify(name)} (also sinks[${names.get(name)}])`
        })
      } else names.set(name, i)
    })
    config.alerts?.routes?.forEach((r, i) => {
      r.sinks.forEach((s, j) => {
        if (!names.has(s)) {
          issues.push({
            path: `alerts.routes[${i}].sinks[${j}]`,
            message: `expected the name of a configured sink (${[...names.keys()].join(", ") || "none configured"}), got ${JSON.stringify(s)}`
          })
        } else if (types.get(s) === "influxdb") {
          issues.push({
            path: `alerts.routes[${i}].sinks[${j}]`,
            message: `expected a sink that takes alert events (webhook, slack, nats, file), got ${JSON.stringify(s)} (influxdb takes anomalies)`
          })
        }
      })
    })
    const keyNames = new Map<string, number>()
    config.auth?.keys?.forEach((k, i) => {
      const first = keyNames.get(k.name)
      if (first !== undefined) {
        issues.push({
          path: `auth.keys[${i}].name`,
          message: `expected a unique name, got ${JSON.stringify(k.name)} (also auth.keys[${first}])`
        })
      } else keyNames.set(k.name, i)
    })
    const store = config.store?.type ?? "embedded"
    if (config.source?.type === "kafka" && store !== "postgres") {
      issues.push({
        path: "source",
        message:
          "a kafka source needs store type postgres (--postgres): the instances of a consumer group hand partitions' state over through it"
      })
    }
    if (issues.length > 0) return Effect.fail(new ConfigError({ issues }))
    return Effect.succeed(config)
  })

/**
 * The name of a sink: its `name`, else its type (`webhook`), with its index when that type appears twice.
 *
 * @category constructors
 * @since 0.2.0
 */
export const sinkName = (sink: Sink, index: number): string =>
  sink.name ?? (index === 0 ? sink.type : `${sink.type}-${index}`)

/**
 * The effective configuration as JSON, secrets printed as `<redacted>`.
 *
 * @category constructors
 * @since 0.2.0
 */
export const render = (config: Config): string =>
  JSON.stringify(config, (_key, value) => (Redacted.isRedacted(value) ? "<redacted>" : value), 2)

/**
 * The thresholds a configuration decides with.
 *
 * @category constructors
 * @since 0.2.0
 */
export const thresholdsOf = (config: Config, defaults: Verdict.Thresholds): Verdict.Thresholds =>
  config.thresholds ?? (config.detectors === undefined ? defaults : Verdict.defaultThresholds)
