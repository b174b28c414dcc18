// `sentinel serve` with `source: { type: nats }` against the machine's NATS (JetStream on 127.0.0.1:4222): the real
// binary consumes a durable consumer beside HTTP ingest. 2,000 events and 3 bad records are published; every
// event reaches the pipeline (counted in /metrics), the bad records are dead letters, every message is acked,
// an email in an attribute is redacted before the journal; /readyz reports the consumer. The server is then stopped,
// 1,000 more are published while it is down, and the restarted server consumes exactly those.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { eventually, killAll, start, stop } from "../e2e/sentinel.ts"
import { natsUrl, type TestStream, testStream } from "./nats.ts"

afterAll(() => killAll())

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0)

const events = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      timestamp: T0 + (from + i) * 1000,
      service: "nats-chat",
      model: "gpt-4o",
      latencyMs: 400 + ((from + i) % 50),
      attributes: { user: "someone@example.com" }
    })
  )

const counter = async (url: string, name: string): Promise<number> => {
  const text = await (await fetch(`${url}/metrics`)).text()
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, "m").exec(text)
  return m === null ? 0 : Number(m[1])
}

describe("sentinel serve: NATS source", () => {
  it("journals what the consumer fetches, acks after, dead-letters bad records, and resumes after a restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sentinel-nats-serve-"))
    const scope = Effect.runSync(Scope.make())
    try {
      const stream = (await Effect.runPromise(testStream().pipe(Scope.provide(scope)))) as TestStream
      const config = join(dataDir, "sentinel.yaml")
      writeFileSync(
        config,
        [
          "pipeline:",
          "  window: 10 seconds",
          "source:",
          "  type: nats",
          `  servers: ["${natsUrl}"]`,
          `  stream: ${stream.name}`,
          "  consumer: sentinel",
          "  batchSize: 250",
          "  fetchWait: 200 millis",
          ""
        ].join("\n")
      )
      await Effect.runPromise(
        stream.publish([...events(0, 1000), "not json", '{"service":"x"}', ...events(1000, 1000), "42"])
      )
      const server = await start(dataDir, ["--config", config])
      await eventually(
        "2000 events decoded",
        async () => (await counter(server.url, "sentinel_events_decoded_total")) >= 2000
      )
      await eventually("every message acked", async () => {
        const c = await Effect.runPromise(stream.consumer("sentinel"))
        return c.pending === 0 && c.ackPending === 0
      })
      assert.strictEqual(await counter(server.url, "sentinel_events_decoded_total"), 2000)
      const ready = (await (await fetch(`${server.url}/readyz`)).json()) as { adapters: Record<string, boolean> }
      assert.strictEqual(ready.adapters["source:nats"], true)
      const dead = (await (await fetch(`${server.url}/v1/dead-letters`)).json()) as { items: Array<unknown> }
      assert.strictEqual(dead.items.length, 3)
      const series = await (await fetch(`${server.url}/v1/series?service=nats-chat`)).text()
      assert.include(series, "nats-chat")
      // redacted before the journal: the email in the attributes is on no disk file of the server
      for (const f of readdirSync(join(dataDir, "journal"))) {
        assert.notInclude(readFileSync(join(dataDir, "journal", f), "utf8"), "someone@example.com", f)
      }
      assert.strictEqual((await stop(server)).code, 0, server.output())

      await Effect.runPromise(stream.publish(events(2000, 1000)))
      const again = await start(dataDir, ["--config", config])
      await eventually("the 1000 published while down", async () => {
        const c = await Effect.runPromise(stream.consumer("sentinel"))
        return c.pending === 0 && c.ackPending === 0 && c.delivered >= 3003
      })
      // the restart replays the journal from its last checkpoint, then the new messages: at least the new ones
      await eventually(
        "the new events decoded",
        async () => (await counter(again.url, "sentinel_events_decoded_total")) >= 1000
      )
      assert.strictEqual((await stop(again)).code, 0, again.output())
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})
