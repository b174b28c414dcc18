/**
 * Metric extraction: events become metric points, one per measured metric, keyed by `service × model ×
 * metric` (plus an optional dimension such as `environment`).
 *
 * Each metric also says how its window summary is turned into watched signals ({@link Aggregate.Derivation}):
 * latency is watched through its quantiles, errors as a rate, tokens and cost as per-call means and rates.
 *
 * @since 0.1.0
 */
import { Stream } from "effect"
import { dual } from "effect/Function"
import type * as Aggregate from "./Aggregate.ts"
import type { TelemetryEvent } from "./Event.ts"
import type * as Series from "./Series.ts"

/**
 * A metric read from each event.
 *
 * @category models
 * @since 0.1.0
 */
export interface MetricSpec {
  readonly name: string
  /** The value of this metric in an event, or `undefined` when the event does not carry it. */
  readonly get: (event: TelemetryEvent) => number | undefined
  /** How window summaries of this metric become signals. */
  readonly derivations: ReadonlyArray<Aggregate.Derivation>
}

/**
 * The built-in metrics: `latency`, `ttft`, `inputTokens`, `outputTokens`, `totalTokens`, `cost`, `error`
 * (1 for `status: "error"`, else 0) and `requests` (1 per event, so its per-second sum is the request rate).
 *
 * @category constructors
 * @since 0.1.0
 */
export const builtins: ReadonlyArray<MetricSpec> = [
  { name: "latency", get: (e) => e.latencyMs, derivations: ["quantiles"] },
  { name: "ttft", get: (e) => e.ttftMs, derivations: ["quantiles"] },
  { name: "inputTokens", get: (e) => e.inputTokens, derivations: ["mean", "perSecond"] },
  { name: "outputTokens", get: (e) => e.outputTokens, derivations: ["mean", "perSecond"] },
  {
    name: "totalTokens",
    get: (e) =>
      e.inputTokens === undefined && e.outputTokens === undefined
        ? undefined
        : (e.inputTokens ?? 0) + (e.outputTokens ?? 0),
    derivations: ["perSecond"]
  },
  { name: "cost", get: (e) => e.costUsd, derivations: ["mean", "perMinute"] },
  { name: "error", get: (e) => (e.status === "error" ? 1 : 0), derivations: ["rate"] },
  { name: "requests", get: () => 1, derivations: ["perSecond"] }
]

/**
 * The signals watched by default: p95 and p50 latency, p95 time to first token, output tokens per call, total
 * tokens per second, cost per minute, error rate and request rate.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultSignals: ReadonlyArray<string> = [
  "latency.p95",
  "latency.p50",
  "ttft.p95",
  "outputTokens.mean",
  "totalTokens.perSecond",
  "cost.perMinute",
  "error.rate",
  "requests.perSecond"
]

/**
 * Options of the extraction.
 *
 * @category models
 * @since 0.1.0
 */
export interface ExtractOptions {
  readonly registry: Series.Registry
  /** The metrics to read (default {@link builtins}). */
  readonly metrics?: ReadonlyArray<MetricSpec>
  /** Also read every entry of `event.metrics` as metric `metrics.<name>` (watched as a per-call mean). */
  readonly custom?: boolean
  /** The event field used as the registry's extra dimension, if any. */
  readonly dimension?: "environment" | "provider" | "operation"
}

/**
 * The derivations of a custom metric (`metrics.<name>`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const customDerivations: ReadonlyArray<Aggregate.Derivation> = ["mean"]

/**
 * Looks up how a base metric is derived, built-in or custom.
 *
 * @category combinators
 * @since 0.1.0
 */
export const derivationsOf = (
  metric: string,
  metrics: ReadonlyArray<MetricSpec> = builtins
): ReadonlyArray<Aggregate.Derivation> =>
  metrics.find((m) => m.name === metric)?.derivations ?? (metric.startsWith("metrics.") ? customDerivations : [])

/**
 * A chunk-wise extraction function: events in, points out (series over the registry's bound are counted by
 * the registry and skipped).
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeExtractFn = (
  options: ExtractOptions
): ((events: ReadonlyArray<TelemetryEvent>) => Array<Series.MetricPoint>) => {
  const metrics = options.metrics ?? builtins
  const custom = options.custom ?? true
  const { registry, dimension } = options
  // per service × model group, the keys of `metrics` by index: an identity lookup and an array read per point
  const slots = new Map<ReadonlyMap<string, Series.SeriesKey>, Array<Series.SeriesKey | undefined>>()
  return (events) => {
    const out: Array<Series.MetricPoint> = []
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!
      const dim = dimension === undefined ? undefined : e[dimension]
      const group = registry.group(e.service, e.model, dim)
      let keys = slots.get(group)
      if (keys === undefined) slots.set(group, (keys = new Array(metrics.length)))
      for (let m = 0; m < metrics.length; m++) {
        const spec = metrics[m]!
        const value = spec.get(e)
        if (value === undefined) continue
        let key = keys[m]
        if (key === undefined) key = keys[m] = registry.key(e.service, e.model, spec.name, dim)
        if (key !== undefined) out.push({ key, time: e.timestamp, value })
      }
      if (custom && e.metrics !== undefined) {
        for (const name in e.metrics) {
          const key = registry.key(e.service, e.model, `metrics.${name}`, dim)
          if (key !== undefined) out.push({ key, time: e.timestamp, value: e.metrics[name]! })
        }
      }
    }
    return out
  }
}

/**
 * The extraction stage as a stream operator.
 *
 * @category combinators
 * @since 0.1.0
 */
export const extract: {
  (
    options: ExtractOptions
  ): <E, R>(self: Stream.Stream<TelemetryEvent, E, R>) => Stream.Stream<Series.MetricPoint, E, R>
  <E, R>(self: Stream.Stream<TelemetryEvent, E, R>, options: ExtractOptions): Stream.Stream<Series.MetricPoint, E, R>
} = dual(
  2,
  <E, R>(self: Stream.Stream<TelemetryEvent, E, R>, options: ExtractOptions): Stream.Stream<Series.MetricPoint, E, R> =>
    Stream.mapAccumArray(
      self,
      () => makeExtractFn(options),
      (fn, events) => [fn, fn(events)]
    )
)
