// Alert delivery over HTTP, shared by Webhook and Slack: rate limit per destination, retries with backoff,
// signing per attempt (the timestamp is the attempt's), and the AlertSink that dead-letters what could not be
// delivered after the last try, so no alert is lost.
import { createHmac } from "node:crypto"
import type { Alert } from "@llm-sentinel/core"
import type { DeadLetterSink } from "@llm-sentinel/core/DeadLetterSink"
import { SinkError } from "@llm-sentinel/core/SinkError"
import { Clock, Effect, Redacted } from "effect"
import type * as AdapterError from "../AdapterError.ts"
import * as Counters from "../Counters.ts"
import * as Http from "./http.ts"

export interface DeliveryOptions {
  readonly adapter: string
  readonly name: string
  readonly url: string
  readonly timeoutMs: number
  readonly retry: Http.RetryPolicy
  readonly ratePerSecond: number
  readonly burst: number
  readonly secret: Redacted.Redacted<string> | undefined
  readonly headers: Readonly<Record<string, string>>
}

export const signatureHeader = "x-sentinel-signature"
export const timestampHeader = "x-sentinel-timestamp"
export const deliveryHeader = "x-sentinel-delivery"

/** `v1=` + hex HMAC-SHA256 over `<timestamp>.` followed by the body's bytes. */
export const sign = (secret: string, timestamp: string, body: Uint8Array): string =>
  `v1=${createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex")}`

export interface Delivery {
  readonly counters: Counters.Counters
  /** One delivery of `body` with retries (counted); fails with the last reason. */
  readonly send: (body: Uint8Array, id: string) => Effect.Effect<void, AdapterError.Reason>
  readonly health: Effect.Effect<boolean>
  readonly markHealthy: (ok: boolean) => void
}

export const make = (o: DeliveryOptions): Delivery => {
  const counters = Counters.make(o.adapter, o.name)
  const limiter = Http.makeLimiter(o.ratePerSecond, o.burst)
  let healthy = true
  const attempt = (body: Uint8Array, id: string) =>
    Effect.gen(function* () {
      yield* limiter.take
      const headers: Record<string, string> = {
        "content-type": "application/json",
        "user-agent": "llm-sentinel/0.1.0",
        [deliveryHeader]: id,
        ...o.headers
      }
      if (o.secret !== undefined) {
        const timestamp = String(Math.floor((yield* Clock.currentTimeMillis) / 1000))
        headers[timestampHeader] = timestamp
        headers[signatureHeader] = sign(Redacted.value(o.secret), timestamp, body)
      }
      return yield* Http.post(o.url, body, headers, o.timeoutMs)
    })
  // while the destination is known to be down (the last event was dead-lettered), one try per event: a dead
  // destination must not hold the pipeline for a whole retry schedule per alert
  const fastFail = { ...o.retry, retries: 0 }
  const send = (body: Uint8Array, id: string) =>
    Effect.suspend(() =>
      Http.withRetries(attempt(body, id), healthy ? o.retry : fastFail, counters, (reason, delay, n) =>
        Effect.logWarning(
          `${o.adapter} ${o.name}: ${reason.message}; retry ${n}/${o.retry.retries} in ${Math.round(delay)} ms`
        )
      ).pipe(
        Effect.tap(() =>
          Effect.sync(() => {
            healthy = true
          })
        ),
        Effect.asVoid
      )
    )
  return {
    counters,
    send,
    health: Effect.sync(() => healthy),
    markHealthy: (ok) => {
      healthy = ok
    }
  }
}

const encoder = new TextEncoder()

/**
 * The AlertSink over a delivery: each event is posted in order; one that still fails after the last try goes
 * to the dead-letter sink with the reason, and the write succeeds (the alert is kept, not lost). Only a failing
 * dead-letter sink fails the write, so the source is not acknowledged.
 */
export const alertSink = (
  d: Delivery,
  options: DeliveryOptions,
  body: (event: Alert.AlertEvent, id: string) => string,
  id: (event: Alert.AlertEvent) => string,
  deadLetters: DeadLetterSink["Service"]
): { readonly write: (events: ReadonlyArray<Alert.AlertEvent>) => Effect.Effect<void, SinkError> } => ({
  write: (events) =>
    Effect.forEach(
      events,
      (event, index) => {
        const deliveryId = id(event)
        return d.counters.add("received", 1).pipe(
          Effect.andThen(d.send(encoder.encode(body(event, deliveryId)), deliveryId)),
          Effect.andThen(d.counters.add("sent", 1)),
          Effect.catch((reason: AdapterError.Reason) =>
            Effect.gen(function* () {
              d.markHealthy(false)
              yield* d.counters.add("dropped", 1)
              yield* Effect.logError(
                `${options.adapter} ${options.name}: alert ${deliveryId} dead-lettered: ${reason.message}`
              )
              yield* deadLetters
                .write([
                  {
                    index,
                    errors: [{ path: `${options.adapter}:${options.name}`, message: reason.message }],
                    payload: { destination: options.name, deliveryId, event },
                    source: `${options.adapter} ${options.name}: undeliverable alert ${deliveryId}`
                  }
                ])
                .pipe(
                  Effect.mapError(
                    (e) =>
                      new SinkError({
                        adapter: options.adapter,
                        reason: e.reason,
                        message: `alert ${deliveryId} not delivered (${reason.message}) and the dead-letter sink failed: ${e.message}`,
                        cause: e
                      })
                  )
                )
            })
          )
        )
      },
      { discard: true }
    )
})

/** The fields of a webhook-like configuration (Webhook, Slack). */
export interface CommonConfig {
  readonly name?: string
  readonly secret?: Redacted.Redacted<string>
  readonly headers?: { readonly [k: string]: Redacted.Redacted<string> }
  readonly timeout?: string | number
  readonly retries?: number
  readonly retryBaseDelay?: string | number
  readonly retryMaxDelay?: string | number
  readonly ratePerSecond?: number
  readonly burst?: number
}

export const fromConfig = (
  config: CommonConfig & { readonly url: string | Redacted.Redacted<string> },
  adapter: string,
  defaults: { readonly rate: number; readonly burst: number }
): DeliveryOptions => {
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(config.headers ?? {})) headers[k.toLowerCase()] = Redacted.value(v)
  const url = typeof config.url === "string" ? config.url : Redacted.value(config.url)
  return {
    adapter,
    name: config.name ?? new URL(url).host,
    url,
    timeoutMs: Http.millis(config.timeout ?? "10 seconds"),
    retry: {
      retries: config.retries ?? 5,
      baseDelayMs: Http.millis(config.retryBaseDelay ?? "500 millis"),
      maxDelayMs: Http.millis(config.retryMaxDelay ?? "30 seconds")
    },
    ratePerSecond: config.ratePerSecond ?? defaults.rate,
    burst: config.burst ?? defaults.burst,
    secret: config.secret,
    headers
  }
}
