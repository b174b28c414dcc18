/**
 * NATS JetStream as a source of telemetry events and as a sink of anomalies and alert events.
 *
 * **Source** ({@link layerSource}): a durable pull consumer (explicit acks). Each fetch of up to `batchSize`
 * messages becomes one `SourceBatch`; a message holds one event as a JSON object, or a JSON array of events
 * (anything else is passed on as text and ends up in the dead-letter sink with its decode error). The batch's
 * `ack` acknowledges its messages and flushes the connection, so the server has the acks when it returns; the
 * pipeline runs it only after every sink accepted what the batch produced. Nothing is acknowledged earlier,
 * so a crash loses nothing: the server redelivers what was not acknowledged after `ackWait`.
 *
 * Redeliveries: a message redelivered while this instance still holds it unacknowledged (the pipeline was slower
 * than `ackWait`) is not passed on a second time; it is acknowledged with the batch it arrived in. A message
 * redelivered after a restart is passed on again: it was never acknowledged, so the sinks may have seen it, and
 * the pipeline's outputs are idempotent (anomalies have deterministic ids, so stores and the NATS sink keep one
 * of each).
 *
 * **Sink** ({@link layerSink}): publishes each anomaly as JSON to `<anomalySubject>.<severity>` and each alert
 * event to `<alertSubject>.<kind>`, waiting for JetStream's acknowledgement, with the anomaly id (or the alert
 * event's delivery id) as `Nats-Msg-Id`: a publish retried after a timeout, or replayed after a restart, is
 * stored once (within the stream's duplicate window).
 *
 * @since 0.1.0
 */

import { type Alert, AlertSink, type Anomaly, AnomalySink, EventSource } from "@llm-sentinel/core"
import type { SourceBatch } from "@llm-sentinel/core/EventSource"
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager
} from "@nats-io/jetstream"
import { connect, type NatsConnection, nanos } from "@nats-io/transport-node"
import { Context, Effect, Layer, Redacted, Schema, Stream } from "effect"
import * as AdapterError from "./AdapterError.ts"
import * as AlertJson from "./AlertJson.ts"
import * as Counters from "./Counters.ts"
import * as Http from "./internal/http.ts"

const connection = {
  /** Server URLs (default `nats://127.0.0.1:4222`). */
  servers: Schema.optionalKey(Schema.Union([Schema.String, Schema.Array(Schema.String)])),
  /** The client's name, shown by the server (default `llm-sentinel`). */
  clientName: Schema.optionalKey(Schema.String),
  user: Schema.optionalKey(Schema.String),
  password: Schema.optionalKey(Schema.RedactedFromValue(Schema.String)),
  token: Schema.optionalKey(Schema.RedactedFromValue(Schema.String)),
  /** Time limit of connecting and of each request to the server (default 5 seconds). */
  timeout: Schema.optionalKey(Http.DurationInput),
  /** Attempts after the first of a failed fetch or publish (default 5). */
  retries: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100 }))),
  /** First backoff delay, doubled on each retry (default 200 millis). */
  retryBaseDelay: Schema.optionalKey(Http.DurationInput),
  /** Longest wait between attempts (default 5 seconds). */
  retryMaxDelay: Schema.optionalKey(Http.DurationInput)
}

/**
 * The source's configuration. Unknown fields are errors ({@link decodeSourceConfig}).
 *
 * @category models
 * @since 0.1.0
 */
export const SourceConfig = Schema.Struct({
  ...connection,
  /** The stream to read. */
  stream: Schema.String.check(Schema.isNonEmpty()),
  /** When set, the stream is created with these subjects if it does not exist. */
  subjects: Schema.optionalKey(Schema.Array(Schema.String.check(Schema.isNonEmpty()))),
  /** The durable consumer's name; it is created (or updated) with explicit acks. */
  consumer: Schema.String.check(Schema.isNonEmpty()),
  /** Only messages on this subject (wildcards allowed). */
  filterSubject: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  /** Messages per fetch, i.e. per batch (default 500). */
  batchSize: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100_000 }))),
  /** How long one fetch waits for messages before it returns what it has (default 1 second). */
  fetchWait: Schema.optionalKey(Http.DurationInput),
  /** How long the server waits for an ack before it redelivers (default 30 seconds). */
  ackWait: Schema.optionalKey(Http.DurationInput),
  /** Unacknowledged messages the server lets this consumer hold (default 20000). */
  maxAckPending: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)))
}).annotate({ identifier: "NatsSourceConfig" })

/**
 * @category models
 * @since 0.1.0
 */
export type SourceConfig = typeof SourceConfig.Type

/**
 * The sink's configuration. Unknown fields are errors ({@link decodeSinkConfig}).
 *
 * @category models
 * @since 0.1.0
 */
export const SinkConfig = Schema.Struct({
  ...connection,
  /** Subject prefix of anomalies (default `sentinel.anomalies`); the severity is the last token. */
  anomalySubject: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  /** Subject prefix of alert events (default `sentinel.alerts`); the kind is the last token. */
  alertSubject: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  /** When set, a stream of this name capturing both prefixes is created if it does not exist. */
  stream: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  /** The duplicate window of a stream created here (default 2 minutes). */
  duplicateWindow: Schema.optionalKey(Http.DurationInput)
}).annotate({ identifier: "NatsSinkConfig" })

/**
 * @category models
 * @since 0.1.0
 */
export type SinkConfig = typeof SinkConfig.Type

/**
 * @category constructors
 * @since 0.1.0
 */
export const decodeSourceConfig = (input: unknown): Effect.Effect<SourceConfig, Schema.SchemaError> =>
  Schema.decodeUnknownEffect(SourceConfig)(input, Http.strict)

/**
 * @category constructors
 * @since 0.1.0
 */
export const decodeSinkConfig = (input: unknown): Effect.Effect<SinkConfig, Schema.SchemaError> =>
  Schema.decodeUnknownEffect(SinkConfig)(input, Http.strict)

/**
 * NATS failed or refused an operation.
 *
 * @category errors
 * @since 0.1.0
 */
export class NatsError extends Schema.TaggedError<NatsError>("@llm-sentinel/adapters/NatsError")("NatsError", {
  operation: Schema.String,
  reason: AdapterError.Reason
}) {
  get isRetryable(): boolean {
    return this.reason.isRetryable
  }
  override get message(): string {
    return `nats ${this.operation}: ${this.reason.message}`
  }
}

const classify = (operation: string, e: unknown): AdapterError.Reason => {
  const err = e as { name?: string; message?: string; status?: unknown }
  const message = `${operation}: ${err.message ?? String(e)}`
  if (err.name === "TimeoutError" || /timeout/i.test(err.message ?? "")) return new AdapterError.Timeout({ message })
  const status = typeof err.status === "number" ? err.status : undefined
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return new AdapterError.Rejected({ message, status })
  }
  return new AdapterError.Unavailable({ message })
}

type Connection = Schema.Schema.Type<Schema.Struct<typeof connection>>

const open = (config: Connection, name: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        connect({
          servers: config.servers === undefined ? "nats://127.0.0.1:4222" : [...[config.servers].flat()],
          name: config.clientName ?? `llm-sentinel ${name}`,
          timeout: Http.millis(config.timeout ?? "5 seconds"),
          maxReconnectAttempts: -1,
          ...(config.user === undefined ? {} : { user: config.user }),
          ...(config.password === undefined ? {} : { pass: Redacted.value(config.password) }),
          ...(config.token === undefined ? {} : { token: Redacted.value(config.token) })
        }),
      catch: (e) => new NatsError({ operation: "connect", reason: classify("connect", e) })
    }),
    (nc) => Effect.promise(() => nc.drain().catch(() => nc.close()))
  )

const retryPolicy = (c: Connection): Http.RetryPolicy => ({
  retries: c.retries ?? 5,
  baseDelayMs: Http.millis(c.retryBaseDelay ?? "200 millis"),
  maxDelayMs: Http.millis(c.retryMaxDelay ?? "5 seconds")
})

const ensureStream = (jsm: JetStreamManager, name: string, subjects: ReadonlyArray<string>, dupMs?: number) =>
  Effect.tryPromise({
    try: async () => {
      try {
        await jsm.streams.info(name)
      } catch (e) {
        if ((e as { name?: string }).name !== "StreamNotFoundError") throw e
        await jsm.streams.add({
          name,
          subjects: [...subjects],
          ...(dupMs === undefined ? {} : { duplicate_window: nanos(dupMs) })
        })
      }
    },
    catch: (e) => new NatsError({ operation: `stream ${name}`, reason: classify(`stream ${name}`, e) })
  })

const health = (nc: NatsConnection, jsm: JetStreamManager, stream: string | undefined, timeoutMs: number) =>
  Effect.tryPromise(async () => {
    if (nc.isClosed()) return false
    await nc.flush()
    if (stream !== undefined) await jsm.streams.info(stream)
    return true
  }).pipe(
    Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.succeed(false) }),
    Effect.catch(() => Effect.succeed(false))
  )

/**
 * The source's handle: health and counters (`received` messages fetched, `sent` messages acknowledged,
 * `retried` redeliveries seen, `errors` failed fetches).
 *
 * @category services
 * @since 0.1.0
 */
export class NatsSource extends Context.Service<
  NatsSource,
  {
    /** The connection is open, the server answers and the stream exists. */
    readonly health: Effect.Effect<boolean>
    readonly counters: Counters.Counters
  }
>()("@llm-sentinel/adapters/NatsSource") {}

const decoder = new TextDecoder()

/** The records a message carries: a JSON object, the elements of a JSON array, or its text (to dead-letter). */
const records = (m: JsMsg, out: Array<unknown>): void => {
  const text = decoder.decode(m.data)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    out.push(text)
    return
  }
  if (Array.isArray(value)) for (const v of value) out.push(v)
  else out.push(value)
}

/**
 * A durable pull consumer as the pipeline's `EventSource`, with its {@link NatsSource} handle.
 *
 * @example
 * ```ts
 * import { Nats } from "@llm-sentinel/adapters"
 * const source = Nats.layerSource({ stream: "TELEMETRY", subjects: ["telemetry.>"], consumer: "sentinel" })
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layerSource = (config: SourceConfig): Layer.Layer<EventSource.EventSource | NatsSource, NatsError> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const name = `${config.stream}/${config.consumer}`
      yield* Http.validate(SourceConfig, config).pipe(
        Effect.mapError((reason) => new NatsError({ operation: "configure", reason }))
      )
      const counters = Counters.make("nats", name)
      const nc = yield* open(config, name)
      const timeoutMs = Http.millis(config.timeout ?? "5 seconds")
      const jsm = yield* Effect.tryPromise({
        try: () => jetstreamManager(nc, { timeout: timeoutMs }),
        catch: (e) => new NatsError({ operation: "jetstream", reason: classify("jetstream", e) })
      })
      if (config.subjects !== undefined) yield* ensureStream(jsm, config.stream, config.subjects)
      const consumerOp = `consumer ${name}`
      yield* Effect.tryPromise({
        try: async () => {
          const wanted = {
            durable_name: config.consumer,
            ack_policy: AckPolicy.Explicit,
            deliver_policy: DeliverPolicy.All,
            ack_wait: nanos(Http.millis(config.ackWait ?? "30 seconds")),
            max_ack_pending: config.maxAckPending ?? 20_000,
            ...(config.filterSubject === undefined ? {} : { filter_subject: config.filterSubject })
          }
          try {
            await jsm.consumers.info(config.stream, config.consumer)
            await jsm.consumers.update(config.stream, config.consumer, {
              ack_wait: wanted.ack_wait,
              max_ack_pending: wanted.max_ack_pending,
              ...(config.filterSubject === undefined ? {} : { filter_subject: config.filterSubject })
            })
          } catch (e) {
            if ((e as { name?: string }).name !== "ConsumerNotFoundError") throw e
            await jsm.consumers.add(config.stream, wanted)
          }
        },
        catch: (e) => new NatsError({ operation: consumerOp, reason: classify(consumerOp, e) })
      })
      const js = jetstream(nc, { timeout: timeoutMs })
      const consumer = yield* Effect.tryPromise({
        try: () => js.consumers.get(config.stream, config.consumer),
        catch: (e) => new NatsError({ operation: consumerOp, reason: classify(consumerOp, e) })
      })
      const batchSize = config.batchSize ?? 500
      const expires = Math.max(1000, Http.millis(config.fetchWait ?? "1 second"))
      // stream sequences delivered to this instance and not acknowledged yet
      const inFlight = new Set<number>()

      const fetchOnce = Effect.tryPromise({
        try: async (signal) => {
          const it = await consumer.fetch({ max_messages: batchSize, expires })
          signal.addEventListener("abort", () => void it.stop())
          const msgs: Array<JsMsg> = []
          for await (const m of it) msgs.push(m)
          return msgs
        },
        catch: (e) => classify(`fetch ${name}`, e)
      })
      const fetch = Http.withRetries(fetchOnce, retryPolicy(config), counters, (reason, delay, n) =>
        Effect.logWarning(`nats ${name}: ${reason.message}; retry ${n} in ${Math.round(delay)} ms`)
      ).pipe(Effect.mapError((reason) => AdapterError.toSourceError("nats", reason)))

      const toBatch = (msgs: ReadonlyArray<JsMsg>): Effect.Effect<SourceBatch | undefined> =>
        Effect.gen(function* () {
          if (msgs.length === 0) return undefined
          const raw: Array<unknown> = []
          let redelivered = 0
          for (const m of msgs) {
            const seq = m.info.streamSequence
            if (m.info.deliveryCount > 1) redelivered++
            // already passed on by this instance and not yet acknowledged: ack it with this batch only
            if (inFlight.has(seq)) continue
            inFlight.add(seq)
            records(m, raw)
          }
          yield* counters.add("received", msgs.length)
          yield* counters.add("retried", redelivered)
          const ack = Effect.gen(function* () {
            for (const m of msgs) m.ack()
            yield* Effect.promise(() => nc.flush().catch(() => undefined))
            for (const m of msgs) inFlight.delete(m.info.streamSequence)
            yield* counters.add("sent", msgs.length)
          })
          return { raw, events: [], ack }
        })

      const batches = Stream.fromEffectRepeat(Effect.flatMap(fetch, toBatch)).pipe(
        Stream.filter((b): b is SourceBatch => b !== undefined)
      )
      return Context.make(EventSource.EventSource, { batches }).pipe(
        Context.add(NatsSource, { health: health(nc, jsm, config.stream, timeoutMs), counters })
      )
    })
  )

/**
 * The sink's client: publishes anomalies and alert events to JetStream.
 *
 * @category services
 * @since 0.1.0
 */
export class NatsSink extends Context.Service<
  NatsSink,
  {
    readonly publishAnomalies: (anomalies: ReadonlyArray<Anomaly.Anomaly>) => Effect.Effect<void, NatsError>
    readonly publishAlerts: (events: ReadonlyArray<Alert.AlertEvent>) => Effect.Effect<void, NatsError>
    /** The connection is open, the server answers (and the configured stream exists). */
    readonly health: Effect.Effect<boolean>
    readonly counters: Counters.Counters
  }
>()("@llm-sentinel/adapters/NatsSink") {}

const token = (s: string): string => s.replace(/[\s.*>]/g, "_")

/**
 * The NATS sink as `AnomalySink` and `AlertSink`, with its {@link NatsSink} client.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerSink = (
  config: SinkConfig = {}
): Layer.Layer<AnomalySink.AnomalySink | AlertSink.AlertSink | NatsSink, NatsError> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const anomalySubject = config.anomalySubject ?? "sentinel.anomalies"
      const alertSubject = config.alertSubject ?? "sentinel.alerts"
      const name = config.stream ?? anomalySubject
      yield* Http.validate(SinkConfig, config).pipe(
        Effect.mapError((reason) => new NatsError({ operation: "configure", reason }))
      )
      const counters = Counters.make("nats", name)
      const nc = yield* open(config, name)
      const timeoutMs = Http.millis(config.timeout ?? "5 seconds")
      const jsm = yield* Effect.tryPromise({
        try: () => jetstreamManager(nc, { timeout: timeoutMs }),
        catch: (e) => new NatsError({ operation: "jetstream", reason: classify("jetstream", e) })
      })
      if (config.stream !== undefined) {
        yield* ensureStream(
          jsm,
          config.stream,
          [`${anomalySubject}.>`, `${alertSubject}.>`],
          Http.millis(config.duplicateWindow ?? "2 minutes")
        )
      }
      const js: JetStreamClient = jetstream(nc, { timeout: timeoutMs })
      const encoder = new TextEncoder()
      const publish = (operation: string, items: ReadonlyArray<readonly [string, string, string]>) =>
        items.length === 0
          ? Effect.void
          : counters.add("received", items.length).pipe(
              Effect.andThen(
                Http.withRetries(
                  Effect.tryPromise({
                    try: () =>
                      Promise.all(
                        items.map(([subject, id, body]) =>
                          js.publish(subject, encoder.encode(body), { msgID: id, timeout: timeoutMs })
                        )
                      ),
                    catch: (e) => classify(operation, e)
                  }),
                  retryPolicy(config),
                  counters,
                  (reason, delay, n) =>
                    Effect.logWarning(`nats ${name}: ${reason.message}; retry ${n} in ${Math.round(delay)} ms`)
                )
              ),
              Effect.tap(() => counters.add("sent", items.length)),
              Effect.mapError((reason) => new NatsError({ operation, reason })),
              Effect.asVoid
            )
      const publishAnomalies = (xs: ReadonlyArray<Anomaly.Anomaly>) =>
        publish(
          "publish anomalies",
          xs.map((a) => [`${anomalySubject}.${a.severity}`, a.id, JSON.stringify(a)] as const)
        )
      const publishAlerts = (events: ReadonlyArray<Alert.AlertEvent>) =>
        publish(
          "publish alerts",
          events.map((e) => [`${alertSubject}.${token(e._tag)}`, AlertJson.deliveryId(e), AlertJson.encode(e)] as const)
        )
      const toSink = (e: NatsError) => AdapterError.toSinkError("nats", e.reason, e)
      return Context.make(AnomalySink.AnomalySink, {
        write: (xs) => Effect.mapError(publishAnomalies(xs), toSink)
      }).pipe(
        Context.add(AlertSink.AlertSink, { write: (xs) => Effect.mapError(publishAlerts(xs), toSink) }),
        Context.add(NatsSink, {
          publishAnomalies,
          publishAlerts,
          health: health(nc, jsm, config.stream, timeoutMs),
          counters
        })
      )
    })
  )
