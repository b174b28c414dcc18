/**
 * The webhook alert sink: POSTs each alert event as JSON to a URL (an incident tool, a chat bridge, your own
 * service), signed, retried, rate limited, and dead-lettered when it still fails, so no alert is lost.
 *
 * The body is `{"id": <delivery id>, "type": "alert.<_tag>", "event": <AlertEvent>}` ({@link Payload}). The
 * delivery id is deterministic (the same alert event replayed after a restart has the same id), and it is also
 * sent as `X-Sentinel-Delivery`, so a receiver can drop repeats.
 *
 * Signing (when `secret` is set): each attempt sends `X-Sentinel-Timestamp` (Unix seconds of the attempt) and
 * `X-Sentinel-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body bytes)>`, over the exact bytes sent.
 * A receiver checks it with {@link verify} (or the same few lines in any language) and rejects a timestamp
 * older than its tolerance, so a captured request cannot be replayed later:
 *
 * ```ts
 * import { createServer } from "node:http"
 * import { Webhook } from "@llm-sentinel/adapters"
 * createServer((req, res) => {
 *   const chunks: Array<Buffer> = []
 *   req.on("data", (c) => chunks.push(c)).on("end", () => {
 *     const body = Buffer.concat(chunks) // verify the raw bytes, before any JSON parsing
 *     const verdict = Webhook.verify({
 *       secret: process.env.SENTINEL_WEBHOOK_SECRET!,
 *       body,
 *       timestamp: req.headers["x-sentinel-timestamp"],
 *       signature: req.headers["x-sentinel-signature"],
 *       tolerance: "5 minutes"
 *     })
 *     res.writeHead(verdict === "valid" ? 204 : 401).end()
 *   })
 * }).listen(8080)
 * ```
 *
 * Retries: on connection errors, timeouts, 408, 429 and 5xx, up to `retries` more attempts, with exponential
 * backoff and jitter (`retryBaseDelay` doubling up to `retryMaxDelay`), or the delay the peer's `Retry-After`
 * asks for (capped at `retryMaxDelay`). Other 4xx answers are not retried. After the last try the event goes to
 * the `DeadLetterSink` with the reason. While a destination is down (its last event was dead-lettered), each
 * further event gets one try only, until one is delivered: a dead destination must not hold the pipeline for a
 * whole retry schedule per alert. Each destination has its own token bucket (`ratePerSecond`, `burst`).
 *
 * @since 0.1.0
 */
import { timingSafeEqual } from "node:crypto"
import { Alert, AlertSink } from "@llm-sentinel/core"
import { DeadLetterSink } from "@llm-sentinel/core/DeadLetterSink"
import { Context, type Duration, Effect, Layer, Redacted, Schema } from "effect"
import * as AdapterError from "./AdapterError.ts"
import * as AlertJson from "./AlertJson.ts"
import type * as Counters from "./Counters.ts"
import * as Delivery from "./internal/delivery.ts"
import * as Http from "./internal/http.ts"

/**
 * The webhook's configuration. Unknown fields are errors ({@link decodeConfig}).
 *
 * @category models
 * @since 0.1.0
 */
export const Config = Schema.Struct({
  /** Where to POST. */
  url: Http.HttpUrl,
  /** The destination's name in metrics and logs (default: the URL's host). */
  name: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  /** The HMAC-SHA256 signing secret; without it requests are not signed. */
  secret: Schema.optionalKey(Schema.RedactedFromValue(Schema.String.check(Schema.isNonEmpty()))),
  /** Extra request headers (e.g. an API key of the receiver), kept redacted. */
  headers: Schema.optionalKey(Schema.Record(Schema.String, Schema.RedactedFromValue(Schema.String))),
  /** Time limit of one attempt (default 10 seconds). */
  timeout: Schema.optionalKey(Http.DurationInput),
  /** Attempts after the first (default 5). */
  retries: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100 }))),
  /** First backoff delay, doubled on each retry (default 500 millis). */
  retryBaseDelay: Schema.optionalKey(Http.DurationInput),
  /** Longest wait between attempts, also the cap on `Retry-After` (default 30 seconds). */
  retryMaxDelay: Schema.optionalKey(Http.DurationInput),
  /** Requests per second to this destination (default 10). */
  ratePerSecond: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThan(0))),
  /** Requests that may go at once after a quiet period (default 10). */
  burst: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)))
}).annotate({ identifier: "WebhookConfig" })

/**
 * @category models
 * @since 0.1.0
 */
export type Config = typeof Config.Type

/**
 * Decodes a configuration (e.g. from a JSON or YAML file): unknown fields are errors, every problem reported.
 *
 * @category constructors
 * @since 0.1.0
 */
export const decodeConfig = (input: unknown): Effect.Effect<Config, Schema.SchemaError> =>
  Schema.decodeUnknownEffect(Config)(input, Http.strict)

/**
 * The body of one webhook request.
 *
 * @category models
 * @since 0.1.0
 */
export const Payload = Schema.Struct({
  id: Schema.String,
  type: Schema.Literals(["alert.opened", "alert.escalated", "alert.resolved", "alert.storm"]),
  event: Alert.AlertEvent
}).annotate({ identifier: "WebhookPayload" })

/**
 * The body text of an alert event.
 *
 * @category combinators
 * @since 0.1.0
 */
export const body = (event: Alert.AlertEvent, id: string = AlertJson.deliveryId(event)): string =>
  `{"id":${JSON.stringify(id)},"type":"alert.${event._tag}","event":${AlertJson.encode(event)}}`

/**
 * The webhook failed to deliver after its retries.
 *
 * @category errors
 * @since 0.1.0
 */
export class WebhookError extends Schema.TaggedError<WebhookError>("@llm-sentinel/adapters/WebhookError")(
  "WebhookError",
  { destination: Schema.String, reason: AdapterError.Reason }
) {
  get isRetryable(): boolean {
    return this.reason.isRetryable
  }
  override get message(): string {
    return `webhook ${this.destination}: ${this.reason.message}`
  }
}

/**
 * The webhook client.
 *
 * @category services
 * @since 0.1.0
 */
export class Webhook extends Context.Service<
  Webhook,
  {
    /** Delivers one alert event, with retries; no dead-lettering (the `AlertSink` does that). */
    readonly send: (event: Alert.AlertEvent) => Effect.Effect<void, WebhookError>
    /** `false` after an event had to be dead-lettered, until a delivery succeeds again. */
    readonly health: Effect.Effect<boolean>
    readonly counters: Counters.Counters
  }
>()("@llm-sentinel/adapters/Webhook") {}

/**
 * The webhook client and an `AlertSink` posting to it. Needs a `DeadLetterSink` for what cannot be delivered.
 * An invalid configuration (e.g. a duration that does not parse) fails the layer with a `WebhookError`.
 *
 * @example
 * ```ts
 * import { Webhook } from "@llm-sentinel/adapters"
 * import { DeadLetterSink } from "@llm-sentinel/core"
 * import { Layer, Redacted } from "effect"
 * const alerts = Webhook.layer({ url: "https://incidents.example/hooks/sentinel", secret: Redacted.make("s3cret") })
 *   .pipe(Layer.provide(DeadLetterSink.layerLog))
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layer = (config: Config): Layer.Layer<Webhook | AlertSink.AlertSink, WebhookError, DeadLetterSink> =>
  Layer.effectContext(
    Effect.gen(function* () {
      yield* Http.validate(Config, config).pipe(
        Effect.mapError((reason) => new WebhookError({ destination: config.name ?? "webhook", reason }))
      )
      const deadLetters = yield* DeadLetterSink
      const o = Delivery.fromConfig(config, "webhook", { rate: 10, burst: 10 })
      const d = Delivery.make(o)
      const sink = Delivery.alertSink(d, o, body, AlertJson.deliveryId, deadLetters)
      return Context.make(AlertSink.AlertSink, sink).pipe(
        Context.add(Webhook, {
          send: (event) => {
            const id = AlertJson.deliveryId(event)
            return d
              .send(new TextEncoder().encode(body(event, id)), id)
              .pipe(Effect.mapError((reason) => new WebhookError({ destination: o.name, reason })))
          },
          health: d.health,
          counters: d.counters
        })
      )
    })
  )

/**
 * The signature header's value for a body sent at `timestamp` (Unix seconds, as a string):
 * `v1=` + hex HMAC-SHA256 over `"<timestamp>."` followed by the body bytes.
 *
 * @category combinators
 * @since 0.1.0
 */
export const sign: (secret: string, timestamp: string, body: Uint8Array) => string = Delivery.sign

/**
 * What {@link verify} found.
 *
 * @category models
 * @since 0.1.0
 */
export type Verification = "valid" | "missing" | "malformed" | "expired" | "mismatch"

/**
 * Checks a webhook request on the receiving side: the signature must match the raw body bytes and the
 * timestamp, and the timestamp must be within `tolerance` (default 5 minutes) of `now` (default the current
 * time), in either direction. The signature header may list several `v1=` values (comma-separated) while a
 * secret is rotated; one match is enough. Comparison is constant-time.
 *
 * @category combinators
 * @since 0.1.0
 */
export const verify = (request: {
  readonly secret: string | Redacted.Redacted<string>
  readonly body: Uint8Array | string
  readonly timestamp: string | ReadonlyArray<string> | null | undefined
  readonly signature: string | ReadonlyArray<string> | null | undefined
  readonly tolerance?: Duration.Input
  readonly now?: number
}): Verification => {
  const first = (h: string | ReadonlyArray<string> | null | undefined) => (typeof h === "string" ? h : h?.[0])
  const timestamp = first(request.timestamp)
  const signature = first(request.signature)
  if (timestamp === undefined || signature === undefined) return "missing"
  if (!/^\d{1,12}$/.test(timestamp)) return "malformed"
  const candidates = signature
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.startsWith("v1="))
  if (candidates.length === 0) return "malformed"
  const now = request.now ?? Date.now()
  const toleranceMs = Http.millis(request.tolerance ?? "5 minutes")
  if (Math.abs(now - Number(timestamp) * 1000) > toleranceMs) return "expired"
  const secret = typeof request.secret === "string" ? request.secret : Redacted.value(request.secret)
  const bytes = typeof request.body === "string" ? new TextEncoder().encode(request.body) : request.body
  const expected = Buffer.from(Delivery.sign(secret, timestamp, bytes))
  for (const c of candidates) {
    const got = Buffer.from(c)
    if (got.length === expected.length && timingSafeEqual(got, expected)) return "valid"
  }
  return "mismatch"
}
