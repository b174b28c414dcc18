// The Slack sink against a real HTTP receiver on 127.0.0.1 playing an incoming webhook: Block Kit bodies,
// "resolved" posts, observed vs expected from the anomalies, and Slack's 429 + Retry-After.
import { assert, describe, it } from "@effect/vitest"
import { Slack } from "@llm-sentinel/adapters"
import { AlertSink, AnomalySink, DeadLetterSink } from "@llm-sentinel/core"
import { Effect, Layer, Redacted } from "effect"
import { anomaly, key, opened, resolved } from "./fixtures.ts"
import { receiver } from "./receiver.ts"

interface Block {
  readonly type: string
  readonly text?: { readonly text: string }
  readonly fields?: ReadonlyArray<{ readonly text: string }>
  readonly elements?: ReadonlyArray<{ readonly url?: string; readonly text?: unknown }>
}
const parse = (b: Buffer) => JSON.parse(b.toString("utf8")) as { text: string; blocks: ReadonlyArray<Block> }
const fields = (m: { blocks: ReadonlyArray<Block> }) =>
  m.blocks.flatMap((b) => b.fields ?? []).map((f) => f.text.replace(/\n/, ": "))

describe("Slack", () => {
  it.live("posts Block Kit messages: what fired, series, observed vs expected, severity, dashboard; resolved", () =>
    Effect.gen(function* () {
      const rx = yield* receiver()
      const slack = Slack.layer({
        url: Redacted.make(rx.url),
        dashboardUrl: "http://127.0.0.1:7300/?series={series}",
        ratePerSecond: 50
      }).pipe(Layer.provideMerge(DeadLetterSink.layerMemory))
      const sinks = Slack.layerObserveAnomalies.pipe(Layer.provideMerge(Layer.merge(slack, AnomalySink.layerMemory)))
      const a = { ...anomaly(0), series: key }
      const stored = yield* Effect.gen(function* () {
        yield* AnomalySink.AnomalySink.use((s) => s.write([a]))
        yield* AlertSink.AlertSink.use((s) =>
          s.write([opened(1), resolved(1), { _tag: "storm", time: 0, suppressed: 7 }])
        )
        return yield* AnomalySink.Memory.use((m) => m.written)
      }).pipe(Effect.provide(sinks))
      assert.strictEqual(stored.length, 1, "the wrapped anomaly sink still receives the anomalies")
      assert.strictEqual(rx.received.length, 3)
      const [open, done, storm] = rx.received.map((r) => parse(r.body))
      assert.include(open!.text, "Alert (critical): latencyMs on checkout / gpt-4o")
      assert.strictEqual(open!.blocks[0]!.type, "header")
      assert.includeMembers(fields(open!), [
        "*Series*: `checkout/gpt-4o/latencyMs`",
        "*Severity*: critical",
        "*Observed*: 800",
        "*Expected*: 240.5 (180 – 300.3)"
      ])
      const button = open!.blocks.find((b) => b.type === "actions")!.elements![0]!
      assert.strictEqual(button.url, "http://127.0.0.1:7300/?series=checkout%2Fgpt-4o%2FlatencyMs")
      assert.include(done!.text, "Resolved: latencyMs on checkout / gpt-4o")
      assert.includeMembers(fields(done!), ["*Open for*: 5 min", "*Detectors*: mad, seasonal"])
      assert.include(storm!.text, "7 new alerts suppressed")
      assert.strictEqual(rx.received[0]!.headers["x-sentinel-signature"], undefined, "Slack bodies are not signed")
    })
  )

  it.live("honours Slack's 429 Retry-After, then delivers; a 404 (deleted webhook) is dead-lettered", () =>
    Effect.gen(function* () {
      const rx = yield* receiver()
      rx.script([
        { status: 429, headers: { "retry-after": "1" }, body: "rate_limited" },
        { status: 200, body: "ok" }
      ])
      const layer = Slack.layer({ url: Redacted.make(rx.url), retryBaseDelay: "10 millis" }).pipe(
        Layer.provideMerge(DeadLetterSink.layerMemory)
      )
      const [c, dl] = yield* Effect.gen(function* () {
        yield* AlertSink.AlertSink.use((s) => s.write([opened(2)]))
        rx.script([{ status: 404, body: "no_service" }])
        yield* AlertSink.AlertSink.use((s) => s.write([opened(3)]))
        return yield* Effect.all([
          Slack.Slack.use((s) => s.counters.values),
          DeadLetterSink.Memory.use((m) => m.written)
        ])
      }).pipe(Effect.provide(layer))
      const at = rx.received.map((r) => r.at)
      assert.strictEqual(at.length, 3)
      assert.isAtLeast(at[1]! - at[0]!, 1000)
      assert.strictEqual(dl.length, 1)
      assert.include(dl[0]!.errors[0]!.message, "HTTP 404: no_service")
      assert.deepStrictEqual(c, { received: 2, sent: 1, retried: 1, dropped: 1, errors: 2 })
    })
  )

  it.effect("config: the webhook URL is redacted; unknown fields are errors", () =>
    Effect.gen(function* () {
      const url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
      const ok = yield* Slack.decodeConfig({ url, dashboardUrl: "http://127.0.0.1:7300/" })
      assert.notInclude(String(ok.url), "XXXXSECRET")
      assert.strictEqual(Redacted.value(ok.url), url)
      const bad = yield* Effect.flip(Slack.decodeConfig({ url, channel: "#ops" }))
      assert.include(bad.message, "channel")
    })
  )
})
