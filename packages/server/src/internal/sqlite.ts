/**
 * What every module over the embedded SQLite database shares: transactions and the mapping of SQLite failures to
 * `StoreError` (busy, locked, I/O, full and cannot-open are retryable; the rest are not).
 */
import type { DatabaseSync } from "node:sqlite"
import { StoreError as StoreErrors } from "@llm-sentinel/core"

const { StoreError } = StoreErrors
type StoreError = StoreErrors.StoreError

/** The adapter name in errors and metrics. */
export const adapter = "sqlite"

/** A failure of SQLite as a `StoreError`, retryable for the transient codes. */
export const sqliteError = (message: string, cause: unknown): StoreError => {
  const code = (cause as { readonly errcode?: number } | null)?.errcode
  // SQLITE_BUSY (5), SQLITE_LOCKED (6), SQLITE_IOERR (10), SQLITE_FULL (13), SQLITE_CANTOPEN (14)
  const primary = code === undefined ? undefined : code & 0xff
  const retryable = primary === 5 || primary === 6 || primary === 10 || primary === 13 || primary === 14
  const detail = cause instanceof Error ? cause.message : String(cause)
  return new StoreError({
    adapter,
    reason: retryable || primary === undefined ? "Unavailable" : "Invalid",
    message: `${message}: ${detail}`,
    cause
  })
}

/** The error of a statement on a closed database. */
export const closed = (): StoreError =>
  new StoreError({ adapter, reason: "Unavailable", message: "the embedded store is closed" })

/** Runs `body` in one transaction: committed if it returns, rolled back if it throws. */
export const transaction = <A>(db: DatabaseSync, body: () => A): A => {
  db.exec("BEGIN")
  try {
    const result = body()
    db.exec("COMMIT")
    return result
  } catch (e) {
    if (db.isTransaction) db.exec("ROLLBACK")
    throw e
  }
}

/** The checkpoint upsert (key, value, updated_at), shared by the serving connection and the writer thread. */
export const upsertCheckpointSql =
  "INSERT INTO checkpoints (key, value, updated_at) VALUES (?, ?, ?) " +
  "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"

/** The checkpoint delete (key), shared by the serving connection and the writer thread. */
export const deleteCheckpointSql = "DELETE FROM checkpoints WHERE key = ?"
