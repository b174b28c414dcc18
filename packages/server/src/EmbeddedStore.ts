/**
 * The embedded durable store: anomalies and checkpoints in one SQLite file in the data directory, through Node's
 * built-in `node:sqlite`, so `sentinel serve` keeps its data with no external service and no dependency.
 *
 * Why SQLite and not PGlite (see `EMBEDDED-STORE.md`): no multi-second start-up (opens in milliseconds), ~2 MiB of
 * extra memory instead of 300–400 MiB, and short statements. Statements are synchronous: a query for a page takes
 * about 1 ms, a batch of 1000 inserts 15–80 ms on the 2-core bench machine (`npm run bench:store`), which is why
 * writes stay in the small batches the pipeline produces.
 *
 * Durability: the database runs in WAL journal mode with `synchronous=NORMAL`. Every committed transaction survives
 * the process being killed (`kill -9`); an operating-system crash or power loss may lose the last transactions
 * committed before it (the database itself stays consistent). WAL checkpoints (copying the log into the database
 * file, with a sync) run on a worker thread with its own connection, not in a commit on the event loop.
 *
 * The schema is created by numbered migrations recorded in `sentinel_migrations`, and its SQL is kept portable
 * to PostgreSQL (`DOUBLE PRECISION` epoch milliseconds, `TEXT`, `ON CONFLICT … DO NOTHING`), so the PostgreSQL
 * adapter can use the same schema.
 *
 * @since 0.1.0
 */
import { mkdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"
import { type Anomaly, AnomalyStore, StateStore, StoreError as StoreErrors } from "@llm-sentinel/core"
import { Clock, Context, Duration, Effect, Layer, Option } from "effect"
import { adapter, deleteCheckpointSql, sqliteError, transaction, upsertCheckpointSql } from "./internal/sqlite.ts"
import * as StateWriter from "./internal/stateWriter.ts"
import * as WalCheckpointer from "./internal/walCheckpointer.ts"

const { StoreError } = StoreErrors
type StoreError = StoreErrors.StoreError

/**
 * A numbered schema migration: `id` orders them, `sql` is run once in a transaction.
 *
 * @category models
 * @since 0.1.0
 */
export interface Migration {
  readonly id: number
  readonly name: string
  readonly sql: string
}

/**
 * The schema, as migrations applied in order. Never edit a released migration: add the next one.
 *
 * @category models
 * @since 0.1.0
 */
export const migrations: ReadonlyArray<Migration> = [
  {
    id: 1,
    name: "anomalies_and_state",
    sql: `
CREATE TABLE anomalies (
  id TEXT PRIMARY KEY,
  series_id TEXT NOT NULL,
  service TEXT NOT NULL,
  model TEXT NOT NULL,
  metric TEXT NOT NULL,
  dimensions TEXT NOT NULL,
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
);
CREATE INDEX anomalies_by_time ON anomalies (event_time DESC, id);
CREATE INDEX anomalies_by_service ON anomalies (service, event_time DESC, id);
CREATE INDEX anomalies_by_series ON anomalies (series_id, event_time DESC, id);
CREATE TABLE checkpoints (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL
);`
  },
  {
    id: 2,
    name: "dead_letters",
    sql: `
CREATE TABLE dead_letters (
  id TEXT PRIMARY KEY,
  source TEXT,
  record_index INTEGER NOT NULL,
  errors TEXT NOT NULL,
  payload TEXT NOT NULL,
  received_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX dead_letters_by_time ON dead_letters (received_at DESC, id);`
  },
  {
    id: 3,
    name: "alerts",
    sql: `
CREATE TABLE alerts (
  id TEXT PRIMARY KEY,
  series_id TEXT NOT NULL,
  service TEXT NOT NULL,
  model TEXT NOT NULL,
  metric TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
  severity TEXT NOT NULL,
  opened_at DOUBLE PRECISION NOT NULL,
  last_anomaly_at DOUBLE PRECISION NOT NULL,
  payload TEXT NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX alerts_by_opened ON alerts (opened_at DESC, id);
CREATE TABLE alert_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  alert_id TEXT,
  kind TEXT NOT NULL,
  event_time DOUBLE PRECISION NOT NULL,
  payload TEXT NOT NULL,
  recorded_at DOUBLE PRECISION NOT NULL
);`
  }
]

/**
 * The open database behind the store: its file, whether it is open (readiness), and the raw handle for tests and
 * maintenance.
 *
 * @category services
 * @since 0.1.0
 */
export class EmbeddedStore extends Context.Service<
  EmbeddedStore,
  {
    readonly path: string
    readonly isOpen: Effect.Effect<boolean>
    /** The ids of the migrations applied, in order. */
    readonly migrations: ReadonlyArray<number>
    readonly database: DatabaseSync
  }
>()("@llm-sentinel/server/EmbeddedStore") {}

/**
 * Options of {@link layer}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The database file; its directory is created if needed. `:memory:` gives a throw-away database. */
  readonly path: string
  /** How long a statement waits for a lock held by another connection (default 5 s). */
  readonly busyTimeout?: Duration.Input
}

const migrate = (db: DatabaseSync, now: number): ReadonlyArray<number> => {
  db.exec(`CREATE TABLE IF NOT EXISTS sentinel_migrations (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at DOUBLE PRECISION NOT NULL
)`)
  const applied = new Set(
    db
      .prepare("SELECT id FROM sentinel_migrations ORDER BY id")
      .all()
      .map((r) => Number(r.id))
  )
  const record = db.prepare("INSERT INTO sentinel_migrations (id, name, applied_at) VALUES (?, ?, ?)")
  for (const m of [...migrations].sort((a, b) => a.id - b.id)) {
    if (applied.has(m.id)) continue
    transaction(db, () => {
      db.exec(m.sql)
      record.run(m.id, m.name, now)
    })
    applied.add(m.id)
  }
  return [...applied].sort((a, b) => a - b)
}

const open = (options: Options, now: number): { db: DatabaseSync; applied: ReadonlyArray<number> } => {
  if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true })
  const db = new DatabaseSync(options.path, { timeout: Duration.toMillis(options.busyTimeout ?? "5 seconds") })
  try {
    db.exec("PRAGMA journal_mode = WAL")
    db.exec("PRAGMA synchronous = NORMAL")
    const applied = migrate(db, now)
    return { db, applied }
  } catch (e) {
    db.close()
    throw e
  }
}

const columns =
  "id, series_id, service, model, metric, dimensions, detector, event_time, observed, expected, lower_bound, " +
  "upper_bound, score, severity, reason, detected_at"

type Row = Record<string, unknown>

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

const toAnomaly = (r: Row): Anomaly.Anomaly => ({
  id: r.id as string,
  series: {
    id: r.series_id as string,
    service: r.service as string,
    model: r.model as string,
    metric: r.metric as string,
    dimensions: JSON.parse(r.dimensions as string) as Record<string, string>
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

const filters = ["service", "model", "metric", "detector", "since", "until", "cursor"] as const

/** The anomaly store over an open database: one prepared statement per combination of filters, made lazily. */
const makeAnomalyStore = (db: DatabaseSync, isOpen: () => boolean): AnomalyStore.AnomalyStore["Service"] => {
  const insert = db.prepare(
    `INSERT INTO anomalies (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
  )
  const queries = new Map<number, StatementSync>()
  const statementFor = (mask: number): StatementSync => {
    let stmt = queries.get(mask)
    if (stmt !== undefined) return stmt
    const where: Array<string> = []
    if (mask & 1) where.push("service = ?")
    if (mask & 2) where.push("model = ?")
    if (mask & 4) where.push("metric = ?")
    if (mask & 8) where.push("detector = ?")
    if (mask & 16) where.push("event_time >= ?")
    if (mask & 32) where.push("event_time < ?")
    if (mask & 64) where.push("(event_time < ? OR (event_time = ? AND id > ?))")
    stmt = db.prepare(
      `SELECT ${columns} FROM anomalies${where.length > 0 ? ` WHERE ${where.join(" AND ")}` : ""} ` +
        "ORDER BY event_time DESC, id ASC LIMIT ?"
    )
    queries.set(mask, stmt)
    return stmt
  }
  const closed = () => new StoreError({ adapter, reason: "Unavailable", message: "the embedded store is closed" })
  return {
    insert: (anomalies) =>
      anomalies.length === 0
        ? Effect.succeed(0)
        : Effect.suspend(() => {
            if (!isOpen()) return Effect.fail(closed())
            return Effect.try({
              try: () =>
                transaction(db, () => {
                  let added = 0
                  for (const a of anomalies) {
                    const s = a.series
                    added += Number(
                      insert.run(
                        a.id,
                        s.id,
                        s.service,
                        s.model,
                        s.metric,
                        JSON.stringify(s.dimensions),
                        a.detector,
                        a.time,
                        a.observed,
                        a.expected,
                        a.lower,
                        a.upper,
                        a.score,
                        a.severity,
                        a.reason,
                        a.detectedAt
                      ).changes
                    )
                  }
                  return added
                }),
              catch: (e) => sqliteError(`cannot insert ${anomalies.length} anomalies`, e)
            })
          }),
    query: (q) =>
      Effect.suspend(() => {
        if (!isOpen()) return Effect.fail(closed())
        let after: { readonly time: number; readonly id: string } | undefined
        if (q.cursor !== undefined) {
          after = AnomalyStore.decodeCursor(q.cursor)
          if (after === undefined) {
            return Effect.fail(new StoreError({ adapter, reason: "Invalid", message: `invalid cursor ${q.cursor}` }))
          }
        }
        let mask = 0
        const params: Array<SQLInputValue> = []
        const values = [q.service, q.model, q.metric, q.detector, q.since, q.until]
        for (let i = 0; i < values.length; i++) {
          const v = values[i]
          if (v === undefined) continue
          mask |= 1 << i
          params.push(v)
        }
        if (after !== undefined) {
          mask |= 64
          params.push(after.time, after.time, after.id)
        }
        params.push(q.limit + 1)
        return Effect.try({
          try: () => {
            const rows = statementFor(mask).all(...params)
            const more = rows.length > q.limit
            const items = (more ? rows.slice(0, q.limit) : rows).map(toAnomaly)
            const last = items[items.length - 1]
            return { items, next: more && last !== undefined ? AnomalyStore.encodeCursor(last) : null }
          },
          catch: (e) => sqliteError(`cannot query anomalies (${filters.filter((_, i) => mask & (1 << i))})`, e)
        })
      })
  }
}

/** The statements one transaction of a large `setMany` runs before it commits and yields (ms of work). */
const sliceMs = 2
/**
 * The size of one transaction of a large `setMany` (UTF-16 units of keys and values): its commit writes the pages
 * it dirtied to the WAL, which took up to 22 ms for 2 ms of upserts, so the size bounds the commit too.
 */
const transactionBytes = 128 * 1024

const makeStateStore = (
  db: DatabaseSync,
  isOpen: () => boolean,
  writer: StateWriter.StateWriter | undefined
): StateStore.StateStore["Service"] => {
  const get = db.prepare("SELECT value FROM checkpoints WHERE key = ?")
  const upsert = db.prepare(upsertCheckpointSql)
  const del = db.prepare(deleteCheckpointSql)
  // Keys with a common prefix are contiguous in byte order, so scan from the prefix and stop at the first miss.
  const from = db.prepare("SELECT key FROM checkpoints WHERE key >= ? ORDER BY key")
  const entriesFrom = db.prepare("SELECT key, value FROM checkpoints WHERE key >= ? ORDER BY key")
  const closed = () =>
    Effect.fail(new StoreError({ adapter, reason: "Unavailable", message: "the embedded store is closed" }))
  const guarded = <A>(what: string, f: () => A): Effect.Effect<A, StoreError> =>
    Effect.suspend(() => (isOpen() ? Effect.try({ try: f, catch: (e) => sqliteError(what, e) }) : closed()))
  const setManyHere = (entries: ReadonlyArray<readonly [string, string]>, now: number) => {
    let next = 0
    const slice = guarded(`cannot write ${entries.length} checkpoints`, () =>
      transaction(db, () => {
        // performance.now measures the work (where to commit and yield), not event time
        const started = performance.now()
        let bytes = 0
        do {
          const end = Math.min(entries.length, next + 16)
          for (; next < end; next++) {
            const [key, value] = entries[next]!
            upsert.run(key, value, now)
            bytes += key.length + value.length
          }
        } while (next < entries.length && bytes < transactionBytes && performance.now() - started < sliceMs)
      })
    )
    const loop: Effect.Effect<void, StoreError> = Effect.flatMap(slice, () =>
      next < entries.length ? Effect.andThen(Effect.yieldNow, loop) : Effect.void
    )
    return loop
  }
  // through the writer thread while it works; when it has failed (the write's own error otherwise stands), here
  const offThread = (
    what: string,
    write: (w: StateWriter.StateWriter) => Promise<void>,
    here: () => Effect.Effect<void, StoreError>
  ): Effect.Effect<void, StoreError> =>
    Effect.suspend(() => {
      if (!isOpen()) return closed()
      if (writer === undefined || writer.failed()) return here()
      return Effect.tryPromise({ try: () => write(writer), catch: (e) => sqliteError(what, e) }).pipe(
        Effect.catch((e) => (writer.failed() ? here() : Effect.fail(e)))
      )
    })
  return {
    get: (key) =>
      guarded(`cannot read checkpoint ${key}`, () => {
        const row = get.get(key)
        return row === undefined ? Option.none() : Option.some(row.value as string)
      }),
    // A large write (a checkpoint of 100k series) is committed as several transactions in order. With the writer
    // thread (a file database) they run there, off the event loop; on this connection (`:memory:`, or once that
    // thread failed) each is about `sliceMs` of statements, with a yield to the event loop between them: one
    // transaction would block it for seconds. A crash part-way through leaves a prefix of the entries written (the
    // pipeline orders a checkpoint's entries so that a prefix is safe, and writes its position last).
    setMany: (entries) =>
      entries.length === 0
        ? Effect.void
        : Effect.flatMap(Clock.currentTimeMillis, (now) =>
            offThread(
              `cannot write ${entries.length} checkpoints`,
              (w) => w.setMany(entries, now),
              () => setManyHere(entries, now)
            )
          ),
    delete: (key) =>
      offThread(
        `cannot delete checkpoint ${key}`,
        (w) => w.delete(key),
        () => guarded(`cannot delete checkpoint ${key}`, () => void del.run(key))
      ),
    keys: (prefix) =>
      guarded(`cannot list checkpoints under ${prefix}`, () => {
        const out: Array<string> = []
        for (const row of from.iterate(prefix)) {
          const key = row.key as string
          if (!key.startsWith(prefix)) break
          out.push(key)
        }
        return out.sort()
      }),
    entries: (prefix) =>
      guarded(`cannot read checkpoints under ${prefix}`, () => {
        // one statement for the whole prefix (SQLite's BINARY collation is byte order, as the scan needs)
        const out: Array<readonly [string, string]> = []
        for (const row of entriesFrom.iterate(prefix)) {
          const key = row.key as string
          if (!key.startsWith(prefix)) break
          out.push([key, row.value as string])
        }
        return out
      })
  }
}

/**
 * Opens (creating and migrating if needed) the database at `path` and provides the {@link EmbeddedStore} handle,
 * `AnomalyStore` and `StateStore` over it. Scoped: the database closes when the layer is released.
 *
 * @example
 * ```ts
 * import { EmbeddedStore } from "@llm-sentinel/server"
 * const StoreLive = EmbeddedStore.layer({ path: ".sentinel/sentinel.db" })
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<EmbeddedStore | AnomalyStore.AnomalyStore | StateStore.StateStore, StoreError> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const { db, applied } = yield* Effect.acquireRelease(
        Effect.try({
          try: () => open(options, now),
          catch: (e) => sqliteError(`cannot open the embedded store at ${options.path}`, e)
        }),
        ({ db }) =>
          Effect.sync(() => {
            if (db.isOpen) db.close()
          })
      )
      if (options.path !== ":memory:") {
        const checkpointer = WalCheckpointer.start(db, options.path, {
          busyTimeoutMs: Duration.toMillis(options.busyTimeout ?? "5 seconds")
        })
        // released before the connection closes (scopes release in reverse order)
        yield* Effect.addFinalizer(() => Effect.promise(checkpointer.stop))
      }
      const writer =
        options.path === ":memory:"
          ? undefined
          : StateWriter.start(options.path, { busyTimeoutMs: Duration.toMillis(options.busyTimeout ?? "5 seconds") })
      // stopped (its writes finished) before the WAL checkpointer and the connection
      if (writer !== undefined) yield* Effect.addFinalizer(() => Effect.promise(writer.stop))
      const isOpen = () => db.isOpen
      return Context.make(EmbeddedStore, {
        path: options.path,
        isOpen: Effect.sync(isOpen),
        migrations: applied,
        database: db
      }).pipe(
        Context.add(AnomalyStore.AnomalyStore, makeAnomalyStore(db, isOpen)),
        Context.add(StateStore.StateStore, makeStateStore(db, isOpen, writer))
      )
    })
  )

/**
 * The file name of the database inside a data directory.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fileIn = (dataDir: string): string => join(dataDir, "sentinel.db")
