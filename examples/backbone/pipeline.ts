// One pipeline definition, run three ways by swapping layers only (see memory.ts, file-postgres.ts and
// kafka-postgres.ts beside this file): the default detectors on 10-second windows, and a scenario of LLM calls
// with injected latency incidents that every way must find.
import { Pipeline } from "@llm-sentinel/core"
import { Defaults } from "@llm-sentinel/detectors"
import { Result } from "effect"

/** Event time of the scenario's first event (fixed, so every run makes the same anomaly ids). */
export const T0 = Date.UTC(2026, 10, 26, 12, 0, 0)
export const services = ["chat", "search", "agent", "summarize", "classify", "translate"] as const
export const models = ["gpt-4o", "claude"] as const

/** The injected incidents: a series (service × model) whose latency jumps to ~3 s for `seconds`. */
export interface Incident {
  readonly service: string
  readonly model: string
  readonly startSecond: number
  readonly seconds: number
}

export const windowMs = 10_000

/** The end of the default scenario's event time (40 minutes). */
export const scenarioEnd = (seconds = 40 * 60) => T0 + seconds * 1000

/**
 * The pipeline: `sentinel serve`'s default detectors on the default signals over 10-second
 * tumbling windows. `flushOnEnd: false` where a source replays open windows (Kafka, a journal).
 */
export const config = (
  options: {
    readonly flushOnEnd?: boolean
    readonly checkpointEvery?: import("effect").Duration.Input
    readonly idleTimeout?: import("effect").Duration.Input
  } = {}
) =>
  Result.getOrThrow(
    Pipeline.makeConfig({
      // the server's default: each signal's detectors with that signal's minimum meaningful change
      detectors: (key) => Defaults.detectors(key.metric),
      decide: Defaults.decide,
      window: "10 seconds",
      maxDelay: "5 seconds",
      idleTimeout: options.idleTimeout ?? "10 seconds",
      flushOnEnd: options.flushOnEnd ?? true,
      checkpointEvery: options.checkpointEvery ?? "1 second"
    })
  )

const mulberry32 = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/**
 * The scenario: one call per second per series for `seconds`, latency ~N(500, 25) ms, except during the
 * incidents (~N(3000, 100) ms). Events are in time order.
 */
export const scenario = (
  options: {
    readonly seconds?: number
    readonly incidents?: ReadonlyArray<Incident>
    readonly seed?: number
    readonly from?: number
  } = {}
): Array<Record<string, unknown>> => {
  const random = mulberry32(options.seed ?? 20261126)
  const normal = (mean: number, sd: number) => {
    const u = 1 - random()
    const v = random()
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
  const incidents = options.incidents ?? defaultIncidents
  const events: Array<Record<string, unknown>> = []
  const seconds = options.seconds ?? 40 * 60
  for (let s = options.from ?? 0; s < seconds; s++) {
    for (const service of services) {
      for (const model of models) {
        const inIncident = incidents.some(
          (i) => i.service === service && i.model === model && s >= i.startSecond && s < i.startSecond + i.seconds
        )
        events.push({
          timestamp: T0 + s * 1000,
          service,
          model,
          latencyMs: Math.max(0, Math.round(inIncident ? normal(3000, 100) : normal(500, 25))),
          inputTokens: 200,
          outputTokens: 300
        })
      }
    }
  }
  return events
}

/** Three incidents on three series, 20 seconds each (two full windows). */
export const defaultIncidents: ReadonlyArray<Incident> = [
  { service: "search", model: "gpt-4o", startSecond: 30 * 60, seconds: 20 },
  { service: "agent", model: "claude", startSecond: 33 * 60, seconds: 20 },
  { service: "translate", model: "gpt-4o", startSecond: 36 * 60, seconds: 20 }
]

/** Whether an anomaly (series service/model, event time) lies in an incident's windows. */
export const inIncident = (
  incidents: ReadonlyArray<Incident>,
  a: { readonly series: { readonly service: string; readonly model: string }; readonly time: number }
): Incident | undefined =>
  incidents.find(
    (i) =>
      i.service === a.series.service &&
      i.model === a.series.model &&
      a.time >= T0 + i.startSecond * 1000 - windowMs &&
      a.time < T0 + (i.startSecond + i.seconds) * 1000 + windowMs
  )

/** The incidents no anomaly was found in. */
export const missed = (
  anomalies: ReadonlyArray<{
    readonly series: { readonly service: string; readonly model: string }
    readonly time: number
  }>,
  incidents: ReadonlyArray<Incident> = defaultIncidents
): ReadonlyArray<Incident> => {
  const found = new Set(anomalies.map((a) => inIncident(incidents, a)))
  return incidents.filter((i) => !found.has(i))
}

/** A short account of a run: events, anomalies, incidents found, anomalies outside the incidents. */
export const report = (
  way: string,
  events: number,
  anomalies: ReadonlyArray<{
    readonly series: { readonly id: string; readonly service: string; readonly model: string }
    readonly time: number
    readonly detector: string
  }>
): string => {
  const outside = anomalies.filter((a) => inIncident(defaultIncidents, a) === undefined)
  const lines = [
    `${way}: ${events} events, ${anomalies.length} anomalies, ${defaultIncidents.length - missed(anomalies).length}/${defaultIncidents.length} incidents found, ${outside.length} anomalies outside them`
  ]
  for (const a of outside) lines.push(`  outside: ${new Date(a.time).toISOString()} ${a.series.id} ${a.detector}`)
  return lines.join("\n")
}
