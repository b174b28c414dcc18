// HTTP delivery shared by the webhook, Slack and InfluxDB sinks: one POST with a timeout, the classification of
// its outcome into AdapterError reasons, Retry-After parsing, exponential backoff with jitter, and a token
// bucket per destination. Not exported: each adapter exposes its own options.
import { Clock, Duration, Effect, Option, Random, Schema, Semaphore } from "effect"
import * as AdapterError from "../AdapterError.ts"
import type * as Counters from "../Counters.ts"

export interface Sent {
  readonly status: number
  readonly body: string
}

/**
 * The delay a `Retry-After` header asks for, in ms: delta-seconds or an HTTP date (relative to `now`).
 */
export const parseRetryAfter = (header: string | null, now: number): number | undefined => {
  if (header === null) return undefined
  const h = header.trim()
  if (/^\d+(\.\d+)?$/.test(h)) return Math.round(Number(h) * 1000)
  const at = Date.parse(h)
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined
}

/** One POST of exactly `body`, classified. */
export const post = (
  url: string,
  body: Uint8Array,
  headers: Readonly<Record<string, string>>,
  timeout: Duration.Input
): Effect.Effect<Sent, AdapterError.Reason> =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(url, { method: "POST", headers, body, signal })
      return { response, text: await response.text() }
    },
    catch: (e) =>
      new AdapterError.Unavailable({ message: `POST ${redactUrl(url)}: ${(e as Error).cause ?? (e as Error).message}` })
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(
          new AdapterError.Timeout({
            message: `POST ${redactUrl(url)}: no answer within ${Duration.format(Duration.fromInputUnsafe(timeout))}`
          })
        )
    }),
    Effect.flatMap(({ response, text }) =>
      Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<Sent, AdapterError.Reason> => {
        const status = response.status
        if (status >= 200 && status < 300) return Effect.succeed({ status, body: text })
        const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), now)
        const message = `POST ${redactUrl(url)}: HTTP ${status}${text === "" ? "" : `: ${text.slice(0, 200)}`}`
        const ra = retryAfterMs === undefined ? {} : { retryAfterMs }
        if (status === 429) return Effect.fail(new AdapterError.RateLimited({ message, ...ra }))
        if (status >= 500 || status === 408)
          return Effect.fail(new AdapterError.Unavailable({ message, status, ...ra }))
        return Effect.fail(new AdapterError.Rejected({ message, status }))
      })
    )
  )

/** A URL without its query string and credentials, for messages (Slack webhook paths are secrets too). */
export const redactUrl = (url: string): string => {
  try {
    const u = new URL(url)
    const path = u.pathname.length > 24 ? `${u.pathname.slice(0, 12)}…` : u.pathname
    return `${u.protocol}//${u.host}${path}`
  } catch {
    return "<invalid url>"
  }
}

export interface RetryPolicy {
  /** Attempts after the first. */
  readonly retries: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
}

/**
 * The delay before retry number `attempt` (0-based): exponential with "equal jitter" (half fixed, half
 * random), or the peer's Retry-After (plus up to 10% jitter) when it gave one; never above `maxDelayMs`.
 */
export const backoff = (policy: RetryPolicy, attempt: number, reason: AdapterError.Reason): Effect.Effect<number> =>
  Effect.map(Random.next, (r) => {
    const retryAfter = "retryAfterMs" in reason ? reason.retryAfterMs : undefined
    if (retryAfter !== undefined) return Math.min(policy.maxDelayMs, retryAfter + r * 0.1 * retryAfter)
    const d = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt)
    return d / 2 + (r * d) / 2
  })

/**
 * Runs `attempt` until it succeeds, fails with a reason that is not retryable, or the retries are used up;
 * counts failed attempts as `errors` and each new try as `retried`.
 */
export const withRetries = <A>(
  attempt: Effect.Effect<A, AdapterError.Reason>,
  policy: RetryPolicy,
  counters: Counters.Counters,
  onRetry: (reason: AdapterError.Reason, delayMs: number, n: number) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<A, AdapterError.Reason> => {
  const loop = (n: number): Effect.Effect<A, AdapterError.Reason> =>
    attempt.pipe(
      Effect.catch((reason: AdapterError.Reason) =>
        Effect.gen(function* () {
          yield* counters.add("errors", 1)
          if (!reason.isRetryable || n >= policy.retries) return yield* Effect.fail(reason)
          const delay = yield* backoff(policy, n, reason)
          yield* onRetry(reason, delay, n + 1)
          yield* Effect.sleep(delay)
          yield* counters.add("retried", 1)
          return yield* loop(n + 1)
        })
      )
    )
  return loop(0)
}

/**
 * A token bucket: `ratePerSecond` tokens a second, up to `burst` saved. `take` waits (in FIFO order) until a
 * token is there. Time comes from `Clock`, so tests can drive it.
 */
export const makeLimiter = (ratePerSecond: number, burst: number): { readonly take: Effect.Effect<void> } => {
  const lock = Semaphore.makeUnsafe(1)
  let tokens = burst
  let last: number | undefined
  const refill = (now: number) => {
    if (last !== undefined) tokens = Math.min(burst, tokens + ((now - last) * ratePerSecond) / 1000)
    last = now
  }
  const take = lock.withPermits(1)(
    Effect.gen(function* () {
      refill(yield* Clock.currentTimeMillis)
      if (tokens < 1) {
        yield* Effect.sleep(Math.ceil(((1 - tokens) * 1000) / ratePerSecond))
        refill(yield* Clock.currentTimeMillis)
      }
      tokens = Math.max(0, tokens - 1)
    })
  )
  return { take }
}

// ---- config helpers shared by the adapters' Schemas

/** A `Duration.Input` in configuration: milliseconds as a number, or a string such as `"5 seconds"`. */
export const DurationInput = Schema.Union([
  Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)),
  Schema.String.check(
    Schema.makeFilter(
      (s: string) =>
        Option.match(Duration.fromInput(s as Duration.Input), {
          onNone: () => false,
          onSome: (d) => Duration.isFinite(d) && Duration.toMillis(d) >= 0
        }) || `expected a duration such as "5 seconds" or "250 millis", got ${JSON.stringify(s)}`
    )
  )
]).annotate({ description: 'a duration: milliseconds, or a string such as "5 seconds"' })

/** Milliseconds of a duration validated by {@link DurationInput} (or typed as `Duration.Input` in code). */
export const millis = (d: Duration.Input | string): number =>
  Duration.toMillis(Duration.fromInputUnsafe(d as Duration.Input))

/** An http(s) URL. */
export const HttpUrl = Schema.String.check(
  Schema.makeFilter((s: string) => {
    try {
      const u = new URL(s)
      return u.protocol === "http:" || u.protocol === "https:" || `expected an http(s) URL, got ${u.protocol}`
    } catch {
      return "expected an http(s) URL"
    }
  })
)

/** Decodes configuration strictly: unknown fields are errors, every problem is reported. */
export const strict = { onExcessProperty: "error", errors: "all" } as const

/**
 * Checks a configuration built in code (already of the decoded type) against its Schema's checks: a bad
 * duration string or URL, an unknown field, becomes a typed `Invalid` error when the layer is built.
 */
export const validate = <S extends Schema.Top>(
  schema: S,
  config: S["Type"]
): Effect.Effect<void, AdapterError.Invalid> =>
  Schema.decodeUnknownEffect(Schema.toType(schema))(config, strict).pipe(
    Effect.mapError((e) => new AdapterError.Invalid({ message: `invalid configuration: ${e.message}` })),
    Effect.asVoid
  )
