// OTLP ingest end to end: the real OpenTelemetry JS SDK (`@opentelemetry/sdk-trace`) exports GenAI spans to the
// real `sentinel serve` through both OTLP/HTTP trace exporters — `exporter-trace-otlp-http` (JSON) and
// `exporter-trace-otlp-proto` (protobuf). One service's chat spans carry a latency spike; each exporter also sends
// spans that are not GenAI spans (ignored and counted) and GenAI spans without a model (rejected as partial
// success). Counts in must equal events decoded, and the spike must be found on the right series.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Otlp from "@llm-sentinel/adapters/Otlp"
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { BatchSpanProcessor, type SpanExporter, TracerProvider } from "@opentelemetry/sdk-trace"
import { eventually, killAll, metric, mulberry32, type Server, start, stop } from "./sentinel.ts"

afterAll(() => killAll())

const MINUTES = 40
const SPIKE_START = 30 * 60 // seconds into the run
const SPIKE_SECONDS = 60

/** Spans of one service through one exporter: a GenAI chat span per second, plus spans to ignore and reject. */
const exportSpans = async (
  exporter: SpanExporter,
  service: string,
  t0: number,
  spike: boolean,
  seed: number
): Promise<{ genAi: number; ignored: number; rejected: number }> => {
  const random = mulberry32(seed)
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": service, "deployment.environment.name": "prod" }),
    spanProcessors: [
      new BatchSpanProcessor({ exporter, maxExportBatchSize: 500, scheduledDelayMillis: 50, maxQueueSize: 100_000 })
    ]
  })
  const tracer = provider.getTracer("otlp-e2e")
  let genAi = 0
  let ignored = 0
  let rejected = 0
  for (let s = 0; s < MINUTES * 60; s++) {
    const start = t0 + s * 1000
    const inSpike = spike && s >= SPIKE_START && s < SPIKE_START + SPIKE_SECONDS
    const latency = inSpike ? 3000 + random() * 200 : 480 + random() * 40
    const span = tracer.startSpan("chat gpt-4o", {
      startTime: new Date(start),
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 200,
        "gen_ai.usage.output_tokens": 300 + Math.floor(random() * 20),
        "gen_ai.usage.cache_read.input_tokens": 50,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.response.time_to_first_chunk": 0.12
      }
    })
    span.end(new Date(start + latency))
    genAi++
    if (s % 60 === 0) {
      tracer.startSpan("GET /health", { startTime: new Date(start) }).end(new Date(start + 3))
      ignored++
      tracer
        .startSpan("chat", { startTime: new Date(start), attributes: { "gen_ai.operation.name": "chat" } })
        .end(new Date(start + 10))
      rejected++
    }
  }
  await provider.forceFlush()
  await provider.shutdown()
  return { genAi, ignored, rejected }
}

interface StoredAnomaly {
  readonly series: { readonly service: string; readonly model: string; readonly metric: string }
  readonly time: number
}

describe("OTLP/HTTP ingest with the real OpenTelemetry SDK exporters", () => {
  it("takes GenAI spans over JSON and protobuf, ignores other spans, reports rejected ones, and finds the incident", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sentinel-otlp-"))
    let server: Server | undefined
    try {
      server = await start(dataDir, ["--window", "10 seconds", "--idle-timeout", "10 minutes"])
      const url = `${server.url}/v1/traces`
      const t0 = Date.now() - (MINUTES + 5) * 60_000
      const json = await exportSpans(new JsonExporter({ url }), "chat-api", t0, true, 1)
      const proto = await exportSpans(new ProtoExporter({ url }), "search-api", t0, false, 2)
      const spans = json.genAi + json.ignored + json.rejected + proto.genAi + proto.ignored + proto.rejected
      const s = server
      await eventually(
        "every span received",
        async () => (await metric(s, "sentinel_otlp_spans_received_total")) === spans
      )
      assert.strictEqual(await metric(s, "sentinel_otlp_spans_ignored_total"), json.ignored + proto.ignored)
      assert.strictEqual(await metric(s, "sentinel_otlp_spans_rejected_total"), json.rejected + proto.rejected)
      await eventually(
        "every GenAI span decoded as an event",
        async () => (await metric(s, "sentinel_events_decoded_total")) === json.genAi + proto.genAi
      )
      // the spike on chat-api's latency, and nothing on search-api
      const spikeStart = t0 + SPIKE_START * 1000
      let anomalies: Array<StoredAnomaly> = []
      await eventually(
        "the spike's anomalies",
        async () => {
          const res = await fetch(`${s.url}/v1/anomalies?limit=1000`)
          anomalies = ((await res.json()) as { items: Array<StoredAnomaly> }).items
          return anomalies.some(
            (a) =>
              a.series.service === "chat-api" &&
              a.series.metric.startsWith("latency.") &&
              a.time >= spikeStart - 10_000 &&
              a.time < spikeStart + SPIKE_SECONDS * 1000
          )
        },
        30_000
      )
      for (const a of anomalies) assert.strictEqual(a.series.service, "chat-api", JSON.stringify(a))
      assert.strictEqual(anomalies[0]!.series.model, "gpt-4o-2024-08-06")
      assert.strictEqual((await stop(server)).code, 0, server.output())
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 180_000)

  it("answers in the request's encoding: partial success, 400, 413, 415, and 429 with Retry-After", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sentinel-otlp-errors-"))
    try {
      const server = await start(dataDir, ["--max-body", "64 KiB", "--max-events-in-flight", "1"])
      const url = `${server.url}/v1/traces`
      const now = BigInt(Date.now() - 60_000) * 1_000_000n
      const request = (spans: ReadonlyArray<Record<string, unknown>>) => ({
        resourceSpans: [
          {
            resource: { attributes: [{ key: "service.name", value: { stringValue: "svc" } }] },
            scopeSpans: [{ spans }]
          }
        ]
      })
      const span = (model: string | undefined, end = now + 5_000_000n) => ({
        traceId: "5b8efff798038103d269b633813fc60c",
        spanId: "eee19b7ec3c1b174",
        name: "chat",
        kind: 3,
        startTimeUnixNano: now.toString(),
        endTimeUnixNano: Number(end),
        attributes: [
          { key: "gen_ai.operation.name", value: { stringValue: "chat" } },
          ...(model === undefined ? [] : [{ key: "gen_ai.request.model", value: { stringValue: model } }]),
          { key: "gen_ai.usage.input_tokens", value: { intValue: "12" } }
        ],
        status: { code: 2, message: "upstream timeout" },
        unknownField: true
      })
      // first, while nothing is in flight (one event in flight would make these 429s): not protobuf at all: 400 with a google.rpc.Status
      const garbage = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/x-protobuf" },
        body: new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])
      })
      assert.strictEqual(garbage.status, 400)
      const tooBig = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request(Array.from({ length: 400 }, () => span("gpt-4o"))))
      })
      assert.strictEqual(tooBig.status, 413)
      const wrongType = await fetch(url, { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" })
      assert.strictEqual(wrongType.status, 415)
      // JSON: one good span (an error span), one without a model: partial success, in JSON
      const partial = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request([span("gpt-4o"), span(undefined)]))
      })
      assert.strictEqual(partial.status, 200)
      assert.strictEqual(partial.headers.get("content-type"), "application/json")
      const body = (await partial.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } }
      assert.strictEqual(body.partialSuccess.rejectedSpans, "1")
      assert.match(body.partialSuccess.errorMessage, /without gen_ai.request.model/)
      await eventually("decoded", async () => (await metric(server, "sentinel_events_decoded_total")) === 1)
      // protobuf, all accepted: an empty ExportTraceServiceResponse
      const bytes = Otlp.encodeRequest({
        resourceSpans: [
          {
            resource: { attributes: [{ key: "service.name", value: { stringValue: "svc" } }] },
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: Buffer.from("5b8efff798038103d269b633813fc60c", "hex"),
                    spanId: Buffer.from("eee19b7ec3c1b174", "hex"),
                    name: "chat",
                    startTimeUnixNano: now.toString(),
                    endTimeUnixNano: (now + 7_000_000n).toString(),
                    attributes: [{ key: "gen_ai.request.model", value: { stringValue: "gpt-4o" } }]
                  }
                ]
              }
            ]
          }
        ]
      })
      const ok = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/x-protobuf" },
        body: bytes
      })
      assert.strictEqual(ok.status, 200)
      assert.strictEqual(ok.headers.get("content-type"), "application/x-protobuf")
      assert.strictEqual((await ok.arrayBuffer()).byteLength, 0)
      await eventually("decoded", async () => (await metric(server, "sentinel_events_decoded_total")) === 2)
      // a batch larger than the events in flight allow while another one is in flight is answered 429 + Retry-After
      const flood = await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(request([span("gpt-4o"), span("gpt-4o")]))
          })
        )
      )
      const busy = flood.filter((r) => r.status === 429)
      assert.isAbove(busy.length, 0)
      for (const r of busy) assert.strictEqual(r.headers.get("retry-after"), "1")
      assert.strictEqual((await stop(server)).code, 0, server.output())
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})
