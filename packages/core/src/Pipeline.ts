/**
 * The pipeline: source → decode → extract → window → detect → alert → sinks, as one scoped Effect.
 *
 * Stages run concurrently, connected by bounded buffers (`capacity` batches each), so a slow sink pushes back
 * all the way to the source. Work is done per batch, never per element. Order is kept end to end (one fiber
 * per stage, FIFO buffers), so per-series order holds and a batch's `ack` runs only after every sink accepted
 * what it and the batches before it produced: delivery is at least once.
 *
 * When a `StateStore` is in the context, detector states are checkpointed to it every `checkpointEvery` (and at
 * the end) and restored from it at start-up, so a restarted instance keeps its baselines instead of warming
 * up again. A checkpoint may be ahead of the last acknowledged batch by up to `capacity` batches.
 *
 * Ending the source (e.g. `EventQueue.end`) drains the pipeline: open windows are flushed through detection
 * and the sinks before `run` completes. Interrupting `run` does the same: the source stops being pulled, what
 * is in flight drains (up to `drainTimeout`), then sinks are flushed and sources acknowledged.
 *
 * Each stage also exists on its own as a stream operator (`Event.decode`, `Extract.extract`,
 * `Window.aggregate`, `Detector.detect`) for custom compositions.
 *
 * @since 0.1.0
 */
import { Clock, Deferred, Duration, Effect, Fiber, Metric, Option, Result, Schema, Stream } from "effect"
import * as Alert from "./Alert.ts"
import { AlertSink } from "./AlertSink.ts"
import * as Anomaly from "./Anomaly.ts"
import { AnomalySink } from "./AnomalySink.ts"
import { DeadLetterSink } from "./DeadLetterSink.ts"
import * as Detector from "./Detector.ts"
import * as Event from "./Event.ts"
import { EventSource, type Partition, PartitionedSource } from "./EventSource.ts"
import * as Extract from "./Extract.ts"
import { toMillis } from "./internal/millis.ts"
import * as Peers from "./Peers.ts"
import * as Series from "./Series.ts"
import type { SinkError } from "./SinkError.ts"
import type { SourceError } from "./SourceError.ts"
import { StateStore, prefixed as StateStore_prefixed } from "./StateStore.ts"
import type { StoreError } from "./StoreError.ts"
import * as Verdict from "./Verdict.ts"
import * as Watermark from "./Watermark.ts"
import * as Window from "./Window.ts"

/**
 * Everything the pipeline runs with, as resolved by {@link makeConfig}.
 *
 * Durations follow one rule across the library: options take a `Duration.Input` under the plain name
 * (`tick: "1 second"`);
 * the resolved value holds it in milliseconds under the same name with an `Ms` suffix (`tickMs: 1000`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Config {
  readonly window: Window.Window
  readonly watermark: Watermark.Watermark
  /** The watched signals (derived series names such as `latency.p95`); detectors run on these only. */
  readonly signals: ReadonlyArray<string>
  readonly detectors: Detector.Selection
  readonly decide?: Verdict.Decide
  /** The cross-series peer stage ({@link Peers}), run beside the detectors on the same points; absent: none. */
  readonly peers?: Peers.Options
  readonly alert: Alert.Policy
  readonly metrics: ReadonlyArray<Extract.MetricSpec>
  /** Bound on distinct series (base metrics and signals together). */
  readonly maxSeries: number
  readonly dimension?: "environment" | "provider" | "operation"
  /** Processing-time tick that closes idle series. */
  readonly tickMs: number
  /** Batches buffered between stages. */
  readonly capacity: number
  /** How long an interrupted pipeline may take to drain before it is stopped. */
  readonly drainTimeoutMs: number
  /** How often detector states are checkpointed to the `StateStore`, when one is provided. */
  readonly checkpointEveryMs: number
  /**
   * Whether the end of the input (or an interruption) closes every open window. True for finite inputs (files,
   * tests); a server whose source can replay open windows after a restart (a journal, Kafka) sets it to false,
   * so a restart does not cut windows short.
   */
  readonly flushOnEnd: boolean
  /**
   * Plausible event times for records the pipeline decodes itself (`raw` records of a source, e.g. a journal
   * or Kafka): outside them a record is dead-lettered with an error on `timestamp`. Off when absent (a
   * `TestClock` at 0 would reject every real timestamp); `sentinel serve` sets `Event.defaultTimeBounds`.
   */
  readonly timeBounds?: Event.TimeBounds
  /** Empty windows a gap in a series emits in a row before the windowing jumps ahead. */
  readonly maxEmptyWindows: number
  /**
   * Events the decode stage groups into one step of the analyze stage at most (whole batches are never split),
   * so one turn of the event loop stays short when many batches queued up.
   */
  readonly maxEventsPerStep: number
}

/**
 * An invalid pipeline option (an interval that is not a finite positive duration), naming the option.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>("@llm-sentinel/core/Pipeline/InvalidConfig")(
  "InvalidConfig",
  { parameter: Schema.String, message: Schema.String }
) {}

const positiveMillis = (
  parameter: string,
  input: Duration.Input | undefined,
  fallback: number
): Result.Result<number, InvalidConfig> => {
  if (input === undefined) return Result.succeed(fallback)
  const ms = toMillis(input)
  return ms !== undefined && Number.isFinite(ms) && ms > 0
    ? Result.succeed(ms)
    : Result.fail(
        new InvalidConfig({
          parameter,
          message: `${parameter} must be a finite positive duration, got ${String(input)}`
        })
      )
}

/**
 * Builds a configuration: 1-minute tumbling windows, the default watermark, the default signals and alert
 * policy. `detectors` is required (the shipped ones live in `@llm-sentinel/detectors`).
 *
 * @example
 * ```ts
 * import { Pipeline } from "@llm-sentinel/core"
 * import { ZScore } from "@llm-sentinel/detectors"
 * const config = Pipeline.makeConfig({ detectors: [ZScore.make()], window: "10 seconds" })
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const makeConfig = (options: {
  readonly detectors: Detector.Selection
  readonly window?: import("effect").Duration.Input | Window.Window
  readonly maxDelay?: import("effect").Duration.Input
  readonly allowedLateness?: import("effect").Duration.Input
  readonly idleTimeout?: import("effect").Duration.Input
  readonly expireAfter?: import("effect").Duration.Input
  readonly signals?: ReadonlyArray<string>
  readonly decide?: Verdict.Decide
  readonly peers?: Peers.Options
  readonly alert?: Alert.Policy
  readonly metrics?: ReadonlyArray<Extract.MetricSpec>
  readonly maxSeries?: number
  readonly dimension?: "environment" | "provider" | "operation"
  readonly tick?: import("effect").Duration.Input
  readonly capacity?: number
  readonly drainTimeout?: import("effect").Duration.Input
  readonly checkpointEvery?: import("effect").Duration.Input
  readonly flushOnEnd?: boolean
  readonly timeBounds?: Event.TimeBounds
  readonly maxEmptyWindows?: number
  readonly maxEventsPerStep?: number
}): Result.Result<Config, Window.InvalidWindow | Watermark.InvalidWatermark | InvalidConfig> =>
  Result.gen(function* () {
    const window =
      typeof options.window === "object" &&
      options.window !== null &&
      "_tag" in options.window &&
      (options.window._tag === "Tumbling" || options.window._tag === "Sliding" || options.window._tag === "Session")
        ? (options.window as Window.Window)
        : yield* Window.tumbling({ size: (options.window ?? "1 minute") as import("effect").Duration.Input })
    const watermark = yield* Watermark.bounded({
      ...(options.maxDelay !== undefined ? { maxDelay: options.maxDelay } : {}),
      ...(options.allowedLateness !== undefined ? { allowedLateness: options.allowedLateness } : {}),
      ...(options.idleTimeout !== undefined ? { idleTimeout: options.idleTimeout } : {}),
      ...(options.expireAfter !== undefined ? { expireAfter: options.expireAfter } : {})
    })
    const tickMs = yield* positiveMillis("tick", options.tick, 1000)
    const drainTimeoutMs = yield* positiveMillis("drainTimeout", options.drainTimeout, 30_000)
    const checkpointEveryMs = yield* positiveMillis("checkpointEvery", options.checkpointEvery, 60_000)
    return {
      window,
      watermark,
      signals: options.signals ?? Extract.defaultSignals,
      detectors: options.detectors,
      ...(options.decide !== undefined ? { decide: options.decide } : {}),
      ...(options.peers !== undefined ? { peers: options.peers } : {}),
      alert: options.alert ?? Alert.defaultPolicy,
      metrics: options.metrics ?? Extract.builtins,
      maxSeries: options.maxSeries ?? 100_000,
      ...(options.dimension !== undefined ? { dimension: options.dimension } : {}),
      tickMs,
      capacity: options.capacity ?? 16,
      drainTimeoutMs,
      flushOnEnd: options.flushOnEnd ?? true,
      ...(options.timeBounds !== undefined ? { timeBounds: options.timeBounds } : {}),
      maxEmptyWindows: options.maxEmptyWindows ?? Window.defaultMaxEmptyWindows,
      maxEventsPerStep: options.maxEventsPerStep ?? 4096,
      checkpointEveryMs
    }
  })

/**
 * Running totals of a pipeline, also exported as metrics (`sentinel_*_total`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Stats {
  readonly received: number
  readonly decoded: number
  readonly deadLettered: number
  readonly points: number
  readonly late: number
  readonly windows: number
  /** Empty windows skipped after a gap emitted `maxEmptyWindows` (see `Window`). */
  readonly windowsSkipped: number
  /** Points dropped because their time was not a valid date. */
  readonly invalidTime: number
  readonly verdicts: number
  readonly anomalies: number
  readonly alertEvents: number
  readonly seriesOverflow: number
  readonly batchesAcknowledged: number
  /** Detector states written to the StateStore. */
  readonly checkpoints: number
  /** Detector states restored from the StateStore, and checkpoints that no longer decoded. */
  readonly restored: number
  readonly restoreFailed: number
  /** Alert events not emitted because they had been emitted before (batches replayed after a restart). */
  readonly alertsSkipped: number
}

/**
 * Where detector checkpoints live in the `StateStore`: `detector/<detector>/<series id>`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const checkpointPrefix = "detector/"

/**
 * Where window clocks live in the `StateStore`: `window/<series id>`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const windowPrefix = "window/"

/**
 * Where the source position of the last checkpoint lives in the `StateStore`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const positionKey = "source/position"

/**
 * Where the alert policy's state (open alerts, cooldowns) lives in the `StateStore`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const alertsKey = "alerts/state"

/**
 * Where the last alert transition emitted per series lives in the `StateStore`: `alerts/emitted/<series id>`
 * (`storm` for storm events). Written as soon as the alert sink accepted the events, so batches replayed after
 * a restart (from a checkpoint older than the crash) do not emit an `opened`, `escalated` or `resolved` again.
 *
 * @category constructors
 * @since 0.1.0
 */
export const alertsEmittedPrefix = "alerts/emitted/"

/**
 * Where the checkpoints of one partition of a `PartitionedSource` live: `partition/<id>/` before the usual keys.
 *
 * @category constructors
 * @since 0.1.0
 */
export const partitionPrefix = (id: string): string => `partition/${id}/`

/**
 * The source position of a checkpoint: the last batch processed, and where a replay must start so that every
 * window still open at the checkpoint is rebuilt (points of windows fired before it are dropped as late).
 *
 * @category models
 * @since 0.1.0
 */
export interface Position {
  readonly processed: number
  readonly replayFrom: number
}

const PositionJson = Schema.fromJsonString(
  Schema.Struct({ processed: Schema.Finite, replayFrom: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)) })
)
const decodePosition = Schema.decodeUnknownOption(PositionJson)

const SeriesClockJson = Schema.fromJsonString(
  Schema.Struct({ maxTime: Schema.Number, watermark: Schema.Number, nextEnd: Schema.Finite, firedUpTo: Schema.Number })
)
const decodeClock = Schema.decodeUnknownOption(SeriesClockJson)

/**
 * Reads the position of the last checkpoint, if any. A position that does not decode is reported (with its
 * key) and read as none: the source replays from its start.
 *
 * @category combinators
 * @since 0.1.0
 */
export const readPosition = (store: StateStore["Service"]): Effect.Effect<Option.Option<Position>, StoreError> =>
  Effect.flatMap(store.get(positionKey), (json) => {
    if (Option.isNone(json)) return Effect.succeedNone
    const position = decodePosition(json.value)
    return Option.isSome(position)
      ? Effect.succeed(position)
      : Effect.as(
          Effect.logWarning(
            `checkpoint ${positionKey} does not decode (${preview(json.value)}): ignored, replaying from the start`
          ),
          Option.none()
        )
  })

const preview = (text: string): string =>
  text.length > 80 ? `${JSON.stringify(text.slice(0, 77))}...` : JSON.stringify(text)

/**
 * The work one slice of a checkpoint does before it yields to the event loop (ms of CPU). A young-generation GC
 * landing in a slice adds its pause to it: with 3 ms slices `npm run bench:checkpoint` stalled 11–14 ms at 100k
 * series, with 1.5 ms 8–11 ms (four runs each, same hour), for about the same checkpoint time.
 */
const sliceMs = 1.5

/**
 * A per-batch span's options: its attributes, no stack trace. Capturing one is an `Error` per span, and with
 * 1-event requests a batch is a request (`addSpanStackTrace` was 1.8% of the server's profile, before the
 * `Error` it makes).
 */
const spanOptions = (attributes: Record<string, unknown>) => ({ attributes, captureStackTrace: false })
/** The size of one write of a checkpoint to the `StateStore` (UTF-16 units of keys and values). */
const writeBytes = 1 << 20

const checkpointKey = (detector: string, seriesId: string) => `${checkpointPrefix}${detector}/${seriesId}`
const windowKey = (seriesId: string) => `${windowPrefix}${seriesId}`

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

/**
 * The pipeline's counters, for `/metrics`.
 *
 * @category models
 * @since 0.1.0
 */
export const metrics = {
  received: counter("sentinel_events_received_total", "records received from the source"),
  decoded: counter("sentinel_events_decoded_total", "records decoded into events"),
  deadLettered: counter("sentinel_events_dead_lettered_total", "records sent to the dead-letter sink"),
  late: counter("sentinel_points_late_total", "points later than the allowed lateness"),
  windows: counter("sentinel_windows_closed_total", "windows closed"),
  windowsSkipped: counter(
    "sentinel_windows_skipped_total",
    "empty windows skipped after a gap in a series emitted maxEmptyWindows in a row"
  ),
  invalidTime: counter("sentinel_points_invalid_time_total", "points dropped because their time is not a valid date"),
  anomalies: counter("sentinel_anomalies_total", "anomalies detected"),
  alertEvents: counter("sentinel_alert_events_total", "alert events (opened, escalated, resolved, storm)")
}

interface Decoded {
  readonly events: ReadonlyArray<Event.TelemetryEvent>
  readonly acks: ReadonlyArray<Effect.Effect<void>>
  /** Source positions of the first and last batch in this element (positions only grow). */
  readonly firstPosition: number | undefined
  readonly lastPosition: number | undefined
  /** Where a replay after the last batch here starts (`end` of the last batch, or its position + 1). */
  readonly next: number | undefined
  readonly tick: boolean
  /** The end of the input: flush (if configured) and checkpoint whatever the interval. */
  readonly end: boolean
}

interface Analyzed {
  readonly anomalies: ReadonlyArray<Anomaly.Anomaly>
  readonly alerts: ReadonlyArray<Alert.AlertEvent>
  readonly acks: ReadonlyArray<Effect.Effect<void>>
  /**
   * Writes the checkpoint due after this element, once its outputs are accepted (the analyze stage waits for it
   * before its next element, so it is consistent with them by construction).
   */
  readonly checkpoint: Effect.Effect<void, StoreError | SourceError> | undefined
}

type Input =
  | {
      readonly _tag: "batch"
      readonly raw: ReadonlyArray<unknown>
      readonly events: ReadonlyArray<Event.TelemetryEvent>
      readonly ack: Effect.Effect<void>
      readonly position: number | undefined
      readonly end: number | undefined
      readonly rejected: ReadonlyArray<Event.Rejected> | undefined
      readonly origin: string | undefined
      readonly origins: ReadonlyArray<string> | undefined
    }
  | { readonly _tag: "tick" }
  | { readonly _tag: "end" }

/**
 * A pipeline ready to run, with live statistics.
 *
 * @category models
 * @since 0.1.0
 */
export interface Pipeline {
  /** Runs until the source ends (then drains) or until interrupted (then drains, bounded by `drainTimeout`). */
  readonly run: Effect.Effect<
    void,
    SourceError | SinkError | StoreError,
    EventSource | AnomalySink | DeadLetterSink | AlertSink
  >
  /** The running totals so far (read any time, also while `run` runs). */
  readonly stats: Effect.Effect<Stats>
  /** Alerts open right now. */
  readonly openAlerts: Effect.Effect<ReadonlyArray<Alert.Alert>>
  /** Series tracked by the windowing right now. */
  readonly activeSeries: Effect.Effect<number>
}

/**
 * Options of {@link make}.
 *
 * @category models
 * @since 0.1.0
 */
export interface MakeOptions {
  /**
   * Runs after each checkpoint that records a source position was written to the `StateStore`, i.e. after every
   * sink accepted what came before it (a partitioned source commits its offset here).
   */
  readonly onCheckpoint?: (position: Position) => Effect.Effect<void, SourceError>
  /**
   * Sees every scored point of the detect stage, synchronously, in the analyze stage (a server's live view of its
   * series). Must be quick and must not throw.
   */
  readonly onScored?: (scored: ReadonlyArray<Detector.Scored>) => void
  /**
   * Sees the windows each step closes, synchronously, as soon as the windowing closed them and before any of
   * them is turned into signals and scored (e.g. to measure how long a closed window takes to reach a sink).
   * Must be quick and must not throw.
   */
  readonly onClosed?: (windows: ReadonlyArray<Window.WindowResult>) => void
  /**
   * Sees every closed window (its key and summary) in the analyze stage, e.g. to write window aggregates to a
   * time-series database. Must be quick (buffer, do not wait for a server): the pipeline waits for it.
   */
  readonly onWindows?: (windows: ReadonlyArray<Window.WindowResult>) => Effect.Effect<void>
}

/**
 * Makes a pipeline from a configuration.
 *
 * @example
 * ```ts
 * import { AlertSink, AnomalySink, DeadLetterSink, EventSource, Pipeline } from "@llm-sentinel/core"
 * import { ZScore } from "@llm-sentinel/detectors"
 * import { Effect, Layer, Result } from "effect"
 * const config = Result.getOrThrow(Pipeline.makeConfig({ detectors: [ZScore.make()] }))
 * const program = Pipeline.make(config).run.pipe(
 *   Effect.provide(Layer.mergeAll(EventSource.layerFromIterable([]), AnomalySink.layerLog, DeadLetterSink.layerLog, AlertSink.layerLog))
 * )
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = (config: Config, options: MakeOptions = {}): Pipeline => build(config, options).pipeline

/** A pipeline and synchronous readers of its live state (for {@link makePartitioned}, which sums them). */
interface Built {
  readonly pipeline: Pipeline
  readonly stats: () => Stats
  readonly openAlerts: () => ReadonlyArray<Alert.Alert>
}

const build = (config: Config, options: MakeOptions): Built => {
  const registry = Series.makeRegistry({
    maxSeries: config.maxSeries,
    ...(config.dimension ? { dimension: config.dimension } : {})
  })
  const extractFn = Extract.makeExtractFn({
    registry,
    metrics: config.metrics,
    ...(config.dimension ? { dimension: config.dimension } : {})
  })
  // checkpoints loaded from the StateStore at start-up, consumed as series reappear; the keys of those that
  // did not decode are reported by the analyze stage (the series starts afresh)
  const checkpoints = new Map<string, string>()
  const undecodable: Array<string> = []
  const windower = Window.makeWindower({
    window: config.window,
    watermark: config.watermark,
    maxEmptyWindows: config.maxEmptyWindows,
    restore: (seriesId) => {
      const k = windowKey(seriesId)
      const json = checkpoints.get(k)
      if (json === undefined) return undefined
      checkpoints.delete(k)
      const clock = decodeClock(json)
      if (Option.isNone(clock)) undecodable.push(k)
      return Option.getOrUndefined(clock)
    }
  })
  const signalFn = Window.makeSignalFn({ registry, metrics: config.metrics, signals: config.signals })
  const detectFn = Detector.makeDetectFn({
    detectors: config.detectors,
    ...(config.decide !== undefined ? { decide: config.decide } : {}),
    restore: (seriesId, detector) => {
      const k = checkpointKey(detector, seriesId)
      const json = checkpoints.get(k)
      if (json !== undefined) checkpoints.delete(k)
      return json
    },
    onRestoreFailure: (seriesId, detector) => void undecodable.push(checkpointKey(detector, seriesId))
  })
  // a window's time waits for the peers' same window until a peer is one slide further
  const peerFn =
    config.peers === undefined
      ? undefined
      : Peers.makePeerFn({
          maxAgeMs: config.window._tag === "Session" ? config.window.gapMs : config.window.slideMs,
          ...config.peers
        })
  const alertFn = Alert.makeAlertFn(config.alert)
  const s = {
    received: 0,
    decoded: 0,
    deadLettered: 0,
    points: 0,
    windows: 0,
    verdicts: 0,
    anomalies: 0,
    alertEvents: 0,
    batchesAcknowledged: 0,
    checkpoints: 0,
    alertsSkipped: 0
  }
  const currentStats = (): Stats => ({
    ...s,
    late: windower.counters().late,
    windowsSkipped: windower.counters().windowsSkipped,
    invalidTime: windower.counters().invalidTime,
    seriesOverflow: registry.overflow(),
    restored: detectFn.restored().ok,
    restoreFailed: detectFn.restored().failed
  })

  // Decodes a chunk of inputs into elements of at most `maxEventsPerStep` events (whole batches): small batches
  // that queued up together (e.g. one-event HTTP requests under load) share one trip through the analyze and
  // sink stages, and many large ones do not make one long step that blocks the event loop.
  const decodeStage = (
    inputs: ReadonlyArray<Input>,
    now: number
  ): Effect.Effect<readonly [Decoded, ...Array<Decoded>], SinkError, DeadLetterSink> => {
    const out: Array<Decoded> = []
    const rejected: Array<Event.Rejected> = []
    const decodeOptions: Event.DecodeOptions =
      config.timeBounds === undefined ? {} : { time: { now, bounds: config.timeBounds } }
    let events: Array<Event.TelemetryEvent> = []
    let acks: Array<Effect.Effect<void>> = []
    let firstPosition: number | undefined
    let lastPosition: number | undefined
    let next: number | undefined
    let received = 0
    let decoded = 0
    const cut = (tick: boolean, end: boolean) => {
      out.push({ events, acks, firstPosition, lastPosition, next, tick, end })
      events = []
      acks = []
      firstPosition = undefined
      lastPosition = undefined
      next = undefined
    }
    let tick = false
    let end = false
    for (const input of inputs) {
      if (input._tag === "tick") tick = true
      else if (input._tag === "end") end = true
      else {
        if (events.length > 0 && events.length + input.events.length + input.raw.length > config.maxEventsPerStep) {
          cut(false, false)
        }
        received += input.raw.length + input.events.length + (input.rejected?.length ?? 0)
        for (const e of input.events) events.push(e)
        if (input.raw.length > 0) {
          const d = Event.decodeBatch(input.raw, decodeOptions)
          for (const e of d.events) events.push(e)
          for (const r of d.rejected) {
            const source = input.origins?.[r.index] ?? input.origin
            rejected.push(source === undefined ? r : { ...r, source })
          }
          decoded += d.events.length
        }
        decoded += input.events.length
        if (input.rejected !== undefined) for (const r of input.rejected) rejected.push(r)
        acks.push(input.ack)
        if (input.position !== undefined) {
          firstPosition ??= input.position
          lastPosition = input.position
          next = input.end ?? input.position + 1
        }
      }
    }
    cut(tick, end)
    s.received += received
    s.decoded += decoded
    s.deadLettered += rejected.length
    const counted = Effect.all(
      [
        Metric.update(metrics.received, received),
        Metric.update(metrics.decoded, decoded),
        Metric.update(metrics.deadLettered, rejected.length)
      ],
      { discard: true }
    )
    const result = out as unknown as readonly [Decoded, ...Array<Decoded>]
    return rejected.length === 0
      ? Effect.as(counted, result)
      : DeadLetterSink.use((dl) => dl.write(rejected)).pipe(Effect.andThen(counted), Effect.as(result))
  }

  const analyzeStage = (input: Decoded, now: number): Effect.Effect<Analyzed> => {
    const points = extractFn(input.events)
    s.points += points.length
    // the first position is the conservative one for replays: every point here came from it or later
    const out = windower.points(points, now, input.firstPosition)
    if (input.lastPosition !== undefined) lastPosition = input.lastPosition
    if (input.next !== undefined) nextPosition = input.next
    // appended one by one: a tick or flush at 100k series closes more windows than `push(...spread)` may take
    // as arguments (a RangeError that stopped the pipeline)
    if (input.tick) for (const w of windower.tick(now).windows) out.windows.push(w)
    if (input.end && config.flushOnEnd) for (const w of windower.flush().windows) out.windows.push(w)
    if (options.onClosed !== undefined && out.windows.length > 0) options.onClosed(out.windows)
    const signals = signalFn(out.windows)
    const scored = detectFn.apply(signals)
    if (peerFn !== undefined) for (const sc of peerFn.apply(signals, input.end && config.flushOnEnd)) scored.push(sc)
    if (options.onScored !== undefined && scored.length > 0) options.onScored(scored)
    const anomalies: Array<Anomaly.Anomaly> = []
    for (const sc of scored) if (sc.verdict.anomalous) anomalies.push(Anomaly.fromScored(sc, now))
    const alerts = alertFn.apply(scored)
    const skippedBefore = windowsSkipped
    const invalidBefore = invalidTime
    windowsSkipped = windower.counters().windowsSkipped
    invalidTime = windower.counters().invalidTime
    s.windows += out.windows.length
    s.verdicts += scored.length
    s.anomalies += anomalies.length
    s.alertEvents += alerts.length
    return Effect.as(
      Effect.all(
        [
          Metric.update(metrics.late, out.late.length),
          Metric.update(metrics.windows, out.windows.length),
          Metric.update(metrics.windowsSkipped, windowsSkipped - skippedBefore),
          Metric.update(metrics.invalidTime, invalidTime - invalidBefore),
          undecodable.length === 0
            ? Effect.void
            : Effect.logWarning(
                `checkpoints that do not decode were ignored (those series warm up again): ${undecodable
                  .splice(0)
                  .join(", ")}`
              ),
          Metric.update(metrics.anomalies, anomalies.length),
          Metric.update(metrics.alertEvents, alerts.length),
          options.onWindows !== undefined && out.windows.length > 0 ? options.onWindows(out.windows) : Effect.void
        ],
        { discard: true }
      ),
      { anomalies, alerts, acks: input.acks, checkpoint: checkpointDue(now, input.end) }
    )
  }

  let windowsSkipped = 0
  let invalidTime = 0
  let store: StateStore["Service"] | undefined
  let lastCheckpoint = Number.NEGATIVE_INFINITY
  let lastPosition: number | undefined
  let nextPosition: number | undefined
  // Decided in the analyze stage, right after a batch; written by the sink stage once this batch's outputs were
  // accepted, while the analyze stage waits (`checkpointing`) before its next input: detector states, window
  // clocks and the source position all describe the instant after the batch.
  //
  // Only what changed since the last checkpoint is taken (the detect stage's and the windowing's changed sets). It
  // is taken in slices of about `sliceMs` of work with a yield to the event loop between them, and written in
  // writes of about `writeBytes`, so a checkpoint of 100k series neither blocks HTTP requests for seconds nor
  // holds every snapshot in memory at once. The entries go out in an order that makes any prefix of them safe (a
  // crash part-way through, or a store that commits a large write in several transactions, as the embedded one
  // does): window clocks first, then detector states, then the alert state, and the position last. After a crash
  // part-way the previous position stands and a series has at worst a newer clock with an older detector state (a
  // few windows not learned), never an older clock with a newer state (windows learned twice after the replay).
  let checkpointing: Deferred.Deferred<void> | undefined
  const checkpointDue = (now: number, force: boolean): Effect.Effect<void, StoreError | SourceError> | undefined => {
    const st = store
    if (st === undefined || (!force && now - lastCheckpoint < config.checkpointEveryMs)) return undefined
    lastCheckpoint = now
    const done = Deferred.makeUnsafe<void>()
    checkpointing = done
    let entries: Array<readonly [string, string]> = []
    let bytes = 0
    const push = (key: string, value: string) => {
      entries.push([key, value])
      bytes += key.length + value.length
    }
    // one slice: whole units (64 clocks, 8 series of detector states) until its time or the write's size is used up
    // (performance.now measures the work, not event time: it only decides where to yield)
    const slice = (): boolean => {
      const started = performance.now()
      do {
        const clocks = windower.clocks(64)
        if (clocks.length > 0) {
          for (const [seriesId, clock] of clocks) push(windowKey(seriesId), JSON.stringify(clock))
          continue
        }
        if (detectFn.changed() === 0) return true
        for (const c of detectFn.checkpoint(8)) push(checkpointKey(c.detector, c.seriesId), c.state)
      } while (bytes < writeBytes && performance.now() - started < sliceMs)
      return false
    }
    const flush = Effect.suspend(() => {
      const out = entries
      entries = []
      bytes = 0
      return out.length === 0
        ? Effect.void
        : Effect.map(st.setMany(out), () => {
            s.checkpoints += out.length
          })
    })
    const write: Effect.Effect<void, StoreError | SourceError> = Effect.gen(function* () {
      while (!slice()) {
        if (bytes >= writeBytes) yield* flush
        yield* Effect.yieldNow
      }
      push(alertsKey, alertFn.snapshot())
      let position: Position | undefined
      if (lastPosition !== undefined) {
        const after = nextPosition ?? lastPosition + 1
        // the oldest open position of every series, in slices too (a scan of 100k series takes tens of ms)
        let oldest = after
        const positions = windower.openPositions()
        // one slice: series until its time is used up; true when every series was seen
        const scan = (): boolean => {
          const started = performance.now()
          do {
            for (let i = 0; i < 256; i++) {
              const r = positions.next()
              if (r.done === true) return true
              if (r.value !== undefined && r.value < oldest) oldest = r.value
            }
          } while (performance.now() - started < sliceMs)
          return false
        }
        while (!scan()) yield* Effect.yieldNow
        position = { processed: lastPosition, replayFrom: oldest }
        push(positionKey, JSON.stringify(position))
      }
      yield* flush
      if (position !== undefined && options.onCheckpoint !== undefined) yield* options.onCheckpoint(position)
    }).pipe(Effect.ensuring(Deferred.succeed(done, undefined)))
    return write
  }
  /** Waits for the checkpoint in progress, if any: the states must not move until it is written. */
  const checkpointWritten = Effect.suspend(() =>
    checkpointing === undefined ? Effect.void : Deferred.await(checkpointing)
  )

  // The last alert transition emitted per series (and `storm`), as [event time, rank]: a transition at or
  // before it was emitted already, by this instance or by one that ran the same batches before a restart.
  const emitted = new Map<string, readonly [number, number]>()
  const markOf = (e: Alert.AlertEvent): readonly [string, readonly [number, number]] =>
    e._tag === "storm"
      ? ["storm", [e.time, 0]]
      : e._tag === "opened"
        ? [e.alert.series.id, [e.alert.openedAt, 0]]
        : e._tag === "escalated"
          ? [e.alert.series.id, [e.alert.lastAnomalyAt, 1 + Verdict.rank(e.alert.severity)]]
          : [e.alert.series.id, [e.alert.resolvedAt ?? e.alert.lastAnomalyAt, 100]]
  const MarkJson = Schema.fromJsonString(Schema.Tuple([Schema.Finite, Schema.Finite]))
  const decodeMark = Schema.decodeUnknownOption(MarkJson)
  /** The events not emitted yet, and the marks to record once the sink accepted them. */
  const unemitted = (
    events: ReadonlyArray<Alert.AlertEvent>
  ): { readonly fresh: ReadonlyArray<Alert.AlertEvent>; readonly marks: Map<string, readonly [number, number]> } => {
    const fresh: Array<Alert.AlertEvent> = []
    const marks = new Map<string, readonly [number, number]>()
    for (const e of events) {
      const [id, mark] = markOf(e)
      const last = marks.get(id) ?? emitted.get(id)
      if (last !== undefined && (mark[0] < last[0] || (mark[0] === last[0] && mark[1] <= last[1]))) {
        s.alertsSkipped++
        continue
      }
      fresh.push(e)
      marks.set(id, mark)
    }
    return { fresh, marks }
  }

  const sinkStage = (
    input: Analyzed
  ): Effect.Effect<void, SinkError | StoreError | SourceError, AnomalySink | AlertSink> =>
    Effect.gen(function* () {
      if (input.anomalies.length > 0) yield* AnomalySink.use((sink) => sink.write(input.anomalies))
      if (input.alerts.length > 0) {
        const { fresh, marks } = unemitted(input.alerts)
        if (fresh.length > 0) yield* AlertSink.use((sink) => sink.write(fresh))
        for (const [id, mark] of marks) emitted.set(id, mark)
        if (store !== undefined && marks.size > 0) {
          yield* store.setMany(
            [...marks].map(([id, mark]) => [alertsEmittedPrefix + id, JSON.stringify(mark)] as const)
          )
        }
      }
      for (const ack of input.acks) yield* ack
      s.batchesAcknowledged += input.acks.length
      if (input.checkpoint !== undefined) yield* input.checkpoint
    })

  const run = Effect.gen(function* () {
    const source = yield* EventSource
    store = Option.getOrUndefined(yield* Effect.serviceOption(StateStore))
    if (store !== undefined) {
      // one bulk read per prefix: a restart with 10k series costs a few queries, not 20k round trips
      for (const prefix of [checkpointPrefix, windowPrefix]) {
        for (const [k, v] of yield* store.entries(prefix)) checkpoints.set(k, v)
      }
      for (const [k, v] of yield* store.entries(alertsEmittedPrefix)) {
        const mark = decodeMark(v)
        if (Option.isSome(mark)) emitted.set(k.slice(alertsEmittedPrefix.length), mark.value)
      }
      const alerts = yield* store.get(alertsKey)
      if (Option.isSome(alerts) && !alertFn.restore(alerts.value)) {
        yield* Effect.logWarning(
          `checkpoint ${alertsKey} does not decode (${preview(alerts.value)}): ignored, starting with no open alerts`
        )
      }
    }
    const halt = yield* Deferred.make<void>()
    const batches: Stream.Stream<Input, SourceError> = source.batches.pipe(
      Stream.map(
        (b): Input => ({
          _tag: "batch",
          raw: b.raw,
          events: b.events,
          ack: b.ack,
          position: b.position,
          end: b.end,
          rejected: b.rejected,
          origin: b.origin,
          origins: b.origins
        })
      ),
      Stream.interruptWhen(Deferred.await(halt))
    )
    const ticks: Stream.Stream<Input> = Stream.tick(Duration.millis(config.tickMs)).pipe(
      Stream.map((): Input => ({ _tag: "tick" }))
    )
    const end: Stream.Stream<Input> = Stream.make({ _tag: "end" } as Input)
    const fiber = yield* Stream.merge(batches, ticks, { haltStrategy: "left" }).pipe(
      Stream.concat(end),
      Stream.mapArrayEffect((inputs) => Effect.flatMap(Clock.currentTimeMillis, (now) => decodeStage(inputs, now))),
      Stream.buffer({ capacity: config.capacity }),
      Stream.mapEffect((d) => {
        // yield first: the sink stage, woken by the previous batch's result, writes it before this batch's
        // detection takes the thread (a window's verdict reaches the sinks without waiting a batch behind)
        const analyze = Effect.yieldNow.pipe(
          Effect.andThen(checkpointWritten),
          Effect.andThen(Effect.flatMap(Clock.currentTimeMillis, (now) => analyzeStage(d, now)))
        )
        // a span per batch of events (not per idle tick), so a tracer shows where detection time goes
        return d.events.length === 0
          ? analyze
          : Effect.withSpan(analyze, "sentinel.pipeline.detect", spanOptions({ events: d.events.length }))
      }),
      Stream.buffer({ capacity: config.capacity }),
      Stream.runForEach((a) =>
        a.anomalies.length === 0 && a.alerts.length === 0
          ? sinkStage(a)
          : Effect.withSpan(
              sinkStage(a),
              "sentinel.pipeline.sinks",
              spanOptions({ anomalies: a.anomalies.length, alerts: a.alerts.length })
            )
      ),
      Effect.forkChild
    )
    yield* Fiber.join(fiber).pipe(
      Effect.onInterrupt(() =>
        Deferred.succeed(halt, undefined).pipe(
          Effect.andThen(Fiber.await(fiber).pipe(Effect.timeoutOption(Duration.millis(config.drainTimeoutMs)))),
          Effect.flatMap((done) => (Option.isNone(done) ? Fiber.interrupt(fiber) : Effect.void))
        )
      )
    )
  })

  return {
    pipeline: {
      run,
      stats: Effect.sync(currentStats),
      openAlerts: Effect.sync(alertFn.open),
      activeSeries: Effect.sync(() => windower.counters().activeSeries)
    },
    stats: currentStats,
    openAlerts: alertFn.open
  }
}

/**
 * A pipeline over a {@link PartitionedSource}: one pipeline per assigned partition (the unit of state
 * ownership, as a task is in Kafka Streams), with live statistics summed over them.
 *
 * @category models
 * @since 0.1.0
 */
export interface Partitioned {
  /**
   * Runs until the source ends or until interrupted. Each assigned partition gets its own pipeline, whose
   * detector states, window clocks, alert state and position are checkpointed under `partition/<id>/` in the
   * `StateStore` and restored from there when the partition is assigned; each checkpoint is then committed to
   * the source (`Partition.commit`). When a partition's batches end (revocation), its pipeline drains,
   * checkpoints and commits before `Partition.released` lets it go.
   */
  readonly run: Effect.Effect<
    void,
    SourceError | SinkError | StoreError,
    PartitionedSource | StateStore | AnomalySink | DeadLetterSink | AlertSink
  >
  /** The running totals so far, summed over every partition run here (current and released ones). */
  readonly stats: Effect.Effect<Stats>
  /** The partitions this instance runs right now. */
  readonly partitions: Effect.Effect<ReadonlyArray<string>>
  /** Alerts open right now, over every partition. */
  readonly openAlerts: Effect.Effect<ReadonlyArray<Alert.Alert>>
  /** Per partition: how many times it was assigned here, and its statistics of the current assignment. */
  readonly byPartition: Effect.Effect<ReadonlyMap<string, { readonly assigned: number; readonly stats: Stats }>>
}

const zeroStats: Stats = {
  received: 0,
  decoded: 0,
  deadLettered: 0,
  points: 0,
  late: 0,
  windows: 0,
  windowsSkipped: 0,
  invalidTime: 0,
  verdicts: 0,
  anomalies: 0,
  alertEvents: 0,
  seriesOverflow: 0,
  batchesAcknowledged: 0,
  checkpoints: 0,
  restored: 0,
  restoreFailed: 0,
  alertsSkipped: 0
}

const addStats = (a: Stats, b: Stats): Stats => {
  const out: Record<string, number> = {}
  for (const k of Object.keys(zeroStats) as Array<keyof Stats>) out[k] = a[k] + b[k]
  return out as unknown as Stats
}

/**
 * Makes a partitioned pipeline: the same configuration, one pipeline per partition of a `PartitionedSource`.
 * A `StateStore` is required: it is where partitions hand their state over between instances.
 *
 * @example
 * ```ts
 * import { Pipeline } from "@llm-sentinel/core"
 * import { ZScore } from "@llm-sentinel/detectors"
 * import { Result } from "effect"
 * const config = Result.getOrThrow(Pipeline.makeConfig({ detectors: [ZScore.make()], flushOnEnd: false }))
 * const partitioned = Pipeline.makePartitioned(config)
 * // partitioned.run needs PartitionedSource, StateStore and the sinks (e.g. Kafka.layerSource + Postgres.layer)
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const makePartitioned = (
  config: Config,
  options: Pick<MakeOptions, "onScored" | "onClosed" | "onWindows"> = {}
): Partitioned => {
  const running = new Map<string, Built>()
  const finished = new Map<string, Stats>()
  const assigned = new Map<string, number>()
  let done: Stats = zeroStats
  const run = Effect.gen(function* () {
    const source = yield* PartitionedSource
    const store = yield* StateStore
    const runOne = (p: Partition) =>
      Effect.gen(function* () {
        const pipeline = build(config, { ...options, onCheckpoint: (position) => p.commit(position) })
        running.set(p.id, pipeline)
        assigned.set(p.id, (assigned.get(p.id) ?? 0) + 1)
        yield* Effect.logInfo(`partition ${p.id} assigned: restoring its state and replaying from its checkpoint`)
        yield* pipeline.pipeline.run.pipe(
          Effect.provideService(EventSource, { batches: p.batches }),
          Effect.provideService(StateStore, StateStore_prefixed(store, partitionPrefix(p.id)))
        )
        const st = pipeline.stats()
        yield* Effect.logInfo(
          `partition ${p.id} released after ${st.received} records, ${st.anomalies} anomalies (checkpointed and committed)`
        )
      }).pipe(
        Effect.ensuring(
          Effect.suspend(() => {
            const pipeline = running.get(p.id)
            if (pipeline !== undefined) {
              done = addStats(done, pipeline.stats())
              finished.set(p.id, pipeline.stats())
              running.delete(p.id)
            }
            return p.released
          })
        )
      )
    yield* source.partitions.pipe(
      Stream.mapEffect(runOne, { concurrency: "unbounded", unordered: true }),
      Stream.runDrain
    )
  })
  return {
    run,
    stats: Effect.sync(() => {
      let total = done
      for (const p of running.values()) total = addStats(total, p.stats())
      return total
    }),
    partitions: Effect.sync(() => [...running.keys()].sort()),
    openAlerts: Effect.sync(() => [...running.values()].flatMap((p) => p.openAlerts())),
    byPartition: Effect.sync(() => {
      const out = new Map<string, { assigned: number; stats: Stats }>()
      for (const [id, n] of assigned) {
        const stats = running.get(id)?.stats() ?? finished.get(id) ?? zeroStats
        out.set(id, { assigned: n, stats })
      }
      return out as ReadonlyMap<string, { readonly assigned: number; readonly stats: Stats }>
    })
  }
}
