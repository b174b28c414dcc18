import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Event } from "@llm-sentinel/core"
import { Context, Effect, Layer, Stream } from "effect"
import * as Ingest from "../src/Ingest.ts"
import * as Journal from "../src/Journal.ts"

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "sentinel-journal-"))
const ev = (i: number): Event.TelemetryEvent => ({ timestamp: i, service: "chat", model: "m", latencyMs: i })
const withJournal = <A, E>(options: Journal.Options, f: (j: Journal.Journal["Service"]) => Effect.Effect<A, E>) =>
  Effect.scoped(Effect.flatMap(Layer.build(Journal.layer(options)), (ctx) => f(Context.get(ctx, Journal.Journal))))

describe("Journal", () => {
  it.effect("appends batches with increasing positions and replays them from a position", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const entries = yield* withJournal({ dir }, (j) =>
        Effect.gen(function* () {
          for (let i = 0; i < 5; i++) assert.strictEqual(yield* j.append([ev(i), ev(i + 100)]), i)
          return yield* Stream.runCollect(j.replay(2))
        })
      )
      assert.deepStrictEqual(
        entries.map((e) => [e.position, e.events.map((x) => x.latencyMs)]),
        [
          [2, [2, 102]],
          [3, [3, 103]],
          [4, [4, 104]]
        ]
      )
    })
  )

  it.effect("survives reopening, cuts a torn last line and continues the positions", () =>
    Effect.gen(function* () {
      const dir = tmp()
      yield* withJournal({ dir }, (j) => Effect.all([j.append([ev(1)]), j.append([ev(2)])]))
      // a crash in the middle of a write leaves half a line
      const [segment] = fs.readdirSync(dir)
      fs.appendFileSync(path.join(dir, segment!), '{"p":2,"e":[{"timest')
      const after = yield* withJournal({ dir }, (j) =>
        Effect.gen(function* () {
          assert.strictEqual(j.nextPosition(), 2)
          yield* j.append([ev(3)])
          return yield* Stream.runCollect(j.replay(0))
        })
      )
      assert.deepStrictEqual(
        after.map((e) => [e.position, e.events[0]!.latencyMs]),
        [
          [0, 1],
          [1, 2],
          [2, 3]
        ]
      )
    })
  )

  it.effect("rolls segments and deletes the ones wholly before a position", () =>
    Effect.gen(function* () {
      const dir = tmp()
      yield* withJournal({ dir, maxSegmentBytes: 200 }, (j) =>
        Effect.gen(function* () {
          for (let i = 0; i < 20; i++) yield* j.append([ev(i)])
          const before = j.stats().segments
          assert.isAbove(before, 3)
          const deleted = yield* j.truncateBefore(15)
          assert.isAbove(deleted, 0)
          const replayed = yield* Stream.runCollect(j.replay(15))
          assert.deepStrictEqual(
            replayed.map((e) => e.position),
            [15, 16, 17, 18, 19]
          )
          const all = yield* Stream.runCollect(j.replay(0))
          assert.isAtMost(all[0]!.position, 15) // what is left still starts at or before 15
          assert.strictEqual(all.at(-1)!.position, 19)
        })
      )
    })
  )

  it.effect("refuses a second owner while the first is alive, and takes over a dead owner's lock", () =>
    Effect.gen(function* () {
      const dir = tmp()
      // a live owner: this very process holds the journal, and a second layer in it must fail
      fs.writeFileSync(path.join(dir, "LOCK"), String(process.ppid))
      const refused = yield* Effect.flip(withJournal({ dir }, () => Effect.void))
      assert.match(refused.message, /in use by process/)
      // a dead owner (a pid that cannot exist): taken over, and released when the layer closes
      fs.writeFileSync(path.join(dir, "LOCK"), "2147483646")
      yield* withJournal({ dir }, (j) => j.append([ev(1)]))
      assert.isFalse(fs.existsSync(path.join(dir, "LOCK")))
    })
  )

  it.effect("journals an NDJSON request's accepted lines as sent, and replays them as raw records to decode", () =>
    Effect.gen(function* () {
      const body = [
        JSON.stringify({ timestamp: "2026-11-26T10:00:00Z", service: "chat", model: "m", latencyMs: 5 }),
        JSON.stringify({ timestamp: 1, service: "chat", model: "m", latencyMs: -1 }), // rejected
        "{ not json",
        JSON.stringify({ timestamp: 2, service: "chat", model: "m", latencyMs: 7, attributes: { region: "eu" } })
      ].join("\n")
      const parser = Ingest.ndjsonParser()
      parser.push(new TextEncoder().encode(body))
      const parsed = parser.end()
      assert.ok(typeof parsed !== "string")
      if (typeof parsed === "string") return
      const { events, rejected, encoded } = Ingest.decode(parsed)
      assert.deepStrictEqual(
        rejected.map((r) => r.index),
        [1, 2]
      )
      assert.isString(encoded)
      const dir = tmp()
      const [entry] = yield* withJournal({ dir }, (j) =>
        Effect.gen(function* () {
          yield* j.append(events, encoded)
          return yield* Stream.runCollect(j.replay(0))
        })
      )
      assert.deepStrictEqual(entry!.events, [])
      // decoding the journaled records gives exactly the events the request accepted
      assert.deepStrictEqual(Event.decodeBatch(entry!.raw).events, events)
    })
  )
})
