// Fuzzing the real `sentinel serve` over HTTP: 20,000 generated requests (SENTINEL_FUZZ_REQUESTS) from the request
// families an attacker or an unlucky client produces — random bytes, truncated JSON, deep nesting, huge and
// non-finite numbers, long strings, many keys, invalid UTF-8, wrong content types, CRLF and blank lines, prototype
// keys, large arrays of tiny records, implausible and jumping timestamps, cross-origin and rebinding headers —
// mixed with valid events. Every response must be below 500 and arrive within a bound; where the request's valid
// events are known, exactly those are accepted; the server's RSS stays bounded; every accepted event reaches the
// pipeline; and after a SIGKILL the server restarts from its data directory (replaying its journal) and answers.
//
// The requests come from fast-check with a fixed seed (SENTINEL_FUZZ_SEED overrides it); a failure prints the seed,
// the request number and its family.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { eventually, kill, killAll, metric, post, rss, type Server, sleep, start, stop } from "./sentinel.ts"

const SEED = Number(process.env.SENTINEL_FUZZ_SEED ?? 20261201)
const REQUESTS = Number(process.env.SENTINEL_FUZZ_REQUESTS ?? 20_000)
const CONCURRENCY = 8
const MAX_RECORDS = 10_000
/** No single response may take longer (the machine is shared with the load generator and other suites). */
const RESPONSE_BOUND_MS = 10_000
const RSS_BOUND = 1024 * 1024 * 1024

const NOW = Date.now()
const DAY = 86_400_000

interface Request {
  readonly family: string
  readonly body: string | Uint8Array
  /** undefined: no Content-Type header at all (the body is then sent as bytes). */
  readonly contentType: string | undefined
  readonly headers?: Record<string, string>
  /** The statuses this request may get. */
  readonly statuses: ReadonlyArray<number>
  /** When known: how many events a 202 must accept. */
  readonly accepted?: number
}

const services = ["chat", "search", "agent", "rag"]
const validEvent = fc.record(
  {
    timestamp: fc.oneof(
      fc.integer({ min: NOW - 7 * DAY, max: NOW - 60_000 }),
      fc.integer({ min: NOW - 7 * DAY, max: NOW - 60_000 }).map((t) => new Date(t).toISOString())
    ),
    service: fc.constantFrom(...services),
    model: fc.constantFrom("gpt-4o", "claude", "llama"),
    latencyMs: fc.double({ min: 0, max: 1e5, noNaN: true, noDefaultInfinity: true }),
    outputTokens: fc.nat({ max: 10_000 }),
    status: fc.constantFrom("ok", "error"),
    attributes: fc.dictionary(
      fc.constantFrom("region", "tier", "__proto__", "constructor"),
      fc.string({ maxLength: 8 }),
      {
        maxKeys: 2
      }
    ),
    metrics: fc.dictionary(fc.constantFrom("quality", "retries", "hasOwnProperty", "__proto__"), fc.nat({ max: 5 }), {
      maxKeys: 2
    })
  },
  { requiredKeys: ["timestamp", "service", "model", "latencyMs"] }
)

const deep = (depth: number, open = "[", close = "]") => `${open.repeat(depth)}${close.repeat(depth)}`

/** Records that are never valid events, each as JSON text. */
const invalidRecord: fc.Arbitrary<string> = fc.oneof(
  fc.constant("{}"),
  fc.constant("1"),
  fc.constant("null"),
  fc.constant('"event"'),
  validEvent.map((e) => JSON.stringify({ ...e, latencyMs: -1 })),
  validEvent.map((e) => JSON.stringify({ ...e, timestamp: 1e22 })),
  validEvent.map((e) => JSON.stringify({ ...e, timestamp: Math.floor(NOW / 1000) })), // epoch seconds
  validEvent.map((e) => JSON.stringify({ ...e, timestamp: NOW + 365 * DAY })),
  validEvent.map((e) => JSON.stringify({ ...e, timestamp: "2025-11-31T00:00:00Z" })),
  validEvent.map((e) => JSON.stringify({ ...e, latency_ms: 5 })),
  validEvent.map((e) => JSON.stringify(e).replace('"latencyMs":', '"latencyMs":1e400,"x":')), // Infinity
  validEvent.map((e) => `{"__proto__":{"polluted":1},${JSON.stringify(e).slice(1)}`),
  fc
    .integer({ min: 1000, max: 200_000 })
    .map((n) => JSON.stringify({ timestamp: NOW - DAY, service: "x".repeat(n), model: "m", latencyMs: 1 })),
  fc.integer({ min: 65, max: 20_000 }).map((n) =>
    JSON.stringify({
      timestamp: NOW - DAY,
      service: "s",
      model: "m",
      latencyMs: 1,
      ...Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))
    })
  ),
  fc.integer({ min: 100, max: 60_000 }).map((d) => deep(d)),
  fc
    .integer({ min: 100, max: 60_000 })
    .map(
      (d) =>
        `{"timestamp":${NOW - DAY},"service":"s","model":"m","latencyMs":1,"attributes":{"a":${deep(d, '{"a":', "}").replace(/\{"a":\}/g, '{"a":1}')}}}`
    ),
  fc
    .integer({ min: 100, max: 30_000 })
    .map((d) => `{"timestamp":${NOW - DAY},"service":${deep(d)},"model":"m","latencyMs":1}`)
)

const json = (r: ReadonlyArray<string>) => `[${r.join(",")}]`

/** Valid events and poison records mixed, each marked with whether it is valid. */
const mixed = fc.array(
  fc.oneof(
    validEvent.map((e) => ({ ok: true, text: JSON.stringify(e) })),
    invalidRecord.map((text) => ({ ok: false, text }))
  ),
  { minLength: 1, maxLength: 20 }
)

const families: fc.Arbitrary<Request> = fc.oneof(
  // valid NDJSON, LF or CRLF, with blank lines
  fc
    .record({ events: fc.array(validEvent, { minLength: 1, maxLength: 50 }), crlf: fc.boolean(), blank: fc.boolean() })
    .map(({ events, crlf, blank }) => {
      const nl = crlf ? "\r\n" : "\n"
      const lines = events.map((e) => JSON.stringify(e))
      return {
        family: "valid ndjson",
        body: lines.join(blank ? `${nl}${nl}` : nl) + nl,
        contentType: "application/x-ndjson",
        statuses: [202],
        accepted: events.length
      }
    }),
  // a JSON array mixing valid events and poison records: exactly the valid ones are accepted
  mixed.map((records) => ({
    family: "mixed batch",
    body: json(records.map((r) => r.text)),
    contentType: "application/json",
    statuses: [202],
    accepted: records.filter((r) => r.ok).length
  })),
  // the same as NDJSON (a line per record)
  mixed.map((records) => ({
    family: "mixed ndjson",
    body: records.map((r) => r.text).join("\n"),
    contentType: "application/x-ndjson",
    statuses: [202],
    accepted: records.filter((r) => r.ok).length
  })),
  // random bytes, as JSON or NDJSON
  fc.record({ bytes: fc.uint8Array({ maxLength: 4096 }), ndjson: fc.boolean() }).map(({ bytes, ndjson }) => ({
    family: "random bytes",
    body: bytes,
    contentType: ndjson ? "application/x-ndjson" : "application/json",
    statuses: [202, 400]
  })),
  // a valid batch cut anywhere
  fc
    .record({
      events: fc.array(validEvent, { minLength: 1, maxLength: 10 }),
      cut: fc.double({ min: 0, max: 1, noNaN: true }),
      ndjson: fc.boolean()
    })
    .map(({ events, cut, ndjson }) => {
      const text = ndjson ? events.map((e) => JSON.stringify(e)).join("\n") : JSON.stringify(events)
      return {
        family: "truncated",
        body: text.slice(0, Math.floor(text.length * cut)),
        contentType: ndjson ? "application/x-ndjson" : "application/json",
        statuses: [202, 400]
      }
    }),
  // invalid UTF-8 inside strings of otherwise valid events
  fc.record({ event: validEvent, junk: fc.uint8Array({ minLength: 1, maxLength: 8 }) }).map(({ event, junk }) => {
    const text = Buffer.from(JSON.stringify({ ...event, service: "chat" }))
    const at = text.indexOf('"chat"') + 3
    const bytes = Buffer.concat([text.subarray(0, at), Buffer.from(junk.map((b) => b | 0x80)), text.subarray(at)])
    return {
      family: "invalid utf-8",
      body: new Uint8Array(bytes),
      contentType: "application/json",
      statuses: [202, 400]
    }
  }),
  // content types a web page can send without asking, or none
  fc
    .record({
      event: validEvent,
      type: fc.constantFrom(
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        undefined
      )
    })
    .map(({ event, type }) => ({
      family: "wrong content type",
      body: new TextEncoder().encode(JSON.stringify(event)),
      contentType: type,
      statuses: [415]
    })),
  // large arrays of tiny records, around the record limit
  fc
    .record({ n: fc.integer({ min: 1, max: MAX_RECORDS + 2000 }), item: fc.constantFrom("{}", "1", "[]", '""') })
    .map(({ n, item }) => ({
      family: "many tiny records",
      body: `[${Array.from({ length: n }, () => item).join(",")}]`,
      contentType: "application/json",
      statuses: n > MAX_RECORDS ? [413] : [202],
      accepted: 0
    })),
  // one series jumping around in (plausible) time: far back, now, back again
  fc.array(fc.integer({ min: Date.UTC(2000, 0, 2), max: NOW }), { minLength: 2, maxLength: 30 }).map((times) => ({
    family: "timestamp jumps",
    body: times.map((t) => JSON.stringify({ timestamp: t, service: "jumpy", model: "m", latencyMs: 5 })).join("\n"),
    contentType: "application/x-ndjson",
    statuses: [202],
    accepted: times.length
  })),
  // cross-origin pages and DNS rebinding
  fc
    .record({
      event: validEvent,
      header: fc.constantFrom({ origin: "https://evil.example" }, { origin: "null" }, { host: "evil.example" })
    })
    .map(({ event, header }) => ({
      family: "cross-origin",
      body: JSON.stringify(event),
      contentType: "application/json",
      headers: header,
      statuses: [403]
    }))
)

const children: Array<Server> = []
afterAll(() => killAll())

describe("fuzzing the HTTP server", () => {
  it("answers every generated request below 500 and in time, accepts exactly the valid events, stays bounded, and restarts", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sentinel-fuzz-"))
    try {
      const server = await start(dataDir, ["--window", "10 seconds", "--checkpoint-every", "2 seconds"])
      children.push(server)
      let peakRss = rss(server)
      const sampler = setInterval(() => {
        try {
          peakRss = Math.max(peakRss, rss(server))
        } catch {}
      }, 100)
      let accepted = 0
      let sent = 0
      let slowest = 0
      const byFamily = new Map<string, number>()
      const failures: Array<string> = []
      const chunk = 500
      try {
        for (let from = 0; from < REQUESTS && failures.length === 0; from += chunk) {
          const requests = fc.sample(families, { seed: SEED + from, numRuns: Math.min(chunk, REQUESTS - from) })
          let next = 0
          const worker = async () => {
            while (next < requests.length && failures.length === 0) {
              const i = next++
              const r = requests[i]!
              const where = `request ${from + i} (${r.family}), seed ${SEED}`
              const res = await post(server, r.body, r.contentType, r.headers ?? {})
              sent++
              slowest = Math.max(slowest, res.ms)
              byFamily.set(r.family, (byFamily.get(r.family) ?? 0) + 1)
              if (res.status >= 500) failures.push(`${where}: ${res.status} ${res.text.slice(0, 300)}`)
              else if (!r.statuses.includes(res.status)) {
                failures.push(`${where}: expected ${r.statuses.join("/")}, got ${res.status} ${res.text.slice(0, 300)}`)
              } else if (res.ms > RESPONSE_BOUND_MS) failures.push(`${where}: took ${Math.round(res.ms)} ms`)
              else if (res.text.length > 1024 * 1024) failures.push(`${where}: a ${res.text.length}-byte response`)
              if (res.status === 202) {
                const body = res.json as { accepted: number; rejectedCount: number }
                accepted += body.accepted
                if (r.accepted !== undefined && body.accepted !== r.accepted) {
                  failures.push(
                    `${where}: accepted ${body.accepted}, expected ${r.accepted}: ${res.text.slice(0, 300)}`
                  )
                }
              }
            }
          }
          await Promise.all(Array.from({ length: CONCURRENCY }, worker))
        }
      } finally {
        clearInterval(sampler)
      }
      assert.deepStrictEqual(failures, [], `seed ${SEED}`)
      assert.strictEqual(sent, REQUESTS)
      console.log(
        `fuzz: ${sent} requests (seed ${SEED}), ${accepted} events accepted, slowest response ${Math.round(slowest)} ms, ` +
          `peak RSS ${Math.round(peakRss / 1024 / 1024)} MiB; ${[...byFamily].map(([f, n]) => `${f} ${n}`).join(", ")}`
      )
      assert.isBelow(peakRss, RSS_BOUND)
      // every accepted event reaches the pipeline
      await eventually(
        "the pipeline to decode every accepted event",
        async () => (await metric(server, "sentinel_events_decoded_total")) === accepted,
        60_000
      )
      const health = await fetch(`${server.url}/healthz`)
      assert.strictEqual(health.status, 200)
      // the journal holds nothing that stops a restart
      await kill(server)
      const again = await start(dataDir, ["--window", "10 seconds"], { timeoutMs: 120_000 })
      children.push(again)
      assert.strictEqual((await fetch(`${again.url}/healthz`)).status, 200)
      const dead = (await (await fetch(`${again.url}/v1/dead-letters`)).json()) as { items: Array<unknown> }
      assert.deepStrictEqual(dead.items, [], "the replayed journal had nothing to quarantine")
      assert.strictEqual((await stop(again)).code, 0, again.output())
    } finally {
      await sleep(100)
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 600_000)
})
