/**
 * `sentinel check-config`: loads the configuration exactly as `serve` would (file, `SENTINEL_*` environment,
 * flags), validates it without starting anything, and prints the effective configuration as JSON (every default
 * filled in, secrets as `<redacted>`). An invalid configuration prints every problem with its path and exits 1.
 *
 * @since 0.2.0
 */
import { Console, Duration, Effect } from "effect"
import { Command } from "effect/cli"
import * as Config from "./Config.ts"
import * as ConfigLoad from "./ConfigLoad.ts"
import * as Serve from "./Serve.ts"

const ms = (d: Duration.Input): string => `${Duration.toMillis(Duration.fromInputUnsafe(d))} millis`

/**
 * The effective configuration: what the file, the environment and the flags set, with the defaults of every
 * section `serve` fills in.
 *
 * @category constructors
 * @since 0.2.0
 */
export const effective = (config: Config.Config, options: Serve.Options): Config.Config => ({
  ...config,
  server: {
    ...config.server,
    host: options.host,
    port: options.port,
    dataDir: options.dataDir,
    allowUnauthenticated: config.server?.allowUnauthenticated ?? false,
    corsOrigins: options.corsOrigins,
    allowedHosts: options.allowedHosts
  },
  limits: {
    maxBody: options.maxBodyBytes,
    maxRecords: options.maxRecordsPerRequest,
    queueCapacity: options.queueCapacity,
    maxEventsInFlight: options.admission.maxEvents,
    maxBytesInFlight: options.admission.maxBytes,
    journalMax: options.journalMaxBytes,
    journalSegment: options.journalSegmentBytes,
    minTimestamp: new Date(options.timeBounds.minMs).toISOString(),
    maxFuture: ms(options.timeBounds.maxFutureMs),
    maxEmptyWindows: options.maxEmptyWindows
  },
  pipeline: {
    ...config.pipeline,
    window: ms(options.window),
    maxDelay: ms(options.maxDelay),
    idleTimeout: ms(options.idleTimeout),
    checkpointEvery: ms(options.checkpointEvery)
  },
  store: config.store ?? { type: "embedded" },
  source: config.source ?? { type: "embedded" }
})

/**
 * The `check-config` subcommand.
 *
 * @example
 * ```sh
 * sentinel check-config --config sentinel.yaml      # prints the effective configuration, exit 0
 * SENTINEL_SERVER_PORT=x sentinel check-config      # server.port: expected number, got "x" (from SENTINEL_SERVER_PORT); exit 1
 * ```
 * @category constructors
 * @since 0.2.0
 */
export const command = Command.make(
  "check-config",
  ConfigLoad.flags,
  Effect.fn(function* (flags) {
    const config = yield* ConfigLoad.load(flags)
    const options = yield* Serve.fromConfig(config)
    yield* Serve.pipelineConfig(options)
    yield* Console.log(Config.render(effective(config, options)))
  })
).pipe(
  Command.withDescription(
    "Validate the configuration (--config file, SENTINEL_* environment, flags) without starting, and print it with secrets redacted; exit 1 on any problem"
  )
)
