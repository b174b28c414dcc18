/**
 * `sentinel serve`: the default composition. With no configuration it listens on `127.0.0.1:7300`, runs the
 * default pipeline (1-minute tumbling windows, the default signals, the default detectors — seasonal + MAD at
 * warning 6 / critical 8, see `Defaults` — and the default alert policy) on events posted to `POST /v1/events`,
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
import { AdapterError, Kafka, Postgres } from "@llm-sentinel/adapters"
import {
  AlertSink,
  AnomalyStore,
  type DeadLetterSink,
  type Detector,
  Event,
  EventSource,
  Pipeline
} from "@llm-sentinel/core"
import { Defaults } from "@llm-sentinel/detectors"
import { ByteSize, Console, Context, Duration, Effect, Fiber, Layer, Option, Redacted, Result, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { HttpServer } from "effect/http"
import type * as Admission from "./Admission.ts"
import * as DeadLetters from "./DeadLetters.ts"
import * as EmbeddedStore from "./EmbeddedStore.ts"
import * as Http from "./Http.ts"
import * as Ingest from "./Ingest.ts"
import * as Journal from "./Journal.ts"
import * as Readiness from "./Readiness.ts"
import * as SeriesRegistry from "./SeriesRegistry.ts"

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
      const registry = yield* Effect.serviceOption(SeriesRegistry.SeriesRegistry)
      const pipeline = Pipeline.make(config, Option.isSome(registry) ? { onScored: registry.value.observe } : {})
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
            const s = pipeline.stats()
            yield* Effect.logInfo(
              `pipeline drained: ${s.received} events received, ${s.windows} windows, ${s.anomalies} anomalies`
            )
          }
        })
      )
      return { pipeline, fiber }
    })
  )

const pipelineConfig = (options: Options) =>
  Effect.gen(function* () {
    const config = Pipeline.makeConfig({
      detectors: options.detectors ?? defaultDetectors,
      decide: Defaults.decide,
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
      }).pipe(Layer.provide(journal), Layer.provide(store))
      const base = Layer.mergeAll(source, Readiness.layer, SeriesRegistry.layer({ detectors: config.detectors })).pipe(
        Layer.provideMerge(deadLetters)
      )
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
        AnomalyStore.layerSink,
        DeadLetters.layerSink,
        SeriesRegistry.layerAlertSink(AlertSink.layerLog)
      )
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
        allowedHosts: options.allowedHosts
      })
      return http.pipe(Layer.provideMerge(Layer.merge(pipeline, checks)), Layer.provideMerge(base))
    })
  )

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
      const registry = yield* Effect.serviceOption(SeriesRegistry.SeriesRegistry)
      const partitioned = Pipeline.makePartitioned(
        config,
        Option.isSome(registry) ? { onScored: registry.value.observe } : {}
      )
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
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          yield* Effect.logInfo(`draining partitions ${partitioned.partitions().join(", ")}`)
          yield* Fiber.interrupt(fiber).pipe(Effect.timeoutOption(Duration.millis(config.drainTimeoutMs + 1000)))
          const s = partitioned.stats()
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
        AnomalyStore.layerSink,
        DeadLetters.layerSink,
        SeriesRegistry.layerAlertSink(Postgres.layerAlertSink(AlertSink.layerLog))
      )
      const registry = SeriesRegistry.layer({ detectors: config.detectors })
      const http = Http.layer({
        host: options.host,
        port: options.port,
        maxBodyBytes: options.maxBodyBytes,
        maxRecordsPerRequest: options.maxRecordsPerRequest,
        timeBounds: options.timeBounds,
        admission: options.admission,
        loopback: isLoopback(options.host),
        corsOrigins: options.corsOrigins,
        allowedHosts: options.allowedHosts
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
        }).pipe(Layer.provide(journal), Layer.provide(store))
        const base = Layer.mergeAll(
          source,
          Readiness.layer,
          SeriesRegistry.layer({ detectors: config.detectors })
        ).pipe(Layer.provideMerge(deadLetters))
        const replay = Readiness.check(
          "replay",
          Effect.sync(() => replayed)
        )
        const pipeline = layerPipeline(config).pipe(Layer.provide(sinks))
        return http.pipe(
          Layer.provideMerge(Layer.mergeAll(pipeline, checks, replay)),
          Layer.provideMerge(base)
        ) as Layer.Layer<HttpServer.HttpServer, unknown>
      }
      const connection = {
        brokers: k.brokers,
        ...(k.partitions === undefined ? {} : { createPartitions: k.partitions })
      }
      const source = Kafka.layerSource({ ...connection, topic: k.topic, groupId: k.groupId })
      const queue = Kafka.layerEventQueue({ ...connection, topic: k.topic })
      const base = Layer.mergeAll(queue, Readiness.layer, registry).pipe(Layer.provideMerge(deadLetters))
      const pipeline = layerPartitioned(config).pipe(Layer.provide(Layer.merge(sinks, source)))
      return http.pipe(Layer.provideMerge(Layer.merge(pipeline, checks)), Layer.provideMerge(base)) as Layer.Layer<
        HttpServer.HttpServer,
        unknown
      >
    })
  )

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

const list = (text: string): ReadonlyArray<string> =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)

const duration = (parameter: string, input: string): Effect.Effect<Duration.Input, ServeConfigError> => {
  const value = /^\d+(\.\d+)?$/.test(input.trim()) ? Number(input) : input
  return Option.isSome(Duration.fromInput(value as Duration.Input))
    ? Effect.succeed(value as Duration.Input)
    : Effect.fail(
        new ServeConfigError({
          parameter,
          message: `cannot read duration ${JSON.stringify(input)} (e.g. "10 seconds", "1 minute", or milliseconds)`
        })
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

/**
 * Runs the server until it is interrupted (SIGTERM/SIGINT) or the pipeline fails, then shuts down in order.
 *
 * @category constructors
 * @since 0.1.0
 */
export const run = (options: Options) =>
  options.postgres !== undefined || options.kafka !== undefined ? runBackbone(options) : runEmbedded(options)

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
        `sentinel listening on ${HttpServer.formatAddress(server.address)} (store postgres ${pg.url === undefined ? `${pg.host ?? "127.0.0.1"}/${pg.database ?? "postgres"}` : "(url)"} schema ${pg.schema ?? "public"}, ${
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
      `sentinel listening on ${HttpServer.formatAddress(server.address)} (store ${store.path}, window ${Duration.format(
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
 * The `serve` subcommand.
 *
 * @example
 * ```sh
 * sentinel serve                                  # 127.0.0.1:7300, data in ./.sentinel
 * sentinel serve --port 8080 --data-dir /var/lib/sentinel --window "10 seconds"
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const command = Command.make(
  "serve",
  {
    host: Flag.String("host").pipe(
      Flag.withDescription(
        "Address to listen on (default 127.0.0.1, loopback only; another address needs --allow-unauthenticated)"
      ),
      Flag.withDefault(defaults.host)
    ),
    allowUnauthenticated: Flag.Boolean("allow-unauthenticated").pipe(
      Flag.withDescription(
        "Allow a non-loopback --host although the API has no authentication yet (anyone who reaches the port can ingest and read)"
      ),
      Flag.withDefault(false)
    ),
    port: Flag.Int("port").pipe(
      Flag.withDescription("HTTP port (default 7300; 0 picks a free port)"),
      Flag.withDefault(defaults.port)
    ),
    dataDir: Flag.String("data-dir").pipe(
      Flag.withDescription("Directory of the embedded store, sentinel.db (default ./.sentinel; created if missing)"),
      Flag.withDefault(defaults.dataDir)
    ),
    window: Flag.String("window").pipe(
      Flag.withDescription('Tumbling window size (default "1 minute"), e.g. "10 seconds"'),
      Flag.withDefault(String(defaults.window))
    ),
    maxDelay: Flag.String("max-delay").pipe(
      Flag.withDescription(
        'Watermark: how far behind the newest event time an event may arrive and still count (default "5 seconds")'
      ),
      Flag.withDefault(String(defaults.maxDelay))
    ),
    idleTimeout: Flag.String("idle-timeout").pipe(
      Flag.withDescription(
        'Close the windows of a series silent for this long, in processing time (default "30 seconds")'
      ),
      Flag.withDefault(String(defaults.idleTimeout))
    ),
    maxBody: Flag.String("max-body").pipe(
      Flag.withDescription('Largest request body (default "10 MiB"; or bytes); larger bodies get 413'),
      Flag.withDefault("10 MiB")
    ),
    maxRecords: Flag.Int("max-records").pipe(
      Flag.withDescription("Most records (events) in one ingest request (default 10000); more get 413"),
      Flag.withDefault(defaults.maxRecordsPerRequest)
    ),
    queueCapacity: Flag.Int("queue-capacity").pipe(
      Flag.withDescription("Ingest requests queued for the pipeline (default 1024); when full, ingest answers 429"),
      Flag.withDefault(defaults.queueCapacity)
    ),
    maxEventsInFlight: Flag.Int("max-events-in-flight").pipe(
      Flag.withDescription(
        "Events accepted but not yet processed by the pipeline (default 100000); past it, ingest answers 429"
      ),
      Flag.withDefault(defaults.admission.maxEvents)
    ),
    maxBytesInFlight: Flag.String("max-bytes-in-flight").pipe(
      Flag.withDescription('Request body bytes being read at once (default "64 MiB"); past it, ingest answers 429'),
      Flag.withDefault("64 MiB")
    ),
    journalMax: Flag.String("journal-max").pipe(
      Flag.withDescription(
        'Disk budget of the journal (default "2 GiB"); when it is used up, ingest answers 507 until checkpoints free segments'
      ),
      Flag.withDefault("2 GiB")
    ),
    journalSegment: Flag.String("journal-segment").pipe(
      Flag.withDescription('Size at which the journal starts a new segment file (default "64 MiB")'),
      Flag.withDefault("64 MiB")
    ),
    maxFuture: Flag.String("max-future").pipe(
      Flag.withDescription(
        'How far ahead of the server clock an event time may be (default "5 minutes"); later ones are rejected'
      ),
      Flag.withDefault("5 minutes")
    ),
    minTimestamp: Flag.String("min-timestamp").pipe(
      Flag.withDescription(
        'The earliest accepted event time, ISO 8601 (default "2000-01-01T00:00:00Z"); epoch seconds sent as milliseconds fall below it'
      ),
      Flag.withDefault("2000-01-01T00:00:00Z")
    ),
    maxEmptyWindows: Flag.Int("max-empty-windows").pipe(
      Flag.withDescription(
        "Empty windows a silent series emits in a row before the windowing skips ahead (default 10; skipped windows are counted)"
      ),
      Flag.withDefault(defaults.maxEmptyWindows)
    ),
    corsOrigin: Flag.String("cors-origin").pipe(
      Flag.withDescription(
        "Comma-separated origins (https://dash.example.com) whose web pages may call the API; other cross-origin requests get 403"
      ),
      Flag.withDefault("")
    ),
    allowedHost: Flag.String("allowed-host").pipe(
      Flag.withDescription(
        "Comma-separated Host names accepted besides localhost/127.0.0.1 on a loopback bind (a local proxy's name)"
      ),
      Flag.withDefault("")
    ),
    checkpointEvery: Flag.String("checkpoint-every").pipe(
      Flag.withDescription(
        'How often detector states and the journal position are saved (default "30 seconds"); a restart replays the journal from the last save'
      ),
      Flag.withDefault(String(defaults.checkpointEvery))
    ),
    ...backboneFlags,
    kafkaBrokers: Flag.String("kafka-brokers").pipe(
      Flag.withDescription(
        "Comma-separated Kafka brokers (host:port): ingest produces to --kafka-topic and the pipeline consumes it in --kafka-group (needs --postgres)"
      ),
      Flag.withDefault("")
    ),
    kafkaTopic: Flag.String("kafka-topic").pipe(
      Flag.withDescription('The events topic (default "llm-events")'),
      Flag.withDefault("llm-events")
    ),
    kafkaGroup: Flag.String("kafka-group").pipe(
      Flag.withDescription('The consumer group the instances share (default "sentinel")'),
      Flag.withDefault("sentinel")
    ),
    kafkaPartitions: Flag.Int("kafka-partitions").pipe(
      Flag.withDescription(
        "Create the events topic with this many partitions if it is missing (default: do not create)"
      ),
      Flag.withDefault(0)
    )
  },
  Effect.fn(function* (flags) {
    if (flags.port < 0 || flags.port > 65535) {
      return yield* new ServeConfigError({ parameter: "port", message: `expected 0 to 65535, got ${flags.port}` })
    }
    for (const [parameter, value] of [
      ["queue-capacity", flags.queueCapacity],
      ["max-records", flags.maxRecords],
      ["max-events-in-flight", flags.maxEventsInFlight]
    ] as const) {
      if (value < 1) return yield* new ServeConfigError({ parameter, message: `expected at least 1, got ${value}` })
    }
    if (flags.maxEmptyWindows < 0) {
      return yield* new ServeConfigError({ parameter: "max-empty-windows", message: "expected 0 or more" })
    }
    const minMs = Event.parseIsoDateTime(flags.minTimestamp)
    if (minMs === undefined) {
      return yield* new ServeConfigError({
        parameter: "min-timestamp",
        message: `expected an ISO 8601 date-time with a time zone, got ${JSON.stringify(flags.minTimestamp)}`
      })
    }
    if (/\s/.test(flags.host) || flags.host.length === 0) {
      return yield* new ServeConfigError({
        parameter: "host",
        message: `expected an address without spaces, got ${JSON.stringify(flags.host)}`
      })
    }
    if (!isLoopback(flags.host) && !flags.allowUnauthenticated) {
      return yield* new ServeConfigError({
        parameter: "host",
        message: `${flags.host} is not a loopback address and the API has no authentication yet (API keys are planned): bind to 127.0.0.1 behind a proxy that authenticates, or pass --allow-unauthenticated to accept the risk`
      })
    }
    yield* run({
      host: flags.host,
      port: flags.port,
      dataDir: flags.dataDir,
      window: yield* duration("window", flags.window),
      maxDelay: yield* duration("max-delay", flags.maxDelay),
      idleTimeout: yield* duration("idle-timeout", flags.idleTimeout),
      maxBodyBytes: yield* byteSize("max-body", flags.maxBody),
      maxRecordsPerRequest: flags.maxRecords,
      queueCapacity: flags.queueCapacity,
      admission: {
        maxEvents: flags.maxEventsInFlight,
        maxBytes: yield* byteSize("max-bytes-in-flight", flags.maxBytesInFlight)
      },
      journalMaxBytes: yield* byteSize("journal-max", flags.journalMax),
      journalSegmentBytes: yield* byteSize("journal-segment", flags.journalSegment),
      timeBounds: {
        minMs,
        maxFutureMs: Duration.toMillis(Duration.fromInputUnsafe(yield* duration("max-future", flags.maxFuture)))
      },
      maxEmptyWindows: flags.maxEmptyWindows,
      corsOrigins: list(flags.corsOrigin),
      allowedHosts: list(flags.allowedHost),
      checkpointEvery: yield* duration("checkpoint-every", flags.checkpointEvery),
      ...(flags.postgres === "" ? {} : { postgres: postgresConfig(flags.postgres, flags.postgresSchema) }),
      ...(flags.kafkaBrokers === ""
        ? {}
        : {
            kafka: {
              brokers: list(flags.kafkaBrokers),
              topic: flags.kafkaTopic,
              groupId: flags.kafkaGroup,
              ...(flags.kafkaPartitions > 0 ? { partitions: flags.kafkaPartitions } : {})
            }
          })
    })
  })
).pipe(
  Command.withDescription(
    "Run the server: HTTP ingest and query API, pipeline, embedded store (or PostgreSQL, and Kafka as the backbone)"
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
