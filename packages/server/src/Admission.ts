/**
 * Admission control of ingest: how many events and request-body bytes may be in flight at once. Events count
 * from the moment a request's records are parsed until the pipeline has processed them (their batch's `ack`);
 * bytes count while a request body is being read and parsed. A request that does not fit is answered 429 before
 * it costs memory, so memory stays bounded by the limits, not by the load.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Metric } from "effect"

/**
 * The limits of {@link layer}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Limits {
  /** Events accepted but not yet processed by the pipeline (default 100,000). */
  readonly maxEvents: number
  /** Bytes of request bodies being read and parsed (default 64 MiB). */
  readonly maxBytes: number
  /**
   * Requests that may wait for room at once (default 16): past it a request that does not fit is refused at
   * once, so a flood meets 429s rather than a growing crowd of waiting requests.
   */
  readonly maxWaiting?: number
}

const defaultMaxWaiting = 16

/**
 * The default {@link Limits}.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaults: Limits = { maxEvents: 100_000, maxBytes: 64 * 1024 * 1024, maxWaiting: defaultMaxWaiting }

/**
 * @category services
 * @since 0.1.0
 */
export class Admission extends Context.Service<
  Admission,
  {
    readonly limits: Limits
    /** Takes `events` and `bytes` if both fit under the limits now; `false` (nothing taken) otherwise. */
    readonly tryAcquire: (events: number, bytes: number) => boolean
    readonly release: (events: number, bytes: number) => void
    readonly inFlight: () => { readonly events: number; readonly bytes: number }
    /**
     * Completes at the next `release` (or when `timeoutMs` have passed) with `true`; `false` at once when
     * `maxWaiting` requests wait already. A request that does not fit waits here for room instead of being refused
     * at once, so a short backlog is absorbed by latency, not by 429s that make clients sleep for their
     * `Retry-After` while the server idles.
     */
    readonly awaitRelease: (timeoutMs: number) => Effect.Effect<boolean>
  }
>()("@llm-sentinel/server/Admission") {}

const eventsGauge = Metric.gauge("sentinel_ingest_events_in_flight", {
  description: "events accepted by ingest and not yet processed by the pipeline"
})
const bytesGauge = Metric.gauge("sentinel_ingest_bytes_in_flight", {
  description: "bytes of request bodies being read and parsed"
})

/**
 * Updates the in-flight gauges of `/metrics`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const report = (admission: Admission["Service"]): Effect.Effect<void> =>
  Effect.suspend(() => {
    const now = admission.inFlight()
    return Effect.all([Metric.update(eventsGauge, now.events), Metric.update(bytesGauge, now.bytes)], {
      discard: true
    })
  })

/**
 * Admission with the given limits. A single request larger than a limit is still admitted when nothing else is
 * in flight, so the limits bound concurrency without refusing what the body and record limits allow.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (limits: Partial<Limits> = {}): Layer.Layer<Admission> =>
  Layer.sync(Admission, () => {
    const l: Limits = { ...defaults, ...limits }
    let events = 0
    let bytes = 0
    const waiters = new Set<() => void>()
    const released = Effect.callback<void>((resume) => {
      const wake = () => resume(Effect.void)
      waiters.add(wake)
      return Effect.sync(() => void waiters.delete(wake))
    })
    const awaitRelease = (timeoutMs: number): Effect.Effect<boolean> =>
      Effect.suspend(() => {
        if (waiters.size >= (l.maxWaiting ?? defaultMaxWaiting)) return Effect.succeed(false)
        return Effect.as(Effect.timeoutOption(released, Math.max(0, timeoutMs)), true)
      })
    return {
      limits: l,
      tryAcquire: (e, b) => {
        const fits =
          (e === 0 || events === 0 || events + e <= l.maxEvents) && (b === 0 || bytes === 0 || bytes + b <= l.maxBytes)
        if (!fits) return false
        events += e
        bytes += b
        return true
      },
      release: (e, b) => {
        events = Math.max(0, events - e)
        bytes = Math.max(0, bytes - b)
        if (waiters.size > 0) {
          const woken = [...waiters]
          waiters.clear()
          for (const wake of woken) wake()
        }
      },
      inFlight: () => ({ events, bytes }),
      awaitRelease
    }
  })
