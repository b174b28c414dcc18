/**
 * Moves the embedded store's WAL checkpoints off the event loop.
 *
 * In WAL mode with `synchronous=NORMAL` a commit does not sync, but the commit that crosses the WAL's auto-checkpoint
 * size (1000 pages) copies the WAL into the database file and syncs it: 15–25 ms inside a statement, on the event
 * loop (`npm run bench:checkpoint` showed every fourth 4 ms transaction of a large checkpoint taking 16–26 ms). So
 * the serving connection turns auto-checkpointing off, and a worker thread with its own connection to the same
 * file runs a `PASSIVE` checkpoint every `everyMs` (passive: it never waits for the writer and never blocks it).
 *
 * If the worker cannot start or dies, the serving connection gets its auto-checkpoint back, so the WAL never grows
 * without bound. The worker's source is plain JavaScript evaluated in the thread (no file to resolve in the
 * published package).
 */
import type { DatabaseSync } from "node:sqlite"
import { Worker } from "node:worker_threads"

const source = `
const { workerData, parentPort } = require("node:worker_threads")
const { DatabaseSync } = require("node:sqlite")
const db = new DatabaseSync(workerData.path, { timeout: workerData.busyTimeoutMs })
const run = () => { db.exec("PRAGMA wal_checkpoint(PASSIVE)") }
const timer = setInterval(run, workerData.everyMs)
parentPort.on("message", () => {
  clearInterval(timer)
  try { run() } finally { db.close(); parentPort.close() }
})
`

/** The default interval between two checkpoints of the worker (ms). */
export const defaultEveryMs = 1_000

/** The WAL auto-checkpoint size SQLite uses by default (pages), restored when the worker is gone. */
const autoCheckpointPages = 1_000

export interface WalCheckpointer {
  /** Stops the worker after one last checkpoint; resolves when the thread has exited. */
  readonly stop: () => Promise<void>
}

/**
 * Starts the checkpointing thread for the database at `path` (never for `:memory:`, which has no WAL).
 */
export const start = (
  db: DatabaseSync,
  path: string,
  options: { readonly everyMs?: number; readonly busyTimeoutMs: number }
): WalCheckpointer => {
  let stopping = false
  const restore = () => {
    if (db.isOpen) db.exec(`PRAGMA wal_autocheckpoint = ${autoCheckpointPages}`)
  }
  let worker: Worker
  try {
    worker = new Worker(source, {
      eval: true,
      workerData: { path, everyMs: options.everyMs ?? defaultEveryMs, busyTimeoutMs: options.busyTimeoutMs }
    })
  } catch {
    return { stop: () => Promise.resolve() }
  }
  db.exec("PRAGMA wal_autocheckpoint = 0")
  // a checkpointer that fails (or exits before it was told to) hands checkpointing back to the serving connection
  worker.on("error", restore)
  const exited = new Promise<void>((resolve) =>
    worker.on("exit", () => {
      if (!stopping) restore()
      resolve()
    })
  )
  worker.unref()
  return {
    stop: () => {
      if (!stopping) {
        stopping = true
        // held until it has exited (an unreferenced thread would let the process end first)
        worker.ref()
        worker.postMessage("stop")
      }
      return exited
    }
  }
}
