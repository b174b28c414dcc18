// Overload against the real `sentinel serve`, bounded in time: 32 connections post 5,000-event NDJSON bodies as
// fast as they can for 8 seconds while a probe asks /healthz every 50 ms. Backpressure counts events and bytes
// in flight, so the server answers 429 with Retry-After instead of growing, its RSS stays bounded, /healthz stays
// fast, and every event it accepted is processed. `npm run bench:overload` prints the same figures for longer runs.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { eventually, killAll, metric, rss, sleep, start, stop } from "./sentinel.ts"

afterAll(() => killAll())

const SECONDS = 8
const CONNECTIONS = 32
const EVENTS_PER_BODY = 5000

describe("overload", () => {
  it("answers 429 with Retry-After before memory grows, keeps /healthz fast, and processes all it accepted", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sentinel-overload-"))
    try {
      const server = await start(dataDir, ["--max-events-in-flight", "50000", "--window", "10 seconds"])
      const t0 = Date.now() - 60_000
      const bodies = Array.from({ length: 4 }, (_, b) =>
        Array.from({ length: EVENTS_PER_BODY }, (_, i) =>
          JSON.stringify({
            timestamp: t0 + (i % 600) * 100,
            service: `svc-${(i + b) % 20}`,
            model: `m-${i % 5}`,
            latencyMs: 300 + (i % 50),
            outputTokens: 100 + (i % 7)
          })
        ).join("\n")
      )
      const deadline = Date.now() + SECONDS * 1000
      let accepted = 0
      let tooMany = 0
      let withoutRetryAfter = 0
      let other = 0
      let peak = rss(server)
      const health: Array<number> = []
      const load = async (c: number) => {
        for (let n = 0; Date.now() < deadline; n++) {
          const res = await fetch(`${server.url}/v1/events`, {
            method: "POST",
            headers: { "content-type": "application/x-ndjson" },
            body: bodies[(c + n) % bodies.length]!
          })
          const text = await res.text()
          if (res.status === 202) accepted += (JSON.parse(text) as { accepted: number }).accepted
          else if (res.status === 429) {
            tooMany++
            if (res.headers.get("retry-after") === null) withoutRetryAfter++
            await sleep(20)
          } else other++
        }
      }
      const probe = async () => {
        while (Date.now() < deadline) {
          const started = performance.now()
          const res = await fetch(`${server.url}/healthz`)
          await res.text()
          health.push(performance.now() - started)
          peak = Math.max(peak, rss(server))
          await sleep(50)
        }
      }
      await Promise.all([...Array.from({ length: CONNECTIONS }, (_, c) => load(c)), probe()])
      health.sort((a, b) => a - b)
      const p99 = health[Math.floor(health.length * 0.99)] ?? Number.NaN
      console.log(
        `overload: ${accepted} events accepted in ${SECONDS} s, ${tooMany} × 429, peak RSS ${Math.round(peak / 1024 / 1024)} MiB, ` +
          `/healthz p50 ${health[Math.floor(health.length / 2)]?.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${health.at(-1)?.toFixed(1)} ms (${health.length} probes)`
      )
      assert.strictEqual(other, 0)
      assert.isAbove(tooMany, 0, "the load must exceed what the pipeline takes, or this test shows nothing")
      assert.strictEqual(withoutRetryAfter, 0)
      assert.isAbove(accepted, 0)
      assert.isBelow(peak, 1536 * 1024 * 1024)
      // with ~40 probes p99 is the single slowest (one GC pause or a busy neighbour on a shared 2-core machine);
      // the bug this guards against made every probe slow (3.8 s), so bound the 90th percentile and the maximum
      assert.isBelow(health[Math.floor(health.length * 0.9)] ?? Number.NaN, 1000)
      assert.isBelow(health.at(-1) ?? Number.NaN, 3000)
      await eventually(
        "every accepted event decoded",
        async () => (await metric(server, "sentinel_events_decoded_total")) === accepted,
        60_000
      )
      assert.strictEqual((await stop(server)).code, 0, server.output())
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})
