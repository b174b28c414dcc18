// End to end: the query API of the real `sentinel` binary. Two services post one event per second of event time
// for 30 minutes into 10-second windows; `search` gets a latency spike at minute 25. Then: the live series list
// shows every series with its detectors' warm-up and last point (fed by the real pipeline), the spiked series'
// points carry the expected band and an anomaly marker, every error is a problem document, and the OpenAPI
// document and the docs page list every route. A second test measures `GET /v1/series` with 10k live series.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { eventually, killAll, mulberry32, postNdjson, start, stop } from "./sentinel.ts"

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0)

afterAll(() => killAll())

describe("sentinel serve: query API (end to end)", () => {
  it("lists live series with warm-up and points from the real pipeline; errors are problem documents; OpenAPI covers every route", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sentinel-e2e-api-"))
    try {
      const server = await start(dataDir, [
        "--window",
        "10 seconds",
        "--max-delay",
        "5 seconds",
        "--idle-timeout",
        "10 minutes"
      ])
      const random = mulberry32(7)
      const events: Array<Record<string, unknown>> = []
      for (let s = 0; s < 30 * 60; s++) {
        for (const service of ["chat", "search"]) {
          const spike = service === "search" && s >= 25 * 60 && s < 25 * 60 + 20
          events.push({
            timestamp: T0 + s * 1000,
            service,
            model: "gpt-4o",
            latencyMs: Math.round(spike ? 3000 + random() * 100 : 480 + random() * 40),
            inputTokens: 200,
            outputTokens: 300
          })
        }
      }
      await postNdjson(server.url, events)
      const id = "search/gpt-4o/latency.p95"
      let body:
        | {
            series: { anomalies: number; detectors: Array<{ progress: string }> }
            points: Array<{
              anomalous: boolean
              expected: number | null
              lower: number | null
              upper: number | null
              value: number
            }>
          }
        | undefined
      await eventually("the spike's anomaly on the live series", async () => {
        const res = await fetch(`${server.url}/v1/series/${encodeURIComponent(id)}/points`)
        if (res.status !== 200) return false
        body = (await res.json()) as typeof body
        return (body?.series.anomalies ?? 0) > 0
      })
      const marked = body?.points.filter((p) => p.anomalous) ?? []
      assert.isAbove(marked.length, 0)
      assert.isAbove(marked[0]?.value ?? 0, 2000)
      const banded = body?.points.filter((p) => p.expected !== null && p.lower !== null && p.upper !== null) ?? []
      assert.isAbove(banded.length, 50)
      for (const p of banded) assert.isTrue((p.lower ?? 0) <= (p.expected ?? 0) && (p.expected ?? 0) <= (p.upper ?? 0))

      const list = (await (await fetch(`${server.url}/v1/series?service=search&limit=1000`)).json()) as {
        items: Array<{
          series: { id: string; service: string }
          detectors: Array<{ progress: string }>
          lastPoint: unknown
        }>
        total: number
      }
      assert.isAbove(list.total, 1)
      assert.isTrue(list.items.every((s) => s.series.service === "search"))
      const latency = list.items.find((s) => s.series.id === id)
      assert.isDefined(latency)
      assert.isNotNull(latency?.lastPoint)
      for (const d of latency?.detectors ?? []) assert.match(d.progress, /^\S+ (ready|\d+\/\d+ windows)$/)

      // problem documents from the real server
      for (const [path, init, status, code] of [
        ["/v1/nope", {}, 404, "not-found"],
        ["/v1/series", { method: "POST" }, 405, "method-not-allowed"],
        ["/v1/series?limit=0", {}, 400, "validation"],
        [
          "/v1/events",
          { method: "POST", headers: { "content-type": "text/plain" }, body: "x" },
          415,
          "unsupported-media-type"
        ]
      ] as const) {
        const res = await fetch(`${server.url}${path}`, init)
        assert.strictEqual(res.status, status, path)
        assert.strictEqual(res.headers.get("content-type"), "application/problem+json", path)
        const p = (await res.json()) as { type: string; status: number; code: string; title: string; detail: string }
        assert.strictEqual(p.status, status)
        assert.strictEqual(p.code, code)
        assert.strictEqual(p.type, `https://llm-sentinel.dev/problems/${code}`)
        assert.isString(p.detail)
      }
      const spec = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
        openapi: string
        paths: Record<string, unknown>
      }
      assert.match(spec.openapi, /^3\.1\./)
      for (const p of [
        "/v1/anomalies",
        "/v1/series",
        "/v1/series/{id}/points",
        "/v1/detectors",
        "/v1/schema/event",
        "/readyz"
      ]) {
        assert.property(spec.paths, p)
      }
      const docs = await fetch(`${server.url}/docs`)
      assert.strictEqual(docs.status, 200)
      assert.include(await docs.text(), "/v1/series/{id}/points")
      assert.strictEqual((await stop(server)).code, 0)
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)

  it("answers GET /v1/series quickly with 10k live series", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sentinel-e2e-api-10k-"))
    try {
      const server = await start(dataDir, ["--window", "10 seconds", "--max-delay", "1 second"])
      // 2500 service/model pairs × the default signals; two windows, then a later event closes them
      const events: Array<Record<string, unknown>> = []
      for (let w = 0; w < 2; w++) {
        for (let i = 0; i < 2500; i++) {
          events.push({
            timestamp: T0 + w * 10_000,
            service: `svc-${i % 200}`,
            model: `model-${i}`,
            latencyMs: 500,
            inputTokens: 100,
            outputTokens: 100
          })
        }
      }
      events.push({
        timestamp: T0 + 60_000,
        service: "svc-0",
        model: "model-0",
        latencyMs: 500,
        inputTokens: 100,
        outputTokens: 100
      })
      await postNdjson(server.url, events)
      let total = 0
      await eventually(
        "10k live series",
        async () => {
          const res = (await (await fetch(`${server.url}/v1/series?limit=1`)).json()) as { total: number }
          total = res.total
          return total >= 10_000
        },
        60_000
      )
      const time = async (path: string) => {
        const samples: Array<number> = []
        for (let i = 0; i < 20; i++) {
          const t = performance.now()
          const res = await fetch(`${server.url}${path}`)
          assert.strictEqual(res.status, 200)
          await res.arrayBuffer()
          samples.push(performance.now() - t)
        }
        samples.sort((a, b) => a - b)
        return { p50: samples[10] ?? 0, max: samples[19] ?? 0 }
      }
      const page = await time("/v1/series?limit=100")
      const filtered = await time("/v1/series?service=svc-7&limit=100")
      const search = await time("/v1/series?q=model-1999&limit=100")
      const deep = await time("/v1/series?limit=100&cursor=svc-150")
      console.log(
        `GET /v1/series with ${total} series: first page of 100 p50 ${page.p50.toFixed(1)} ms (max ${page.max.toFixed(1)}), ` +
          `service filter p50 ${filtered.p50.toFixed(1)} ms, substring search p50 ${search.p50.toFixed(1)} ms, deep cursor p50 ${deep.p50.toFixed(1)} ms`
      )
      assert.isBelow(page.p50, 100)
      assert.isBelow(filtered.p50, 100)
      assert.strictEqual((await stop(server)).code, 0)
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})
