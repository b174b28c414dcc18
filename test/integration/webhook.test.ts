// The webhook sink against a real HTTP receiver on 127.0.0.1 that checks signatures with its own HMAC code and
// fails on purpose (5xx, 429 with Retry-After, a request it never answers).
import { assert, describe, it } from "@effect/vitest"
import { Webhook } from "@llm-sentinel/adapters"
import { type Alert, AlertSink, DeadLetterSink } from "@llm-sentinel/core"
import { Effect, Layer, Redacted, Schema } from "effect"
import { opened, resolved } from "./fixtures.ts"
import { closedPort, receiver } from "./receiver.ts"

const secret = "whsec-test-0123456789"

const run = <A, E>(
  config: Webhook.Config,
  use: Effect.Effect<A, E, Webhook.Webhook | AlertSink.AlertSink | DeadLetterSink.Memory>
) => use.pipe(Effect.provide(Webhook.layer(config).pipe(Layer.provideMerge(DeadLetterSink.layerMemory))))

const write = (events: ReadonlyArray<Alert.AlertEvent>) => AlertSink.AlertSink.use((s) => s.write(events))
const deadLetters = DeadLetterSink.Memory.use((m) => m.written)
const counters = Webhook.Webhook.use((w) => w.counters.values)

describe("Webhook", () => {
  it.live("signs the exact bytes it sends; the body is the documented payload", () =>
    Effect.gen(function* () {
      const rx = yield* receiver(secret)
      const events = [opened(1), resolved(1)]
      const [c, dl] = yield* run(
        { url: rx.url, secret: Redacted.make(secret), name: "signed" },
        Effect.andThen(write(events), Effect.all([counters, deadLetters]))
      )
      assert.strictEqual(rx.received.length, 2)
      for (const [i, r] of rx.received.entries()) {
        assert.isTrue(r.signatureOk, "the receiver's own HMAC check passes")
        assert.strictEqual(
          Webhook.verify({
            secret,
            body: r.body,
            timestamp: r.headers["x-sentinel-timestamp"],
            signature: r.headers["x-sentinel-signature"]
          }),
          "valid"
        )
        const payload = Schema.decodeUnknownSync(Schema.fromJsonString(Webhook.Payload))(r.body.toString("utf8"))
        assert.strictEqual(payload.type, `alert.${events[i]!._tag}`)
        assert.deepStrictEqual(payload.event, events[i])
        assert.strictEqual(r.headers["x-sentinel-delivery"], payload.id)
        assert.strictEqual(r.headers["content-type"], "application/json")
      }
      assert.notStrictEqual(
        rx.received[0]!.headers["x-sentinel-delivery"],
        rx.received[1]!.headers["x-sentinel-delivery"]
      )
      assert.deepStrictEqual(c, { received: 2, sent: 2, retried: 0, dropped: 0, errors: 0 })
      assert.strictEqual(dl.length, 0)
    })
  )

  it.live("retries 5xx, 429 (waiting its Retry-After) and a hang, then delivers the same bytes", () =>
    Effect.gen(function* () {
      const rx = yield* receiver(secret)
      rx.script([{ status: 500 }, { status: 429, headers: { "retry-after": "1" } }, { hang: true }, { status: 200 }])
      const started = Date.now()
      const [c, dl, healthy] = yield* run(
        {
          url: rx.url,
          secret: Redacted.make(secret),
          name: "flaky",
          timeout: "400 millis",
          retries: 5,
          retryBaseDelay: "20 millis"
        },
        Effect.andThen(write([opened(2)]), Effect.all([counters, deadLetters, Webhook.Webhook.use((w) => w.health)]))
      )
      const got = rx.received
      assert.deepStrictEqual(
        got.map((r) => r.replied),
        [500, 429, "hang", 200]
      )
      assert.isTrue(
        got.every((r) => r.signatureOk),
        "every attempt is signed"
      )
      assert.isTrue(
        got.every((r) => r.body.equals(got[0]!.body)),
        "every attempt sends the same bytes"
      )
      const afterRetryAfter = got[2]!.at - got[1]!.at
      assert.isAtLeast(afterRetryAfter, 1000, `waited ${afterRetryAfter} ms after 429 Retry-After: 1`)
      assert.isBelow(afterRetryAfter, 3000, "Retry-After is waited for, not much longer")
      const afterHang = got[3]!.at - got[2]!.at
      assert.isAtLeast(afterHang, 400, "the hanging attempt timed out after 400 ms")
      assert.isBelow(Date.now() - started, 10_000)
      assert.deepStrictEqual(c, { received: 1, sent: 1, retried: 3, dropped: 0, errors: 3 })
      assert.strictEqual(dl.length, 0)
      assert.isTrue(healthy)
    })
  )

  it.live("after the last try the alert goes to the dead-letter sink, and the write succeeds", () =>
    Effect.gen(function* () {
      const rx = yield* receiver(secret)
      rx.script([], { status: 503 })
      const event = opened(3)
      const [c, dl, healthy] = yield* run(
        { url: rx.url, secret: Redacted.make(secret), name: "down", retries: 2, retryBaseDelay: "10 millis" },
        Effect.andThen(write([event]), Effect.all([counters, deadLetters, Webhook.Webhook.use((w) => w.health)]))
      )
      assert.strictEqual(rx.received.length, 3, "first try + 2 retries")
      assert.strictEqual(dl.length, 1)
      const letter = dl[0]!
      assert.deepStrictEqual((letter.payload as { event: unknown }).event, event)
      assert.include(letter.errors[0]!.message, "HTTP 503")
      assert.include(letter.source, "webhook down: undeliverable alert")
      assert.deepStrictEqual(c, { received: 1, sent: 0, retried: 2, dropped: 1, errors: 3 })
      assert.isFalse(healthy, "unhealthy after a dead letter")
    })
  )

  it.live("while the destination is down each further alert gets one try; a delivery restores the retries", () =>
    Effect.gen(function* () {
      const rx = yield* receiver()
      rx.script([], { status: 503 })
      const config = { url: rx.url, name: "recovering", retries: 2, retryBaseDelay: "10 millis" } as const
      const [c, dl, healthy] = yield* run(
        config,
        Effect.gen(function* () {
          yield* write([opened(20)]) // 3 attempts, dead-lettered
          yield* write([opened(21)]) // known down: 1 attempt, dead-lettered
          rx.script([{ status: 503 }], { status: 204 })
          yield* write([opened(22)]) // 1 attempt fails, dead-lettered
          yield* write([opened(23)]) // delivered: healthy again
          rx.script([{ status: 503 }], { status: 204 })
          yield* write([opened(24)]) // healthy: a 503 is retried, then delivered
          return yield* Effect.all([counters, deadLetters, Webhook.Webhook.use((w) => w.health)])
        })
      )
      assert.deepStrictEqual(
        rx.received.map((r) => r.replied),
        [503, 503, 503, 503, 503, 204, 503, 204]
      )
      assert.strictEqual(dl.length, 3)
      assert.deepStrictEqual(c, { received: 5, sent: 2, retried: 3, dropped: 3, errors: 6 })
      assert.isTrue(healthy)
    })
  )

  it.effect("a configuration built in code with a bad duration fails the layer with a typed error", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Layer.build(Webhook.layer({ url: "http://127.0.0.1:1/h", timeout: "soon" })).pipe(
          Effect.provide(DeadLetterSink.layerMemory),
          Effect.scoped
        )
      )
      assert.strictEqual(error._tag, "WebhookError")
      assert.strictEqual(error.reason._tag, "Invalid")
      assert.include(error.message, "timeout")
    })
  )

  it.live("a 4xx other than 429 is not retried; an unreachable destination is retried, then dead-lettered", () =>
    Effect.gen(function* () {
      const rx = yield* receiver(secret)
      rx.script([{ status: 400, body: "bad" }])
      const [c1, dl1] = yield* run(
        { url: rx.url, name: "refuses", retries: 3, retryBaseDelay: "10 millis" },
        Effect.andThen(write([opened(4)]), Effect.all([counters, deadLetters]))
      )
      assert.strictEqual(rx.received.length, 1)
      assert.strictEqual(dl1.length, 1)
      assert.include(dl1[0]!.errors[0]!.message, "HTTP 400: bad")
      assert.deepStrictEqual(c1, { received: 1, sent: 0, retried: 0, dropped: 1, errors: 1 })
      const port = yield* closedPort
      const [c2, dl2] = yield* run(
        { url: `http://127.0.0.1:${port}/hook`, name: "unreachable", retries: 2, retryBaseDelay: "10 millis" },
        Effect.andThen(write([opened(5)]), Effect.all([counters, deadLetters]))
      )
      assert.strictEqual(dl2.length, 1)
      assert.include(dl2[0]!.errors[0]!.message, "ECONNREFUSED")
      assert.deepStrictEqual(c2, { received: 1, sent: 0, retried: 2, dropped: 1, errors: 3 })
    })
  )

  it.live("a per-destination rate limit spaces requests out", () =>
    Effect.gen(function* () {
      const rx = yield* receiver()
      const events = Array.from({ length: 6 }, (_, i) => opened(10 + i))
      yield* run({ url: rx.url, name: "limited", ratePerSecond: 10, burst: 1 }, write(events))
      const at = rx.received.map((r) => r.at)
      assert.strictEqual(at.length, 6)
      const span = at[5]! - at[0]!
      assert.isAtLeast(span, 450, `6 requests at 10/s with burst 1 took ${span} ms`)
    })
  )

  it("verify rejects replays, tampering, a wrong secret and missing headers", () => {
    const body = Webhook.body(opened(1))
    const now = 1_800_000_000_000
    const ts = String(now / 1000 - 60)
    const signature = Webhook.sign(secret, ts, new TextEncoder().encode(body))
    assert.strictEqual(Webhook.verify({ secret, body, timestamp: ts, signature, now }), "valid")
    assert.strictEqual(
      Webhook.verify({ secret, body, timestamp: ts, signature, now: now + 10 * 60_000 }),
      "expired",
      "10 minutes later it is a replay"
    )
    assert.strictEqual(
      Webhook.verify({ secret, body, timestamp: ts, signature, now: now + 10 * 60_000, tolerance: "15 minutes" }),
      "valid"
    )
    assert.strictEqual(Webhook.verify({ secret, body: `${body} `, timestamp: ts, signature, now }), "mismatch")
    assert.strictEqual(Webhook.verify({ secret: "other", body, timestamp: ts, signature, now }), "mismatch")
    assert.strictEqual(
      Webhook.verify({ secret, body, timestamp: String(Number(ts) + 1), signature, now }),
      "mismatch",
      "the timestamp is signed too"
    )
    assert.strictEqual(
      Webhook.verify({ secret, body, timestamp: ts, signature: `v1=00, ${signature}`, now }),
      "valid",
      "one of several signatures (secret rotation)"
    )
    assert.strictEqual(Webhook.verify({ secret, body, timestamp: undefined, signature, now }), "missing")
    assert.strictEqual(Webhook.verify({ secret, body, timestamp: ts, signature: "sha1=abc", now }), "malformed")
  })

  it.effect("config: unknown fields and bad durations are errors; the secret stays redacted", () =>
    Effect.gen(function* () {
      const ok = yield* Webhook.decodeConfig({ url: "https://example.test/h", secret: "s3cret", timeout: "2 seconds" })
      assert.isTrue(Redacted.isRedacted(ok.secret))
      assert.notInclude(JSON.stringify(ok), "s3cret")
      assert.notInclude(String(ok.secret), "s3cret")
      const bad = yield* Effect.flip(
        Webhook.decodeConfig({ url: "ftp://x", secrett: "typo", timeout: "soon", retries: -1 })
      )
      for (const part of ["secrett", "timeout", "retries", "url"]) assert.include(bad.message, part)
    })
  )
})
