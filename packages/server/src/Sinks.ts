/**
 * The sinks of a configuration (`sinks:`), built for `serve` and routed (`alerts.routes`).
 *
 * What each type takes:
 * | type       | alert events | anomalies |
 * |------------|--------------|-----------|
 * | `webhook`  | yes          | no        |
 * | `slack`    | yes          | observed only (for the observed and expected values of its messages) |
 * | `influxdb` | no           | yes, and every closed window's aggregates (`sentinel_window`) |
 * | `nats`     | yes          | yes       |
 * | `file`     | yes          | yes       | (one NDJSON file, a line per alert event and per anomaly)
 *
 * Routing: without `alerts.routes` every alert sink gets every alert event. With routes, an event goes to the
 * sinks of every route whose filters it matches (severity of the alert, its service); a storm summary (which
 * concerns every series) goes to the sinks of the routes without a `services` filter. An event that matches no
 * route goes to no configured sink (it is still stored, logged and streamed).
 *
 * Each sink's health joins `/readyz` as `sink:<name>` (reported, not deciding readiness: a failing webhook must
 * not take the instance out of the load balancer) and its counters appear in `/metrics` as
 * `sentinel_adapter_*_total{adapter,name}`.
 *
 * @since 0.2.0
 */
import { File, Influx, Nats, Slack, Webhook } from "@llm-sentinel/adapters"
import {
  type Alert,
  AlertSink,
  type Anomaly,
  AnomalySink,
  type DeadLetterSink,
  type Verdict,
  type Window
} from "@llm-sentinel/core"
import { Context, Effect, FileSystem, Layer, Metric, Schema, type Scope } from "effect"
import * as Config from "./Config.ts"
import * as Readiness from "./Readiness.ts"

/**
 * A configured sink that could not start (its configuration is refused, or its server does not answer).
 *
 * @category errors
 * @since 0.2.0
 */
export class SinkStartError extends Schema.TaggedError<SinkStartError>("@llm-sentinel/server/SinkStartError")(
  "SinkStartError",
  { sink: Schema.String, message: Schema.String, cause: Schema.optionalKey(Schema.Defect()) }
) {}

/**
 * One built sink.
 *
 * @category models
 * @since 0.2.0
 */
export interface Destination {
  readonly name: string
  readonly type: Config.Sink["type"]
  readonly alerts: AlertSink.AlertSink["Service"] | undefined
  readonly anomalies: AnomalySink.AnomalySink["Service"] | undefined
  /** Window aggregates (InfluxDB): buffered, returns at once. */
  readonly windows?: (windows: ReadonlyArray<Window.WindowResult>) => Effect.Effect<void>
  readonly health: Effect.Effect<boolean>
}

const built = <I>(
  name: string,
  layer: Layer.Layer<I, unknown, DeadLetterSink.DeadLetterSink>
): Effect.Effect<Context.Context<I>, SinkStartError, DeadLetterSink.DeadLetterSink | Scope.Scope> =>
  Layer.build(layer).pipe(
    Effect.mapError(
      (cause) =>
        new SinkStartError({
          sink: name,
          message: `sink ${name} did not start: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause
        })
    )
  )

/**
 * Builds one configured sink (scoped: it stops with the scope).
 *
 * @category constructors
 * @since 0.2.0
 */
export const build = (
  sink: Config.Sink,
  name: string
): Effect.Effect<Destination, SinkStartError, DeadLetterSink.DeadLetterSink | FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function* () {
    switch (sink.type) {
      case "webhook": {
        const { type: _, ...config } = sink
        const ctx = yield* built(name, Webhook.layer({ ...config, name }))
        return {
          name,
          type: sink.type,
          alerts: Context.get(ctx, AlertSink.AlertSink),
          anomalies: undefined,
          health: Context.get(ctx, Webhook.Webhook).health
        }
      }
      case "slack": {
        const { type: _, ...config } = sink
        const ctx = yield* built(name, Slack.layer({ ...config, name }))
        const slack = Context.get(ctx, Slack.Slack)
        return {
          name,
          type: sink.type,
          alerts: Context.get(ctx, AlertSink.AlertSink),
          anomalies: { write: slack.observe },
          health: slack.health
        }
      }
      case "influxdb": {
        const { type: _, ...config } = sink
        const ctx = yield* built(name, Influx.layer({ ...config, name }))
        const influx = Context.get(ctx, Influx.Influx)
        return {
          name,
          type: sink.type,
          alerts: undefined,
          anomalies: Context.get(ctx, AnomalySink.AnomalySink),
          windows: influx.writeWindows,
          health: influx.health
        }
      }
      case "nats": {
        const { type: _, name: __, ...config } = sink
        const ctx = yield* built(name, Nats.layerSink(config))
        return {
          name,
          type: sink.type,
          alerts: Context.get(ctx, AlertSink.AlertSink),
          anomalies: Context.get(ctx, AnomalySink.AnomalySink),
          health: Context.get(ctx, Nats.NatsSink).health
        }
      }
      case "file": {
        const fs = yield* FileSystem.FileSystem
        const options = { path: sink.path }
        const both = Layer.merge(File.layerAnomalySink(options), File.layerAlertSink(options)).pipe(
          Layer.provide(Layer.succeed(FileSystem.FileSystem, fs))
        )
        const ctx = yield* built(name, both)
        return {
          name,
          type: sink.type,
          alerts: Context.get(ctx, AlertSink.AlertSink),
          anomalies: Context.get(ctx, AnomalySink.AnomalySink),
          // the file can still be written (its directory not gone, the disk not read-only)
          health: fs.access(sink.path, { writable: true }).pipe(
            Effect.as(true),
            Effect.catch(() => Effect.succeed(false))
          )
        }
      }
    }
  })

const writeSeconds = Metric.histogram("sentinel_sink_write_seconds", {
  description: "time one write to a configured sink took (retries included), by sink and what was written",
  boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 16 })
})

/** A write to a destination, in a span, with its duration in `sentinel_sink_write_seconds{sink,type,items}`. */
// one metric handle per sink and kind of write, made once (not per write)
const histograms = new Map<string, Metric.Metric<number, unknown>>()
const histogramOf = (d: Destination, items: "alerts" | "anomalies") => {
  const key = `${d.name}\u0000${items}`
  let h = histograms.get(key)
  if (h === undefined) {
    h = Metric.withAttributes(writeSeconds, { sink: d.name, type: d.type, items })
    histograms.set(key, h)
  }
  return h
}

const timed = <E>(
  d: Destination,
  items: "alerts" | "anomalies",
  count: number,
  write: Effect.Effect<void, E>
): Effect.Effect<void, E> =>
  Effect.suspend(() => {
    const started = performance.now()
    return write.pipe(
      Effect.ensuring(Metric.update(histogramOf(d, items), (performance.now() - started) / 1000)),
      Effect.withSpan(
        `sentinel.sink.${d.type}`,
        { attributes: { "sink.name": d.name, items, count } },
        // no stack trace: it is an Error per write
        { captureStackTrace: false }
      )
    )
  })

/**
 * What an alert event is routed by: its severity and service (`undefined` for a storm summary).
 *
 * @category models
 * @since 0.2.0
 */
export interface RouteKey {
  readonly severity: Verdict.Severity | undefined
  readonly service: string | undefined
}

const keyOf = (e: Alert.AlertEvent): RouteKey =>
  e._tag === "storm"
    ? { severity: undefined, service: undefined }
    : { severity: e.alert.severity, service: e.alert.series.service }

/**
 * The names of the sinks an alert event goes to, given the routes (all alert sinks without routes).
 *
 * @category constructors
 * @since 0.2.0
 */
export const route = (
  routes: ReadonlyArray<typeof Config.Route.Type> | undefined,
  alertSinks: ReadonlyArray<string>,
  event: Alert.AlertEvent
): ReadonlySet<string> => {
  if (routes === undefined) return new Set(alertSinks)
  const k = keyOf(event)
  const out = new Set<string>()
  for (const r of routes) {
    const storm = k.service === undefined
    const bySeverity =
      storm || r.severity === undefined || (k.severity !== undefined && r.severity.some((s) => s === k.severity))
    const byService = storm ? r.services === undefined : r.services === undefined || r.services.includes(k.service!)
    if (bySeverity && byService) for (const s of r.sinks) out.add(s)
  }
  return out
}

/**
 * The configured sinks, built.
 *
 * @category services
 * @since 0.2.0
 */
export class ConfiguredSinks extends Context.Service<
  ConfiguredSinks,
  {
    readonly destinations: ReadonlyArray<Destination>
    /** Writes alert events to the sinks their routes name, concurrently; fails when one of them fails. */
    readonly writeAlerts: AlertSink.AlertSink["Service"]["write"]
    /** Writes anomalies to every sink that takes them, concurrently. */
    readonly writeAnomalies: AnomalySink.AnomalySink["Service"]["write"]
    /** Whether a sink takes window aggregates. */
    readonly takesWindows: boolean
    /** Hands closed windows to every sink that takes them (buffered: returns at once). */
    readonly writeWindows: (windows: ReadonlyArray<Window.WindowResult>) => Effect.Effect<void>
  }
>()("@llm-sentinel/server/ConfiguredSinks") {}

/**
 * Builds every configured sink, registers its health with readiness (reported, not deciding) and routes alert
 * events by `routes`.
 *
 * @category layers
 * @since 0.2.0
 */
export const layer = (
  sinks: ReadonlyArray<Config.Sink>,
  routes?: ReadonlyArray<typeof Config.Route.Type>
): Layer.Layer<
  ConfiguredSinks,
  SinkStartError,
  DeadLetterSink.DeadLetterSink | Readiness.Readiness | FileSystem.FileSystem
> =>
  Layer.effect(
    ConfiguredSinks,
    Effect.gen(function* () {
      const readiness = yield* Readiness.Readiness
      const destinations = yield* Effect.forEach(sinks, (s, i) => build(s, Config.sinkName(s, i)))
      for (const d of destinations) yield* readiness.register(`sink:${d.name}`, d.health, { decides: false })
      const alerting = destinations.filter((d) => d.alerts !== undefined)
      const names = alerting.map((d) => d.name)
      const taking = destinations.filter((d) => d.anomalies !== undefined)
      const windowed = destinations.flatMap((d) => (d.windows === undefined ? [] : [d.windows]))
      return {
        destinations,
        takesWindows: windowed.length > 0,
        writeWindows: (ws) => Effect.forEach(windowed, (write) => write(ws), { discard: true }),
        writeAlerts: (events) =>
          Effect.forEach(
            alerting,
            (d) => {
              const mine = events.filter((e) => route(routes, names, e).has(d.name))
              return mine.length === 0 ? Effect.void : timed(d, "alerts", mine.length, d.alerts!.write(mine))
            },
            { discard: true, concurrency: "unbounded" }
          ),
        writeAnomalies: (xs) =>
          xs.length === 0
            ? Effect.void
            : Effect.forEach(taking, (d) => timed(d, "anomalies", xs.length, d.anomalies!.write(xs)), {
                discard: true,
                concurrency: "unbounded"
              })
      }
    })
  )

/**
 * An `AlertSink` writing to `inner` (e.g. the log), then to the configured sinks by their routes.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerAlertSink = <E, R>(
  inner: Layer.Layer<AlertSink.AlertSink, E, R>
): Layer.Layer<AlertSink.AlertSink, E, R | ConfiguredSinks> =>
  Layer.effect(
    AlertSink.AlertSink,
    Effect.gen(function* () {
      const first = yield* AlertSink.AlertSink
      const configured = yield* ConfiguredSinks
      return { write: (events) => Effect.andThen(first.write(events), configured.writeAlerts(events)) }
    })
  ).pipe(Layer.provide(inner))

const anomaliesBy = Metric.counter("sentinel_anomalies_by_detector_total", {
  description: "anomalies stored, by detector and severity",
  incremental: true
})

// one counter handle per detector and severity, made once
const anomalyCounters = new Map<string, Metric.Metric<number, unknown>>()

const countAnomalies = (xs: ReadonlyArray<Anomaly.Anomaly>): Effect.Effect<void> => {
  const counts = new Map<string, { readonly counter: Metric.Metric<number, unknown>; n: number }>()
  for (const a of xs) {
    const k = `${a.detector}\u0000${a.severity}`
    const c = counts.get(k)
    if (c !== undefined) {
      c.n++
      continue
    }
    let counter = anomalyCounters.get(k)
    if (counter === undefined) {
      counter = Metric.withAttributes(anomaliesBy, { detector: a.detector, severity: a.severity })
      anomalyCounters.set(k, counter)
    }
    counts.set(k, { counter, n: 1 })
  }
  return Effect.forEach(counts.values(), (c) => Metric.update(c.counter, c.n), { discard: true })
}

/**
 * An `AnomalySink` writing to `inner` (the store) and to every configured sink that takes anomalies, concurrently.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerAnomalySink = <E, R>(
  inner: Layer.Layer<AnomalySink.AnomalySink, E, R>
): Layer.Layer<AnomalySink.AnomalySink, E, R | ConfiguredSinks> =>
  Layer.effect(
    AnomalySink.AnomalySink,
    Effect.gen(function* () {
      const first = yield* AnomalySink.AnomalySink
      const configured = yield* ConfiguredSinks
      return {
        write: (xs) =>
          Effect.all([first.write(xs), configured.writeAnomalies(xs), countAnomalies(xs)], {
            concurrency: "unbounded",
            discard: true
          })
      }
    })
  ).pipe(Layer.provide(inner))
