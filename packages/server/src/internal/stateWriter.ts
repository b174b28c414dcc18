/**
 * Writes the embedded store's checkpoints on a worker thread with its own connection to the same file.
 *
 * A checkpoint at 100k series is ~500k upserts. On the event loop, sliced into transactions of ~2 ms, most commits
 * took under a millisecond, but about one in fifty took 8–36 ms (`npm run bench:checkpoint` with every commit
 * timed): the commit's write of the WAL waits in the kernel while the WAL checkpointer's fsync of the same files
 * runs (with that checkpointer's syncing turned off, as an experiment, the slow commits all but went). SQLite's
 * write is synchronous, so the wait was an event-loop stall. Here the writes run in the thread: the serving
 * thread only hands over the entries and waits for the answer without blocking.
 *
 * Order is kept: the thread runs the writes one after another in the order they were sent, and answers each after
 * its last commit, so a checkpoint's prefix-is-safe order (its position last) holds as before. Reads stay on the
 * serving connection (WAL readers see every committed write). If the thread cannot start, fails or exits, the
 * pending writes fail with the reason and `failed()` turns true: the store then writes on its own connection
 * again. The worker's source is plain JavaScript evaluated in the thread (no file to resolve in the published
 * package).
 *
 * @internal
 */
import { Worker } from "node:worker_threads"
import { deleteCheckpointSql, upsertCheckpointSql } from "./sqlite.ts"

// SQLite's auto-checkpoint stays on for this connection: should the WAL checkpointer's thread die, a commit here
// (off the event loop) still keeps the WAL bounded.
// One transaction per ~512 KiB of keys and values (~3 ms of upserts): the write lock it holds makes the serving
// connection's own writes (anomalies, dead letters) wait, on the event loop, so it is held briefly
const source = `
const { workerData, parentPort } = require("node:worker_threads")
const { DatabaseSync } = require("node:sqlite")
const db = new DatabaseSync(workerData.path, { timeout: workerData.busyTimeoutMs })
db.exec("PRAGMA synchronous = NORMAL")
const upsert = db.prepare(workerData.upsertSql)
const del = db.prepare(workerData.deleteSql)
const limit = 512 * 1024
const setMany = (entries, now) => {
  let next = 0
  while (next < entries.length) {
    db.exec("BEGIN")
    try {
      let bytes = 0
      for (; next < entries.length && bytes < limit; next++) {
        const e = entries[next]
        upsert.run(e[0], e[1], now)
        bytes += e[0].length + e[1].length
      }
      db.exec("COMMIT")
    } catch (e) {
      if (db.isTransaction) db.exec("ROLLBACK")
      throw e
    }
  }
}
parentPort.on("message", (m) => {
  if (m.op === "stop") {
    db.close()
    parentPort.close()
    return
  }
  try {
    if (m.op === "set") setMany(m.entries, m.now)
    else del.run(m.key)
    parentPort.postMessage({ id: m.id })
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) })
  }
})
`

export interface StateWriter {
  /** Upserts the entries (in order, committed before it resolves). Rejects with the reason if the thread failed. */
  readonly setMany: (entries: ReadonlyArray<readonly [string, string]>, now: number) => Promise<void>
  readonly delete: (key: string) => Promise<void>
  /** True once the thread failed or exited: its writes fail, and the store should write on its own connection. */
  readonly failed: () => boolean
  /** Lets the writes sent so far finish, then stops the thread; resolves when it has exited. */
  readonly stop: () => Promise<void>
}

interface Pending {
  readonly resolve: () => void
  readonly reject: (e: Error) => void
}

export const start = (path: string, options: { readonly busyTimeoutMs: number }): StateWriter | undefined => {
  let worker: Worker
  try {
    worker = new Worker(source, {
      eval: true,
      // the statements are the serving connection's own (one definition, in sqlite.ts)
      workerData: {
        path,
        busyTimeoutMs: options.busyTimeoutMs,
        upsertSql: upsertCheckpointSql,
        deleteSql: deleteCheckpointSql
      }
    })
  } catch {
    return undefined
  }
  const pending = new Map<number, Pending>()
  let nextId = 0
  let failure: Error | undefined
  let stopping = false
  const fail = (e: Error) => {
    if (failure === undefined) failure = e
    for (const p of pending.values()) p.reject(failure)
    pending.clear()
  }
  worker.on("message", (m: { readonly id: number; readonly error?: string }) => {
    const p = pending.get(m.id)
    if (p === undefined) return
    pending.delete(m.id)
    if (m.error === undefined) p.resolve()
    else p.reject(new Error(m.error))
  })
  worker.on("error", (e) => fail(e instanceof Error ? e : new Error(String(e))))
  const exited = new Promise<void>((resolve) =>
    worker.on("exit", (code) => {
      fail(new Error(`the checkpoint writer thread exited (code ${code})`))
      resolve()
    })
  )
  // only while writes are pending does the thread keep the process alive
  worker.unref()
  const send = (message: Record<string, unknown>): Promise<void> => {
    if (failure !== undefined) return Promise.reject(failure)
    if (stopping) return Promise.reject(new Error("the checkpoint writer thread is stopping"))
    const id = nextId++
    return new Promise<void>((resolve, reject) => {
      pending.set(id, {
        resolve: () => {
          if (pending.size === 0) worker.unref()
          resolve()
        },
        reject
      })
      worker.ref()
      worker.postMessage({ ...message, id })
    })
  }
  return {
    setMany: (entries, now) => send({ op: "set", entries, now }),
    delete: (key) => send({ op: "delete", key }),
    failed: () => failure !== undefined,
    stop: () => {
      if (!stopping && failure === undefined) {
        stopping = true
        worker.ref()
        // after every write already sent (the thread answers messages in order)
        worker.postMessage({ op: "stop" })
      }
      return exited
    }
  }
}
