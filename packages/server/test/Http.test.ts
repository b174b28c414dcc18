import { assert, describe, it } from "@effect/vitest"
import { Anomaly, AnomalyStore, Detector, Event, EventSource, Pipeline, Series } from "@llm-sentinel/core"
import { Catalog, Mad, ZScore } from "@llm-sentinel/detectors"
import { Context, Effect, Exit, Layer, Metric, Scope, Stream } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import * as Admission from "../src/Admission.ts"
import * as AlertLog from "../src/AlertLog.ts"
import * as DeadLetters from "../src/DeadLetters.ts"
import * as Http from "../src/Http.ts"
import type * as Ingest from "../src/Ingest.ts"
import * as Readiness from "../src/Readiness.ts"
import * as SeriesRegistry from "../src/SeriesRegistry.ts"

const ev = (i: number, extra: Record<string, unknown> = {}) => ({
  timestamp: 1_780_000_000_000 + i * 1000,
  service: "chat",
  model: "gpt-4o",
  latencyMs: 500 + i,
  ...extra
})

interface App {
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are read as loose JSON in assertions
  readonly fetch: (path: string, init?: RequestInit) => Promise<{ status: number; headers: Headers; body: any }>
  readonly store: AnomalyStore.AnomalyStore["Service"]
  readonly queue: EventSource.EventQueue["Service"]
  readonly source: EventSource.EventSource["Service"]
  readonly readiness: Readiness.Readiness["Service"]
  readonly registry: SeriesRegistry.Registry
  readonly close: () => Promise<void>
}

const makeApp = async (
  options: {
    capacity?: number
    maxBodyBytes?: number
    maxRecordsPerRequest?: number
    admission?: Partial<Admission.Limits>
    guard?: Http.GuardOptions
  } = {}
): Promise<App> => {
  const scope = Effect.runSync(Scope.make())
  const deps = await Effect.runPromise(
    Layer.buildWithScope(
      Layer.mergeAll(
        AnomalyStore.layerMemory,
        EventSource.layerQueue({ capacity: options.capacity ?? 16 }),
        Readiness.layer,
        Admission.layer(options.admission),
        DeadLetters.layerMemory,
        SeriesRegistry.layer({ detectors: [Mad.make()] }),
        AlertLog.layerMemory
      ),
      scope
    )
  )
  const { handler, dispose } = HttpRouter.toWebHandler(
    Http.routes({
      maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
      ...(options.maxRecordsPerRequest === undefined ? {} : { maxRecordsPerRequest: options.maxRecordsPerRequest }),
      ...options.guard
    }).pipe(Layer.provide(Layer.succeedContext(deps)), Layer.provide(HttpServer.layerServices)),
    { disableLogger: true }
  )
  return {
    fetch: async (path, init) => {
      const res = await handler(new Request(`http://sentinel.test${path}`, init))
      const text = await res.text()
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {}
      return { status: res.status, headers: res.headers, body }
    },
    store: Context.get(deps, AnomalyStore.AnomalyStore),
    queue: Context.get(deps, EventSource.EventQueue),
    source: Context.get(deps, EventSource.EventSource),
    readiness: Context.get(deps, Readiness.Readiness),
    registry: Context.get(deps, SeriesRegistry.SeriesRegistry),
    close: async () => {
      await dispose()
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}

const post = (body: string, contentType = "application/json"): RequestInit => ({
  method: "POST",
  body,
  headers: { "content-type": contentType }
})

/** The batches queued so far (ends the queue). */
const drain = (app: App) => Effect.runPromise(Effect.andThen(app.queue.end, Stream.runCollect(app.source.batches)))

describe("POST /v1/events", () => {
  it("accepts one JSON object, queued already decoded", async () => {
    const app = await makeApp()
    const res = await app.fetch("/v1/events", post(JSON.stringify(ev(1, { timestamp: "2026-11-26T19:00:00Z" }))))
    assert.strictEqual(res.status, 202)
    assert.deepStrictEqual(res.body, { accepted: 1, rejected: [], rejectedCount: 0 })
    const batches = await drain(app)
    assert.strictEqual(batches.length, 1)
    assert.deepStrictEqual(batches[0]!.raw, [])
    assert.strictEqual(batches[0]!.events[0]!.timestamp, Date.parse("2026-11-26T19:00:00Z"))
    await app.close()
  })

  it("accepts the valid events of a mixed JSON array and reports the others by index", async () => {
    const app = await makeApp()
    const body = [ev(0), ev(1, { latencyMs: -5 }), ev(2), { service: "x" }, ev(4, { latency_ms: 3 }), 7]
    const res = await app.fetch("/v1/events", post(JSON.stringify(body)))
    assert.strictEqual(res.status, 202)
    assert.strictEqual(res.body.accepted, 2)
    assert.strictEqual(res.body.rejectedCount, 4)
    assert.deepStrictEqual(
      res.body.rejected.map((r: { index: number }) => r.index),
      [1, 3, 4, 5]
    )
    assert.deepStrictEqual(res.body.rejected[0].errors, [
      { path: "latencyMs", message: "expected a finite number ≥ 0, got -5" }
    ])
    const paths = res.body.rejected[1].errors.map((e: { path: string }) => e.path).sort()
    assert.deepStrictEqual(paths, ["latencyMs", "model", "timestamp"])
    assert.strictEqual(res.body.rejected[2].errors[0].path, "latency_ms")
    const batches = await drain(app)
    assert.deepStrictEqual(
      batches.flatMap((b) => b.events.map((e) => e.latencyMs)),
      [500, 502]
    )
    await app.close()
  })

  it("reads NDJSON line by line: indexes are line numbers, a non-JSON line is a rejected record", async () => {
    const app = await makeApp()
    const lines = [
      JSON.stringify(ev(0)),
      "{not json",
      "",
      JSON.stringify(ev(3)),
      JSON.stringify(ev(4, { status: "nope" }))
    ]
    const res = await app.fetch("/v1/events", post(`${lines.join("\r\n")}\n`, "application/x-ndjson"))
    assert.strictEqual(res.status, 202)
    assert.strictEqual(res.body.accepted, 2)
    assert.deepStrictEqual(
      res.body.rejected.map((r: { index: number }) => r.index),
      [1, 4]
    )
    assert.strictEqual(res.body.rejected[0].errors[0].path, "")
    assert.match(res.body.rejected[0].errors[0].message, /line 2 is not valid JSON/)
    assert.strictEqual(res.body.rejected[1].errors[0].path, "status")
    await app.close()
  })

  it("reads NDJSON split across arbitrary chunks (multi-byte characters included)", async () => {
    const app = await makeApp()
    const events = Array.from({ length: 50 }, (_, i) => ev(i, { service: `sérvice-€-${i}` }))
    const bytes = new TextEncoder().encode(events.map((e) => JSON.stringify(e)).join("\n"))
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7))
        controller.close()
      }
    })
    const res = await app.fetch("/v1/events", {
      method: "POST",
      body: stream,
      headers: { "content-type": "application/x-ndjson" },
      duplex: "half"
    } as RequestInit)
    assert.strictEqual(res.status, 202)
    assert.strictEqual(res.body.accepted, 50)
    const batches = await drain(app)
    assert.deepStrictEqual(
      batches[0]!.events.map((e) => e.service),
      events.map((e) => e.service)
    )
    await app.close()
  })

  it("answers 400 with a clear message for a body that is not JSON, empty, or not an object/array", async () => {
    const app = await makeApp()
    for (const [body, pattern] of [
      ["this is not json", /not valid JSON/],
      ["", /empty/],
      ["   \n", /empty/],
      ["42", /JSON object/],
      ["null", /JSON object/]
    ] as const) {
      const res = await app.fetch("/v1/events", post(body))
      assert.strictEqual(res.status, 400, body)
      assert.strictEqual(res.body.code, "validation")
      assert.match(res.body.detail, pattern)
      assert.isAbove(res.body.errors.length, 0)
    }
    const ndjson = await app.fetch("/v1/events", post("\n\n", "application/x-ndjson"))
    assert.strictEqual(ndjson.status, 400)
    assert.strictEqual(await Effect.runPromise(app.queue.size), 0)
    await app.close()
  })

  it("answers 413 past the body limit, declared or streamed, and queues nothing", async () => {
    const app = await makeApp({ maxBodyBytes: 1000 })
    const big = JSON.stringify(Array.from({ length: 40 }, (_, i) => ev(i)))
    const declared = await app.fetch("/v1/events", post(big))
    assert.strictEqual(declared.status, 413)
    assert.strictEqual(declared.body.code, "payload-too-large")
    const bytes = new TextEncoder().encode(big)
    const streamed = await app.fetch("/v1/events", {
      method: "POST",
      body: new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 100) controller.enqueue(bytes.slice(i, i + 100))
          controller.close()
        }
      }),
      headers: { "content-type": "application/json" },
      duplex: "half"
    } as RequestInit)
    assert.strictEqual(streamed.status, 413)
    const small = await app.fetch("/v1/events", post(JSON.stringify(ev(1))))
    assert.strictEqual(small.status, 202)
    assert.strictEqual(await Effect.runPromise(app.queue.size), 1)
    await app.close()
  })

  it("answers 429 with Retry-After when the pipeline queue is full, and accepts again once it drains", async () => {
    const app = await makeApp({ capacity: 1 })
    const first = await app.fetch("/v1/events", post(JSON.stringify(ev(1))))
    assert.strictEqual(first.status, 202)
    const second = await app.fetch("/v1/events", post(JSON.stringify([ev(2), ev(3)])))
    assert.strictEqual(second.status, 429)
    assert.strictEqual(second.headers.get("retry-after"), "1")
    assert.strictEqual(second.body.code, "too-many-requests")
    // a batch with only invalid records queues nothing, so it is not refused
    const invalid = await app.fetch("/v1/events", post(JSON.stringify([{ nope: 1 }])))
    assert.strictEqual(invalid.status, 202)
    await Effect.runPromise(Stream.runHead(app.source.batches))
    const third = await app.fetch("/v1/events", post(JSON.stringify(ev(4))))
    assert.strictEqual(third.status, 202)
    await app.close()
  })
})

describe("POST /v1/events under poison input and overload", () => {
  it("answers 415 for any content type but JSON and NDJSON (text/plain and forms are what any web page can send)", async () => {
    const app = await makeApp()
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]) {
      const res = await app.fetch("/v1/events", post(JSON.stringify(ev(1)), type))
      assert.strictEqual(res.status, 415, type)
      assert.strictEqual(res.body.code, "unsupported-media-type")
    }
    const json = await app.fetch("/v1/events", post(JSON.stringify(ev(1)), "application/json; charset=utf-8"))
    assert.strictEqual(json.status, 202)
    assert.strictEqual(await Effect.runPromise(app.queue.size), 1)
    await app.close()
  })

  it("answers 413 naming the record limit, for JSON arrays and NDJSON, and queues nothing", async () => {
    const app = await makeApp({ maxRecordsPerRequest: 10 })
    const array = await app.fetch("/v1/events", post(JSON.stringify(Array.from({ length: 11 }, () => ({})))))
    assert.strictEqual(array.status, 413)
    assert.match(array.body.detail, /more than 10 records \(the record limit, --max-records\)/)
    const lines = Array.from({ length: 11 }, (_, i) => JSON.stringify(ev(i))).join("\n")
    const ndjson = await app.fetch("/v1/events", post(lines, "application/x-ndjson"))
    assert.strictEqual(ndjson.status, 413)
    const ten = await app.fetch("/v1/events", post(JSON.stringify(Array.from({ length: 10 }, (_, i) => ev(i)))))
    assert.strictEqual(ten.status, 202)
    assert.strictEqual(ten.body.accepted, 10)
    assert.strictEqual(await Effect.runPromise(app.queue.size), 1)
    await app.close()
  })

  it("rejects implausible timestamps as field errors and accepts the valid events of the same batch", async () => {
    const app = await makeApp()
    const now = Date.now()
    const res = await app.fetch(
      "/v1/events",
      post(
        JSON.stringify([
          ev(0, { timestamp: 1e22 }),
          ev(1, { timestamp: Math.floor(now / 1000) }),
          ev(2, { timestamp: now + 3_600_000 }),
          ev(3, { timestamp: now }),
          ev(4, { timestamp: "2025-11-31T00:00:00Z" })
        ])
      )
    )
    assert.strictEqual(res.status, 202)
    assert.strictEqual(res.body.accepted, 1)
    assert.deepStrictEqual(
      res.body.rejected.map((r: Ingest.Rejection) => [r.index, r.errors[0]!.path]),
      [
        [0, "timestamp"],
        [1, "timestamp"],
        [2, "timestamp"],
        [4, "timestamp"]
      ]
    )
    assert.match(res.body.rejected[1].errors[0].message, /epoch seconds/)
    await app.close()
  })

  it("keeps error responses bounded: errors per record, rejections and errors per response", async () => {
    const app = await makeApp()
    const wide = { ...ev(0), ...Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, i])) }
    const one = await app.fetch("/v1/events", post(JSON.stringify([wide, ev(1)])))
    assert.strictEqual(one.status, 202)
    assert.strictEqual(one.body.accepted, 1)
    assert.strictEqual(one.body.rejected[0].errors.length, 20)
    assert.isBelow(JSON.stringify(one.body).length, 5_000)
    const many = await app.fetch("/v1/events", post(JSON.stringify(Array.from({ length: 5000 }, () => ({ a: 1 })))))
    assert.strictEqual(many.body.rejectedCount, 5000)
    assert.strictEqual(many.body.rejected.length, 1000)
    const deep = `${"[".repeat(50_000)}${"]".repeat(50_000)}`
    const nested = await app.fetch(
      "/v1/events",
      post(`[${JSON.stringify(ev(2)).slice(0, -1)},"attributes":{"a":${deep}}},${JSON.stringify(ev(3))}]`)
    )
    assert.strictEqual(nested.status, 202)
    assert.strictEqual(nested.body.accepted, 1)
    assert.strictEqual(nested.body.rejected[0].errors[0].path, "attributes.a")
    await app.close()
  })

  it("answers 429 when the events in flight are at their limit, until the pipeline acknowledges them", async () => {
    const app = await makeApp({ admission: { maxEvents: 5 } })
    const first = await app.fetch("/v1/events", post(JSON.stringify([ev(1), ev(2), ev(3), ev(4)])))
    assert.strictEqual(first.status, 202)
    const second = await app.fetch("/v1/events", post(JSON.stringify([ev(5), ev(6)])))
    assert.strictEqual(second.status, 429)
    assert.strictEqual(second.headers.get("retry-after"), "1")
    assert.match(second.body.detail, /too many events in flight/)
    const batch = await Effect.runPromise(Stream.runHead(app.source.batches))
    if (batch._tag === "Some") await Effect.runPromise(batch.value.ack)
    const third = await app.fetch("/v1/events", post(JSON.stringify([ev(5), ev(6)])))
    assert.strictEqual(third.status, 202)
    await app.close()
  })

  it("refuses cross-origin requests unless the origin is configured, then answers with CORS headers", async () => {
    const app = await makeApp({ guard: { corsOrigins: ["https://dash.example.com"] } })
    const evil = await app.fetch("/v1/events", {
      ...post(JSON.stringify(ev(1))),
      headers: { "content-type": "application/json", origin: "https://evil.example" }
    })
    assert.strictEqual(evil.status, 403)
    const read = await app.fetch("/v1/anomalies", { headers: { origin: "null" } })
    assert.strictEqual(read.status, 403)
    const allowed = await app.fetch("/v1/events", {
      ...post(JSON.stringify(ev(1))),
      headers: { "content-type": "application/json", origin: "https://dash.example.com" }
    })
    assert.strictEqual(allowed.status, 202)
    assert.strictEqual(allowed.headers.get("access-control-allow-origin"), "https://dash.example.com")
    const preflight = await app.fetch("/v1/events", {
      method: "OPTIONS",
      headers: { origin: "https://dash.example.com", "access-control-request-method": "POST" }
    })
    assert.isBelow(preflight.status, 300)
    const same = await app.fetch("/healthz", { headers: { origin: "http://sentinel.test", host: "sentinel.test" } })
    assert.strictEqual(same.status, 200)
    assert.strictEqual(await Effect.runPromise(app.queue.size), 1)
    await app.close()
  })

  it("on loopback, refuses a Host that is not a loopback name (DNS rebinding)", async () => {
    const app = await makeApp({ guard: { loopback: true, allowedHosts: ["sentinel.internal"] } })
    const rebound = await app.fetch("/v1/anomalies", { headers: { host: "sentinel.test" } })
    assert.strictEqual(rebound.status, 403)
    assert.match(rebound.body.detail, /DNS-rebinding/)
    await app.close()
    for (const host of ["127.0.0.1:7300", "localhost", "[::1]:7300", "sentinel.internal:80"]) {
      assert.isTrue(Http.isAllowedHost(host, { loopback: true, allowedHosts: ["sentinel.internal"] }), host)
    }
    for (const host of ["evil.com", "127.0.0.1.evil.com", "localhost.evil.com:7300"]) {
      assert.isFalse(Http.isAllowedHost(host, { loopback: true }), host)
    }
  })
})

const anomaly = (i: number): Anomaly.Anomaly => {
  const service = ["chat", "search"][i % 2]!
  const metric = ["latency.p95", "error.rate"][(i >> 1) % 2]!
  const detector = ["zscore", "ewma"][(i >> 2) % 2]!
  const model = "gpt-4o"
  const id = `${service}/${model}/${metric}`
  const time = 1_780_000_000_000 + Math.floor(i / 3) * 60_000
  return {
    id: Anomaly.makeId(id, detector, time),
    series: { id, service, model, metric, dimensions: {} },
    detector,
    time,
    observed: 3000,
    expected: 500,
    lower: 400,
    upper: 600,
    score: 9,
    severity: "critical",
    reason: "z=9",
    detectedAt: time + 5000
  }
}

describe("GET /v1/anomalies", () => {
  it("filters by service, model, metric, detector, since (ISO or epoch ms) and until", async () => {
    const app = await makeApp()
    const all = Array.from({ length: 40 }, (_, i) => anomaly(i))
    await Effect.runPromise(app.store.insert(all))
    const t = (k: number) => 1_780_000_000_000 + k * 60_000
    const cases: Array<[string, (a: Anomaly.Anomaly) => boolean]> = [
      ["", () => true],
      ["service=chat", (a) => a.series.service === "chat"],
      ["model=gpt-4o&metric=error.rate", (a) => a.series.metric === "error.rate"],
      ["detector=ewma&service=search", (a) => a.detector === "ewma" && a.series.service === "search"],
      [`since=${t(5)}`, (a) => a.time >= t(5)],
      [`since=${new Date(t(5)).toISOString()}&until=${t(9)}`, (a) => a.time >= t(5) && a.time < t(9)],
      ["service=nobody", () => false]
    ]
    for (const [qs, pred] of cases) {
      const res = await app.fetch(`/v1/anomalies?${qs}`)
      assert.strictEqual(res.status, 200, qs)
      const want = all.filter(pred).sort(AnomalyStore.order)
      assert.deepStrictEqual(
        res.body.items.map((a: Anomaly.Anomaly) => a.id),
        want.map((a) => a.id),
        qs
      )
      assert.isNull(res.body.next)
    }
    const one = await app.fetch("/v1/anomalies?limit=1")
    assert.deepStrictEqual(one.body.items[0], [...all].sort(AnomalyStore.order)[0])
    await app.close()
  })

  it("pages with limit and cursor without gaps or duplicates (default limit 100)", async () => {
    const app = await makeApp()
    const all = Array.from({ length: 230 }, (_, i) => anomaly(i))
    await Effect.runPromise(app.store.insert(all))
    const first = await app.fetch("/v1/anomalies")
    assert.strictEqual(first.body.items.length, 100)
    assert.isString(first.body.next)
    const seen: Array<string> = []
    let next: string | null = null
    let pages = 0
    do {
      const res: { body: AnomalyStore.Page } = await app.fetch(
        `/v1/anomalies?service=chat&limit=7${next === null ? "" : `&cursor=${encodeURIComponent(next)}`}`
      )
      seen.push(...res.body.items.map((a) => a.id))
      next = res.body.next
      pages++
    } while (next !== null && pages < 100)
    const want = all
      .filter((a) => a.series.service === "chat")
      .sort(AnomalyStore.order)
      .map((a) => a.id)
    assert.deepStrictEqual(seen, want)
    assert.strictEqual(pages, Math.ceil(want.length / 7))
    await app.close()
  })

  it("answers 400 with errors naming each invalid parameter", async () => {
    const app = await makeApp()
    const res = await app.fetch("/v1/anomalies?limit=0&since=yesterday&until=12abc&cursor=zzz&colour=red")
    assert.strictEqual(res.status, 400)
    assert.strictEqual(res.headers.get("content-type"), "application/problem+json")
    assert.strictEqual(res.body.type, "https://llm-sentinel.dev/problems/validation")
    assert.strictEqual(res.body.status, 400)
    assert.strictEqual(res.body.title, "Invalid request")
    assert.strictEqual(res.body.code, "validation")
    assert.deepStrictEqual(res.body.errors.map((e: { path: string }) => e.path).sort(), [
      "colour",
      "cursor",
      "limit",
      "since",
      "until"
    ])
    for (const q of ["limit=1001", "limit=2.5", "limit=-1", "service=", "since=2026-11-26T19:00:00"]) {
      const r = await app.fetch(`/v1/anomalies?${q}`)
      assert.strictEqual(r.status, 400, q)
      assert.strictEqual(r.body.errors[0].path, q.split("=")[0], q)
      assert.isString(r.body.errors[0].message)
    }
    await app.close()
  })
})

describe("health, readiness, schema, errors", () => {
  it("healthz is 200; readyz follows the registered checks", async () => {
    const app = await makeApp()
    assert.deepStrictEqual((await app.fetch("/healthz")).body, { status: "ok" })
    const none = await app.fetch("/readyz")
    assert.strictEqual(none.status, 503)
    let pipeline = false
    await Effect.runPromise(app.readiness.register("store", Effect.succeed(true)))
    await Effect.runPromise(
      app.readiness.register(
        "pipeline",
        Effect.sync(() => pipeline)
      )
    )
    const notYet = await app.fetch("/readyz")
    assert.strictEqual(notYet.status, 503)
    assert.deepStrictEqual(notYet.body.checks, { store: true, pipeline: false })
    assert.match(notYet.body.detail, /pipeline/)
    pipeline = true
    // a sink's health is reported, but does not decide readiness (a failing webhook must not stop ingest)
    await Effect.runPromise(app.readiness.register("sink:pager", Effect.succeed(false), { decides: false }))
    await Effect.runPromise(app.readiness.register("sink:hangs", Effect.never, { decides: false }))
    const ready = await app.fetch("/readyz")
    assert.strictEqual(ready.status, 200)
    assert.deepStrictEqual(ready.body, {
      status: "ready",
      checks: { store: true, pipeline: true },
      adapters: { "sink:pager": false, "sink:hangs": false }
    })
    await app.close()
  })

  it("serves the event JSON Schema and the OpenAPI document", async () => {
    const app = await makeApp()
    const schema = await app.fetch("/v1/schema/event")
    assert.strictEqual(schema.status, 200)
    assert.deepStrictEqual(schema.body, JSON.parse(JSON.stringify(Event.jsonSchema())))
    const openapi = await app.fetch("/openapi.json")
    assert.strictEqual(openapi.status, 200)
    assert.containsAllKeys(openapi.body.paths, [
      "/v1/anomalies",
      "/v1/alerts",
      "/healthz",
      "/readyz",
      "/v1/schema/event"
    ])
    // the bearer scheme, and on each operation the scope the server enforces (none on the open routes)
    assert.strictEqual(openapi.body.components.securitySchemes.bearer.scheme, "bearer")
    assert.deepStrictEqual(openapi.body.paths["/v1/alerts"].get.security, [{ bearer: ["read"] }])
    assert.deepStrictEqual(openapi.body.paths["/v1/dead-letters"].get.security, [{ bearer: ["admin"] }])
    assert.deepStrictEqual(openapi.body.paths["/healthz"].get.security, [])
    await app.close()
  })

  it("serves the pipeline's counters in the Prometheus text format", async () => {
    const app = await makeApp()
    await Effect.runPromise(Metric.update(Pipeline.metrics.deadLettered, 3))
    const res = await app.fetch("/metrics")
    assert.strictEqual(res.status, 200)
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/)
    assert.match(res.body, /^sentinel_events_dead_lettered_total \d+$/m)
    await app.close()
  })

  it("answers unknown routes with a 404 and known paths with another method with a 405 naming Allow, as problem documents", async () => {
    const app = await makeApp()
    for (const [path, method, status, allow] of [
      ["/nope", "GET", 404, null],
      ["/v1/events", "GET", 405, "POST"],
      ["/v1/anomalies", "DELETE", 405, "GET"]
    ] as const) {
      const res = await app.fetch(path, { method })
      assert.strictEqual(res.status, status, `${method} ${path}`)
      assert.strictEqual(res.headers.get("content-type"), "application/problem+json")
      assert.strictEqual(res.headers.get("allow"), allow)
      assert.strictEqual(res.body.status, status)
      assert.strictEqual(
        res.body.type,
        `https://llm-sentinel.dev/problems/${status === 404 ? "not-found" : "method-not-allowed"}`
      )
      assert.isString(res.body.title)
      assert.include(res.body.detail, path)
    }
    await app.close()
  })
})

describe("live series and detectors", () => {
  // real MAD verdicts: 40 normal windows then a spike, on 3 series of 2 services
  const feed = (registry: SeriesRegistry.Registry) => {
    const detect = Detector.makeDetectFn({ detectors: [Mad.make()] })
    const keys = [
      Series.makeKey("chat", "gpt-4o", "latency.p95"),
      Series.makeKey("chat", "gpt-4o-mini", "latency.p95"),
      Series.makeKey("search", "gpt-4o", "tokens.out")
    ]
    for (let i = 0; i < 41; i++) {
      const points = keys.map((key, k) => ({
        key,
        time: 1_780_000_000_000 + i * 60_000,
        value: i === 40 && k === 0 ? 5000 : 500 + ((i * 7 + k) % 11)
      }))
      registry.observe(detect.apply(points))
    }
    return keys
  }

  it("lists series with warm-up progress and last point, filters, and pages by keyset", async () => {
    const app = await makeApp()
    const keys = feed(app.registry)
    const all = await app.fetch("/v1/series")
    assert.strictEqual(all.status, 200)
    assert.strictEqual(all.body.total, 3)
    assert.deepStrictEqual(
      all.body.items.map((s: { series: { id: string } }) => s.series.id),
      keys.map((k) => k.id).sort()
    )
    const first = all.body.items.find((s: { series: { id: string } }) => s.series.id === keys[0]?.id)
    assert.deepStrictEqual(first.lastPoint, { time: 1_780_000_000_000 + 40 * 60_000, value: 5000 })
    assert.strictEqual(first.detectors[0].name, "mad")
    assert.strictEqual(first.detectors[0].progress, "MAD ready")
    assert.strictEqual(first.anomalies, 1)
    assert.strictEqual(first.stats.count, 41)
    const chat = await app.fetch("/v1/series?service=chat&limit=1")
    assert.strictEqual(chat.body.total, 2)
    assert.strictEqual(chat.body.items.length, 1)
    assert.isString(chat.body.next)
    const page2 = await app.fetch(`/v1/series?service=chat&limit=1&cursor=${encodeURIComponent(chat.body.next)}`)
    assert.strictEqual(page2.body.items.length, 1)
    assert.notStrictEqual(page2.body.items[0].series.id, chat.body.items[0].series.id)
    assert.isNull(page2.body.next)
    const q = await app.fetch("/v1/series?q=TOKENS")
    assert.deepStrictEqual(
      q.body.items.map((s: { series: { id: string } }) => s.series.id),
      [keys[2]?.id]
    )
    const bad = await app.fetch("/v1/series?state=asleep&limit=0&colour=red")
    assert.strictEqual(bad.status, 400)
    assert.strictEqual(bad.headers.get("content-type"), "application/problem+json")
    assert.deepStrictEqual(bad.body.errors.map((e: { path: string }) => e.path).sort(), ["colour", "limit", "state"])
    await app.close()
  })

  it("shows warm-up as seen/minSamples windows before a detector is ready", async () => {
    const app = await makeApp()
    const detect = Detector.makeDetectFn({ detectors: [Mad.make()] })
    const key = Series.makeKey("chat", "gpt-4o", "latency.p95")
    for (let i = 0; i < 12; i++) app.registry.observe(detect.apply([{ key, time: i * 60_000, value: 500 + i }]))
    const res = await app.fetch("/v1/series?state=warming")
    assert.strictEqual(res.body.total, 1)
    assert.strictEqual(res.body.items[0].detectors[0].progress, "MAD 12/30 windows")
    assert.isTrue(res.body.items[0].warmingUp)
    assert.strictEqual((await app.fetch("/v1/series?state=ready")).body.total, 0)
    await app.close()
  })

  it("serves a series' recent points with band and anomaly markers, by URL-encoded id; unknown ids are a 404 problem", async () => {
    const app = await makeApp()
    const keys = feed(app.registry)
    const id = encodeURIComponent(keys[0]?.id ?? "")
    const res = await app.fetch(`/v1/series/${id}/points?limit=5`)
    assert.strictEqual(res.status, 200)
    assert.strictEqual(res.body.points.length, 5)
    const last = res.body.points[4]
    assert.strictEqual(last.value, 5000)
    assert.isTrue(last.anomalous)
    assert.include(["warning", "critical"], last.severity)
    assert.isNumber(last.expected)
    assert.isTrue(last.lower <= last.expected && last.expected <= last.upper)
    assert.isFalse(res.body.points[0].anomalous)
    const missing = await app.fetch(`/v1/series/${encodeURIComponent("no/such/series")}/points`)
    assert.strictEqual(missing.status, 404)
    assert.strictEqual(missing.body.code, "not-found")
    await app.close()
  })

  it("keeps a bounded ring of points per series", () => {
    const registry = SeriesRegistry.make({ detectors: [Mad.make()], capacity: 10 })
    const detect = Detector.makeDetectFn({ detectors: [Mad.make()] })
    const key = Series.makeKey("chat", "gpt-4o", "latency.p95")
    for (let i = 0; i < 25; i++) registry.observe(detect.apply([{ key, time: i * 60_000, value: 500 }]))
    const found = registry.points(key.id)
    assert.strictEqual(found?.points.length, 10)
    assert.strictEqual(found?.points[0]?.time, 15 * 60_000)
  })

  it("shares one history budget between all series: more series keep fewer points, never under the minimum", () => {
    // one detector: 33 bytes a point; 33,000 bytes are 1,000 points in all
    const registry = SeriesRegistry.make({ detectors: [Mad.make()], historyBytes: 33_000 })
    const detect = Detector.makeDetectFn({ detectors: [Mad.make()] })
    const first = Series.makeKey("chat", "gpt-4o", "latency.p95")
    for (let i = 0; i < 300; i++)
      registry.observe(detect.apply([{ key: first, time: i * 60_000, value: 500 + (i % 7) }]))
    // alone, it keeps the full default capacity
    assert.strictEqual(registry.points(first.id)?.points.length, SeriesRegistry.defaultCapacity)
    const others = Array.from({ length: 49 }, (_, s) => Series.makeKey(`svc-${s}`, "gpt-4o", "latency.p95"))
    for (let i = 300; i < 340; i++) {
      registry.observe(detect.apply([first, ...others].map((key) => ({ key, time: i * 60_000, value: 500 }))))
    }
    // 50 series share 1,000 points: 20 each, the newest ones, in order
    const shrunk = registry.points(first.id)?.points ?? []
    assert.strictEqual(shrunk.length, 20)
    assert.deepStrictEqual(
      shrunk.map((p) => p.time / 60_000),
      Array.from({ length: 20 }, (_, k) => 320 + k)
    )
    assert.strictEqual(registry.points(others[0]!.id)?.points.length, 20)
    const many = Array.from({ length: 500 }, (_, s) => Series.makeKey(`many-${s}`, "gpt-4o", "latency.p95"))
    for (let i = 340; i < 360; i++) {
      registry.observe(detect.apply([first, ...many].map((key) => ({ key, time: i * 60_000, value: 500 }))))
    }
    // 550 series: the share (1 point) is under the floor, so each keeps the minimum
    assert.strictEqual(registry.points(many[0]!.id)?.points.length, SeriesRegistry.minCapacity)
    assert.strictEqual(registry.points(first.id)?.points.length, SeriesRegistry.minCapacity)
    // the summary's statistics are over the points kept
    assert.strictEqual(registry.list({ limit: 1, q: first.id }).items[0]?.stats.count, SeriesRegistry.minCapacity)
  })

  it("keeps the verdicts of a detector the selection did not name, beside the others", () => {
    const registry = SeriesRegistry.make({ detectors: [Mad.make()] })
    const key = Series.makeKey("chat", "gpt-4o", "latency.p95")
    const mad = Detector.makeDetectFn({ detectors: [Mad.make()] })
    const both = Detector.makeDetectFn({ detectors: [Mad.make(), ZScore.make()] })
    for (let i = 0; i < 5; i++) registry.observe(mad.apply([{ key, time: i * 60_000, value: 500 }]))
    for (let i = 5; i < 10; i++) registry.observe(both.apply([{ key, time: i * 60_000, value: 500 }]))
    const points = registry.points(key.id)?.points ?? []
    assert.strictEqual(points.length, 10)
    assert.deepStrictEqual(
      points.map((p) => p.detectors.map((d) => d.name).join("+")),
      [...Array(5).fill("mad"), ...Array(5).fill("mad+zscore")]
    )
    assert.deepStrictEqual(
      registry.points(key.id)?.series.detectors.map((d) => d.name),
      ["mad", "zscore"]
    )
  })

  it("lists every shipped detector with its defaults and parameter schema", async () => {
    const app = await makeApp()
    const res = await app.fetch("/v1/detectors")
    assert.strictEqual(res.status, 200)
    assert.deepStrictEqual(
      res.body.items.map((d: { name: string }) => d.name),
      Catalog.modules().map((m) => m.name)
    )
    const mad = res.body.items.find((d: { name: string }) => d.name === "mad")
    assert.strictEqual(mad.defaults.minSamples, 30)
    await app.close()
  })

  it("documents every route in one OpenAPI 3.1 document", async () => {
    const app = await makeApp()
    const res = await app.fetch("/openapi.json")
    assert.strictEqual(res.status, 200)
    assert.match(res.body.openapi, /^3\.1\./)
    for (const [path, method] of [
      ["/v1/anomalies", "get"],
      ["/v1/series", "get"],
      ["/v1/series/{id}/points", "get"],
      ["/v1/detectors", "get"],
      ["/v1/dead-letters", "get"],
      ["/v1/schema/event", "get"],
      ["/healthz", "get"],
      ["/readyz", "get"]
    ] as const) {
      assert.isObject(res.body.paths[path]?.[method], `${method} ${path}`)
    }
    const errors = res.body.paths["/v1/series"].get.responses["400"].content
    assert.isObject(errors["application/problem+json"])
    const docs = await app.fetch("/docs")
    assert.strictEqual(docs.status, 200)
    assert.match(docs.headers.get("content-type") ?? "", /^text\/html/)
    for (const path of Object.keys(res.body.paths)) assert.include(docs.body, `<code>${path}</code>`)
    assert.notMatch(docs.body, /<script|https?:\/\/(?!llm-sentinel\.dev)/)
    await app.close()
  })
})
