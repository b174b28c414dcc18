// Poison input and journal damage against the real `sentinel serve`: each input that once stopped the server for
// good (issue 6) is answered, survives a SIGKILL and a restart; records that a journal holds but that must not
// reach the windows (journaled by an older version, or damaged on disk) are quarantined to the dead letters with
// their file and byte offset while everything else accepted is processed; a bad checkpoint row is ignored.
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Journal from "../../packages/server/src/Journal.ts"
import { eventually, kill, killAll, metric, post, type Server, sleep, start, stop } from "./sentinel.ts"

afterAll(() => killAll())

const NOW = Date.now()
const DAY = 86_400_000
const ev = (t: number, extra: Record<string, unknown> = {}) => ({
  timestamp: t,
  service: "chat",
  model: "gpt-4o",
  latencyMs: 400 + (t % 97),
  ...extra
})
const ndjson = (events: ReadonlyArray<unknown>, nl = "\n") => events.map((e) => JSON.stringify(e)).join(nl) + nl

interface DeadLetter {
  readonly source: string | null
  readonly errors: ReadonlyArray<{ readonly path: string; readonly message: string }>
  readonly payload: string
}
const deadLetters = async (server: Server): Promise<Array<DeadLetter>> =>
  ((await (await fetch(`${server.url}/v1/dead-letters?limit=1000`)).json()) as { items: Array<DeadLetter> }).items

const healthMs = async (server: Server) => {
  const started = performance.now()
  const res = await fetch(`${server.url}/healthz`)
  assert.strictEqual(res.status, 200)
  return performance.now() - started
}

const tmp = (name: string) => fs.mkdtempSync(join(tmpdir(), `sentinel-${name}-`))
const flags = ["--window", "10 seconds", "--checkpoint-every", "1 hour"]

describe("poison input against the real server", () => {
  it("answers every poison input of the past, and restarts cleanly after SIGKILL", async () => {
    const dataDir = tmp("poison")
    try {
      const server = await start(dataDir, flags)
      let accepted = 0
      const expect = async (
        body: string | Uint8Array,
        type: string | undefined,
        status: number,
        check: (json: Record<string, unknown>) => void = () => {}
      ) => {
        const res = await post(server, body, type)
        assert.strictEqual(res.status, status, res.text.slice(0, 500))
        if (res.status === 202) accepted += (res.json as { accepted: number }).accepted
        check(res.json as Record<string, unknown>)
        assert.isBelow(await healthMs(server), 1000)
      }
      const firstError = (json: Record<string, unknown>) =>
        (json.rejected as Array<{ errors: Array<{ path: string; message: string }> }>)[0]!.errors[0]!
      // 1. a far-future timestamp, epoch seconds, a year's jump within one series
      await expect(JSON.stringify(ev(1e22)), "application/json", 202, (j) =>
        assert.strictEqual(firstError(j).path, "timestamp")
      )
      await expect(JSON.stringify(ev(Math.floor(NOW / 1000))), "application/json", 202, (j) =>
        assert.match(firstError(j).message, /epoch seconds/)
      )
      await expect(
        JSON.stringify([ev(NOW - 366 * DAY), ev(NOW - DAY), ev(NOW - 366 * DAY + 5)]),
        "application/json",
        202,
        (j) => assert.strictEqual(j.accepted, 3)
      )
      // 2. CRLF line endings
      await expect(ndjson([ev(NOW - 3000), ev(NOW - 2000), ev(NOW - 1000)], "\r\n"), "application/x-ndjson", 202, (j) =>
        assert.strictEqual(j.accepted, 3)
      )
      // 3. a 6 MiB array of {} (under the body limit): refused at the record limit, before decoding
      await expect(`[${Array.from({ length: 2_000_000 }, () => "{}").join(",")}]`, "application/json", 413)
      // 50,000 unknown keys: a short answer
      const wide = { ...ev(NOW - 500), ...Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, i])) }
      await expect(JSON.stringify(wide), "application/json", 202, (j) => {
        assert.isBelow(JSON.stringify(j).length, 5000)
      })
      // 5. nesting 10,000 deep beside a valid event: the valid event is accepted
      await expect(
        `[${JSON.stringify(ev(NOW - 400)).slice(0, -1)},"attributes":{"a":${"[".repeat(10_000)}${"]".repeat(10_000)}}},${JSON.stringify(ev(NOW - 300))}]`,
        "application/json",
        202,
        (j) => assert.strictEqual(j.accepted, 1)
      )
      // 6. what any web page can send
      await expect(JSON.stringify(ev(NOW - 200)), "text/plain", 415)
      // 8. prototype keys are kept, impossible dates refused
      await expect(
        '{"timestamp":' +
          (NOW - 100) +
          ',"service":"chat","model":"gpt-4o","latencyMs":5,"metrics":{"__proto__":1,"hasOwnProperty":2}}',
        "application/json",
        202,
        (j) => assert.strictEqual(j.accepted, 1)
      )
      await expect(JSON.stringify(ev(0, { timestamp: "2025-11-31T00:00:00Z" })), "application/json", 202, (j) =>
        assert.strictEqual(j.accepted, 0)
      )
      await eventually(
        "every accepted event decoded",
        async () => (await metric(server, "sentinel_events_decoded_total")) === accepted
      )
      assert.isAbove(await metric(server, "sentinel_windows_skipped_total"), 1000) // the year's jump was skipped
      await kill(server)
      const again = await start(dataDir, flags)
      // the journal replays what was accepted, and only that
      await eventually(
        "the replay decoded",
        async () => (await metric(again, "sentinel_events_decoded_total")) === accepted
      )
      assert.deepStrictEqual(await deadLetters(again), [])
      assert.isBelow(await healthMs(again), 1000)
      assert.strictEqual((await stop(again)).code, 0, again.output())
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)

  it("replays a journal holding poison records harmlessly: they are dead letters with file and offset", async () => {
    const dataDir = tmp("poison-journal")
    try {
      // as an older version would have journaled them: valid checksums, records that must not reach the windows
      const dir = join(dataDir, "journal")
      fs.mkdirSync(dir, { recursive: true })
      const lines = [
        [ev(NOW - 60_000), ev(NOW - 59_000)],
        [ev(1e22)],
        [ev(1_764_600_000)],
        [ev(NOW - 400 * DAY), ev(NOW - 58_000)],
        [ev(NOW - 57_000, { timestamp: "2025-11-31T10:00:00Z" })],
        "deep",
        [ev(NOW - 55_000)]
      ]
      // JSON.stringify cannot write 5,000 levels: that record is written as text
      const deep = `[${JSON.stringify(ev(NOW - 56_000)).slice(0, -1)},"attributes":{"deep":${"[".repeat(5000)}${"]".repeat(5000)}}}]`
      const file = join(dir, "0000000000000000.journal")
      const offsets: Array<number> = []
      for (let p = 0; p < lines.length; p++) {
        offsets.push(fs.existsSync(file) ? fs.statSync(file).size : 0)
        fs.appendFileSync(file, Journal.encodeLine(p, lines[p] === "deep" ? deep : JSON.stringify(lines[p])))
      }
      const server = await start(dataDir, flags)
      await eventually(
        "the replay decoded the valid records",
        async () => (await metric(server, "sentinel_events_decoded_total")) === 5
      )
      const dead = await deadLetters(server)
      const at = (p: number) => `journal 0000000000000000.journal at byte ${offsets[p]}`
      assert.sameMembers(
        dead.map((d) => `${d.source} ${d.errors[0]!.path}`),
        [at(1), at(2), at(4), at(5)].map((s, i) => `${s} ${i === 3 ? "attributes.deep" : "timestamp"}`)
      )
      assert.isBelow(await healthMs(server), 1000)
      assert.strictEqual(((await (await fetch(`${server.url}/readyz`)).json()) as { status: string }).status, "ready")
      assert.strictEqual((await stop(server)).code, 0, server.output())
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)

  it("is not ready while the journal replays, and ready once the replay has been processed", async () => {
    const dataDir = tmp("replay-ready")
    try {
      const dir = join(dataDir, "journal")
      fs.mkdirSync(dir, { recursive: true })
      const batch = (p: number) =>
        `[${Array.from({ length: 1000 }, (_, i) =>
          JSON.stringify(ev(NOW - 3_600_000 + (p * 1000 + i) * 10, { service: `s${i % 50}` }))
        ).join(",")}]`
      const lines: Array<Buffer> = []
      for (let p = 0; p < 300; p++) lines.push(Journal.encodeLine(p, batch(p)))
      fs.writeFileSync(join(dir, "0000000000000000.journal"), Buffer.concat(lines))
      const server = await start(dataDir, flags, { ready: false })
      const first = (await (await fetch(`${server.url}/readyz`)).json()) as { checks: Record<string, boolean> }
      assert.isFalse(first.checks.replay, "ready before the replay was processed")
      await eventually("ready", async () => (await fetch(`${server.url}/readyz`)).status === 200, 60_000)
      assert.strictEqual(await metric(server, "sentinel_events_decoded_total"), 300_000)
      assert.strictEqual((await stop(server)).code, 0, server.output())
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)

  it("starts despite garbage mid-segment, a torn tail, a missing segment and bad checkpoint rows, and loses nothing else", async () => {
    const dataDir = tmp("damage")
    try {
      // checkpoints every second, so detector states, window clocks and the position are in the store
      const segmentFlags = ["--window", "10 seconds", "--checkpoint-every", "1 second", "--journal-segment", "2000"]
      const server = await start(dataDir, segmentFlags)
      const perBatch = 4
      const batches = 40
      for (let b = 0; b < batches; b++) {
        const events = Array.from({ length: perBatch }, (_, i) => ev(NOW - 600_000 + (b * perBatch + i) * 1000))
        const res = await post(server, ndjson(events), "application/x-ndjson")
        assert.strictEqual(res.status, 202)
      }
      await eventually(
        "decoded",
        async () => (await metric(server, "sentinel_events_decoded_total")) === batches * perBatch
      )
      await sleep(2500) // a checkpoint after the last batch
      await kill(server)
      const dir = join(dataDir, "journal")
      const segments = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".journal"))
        .sort()
      assert.isAtLeast(segments.length, 4)
      const linesOf = (name: string) =>
        fs
          .readFileSync(join(dir, name), "utf8")
          .split("\n")
          .filter((l) => l.length > 0)
      // garbage in the middle of the first segment: one record
      const first = join(dir, segments[0]!)
      const bytes = fs.readFileSync(first)
      const second = bytes.indexOf(0x0a) + 1
      bytes.fill(0x23, second + 30, second + 40)
      fs.writeFileSync(first, bytes)
      // a missing segment
      const lost = linesOf(segments[2]!).length
      fs.rmSync(join(dir, segments[2]!))
      // a torn tail on the newest
      fs.appendFileSync(join(dir, segments.at(-1)!), Journal.encodeLine(999, "[{}]").subarray(0, 15))
      // bad checkpoint rows: the position (so the whole journal is replayed) and every detector/clock row
      const db = new DatabaseSync(join(dataDir, "sentinel.db"))
      db.exec("UPDATE checkpoints SET value = '{not json'")
      const rows = Number((db.prepare("SELECT count(*) AS n FROM checkpoints").get() as { n: number }).n)
      db.close()
      assert.isAbove(rows, 0)

      const again = await start(dataDir, segmentFlags)
      const expected = (batches - 1 - lost) * perBatch
      await eventually(
        "the replay decoded everything not damaged",
        async () => (await metric(again, "sentinel_events_decoded_total")) === expected
      )
      const dead = await deadLetters(again)
      const messages = dead.map((d) => `${d.source}: ${d.errors[0]!.message}`)
      assert.isTrue(
        messages.some((m) => m.includes(`journal ${segments[0]} at byte ${second}`) && m.includes("checksum mismatch")),
        messages.join("\n")
      )
      assert.isTrue(
        messages.some((m) => m.includes(`journal segment ${segments[2]} is missing`)),
        messages.join("\n")
      )
      const output = again.output()
      assert.match(output, /cut a torn write of 15 bytes at the end of/)
      assert.match(output, /checkpoint source\/position does not decode/)
      assert.match(output, /checkpoints that do not decode were ignored/)
      assert.isBelow(await healthMs(again), 1000)
      // new events after the damage are taken and processed as usual
      const res = await post(again, ndjson([ev(NOW - 1000)]), "application/x-ndjson")
      assert.strictEqual(res.status, 202)
      await eventually("decoded", async () => (await metric(again, "sentinel_events_decoded_total")) === expected + 1)
      assert.strictEqual((await stop(again)).code, 0, again.output())
      await sleep(50)
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})
