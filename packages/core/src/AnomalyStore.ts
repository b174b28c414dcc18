/**
 * The queryable store of anomalies behind `GET /v1/anomalies`. `insert` is idempotent on the anomaly id, so
 * replays and at-least-once delivery store each anomaly once. The in-memory implementation here is for tests
 * and examples; the server's embedded store and the PostgreSQL adapter implement the same service.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Schema } from "effect"
import { Anomaly } from "./Anomaly.ts"
import { AnomalySink } from "./AnomalySink.ts"
import { SinkError } from "./SinkError.ts"
import { StoreError } from "./StoreError.ts"

/**
 * Filters of a query. `since`/`until` bound the event time (epoch ms, `until` exclusive); results are ordered
 * by event time descending, then id; `cursor` continues after the last item of the previous page.
 *
 * @category models
 * @since 0.1.0
 */
export const Query = Schema.Struct({
  service: Schema.optionalKey(Schema.String),
  model: Schema.optionalKey(Schema.String),
  metric: Schema.optionalKey(Schema.String),
  detector: Schema.optionalKey(Schema.String),
  since: Schema.optionalKey(Schema.Finite),
  until: Schema.optionalKey(Schema.Finite),
  limit: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1000 })),
  cursor: Schema.optionalKey(Schema.String)
})

/**
 * @category models
 * @since 0.1.0
 */
export type Query = typeof Query.Type

/**
 * One page of results and the cursor of the next page, if there is one.
 *
 * @category models
 * @since 0.1.0
 */
export const Page = Schema.Struct({
  items: Schema.Array(Anomaly),
  next: Schema.NullOr(Schema.String)
})

/**
 * @category models
 * @since 0.1.0
 */
export type Page = typeof Page.Type

/**
 * @category services
 * @since 0.1.0
 */
export class AnomalyStore extends Context.Service<
  AnomalyStore,
  {
    /** Stores anomalies; an id already stored is left as it is. Returns how many were new. */
    readonly insert: (anomalies: ReadonlyArray<Anomaly>) => Effect.Effect<number, StoreError>
    readonly query: (query: Query) => Effect.Effect<Page, StoreError>
  }
>()("@llm-sentinel/core/AnomalyStore") {}

/**
 * Cursor encoding shared by the stores: `<time>:<id>` of the last item returned.
 *
 * @category constructors
 * @since 0.1.0
 */
export const encodeCursor = (a: Pick<Anomaly, "time" | "id">): string => `${a.time}:${a.id}`

/**
 * @category constructors
 * @since 0.1.0
 */
export const decodeCursor = (cursor: string): { readonly time: number; readonly id: string } | undefined => {
  const i = cursor.indexOf(":")
  const time = Number(cursor.slice(0, i))
  return i > 0 && Number.isFinite(time) ? { time, id: cursor.slice(i + 1) } : undefined
}

/**
 * Whether an anomaly matches a query's filters (cursor excluded).
 *
 * @category combinators
 * @since 0.1.0
 */
export const matches = (q: Query, a: Anomaly): boolean =>
  (q.service === undefined || a.series.service === q.service) &&
  (q.model === undefined || a.series.model === q.model) &&
  (q.metric === undefined || a.series.metric === q.metric) &&
  (q.detector === undefined || a.detector === q.detector) &&
  (q.since === undefined || a.time >= q.since) &&
  (q.until === undefined || a.time < q.until)

/**
 * Orders anomalies newest first, then by id (the order of every store).
 *
 * @category combinators
 * @since 0.1.0
 */
export const order = (a: Anomaly, b: Anomaly): number => b.time - a.time || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/**
 * An in-memory store. An invalid `cursor` fails with a `StoreError` whose reason is `Invalid` (not retryable), as
 * every store does.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<AnomalyStore> = Layer.sync(AnomalyStore, () => {
  const byId = new Map<string, Anomaly>()
  return {
    insert: (anomalies) =>
      Effect.sync(() => {
        let added = 0
        for (const a of anomalies) {
          if (byId.has(a.id)) continue
          byId.set(a.id, a)
          added++
        }
        return added
      }),
    query: (q) =>
      Effect.suspend(() => {
        const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor)
        if (q.cursor !== undefined && after === undefined) {
          return Effect.fail(
            new StoreError({ adapter: "memory", reason: "Invalid", message: `invalid cursor ${q.cursor}` })
          )
        }
        const all = [...byId.values()].filter((a) => matches(q, a)).sort(order)
        const start =
          after === undefined
            ? 0
            : all.findIndex((a) => a.time < after.time || (a.time === after.time && a.id > after.id))
        const items = start < 0 ? [] : all.slice(start, start + q.limit)
        const last = items[items.length - 1]
        const more = start >= 0 && start + q.limit < all.length
        return Effect.succeed({ items, next: more && last !== undefined ? encodeCursor(last) : null })
      })
  }
})

/**
 * An `AnomalySink` over the `AnomalyStore` in context: the pipeline's output becomes queryable. Inserts are
 * idempotent on the anomaly id, so at-least-once delivery stores each anomaly once; a store failure is the
 * sink's `SinkError` (same adapter, reason and message, the `StoreError` as its cause).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerSink: Layer.Layer<AnomalySink, never, AnomalyStore> = Layer.effect(
  AnomalySink,
  Effect.map(AnomalyStore, (store) => ({
    write: (anomalies) =>
      store.insert(anomalies).pipe(
        Effect.asVoid,
        Effect.mapError((e) => new SinkError({ adapter: e.adapter, reason: e.reason, message: e.message, cause: e }))
      )
  }))
)
