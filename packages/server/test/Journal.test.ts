import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Event, EventSource, StateStore } from "@llm-sentinel/core"
import { Context, Effect, Layer, Stream } from "effect"
import * as Ingest from "../src/Ingest.ts"
import * as Journal from "../src/Journal.ts"

// A child of a shell that `exec`s into `sleep`: it exits at once and nobody reaps it, so it stays a zombie.
const makeZombie = async (): Promise<{ readonly pid: number; readonly release: () => void }> => {
  const parent = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] })
  const pid = await new Promise<number>((resolve) =>
    parent.stdout!.once("data", (d) => resolve(Number(String(d).trim())))
  )
  for (let i = 0; i < 100; i++) {
    if (fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z")) break
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.match(fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!, /^Z/)
  return { pid, release: () => parent.kill("SIGKILL") }
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "sentinel-journal-"))
const ev = (i: number): Event.TelemetryEvent => ({ timestamp: i, service: "chat", model: "m", latencyMs: i })
const withJournal = <A, E>(options: Journal.Options, f: (j: Journal.Journal["Service"]) => Effect.Effect<A, E>) =>
  Effect.scoped(Effect.flatMap(Layer.build(Journal.layer(options)), (ctx) => f(Context.get(ctx, Journal.Journal))))

const entries = (items: ReadonlyArray<Journal.Entry | Journal.Damage>) =>
  items.filter((e): e is Journal.Entry => e._tag === "Entry")
const damages = (items: ReadonlyArray<Journal.Entry | Journal.Damage>) =>
  items.filter((e): e is Journal.Damage => e._tag === "Damage")
const latencies = (e: Journal.Entry) => (e.records as ReadonlyArray<{ latencyMs: number }>).map((r) => r.latencyMs)
const segmentFile = (dir: string, first = 0) => path.join(dir, `${String(first).padStart(16, "0")}.journal`)

describe("Journal", () => {
  it.effect("appends batches with increasing positions and replays them from a position", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const items = yield* withJournal({ dir }, (j) =>
        Effect.gen(function* () {
          for (let i = 0; i < 5; i++) assert.strictEqual(yield* j.append([ev(i), ev(i + 100)]), i)
          return yield* Stream.runCollect(j.replay(2))
        })
      )
      assert.deepStrictEqual(damages(items), [])
      assert.deepStrictEqual(
        entries(items).map((e) => [e.position, latencies(e)]),
        [
          [2, [2, 102]],
          [3, [3, 103]],
          [4, [4, 104]]
        ]
      )
      assert.match(entries(items)[0]!.origin, /^journal 0000000000000000\.journal at byte \d+$/)
    })
  )

  it.effect("cuts a torn last write (no newline) on reopening, logs it, and continues the positions", () =>
    Effect.gen(function* () {
      const dir = tmp()
      yield* withJournal({ dir }, (j) => Effect.all([j.append([ev(1)]), j.append([ev(2)])]))
      const file = segmentFile(dir)
      const complete = fs.statSync(file).size
      fs.appendFileSync(file, Journal.encodeLine(2, JSON.stringify([ev(99)])).subarray(0, 20))
      const after = yield* withJournal({ dir }, (j) =>
        Effect.gen(function* () {
          assert.strictEqual(j.nextPosition(), 2)
          assert.strictEqual(fs.statSync(file).size, complete)
          yield* j.append([ev(3)])
          return yield* Stream.runCollect(j.replay(0))
        })
      )
      assert.deepStrictEqual(damages(after), [])
      assert.deepStrictEqual(
        entries(after).map((e) => [e.position, latencies(e)[0]]),
        [
          [0, 1],
          [1, 2],
          [2, 3]
        ]
      )
    })
  )

  it.effect("quarantines a bad byte mid-segment with its file and offset, and replays everything else", () =>
    Effect.gen(function* () {
      const dir = tmp()
      yield* withJournal({ dir }, (j) => Effect.forEach([0, 1, 2, 3, 4], (i) => j.append([ev(i)])))
      const file = segmentFile(dir)
      const bytes = fs.readFileSync(file)
      const second = bytes.indexOf(0x0a) + 1 // the line of position 1 starts here
      bytes[second + 40] = bytes[second + 40] === 0x37 ? 0x38 : 0x37 // flip one digit inside its JSON
      fs.writeFileSync(file, bytes)
      const items = yield* withJournal({ dir }, (j) =>
        Effect.gen(function* () {
          assert.strictEqual(j.nextPosition(), 5) // nothing is reused
          return yield* Stream.runCollect(j.replay(0))
        })
      )
      assert.deepStrictEqual(
        entries(items).map((e) => e.position),
        [0, 2, 3, 4]
      )
      const [bad, gap] = damages(items)
      assert.strictEqual(bad!.message, `0000000000000000.journal at byte ${second}: checksum mismatch`)
      assert.strictEqual(bad!.origin, `journal 0000000000000000.journal at byte ${second}`)
      assert.match(bad!.preview, /^1 [0-9a-f]{8} \[/)
      assert.match(gap!.message, /the batch at position 1 is missing/)
      const dead = Journal.deadLetterOf(bad!)
      assert.strictEqual(dead.source, bad!.origin)
      assert.match(dead.errors[0]!.message, /quarantined from the journal/)
    })
  )

  it.effect("a complete but corrupt last line is quarantined, not cut, and its position is not reused", () =>
    Effect.gen(function* () {
      const dir = tmp()
      yield* withJournal({ dir }, (j) => Effect.all([j.append([ev(1)]), j.append([ev(2)])]))
      fs.appendFileSync(segmentFile(dir), "2 00000000 [garbage]\n")
      const items = yield* withJournal({ dir }, (j) =>
        Effect.gen(function* () {
          assert.strictEqual(j.nextPosition(), 3)
          assert.strictEqual(yield* j.append([ev(4)]), 3)
          return yield* Stream.runCollect(j.replay(0))
        })
      )
      assert.deepStrictEqual(
        entries(items).map((e) => e.position),
        [0, 1, 3]
      )
      assert.match(damages(items)[0]!.message, /checksum mismatch/)
    })
  )

  it.effect("quarantines a line that is not a record, and a position that does not increase", () =>
    Effect.gen(function* () {
      const dir = tmp()
      yield* withJournal({ dir }, (j) => Effect.all([j.append([ev(0)]), j.append([ev(1)])]))
      const file = segmentFile(dir)
      fs.appendFileSync(file, "\u0000\u0001 random bytes \r\n")
      fs.appendFileSync(file, Journal.encodeLine(1, JSON.stringify([ev(11)])))
      fs.appendFileSync(file, Journal.encodeLine(2, JSON.stringify([ev(2)])))
      const items = yield* withJournal({ dir }, (j) => Stream.runCollect(j.replay(0)))
      assert.deepStrictEqual(
        entries(items).map((e) => [e.position, latencies(e)[0]]),
        [
          [0, 0],
          [1, 1],
          [2, 2]
        ]
      )
      const [junk, repeated] = damages(items)
      assert.match(junk!.message, /not a journal record/)
      assert.match(repeated!.message, /position 1 does not increase \(the record before had 1\)/)
    })
  )

  it.effect("names a missing segment, and a checkpoint position before the first segment", () =>
    Effect.gen(function* () {
      const dir = tmp()
      yield* withJournal({ dir, maxSegmentBytes: 120 }, (j) =>
        Effect.forEach([0, 1, 2, 3, 4, 5, 6, 7], (i) => j.append([ev(i)]))
      )
      const segments = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".journal"))
        .sort()
      assert.isAtLeast(segments.length, 3)
      fs.rmSync(path.join(dir, segments[1]!))
      const missingFirst = Number(segments[1]!.slice(0, 16))
      const nextFirst = Number(segments[2]!.slice(0, 16))
      const items = yield* withJournal({ dir, maxSegmentBytes: 120 }, (j) => Stream.runCollect(j.replay(0)))
      const [missing] = damages(items)
      assert.strictEqual(
        missing!.message,
        `journal segment ${segments[1]} is missing: the batches at positions ${missingFirst}–${nextFirst - 1} cannot be replayed`
      )
      assert.deepStrictEqual(
        entries(items).map((e) => e.position),
        [0, 1, 2, 3, 4, 5, 6, 7].filter((p) => p < missingFirst || p >= nextFirst)
      )
      // a checkpoint that points before what is left
      fs.rmSync(path.join(dir, segments[0]!))
      const from0 = yield* withJournal({ dir, maxSegmentBytes: 120 }, (j) => Stream.runCollect(j.replay(0)))
      assert.match(
        damages(from0)[0]!.message,
        /journal segment 0000000000000000\.journal is missing: the batches at positions 0–/
      )
    })
  )

  it.effect("a checkpoint past the end of the journal is reported, and new positions stay above it", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const items = yield* withJournal({ dir }, (j) =>
        Effect.gen(function* () {
          yield* j.append([ev(0)])
          const out = yield* Stream.runCollect(j.replay(40))
          assert.strictEqual(yield* j.append([ev(1)]), 40)
          return out
        })
      )
      assert.match(damages(items)[0]!.message, /replay position 40 is past the end of the journal \(1\)/)
    })
  )

  it.effect("refuses appends past its disk budget with reason Full, and frees space as segments are deleted", () =>
    Effect.gen(function* () {
      const dir = tmp()
      yield* withJournal({ dir, maxSegmentBytes: 200, maxBytes: 1000 }, (j) =>
        Effect.gen(function* () {
          let appended = 0
          for (let i = 0; i < 100; i++) {
            const r = yield* Effect.result(j.append([ev(i)]))
            if (r._tag === "Failure") {
              assert.strictEqual(r.failure.reason, "Full")
              assert.match(r.failure.message, /the journal is full/)
              break
            }
            appended++
          }
          assert.isBelow(appended, 20)
          assert.isAtMost(j.stats().bytes, 1000)
          yield* j.truncateBefore(appended)
          assert.isBelow(j.stats().bytes, 1000 - 150)
          yield* j.append([ev(1000)])
        })
      )
    })
  )

  it.effect("refuses a second owner while the first is alive, and takes over a dead or zombie owner's lock", () =>
    Effect.gen(function* () {
      const dir = tmp()
      // a live owner: the parent of this process, so a second layer here must fail
      fs.writeFileSync(path.join(dir, "LOCK"), String(process.ppid))
      const refused = yield* Effect.flip(withJournal({ dir }, () => Effect.void))
      assert.match(refused.message, /in use by process/)
      // a dead owner (a pid that cannot exist): taken over, and released when the layer closes
      fs.writeFileSync(path.join(dir, "LOCK"), "2147483646")
      yield* withJournal({ dir }, (j) => j.append([ev(1)]))
      assert.isFalse(fs.existsSync(path.join(dir, "LOCK")))
      // a live pid whose start time differs (the pid was reused by another process): taken over
      fs.writeFileSync(path.join(dir, "LOCK"), `${process.ppid} 1`)
      yield* withJournal({ dir }, (j) => j.append([ev(2)]))
      // a zombie (dead, not yet reaped by its parent, as right after kill -9): taken over
      const zombie = yield* Effect.promise(makeZombie)
      fs.writeFileSync(path.join(dir, "LOCK"), String(zombie.pid))
      yield* withJournal({ dir }, (j) => j.append([ev(3)]))
      zombie.release()
    })
  )

  it.effect("journals an NDJSON request's accepted lines as sent (CRLF normalised), and replays them to decode", () =>
    Effect.gen(function* () {
      const body = [
        JSON.stringify({ timestamp: "2026-11-26T10:00:00Z", service: "chat", model: "m", latencyMs: 5 }),
        JSON.stringify({ timestamp: 1, service: "chat", model: "m", latencyMs: -1 }), // rejected
        "{ not json",
        JSON.stringify({ timestamp: 2, service: "chat", model: "m", latencyMs: 7, attributes: { region: "eu" } })
      ].join("\r\n")
      const parser = Ingest.ndjsonParser()
      parser.push(new TextEncoder().encode(body))
      const parsed = parser.end()
      assert.ok(typeof parsed !== "string")
      if (typeof parsed === "string") return
      const { events, rejected, encoded } = yield* Ingest.decode(parsed)
      assert.deepStrictEqual(
        rejected.map((r) => r.index),
        [1, 2]
      )
      assert.isString(encoded)
      assert.notInclude(encoded!, "\r")
      const dir = tmp()
      const [entry] = entries(
        yield* withJournal({ dir }, (j) =>
          Effect.gen(function* () {
            yield* j.append(events, encoded)
            return yield* Stream.runCollect(j.replay(0))
          })
        )
      )
      // decoding the journaled records gives exactly the events the request accepted
      assert.deepStrictEqual(Event.decodeBatch(entry!.records).events, events)
    })
  )

  it.effect(
    "group commit: tryOffers of one event-loop turn are one journal record and one queued batch, in order",
    () =>
      Effect.gen(function* () {
        const dir = tmp()
        const acked: Array<number> = []
        const layer = Journal.layerSource({ capacity: 4 }).pipe(
          Layer.provideMerge(Journal.layer({ dir })),
          Layer.provide(StateStore.layerMemory)
        )
        const { batch, items } = yield* Effect.scoped(
          Effect.gen(function* () {
            const ctx = yield* Layer.build(layer)
            const queue = Context.get(ctx, EventSource.EventQueue)
            const texts = [
              JSON.stringify([ev(1), ev(2)]),
              undefined, // serialized by the journal
              JSON.stringify([ev(4)])
            ]
            const offered = yield* Effect.all(
              [[ev(1), ev(2)], [ev(3)], [ev(4)]].map((events, i) =>
                queue.tryOffer({
                  raw: [],
                  events,
                  ack: Effect.sync(() => void acked.push(i)),
                  ...(texts[i] === undefined ? {} : { encoded: texts[i] })
                })
              ),
              { concurrency: "unbounded" }
            )
            assert.deepStrictEqual(offered, [true, true, true])
            const source = Context.get(ctx, EventSource.EventSource)
            // the journal's replay (started now, so it holds the group too) and its end marker come first
            const [batch] = yield* Stream.runCollect(
              source.batches.pipe(
                Stream.filter((b) => b.events.length > 0),
                Stream.take(1)
              )
            )
            yield* batch!.ack
            const journal = Context.get(ctx, Journal.Journal)
            return { batch: batch!, items: yield* Stream.runCollect(journal.replay(0)) }
          })
        )
        assert.deepStrictEqual(
          batch.events.map((e) => e.latencyMs),
          [1, 2, 3, 4]
        )
        assert.deepStrictEqual(acked, [0, 1, 2])
        assert.deepStrictEqual(
          entries(items).map((e) => [e.position, latencies(e)]),
          [[0, [1, 2, 3, 4]]]
        )
        assert.deepStrictEqual(Event.decodeBatch(entries(items)[0]!.records).events, batch.events)
      })
  )
})
