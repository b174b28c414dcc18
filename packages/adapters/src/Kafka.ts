/**
 * Apache Kafka (`@platformatic/kafka`) as the event backbone: a consumer-group source whose partitions carry
 * their state between instances, a sink of anomalies and alert events, and a producer that HTTP ingest hands
 * its events to.
 *
 * **Source** ({@link layerSource}): joins the consumer group `groupId` on `topic` and provides the core's
 * `PartitionedSource`: each partition assigned to this instance becomes a `Partition` whose pipeline restores
 * that partition's checkpoints (detector states, window clocks, alert state) from the `StateStore`. A message
 * holds one event as a JSON object, or a JSON array of events; a message that is not JSON is dead-lettered with
 * `kafka <topic>/<partition> offset <n>` as its source (so is any record that fails validation).
 * - **Commits**: after each checkpoint of a partition was written (so after every sink accepted what came before
 *   it), its `replayFrom` is committed as the group's offset: the next owner of the partition, or this instance
 *   after a crash, starts exactly where the checkpoint needs replaying from (at least once; the sinks are
 *   idempotent, so storage holds everything once).
 * - **Rebalances**: when a partition is revoked, its batches end: its pipeline drains, checkpoints and commits,
 *   then lets it go. A partition assigned again while its last pipeline is still draining waits for it. A
 *   partition that stays here through a rebalance is fetched again from its commit; the records its pipeline
 *   already has are skipped.
 * - **Backpressure**: fetched messages wait in per-partition queues; past `maxBuffered` records the consumer
 *   stops fetching (the stream is paused) until the pipeline has taken half of them.
 *
 * **Sink** ({@link layerSink}): publishes each anomaly to `anomalyTopic` and each alert event to `alertTopic`, as
 * JSON keyed by series id (so one series stays in one partition, in order), with the anomaly id or the alert
 * event's delivery id in the `id` header, acknowledged by all in-sync replicas.
 *
 * **Producer** ({@link layerEventQueue}): the core's `EventQueue` for HTTP ingest: each event is produced to the
 * events topic keyed by {@link eventKey} (service × model, so a partition holds whole series), and `offer`
 * returns only once the broker acknowledged them, so the 202 means the events are in Kafka.
 *
 * @since 0.1.0
 */

import { type Alert, AlertSink, type Anomaly, AnomalySink, type Event, EventSource } from "@llm-sentinel/core"
import type { Partition, SourceBatch } from "@llm-sentinel/core/EventSource"
import {
  Admin,
  Consumer,
  type Message,
  type MessagesStream,
  ProduceAcks,
  Producer,
  stringDeserializer,
  stringSerializers
} from "@platformatic/kafka"
import { type Cause, Context, Deferred, Effect, Layer, Queue, Schema, Stream } from "effect"
import * as AdapterError from "./AdapterError.ts"
import * as AlertJson from "./AlertJson.ts"
import * as Counters from "./Counters.ts"
import * as Http from "./internal/http.ts"

const connection = {
  /** Bootstrap brokers, `host:port` (default `127.0.0.1:9092`). */
  brokers: Schema.optionalKey(Schema.Array(Schema.String.check(Schema.isNonEmpty()))),
  /** The client id the brokers see (default `llm-sentinel`). */
  clientId: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  /** Time limit of each request to a broker (default 10 seconds). */
  timeout: Schema.optionalKey(Http.DurationInput),
  /** When set, the topic(s) are created with this many partitions if missing (replication factor 1). */
  createPartitions: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000 })))
}

/**
 * The source's configuration. Unknown fields are errors ({@link decodeSourceConfig}).
 *
 * @category models
 * @since 0.1.0
 */
export const SourceConfig = Schema.Struct({
  ...connection,
  /** The events topic. */
  topic: Schema.String.check(Schema.isNonEmpty()),
  /** The consumer group: instances with the same group share the topic's partitions. */
  groupId: Schema.String.check(Schema.isNonEmpty()),
  /** Records per batch handed to a partition's pipeline at most (default 1000). */
  batchSize: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100_000 }))),
  /** Records fetched but not yet taken by the pipelines before fetching pauses (default 20000). */
  maxBuffered: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000_000 }))),
  /** How long the group waits for a silent member before giving its partitions to others (default 10 s). */
  sessionTimeout: Schema.optionalKey(Http.DurationInput),
  /** Heartbeat interval (default 1 second). */
  heartbeatInterval: Schema.optionalKey(Http.DurationInput),
  /** How long the group waits for members to rejoin during a rebalance (default 20 seconds). */
  rebalanceTimeout: Schema.optionalKey(Http.DurationInput),
  /** How long a fetch waits for records (default 500 millis). */
  maxWaitTime: Schema.optionalKey(Http.DurationInput),
  /** Bytes one fetch brings at most, per partition and in all (default 1 MiB): what may arrive after a pause. */
  fetchMaxBytes: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1024, maximum: 256 * 1024 * 1024 })))
}).annotate({ identifier: "KafkaSourceConfig" })

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
  /** Topic of anomalies (default `sentinel.anomalies`). */
  anomalyTopic: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  /** Topic of alert events (default `sentinel.alerts`). */
  alertTopic: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty()))
}).annotate({ identifier: "KafkaSinkConfig" })

/**
 * @category models
 * @since 0.1.0
 */
export type SinkConfig = typeof SinkConfig.Type

/**
 * The ingest producer's configuration. Unknown fields are errors ({@link decodeProducerConfig}).
 *
 * @category models
 * @since 0.1.0
 */
export const ProducerConfig = Schema.Struct({
  ...connection,
  /** The events topic. */
  topic: Schema.String.check(Schema.isNonEmpty()),
  /**
   * Events produced and not yet acknowledged by the broker at most (default 50000): past it `tryOffer` answers
   * `false` (HTTP ingest answers 429 with `Retry-After`) instead of queueing sends without bound.
   */
  maxInFlight: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000_000 })))
}).annotate({ identifier: "KafkaProducerConfig" })

/**
 * @category models
 * @since 0.1.0
 */
export type ProducerConfig = typeof ProducerConfig.Type

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
 * @category constructors
 * @since 0.1.0
 */
export const decodeProducerConfig = (input: unknown): Effect.Effect<ProducerConfig, Schema.SchemaError> =>
  Schema.decodeUnknownEffect(ProducerConfig)(input, Http.strict)

/**
 * Kafka failed or refused an operation.
 *
 * @category errors
 * @since 0.1.0
 */
export class KafkaError extends Schema.TaggedError<KafkaError>("@llm-sentinel/adapters/KafkaError")("KafkaError", {
  operation: Schema.String,
  reason: AdapterError.Reason
}) {
  get isRetryable(): boolean {
    return this.reason.isRetryable
  }
  override get message(): string {
    return `kafka ${this.operation}: ${this.reason.message}`
  }
}

const describe = (e: unknown): string => {
  const err = e as { message?: string; errors?: ReadonlyArray<{ message?: string }> }
  const inner = err.errors?.map((x) => x.message).join("; ")
  return inner === undefined || inner.length === 0 ? (err.message ?? String(e)) : `${err.message}: ${inner}`
}

const classify = (operation: string, e: unknown): AdapterError.Reason => {
  const err = e as { code?: string; canRetry?: boolean }
  const message = `${operation}: ${describe(e)}`
  if (err.code === "PLT_KFK_TIMEOUT") return new AdapterError.Timeout({ message })
  if (err.code === "PLT_KFK_USER" || err.code === "PLT_KFK_AUTHENTICATION") return new AdapterError.Invalid({ message })
  if (err.canRetry === false && err.code === "PLT_KFK_PROTOCOL") return new AdapterError.Rejected({ message })
  return new AdapterError.Unavailable({ message })
}

const kafkaError = (operation: string) => (e: unknown) => new KafkaError({ operation, reason: classify(operation, e) })

type Connection = Schema.Schema.Type<Schema.Struct<typeof connection>>

const base = (c: Connection, name: string) => ({
  clientId: c.clientId ?? `llm-sentinel-${name}`,
  bootstrapBrokers: [...(c.brokers ?? ["127.0.0.1:9092"])],
  timeout: Http.millis(c.timeout ?? "10 seconds"),
  retries: 5,
  retryDelay: 250
})

/**
 * Creates the topics that do not exist yet, with `partitions` partitions each (replication factor 1).
 *
 * @category constructors
 * @since 0.1.0
 */
export const ensureTopics = (
  c: Connection,
  topics: ReadonlyArray<string>,
  partitions: number
): Effect.Effect<void, KafkaError> =>
  Effect.acquireUseRelease(
    Effect.sync(() => new Admin(base(c, "admin"))),
    (admin) =>
      Effect.tryPromise({
        try: async () => {
          const existing = new Set(await admin.listTopics())
          const missing = topics.filter((t) => !existing.has(t))
          if (missing.length === 0) return
          try {
            await admin.createTopics({ topics: missing, partitions, replicas: 1 })
          } catch (e) {
            // created meanwhile by another instance
            if (!/already exists/i.test(describe(e))) throw e
          }
        },
        catch: kafkaError(`create topics ${topics.join(", ")}`)
      }),
    (admin) => Effect.promise(() => admin.close().catch(() => undefined))
  )

/**
 * The key of an event in the events topic: its series group, service × model, so that every series of a
 * group lands in one partition (and one instance owns its state).
 *
 * @category constructors
 * @since 0.1.0
 */
export const eventKey = (e: { readonly service: string; readonly model: string }): string => `${e.service}/${e.model}`

/**
 * The source's handle: the partitions assigned right now, health and counters (`received` records fetched,
 * `sent` offsets committed, `dropped` records of partitions revoked before they were taken, `errors` failed
 * commits).
 *
 * @category services
 * @since 0.1.0
 */
export class KafkaSource extends Context.Service<
  KafkaSource,
  {
    readonly assigned: Effect.Effect<ReadonlyArray<number>>
    /** Whether fetching is paused by backpressure right now, and how many times it was. */
    readonly paused: Effect.Effect<{ readonly now: boolean; readonly times: number }>
    /** The group's committed offset of each partition of the topic (`-1` when none). */
    readonly committed: Effect.Effect<ReadonlyArray<number>, KafkaError>
    /** Records behind of each partition of the topic: its end offset minus the group's position. */
    readonly lag: Effect.Effect<ReadonlyArray<number>, KafkaError>
    readonly health: Effect.Effect<boolean>
    readonly counters: Counters.Counters
  }
>()("@llm-sentinel/adapters/KafkaSource") {}

interface PartitionState {
  readonly partition: number
  readonly queue: Queue.Queue<Message<string, string, string, string>, Cause.Done>
  readonly released: Deferred.Deferred<void>
  leaderEpoch: number
  ended: boolean
  /** The offset after the last message passed on: a rebalance that keeps the partition here refetches from the commit. */
  next: bigint
}

const decoder = new TextDecoder()

/**
 * The records of a batch of messages, each with its origin (`kafka <topic>/<partition> offset <n>`): a JSON
 * object, the elements of a JSON array, or the text itself when it is not JSON (the pipeline dead-letters it).
 *
 * @category combinators
 * @since 0.1.0
 */
export const records = (
  msgs: ReadonlyArray<{
    readonly topic: string
    readonly partition: number
    readonly offset: bigint
    readonly value: unknown
  }>
): { readonly raw: Array<unknown>; readonly origins: Array<string> } => {
  const raw: Array<unknown> = []
  const origins: Array<string> = []
  for (const m of msgs) {
    const origin = `kafka ${m.topic}/${m.partition} offset ${m.offset}`
    const text = typeof m.value === "string" ? m.value : m.value instanceof Uint8Array ? decoder.decode(m.value) : ""
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      raw.push(text)
      origins.push(origin)
      continue
    }
    if (Array.isArray(value)) {
      for (const v of value) {
        raw.push(v)
        origins.push(origin)
      }
    } else {
      raw.push(value)
      origins.push(origin)
    }
  }
  return { raw, origins }
}

/**
 * A consumer group as the pipeline's `PartitionedSource` (run it with `Pipeline.makePartitioned`), with its
 * {@link KafkaSource} handle. Closing the layer leaves the group.
 *
 * @example
 * ```ts
 * import { Kafka } from "@llm-sentinel/adapters"
 * const source = Kafka.layerSource({ topic: "llm-events", groupId: "sentinel" })
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layerSource = (
  config: SourceConfig
): Layer.Layer<EventSource.PartitionedSource | KafkaSource, KafkaError> =>
  Layer.effectContext(
    Effect.gen(function* () {
      yield* Http.validate(SourceConfig, config).pipe(
        Effect.mapError((reason) => new KafkaError({ operation: "configure", reason }))
      )
      const name = `${config.topic}/${config.groupId}`
      const counters = Counters.make("kafka", name)
      if (config.createPartitions !== undefined) yield* ensureTopics(config, [config.topic], config.createPartitions)
      const batchSize = config.batchSize ?? 1000
      const maxBuffered = config.maxBuffered ?? 20_000
      const consumer = yield* Effect.acquireRelease(
        Effect.sync(
          () =>
            new Consumer<string, string, string, string>({
              ...base(config, "source"),
              groupId: config.groupId,
              sessionTimeout: Http.millis(config.sessionTimeout ?? "10 seconds"),
              heartbeatInterval: Http.millis(config.heartbeatInterval ?? "1 second"),
              rebalanceTimeout: Http.millis(config.rebalanceTimeout ?? "20 seconds"),
              autocommit: false,
              deserializers: {
                key: stringDeserializer,
                value: stringDeserializer,
                headerKey: stringDeserializer,
                headerValue: stringDeserializer
              }
            })
        ),
        (c) => Effect.promise(() => c.close(true).catch(() => undefined))
      )
      const partitions = yield* Queue.unbounded<Partition, Cause.Done>()
      const states = new Map<number, PartitionState>()
      // the last release of each partition: a partition assigned again waits for its previous pipeline
      const lastRelease = new Map<number, Deferred.Deferred<void>>()
      let assigned: Set<number> | undefined
      let buffered = 0
      let paused = false
      let pauses = 0
      let stream: MessagesStream<string, string, string, string> | undefined

      const resumeIfDrained = () => {
        if (paused && buffered <= maxBuffered / 2) {
          paused = false
          stream?.resume()
        }
      }

      const endPartition = (st: PartitionState) => {
        if (st.ended) return
        st.ended = true
        states.delete(st.partition)
        // what was fetched and not taken belongs to the next owner now: it reads it again from the commit
        const left = Queue.sizeUnsafe(st.queue)
        buffered -= left
        Queue.endUnsafe(st.queue)
        resumeIfDrained()
      }

      const commitOffset = (st: PartitionState, offset: number) =>
        Effect.tryPromise({
          try: () =>
            consumer.commit({
              offsets: [
                { topic: config.topic, partition: st.partition, offset: BigInt(offset), leaderEpoch: st.leaderEpoch }
              ]
            }),
          catch: kafkaError(`commit ${config.topic}/${st.partition}`)
        }).pipe(
          Effect.tap(() => counters.add("sent", 1)),
          // a commit refused because the partition moved on is harmless: the next owner replays a little more
          Effect.catch((e) =>
            counters
              .add("errors", 1)
              .pipe(Effect.andThen(Effect.logWarning(`${e.message} (the next owner replays from the previous commit)`)))
          )
        )

      const open = (partition: number): PartitionState => {
        const queue = Effect.runSync(Queue.unbounded<Message<string, string, string, string>, Cause.Done>())
        const released = Deferred.makeUnsafe<void>()
        const previous = lastRelease.get(partition)
        lastRelease.set(partition, released)
        const st: PartitionState = { partition, queue, released, leaderEpoch: -1, ended: false, next: -1n }
        states.set(partition, st)
        const batches: Stream.Stream<SourceBatch> = Stream.fromQueue(queue).pipe(
          Stream.mapArray((msgs) => {
            buffered -= msgs.length
            resumeIfDrained()
            const out: Array<SourceBatch> = []
            for (let i = 0; i < msgs.length; i += batchSize) {
              const part = msgs.slice(i, i + batchSize)
              const first = part[0] as Message<string, string, string, string>
              const last = part[part.length - 1] as Message<string, string, string, string>
              const { raw, origins } = records(part)
              out.push({
                raw,
                events: [],
                ack: Effect.void,
                position: Number(first.offset),
                end: Number(last.offset) + 1,
                origins,
                origin: `kafka ${config.topic}/${partition}`
              })
            }
            return out as unknown as readonly [SourceBatch, ...Array<SourceBatch>]
          })
        )
        Queue.offerUnsafe(partitions, {
          id: `${config.topic}/${partition}`,
          batches: previous === undefined ? batches : Stream.unwrap(Effect.as(Deferred.await(previous), batches)),
          commit: (position) => commitOffset(st, position.replayFrom),
          released: Deferred.succeed(released, undefined).pipe(Effect.asVoid)
        })
        return st
      }

      const onData = (m: Message<string, string, string, string>) => {
        if (assigned !== undefined && !assigned.has(m.partition)) return
        let st = states.get(m.partition)
        if (st === undefined) st = open(m.partition)
        // after a rebalance that left the partition here, the consumer fetches again from the committed offset
        // (replayFrom): what this partition's pipeline already has is not passed on twice
        if (m.offset < st.next) return
        st.next = m.offset + 1n
        st.leaderEpoch = m.leaderEpoch
        Queue.offerUnsafe(st.queue, m)
        buffered++
        void counters.add("received", 1).pipe(Effect.runSync)
        if (!paused && buffered >= maxBuffered) {
          paused = true
          pauses++
          stream?.pause()
        }
      }

      consumer.on("consumer:group:join", (payload) => {
        const mine = new Set<number>()
        for (const a of payload.assignments ?? [])
          if (a.topic === config.topic) for (const p of a.partitions) mine.add(p)
        assigned = mine
        Effect.runFork(
          Effect.logInfo(
            `kafka ${config.topic} group ${config.groupId}: assigned partitions [${[...mine].sort((x, y) => x - y).join(",")}]`
          )
        )
        for (const st of [...states.values()]) if (!mine.has(st.partition)) endPartition(st)
      })

      stream = yield* Effect.tryPromise({
        try: () =>
          consumer.consume({
            topics: [config.topic],
            mode: "committed",
            fallbackMode: "earliest",
            autocommit: false,
            maxWaitTime: Http.millis(config.maxWaitTime ?? "500 millis"),
            maxBytes: config.fetchMaxBytes ?? 1024 * 1024,
            maxBytesPerPartition: config.fetchMaxBytes ?? 1024 * 1024,
            sessionTimeout: Http.millis(config.sessionTimeout ?? "10 seconds"),
            heartbeatInterval: Http.millis(config.heartbeatInterval ?? "1 second"),
            rebalanceTimeout: Http.millis(config.rebalanceTimeout ?? "20 seconds")
          }),
        catch: kafkaError(`join group ${config.groupId}`)
      })
      const failed = yield* Deferred.make<void, KafkaError>()
      stream.on("data", onData)
      stream.on("error", (e) => {
        Deferred.doneUnsafe(failed, Effect.fail(kafkaError(`consume ${config.topic}`)(e)))
      })
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          for (const st of [...states.values()]) endPartition(st)
          yield* Effect.promise(() =>
            (stream as MessagesStream<string, string, string, string>).close().catch(() => undefined)
          )
        })
      )

      const partitionStream: Stream.Stream<Partition, import("@llm-sentinel/core").SourceError.SourceError> =
        Stream.fromQueue(partitions).pipe(
          Stream.interruptWhen(
            Deferred.await(failed).pipe(Effect.mapError((e) => AdapterError.toSourceError("kafka", e.reason, e)))
          ),
          // ending the source (the layer closes) ends every partition, so each pipeline drains and checkpoints
          Stream.ensuring(
            Effect.sync(() => {
              for (const st of [...states.values()]) endPartition(st)
            })
          )
        )

      const committed = Effect.tryPromise({
        try: async () => {
          const meta = await consumer.metadata({ topics: [config.topic] })
          const n = meta.topics.get(config.topic)?.partitionsCount ?? 0
          const offsets = await consumer.listCommittedOffsets({
            topics: [{ topic: config.topic, partitions: Array.from({ length: n }, (_, i) => i) }]
          })
          return (offsets.get(config.topic) ?? []).map((o) => Number(o))
        },
        catch: kafkaError(`committed offsets of ${config.groupId}`)
      })
      const lag = Effect.tryPromise({
        try: async () => ((await consumer.getLag({ topics: [config.topic] })).get(config.topic) ?? []).map(Number),
        catch: kafkaError(`lag of ${config.groupId}`)
      })
      const health = Effect.sync(() => consumer.isActive() && stream !== undefined && !stream.closed)

      return Context.make(EventSource.PartitionedSource, { partitions: partitionStream }).pipe(
        Context.add(KafkaSource, {
          assigned: Effect.sync(() => [...(assigned ?? new Set<number>())].sort((a, b) => a - b)),
          paused: Effect.sync(() => ({ now: paused, times: pauses })),
          committed,
          lag,
          health,
          counters
        })
      )
    })
  )

/**
 * The sink's client: publishes anomalies and alert events.
 *
 * @category services
 * @since 0.1.0
 */
export class KafkaSink extends Context.Service<
  KafkaSink,
  {
    readonly publishAnomalies: (anomalies: ReadonlyArray<Anomaly.Anomaly>) => Effect.Effect<void, KafkaError>
    readonly publishAlerts: (events: ReadonlyArray<Alert.AlertEvent>) => Effect.Effect<void, KafkaError>
    readonly health: Effect.Effect<boolean>
    readonly counters: Counters.Counters
  }
>()("@llm-sentinel/adapters/KafkaSink") {}

const openProducer = (c: Connection, name: string) =>
  Effect.acquireRelease(
    Effect.sync(
      () =>
        new Producer<string, string, string, string>({
          ...base(c, name),
          serializers: stringSerializers,
          acks: ProduceAcks.ALL,
          // a send retried after a timeout or a leader change must not write its records twice: without it a
          // freshly started broker once left 175 of 2,400 events in the topic twice (the windows would count them
          // twice: a false rate spike). The client then keeps one produce in flight per broker.
          idempotent: true
        })
    ),
    (p) => Effect.promise(() => p.close(true).catch(() => undefined))
  )

const producerHealth = (p: Producer<string, string, string, string>, topic: string) =>
  Effect.tryPromise(() => p.metadata({ topics: [topic] })).pipe(
    Effect.as(true),
    Effect.catch(() => Effect.succeed(false))
  )

/**
 * The Kafka sink as `AnomalySink` and `AlertSink`, with its {@link KafkaSink} client.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerSink = (
  config: SinkConfig = {}
): Layer.Layer<AnomalySink.AnomalySink | AlertSink.AlertSink | KafkaSink, KafkaError> =>
  Layer.effectContext(
    Effect.gen(function* () {
      yield* Http.validate(SinkConfig, config).pipe(
        Effect.mapError((reason) => new KafkaError({ operation: "configure", reason }))
      )
      const anomalyTopic = config.anomalyTopic ?? "sentinel.anomalies"
      const alertTopic = config.alertTopic ?? "sentinel.alerts"
      if (config.createPartitions !== undefined) {
        yield* ensureTopics(config, [anomalyTopic, alertTopic], config.createPartitions)
      }
      const counters = Counters.make("kafka", anomalyTopic)
      const producer = yield* openProducer(config, "sink")
      const publish = (
        operation: string,
        topic: string,
        items: ReadonlyArray<readonly [key: string, id: string, value: string]>
      ) =>
        items.length === 0
          ? Effect.void
          : counters.add("received", items.length).pipe(
              Effect.andThen(
                Effect.tryPromise({
                  try: () =>
                    producer.send({
                      messages: items.map(([key, id, value]) => ({
                        topic,
                        key,
                        value,
                        headers: new Map([["id", id]])
                      }))
                    }),
                  catch: kafkaError(operation)
                })
              ),
              Effect.tap(() => counters.add("sent", items.length)),
              Effect.tapError(() => counters.add("errors", 1)),
              Effect.asVoid
            )
      const publishAnomalies = (xs: ReadonlyArray<Anomaly.Anomaly>) =>
        publish(
          "publish anomalies",
          anomalyTopic,
          xs.map((a) => [a.series.id, a.id, JSON.stringify(a)] as const)
        )
      const publishAlerts = (events: ReadonlyArray<Alert.AlertEvent>) =>
        publish(
          "publish alerts",
          alertTopic,
          events.map(
            (e) =>
              [e._tag === "storm" ? "storm" : e.alert.series.id, AlertJson.deliveryId(e), AlertJson.encode(e)] as const
          )
        )
      const toSink = (e: KafkaError) => AdapterError.toSinkError("kafka", e.reason, e)
      return Context.make(AnomalySink.AnomalySink, {
        write: (xs) => Effect.mapError(publishAnomalies(xs), toSink)
      }).pipe(
        Context.add(AlertSink.AlertSink, { write: (xs) => Effect.mapError(publishAlerts(xs), toSink) }),
        Context.add(KafkaSink, {
          publishAnomalies,
          publishAlerts,
          health: producerHealth(producer, anomalyTopic),
          counters
        })
      )
    })
  )

/**
 * The ingest producer's handle: health and counters (`received` events offered, `sent` events the broker
 * acknowledged, `errors` failed sends).
 *
 * @category services
 * @since 0.1.0
 */
export class KafkaProducer extends Context.Service<
  KafkaProducer,
  {
    /** Produces events to the events topic, keyed by {@link eventKey}; done when the broker acknowledged them. */
    readonly produce: (events: ReadonlyArray<Event.TelemetryEvent>) => Effect.Effect<void, KafkaError>
    readonly health: Effect.Effect<boolean>
    readonly counters: Counters.Counters
  }
>()("@llm-sentinel/adapters/KafkaProducer") {}

/**
 * The core's `EventQueue` over Kafka, for HTTP ingest: `offer` and `tryOffer` produce the batch's events to the
 * events topic and return once the broker acknowledged them, then run the batch's `ack` (a failure is a
 * `SourceError`: ingest answers 5xx and nothing was accepted). In-flight sends are bounded: past `maxInFlight`
 * unacknowledged events `tryOffer` answers `false` (ingest answers 429 with `Retry-After`); `size` is the events in
 * flight. `end` does nothing (the topic outlives this process).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerEventQueue = (
  config: ProducerConfig
): Layer.Layer<EventSource.EventQueue | KafkaProducer, KafkaError> =>
  Layer.effectContext(
    Effect.gen(function* () {
      yield* Http.validate(ProducerConfig, config).pipe(
        Effect.mapError((reason) => new KafkaError({ operation: "configure", reason }))
      )
      if (config.createPartitions !== undefined) yield* ensureTopics(config, [config.topic], config.createPartitions)
      const counters = Counters.make("kafka", config.topic)
      const producer = yield* openProducer(config, "ingest")
      const produce = (events: ReadonlyArray<Event.TelemetryEvent>) =>
        events.length === 0
          ? Effect.void
          : counters.add("received", events.length).pipe(
              Effect.andThen(
                Effect.tryPromise({
                  try: () =>
                    producer.send({
                      messages: events.map((e) => ({ topic: config.topic, key: eventKey(e), value: JSON.stringify(e) }))
                    }),
                  catch: kafkaError(`produce to ${config.topic}`)
                })
              ),
              Effect.tap(() => counters.add("sent", events.length)),
              Effect.tapError(() => counters.add("errors", 1)),
              Effect.asVoid
            )
      const maxInFlight = config.maxInFlight ?? 50_000
      let inFlight = 0
      // the batch's events are in Kafka once the broker acknowledged them: that ends their time in flight here
      // (its `ack`, which releases HTTP ingest's admission), whatever the pipeline consuming the topic does
      const send = (batch: SourceBatch) =>
        produce(batch.events).pipe(
          Effect.mapError((e) => AdapterError.toSourceError("kafka", e.reason, e)),
          Effect.andThen(batch.ack),
          Effect.ensuring(Effect.sync(() => void (inFlight -= batch.events.length)))
        )
      const offer = (batch: SourceBatch) =>
        Effect.suspend(() => {
          inFlight += batch.events.length
          return send(batch)
        })
      const tryOffer = (batch: SourceBatch) =>
        Effect.suspend(() => {
          if (inFlight > 0 && inFlight + batch.events.length > maxInFlight) return Effect.succeed(false)
          inFlight += batch.events.length
          return Effect.as(send(batch), true)
        })
      return Context.make(EventSource.EventQueue, {
        offer,
        tryOffer,
        size: Effect.sync(() => inFlight),
        end: Effect.void
      }).pipe(Context.add(KafkaProducer, { produce, health: producerHealth(producer, config.topic), counters }))
    })
  )
