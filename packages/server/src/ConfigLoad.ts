/**
 * Loading the configuration of `sentinel serve` and `sentinel check-config`: the file of `--config` (YAML or
 * JSON), then `SENTINEL_*` environment variables, then the flags, decoded once by `Config.decode`. Every flag of
 * `serve` is optional here: a flag that is not given leaves the file's (or the default) value alone.
 *
 * @since 0.2.0
 */
import { Effect, FileSystem, Option } from "effect"
import { Flag } from "effect/cli"
import * as Config from "./Config.ts"

const str = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)
const int = (name: string, description: string) => Flag.Int(name).pipe(Flag.withDescription(description), Flag.optional)

/**
 * The flags shared by `serve` and `check-config`.
 *
 * @category constructors
 * @since 0.2.0
 */
export const flags = {
  config: str(
    "config",
    "A configuration file, YAML or JSON (.json); SENTINEL_* environment variables override it, flags override both"
  ),
  host: str(
    "host",
    "Address to listen on (default 127.0.0.1, loopback only; another address needs auth.keys or --allow-unauthenticated)"
  ),
  allowUnauthenticated: Flag.Boolean("allow-unauthenticated").pipe(
    Flag.withDescription(
      "Allow a non-loopback --host without API keys (anyone who reaches the port can ingest and read)"
    ),
    Flag.optional
  ),
  port: int("port", "HTTP port (default 7300; 0 picks a free port)"),
  dataDir: str("data-dir", "Directory of the embedded store, sentinel.db (default ./.sentinel; created if missing)"),
  window: str("window", 'Tumbling window size (default "1 minute"), e.g. "10 seconds"'),
  maxDelay: str(
    "max-delay",
    'Watermark: how far behind the newest event time an event may arrive and still count (default "5 seconds")'
  ),
  idleTimeout: str(
    "idle-timeout",
    'Close the windows of a series silent for this long, in processing time (default "30 seconds")'
  ),
  maxBody: str("max-body", 'Largest request body (default "10 MiB"; or bytes); larger bodies get 413'),
  maxRecords: int("max-records", "Most records (events) in one ingest request (default 10000); more get 413"),
  queueCapacity: int(
    "queue-capacity",
    "Ingest requests queued for the pipeline (default 1024); when full, ingest answers 429"
  ),
  maxEventsInFlight: int(
    "max-events-in-flight",
    "Events accepted but not yet processed by the pipeline (default 100000); past it, ingest answers 429"
  ),
  maxBytesInFlight: str(
    "max-bytes-in-flight",
    'Request body bytes being read at once (default "64 MiB"); past it, ingest answers 429'
  ),
  journalMax: str(
    "journal-max",
    'Disk budget of the journal (default "2 GiB"); when it is used up, ingest answers 507 until checkpoints free segments'
  ),
  journalSegment: str("journal-segment", 'Size at which the journal starts a new segment file (default "64 MiB")'),
  maxFuture: str(
    "max-future",
    'How far ahead of the server clock an event time may be (default "5 minutes"); later ones are rejected'
  ),
  minTimestamp: str(
    "min-timestamp",
    'The earliest accepted event time, ISO 8601 (default "2000-01-01T00:00:00Z"); epoch seconds sent as milliseconds fall below it'
  ),
  maxEmptyWindows: int(
    "max-empty-windows",
    "Empty windows a silent series emits in a row before the windowing skips ahead (default 10; skipped windows are counted)"
  ),
  corsOrigin: str(
    "cors-origin",
    "Comma-separated origins (https://dash.example.com) whose web pages may call the API; other cross-origin requests get 403"
  ),
  allowedHost: str(
    "allowed-host",
    "Comma-separated Host names accepted besides localhost/127.0.0.1 on a loopback bind (a local proxy's name)"
  ),
  checkpointEvery: str(
    "checkpoint-every",
    'How often detector states and the journal position are saved (default "30 seconds"); a restart replays the journal from the last save'
  ),
  postgres: str(
    "postgres",
    "A postgres:// URL: store anomalies, alerts, dead letters and checkpoints in PostgreSQL instead of the embedded store (migrated on start); also SENTINEL_POSTGRES_URL"
  ),
  postgresSchema: str("postgres-schema", 'The schema of Sentinel\'s tables (default "public"; created if missing)'),
  kafkaBrokers: str(
    "kafka-brokers",
    "Comma-separated Kafka brokers (host:port): ingest produces to --kafka-topic and the pipeline consumes it in --kafka-group (needs --postgres)"
  ),
  kafkaTopic: str("kafka-topic", 'The events topic (default "llm-events")'),
  kafkaGroup: str("kafka-group", 'The consumer group the instances share (default "sentinel")'),
  kafkaPartitions: int(
    "kafka-partitions",
    "Create the events topic with this many partitions if it is missing (default: do not create)"
  )
}

/**
 * What the flags parsed to.
 *
 * @category models
 * @since 0.2.0
 */
export type Flags = {
  readonly [K in keyof typeof flags]: (typeof flags)[K] extends Flag.Flag<infer A> ? A : never
}

const list = (text: string): ReadonlyArray<string> =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)

// a duration flag given as a bare number is milliseconds, as before the configuration file existed
const durationValue = (s: string): string | number => (/^\d+(\.\d+)?$/.test(s.trim()) ? Number(s) : s)

/**
 * The configuration paths the given flags set, with the flag's name and value (`["server.port", "port", 8080]`).
 *
 * @category constructors
 * @since 0.2.0
 */
export const overrides = (f: Flags): Array<readonly [string, string, unknown]> => {
  const out: Array<readonly [string, string, unknown]> = []
  const set = <A>(path: string, flag: string, o: Option.Option<A>, map: (a: A) => unknown = (a) => a) => {
    if (Option.isSome(o)) out.push([path, flag, map(o.value)])
  }
  set("server.host", "host", f.host)
  set("server.allowUnauthenticated", "allow-unauthenticated", f.allowUnauthenticated)
  set("server.port", "port", f.port)
  set("server.dataDir", "data-dir", f.dataDir)
  set("server.corsOrigins", "cors-origin", f.corsOrigin, list)
  set("server.allowedHosts", "allowed-host", f.allowedHost, list)
  set("pipeline.window", "window", f.window, durationValue)
  set("pipeline.maxDelay", "max-delay", f.maxDelay, durationValue)
  set("pipeline.idleTimeout", "idle-timeout", f.idleTimeout, durationValue)
  set("pipeline.checkpointEvery", "checkpoint-every", f.checkpointEvery, durationValue)
  set("limits.maxBody", "max-body", f.maxBody)
  set("limits.maxRecords", "max-records", f.maxRecords)
  set("limits.queueCapacity", "queue-capacity", f.queueCapacity)
  set("limits.maxEventsInFlight", "max-events-in-flight", f.maxEventsInFlight)
  set("limits.maxBytesInFlight", "max-bytes-in-flight", f.maxBytesInFlight)
  set("limits.journalMax", "journal-max", f.journalMax)
  set("limits.journalSegment", "journal-segment", f.journalSegment)
  set("limits.maxFuture", "max-future", f.maxFuture, durationValue)
  set("limits.minTimestamp", "min-timestamp", f.minTimestamp)
  set("limits.maxEmptyWindows", "max-empty-windows", f.maxEmptyWindows)
  if (Option.isSome(f.postgres) && f.postgres.value !== "") {
    out.push(["store", "postgres", { type: "postgres", url: f.postgres.value }])
  }
  set("store.schema", "postgres-schema", f.postgresSchema)
  if (Option.isSome(f.kafkaBrokers) && f.kafkaBrokers.value !== "") {
    out.push(["source", "kafka-brokers", { type: "kafka", brokers: list(f.kafkaBrokers.value) }])
    set("source.topic", "kafka-topic", f.kafkaTopic)
    set("source.groupId", "kafka-group", f.kafkaGroup)
    set("source.partitions", "kafka-partitions", f.kafkaPartitions, (n) => (n > 0 ? n : undefined))
  }
  return out.filter(([, , v]) => v !== undefined)
}

/**
 * The effective configuration: the file (if any), the environment, the flags, decoded.
 *
 * @category constructors
 * @since 0.2.0
 */
export const load = (
  f: Flags,
  env: Readonly<Record<string, string | undefined>> = process.env
): Effect.Effect<Config.Config, Config.ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    let raw: unknown = {}
    if (Option.isSome(f.config)) {
      const path = f.config.value
      const fs = yield* FileSystem.FileSystem
      const text = yield* fs
        .readFileString(path)
        .pipe(
          Effect.mapError(
            (e) => new Config.ConfigError({ issues: [{ path: "", message: `cannot read ${path}: ${e.message}` }] })
          )
        )
      raw = yield* Config.parse(path, text)
      if (typeof raw !== "object" || Array.isArray(raw)) {
        return yield* new Config.ConfigError({
          issues: [{ path: "", message: `expected a mapping of sections (server, pipeline, …) in ${path}` }]
        })
      }
    }
    const withEnv = Config.applyEnv(raw, env)
    const full = Config.applyFlags(withEnv.raw, overrides(f), withEnv.origins)
    return yield* Config.decode(full, withEnv.origins)
  })
