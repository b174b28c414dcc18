// End to end: the real `sentinel` binary, configured by a file, bound to 0.0.0.0 with API keys (ingest, read), fed
// by HTTP (NDJSON) and OTLP (a GenAI span). Two webhook sinks (real local
// receivers that verify signatures) with routes: `pager` gets every alert of `search`, `billing` only alerts of
// the billing service (none here). Two services post one event per second for 30 minutes into 10-second windows;
// `search` gets a latency spike at minute 25. Then: the alert opens and resolves, GET /v1/alerts lists it with
// filters, the SSE stream delivers its events and resumes after Last-Event-ID without repeats, the pager
// receiver got each event once with a valid signature and billing nothing, /readyz reports both sinks and
// /metrics counts what each sent. After kill -9 and a restart (the journal replays from before the spike) nothing
// is delivered twice and the alert log is the same.
import { createHash, randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { type Receiver, receiver } from "../integration/receiver.ts"
import { eventually, kill, killAll, postNdjson, sleep, spikeWorkload, start, stop } from "./sentinel.ts"

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0)
const secret = "e2e-webhook-secret"
// keys on a non-loopback bind (0.0.0.0): ingest for posting, read for queries, streams and metrics
const ingestKey = `sntl_${randomBytes(24).toString("hex")}`
const readKey = `sntl_${randomBytes(24).toString("hex")}`
const sha256 = (key: string) => createHash("sha256").update(key).digest("hex")
const bearer = (key: string) => ({ authorization: `Bearer ${key}` })
const get = (url: string, key = readKey) => fetch(url, { headers: bearer(key) })

afterAll(() => killAll())

interface Sse {
  readonly id: number
  readonly event: string
  readonly data: { _tag: string; alert?: { id: string; status: string; series: { service: string } } }
}

/** Reads SSE messages from `path` until `until` says enough (or the time is up), then closes the stream. */
const readSse = async (
  url: string,
  headers: Record<string, string>,
  until: (got: ReadonlyArray<Sse>) => boolean,
  timeoutMs = 30_000,
  /** Called once the stream's first bytes arrived (the server subscribes before it sends them). */
  onOpen: () => void = () => {}
): Promise<Array<Sse>> => {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  const got: Array<Sse> = []
  try {
    const res = await fetch(url, { headers, signal: controller.signal })
    assert.strictEqual(res.status, 200)
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/)
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let buffer = ""
    while (!until(got)) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      onOpen()
      let end = buffer.indexOf("\n\n")
      while (end >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        end = buffer.indexOf("\n\n")
        const fields = Object.fromEntries(
          block
            .split("\n")
            .filter((l) => !l.startsWith(":"))
            .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)])
        )
        if (fields.data !== undefined) {
          got.push({ id: Number(fields.id), event: fields.event ?? "message", data: JSON.parse(fields.data) })
        }
      }
    }
    await reader.cancel()
  } catch (e) {
    if (!controller.signal.aborted) throw e
  } finally {
    clearTimeout(timer)
  }
  return got
}

const workload = () => spikeWorkload({ t0: T0, services: ["chat", "search"], spiked: ["search"], seed: 11 })

describe("sentinel serve: alerts (end to end)", () => {
  it("routes alerts to webhooks, lists them, streams them over SSE with resume, and delivers each once across a restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sentinel-e2e-alerts-"))
    const scope = Effect.runSync(Scope.make())
    try {
      const [pager, billing] = (await Effect.runPromise(
        Effect.all([receiver(secret), receiver(secret)]).pipe(Scope.provide(scope))
      )) as [Receiver, Receiver]
      const config = join(dataDir, "sentinel.yaml")
      const archive = join(dataDir, "archive.ndjson")
      writeFileSync(
        config,
        [
          "server:",
          "  host: 0.0.0.0",
          "auth:",
          "  keys:",
          `    - { name: ingest, scopes: [ingest], sha256: ${sha256(ingestKey)} }`,
          `    - { name: dashboard, scopes: [read], sha256: ${sha256(readKey)} }`,
          "pipeline:",
          "  window: 10 seconds",
          "  maxDelay: 5 seconds",
          "  idleTimeout: 10 minutes",
          "  checkpointEvery: 10 minutes",
          "alerts:",
          "  resolveAfter: 3",
          "  routes:",
          "    - { sinks: [pager], services: [search] }",
          "    - { sinks: [billing], services: [billing] }",
          "    - { sinks: [archive] }",
          "sinks:",
          `  - { type: webhook, name: pager, url: "${pager.url}", secret: ${secret} }`,
          `  - { type: webhook, name: billing, url: "${billing.url}", secret: ${secret} }`,
          `  - { type: file, name: archive, path: "${archive}" }`,
          ""
        ].join("\n")
      )
      const server = await start(dataDir, ["--config", config])
      const ready = (await (await fetch(`${server.url}/readyz`)).json()) as { adapters: Record<string, boolean> }
      assert.deepStrictEqual(ready.adapters, { "sink:pager": true, "sink:billing": true, "sink:archive": true })
      // keys are required on this bind: none is a 401, the wrong scope a 403, both problem documents
      const anonymous = await fetch(`${server.url}/v1/alerts`)
      assert.strictEqual(anonymous.status, 401)
      assert.strictEqual(anonymous.headers.get("content-type"), "application/problem+json")
      assert.match(anonymous.headers.get("www-authenticate") ?? "", /^Bearer/)
      const readOnly = await fetch(`${server.url}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(readKey) },
        body: "{}"
      })
      assert.strictEqual(readOnly.status, 403)
      assert.strictEqual((await get(`${server.url}/v1/stream/alerts`, ingestKey)).status, 403)

      // OTLP ingest with the ingest key: a GenAI span becomes an event of its service
      const start0 = BigInt(T0) * 1_000_000n
      const otlp = await fetch(`${server.url}/v1/traces`, {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(ingestKey) },
        body: JSON.stringify({
          resourceSpans: [
            {
              resource: { attributes: [{ key: "service.name", value: { stringValue: "otlp-chat" } }] },
              scopeSpans: [
                {
                  // two spans 20 minutes apart: the second closes the first one's window
                  spans: [0n, 1_200_000_000_000n].map((offset, i) => ({
                    traceId: "5b8efff798038103d269b633813fc60c",
                    spanId: `eee19b7ec3c1b17${i}`,
                    name: "chat gpt-4o",
                    startTimeUnixNano: String(start0 + offset),
                    endTimeUnixNano: String(start0 + offset + 812_000_000n),
                    attributes: [
                      { key: "gen_ai.operation.name", value: { stringValue: "chat" } },
                      { key: "gen_ai.provider.name", value: { stringValue: "openai" } },
                      { key: "gen_ai.request.model", value: { stringValue: "gpt-4o" } },
                      { key: "gen_ai.usage.output_tokens", value: { intValue: "230" } }
                    ]
                  }))
                }
              ]
            }
          ]
        })
      })
      assert.strictEqual(otlp.status, 200, await otlp.clone().text())
      assert.isUndefined(((await otlp.json()) as { partialSuccess?: unknown }).partialSuccess)

      // a live SSE client from the start, before any alert
      let onSubscribed: () => void = () => {}
      const subscribed = new Promise<void>((resolve) => {
        onSubscribed = resolve
      })
      const live = readSse(
        `${server.url}/v1/stream/alerts`,
        bearer(readKey),
        (got) => got.some((e) => e.data._tag === "resolved"),
        60_000,
        () => onSubscribed()
      )
      await subscribed
      await postNdjson(server.url, workload(), bearer(ingestKey))
      // a later event closes the windows after the spike, so the alert resolves
      await postNdjson(
        server.url,
        [
          { timestamp: T0 + 40 * 60_000, service: "search", model: "gpt-4o", latencyMs: 500 },
          { timestamp: T0 + 40 * 60_000, service: "chat", model: "gpt-4o", latencyMs: 500 }
        ],
        bearer(ingestKey)
      )
      const streamed = await live
      const opened = streamed.find((e) => e.data._tag === "opened")
      assert.isDefined(opened, JSON.stringify(streamed))
      assert.strictEqual(opened?.event, "alert")
      assert.strictEqual(opened?.data.alert?.series.service, "search")
      const ids = streamed.map((e) => e.id)
      assert.deepStrictEqual(
        ids,
        [...ids].sort((a, b) => a - b)
      )

      // GET /v1/alerts: the resolved alert, with filters and problem documents for bad parameters
      const page = (await (await get(`${server.url}/v1/alerts?service=search`)).json()) as {
        items: Array<{ id: string; status: string; series: { service: string } }>
        next: string | null
      }
      assert.isAbove(page.items.length, 0)
      assert.isTrue(page.items.every((a) => a.series.service === "search"))
      assert.isTrue(page.items.some((a) => a.id === opened?.data.alert?.id && a.status === "resolved"))
      const none = (await (await get(`${server.url}/v1/alerts?service=chat&status=open`)).json()) as {
        items: Array<unknown>
      }
      assert.deepStrictEqual(none.items, [])
      const bad = await get(`${server.url}/v1/alerts?status=firing&limit=0`)
      assert.strictEqual(bad.status, 400)
      assert.strictEqual(bad.headers.get("content-type"), "application/problem+json")
      const problem = (await bad.json()) as { errors: Array<{ path: string }> }
      assert.deepStrictEqual(problem.errors.map((e) => e.path).sort(), ["limit", "status"])
      const badResume = await fetch(`${server.url}/v1/stream/alerts`, {
        headers: { "last-event-id": "abc", ...bearer(readKey) }
      })
      assert.strictEqual(badResume.status, 400)
      assert.strictEqual(
        ((await badResume.json()) as { errors: Array<{ path: string }> }).errors[0]?.path,
        "Last-Event-ID"
      )

      // resume: after the first event, the rest, none repeated
      const resumed = await readSse(
        `${server.url}/v1/stream/alerts`,
        { "last-event-id": String(streamed[0]!.id), ...bearer(readKey) },
        (got) => got.length >= streamed.length - 1,
        10_000
      )
      // (more alerts may have been recorded since the live client stopped reading: the resumed stream has them too)
      const resumedIds = resumed.map((e) => e.id)
      assert.deepStrictEqual(resumedIds.slice(0, ids.length - 1), ids.slice(1))
      assert.strictEqual(new Set(resumedIds).size, resumedIds.length)
      assert.isFalse(resumedIds.includes(ids[0]!))

      // the routed webhook got each event once, signed; the other route nothing
      const recorded = await readSse(
        `${server.url}/v1/stream/alerts?after=0`,
        bearer(readKey),
        (got) => got.length >= resumedIds.length + 1,
        10_000
      )
      // routed to the pager: the events of search's alerts (a storm summary goes only to routes without services)
      const forPager = recorded.filter((e) => e.data.alert?.series.service === "search")
      assert.isAbove(forPager.length, 1)
      await eventually(
        `the pager's deliveries (${forPager.length} of ${recorded.length} recorded events: ${recorded.map((e) => `${e.data._tag}:${e.data.alert?.series.service}`).join(", ")})`,
        async () => pager.received.length >= forPager.length,
        10_000
      )
      assert.isTrue(pager.received.every((r) => r.signatureOk === true))
      const delivered = pager.received.map((r) => r.headers["x-sentinel-delivery"])
      assert.strictEqual(new Set(delivered).size, delivered.length)
      assert.strictEqual(billing.received.length, 0)
      // the file sink (a route without filters): every alert event, and every anomaly, one JSON line each
      const lines = readFileSync(archive, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as { _tag?: string; detector?: string })
      assert.strictEqual(lines.filter((l) => l._tag !== undefined).length, recorded.length)
      assert.isAbove(lines.filter((l) => l.detector !== undefined).length, 0)

      assert.strictEqual((await fetch(`${server.url}/metrics`)).status, 401)
      const metrics = await (await get(`${server.url}/metrics`)).text()
      const sent = /sentinel_adapter_sent_total\{[^}]*adapter="webhook"[^}]*name="pager"[^}]*\} (\d+)/.exec(metrics)
      assert.isNotNull(sent, metrics.slice(0, 2000))
      assert.strictEqual(Number(sent?.[1]), pager.received.length)

      // kill -9 before any checkpoint (checkpointEvery is 10 minutes): the restart replays the whole journal, the
      // policy produces every alert event again, and none is sent again
      const before = pager.received.length
      const alertsBefore = await (await get(`${server.url}/v1/alerts`)).json()
      // the OTLP span's series is live
      const otlpSeries = (await (await get(`${server.url}/v1/series?service=otlp-chat`)).json()) as { total: number }
      assert.isAbove(otlpSeries.total, 0)
      await kill(server)
      const again = await start(dataDir, ["--config", config])
      await eventually("the replayed spike", async () => {
        const res = await get(`${again.url}/v1/series/${encodeURIComponent("search/gpt-4o/latency.p95")}/points`)
        return res.status === 200 && ((await res.json()) as { series: { anomalies: number } }).series.anomalies > 0
      })
      await sleep(1000)
      assert.strictEqual(pager.received.length, before)
      assert.deepStrictEqual(await (await get(`${again.url}/v1/alerts`)).json(), alertsBefore)
      assert.strictEqual((await stop(again)).code, 0, again.output())
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})
