// End to end: Sentinel's own telemetry (traces and metrics over OTLP, JSON logs). The real binary runs with `observability: { logFormat: json, otlp }`
// pointed at a local OTLP/HTTP receiver (node:http, decoding the JSON export requests). After events with a latency
// incident: the receiver got spans of the HTTP requests, of ingest, of detection batches and of sink writes,
// under the configured service name; every stdout line is a JSON object with a level, and the alert logged
// inside the sink span carries that span's trace id; /metrics has the sink latency histogram and anomalies by
// detector and severity, process gauges and the ingest queue's depth.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { eventually, killAll, postNdjson, sleep, spikeWorkload, start, stop } from "./sentinel.ts"

afterAll(() => killAll())

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0)

interface OtlpSpan {
  readonly traceId: string
  readonly spanId: string
  readonly name: string
}

const collector = async () => {
  const spans: Array<OtlpSpan> = []
  const services = new Set<string>()
  const metrics = new Set<string>()
  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      if (req.url === "/v1/metrics") {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<{ name: string }> }> }>
        }
        for (const rm of body.resourceMetrics)
          for (const sm of rm.scopeMetrics) for (const m of sm.metrics) metrics.add(m.name)
        res.writeHead(200, { "content-type": "application/json" }).end("{}")
        return
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        resourceSpans: Array<{
          resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }
          scopeSpans: Array<{ spans: Array<OtlpSpan> }>
        }>
      }
      for (const rs of body.resourceSpans) {
        for (const a of rs.resource.attributes) if (a.key === "service.name") services.add(a.value.stringValue ?? "")
        for (const ss of rs.scopeSpans) spans.push(...ss.spans)
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, spans, services, metrics, close: () => server.close() }
}

describe("sentinel serve: its own logs, traces and metrics (end to end)", () => {
  it("exports spans over OTLP, writes JSON logs with trace ids, and exposes sink latency and anomaly counts", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sentinel-e2e-otel-"))
    const otlp = await collector()
    try {
      const config = join(dataDir, "sentinel.yaml")
      writeFileSync(
        config,
        [
          "pipeline:",
          "  window: 10 seconds",
          "  idleTimeout: 10 minutes",
          "observability:",
          "  logFormat: json",
          "  logLevel: info",
          "  otlp:",
          `    endpoint: ${otlp.url}`,
          "    serviceName: sentinel-e2e",
          "sinks:",
          `  - { type: file, name: archive, path: "${join(dataDir, "archive.ndjson")}" }`,
          ""
        ].join("\n")
      )
      const server = await start(dataDir, ["--config", config])
      await postNdjson(server.url, [
        ...spikeWorkload({ t0: T0, services: ["otel"], spiked: ["otel"], seed: 3 }),
        // a later event closes the windows after the spike
        { timestamp: T0 + 40 * 60_000, service: "otel", model: "gpt-4o", latencyMs: 500 }
      ])
      const names = () => new Set(otlp.spans.map((s) => s.name))
      await eventually(
        "spans of ingest, detection and sinks",
        async () =>
          ["sentinel.ingest", "sentinel.pipeline.detect", "sentinel.pipeline.sinks", "sentinel.sink.file"].every((n) =>
            names().has(n)
          ),
        20_000
      )
      // the HTTP server's own span per request, named by its method
      assert.isTrue(names().has("POST"), [...names()].join(", "))
      assert.deepStrictEqual([...otlp.services], ["sentinel-e2e"])

      // the gauges are sampled every 2 s: wait for a sample after the first verdicts
      let metrics = ""
      await eventually("a sample of the detection lag", async () => {
        metrics = await (await fetch(`${server.url}/metrics`)).text()
        return /^sentinel_detection_lag_seconds \d/m.test(metrics)
      })
      assert.match(metrics, /sentinel_sink_write_seconds_bucket\{[^}]*sink="archive"/)
      assert.match(metrics, /sentinel_anomalies_by_detector_total\{[^}]*severity="(warning|critical)"/)
      for (const gauge of [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "sentinel_queue_batches",
        "sentinel_detection_lag_seconds"
      ]) {
        assert.match(metrics, new RegExp(`^${gauge} \\d`, "m"), gauge)
      }
      // the same metrics over OTLP (exported every 10 s)
      await eventually("metrics over OTLP", async () => otlp.metrics.has("sentinel_events_decoded_total"), 20_000)
      assert.isTrue(otlp.metrics.has("sentinel_sink_write_seconds"), [...otlp.metrics].join(", "))
      await sleep(200)
      assert.strictEqual((await stop(server)).code, 0, server.output())

      const out = server
        .output()
        .split("\n")
        .filter((l) => l.trim() !== "")
      assert.isAbove(out.length, 1)
      const logs = out.map((l) => JSON.parse(l) as { level: string; message: unknown; traceId?: string })
      assert.isTrue(logs.every((l) => typeof l.level === "string"))
      const alert = logs.find((l) => String(l.message).startsWith("alert opened"))
      assert.isDefined(alert, out.join("\n"))
      assert.isTrue(otlp.spans.some((s) => s.traceId === alert?.traceId && s.name === "sentinel.pipeline.sinks"))
    } finally {
      otlp.close()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 90_000)
})
