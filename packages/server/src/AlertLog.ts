/**
 * The alert log of a running server: every alert event the policy produced, once each (by its delivery id), with a
 * sequence number, and each alert's latest state. It answers `GET /v1/alerts` (firing and resolved alerts,
 * filtered and paged) and feeds `GET /v1/stream/alerts` (live events, resumable from a sequence number).
 *
 * Delivery ({@link layerSink}): each batch of alert events is first narrowed to the events not recorded yet (the
 * pipeline already skips transitions it emitted before a restart, by its `alerts/emitted/` markers; this catches
 * what it cannot: a crash between a sink accepting events and the marker being written, or a partition taken over
 * by another instance whose markers lag), so no event is sent twice,
 * then written to the configured alert sinks, then recorded and published to live subscribers. An event whose
 * sinks failed is not recorded, so it is sent again when the pipeline retries; a crash between sending and
 * recording sends it again after the restart (at least once, with the same delivery id for receivers to drop).
 *
 * Implementations: {@link layerEmbedded} (the embedded SQLite database) and {@link layerMemory} (tests).
 *
 * @since 0.2.0
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite"
import { AdapterError, AlertJson, Postgres } from "@llm-sentinel/adapters"
import { Alert, AlertSink, SinkError as SinkErrors, StoreError as StoreErrors, type Verdict } from "@llm-sentinel/core"
import { Clock, Context, Effect, Layer, PubSub, Schema, type Scope } from "effect"
import * as EmbeddedStore from "./EmbeddedStore.ts"
import { adapter, closed, sqliteError, transaction } from "./internal/sqlite.ts"

const { StoreError } = StoreErrors
type StoreError = StoreErrors.StoreError

/**
 * One recorded alert event: its sequence number (increasing, the SSE event id), its delivery id, and the event.
 *
 * @category models
 * @since 0.2.0
 */
export const Recorded = Schema.Struct({
  seq: Schema.Int,
  id: Schema.String,
  event: Alert.AlertEvent,
  recordedAt: Schema.Finite
})

/**
 * @category models
 * @since 0.2.0
 */
export type Recorded = typeof Recorded.Type

/**
 * Filters of {@link AlertLog}'s `list`: newest opened first, then id descending; `cursor` continues after the
 * last alert of the previous page.
 *
 * @category models
 * @since 0.2.0
 */
export interface Query {
  readonly status?: "open" | "resolved"
  readonly service?: string
  readonly model?: string
  readonly metric?: string
  readonly severity?: Verdict.Severity
  /** Opened at or after (epoch ms). */
  readonly since?: number
  /** Opened before (epoch ms). */
  readonly until?: number
  readonly limit: number
  readonly cursor?: string
}

/**
 * One page of alerts and the cursor of the next page (`null` on the last page).
 *
 * @category models
 * @since 0.2.0
 */
export const Page = Schema.Struct({ items: Schema.Array(Alert.Alert), next: Schema.NullOr(Schema.String) })

/**
 * @category models
 * @since 0.2.0
 */
export type Page = typeof Page.Type

/**
 * @category services
 * @since 0.2.0
 */
export class AlertLog extends Context.Service<
  AlertLog,
  {
    /** The events of a batch not recorded yet (by delivery id), in order, each once. */
    readonly unseen: (events: ReadonlyArray<Alert.AlertEvent>) => Effect.Effect<Array<Alert.AlertEvent>, StoreError>
    /** Records events (an id already recorded is skipped), updates their alerts, publishes what was new. */
    readonly record: (events: ReadonlyArray<Alert.AlertEvent>) => Effect.Effect<Array<Recorded>, StoreError>
    readonly list: (query: Query) => Effect.Effect<Page, StoreError>
    /** Recorded events with a sequence number above `seq`, oldest first, at most `limit`. */
    readonly after: (seq: number, limit: number) => Effect.Effect<Array<Recorded>, StoreError>
    /** Live: the events recorded from now on (subscribe before reading `after` to miss nothing). */
    readonly subscribe: Effect.Effect<PubSub.Subscription<Recorded>, never, Scope.Scope>
  }
>()("@llm-sentinel/server/AlertLog") {}

/**
 * A page cursor: `<openedAt>:<id>` of the last alert returned.
 *
 * @category constructors
 * @since 0.2.0
 */
export const encodeCursor = (a: Pick<Alert.Alert, "openedAt" | "id">): string => `${a.openedAt}:${a.id}`

/**
 * The position a cursor stands for, or `undefined` when it is not one.
 *
 * @category constructors
 * @since 0.2.0
 */
export const decodeCursor = (cursor: string): { readonly openedAt: number; readonly id: string } | undefined => {
  const i = cursor.indexOf(":")
  const openedAt = Number(cursor.slice(0, i))
  return i > 0 && Number.isFinite(openedAt) ? { openedAt, id: cursor.slice(i + 1) } : undefined
}

const invalidCursor = (cursor: string, name: string) =>
  new StoreError({ adapter: name, reason: "Invalid", message: `invalid cursor ${cursor}` })

/**
 * Whether an alert matches a query's filters (cursor excluded).
 *
 * @category guards
 * @since 0.2.0
 */
export const matches = (a: Alert.Alert, q: Query): boolean =>
  (q.status === undefined || a.status === q.status) &&
  (q.service === undefined || a.series.service === q.service) &&
  (q.model === undefined || a.series.model === q.model) &&
  (q.metric === undefined || a.series.metric === q.metric) &&
  (q.severity === undefined || a.severity === q.severity) &&
  (q.since === undefined || a.openedAt >= q.since) &&
  (q.until === undefined || a.openedAt < q.until)

/** Newest opened first, then id descending. */
const before = (a: Alert.Alert, b: { readonly openedAt: number; readonly id: string }): boolean =>
  a.openedAt < b.openedAt || (a.openedAt === b.openedAt && a.id < b.id)

/** The later of two states of one alert: a resolved alert stays resolved; else the later last anomaly wins. */
const later = (current: Alert.Alert, next: Alert.Alert): boolean =>
  current.status === "open" && next.lastAnomalyAt >= current.lastAnomalyAt

const dedupe = (events: ReadonlyArray<Alert.AlertEvent>): Map<string, Alert.AlertEvent> => {
  const byId = new Map<string, Alert.AlertEvent>()
  for (const e of events) {
    const id = AlertJson.deliveryId(e)
    if (!byId.has(id)) byId.set(id, e)
  }
  return byId
}

const make = (
  pubsub: PubSub.PubSub<Recorded>,
  store: {
    readonly has: (ids: ReadonlyArray<string>) => Set<string>
    readonly insert: (events: ReadonlyArray<readonly [string, Alert.AlertEvent]>, now: number) => Array<Recorded>
    readonly list: (q: Query) => Page
    readonly after: (seq: number, limit: number) => Array<Recorded>
  },
  guarded: <A>(what: string, f: () => A) => Effect.Effect<A, StoreError>
): AlertLog["Service"] => ({
  unseen: (events) =>
    events.length === 0
      ? Effect.succeed([])
      : guarded(`cannot read ${events.length} alert events`, () => {
          const byId = dedupe(events)
          const seen = store.has([...byId.keys()])
          return [...byId].filter(([id]) => !seen.has(id)).map(([, e]) => e)
        }),
  record: (events) =>
    events.length === 0
      ? Effect.succeed([])
      : Effect.flatMap(Clock.currentTimeMillis, (now) =>
          guarded(`cannot record ${events.length} alert events`, () => store.insert([...dedupe(events)], now)).pipe(
            Effect.tap((fresh) => (fresh.length === 0 ? Effect.void : PubSub.publishAll(pubsub, fresh)))
          )
        ),
  list: (q) => guarded("cannot list alerts", () => store.list(q)),
  after: (seq, limit) => guarded(`cannot read alert events after ${seq}`, () => store.after(seq, limit)),
  subscribe: PubSub.subscribe(pubsub)
})

// a slow SSE client must not hold the pipeline: past this many unread events its subscription drops the oldest
const liveCapacity = 4096

/**
 * An alert log in memory (tests, examples).
 *
 * @category layers
 * @since 0.2.0
 */
export const layerMemory: Layer.Layer<AlertLog> = Layer.effect(
  AlertLog,
  Effect.gen(function* () {
    const pubsub = yield* PubSub.sliding<Recorded>(liveCapacity)
    const events: Array<Recorded> = []
    const ids = new Set<string>()
    const alerts = new Map<string, Alert.Alert>()
    return make(
      pubsub,
      {
        has: (xs) => new Set(xs.filter((id) => ids.has(id))),
        insert: (batch, now) => {
          const out: Array<Recorded> = []
          for (const [id, event] of batch) {
            if (ids.has(id)) continue
            ids.add(id)
            const r = { seq: events.length + 1, id, event, recordedAt: now }
            events.push(r)
            out.push(r)
            if (event._tag === "storm") continue
            const current = alerts.get(event.alert.id)
            if (current === undefined || later(current, event.alert)) alerts.set(event.alert.id, event.alert)
          }
          return out
        },
        list: (q) => {
          const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor)
          if (q.cursor !== undefined && after === undefined) throw invalidCursor(q.cursor, "memory")
          const sorted = [...alerts.values()]
            .filter((a) => matches(a, q) && (after === undefined || before(a, after)))
            .sort((a, b) => b.openedAt - a.openedAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
          const items = sorted.slice(0, q.limit)
          const last = items[items.length - 1]
          return { items, next: sorted.length > q.limit && last !== undefined ? encodeCursor(last) : null }
        },
        after: (seq, limit) => events.filter((r) => r.seq > seq).slice(0, limit)
      },
      (what, f) =>
        Effect.try({
          try: f,
          catch: (e) =>
            e instanceof StoreError
              ? e
              : new StoreError({ adapter: "memory", reason: "Invalid", message: `${what}: ${String(e)}` })
        })
    )
  })
)

const encodeAlert = Schema.encodeSync(Schema.fromJsonString(Alert.Alert))
const decodeAlert = Schema.decodeUnknownSync(Schema.fromJsonString(Alert.Alert))
const decodeEvent = Schema.decodeUnknownSync(Schema.fromJsonString(Alert.AlertEvent))

const makeSqlite = (db: DatabaseSync) => {
  const has = db.prepare("SELECT id FROM alert_events WHERE id = ?")
  const insertEvent = db.prepare(
    "INSERT INTO alert_events (id, alert_id, kind, event_time, payload, recorded_at) VALUES (?, ?, ?, ?, ?, ?) " +
      "ON CONFLICT (id) DO NOTHING RETURNING seq"
  )
  // a later transition of an alert wins over an earlier one replayed out of order; a resolved alert stays resolved
  const upsertAlert = db.prepare(
    "INSERT INTO alerts (id, series_id, service, model, metric, status, severity, opened_at, last_anomaly_at, " +
      "payload, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET " +
      "status = excluded.status, severity = excluded.severity, last_anomaly_at = excluded.last_anomaly_at, " +
      "payload = excluded.payload, updated_at = excluded.updated_at " +
      "WHERE alerts.status = 'open' AND excluded.last_anomaly_at >= alerts.last_anomaly_at"
  )
  const after = db.prepare("SELECT seq, id, payload, recorded_at FROM alert_events WHERE seq > ? ORDER BY seq LIMIT ?")
  const lists = new Map<number, StatementSync>()
  const listFor = (mask: number): StatementSync => {
    let stmt = lists.get(mask)
    if (stmt !== undefined) return stmt
    const where: Array<string> = []
    if (mask & 1) where.push("status = ?")
    if (mask & 2) where.push("service = ?")
    if (mask & 4) where.push("model = ?")
    if (mask & 8) where.push("metric = ?")
    if (mask & 16) where.push("severity = ?")
    if (mask & 32) where.push("opened_at >= ?")
    if (mask & 64) where.push("opened_at < ?")
    if (mask & 128) where.push("(opened_at < ? OR (opened_at = ? AND id < ?))")
    stmt = db.prepare(
      `SELECT payload FROM alerts${where.length > 0 ? ` WHERE ${where.join(" AND ")}` : ""} ` +
        "ORDER BY opened_at DESC, id DESC LIMIT ?"
    )
    lists.set(mask, stmt)
    return stmt
  }
  return {
    has: (ids: ReadonlyArray<string>) => new Set(ids.filter((id) => has.get(id) !== undefined)),
    insert: (batch: ReadonlyArray<readonly [string, Alert.AlertEvent]>, now: number) =>
      transaction(db, () => {
        const out: Array<Recorded> = []
        for (const [id, event] of batch) {
          const row = insertEvent.get(
            id,
            event._tag === "storm" ? null : event.alert.id,
            event._tag,
            AlertJson.eventTime(event),
            AlertJson.encode(event),
            now
          )
          if (row === undefined) continue
          out.push({ seq: Number(row.seq), id, event, recordedAt: now })
          if (event._tag === "storm") continue
          const a = event.alert
          upsertAlert.run(
            a.id,
            a.series.id,
            a.series.service,
            a.series.model,
            a.series.metric,
            a.status,
            a.severity,
            a.openedAt,
            a.lastAnomalyAt,
            encodeAlert(a),
            now
          )
        }
        return out
      }),
    list: (q: Query): Page => {
      let mask = 0
      const params: Array<SQLInputValue> = []
      const values = [q.status, q.service, q.model, q.metric, q.severity, q.since, q.until]
      for (let i = 0; i < values.length; i++) {
        const v = values[i]
        if (v === undefined) continue
        mask |= 1 << i
        params.push(v)
      }
      if (q.cursor !== undefined) {
        const c = decodeCursor(q.cursor)
        if (c === undefined) throw invalidCursor(q.cursor, adapter)
        mask |= 128
        params.push(c.openedAt, c.openedAt, c.id)
      }
      params.push(q.limit + 1)
      const rows = listFor(mask).all(...params)
      const items = rows.slice(0, q.limit).map((r) => decodeAlert(r.payload))
      const last = items[items.length - 1]
      return { items, next: rows.length > q.limit && last !== undefined ? encodeCursor(last) : null }
    },
    after: (seq: number, limit: number): Array<Recorded> =>
      after.all(seq, limit).map((r) => ({
        seq: Number(r.seq),
        id: r.id as string,
        event: decodeEvent(r.payload),
        recordedAt: Number(r.recorded_at)
      }))
  }
}

/**
 * The alert log in the embedded store's database (tables `alerts` and `alert_events`, migration 3).
 *
 * @category layers
 * @since 0.2.0
 */
export const layerEmbedded: Layer.Layer<AlertLog, never, EmbeddedStore.EmbeddedStore> = Layer.effect(
  AlertLog,
  Effect.gen(function* () {
    const { database, isOpen } = yield* EmbeddedStore.EmbeddedStore
    const pubsub = yield* PubSub.sliding<Recorded>(liveCapacity)
    return make(pubsub, makeSqlite(database), (what, f) =>
      Effect.flatMap(isOpen, (open) =>
        open
          ? Effect.try({ try: f, catch: (e) => (e instanceof StoreError ? e : sqliteError(what, e)) })
          : Effect.fail(closed())
      )
    )
  })
)

/**
 * The `AlertSink` of a server: new events go to `downstream` (the configured alert sinks), then are recorded in
 * the {@link AlertLog} and published to live subscribers. Events already recorded are dropped.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerSink = <E, R>(
  downstream: Layer.Layer<AlertSink.AlertSink, E, R>
): Layer.Layer<AlertSink.AlertSink, E, R | AlertLog> =>
  Layer.effect(
    AlertSink.AlertSink,
    Effect.gen(function* () {
      const log = yield* AlertLog
      const next = yield* AlertSink.AlertSink
      const toSink = (e: StoreError) =>
        new SinkErrors.SinkError({ adapter: e.adapter, reason: e.reason, message: e.message, cause: e })
      return {
        write: (events) =>
          Effect.gen(function* () {
            const fresh = yield* log.unseen(events).pipe(Effect.mapError(toSink))
            if (fresh.length === 0) return
            yield* next.write(fresh)
            yield* log.record(fresh).pipe(Effect.mapError(toSink))
          })
      }
    })
  ).pipe(Layer.provide(downstream))

/**
 * The alert log in PostgreSQL (tables `alerts` and `alert_events`, sequence from migration 5), shared by every
 * instance of a consumer group; live subscribers see the events this instance recorded.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerPostgres: Layer.Layer<AlertLog, never, Postgres.Postgres> = Layer.effect(
  AlertLog,
  Effect.gen(function* () {
    const pg = yield* Postgres.Postgres
    const pubsub = yield* PubSub.sliding<Recorded>(liveCapacity)
    const toStore = (e: Postgres.PostgresError) => AdapterError.toStoreError("postgres", e.reason, e)
    const recorded = (s: Postgres.StoredAlertEvent): Recorded => ({
      seq: s.seq,
      id: s.id,
      event: s.event,
      recordedAt: s.recordedAt
    })
    return {
      unseen: (events) => {
        if (events.length === 0) return Effect.succeed([])
        const byId = dedupe(events)
        return pg.recordedAlertEvents([...byId.keys()]).pipe(
          Effect.map((seen) => [...byId].filter(([id]) => !seen.has(id)).map(([, e]) => e)),
          Effect.mapError(toStore)
        )
      },
      record: (events) =>
        pg.recordAlertEvents(events).pipe(
          Effect.map((stored) => stored.map(recorded)),
          Effect.tap((fresh) => (fresh.length === 0 ? Effect.void : PubSub.publishAll(pubsub, fresh))),
          Effect.mapError(toStore)
        ),
      list: (q) => {
        const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor)
        if (q.cursor !== undefined && after === undefined) return Effect.fail(invalidCursor(q.cursor, "postgres"))
        const { cursor: _, ...filters } = q
        return pg.listAlerts({ ...filters, ...(after === undefined ? {} : { after }), limit: q.limit + 1 }).pipe(
          Effect.map((rows) => {
            const items = rows.slice(0, q.limit)
            const last = items[items.length - 1]
            return { items, next: rows.length > q.limit && last !== undefined ? encodeCursor(last) : null }
          }),
          Effect.mapError(toStore)
        )
      },
      after: (seq, limit) =>
        pg.alertEventsAfter(seq, limit).pipe(
          Effect.map((xs) => xs.map(recorded)),
          Effect.mapError(toStore)
        ),
      subscribe: PubSub.subscribe(pubsub)
    }
  })
)
