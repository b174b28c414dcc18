/**
 * `sentinel serve`: the default composition. With no configuration it listens on `127.0.0.1:7300`, runs the
 * default pipeline (1-minute tumbling windows, the default signals, the default detectors — calibrated rate of
 * change, MAD, seasonal and slow CUSUM at warning 4.3 / critical 5, see `Defaults.config` — and the default alert
 * policy) on events posted to `POST /v1/events`,
 * stores anomalies in the embedded store (`<data-dir>/sentinel.db`) and logs alerts and dead letters.
 *
 * Accepted events are appended to the journal (`<data-dir>/journal/`) before the 202 is sent. Detector states,
 * window clocks and the journal position are checkpointed to the store every `checkpointEvery`; on start-up the
 * journal is replayed from the last checkpoint, so a crash (even `kill -9`) loses nothing that was accepted.
 *
 * Layers, in the order they start (and stop in reverse):
 * 1. the embedded store, the journal (replaying from the last checkpoint), the event queue and readiness;
 * 2. the pipeline, forked: its release ends the queue and waits for the pipeline to drain (windows still open
 *    are not cut short: the next start replays them from the journal);
 * 3. the HTTP server: its release stops accepting connections and waits for the requests in flight.
 * So on SIGTERM/SIGINT requests in flight finish, then the pipeline drains, then the store closes.
 *
 * @since 0.1.0
 */

import { join } from "node:path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { AdapterError, Kafka, type Nats, Postgres } from "@llm-sentinel/adapters"
import {
  Alert,
  AlertSink,
  AnomalyStore,
  type DeadLetterSink,
  type Detector,
  Event,
  EventSource,
  Pipeline,
  Verdict
} from "@llm-sentinel/core"
import { Defaults } from "@llm-sentinel/detectors"
import {
  ByteSize,
  Console,
  Context,
  Duration,
  Effect,
  Fiber,
  Layer,
  Metric,
  Option,
  Redacted,
  Result,
  Schedule,
  Schema
} from "effect"
import { Command, Flag } from "effect/cli"
import { HttpServer } from "effect/http"
import type * as Admission from "./Admission.ts"
import * as AlertLog from "./AlertLog.ts"
import * as Config from "./Config.ts"
import * as ConfigDetectors from "./ConfigDetectors.ts"
import * as ConfigLoad from "./ConfigLoad.ts"
import * as DeadLetters from "./DeadLetters.ts"
import * as EmbeddedStore from "./EmbeddedStore.ts"
import * as Http from "./Http.ts"
import * as Ingest from "./Ingest.ts"
import * as Journal from "./Journal.ts"
import * as NatsIngest from "./NatsIngest.ts"
import * as Observability from "./Observability.ts"
import * as ProcessMetrics from "./ProcessMetrics.ts"
import * as Readiness from "./Readiness.ts"
import * as Redaction from "./Redaction.ts"
import * as SeriesRegistry from "./SeriesRegistry.ts"
import * as Sinks from "./Sinks.ts"

/**
 * Everything `serve` runs with.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly host: string
  readonly port: number
  readonly dataDir: string
  readonly window: Duration.Input
  readonly maxDelay: Duration.Input
  readonly idleTimeout: Duration.Input
  readonly maxBodyBytes: number
  /** Most records in one ingest request (413 past it). */
  readonly maxRecordsPerRequest: number
  /** Batches (requests) the ingest queue holds before answering 429. */
  readonly queueCapacity: number
  /** Events and request bytes in flight before ingest answers 429. */
  readonly admission: Admission.Limits
  /** The journal's disk budget in bytes (507 past it). */
  readonly journalMaxBytes: number
  /** The size at which the journal starts a new segment file. */
  readonly journalSegmentBytes: number
  /** Plausible event times of ingest and journal replay. */
  readonly timeBounds: Event.TimeBounds
  /** Empty windows a gap in a series emits in a row before the windowing jumps ahead. */
  readonly maxEmptyWindows: number
  /** Origins whose web pages may call the API (CORS); every other cross-origin request is refused. */
  readonly corsOrigins: ReadonlyArray<string>
  /** More `Host` names accepted on a loopback bind (a local reverse proxy's name). */
  readonly allowedHosts: ReadonlyArray<string>
  /** How often detector states, window clocks and the journal position are checkpointed (default 30 s). */
  readonly checkpointEvery: Duration.Input
  /** Detectors (default: `Defaults.config`'s, per metric with the metric's minimum meaningful change). */
  readonly detectors?: Detector.Selection
  /**
   * PostgreSQL instead of the embedded store: anomalies, alerts, dead letters and checkpoints go there
   * (migrated on start). Required with `kafka`.
   */
  readonly postgres?: Postgres.Config
  /**
   * Kafka instead of the journal: HTTP ingest produces to `topic` (acknowledged by the broker before the 202),
   * and the pipeline consumes it in the consumer group `groupId`, one pipeline per assigned partition, so
   * several instances share the work.
   */
  readonly kafka?: KafkaOptions
  /** The thresholds of the deciding step (default `Defaults.thresholds`, what the default detectors were chosen with). */
  readonly thresholds?: Verdict.Thresholds
  readonly maxSeries?: number
  /** Bytes for the recent points of all live series together (`pipeline.seriesHistory`, default 64 MiB). */
  readonly seriesHistoryBytes?: number
  readonly dimension?: "environment" | "provider" | "operation"
  readonly signals?: ReadonlyArray<string>
  /** The alert policy and routing (`alerts:` of the configuration). */
  readonly alerts?: typeof Config.Alerts.Type
  /** The configured sinks (`sinks:`), besides the store. */
  readonly sinks?: ReadonlyArray<Config.Sink>
  /** API keys (`auth.keys`); with none the API is open (loopback only, unless `allowUnauthenticated`). */
  readonly keys?: ReadonlyArray<typeof Config.ApiKey.Type>
  /** Serve HTTPS with these PEM files. */
  readonly tls?: { readonly cert: string; readonly key: string }
  readonly privacy?: typeof Config.Privacy.Type
  readonly observability?: typeof Config.Observability.Type
  /** A NATS JetStream source whose messages are journaled, then acknowledged. */
  readonly nats?: Nats.SourceConfig
}

/**
 * Where `serve` finds Kafka (see {@link Options}).
 *
 * @category models
 * @since 0.1.0
 */
export interface KafkaOptions {
  readonly brokers: ReadonlyArray<string>
  readonly topic: string
  readonly groupId: string
  /** When set, the topic is created with this many partitions if missing. */
  readonly partitions?: number
}

/**
 * The defaults of {@link Options}.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaults: Options = {
  host: "127.0.0.1",
  port: 7300,
  dataDir: ".sentinel",
  window: "1 minute",
  maxDelay: "5 seconds",
  idleTimeout: "30 seconds",
  maxBodyBytes: Ingest.defaultMaxBodyBytes,
  maxRecordsPerRequest: Ingest.defaultMaxRecordsPerRequest,
  queueCapacity: 1024,
  admission: { maxEvents: 100_000, maxBytes: 64 * 1024 * 1024 },
  journalMaxBytes: Journal.defaultMaxBytes,
  journalSegmentBytes: 64 * 1024 * 1024,
  timeBounds: Event.defaultTimeBounds,
  maxEmptyWindows: 10,
  corsOrigins: [],
  allowedHosts: [],
  checkpointEvery: "30 seconds"
}

/**
 * A flag or setting of `serve` is invalid.
 *
 * @category errors
 * @since 0.1.0
 */
export class ServeConfigError extends Schema.TaggedError<ServeConfigError>("@llm-sentinel/server/ServeConfigError")(
  "ServeConfigError",
  { parameter: Schema.String, message: Schema.String }
) {}

/**
 * The default detectors of each watched signal: `Defaults.config`'s, with the signal's minimum meaningful change
 * (a latency signal never fires on a change under 5% or 20 ms), decided by `Defaults.decide`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultDetectors: Detector.Selection = (key) => Defaults.detectors(key.metric)

/**
 * The pipeline's hooks from the services in context: the live series registry sees every scored point, the
 * configured sinks that take window aggregates (InfluxDB) every closed window.
 */
const hooks = Effect.gen(function* () {
  const registry = yield* Effect.serviceOption(SeriesRegistry.SeriesRegistry)
  const sinks = yield* Effect.serviceOption(Sinks.ConfiguredSinks)
  return {
    onScored: Option.isSome(registry)
      ? (scored: ReadonlyArray<Detector.Scored>) => {
          registry.value.observe(scored)
          ProcessMetrics.observeScored(scored)
        }
      : ProcessMetrics.observeScored,
    ...(Option.isSome(sinks) && sinks.value.takesWindows ? { onWindows: sinks.value.writeWindows } : {})
  }
})

/**
 * The running pipeline.
 *
 * @category services
 * @since 0.1.0
 */
export class RunningPipeline extends Context.Service<
  RunningPipeline,
  {
    readonly pipeline: Pipeline.Pipeline
    readonly fiber: Fiber.Fiber<void, unknown>
  }
>()("@llm-sentinel/server/RunningPipeline") {}

/**
 * Forks the pipeline for the lifetime of the layer and registers the `pipeline` readiness check. Releasing the
 * layer ends the event queue and waits for the pipeline to drain (bounded by the pipeline's `drainTimeout`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerPipeline = (
  config: Pipeline.Config
): Layer.Layer<
  RunningPipeline,
  never,
  | EventSource.EventSource
  | EventSource.EventQueue
  | Readiness.Readiness
  | import("@llm-sentinel/core").AnomalySink.AnomalySink
  | DeadLetterSink.DeadLetterSink
  | AlertSink.AlertSink
> =>
  Layer.effect(
    RunningPipeline,
    Effect.gen(function* () {
      const queue = yield* EventSource.EventQueue
      const readiness = yield* Readiness.Readiness
      const pipeline = Pipeline.make(config, yield* hooks)
      let running = true
      const fiber = yield* pipeline.run.pipe(
        Effect.tapCause((cause) => Effect.logError("the pipeline stopped with an error", cause)),
        Effect.ensuring(Effect.sync(() => void (running = false))),
        Effect.forkScoped
      )
      yield* readiness.register(
        "pipeline",
        Effect.sync(() => running)
      )
      // Runs before the scope interrupts the fiber: end the source and let the pipeline drain.
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          yield* Effect.logInfo("draining the pipeline")
          yield* queue.end
          const done = yield* Fiber.await(fiber).pipe(
            Effect.timeoutOption(Duration.millis(config.drainTimeoutMs + 1000))
          )
          if (Option.isNone(done)) yield* Effect.logWarning("the pipeline did not drain in time; stopping it")
          else {
            const s = yield* pipeline.stats
            yield* Effect.logInfo(
              `pipeline drained: ${s.received} events received, ${s.windows} windows, ${s.anomalies} anomalies`
            )
          }
        })
      )
      return { pipeline, fiber }
    })
  )

/** A server layer with nothing left to provide (the compiler checks it), as the server's layer type. */
const complete = <A, E>(layer: Layer.Layer<A, E, never>): Layer.Layer<HttpServer.HttpServer, unknown> =>
  layer as unknown as Layer.Layer<HttpServer.HttpServer, unknown>

/** The configured sinks, dead-lettering into the server's dead-letter store. */
const configuredSinks = (options: Options) =>
  Sinks.layer(options.sinks ?? [], options.alerts?.routes).pipe(
    Layer.provide(Layer.merge(DeadLetters.layerSink, NodeFileSystem.layer))
  )

/**
 * The pipeline configuration of the options, or the first invalid setting (a window that is not positive, …).
 *
 * @category constructors
 * @since 0.2.0
 */
export const pipelineConfig = (options: Options) =>
  Effect.gen(function* () {
    const policy =
      options.alerts === undefined
        ? undefined
        : Alert.policy({
            ...(options.alerts.minSeverity === undefined ? {} : { minSeverity: options.alerts.minSeverity }),
            ...(options.alerts.resolveAfter === undefined ? {} : { resolveAfter: options.alerts.resolveAfter }),
            ...(options.alerts.cooldown === undefined ? {} : { cooldown: options.alerts.cooldown as Duration.Input }),
            ...(options.alerts.stormCap === undefined ? {} : { stormCap: options.alerts.stormCap }),
            ...(options.alerts.stormWindow === undefined
              ? {}
              : { stormWindow: options.alerts.stormWindow as Duration.Input })
          })
    if (policy !== undefined && Result.isFailure(policy)) {
      return yield* new ServeConfigError({
        parameter: `alerts.${policy.failure.parameter}`,
        message: policy.failure.message
      })
    }
    const alertPolicy = policy === undefined ? undefined : policy.success
    const config = Pipeline.makeConfig({
      detectors: options.detectors ?? defaultDetectors,
      decide: options.thresholds === undefined ? Defaults.decide : Verdict.threshold(options.thresholds),
      // the live peer-group stage comes with the default detectors (a configured detector set is taken as it is)
      ...(options.detectors === undefined ? { peers: Defaults.config.peerOptions() } : {}),
      ...(options.maxSeries === undefined ? {} : { maxSeries: options.maxSeries }),
      ...(options.dimension === undefined ? {} : { dimension: options.dimension }),
      ...(options.signals === undefined ? {} : { signals: options.signals }),
      ...(alertPolicy === undefined ? {} : { alert: alertPolicy }),
      window: options.window,
      maxDelay: options.maxDelay,
      idleTimeout: options.idleTimeout,
      checkpointEvery: options.checkpointEvery,
      // the journal replays open windows after a restart: closing them early at shutdown would cut them short
      flushOnEnd: false,
      // journaled records are decoded again on replay: the same plausibility rules as live ingest
      timeBounds: options.timeBounds,
      maxEmptyWindows: options.maxEmptyWindows
    })
    if (Result.isFailure(config)) {
      return yield* new ServeConfigError({ parameter: config.failure.parameter, message: config.failure.message })
    }
    return config.success
  })

/** The live-series registry of both servers, with the configured history budget. */
const seriesRegistry = (options: Options, detectors: Detector.Selection) =>
  SeriesRegistry.layer({
    detectors,
    ...(options.seriesHistoryBytes === undefined ? {} : { historyBytes: options.seriesHistoryBytes })
  })

/**
 * The whole server as one layer.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const config = yield* pipelineConfig(options)
      const store = EmbeddedStore.layer({ path: EmbeddedStore.fileIn(options.dataDir) })
      const deadLetters = DeadLetters.layer.pipe(Layer.provideMerge(store))
      const journal = Journal.layer({
        dir: join(options.dataDir, "journal"),
        maxBytes: options.journalMaxBytes,
        maxSegmentBytes: options.journalSegmentBytes
      })
      // ready once the journal's replay has been processed: before that, queries miss what is being replayed
      let replayed = false
      const source = Journal.layerSource({
        capacity: options.queueCapacity,
        onReplayed: Effect.sync(() => {
          replayed = true
        })
      }).pipe(Layer.provide(journal), Layer.provide(store), redactSource(options))
      const base = Layer.mergeAll(
        source,
        Readiness.layer,
        seriesRegistry(options, config.detectors),
        AlertLog.layerEmbedded
      ).pipe(Layer.provideMerge(deadLetters))
      const checks = Layer.mergeAll(
        Readiness.check(
          "store",
          Effect.flatMap(EmbeddedStore.EmbeddedStore, (s) => s.isOpen)
        ),
        Readiness.check(
          "replay",
          Effect.sync(() => replayed)
        )
      )
      const sinks = Layer.mergeAll(
        Sinks.layerAnomalySink(AnomalyStore.layerSink),
        DeadLetters.layerSink,
        SeriesRegistry.layerAlertSink(AlertLog.layerSink(Sinks.layerAlertSink(AlertSink.layerLog)))
      ).pipe(Layer.provideMerge(configuredSinks(options)))
      const pipeline = layerPipeline(config).pipe(Layer.provide(sinks))
      const http = Http.layer({
        host: options.host,
        port: options.port,
        maxBodyBytes: options.maxBodyBytes,
        maxRecordsPerRequest: options.maxRecordsPerRequest,
        timeBounds: options.timeBounds,
        admission: options.admission,
        loopback: isLoopback(options.host),
        corsOrigins: options.corsOrigins,
        allowedHosts: options.allowedHosts,
        ...(options.keys === undefined ? {} : { keys: options.keys }),
        ...(options.tls === undefined ? {} : { tls: options.tls }),
        ...(options.privacy === undefined ? {} : { privacy: options.privacy })
      })
      return http.pipe(
        Layer.provideMerge(Layer.mergeAll(pipeline, checks, natsSource(options), ProcessMetrics.layer)),
        Layer.provideMerge(base)
      )
    })
  )

const kafkaLag = Metric.gauge("sentinel_kafka_lag_records", {
  description: "records of a partition this instance owns that the group has not committed yet"
})

/**
 * The running partitioned pipeline of the Kafka mode.
 *
 * @category services
 * @since 0.1.0
 */
export class RunningPartitioned extends Context.Service<
  RunningPartitioned,
  {
    readonly pipeline: Pipeline.Partitioned
    readonly fiber: Fiber.Fiber<void, unknown>
  }
>()("@llm-sentinel/server/RunningPartitioned") {}

const toSinkError = (e: Postgres.PostgresError) => AdapterError.toSinkError("postgres", e.reason, e)

/** The server's dead-letter store over PostgreSQL (what `GET /v1/dead-letters` reads). */
const postgresDeadLetters: Layer.Layer<DeadLetters.DeadLetterStore, never, Postgres.Postgres> = Layer.effect(
  DeadLetters.DeadLetterStore,
  Effect.map(Postgres.Postgres, (pg) => ({
    write: (rejected) => Effect.mapError(pg.writeDeadLetters(rejected), toSinkError),
    latest: (limit) => Effect.mapError(pg.deadLetters(limit), toSinkError)
  }))
)

/**
 * Forks the partitioned pipeline (one pipeline per Kafka partition assigned to this instance) for the lifetime
 * of the layer. Releasing the layer interrupts it: every partition drains, checkpoints and commits before the
 * consumer leaves the group.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerPartitioned = (config: Pipeline.Config) =>
  Layer.effect(
    RunningPartitioned,
    Effect.gen(function* () {
      const readiness = yield* Readiness.Readiness
      const kafka = yield* Kafka.KafkaSource
      const partitioned = Pipeline.makePartitioned(config, yield* hooks)
      let running = true
      const fiber = yield* partitioned.run.pipe(
        Effect.tapCause((cause) => Effect.logError("the pipeline stopped with an error", cause)),
        Effect.ensuring(Effect.sync(() => void (running = false))),
        Effect.forkScoped
      )
      yield* readiness.register(
        "pipeline",
        Effect.sync(() => running)
      )
      yield* readiness.register("kafka", kafka.health)
      // consumer lag of the partitions this instance owns, every 5 s (a failed read keeps the last values)
      yield* Effect.gen(function* () {
        const lag = yield* kafka.lag
        for (const p of yield* kafka.assigned) {
          const n = lag[p]
          if (n !== undefined && n >= 0) {
            yield* Metric.update(Metric.withAttributes(kafkaLag, { partition: String(p) }), n)
          }
        }
      }).pipe(
        Effect.catch(() => Effect.void),
        Effect.repeat(Schedule.spaced("5 seconds")),
        Effect.forkScoped
      )
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          yield* Effect.logInfo(`draining partitions ${(yield* partitioned.partitions).join(", ")}`)
          yield* Fiber.interrupt(fiber).pipe(Effect.timeoutOption(Duration.millis(config.drainTimeoutMs + 1000)))
          const s = yield* partitioned.stats
          yield* Effect.logInfo(
            `partitions drained: ${s.received} events received, ${s.windows} windows, ${s.anomalies} anomalies, ${s.restored} states restored`
          )
        })
      )
      return { pipeline: partitioned, fiber }
    })
  )

/**
 * The server on PostgreSQL: the store is PostgreSQL (migrated on start) and, with `kafka`, the source is the
 * consumer group and HTTP ingest produces to the events topic; without it the journal stays the source.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerBackbone = (options: Options, pg: Postgres.Config) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const config = yield* pipelineConfig(options)
      const store = Postgres.layer(pg)
      const deadLetters = postgresDeadLetters.pipe(Layer.provideMerge(store))
      const checks = Readiness.check(
        "store",
        Effect.flatMap(Postgres.Postgres, (p) => p.health)
      )
      const sinks = Layer.mergeAll(
        Sinks.layerAnomalySink(AnomalyStore.layerSink),
        DeadLetters.layerSink,
        SeriesRegistry.layerAlertSink(AlertLog.layerSink(Sinks.layerAlertSink(AlertSink.layerLog)))
      ).pipe(Layer.provideMerge(configuredSinks(options)))
      const registry = Layer.merge(seriesRegistry(options, config.detectors), AlertLog.layerPostgres)
      const http = Http.layer({
        host: options.host,
        port: options.port,
        maxBodyBytes: options.maxBodyBytes,
        maxRecordsPerRequest: options.maxRecordsPerRequest,
        timeBounds: options.timeBounds,
        admission: options.admission,
        loopback: isLoopback(options.host),
        corsOrigins: options.corsOrigins,
        allowedHosts: options.allowedHosts,
        ...(options.keys === undefined ? {} : { keys: options.keys }),
        ...(options.tls === undefined ? {} : { tls: options.tls }),
        ...(options.privacy === undefined ? {} : { privacy: options.privacy })
      })
      const k = options.kafka
      if (k === undefined) {
        let replayed = false
        const journal = Journal.layer({
          dir: join(options.dataDir, "journal"),
          maxBytes: options.journalMaxBytes,
          maxSegmentBytes: options.journalSegmentBytes
        })
        const source = Journal.layerSource({
          capacity: options.queueCapacity,
          onReplayed: Effect.sync(() => {
            replayed = true
          })
        }).pipe(Layer.provide(journal), Layer.provide(store), redactSource(options))
        const base = Layer.mergeAll(source, Readiness.layer, registry).pipe(Layer.provideMerge(deadLetters))
        const replay = Readiness.check(
          "replay",
          Effect.sync(() => replayed)
        )
        const pipeline = layerPipeline(config).pipe(Layer.provide(sinks))
        return complete(
          http.pipe(
            Layer.provideMerge(Layer.mergeAll(pipeline, checks, replay, natsSource(options), ProcessMetrics.layer)),
            Layer.provideMerge(base)
          )
        )
      }
      const connection = {
        brokers: k.brokers,
        ...(k.partitions === undefined ? {} : { createPartitions: k.partitions })
      }
      const source = Kafka.layerSource({ ...connection, topic: k.topic, groupId: k.groupId }).pipe(
        Redaction.layerPartitionedSource(Redaction.make(options.privacy), { timeBounds: options.timeBounds })
      )
      const queue = Kafka.layerEventQueue({ ...connection, topic: k.topic })
      const base = Layer.mergeAll(queue, Readiness.layer, registry).pipe(Layer.provideMerge(deadLetters))
      const pipeline = layerPartitioned(config).pipe(Layer.provide(Layer.merge(sinks, source)))
      return complete(
        http.pipe(Layer.provideMerge(Layer.mergeAll(pipeline, checks, ProcessMetrics.layer)), Layer.provideMerge(base))
      )
    })
  )

// replayed and consumed records are decoded and redacted as live ingest does (privacy)
const withoutType = <A extends { readonly type: string }>({ type: _, ...rest }: A): Omit<A, "type"> => rest

/** The NATS source of the configuration (if any), feeding the journal beside HTTP ingest. */
const natsSource = (options: Options) =>
  options.nats === undefined
    ? Layer.empty
    : NatsIngest.layer({
        config: options.nats,
        redactor: Redaction.make(options.privacy),
        timeBounds: options.timeBounds
      }).pipe(Layer.provide(DeadLetters.layerSink))

const redactSource = (options: Options) =>
  Redaction.layerSource(Redaction.make(options.privacy), { timeBounds: options.timeBounds })

/**
 * Whether an address is on the loopback interface (`127.0.0.0/8`, `::1`, `localhost`).
 *
 * @category guards
 * @since 0.1.0
 */
export const isLoopback = (host: string): boolean => {
  // no trimming: "127.0.0.1 " is not an address the server can bind, and must not pass as loopback
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1")
  const octets = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h)
  return (
    h === "localhost" ||
    h === "::1" ||
    h === "::ffff:127.0.0.1" ||
    octets?.slice(1).every((o) => Number(o) <= 255) === true
  )
}

const byteSize = (parameter: string, input: string): Effect.Effect<number, ServeConfigError> => {
  const s = input.trim()
  const size = /^\d+$/.test(s) ? Option.some(Number(s)) : Option.flatMap(ByteSize.fromString(s), ByteSize.toNumber)
  return Option.isSome(size) && size.value > 0
    ? Effect.succeed(size.value)
    : Effect.fail(
        new ServeConfigError({
          parameter,
          message: `cannot read size ${JSON.stringify(input)} (e.g. "10 MiB" or bytes)`
        })
      )
}

/** The address the server listens on, as a URL (`https://` when it serves TLS). */
const listening = (server: HttpServer.HttpServer["Service"], options: Options): string => {
  const url = HttpServer.formatAddress(server.address)
  return options.tls === undefined ? url : url.replace(/^http:/, "https:")
}

/**
 * Runs the server until it is interrupted (SIGTERM/SIGINT) or the pipeline fails, then shuts down in order.
 *
 * @category constructors
 * @since 0.1.0
 */
export const run = (options: Options) =>
  (options.postgres !== undefined || options.kafka !== undefined ? runBackbone(options) : runEmbedded(options)).pipe(
    Effect.provide(Observability.layer(options.observability))
  )

const runBackbone = (options: Options) =>
  Effect.gen(function* () {
    if (options.postgres === undefined) {
      return yield* new ServeConfigError({
        parameter: "kafka-brokers",
        message: "Kafka needs --postgres: the instances of a consumer group hand partitions' state over through it"
      })
    }
    const pg = options.postgres
    return yield* Effect.gen(function* () {
      const server = yield* HttpServer.HttpServer
      const single = yield* Effect.serviceOption(RunningPipeline)
      const partitioned = yield* Effect.serviceOption(RunningPartitioned)
      yield* Effect.logInfo(
        `sentinel listening on ${listening(server, options)} (store postgres ${pg.url === undefined ? `${pg.host ?? "127.0.0.1"}/${pg.database ?? "postgres"}` : "(url)"} schema ${pg.schema ?? "public"}, ${
          options.kafka === undefined ? "journal source" : `kafka ${options.kafka.topic} group ${options.kafka.groupId}`
        }, window ${Duration.format(Duration.fromInputUnsafe(options.window))})`
      )
      if (Option.isSome(partitioned)) yield* Fiber.join(partitioned.value.fiber)
      else if (Option.isSome(single)) yield* Fiber.join(single.value.fiber)
    }).pipe(Effect.provide(layerBackbone(options, pg)))
  })

const runEmbedded = (options: Options) =>
  Effect.gen(function* () {
    const { fiber } = yield* RunningPipeline
    const store = yield* EmbeddedStore.EmbeddedStore
    const server = yield* HttpServer.HttpServer
    yield* Effect.logInfo(
      `sentinel listening on ${listening(server, options)} (store ${store.path}, window ${Duration.format(
        Duration.fromInputUnsafe(options.window)
      )})`
    )
    yield* Fiber.join(fiber)
  }).pipe(Effect.provide(layer(options)))

const backboneFlags = {
  postgres: Flag.String("postgres").pipe(
    Flag.withDescription(
      "A postgres:// URL: store anomalies, alerts, dead letters and checkpoints in PostgreSQL instead of the embedded store (migrated on start); also SENTINEL_POSTGRES_URL"
    ),
    Flag.withDefault(process.env.SENTINEL_POSTGRES_URL ?? "")
  ),
  postgresSchema: Flag.String("postgres-schema").pipe(
    Flag.withDescription('The schema of Sentinel\'s tables (default "public"; created if missing)'),
    Flag.withDefault("")
  )
}

/**
 * The options `serve` runs with for a decoded configuration: the defaults, then what the configuration sets.
 *
 * @category constructors
 * @since 0.2.0
 */
export const fromConfig = (config: Config.Config): Effect.Effect<Options, ServeConfigError> =>
  Effect.gen(function* () {
    const server = config.server ?? {}
    const limits = config.limits ?? {}
    const p = config.pipeline ?? {}
    const size = (parameter: string, v: string | number | undefined, fallback: number) =>
      v === undefined ? Effect.succeed(fallback) : byteSize(parameter, String(v))
    const bounds = Event.timeBounds({
      ...(limits.minTimestamp === undefined ? {} : { min: limits.minTimestamp }),
      ...(limits.maxFuture === undefined ? {} : { maxFuture: limits.maxFuture as Duration.Input })
    })
    if (Result.isFailure(bounds)) {
      return yield* new ServeConfigError({
        parameter: bounds.failure.parameter === "min" ? "limits.minTimestamp" : "limits.maxFuture",
        message: bounds.failure.message
      })
    }
    const host = server.host ?? defaults.host
    const keys = config.auth?.keys ?? []
    if (!isLoopback(host) && keys.length === 0 && server.allowUnauthenticated !== true) {
      return yield* new ServeConfigError({
        parameter: "host",
        message: `${host} is not a loopback address and no API keys are configured: configure auth.keys (ingest, read, admin scopes), bind to 127.0.0.1 behind a proxy that authenticates, or pass --allow-unauthenticated to accept the risk`
      })
    }
    const store = config.store
    const source = config.source
    const rules = config.detectors
    return {
      host,
      port: server.port ?? defaults.port,
      dataDir: server.dataDir ?? defaults.dataDir,
      window: (p.window ?? defaults.window) as Duration.Input,
      maxDelay: (p.maxDelay ?? defaults.maxDelay) as Duration.Input,
      idleTimeout: (p.idleTimeout ?? defaults.idleTimeout) as Duration.Input,
      checkpointEvery: (p.checkpointEvery ?? defaults.checkpointEvery) as Duration.Input,
      maxBodyBytes: yield* size("limits.maxBody", limits.maxBody, defaults.maxBodyBytes),
      maxRecordsPerRequest: limits.maxRecords ?? defaults.maxRecordsPerRequest,
      queueCapacity: limits.queueCapacity ?? defaults.queueCapacity,
      admission: {
        maxEvents: limits.maxEventsInFlight ?? defaults.admission.maxEvents,
        maxBytes: yield* size("limits.maxBytesInFlight", limits.maxBytesInFlight, defaults.admission.maxBytes)
      },
      journalMaxBytes: yield* size("limits.journalMax", limits.journalMax, defaults.journalMaxBytes),
      journalSegmentBytes: yield* size("limits.journalSegment", limits.journalSegment, defaults.journalSegmentBytes),
      timeBounds: bounds.success,
      maxEmptyWindows: limits.maxEmptyWindows ?? defaults.maxEmptyWindows,
      corsOrigins: server.corsOrigins ?? [],
      allowedHosts: server.allowedHosts ?? [],
      ...(rules === undefined
        ? {}
        : {
            detectors: ConfigDetectors.selection(rules),
            thresholds: Config.thresholdsOf(config, Defaults.thresholds)
          }),
      ...(config.thresholds !== undefined && rules === undefined ? { thresholds: config.thresholds } : {}),
      ...(p.maxSeries === undefined ? {} : { maxSeries: p.maxSeries }),
      ...(p.seriesHistory === undefined
        ? {}
        : {
            seriesHistoryBytes: yield* size(
              "pipeline.seriesHistory",
              p.seriesHistory,
              SeriesRegistry.defaultHistoryBytes
            )
          }),
      ...(p.dimension === undefined ? {} : { dimension: p.dimension }),
      ...(p.signals === undefined ? {} : { signals: p.signals }),
      ...(config.alerts === undefined ? {} : { alerts: config.alerts }),
      ...(config.sinks === undefined ? {} : { sinks: config.sinks }),
      ...(keys.length === 0 ? {} : { keys }),
      ...(server.tls === undefined ? {} : { tls: server.tls }),
      ...(config.privacy === undefined ? {} : { privacy: config.privacy }),
      ...(config.observability === undefined ? {} : { observability: config.observability }),
      ...(source?.type === "nats" ? { nats: withoutType(source) } : {}),
      ...(store?.type === "postgres"
        ? { postgres: { url: store.url, ...(store.schema === undefined ? {} : { schema: store.schema }) } }
        : {}),
      ...(source?.type === "kafka"
        ? {
            kafka: {
              brokers: source.brokers,
              topic: source.topic ?? "llm-events",
              groupId: source.groupId ?? "sentinel",
              ...(source.partitions === undefined ? {} : { partitions: source.partitions })
            }
          }
        : {})
    }
  })

/**
 * The `serve` subcommand.
 *
 * @example
 * ```sh
 * sentinel serve                                  # 127.0.0.1:7300, data in ./.sentinel
 * sentinel serve --config sentinel.yaml --port 8080
 * sentinel serve --port 8080 --data-dir /var/lib/sentinel --window "10 seconds"
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const command = Command.make(
  "serve",
  ConfigLoad.flags,
  Effect.fn(function* (flags) {
    const config = yield* ConfigLoad.load(flags)
    yield* run(yield* fromConfig(config))
  })
).pipe(
  Command.withDescription(
    "Run the server: HTTP ingest and query API, pipeline, embedded store (or PostgreSQL, and Kafka as the backbone); --config FILE for sources, sinks, detectors, routing and keys"
  )
)

/**
 * The PostgreSQL configuration of a `postgres://` URL and a schema.
 *
 * @category constructors
 * @since 0.1.0
 */
export const postgresConfig = (url: string, schema: string): Postgres.Config => ({
  url: Redacted.make(url),
  ...(schema === "" ? {} : { schema })
})

/**
 * The `migrate` subcommand: applies the PostgreSQL migrations not applied yet and says which are applied.
 *
 * @example
 * ```sh
 * sentinel migrate --postgres postgres://sentinel@db/sentinel --postgres-schema sentinel
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const migrateCommand = Command.make(
  "migrate",
  backboneFlags,
  Effect.fn(function* (flags) {
    if (flags.postgres === "") {
      return yield* new ServeConfigError({
        parameter: "postgres",
        message: "expected --postgres postgres://user@host:port/database (or SENTINEL_POSTGRES_URL)"
      })
    }
    const config = postgresConfig(flags.postgres, flags.postgresSchema)
    const applied = yield* Postgres.migrateWith(config)
    const latest = Postgres.migrations.map((m) => m.id)
    yield* Console.log(
      `sentinel migrate: schema ${config.schema ?? "public"} at migration ${applied[applied.length - 1] ?? 0} (${applied.length} of ${latest.length} applied: ${Postgres.migrations
        .filter((m) => applied.includes(m.id))
        .map((m) => `${m.id}_${m.name}`)
        .join(", ")})`
    )
  })
).pipe(Command.withDescription("Apply the PostgreSQL migrations (also run by serve --postgres on start)"))
