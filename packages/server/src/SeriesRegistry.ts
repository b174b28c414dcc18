/**
 * The live series of a running server, in memory, for `GET /v1/series` and `GET /v1/series/{id}/points`: each
 * series' key, its detectors' warm-up progress ("MAD 12/30 windows"), and a bounded ring of its most recent
 * scored window aggregates (default 240 points per series) with each detector's expected value, band and verdict.
 * The pipeline feeds it every scored point (`Pipeline.MakeOptions.onScored`); the alert sink wrapper
 * ({@link layerAlertSink}) keeps each series' firing alert.
 *
 * Nothing here is persisted: after a restart series reappear with their next window (their detectors, restored
 * from the checkpoint, show as ready on their first verdict). Memory: about 240 × (48 bytes + 80 per detector)
 * per series, ~50 MiB for 10k series with two detectors at the default ring size.
 *
 * Listing is a scan over the ids kept sorted (re-sorted only when series were added): filtering and paging 10k
 * series takes about a millisecond.
 *
 * @since 0.1.0
 */
import { type Alert, AlertSink, type Detector, type Series, Verdict } from "@llm-sentinel/core"
import { Context, Effect, Layer } from "effect"

/**
 * One detector's verdict on one point.
 *
 * @category models
 * @since 0.1.0
 */
export interface DetectorPoint {
  readonly name: string
  readonly score: number
  readonly expected: number | null
  readonly lower: number | null
  readonly upper: number | null
  readonly anomalous: boolean
  readonly severity: Verdict.Severity
  readonly ready: boolean
}

/**
 * One scored window aggregate, with the band of its primary detector (the first ready one).
 *
 * @category models
 * @since 0.1.0
 */
export interface Point {
  readonly time: number
  /** The aggregate; null when it is not a finite number (e.g. a rate over an empty window). */
  readonly value: number | null
  readonly expected: number | null
  readonly lower: number | null
  readonly upper: number | null
  readonly anomalous: boolean
  readonly severity: Verdict.Severity
  readonly detectors: ReadonlyArray<DetectorPoint>
}

/**
 * A detector's warm-up on one series.
 *
 * @category models
 * @since 0.1.0
 */
export interface Progress {
  readonly name: string
  /** Windows scored since this process started. */
  readonly seen: number
  readonly minSamples: number
  readonly ready: boolean
  /** `"MAD 12/30 windows"` or `"MAD ready"`. */
  readonly progress: string
}

/**
 * What `GET /v1/series` says about one series.
 *
 * @category models
 * @since 0.1.0
 */
export interface Summary {
  readonly series: Series.SeriesKey
  readonly lastPoint: { readonly time: number; readonly value: number | null } | null
  readonly stats: {
    readonly count: number
    readonly mean: number | null
    readonly min: number | null
    readonly max: number | null
  }
  readonly detectors: ReadonlyArray<Progress>
  readonly warmingUp: boolean
  readonly anomalies: number
  readonly lastAnomalyAt: number | null
  readonly alert: { readonly id: string; readonly severity: Verdict.Severity } | null
}

/**
 * A filter and page of {@link Registry.list}.
 *
 * @category models
 * @since 0.1.0
 */
export interface ListQuery {
  readonly service?: string
  readonly model?: string
  readonly metric?: string
  /** Case-insensitive substring of the series id. */
  readonly q?: string
  readonly state?: "warming" | "ready" | "alerting"
  readonly limit: number
  /** The id after which the page starts (the previous page's `next`). */
  readonly cursor?: string
}

interface DetectorState {
  seen: number
  readonly minSamples: number
  ready: boolean
}

interface Entry {
  readonly key: Series.SeriesKey
  readonly ring: Array<{ time: number; value: number; detectors: Array<DetectorPoint> }>
  readonly detectors: Map<string, DetectorState>
  anomalies: number
  lastAnomalyAt: number | null
  alert: { id: string; severity: Verdict.Severity } | null
}

/**
 * The registry.
 *
 * @category models
 * @since 0.1.0
 */
export interface Registry {
  /** Feeds scored points (what the pipeline's detect stage produced). */
  readonly observe: (scored: ReadonlyArray<Detector.Scored>) => void
  /** Feeds alert events (keeps each series' firing alert). */
  readonly onAlerts: (events: ReadonlyArray<Alert.AlertEvent>) => void
  readonly list: (query: ListQuery) => {
    readonly items: ReadonlyArray<Summary>
    readonly next: string | null
    readonly total: number
  }
  /** The summary and recent points of one series (oldest first), or undefined if unknown. */
  readonly points: (
    id: string,
    options?: { readonly limit?: number; readonly since?: number }
  ) => { readonly series: Summary; readonly points: ReadonlyArray<Point> } | undefined
  readonly size: () => number
  /** The ring size (points kept per series). */
  readonly capacity: number
}

/**
 * The default number of points kept per series.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultCapacity = 240

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null)

const label = (name: string): string => (name.length <= 4 ? name.toUpperCase() : name[0]?.toUpperCase() + name.slice(1))

/**
 * Makes a registry. `detectors` is the pipeline's selection (for each detector's `minSamples`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: { readonly detectors: Detector.Selection; readonly capacity?: number }): Registry => {
  const capacity = Math.max(1, options.capacity ?? defaultCapacity)
  const entries = new Map<string, Entry>()
  let sorted: Array<string> = []
  let dirty = false
  const minSamplesOf = (key: Series.SeriesKey): Map<string, number> => {
    const list = typeof options.detectors === "function" ? options.detectors(key) : options.detectors
    return new Map(list.map((d) => [d.name, d.minSamples]))
  }
  const entryOf = (key: Series.SeriesKey): Entry => {
    let e = entries.get(key.id)
    if (e === undefined) {
      const detectors = new Map<string, DetectorState>()
      for (const [name, minSamples] of minSamplesOf(key)) detectors.set(name, { seen: 0, minSamples, ready: false })
      e = { key, ring: [], detectors, anomalies: 0, lastAnomalyAt: null, alert: null }
      entries.set(key.id, e)
      dirty = true
    }
    return e
  }
  const observe = (scored: ReadonlyArray<Detector.Scored>) => {
    for (const { point, detector, verdict } of scored) {
      const e = entryOf(point.key)
      let d = e.detectors.get(detector)
      if (d === undefined) {
        d = { seen: 0, minSamples: 0, ready: false }
        e.detectors.set(detector, d)
      }
      d.seen++
      d.ready = verdict.ready
      const last = e.ring[e.ring.length - 1]
      const p: DetectorPoint = {
        name: detector,
        score: Number.isFinite(verdict.score) ? verdict.score : 0,
        expected: finite(verdict.expected),
        lower: finite(verdict.lower),
        upper: finite(verdict.upper),
        anomalous: verdict.anomalous,
        severity: verdict.anomalous ? verdict.severity : "none",
        ready: verdict.ready
      }
      if (last !== undefined && last.time === point.time) last.detectors.push(p)
      else {
        e.ring.push({ time: point.time, value: point.value, detectors: [p] })
        if (e.ring.length > capacity) e.ring.shift()
      }
      if (verdict.anomalous) {
        e.anomalies++
        e.lastAnomalyAt = Math.max(e.lastAnomalyAt ?? point.time, point.time)
      }
    }
  }
  const onAlerts = (events: ReadonlyArray<Alert.AlertEvent>) => {
    for (const ev of events) {
      if (ev._tag === "storm") continue
      const e = entryOf(ev.alert.series)
      e.alert = ev._tag === "resolved" ? null : { id: ev.alert.id, severity: ev.alert.severity }
    }
  }
  const summary = (e: Entry): Summary => {
    let sum = 0
    let count = 0
    let min = Number.POSITIVE_INFINITY
    let max = Number.NEGATIVE_INFINITY
    for (const p of e.ring) {
      if (!Number.isFinite(p.value)) continue
      count++
      sum += p.value
      if (p.value < min) min = p.value
      if (p.value > max) max = p.value
    }
    const last = e.ring[e.ring.length - 1]
    const detectors = [...e.detectors].map(([name, d]) => ({
      name,
      seen: d.seen,
      minSamples: d.minSamples,
      ready: d.ready,
      progress: d.ready
        ? `${label(name)} ready`
        : `${label(name)} ${Math.min(d.seen, d.minSamples)}/${d.minSamples} windows`
    }))
    return {
      series: e.key,
      lastPoint: last === undefined ? null : { time: last.time, value: finite(last.value) },
      stats: {
        count,
        mean: count === 0 ? null : sum / count,
        min: count === 0 ? null : min,
        max: count === 0 ? null : max
      },
      detectors,
      warmingUp: detectors.some((d) => !d.ready),
      anomalies: e.anomalies,
      lastAnomalyAt: e.lastAnomalyAt,
      alert: e.alert
    }
  }
  const matches = (e: Entry, q: ListQuery, needle: string | undefined): boolean => {
    if (q.service !== undefined && e.key.service !== q.service) return false
    if (q.model !== undefined && e.key.model !== q.model) return false
    if (q.metric !== undefined && e.key.metric !== q.metric) return false
    if (needle !== undefined && !e.key.id.toLowerCase().includes(needle)) return false
    if (q.state === "alerting") return e.alert !== null
    if (q.state !== undefined) {
      let warming = false
      for (const d of e.detectors.values()) if (!d.ready) warming = true
      return q.state === "warming" ? warming : !warming
    }
    return true
  }
  const list = (q: ListQuery) => {
    if (dirty) {
      sorted = [...entries.keys()].sort()
      dirty = false
    }
    const needle = q.q?.toLowerCase()
    // the first id after the cursor
    let lo = 0
    if (q.cursor !== undefined) {
      let hi = sorted.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if ((sorted[mid] as string) <= q.cursor) lo = mid + 1
        else hi = mid
      }
    }
    const items: Array<Summary> = []
    let total = 0
    let next: string | null = null
    for (let i = 0; i < sorted.length; i++) {
      const e = entries.get(sorted[i] as string) as Entry
      if (!matches(e, q, needle)) continue
      total++
      if (i < lo) continue
      if (items.length < q.limit) items.push(summary(e))
      else if (next === null) next = items[items.length - 1]?.series.id ?? null
    }
    return { items, next, total }
  }
  const points = (id: string, o: { readonly limit?: number; readonly since?: number } = {}) => {
    const e = entries.get(id)
    if (e === undefined) return undefined
    const from = o.since
    const selected = from === undefined ? e.ring : e.ring.filter((p) => p.time >= from)
    const window = selected.slice(Math.max(0, selected.length - (o.limit ?? capacity)))
    return {
      series: summary(e),
      points: window.map((p): Point => {
        const primary = p.detectors.find((d) => d.ready) ?? p.detectors[0]
        let severity: Verdict.Severity = "none"
        for (const d of p.detectors) if (Verdict.rank(d.severity) > Verdict.rank(severity)) severity = d.severity
        return {
          time: p.time,
          value: finite(p.value),
          expected: primary?.expected ?? null,
          lower: primary?.lower ?? null,
          upper: primary?.upper ?? null,
          anomalous: p.detectors.some((d) => d.anomalous),
          severity,
          detectors: p.detectors
        }
      })
    }
  }
  return { observe, onAlerts, list, points, size: () => entries.size, capacity }
}

/**
 * The registry of the running server.
 *
 * @category services
 * @since 0.1.0
 */
export class SeriesRegistry extends Context.Service<SeriesRegistry, Registry>()(
  "@llm-sentinel/server/SeriesRegistry"
) {}

/**
 * A registry for the pipeline's detector selection.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: { readonly detectors: Detector.Selection; readonly capacity?: number }) =>
  Layer.sync(SeriesRegistry, () => make(options))

/**
 * Wraps an alert sink so the registry sees every alert event the sink accepted.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerAlertSink = <E, R>(
  inner: Layer.Layer<AlertSink.AlertSink, E, R>
): Layer.Layer<AlertSink.AlertSink, E, R | SeriesRegistry> =>
  Layer.effect(
    AlertSink.AlertSink,
    Effect.gen(function* () {
      const registry = yield* SeriesRegistry
      const sink = yield* AlertSink.AlertSink
      return {
        write: (events: ReadonlyArray<Alert.AlertEvent>) =>
          Effect.tap(sink.write(events), () => Effect.sync(() => registry.onAlerts(events)))
      }
    })
  ).pipe(Layer.provide(inner))
