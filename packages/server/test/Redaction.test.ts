import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { AlertSink, AnomalySink, DeadLetterSink, Event, EventSource, Pipeline, Verdict } from "@llm-sentinel/core"
import { Mad } from "@llm-sentinel/detectors"
import { Context, Effect, Exit, Layer, Result, Scope } from "effect"
import { HttpServer } from "effect/http"
import * as Journal from "../src/Journal.ts"
import * as Redaction from "../src/Redaction.ts"
import * as Serve from "../src/Serve.ts"

// what must never reach a sink
const EMAIL = "alice.smith@example.com"
const API_KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx"
const CARD = "4111 1111 1111 1111"
const PROMPT = "Tell me the launch codes of project nightingale"
const secrets = [EMAIL, API_KEY, CARD, "4111111111111111", PROMPT, "nightingale"]

const assertClean = (what: string, value: unknown) => {
  const text = typeof value === "string" ? value : JSON.stringify(value)
  for (const s of secrets) assert.notInclude(text, s, `${what} holds ${s}`)
}

const T0 = Date.UTC(2026, 10, 1)

const leaky = (i: number, latencyMs: number) => ({
  timestamp: T0 + i * 1000,
  service: "chat",
  model: "gpt-4o",
  latencyMs,
  status: "error",
  errorType: `quota exceeded for ${EMAIL}`,
  attributes: {
    "user.email": EMAIL,
    "billing.card": `card ${CARD} on file`,
    "request.header": `Authorization: Bearer ${API_KEY}`,
    "gen_ai.prompt": PROMPT,
    "gen_ai.usage.prompt_tokens": 12,
    region: "eu-west-1"
  }
})

describe("Redaction: patterns", () => {
  const r = Redaction.make()

  it("redacts emails, API keys and card numbers, and leaves ordinary text alone", () => {
    assert.strictEqual(r.text(`mail ${EMAIL} now`), "mail [redacted] now")
    assert.strictEqual(r.text(`key=${API_KEY}`), "key=[redacted]")
    assert.strictEqual(r.text("sk-ant-api03-abcdefghijklmnopqrstuvwxyz"), "[redacted]")
    assert.strictEqual(r.text("AKIAIOSFODNN7EXAMPLE"), "[redacted]")
    assert.strictEqual(r.text("ghp_abcdefghijklmnopqrstuvwxyz0123456789"), "[redacted]")
    assert.strictEqual(r.text("Bearer abcdefghijklmnop0123"), "[redacted]")
    assert.strictEqual(r.text("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"), "[redacted]")
    assert.strictEqual(r.text(`card ${CARD}.`), "card [redacted].")
    assert.strictEqual(r.text("4111-1111-1111-1111"), "[redacted]")
    // digits that fail the Luhn check (ids, timestamps) are not card numbers
    assert.strictEqual(r.text("order 4111111111111112"), "order 4111111111111112")
    assert.strictEqual(r.text("1764700000000"), "1764700000000")
    for (const plain of ["eu-west-1", "gpt-4o-mini", "task-1234", "skip-this", "4bf92f3577b34da6a3ce929d0e0e4736"]) {
      assert.strictEqual(r.text(plain), plain)
    }
  })

  it("takes the configured built-ins, patterns and replacement", () => {
    const custom = Redaction.make({
      redact: { builtin: ["email"], patterns: [{ name: "ticket", regex: "TICKET-\\d+" }], replacement: "***" }
    })
    assert.strictEqual(custom.text(`${EMAIL} TICKET-42 ${API_KEY}`), `*** *** ${API_KEY}`)
    assert.deepStrictEqual(custom.patterns, ["email", "ticket"])
    const none = Redaction.make({ redact: { builtin: [] } })
    assert.strictEqual(none.text(EMAIL), EMAIL)
  })

  it("knows the attribute keys of prompt and response text", () => {
    for (const k of [
      "gen_ai.prompt",
      "gen_ai.completion.0.content",
      "gen_ai.input.messages",
      "gen_ai.system_instructions",
      "llm.input_messages.0.message.content",
      "input.value",
      "output.value",
      "prompt",
      "Response",
      "gen_ai.tool.call.arguments"
    ]) {
      assert.isTrue(Redaction.isTextKey(k), k)
    }
    for (const k of ["gen_ai.usage.prompt_tokens", "region", "http.response.status_code", "user.email"]) {
      assert.isFalse(Redaction.isTextKey(k), k)
    }
  })
})

describe("Redaction: events and rejected records", () => {
  const decodeOne = (raw: unknown) => {
    const d = Event.decodeBatch([raw])
    assert.lengthOf(d.events, 1)
    return d.events[0]!
  }

  it("drops text attributes, redacts values and errorType, keeps the rest", () => {
    const e = Redaction.make().event(decodeOne(leaky(0, 500)))
    assertClean("event", e)
    assert.deepStrictEqual(e.attributes, {
      "user.email": "[redacted]",
      "billing.card": "card [redacted] on file",
      "request.header": "Authorization: [redacted]",
      "gen_ai.usage.prompt_tokens": 12,
      region: "eu-west-1"
    })
    assert.strictEqual(e.errorType, "quota exceeded for [redacted]")
    const kept = Redaction.make({ storeText: true }).event(decodeOne(leaky(0, 500)))
    assert.strictEqual(kept.attributes?.["gen_ai.prompt"], PROMPT)
  })

  it("gives back the very event when there is nothing to redact, and the same array for a clean batch", () => {
    const r = Redaction.make()
    const clean = decodeOne({ timestamp: T0, service: "chat", model: "gpt-4o", latencyMs: 1, attributes: { a: "b" } })
    assert.strictEqual(r.event(clean), clean)
    const list = [clean]
    const out = r.events(list)
    assert.strictEqual(out.events, list)
    assert.isFalse(out.changed)
    assert.isTrue(r.events([decodeOne(leaky(0, 1))]).changed)
  })

  it("a redacted event is still valid: values never grow past the Schema's limits", () => {
    const r = Redaction.make({ redact: { replacement: "[a much longer replacement text]" } })
    const long = `${"x".repeat(1000)} ${"a@b.co "}`.slice(0, 1024)
    const e = r.event(
      decodeOne({
        timestamp: T0,
        service: "s",
        model: "m",
        latencyMs: 1,
        errorType: `${"e".repeat(240)} a@b.co`,
        attributes: { note: long }
      })
    )
    assert.isAtMost(String(e.attributes?.note).length, 1024)
    assert.isAtMost(String(e.errorType).length, 256)
    const again = Event.decodeBatch([JSON.parse(JSON.stringify(e))])
    assert.lengthOf(again.events, 1)
    assert.deepStrictEqual(r.event(again.events[0]!), again.events[0])
  })

  it("redacts every string and key of a rejected record's payload and its error messages", () => {
    const raw = { ...leaky(0, -1), prompt: PROMPT, [`tag:${EMAIL}`]: true, nested: [{ k: API_KEY }] }
    const d = Event.decodeBatch([raw])
    assert.lengthOf(d.rejected, 1)
    const r = Redaction.make().rejected(d.rejected[0]!)
    assertClean("rejected", r)
    assert.isAbove(r.errors.length, 0)
  })
})

describe("Redaction: no sink receives a secret", () => {
  it.effect("raw records of a source → pipeline → anomaly, alert and dead-letter sinks", () =>
    Effect.gen(function* () {
      const records: Array<unknown> = []
      for (let w = 0; w < 60; w++) {
        for (let j = 0; j < 5; j++) records.push(leaky(w * 10 + j, w >= 50 ? 9000 + j : 500 + ((w * 7 + j) % 5)))
      }
      // invalid records: their payloads go to the dead letters
      records.push({ ...leaky(1, 500), prompt: PROMPT }, { ...leaky(2, 500), latencyMs: -1 }, `${EMAIL} is not JSON`)
      const config = Result.getOrThrow(
        Pipeline.makeConfig({
          detectors: [Mad.make()],
          window: "10 seconds",
          maxDelay: "1 second",
          signals: ["latency.p95"],
          decide: Verdict.threshold({ warning: 4, critical: 6 })
        })
      )
      const source = Redaction.layerSource(Redaction.make())(EventSource.layerFromIterable(records, { batchSize: 50 }))
      const sinks = Layer.mergeAll(AnomalySink.layerMemory, DeadLetterSink.layerMemory, AlertSink.layerMemory)
      const context = yield* Layer.build(Layer.merge(source, sinks))
      yield* Pipeline.make(config).run.pipe(Effect.provide(context))
      const anomalies = yield* Context.get(context, AnomalySink.Memory).written
      const alerts = yield* Context.get(context, AlertSink.Memory).written
      const dead = yield* Context.get(context, DeadLetterSink.Memory).written
      assert.isAbove(anomalies.length, 0)
      assert.isAbove(alerts.length, 0)
      assert.lengthOf(dead, 3)
      assertClean("anomalies", anomalies)
      assertClean("alerts", alerts)
      assertClean("dead letters", dead)
      // what was redacted is still there as a placeholder, so an operator sees why a record was refused
      assert.include(JSON.stringify(dead), "[redacted]")
    }).pipe(Effect.scoped)
  )

  const startServer = async (dataDir: string) => {
    const scope = Effect.runSync(Scope.make())
    const context = await Effect.runPromise(
      Layer.buildWithScope(Serve.layer({ ...Serve.defaults, port: 0, dataDir, window: "1 second" }), scope)
    )
    const address = HttpServer.formatAddress(Context.get(context, HttpServer.HttpServer).address)
    return {
      url: address.replace(/\/$/, ""),
      stop: () => Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }

  const waitFor = async <A>(f: () => Promise<A | undefined>, ms = 15_000): Promise<A> => {
    const end = Date.now() + ms
    for (;;) {
      const a = await f()
      if (a !== undefined) return a
      if (Date.now() > end) throw new Error("timed out")
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  const journalText = (dataDir: string) =>
    fs
      .readdirSync(path.join(dataDir, "journal"))
      .map((f) => fs.readFileSync(path.join(dataDir, "journal", f), "utf8"))
      .join("\n")

  it("HTTP (JSON and NDJSON) and OTLP ingest → journal → embedded store, and journal replay → dead letters", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sentinel-privacy-"))
    try {
      const now = Date.now()
      const fresh = (i: number) => ({ ...leaky(i, 500), timestamp: now - 10_000 + i })
      let server = await startServer(dataDir)
      try {
        const post = (p: string, body: string, contentType: string) =>
          fetch(`${server.url}${p}`, { method: "POST", body, headers: { "content-type": contentType } })
        assert.strictEqual(
          (await post("/v1/events", JSON.stringify([fresh(0), fresh(1)]), "application/json")).status,
          202
        )
        const ndjson = [fresh(2), fresh(3)].map((e) => JSON.stringify(e)).join("\n")
        assert.strictEqual((await post("/v1/events", ndjson, "application/x-ndjson")).status, 202)
        const span = {
          traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
          spanId: "00f067aa0ba902b7",
          name: "chat gpt-4o",
          startTimeUnixNano: String(BigInt(now - 5000) * 1_000_000n),
          endTimeUnixNano: String(BigInt(now - 4000) * 1_000_000n),
          attributes: [{ key: "gen_ai.request.model", value: { stringValue: "gpt-4o" } }],
          status: { code: 2, message: `rate limited for ${EMAIL} using ${API_KEY}` }
        }
        const otlp = {
          resourceSpans: [
            {
              resource: { attributes: [{ key: "service.name", value: { stringValue: "chat" } }] },
              scopeSpans: [{ spans: [span] }]
            }
          ]
        }
        assert.strictEqual((await post("/v1/traces", JSON.stringify(otlp), "application/json")).status, 200)
        const journal = journalText(dataDir)
        assert.include(journal, "[redacted]")
        assert.include(journal, "eu-west-1")
        assertClean("journal", journal)
      } finally {
        await server.stop()
      }

      // a journal written without redaction (another version, or another configuration): replay redacts it
      const legacy = [fresh(4), { ...fresh(5), prompt: PROMPT }, { ...fresh(6), latencyMs: -1 }]
      await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const j = Context.get(
              yield* Layer.build(Journal.layer({ dir: path.join(dataDir, "journal") })),
              Journal.Journal
            )
            yield* j.append([], JSON.stringify(legacy))
          })
        )
      )
      server = await startServer(dataDir)
      try {
        const dead = await waitFor(async () => {
          const body = (await (await fetch(`${server.url}/v1/dead-letters?limit=10`)).json()) as {
            items: Array<unknown>
          }
          return body.items.length >= 2 ? body.items : undefined
        })
        assert.lengthOf(dead, 2)
        assertClean("dead letters", dead)
        assert.include(JSON.stringify(dead), "[redacted]")
        const anomalies = await (await fetch(`${server.url}/v1/anomalies`)).text()
        assertClean("anomalies", anomalies)
      } finally {
        await server.stop()
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
