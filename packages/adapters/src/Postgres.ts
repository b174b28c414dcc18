/**
 * PostgreSQL as the production store (`@effect/sql-pg`): anomalies, alerts (each alert's current state and the
 * history of its transitions), dead letters, and the checkpoints (detector states, window clocks, alert state
 * and source positions) that let another instance resume where one stopped.
 *
 * - **Migrations** ({@link migrate}, run by `sentinel migrate` and whenever {@link layer} starts): numbered,
 *   recorded in `sentinel_migrations`, applied in order under an advisory lock (instances starting together
 *   apply each one once), each in its own transaction. Never edit a released migration: add the next one.
 * - **`AnomalyStore`**: the embedded store's filters and keyset paging (event time descending, then id), inserts
 *   idempotent on the anomaly id (`ON CONFLICT DO NOTHING`).
 * - **`StateStore`**: `setMany` is one transaction (one multi-row upsert per 5,000 entries); `entries(prefix)` is
 *   one range scan on the primary key (keys use the `C` collation, i.e. byte order, as SQLite's keys do).
 * - **`DeadLetterSink`** ({@link layerDeadLetters}): the records the pipeline could not use, with deterministic ids.
 * - **`AlertSink`** ({@link layerAlertSink}): each alert event is stored once under its delivery id
 *   (`AlertJson.deliveryId`) and updates the alert's row; a replayed event changes nothing.
 *
 * Source positions are checkpoint rows (written in the same transaction as the states they belong to); the view
 * `source_positions` shows them per partition.
 *
 * Partition state is fenced (`partition_owners`, migration 6): restoring a partition claims it with the next
 * epoch, and a checkpoint write of a partition checks, in its transaction and under the owner row's lock, that
 * this store's claim is still the latest. An instance that lost a partition in a rebalance but still runs (a long
 * pause) gets a non-retryable `StoreError` (`Rejected`) instead of overwriting the new owner's state; its pipeline
 * stops, and the process restarts and rejoins the group.
 *
 * @since 0.1.0
 */
import { createHash, randomBytes } from "node:crypto"
import { hostname } from "node:os"
import { PgClient } from "@effect/sql-pg"
import {
  type Alert,
  AlertSink,
  type Anomaly,
  AnomalyStore,
  DeadLetterSink,
  type Event,
  StateStore
} from "@llm-sentinel/core"
import { Array as Arr, Clock, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import * as AdapterError from "./AdapterError.ts"
import * as AlertJson from "./AlertJson.ts"
import * as Counters from "./Counters.ts"
import * as Http from "./internal/http.ts"

/**
 * The connection. Unknown fields are errors ({@link decodeConfig}).
 *
 * @category models
 * @since 0.1.0
 */
export const Config = Schema.Struct({
  /** A `postgres://` URL; when given, host, port, database and username come from it. */
  url: Schema.optionalKey(Schema.RedactedFromValue(Schema.String)),
  /** Default `127.0.0.1`. */
  host: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  /** Default 5432. */
  port: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 }))),
  /** Default `postgres`. */
  database: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  /** Default `postgres`. */
  username: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  password: Schema.optionalKey(Schema.RedactedFromValue(Schema.String)),
  /**
   * The schema that holds Sentinel's tables (default `public`); created by the migrations if missing. Several
   * deployments (or test runs) can share one database in different schemas.
   */
  schema: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^[a-z_][a-z0-9_]{0,62}$/))),
  /** Connections in the pool (default 4). */
  maxConnections: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 }))),
  /** Time limit of connecting (default 5 seconds). */
  connectTimeout: Schema.optionalKey(Http.DurationInput)
}).annotate({ identifier: "PostgresConfig" })

/**
 * @category models
 * @since 0.1.0
 */
export type Config = typeof Config.Type

/**
 * @category constructors
 * @since 0.1.0
 */
export const decodeConfig = (input: unknown): Effect.Effect<Config, Schema.SchemaError> =>
  Schema.decodeUnknownEffect(Config)(input, Http.strict)

/**
 * PostgreSQL failed or refused an operation.
 *
 * @category errors
 * @since 0.1.0
 */
export class PostgresError extends Schema.TaggedError<PostgresError>("@llm-sentinel/adapters/PostgresError")(
  "PostgresError",
  { operation: Schema.String, reason: AdapterError.Reason }
) {
  get isRetryable(): boolean {
    return this.reason.isRetryable
  }
  override get message(): string {
    return `postgres ${this.operation}: ${this.reason.message}`
  }
}

const classify = (operation: string, e: SqlError.SqlError | PostgresError): PostgresError => {
  if (e._tag === "PostgresError") return e
  const message = `${operation}: ${e.message}`
  const tag = e.reason._tag
  const reason =
    tag === "StatementTimeoutError" || tag === "LockTimeoutError"
      ? new AdapterError.Timeout({ message })
      : e.isRetryable || tag === "ConnectionError" || tag === "UnknownError"
        ? new AdapterError.Unavailable({ message })
        : tag === "AuthenticationError" || tag === "AuthorizationError" || tag === "SqlSyntaxError"
          ? new AdapterError.Invalid({ message })
          : new AdapterError.Rejected({ message })
  return new PostgresError({ operation, reason })
}

const toSink = (e: PostgresError) => AdapterError.toSinkError("postgres", e.reason, e)
const toStore = (e: PostgresError) => AdapterError.toStoreError("postgres", e.reason, e)

/**
 * A numbered migration: `statements` run in order, in one transaction.
 *
 * @category models
 * @since 0.1.0
 */
export interface Migration {
  readonly id: number
  readonly name: string
  readonly statements: ReadonlyArray<string>
}

/**
 * The schema, as migrations applied in order. Times are epoch milliseconds in `DOUBLE PRECISION`, as in the
 * embedded store; text keys that are compared or paged use the `C` collation (byte order, like SQLite).
 *
 * @category models
 * @since 0.1.0
 */
export const migrations: ReadonlyArray<Migration> = [
  {
    id: 1,
    name: "anomalies_and_checkpoints",
    statements: [
      `CREATE TABLE anomalies (
  id TEXT COLLATE "C" PRIMARY KEY,
  series_id TEXT NOT NULL,
  service TEXT NOT NULL,
  model TEXT NOT NULL,
  metric TEXT NOT NULL,
  dimensions JSONB NOT NULL,
  detector TEXT NOT NULL,
  event_time DOUBLE PRECISION NOT NULL,
  observed DOUBLE PRECISION,
  expected DOUBLE PRECISION,
  lower_bound DOUBLE PRECISION,
  upper_bound DOUBLE PRECISION,
  score DOUBLE PRECISION NOT NULL,
  severity TEXT NOT NULL,
  reason TEXT NOT NULL,
  detected_at DOUBLE PRECISION NOT NULL
)`,
      "CREATE INDEX anomalies_by_time ON anomalies (event_time DESC, id)",
      "CREATE INDEX anomalies_by_service ON anomalies (service, event_time DESC, id)",
      "CREATE INDEX anomalies_by_series ON anomalies (series_id, event_time DESC, id)",
      `CREATE TABLE checkpoints (
  key TEXT COLLATE "C" PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL
)`
    ]
  },
  {
    id: 2,
    name: "dead_letters",
    statements: [
      `CREATE TABLE dead_letters (
  id TEXT COLLATE "C" PRIMARY KEY,
  source TEXT,
  record_index INTEGER NOT NULL,
  errors JSONB NOT NULL,
  payload TEXT NOT NULL,
  received_at DOUBLE PRECISION NOT NULL
)`,
      "CREATE INDEX dead_letters_by_time ON dead_letters (received_at DESC, id)"
    ]
  },
  {
    id: 3,
    name: "alerts",
    statements: [
      `CREATE TABLE alerts (
  id TEXT COLLATE "C" PRIMARY KEY,
  series_id TEXT NOT NULL,
  service TEXT NOT NULL,
  model TEXT NOT NULL,
  metric TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
  severity TEXT NOT NULL,
  opened_at DOUBLE PRECISION NOT NULL,
  last_anomaly_at DOUBLE PRECISION NOT NULL,
  resolved_at DOUBLE PRECISION,
  anomalies INTEGER NOT NULL,
  detectors JSONB NOT NULL,
  reason TEXT NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL
)`,
      "CREATE INDEX alerts_open ON alerts (opened_at DESC) WHERE status = 'open'",
      `CREATE TABLE alert_events (
  id TEXT COLLATE "C" PRIMARY KEY,
  alert_id TEXT,
  kind TEXT NOT NULL,
  severity TEXT,
  event_time DOUBLE PRECISION NOT NULL,
  payload JSONB NOT NULL,
  recorded_at DOUBLE PRECISION NOT NULL
)`,
      "CREATE INDEX alert_events_by_alert ON alert_events (alert_id, event_time)"
    ]
  },
  {
    id: 4,
    name: "source_positions",
    statements: [
      // positions are checkpoint rows, written in the transaction of the states they belong to
      `CREATE VIEW source_positions AS
SELECT CASE WHEN key = 'source/position' THEN '' ELSE substring(key FROM '^partition/(.*)/source/position$') END AS partition,
       (value::jsonb ->> 'processed')::double precision AS processed,
       (value::jsonb ->> 'replayFrom')::double precision AS replay_from,
       updated_at
FROM checkpoints
WHERE key = 'source/position' OR key LIKE 'partition/%/source/position'`
    ]
  },
  {
    id: 5,
    name: "alert_sequence",
    statements: [
      // the order alert events were recorded in: the ids of the server's alert stream (SSE Last-Event-ID)
      "ALTER TABLE alert_events ADD COLUMN seq BIGSERIAL",
      "CREATE UNIQUE INDEX alert_events_by_seq ON alert_events (seq)",
      "CREATE INDEX alerts_by_opened ON alerts (opened_at DESC, id DESC)"
    ]
  },
  {
    id: 6,
    name: "partition_owners",
    statements: [
      // who owns each partition's state, and since which claim: a checkpoint write of an older claim is refused
      `CREATE TABLE partition_owners (
  partition TEXT COLLATE "C" PRIMARY KEY,
  owner TEXT NOT NULL,
  epoch BIGINT NOT NULL,
  claimed_at DOUBLE PRECISION NOT NULL
)`
    ]
  }
]

const lockId = 7_301_009 // pg_advisory_xact_lock key of the migrations

/**
 * Applies the migrations not applied yet (each once, in order, in its own transaction, under an advisory lock)
 * and returns the ids applied in the database, old and new.
 *
 * @category constructors
 * @since 0.1.0
 */
export const migrate = (schema = "public"): Effect.Effect<ReadonlyArray<number>, PostgresError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const now = yield* Clock.currentTimeMillis
    const applied = yield* sql.withTransaction(
      Effect.gen(function* () {
        yield* sql`SELECT pg_advisory_xact_lock(${lockId})`
        yield* sql.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
        yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS "${schema}".sentinel_migrations (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)`)
        const rows = yield* sql<{ id: number }>`SELECT id FROM ${sql(schema)}.sentinel_migrations ORDER BY id`
        const done = new Set(rows.map((r) => Number(r.id)))
        for (const m of [...migrations].sort((a, b) => a.id - b.id)) {
          if (done.has(m.id)) continue
          yield* sql.unsafe(`SET LOCAL search_path TO "${schema}"`)
          for (const statement of m.statements) yield* sql.unsafe(statement)
          yield* sql`INSERT INTO ${sql(schema)}.sentinel_migrations (id, name, applied_at) VALUES (${m.id}, ${m.name}, ${now})`
          done.add(m.id)
        }
        return [...done].sort((a, b) => a - b)
      })
    )
    return applied
  }).pipe(Effect.mapError((e) => classify("migrate", e)))

/**
 * The client's configuration for `@effect/sql-pg`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const clientConfig = (config: Config): PgClient.PgPoolConfig => ({
  ...(config.url === undefined
    ? {
        host: config.host ?? "127.0.0.1",
        port: config.port ?? 5432,
        database: config.database ?? "postgres",
        username: config.username ?? "postgres"
      }
    : { url: config.url }),
  ...(config.password === undefined ? {} : { password: config.password }),
  maxConnections: config.maxConnections ?? 4,
  connectTimeout: Http.millis(config.connectTimeout ?? "5 seconds"),
  applicationName: "llm-sentinel",
  startupParameters: { search_path: config.schema ?? "public" }
})

/**
 * A client layer (`PgClient` and the generic `SqlClient`) for a configuration.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerClient = (config: Config): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, PostgresError> =>
  PgClient.layerFrom(Effect.mapError(PgClient.make(clientConfig(config)), (e) => classify("connect", e)))

/**
 * One stored alert event.
 *
 * @category models
 * @since 0.1.0
 */
export interface StoredAlertEvent {
  /** The order it was recorded in (increasing, gaps possible). */
  readonly seq: number
  readonly id: string
  readonly alertId: string | null
  readonly kind: Alert.AlertEvent["_tag"]
  readonly eventTime: number
  readonly event: Alert.AlertEvent
  readonly recordedAt: number
}

/**
 * Filters of {@link Postgres}'s `listAlerts`: newest opened first, then id descending; `after` continues after
 * the last alert of the previous page.
 *
 * @category models
 * @since 0.2.0
 */
export interface AlertsQuery {
  readonly status?: "open" | "resolved"
  readonly service?: string
  readonly model?: string
  readonly metric?: string
  readonly severity?: string
  readonly since?: number
  readonly until?: number
  readonly after?: { readonly openedAt: number; readonly id: string }
  readonly limit: number
}

/**
 * One stored dead letter.
 *
 * @category models
 * @since 0.1.0
 */
export interface DeadLetter {
  readonly id: string
  readonly source: string | null
  readonly index: number
  readonly errors: ReadonlyArray<Event.FieldError>
  readonly payload: string
  readonly receivedAt: number
}

/**
 * The store's handle: health, the migrations applied, readers for alerts and dead letters, counters
 * (`received`/`sent` rows handed and written, `errors` failed statements).
 *
 * @category services
 * @since 0.1.0
 */
export class Postgres extends Context.Service<
  Postgres,
  {
    /** The server answers `SELECT 1` within the connect timeout. */
    readonly health: Effect.Effect<boolean>
    readonly migrations: ReadonlyArray<number>
    readonly schema: string
    /**
     * Stores alert events once each (by delivery id) and updates their alerts; returns the events that were new,
     * in the order recorded.
     */
    readonly recordAlertEvents: (
      events: ReadonlyArray<Alert.AlertEvent>
    ) => Effect.Effect<ReadonlyArray<StoredAlertEvent>, PostgresError>
    /** Which of these delivery ids are recorded already. */
    readonly recordedAlertEvents: (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>, PostgresError>
    /** The history of alert events, oldest first. */
    readonly alertEvents: (limit: number) => Effect.Effect<ReadonlyArray<StoredAlertEvent>, PostgresError>
    /** Alert events recorded after the sequence number `seq`, in order. */
    readonly alertEventsAfter: (
      seq: number,
      limit: number
    ) => Effect.Effect<ReadonlyArray<StoredAlertEvent>, PostgresError>
    /** Alerts in their latest state, filtered, newest opened first (at most `limit`). */
    readonly listAlerts: (query: AlertsQuery) => Effect.Effect<ReadonlyArray<Alert.Alert>, PostgresError>
    /** Alerts by status, newest first. */
    readonly alerts: (
      status: "open" | "resolved",
      limit: number
    ) => Effect.Effect<ReadonlyArray<Alert.Alert>, PostgresError>
    readonly writeDeadLetters: (rejected: ReadonlyArray<Event.Rejected>) => Effect.Effect<number, PostgresError>
    /** The newest dead letters first. */
    readonly deadLetters: (limit: number) => Effect.Effect<ReadonlyArray<DeadLetter>, PostgresError>
    readonly counters: Counters.Counters
  }
>()("@llm-sentinel/adapters/Postgres") {}

const anomalyColumns =
  "id, series_id, service, model, metric, dimensions, detector, event_time, observed, expected, lower_bound, " +
  "upper_bound, score, severity, reason, detected_at"

type Row = Record<string, unknown>
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))
const json = <A>(v: unknown): A => (typeof v === "string" ? (JSON.parse(v) as A) : (v as A))

const toAnomaly = (r: Row): Anomaly.Anomaly => ({
  id: r.id as string,
  series: {
    id: r.series_id as string,
    service: r.service as string,
    model: r.model as string,
    metric: r.metric as string,
    dimensions: json<Record<string, string>>(r.dimensions)
  },
  detector: r.detector as string,
  time: Number(r.event_time),
  observed: num(r.observed),
  expected: num(r.expected),
  lower: num(r.lower_bound),
  upper: num(r.upper_bound),
  score: Number(r.score),
  severity: r.severity as Anomaly.Anomaly["severity"],
  reason: r.reason as string,
  detectedAt: Number(r.detected_at)
})

/** The partition a checkpoint key belongs to (`partition/<id>/…`), if any. */
const partitionOfKey = (key: string): string | undefined => {
  if (!key.startsWith("partition/")) return undefined
  const end = key.indexOf("/", 10)
  return end < 0 ? undefined : key.slice(10, end)
}

const chunks = <A>(xs: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size))
  return out
}

/** `LIKE` pattern of a prefix: `%`, `_` and `\` are escaped. */
const likePrefix = (prefix: string): string => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

const maxPayload = 64 * 1024
const payloadText = (payload: unknown): string => {
  let text: string
  try {
    text = typeof payload === "string" ? payload : (JSON.stringify(payload) ?? "null")
  } catch {
    text = String(payload)
  }
  return text.length > maxPayload ? `${text.slice(0, maxPayload)}…` : text
}

/** The embedded store's dead-letter id: a hash of source, index and payload. */
const deadLetterId = (r: Event.Rejected, payload: string): string =>
  createHash("sha256")
    .update(`${r.source ?? ""}\u0000${r.index}\u0000${payload}`)
    .digest("hex")
    .slice(0, 32)

const make = (sql: SqlClient.SqlClient, counters: Counters.Counters) => {
  const guarded = <A>(operation: string, rows: number, eff: Effect.Effect<A, SqlError.SqlError | PostgresError>) =>
    counters.add("received", rows).pipe(
      Effect.andThen(eff),
      Effect.tap(() => counters.add("sent", rows)),
      Effect.tapError(() => counters.add("errors", 1)),
      Effect.mapError((e) => classify(operation, e))
    )

  const anomalyStore: AnomalyStore.AnomalyStore["Service"] = {
    insert: (anomalies) =>
      anomalies.length === 0
        ? Effect.succeed(0)
        : guarded(
            `insert ${anomalies.length} anomalies`,
            anomalies.length,
            Effect.gen(function* () {
              let added = 0
              for (const part of chunks(anomalies, 1000)) {
                const rows = part.map((a) => ({
                  id: a.id,
                  series_id: a.series.id,
                  service: a.series.service,
                  model: a.series.model,
                  metric: a.series.metric,
                  dimensions: JSON.stringify(a.series.dimensions),
                  detector: a.detector,
                  event_time: a.time,
                  observed: a.observed,
                  expected: a.expected,
                  lower_bound: a.lower,
                  upper_bound: a.upper,
                  score: a.score,
                  severity: a.severity,
                  reason: a.reason,
                  detected_at: a.detectedAt
                }))
                if (!Arr.isArrayNonEmpty(rows)) continue
                const inserted = yield* sql<{ id: string }>`INSERT INTO anomalies ${sql.insert(rows)}
                  ON CONFLICT (id) DO NOTHING RETURNING id`
                added += inserted.length
              }
              return added
            })
          ).pipe(Effect.mapError(toStore)),
    query: (q) =>
      Effect.gen(function* () {
        let after: { readonly time: number; readonly id: string } | undefined
        if (q.cursor !== undefined) {
          after = AnomalyStore.decodeCursor(q.cursor)
          if (after === undefined) {
            return yield* new PostgresError({
              operation: "query anomalies",
              reason: new AdapterError.Invalid({ message: `invalid cursor ${q.cursor}` })
            })
          }
        }
        const where = [
          ...(q.service === undefined ? [] : [sql`service = ${q.service}`]),
          ...(q.model === undefined ? [] : [sql`model = ${q.model}`]),
          ...(q.metric === undefined ? [] : [sql`metric = ${q.metric}`]),
          ...(q.detector === undefined ? [] : [sql`detector = ${q.detector}`]),
          ...(q.since === undefined ? [] : [sql`event_time >= ${q.since}`]),
          ...(q.until === undefined ? [] : [sql`event_time < ${q.until}`]),
          ...(after === undefined
            ? []
            : [sql`(event_time < ${after.time} OR (event_time = ${after.time} AND id > ${after.id}))`])
        ]
        const rows = yield* guarded(
          "query anomalies",
          0,
          sql<Row>`SELECT ${sql.literal(anomalyColumns)} FROM anomalies
            ${where.length === 0 ? sql.literal("") : sql`WHERE ${sql.and(where)}`}
            ORDER BY event_time DESC, id ASC LIMIT ${q.limit + 1}`
        )
        const more = rows.length > q.limit
        const items = (more ? rows.slice(0, q.limit) : rows).map(toAnomaly)
        const last = items[items.length - 1]
        return { items, next: more && last !== undefined ? AnomalyStore.encodeCursor(last) : null }
      }).pipe(Effect.mapError(toStore))
  }

  // Fencing of partition state: restoring a partition (the read of `partition/<id>/detector/`) claims it with the
  // next epoch; a checkpoint write of a partition this store claimed checks, in its transaction and under the
  // owner row's lock, that the claim is still the latest. So an instance that lost a partition in a rebalance
  // but still runs (a long pause, a partition of the network) cannot overwrite the new owner's state.
  const owner = `${hostname()}/${process.pid}/${randomBytes(4).toString("hex")}`
  const claims = new Map<string, number>()
  const claim = (partition: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      guarded(
        `claim partition ${partition}`,
        1,
        sql<{ epoch: unknown }>`INSERT INTO partition_owners (partition, owner, epoch, claimed_at)
          VALUES (${partition}, ${owner}, 1, ${now})
          ON CONFLICT (partition) DO UPDATE SET owner = excluded.owner, epoch = partition_owners.epoch + 1,
            claimed_at = excluded.claimed_at
          RETURNING epoch`
      )
    ).pipe(
      Effect.tap((rows) => Effect.sync(() => claims.set(partition, Number(rows[0]?.epoch ?? 0)))),
      Effect.asVoid
    )
  const fence = (keys: Iterable<string>) =>
    Effect.gen(function* () {
      const mine = new Set<string>()
      for (const k of keys) {
        const p = partitionOfKey(k)
        if (p !== undefined && claims.has(p)) mine.add(p)
      }
      for (const p of mine) {
        const rows = yield* sql<{ owner: string; epoch: unknown }>`SELECT owner, epoch FROM partition_owners
          WHERE partition = ${p} FOR UPDATE`
        const held = claims.get(p)!
        const current = Number(rows[0]?.epoch ?? 0)
        if (current !== held) {
          return yield* Effect.fail(
            new PostgresError({
              operation: "write checkpoints",
              reason: new AdapterError.Rejected({
                message: `partition ${p} was claimed by ${rows[0]?.owner ?? "another instance"} (epoch ${current}; this instance holds ${held}): its checkpoint is not written`
              })
            })
          )
        }
      }
    })

  const stateStore: StateStore.StateStore["Service"] = {
    get: (key) =>
      guarded("read checkpoint", 0, sql<{ value: string }>`SELECT value FROM checkpoints WHERE key = ${key}`).pipe(
        Effect.map((rows) => Option.fromNullishOr(rows[0]?.value)),
        Effect.mapError(toStore)
      ),
    setMany: (entries) => {
      if (entries.length === 0) return Effect.void
      // one upsert may not touch a row twice: the last value of a key wins, as in a sequence of writes
      const last = new Map<string, string>()
      for (const [k, v] of entries) last.set(k, v)
      return Effect.flatMap(Clock.currentTimeMillis, (now) =>
        guarded(
          `write ${last.size} checkpoints`,
          last.size,
          sql.withTransaction(
            Effect.andThen(
              fence(last.keys()),
              Effect.forEach(
                chunks([...last], 5000),
                (part) => {
                  const rows = part.map(([key, value]) => ({ key, value, updated_at: now }))
                  return Arr.isArrayNonEmpty(rows)
                    ? Effect.asVoid(sql`INSERT INTO checkpoints ${sql.insert(rows)}
                      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`)
                    : Effect.void
                },
                { discard: true }
              )
            )
          )
        )
      ).pipe(Effect.mapError(toStore))
    },
    delete: (key) =>
      guarded("delete checkpoint", 1, sql`DELETE FROM checkpoints WHERE key = ${key}`).pipe(
        Effect.asVoid,
        Effect.mapError(toStore)
      ),
    keys: (prefix) =>
      guarded(
        "list checkpoints",
        0,
        sql<{ key: string }>`SELECT key FROM checkpoints WHERE key LIKE ${likePrefix(prefix)} ORDER BY key`
      ).pipe(
        Effect.map((rows) => rows.map((r) => r.key)),
        Effect.mapError(toStore)
      ),
    entries: (prefix) => {
      const restoring = /^partition\/([^/]+)\/detector\/$/.exec(prefix)?.[1]
      return (restoring === undefined ? Effect.void : claim(restoring)).pipe(
        Effect.andThen(
          guarded(
            "read checkpoints",
            0,
            sql<{ key: string; value: string }>`SELECT key, value FROM checkpoints
          WHERE key LIKE ${likePrefix(prefix)} ORDER BY key`
          )
        ),
        Effect.map((rows) => rows.map((r) => [r.key, r.value] as const)),
        Effect.mapError(toStore)
      )
    }
  }

  const recordAlertEvents = (events: ReadonlyArray<Alert.AlertEvent>) =>
    events.length === 0
      ? Effect.succeed([] as ReadonlyArray<StoredAlertEvent>)
      : Effect.flatMap(Clock.currentTimeMillis, (now) =>
          guarded(
            `record ${events.length} alert events`,
            events.length,
            sql.withTransaction(
              Effect.gen(function* () {
                const byId = new Map<string, Alert.AlertEvent>()
                for (const e of events) byId.set(AlertJson.deliveryId(e), e)
                const rows = [...byId].map(([id, e]) => ({
                  id,
                  alert_id: e._tag === "storm" ? null : e.alert.id,
                  kind: e._tag,
                  severity: e._tag === "storm" ? null : e.alert.severity,
                  event_time: AlertJson.eventTime(e),
                  payload: AlertJson.encode(e),
                  recorded_at: now
                }))
                if (!Arr.isArrayNonEmpty(rows)) return []
                const inserted = yield* sql<{ id: string; seq: unknown }>`INSERT INTO alert_events ${sql.insert(rows)}
                  ON CONFLICT (id) DO NOTHING RETURNING id, seq`
                const fresh = new Map(inserted.map((r) => [r.id, Number(r.seq)]))
                const out: Array<StoredAlertEvent> = []
                for (const [id, e] of byId) {
                  const seq = fresh.get(id)
                  if (seq === undefined) continue
                  out.push({
                    seq,
                    id,
                    alertId: e._tag === "storm" ? null : e.alert.id,
                    kind: e._tag,
                    eventTime: AlertJson.eventTime(e),
                    event: e,
                    recordedAt: now
                  })
                  if (e._tag === "storm") continue
                  const a = e.alert
                  const row = {
                    id: a.id,
                    series_id: a.series.id,
                    service: a.series.service,
                    model: a.series.model,
                    metric: a.series.metric,
                    status: a.status,
                    severity: a.severity,
                    opened_at: a.openedAt,
                    last_anomaly_at: a.lastAnomalyAt,
                    resolved_at: a.resolvedAt,
                    anomalies: a.anomalies,
                    detectors: JSON.stringify(a.detectors),
                    reason: a.reason,
                    updated_at: now
                  }
                  // a later transition of the alert wins over an earlier one replayed out of order
                  yield* sql`INSERT INTO alerts ${sql.insert(row)} ON CONFLICT (id) DO UPDATE SET
                    status = excluded.status, severity = excluded.severity,
                    last_anomaly_at = excluded.last_anomaly_at, resolved_at = excluded.resolved_at,
                    anomalies = excluded.anomalies, detectors = excluded.detectors, reason = excluded.reason,
                    updated_at = excluded.updated_at
                    WHERE alerts.status = 'open' AND excluded.last_anomaly_at >= alerts.last_anomaly_at`
                }
                return out.sort((a, b) => a.seq - b.seq)
              })
            )
          )
        )

  const toAlert = (r: Row): Alert.Alert => ({
    id: r.id as string,
    series: {
      id: r.series_id as string,
      service: r.service as string,
      model: r.model as string,
      metric: r.metric as string,
      dimensions: {}
    },
    status: r.status as Alert.Alert["status"],
    severity: r.severity as Alert.Alert["severity"],
    openedAt: Number(r.opened_at),
    lastAnomalyAt: Number(r.last_anomaly_at),
    resolvedAt: num(r.resolved_at),
    anomalies: Number(r.anomalies),
    detectors: json<ReadonlyArray<string>>(r.detectors),
    reason: r.reason as string
  })

  const toStored = (r: Row): StoredAlertEvent => ({
    seq: Number(r.seq),
    id: r.id as string,
    alertId: (r.alert_id as string | null) ?? null,
    kind: r.kind as Alert.AlertEvent["_tag"],
    eventTime: Number(r.event_time),
    event: json<Alert.AlertEvent>(r.payload),
    recordedAt: Number(r.recorded_at)
  })

  const alertEvents = (limit: number) =>
    guarded(
      "read alert events",
      0,
      sql<Row>`SELECT seq, id, alert_id, kind, event_time, payload, recorded_at FROM alert_events
        ORDER BY event_time, recorded_at, id LIMIT ${limit}`
    ).pipe(Effect.map((rows) => rows.map(toStored)))

  const alertEventsAfter = (seq: number, limit: number) =>
    guarded(
      "read alert events",
      0,
      sql<Row>`SELECT seq, id, alert_id, kind, event_time, payload, recorded_at FROM alert_events
        WHERE seq > ${seq} ORDER BY seq LIMIT ${limit}`
    ).pipe(Effect.map((rows) => rows.map(toStored)))

  const recordedAlertEvents = (ids: ReadonlyArray<string>) =>
    ids.length === 0
      ? Effect.succeed(new Set<string>() as ReadonlySet<string>)
      : guarded(
          "read alert events",
          0,
          sql<{ id: string }>`SELECT id FROM alert_events WHERE ${sql.in("id", ids)}`
        ).pipe(Effect.map((rows): ReadonlySet<string> => new Set(rows.map((r) => r.id))))

  const listAlerts = (q: AlertsQuery) => {
    const where = [
      ...(q.status === undefined ? [] : [sql`status = ${q.status}`]),
      ...(q.service === undefined ? [] : [sql`service = ${q.service}`]),
      ...(q.model === undefined ? [] : [sql`model = ${q.model}`]),
      ...(q.metric === undefined ? [] : [sql`metric = ${q.metric}`]),
      ...(q.severity === undefined ? [] : [sql`severity = ${q.severity}`]),
      ...(q.since === undefined ? [] : [sql`opened_at >= ${q.since}`]),
      ...(q.until === undefined ? [] : [sql`opened_at < ${q.until}`]),
      ...(q.after === undefined
        ? []
        : [sql`(opened_at < ${q.after.openedAt} OR (opened_at = ${q.after.openedAt} AND id < ${q.after.id}))`])
    ]
    return guarded(
      "read alerts",
      0,
      sql<Row>`SELECT * FROM alerts ${where.length === 0 ? sql.literal("") : sql`WHERE ${sql.and(where)}`}
        ORDER BY opened_at DESC, id DESC LIMIT ${q.limit}`
    ).pipe(Effect.map((rows) => rows.map(toAlert)))
  }

  const alerts = (status: "open" | "resolved", limit: number) => listAlerts({ status, limit })

  const writeDeadLetters = (rejected: ReadonlyArray<Event.Rejected>) =>
    rejected.length === 0
      ? Effect.succeed(0)
      : Effect.flatMap(Clock.currentTimeMillis, (now) =>
          guarded(
            `store ${rejected.length} dead letters`,
            rejected.length,
            Effect.gen(function* () {
              let added = 0
              for (const part of chunks(rejected, 1000)) {
                const byId = new Map<string, Record<string, unknown>>()
                for (const r of part) {
                  const payload = payloadText(r.payload)
                  const id = deadLetterId(r, payload)
                  byId.set(id, {
                    id,
                    source: r.source ?? null,
                    record_index: r.index,
                    errors: JSON.stringify(r.errors),
                    payload,
                    received_at: now
                  })
                }
                const rows = [...byId.values()]
                if (!Arr.isArrayNonEmpty(rows)) continue
                const inserted = yield* sql<{ id: string }>`INSERT INTO dead_letters ${sql.insert(rows)}
                  ON CONFLICT (id) DO NOTHING RETURNING id`
                added += inserted.length
              }
              return added
            })
          )
        )

  const deadLetters = (limit: number) =>
    guarded(
      "read dead letters",
      0,
      sql<Row>`SELECT id, source, record_index, errors, payload, received_at FROM dead_letters
        ORDER BY received_at DESC, id LIMIT ${limit}`
    ).pipe(
      Effect.map((rows) =>
        rows.map(
          (r): DeadLetter => ({
            id: r.id as string,
            source: (r.source as string | null) ?? null,
            index: Number(r.record_index),
            errors: json<ReadonlyArray<Event.FieldError>>(r.errors),
            payload: r.payload as string,
            receivedAt: Number(r.received_at)
          })
        )
      )
    )

  return {
    anomalyStore,
    stateStore,
    recordAlertEvents,
    recordedAlertEvents,
    alertEvents,
    alertEventsAfter,
    alerts,
    listAlerts,
    writeDeadLetters,
    deadLetters
  }
}

/**
 * Connects, applies the migrations, and provides the {@link Postgres} handle with `AnomalyStore` and
 * `StateStore` over the database. Scoped: the pool closes with the layer.
 *
 * @example
 * ```ts
 * import { Postgres } from "@llm-sentinel/adapters"
 * const StoreLive = Postgres.layer({ host: "127.0.0.1", database: "sentinel", schema: "sentinel" })
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  config: Config = {}
): Layer.Layer<Postgres | AnomalyStore.AnomalyStore | StateStore.StateStore, PostgresError> =>
  Layer.effectContext(
    Effect.gen(function* () {
      yield* Http.validate(Config, config).pipe(
        Effect.mapError((reason) => new PostgresError({ operation: "configure", reason }))
      )
      const schema = config.schema ?? "public"
      const sql = yield* SqlClient.SqlClient
      const applied = yield* migrate(schema)
      const counters = Counters.make("postgres", `${config.database ?? "postgres"}.${schema}`)
      const store = make(sql, counters)
      const timeoutMs = Http.millis(config.connectTimeout ?? "5 seconds")
      const health = sql`SELECT 1`.pipe(
        Effect.as(true),
        Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.succeed(false) }),
        Effect.catch(() => Effect.succeed(false))
      )
      return Context.make(Postgres, {
        health,
        migrations: applied,
        schema,
        recordAlertEvents: store.recordAlertEvents,
        recordedAlertEvents: store.recordedAlertEvents,
        alertEvents: store.alertEvents,
        alertEventsAfter: store.alertEventsAfter,
        alerts: store.alerts,
        listAlerts: store.listAlerts,
        writeDeadLetters: store.writeDeadLetters,
        deadLetters: store.deadLetters,
        counters
      }).pipe(
        Context.add(AnomalyStore.AnomalyStore, store.anomalyStore),
        Context.add(StateStore.StateStore, store.stateStore)
      )
    })
  ).pipe(Layer.provide(layerClient(config)))

/**
 * An `AlertSink` that stores alert events in PostgreSQL (once each) and passes the new ones to `downstream`
 * (the log, a webhook, Kafka): an event replayed after a restart is neither stored nor sent again.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerAlertSink = (
  downstream: Layer.Layer<AlertSink.AlertSink> = AlertSink.layerLog
): Layer.Layer<AlertSink.AlertSink, never, Postgres> =>
  Layer.effect(
    AlertSink.AlertSink,
    Effect.gen(function* () {
      const pg = yield* Postgres
      const next = yield* AlertSink.AlertSink.pipe(Effect.provide(downstream))
      return {
        write: (events) =>
          pg.recordAlertEvents(events).pipe(
            Effect.mapError(toSink),
            Effect.flatMap((fresh) => (fresh.length === 0 ? Effect.void : next.write(fresh.map((s) => s.event))))
          )
      }
    })
  )

/**
 * A `DeadLetterSink` that stores dead letters in PostgreSQL (once each, by a hash of source, index and payload)
 * and logs them.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerDeadLetters: Layer.Layer<DeadLetterSink.DeadLetterSink, never, Postgres> = Layer.effect(
  DeadLetterSink.DeadLetterSink,
  Effect.gen(function* () {
    const pg = yield* Postgres
    const log = yield* DeadLetterSink.DeadLetterSink.pipe(Effect.provide(DeadLetterSink.layerLog))
    return {
      write: (rejected) =>
        pg.writeDeadLetters(rejected).pipe(Effect.mapError(toSink), Effect.andThen(log.write(rejected)))
    }
  })
)

/**
 * Applies the migrations of a configuration and closes the connection (`sentinel migrate`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const migrateWith = (config: Config = {}): Effect.Effect<ReadonlyArray<number>, PostgresError> =>
  Effect.scoped(
    Effect.gen(function* () {
      yield* Http.validate(Config, config).pipe(
        Effect.mapError((reason) => new PostgresError({ operation: "configure", reason }))
      )
      const context = yield* Layer.build(layerClient(config))
      return yield* Effect.provide(migrate(config.schema ?? "public"), context)
    })
  )

/**
 * A redacted `postgres://` URL from text (for flags and environment variables).
 *
 * @category constructors
 * @since 0.1.0
 */
export const url = (text: string): Redacted.Redacted<string> => Redacted.make(text)
