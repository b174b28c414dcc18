// The embedded store's checkpoint writer thread (internal): writes in order and answers after its commit, and a
// thread that fails says so (the store then writes on its own connection).
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { assert, describe, it } from "@effect/vitest"
import * as StateWriter from "../src/internal/stateWriter.ts"

const withDir = async (f: (dir: string) => Promise<void>) => {
  const dir = mkdtempSync(join(tmpdir(), "sentinel-writer-"))
  try {
    await f(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe("StateWriter", () => {
  it("writes in the order sent, each answered once committed, and stops after what was sent", () =>
    withDir(async (dir) => {
      const path = join(dir, "s.db")
      const db = new DatabaseSync(path)
      db.exec("PRAGMA journal_mode = WAL")
      db.exec("CREATE TABLE checkpoints (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at DOUBLE PRECISION)")
      const writer = StateWriter.start(path, { busyTimeoutMs: 5000 })
      assert.ok(writer !== undefined)
      // 2 MiB: several of the thread's transactions
      const big = Array.from({ length: 2000 }, (_, i) => [`k/${i}`, "v".repeat(1000)] as const)
      const writes = [
        writer.setMany(big, 1),
        writer.setMany([["k/1", "second"]], 2),
        writer.delete("k/2"),
        writer.setMany([["k/3", "last"]], 3)
      ]
      await Promise.all(writes)
      const value = (k: string) => db.prepare("SELECT value FROM checkpoints WHERE key = ?").get(k)?.value
      assert.strictEqual(value("k/1"), "second")
      assert.strictEqual(value("k/2"), undefined)
      assert.strictEqual(value("k/3"), "last")
      assert.strictEqual(db.prepare("SELECT count(*) AS n FROM checkpoints").get()?.n, 1999)
      assert.isFalse(writer.failed())
      const pending = writer.setMany([["k/4", "before stop"]], 4)
      await writer.stop()
      await pending
      assert.strictEqual(value("k/4"), "before stop")
      let refused: unknown
      await writer.setMany([["k/5", "after stop"]], 5).catch((e) => (refused = e))
      assert.instanceOf(refused, Error)
      db.close()
    }))

  it("a statement that fails is that write's error; a thread that cannot work fails every write and says so", () =>
    withDir(async (dir) => {
      const path = join(dir, "s.db")
      const db = new DatabaseSync(path)
      db.exec("CREATE TABLE checkpoints (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at DOUBLE PRECISION)")
      const writer = StateWriter.start(path, { busyTimeoutMs: 5000 })!
      let failed: unknown
      await writer.setMany([["k", null as unknown as string]], 1).catch((e) => (failed = e))
      assert.match(String(failed), /NOT NULL/)
      assert.isFalse(writer.failed())
      await writer.setMany([["k", "ok"]], 2)
      await writer.stop()
      db.close()
      // no checkpoints table: the thread's statements cannot be prepared, it exits, and every write fails
      const bare = join(dir, "bare.db")
      new DatabaseSync(bare).close()
      const broken = StateWriter.start(bare, { busyTimeoutMs: 5000 })!
      let error: unknown
      await broken.setMany([["k", "v"]], 1).catch((e) => (error = e))
      assert.instanceOf(error, Error)
      assert.isTrue(broken.failed())
      await broken.stop()
    }))
})
