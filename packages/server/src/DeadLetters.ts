/**
 * The dead-letter store of `sentinel serve`: every record a source held but the pipeline could not use (a journal
 * line that failed its checksum, a journaled record that no longer decodes), with its errors, where it came from
 * and its payload, in the embedded store's `dead_letters` table, readable through `GET /v1/dead-letters`.
 *
 * Ids are deterministic (a hash of source, index and payload), so a record quarantined again by a later replay of
 * the same journal is stored once.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import type { DatabaseSync } from "node:sqlite"
import { DeadLetterSink, type Event, SinkError } from "@llm-sentinel/core"
import { Clock, Context, Effect, Layer } from "effect"
import { EmbeddedStore } from "./EmbeddedStore.ts"

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
  /** The record as JSON text (at most 64 KiB; longer payloads end with `…`). */
  readonly payload: string
  readonly receivedAt: number
}

/**
 * @category services
 * @since 0.1.0
 */
export class DeadLetterStore extends Context.Service<
  DeadLetterStore,
  {
    readonly write: (rejected: ReadonlyArray<Event.Rejected>) => Effect.Effect<number, SinkError.SinkError>
    /** The newest dead letters first. */
    readonly latest: (limit: number) => Effect.Effect<ReadonlyArray<DeadLetter>, SinkError.SinkError>
  }
>()("@llm-sentinel/server/DeadLetterStore") {}

const maxPayload = 64 * 1024

const payloadText = (payload: unknown): string => {
  let text: string
  try {
    text = typeof payload === "string" ? payload : (JSON.stringify(payload) ?? "null")
  } catch {
    text = String(payload) // too deep or circular: a preview is all there is
  }
  return text.length > maxPayload ? `${text.slice(0, maxPayload)}…` : text
}

const make = (db: DatabaseSync): DeadLetterStore["Service"] => {
  const insert = db.prepare(
    "INSERT INTO dead_letters (id, source, record_index, errors, payload, received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
  )
  const select = db.prepare(
    "SELECT id, source, record_index, errors, payload, received_at FROM dead_letters ORDER BY received_at DESC, id LIMIT ?"
  )
  const fail = (message: string, cause: unknown) =>
    new SinkError.SinkError({
      adapter: "sqlite",
      reason: "Unavailable",
      message: `${message}: ${String(cause)}`,
      cause
    })
  return {
    write: (rejected) =>
      rejected.length === 0
        ? Effect.succeed(0)
        : Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.try({
              try: () => {
                let added = 0
                db.exec("BEGIN")
                try {
                  for (const r of rejected) {
                    const payload = payloadText(r.payload)
                    const id = createHash("sha256")
                      .update(`${r.source ?? ""}\u0000${r.index}\u0000${payload}`)
                      .digest("hex")
                      .slice(0, 32)
                    added += Number(
                      insert.run(id, r.source ?? null, r.index, JSON.stringify(r.errors), payload, now).changes
                    )
                  }
                  db.exec("COMMIT")
                } catch (e) {
                  if (db.isTransaction) db.exec("ROLLBACK")
                  throw e
                }
                return added
              },
              catch: (e) => fail(`cannot store ${rejected.length} dead letters`, e)
            })
          ),
    latest: (limit) =>
      Effect.try({
        try: () =>
          select.all(limit).map(
            (row): DeadLetter => ({
              id: row.id as string,
              source: (row.source as string | null) ?? null,
              index: Number(row.record_index),
              errors: JSON.parse(row.errors as string) as ReadonlyArray<Event.FieldError>,
              payload: row.payload as string,
              receivedAt: Number(row.received_at)
            })
          ),
        catch: (e) => fail("cannot read dead letters", e)
      })
  }
}

/**
 * The dead-letter store in the embedded store's database.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<DeadLetterStore, never, EmbeddedStore> = Layer.effect(
  DeadLetterStore,
  Effect.map(EmbeddedStore, (store) => make(store.database))
)

/**
 * A dead-letter store in memory (tests).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<DeadLetterStore> = Layer.sync(DeadLetterStore, () => {
  const all: Array<DeadLetter> = []
  return {
    write: (rejected) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          for (const r of rejected) {
            all.push({
              id: String(all.length),
              source: r.source ?? null,
              index: r.index,
              errors: r.errors,
              payload: payloadText(r.payload),
              receivedAt: now
            })
          }
          return rejected.length
        })
      ),
    latest: (limit) => Effect.sync(() => all.slice(-limit).reverse())
  }
})

/**
 * A `DeadLetterSink` that stores every dead letter in the {@link DeadLetterStore} and logs it.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerSink: Layer.Layer<DeadLetterSink.DeadLetterSink, never, DeadLetterStore> = Layer.effect(
  DeadLetterSink.DeadLetterSink,
  Effect.gen(function* () {
    const store = yield* DeadLetterStore
    const log = yield* DeadLetterSink.DeadLetterSink.pipe(Effect.provide(DeadLetterSink.layerLog))
    return { write: (rejected) => Effect.andThen(store.write(rejected), log.write(rejected)) }
  })
)
