/**
 * The live series of a running server, in memory, for `GET /v1/series` and `GET /v1/series/{id}/points`: each
 * series' key, its detectors' warm-up progress ("MAD 12/30 windows"), and a bounded ring of its most recent
 * scored window aggregates (default 240 points per series) with each detector's expected value, band and verdict.
 * The pipeline feeds it every scored point (`Pipeline.MakeOptions.onScored`); the alert sink wrapper
 * ({@link layerAlertSink}) keeps each series' firing alert.
 *
 * Nothing here is persisted: after a restart series reappear with their next window (their detectors, restored
 * from the checkpoint, show as ready on their first verdict). Memory is bounded at any cardinality: a point takes
 * 16 bytes plus 17 per detector (columns of typed arrays), and all histories together share one budget
 * (`historyBytes`, default 64 MiB), so with many series each keeps fewer points (see {@link make}).
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

/**
 * One series' history: a ring of its most recent scored points, column by column (typed arrays, a few bytes per
 * point instead of a few hundred as objects). Slot `k` of the ring holds a point's time and value and, per
 * detector `j`, its score, expected value and band (float32, `bands[(k * detectors + j) * 4 …]`) and a flags byte
 * (`flags[k * detectors + j]`: present, anomalous, ready, severity).
 */
interface Entry {
  readonly key: Series.SeriesKey
  /** The detectors, in the order their verdicts were first seen. */
  names: ReadonlyArray<string>
  minSamples: ReadonlyArray<number>
  readonly seen: Array<number>
  readonly ready: Array<boolean>
  /** Slots allocated. */
  capacity: number
  /** The oldest point's slot. */
  head: number
  /** Points held. */
  length: number
  times: Float64Array<ArrayBuffer>
  values: Float64Array<ArrayBuffer>
  bands: Float32Array<ArrayBuffer>
  flags: Uint8Array<ArrayBuffer>
  anomalies: number
  lastAnomalyAt: number | null
  alert: { id: string; severity: Verdict.Severity } | null
}

const PRESENT = 1
const ANOMALOUS = 2
const READY = 4
const SEVERITY_SHIFT = 3
const F32_MAX = 3.4e38
const severities: ReadonlyArray<Verdict.Severity> = ["none", "info", "warning", "critical"]

/** Bytes of history per point: its time and value, and per detector four float32 and a flags byte. */
const pointBytes = (detectors: number): number => 16 + detectors * 17

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
  /** The most points kept per series (fewer when the history budget is shared by many series). */
  readonly capacity: number
}

/**
 * The default number of points kept per series.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultCapacity = 240

/**
 * The default memory budget of all series' histories together (64 MiB): with the four default detectors a point
 * takes 84 bytes, so 3,300 series keep the full {@link defaultCapacity}, 10,000 series 79 points and 100,000
 * series {@link minCapacity}.
 *
 * @category models
 * @since 0.3.0
 */
export const defaultHistoryBytes = 64 * 2 ** 20

/**
 * The fewest points a series keeps however many series share the budget (unless `capacity` is smaller).
 *
 * @category models
 * @since 0.3.0
 */
export const minCapacity = 8

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null)

const label = (name: string): string => (name.length <= 4 ? name.toUpperCase() : name[0]?.toUpperCase() + name.slice(1))

// the columns of a series before its first point (empty, never written: shared)
const empty64 = new Float64Array(0)
const empty32 = new Float32Array(0)
const empty8 = new Uint8Array(0)

/**
 * Re-lays an entry's ring out with `capacity` slots and `detectors` detectors (it had `before`), keeping its newest
 * points.
 */
const reshape = (e: Entry, capacity: number, before: number, detectors: number): void => {
  const keep = Math.min(e.length, capacity)
  // the four columns share one buffer (one backing store per series, not four: ~400 B of RSS each)
  const buffer = new ArrayBuffer(capacity * (16 + detectors * 17))
  const times = new Float64Array(buffer, 0, capacity)
  const values = new Float64Array(buffer, capacity * 8, capacity)
  const bands = new Float32Array(buffer, capacity * 16, capacity * detectors * 4)
  const flags = new Uint8Array(buffer, capacity * (16 + detectors * 16), capacity * detectors)
  for (let k = 0; k < keep; k++) {
    const from = (e.head + e.length - keep + k) % e.capacity
    times[k] = e.times[from]!
    values[k] = e.values[from]!
    for (let j = 0; j < before; j++) {
      flags[k * detectors + j] = e.flags[from * before + j]!
      for (let c = 0; c < 4; c++) bands[(k * detectors + j) * 4 + c] = e.bands[(from * before + j) * 4 + c]!
    }
  }
  e.capacity = capacity
  e.head = 0
  e.length = keep
  e.times = times
  e.values = values
  e.bands = bands
  e.flags = flags
}

/**
 * Makes a registry. `detectors` is the pipeline's selection (for each detector's `minSamples`). `capacity` bounds
 * the points kept per series (default {@link defaultCapacity}); `historyBytes` bounds all series' histories
 * together (default {@link defaultHistoryBytes}): as series multiply, each keeps fewer points (at least
 * {@link minCapacity}), so memory stays bounded at any cardinality. A series' ring grows as its points come and
 * shrinks on its next point when the share falls.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: {
  readonly detectors: Detector.Selection
  readonly capacity?: number
  readonly historyBytes?: number
}): Registry => {
  const capacity = Math.max(1, options.capacity ?? defaultCapacity)
  const historyBytes = options.historyBytes ?? defaultHistoryBytes
  const entries = new Map<string, Entry>()
  // the detector names and warm-ups of a selection's list, and of a list widened by a detector it did not name (a
  // peer group's), shared by every series that has them instead of two arrays per series
  type Columns = Pick<Entry, "names" | "minSamples">
  const ofList = new WeakMap<ReadonlyArray<Detector.Any>, Columns>()
  const columnsOf = (list: ReadonlyArray<Detector.Any>): Columns => {
    let c = ofList.get(list)
    if (c === undefined)
      ofList.set(list, (c = { names: list.map((d) => d.name), minSamples: list.map((d) => d.minSamples) }))
    return c
  }
  const wider = new WeakMap<ReadonlyArray<string>, Map<string, Columns>>()
  const widened = (e: Columns, detector: string): Columns => {
    let byName = wider.get(e.names)
    if (byName === undefined) wider.set(e.names, (byName = new Map()))
    let c = byName.get(detector)
    if (c === undefined) byName.set(detector, (c = { names: [...e.names, detector], minSamples: [...e.minSamples, 0] }))
    return c
  }
  let sorted: Array<string> = []
  let dirty = false
  /** The points a series with `detectors` detectors may keep now. */
  const share = (detectors: number): number =>
    Math.min(
      capacity,
      Math.max(minCapacity, Math.floor(historyBytes / (Math.max(1, entries.size) * pointBytes(detectors))))
    )
  const entryOf = (key: Series.SeriesKey): Entry => {
    let e = entries.get(key.id)
    if (e === undefined) {
      const list = typeof options.detectors === "function" ? options.detectors(key) : options.detectors
      const columns = columnsOf(list)
      const names = columns.names
      e = {
        key,
        names,
        minSamples: columns.minSamples,
        seen: names.map(() => 0),
        ready: names.map(() => false),
        capacity: 0,
        head: 0,
        length: 0,
        times: empty64,
        values: empty64,
        bands: empty32,
        flags: empty8,
        anomalies: 0,
        lastAnomalyAt: null,
        alert: null
      }
      entries.set(key.id, e)
      dirty = true
    }
    return e
  }
  /** The slot of a new point at `time`: the ring grows while under its share, else the oldest point goes. */
  const append = (e: Entry, time: number, value: number): number => {
    const D = e.names.length
    const allowed = share(D)
    if (e.capacity > allowed) reshape(e, allowed, D, D)
    if (e.length === e.capacity) {
      if (e.capacity < allowed) reshape(e, Math.min(allowed, Math.max(16, e.capacity * 2)), D, D)
      else {
        e.head = (e.head + 1) % e.capacity
        e.length--
      }
    }
    const slot = (e.head + e.length) % e.capacity
    e.length++
    e.times[slot] = time
    e.values[slot] = value
    e.flags.fill(0, slot * D, slot * D + D)
    return slot
  }
  const observe = (scored: ReadonlyArray<Detector.Scored>) => {
    for (const { point, detector, verdict } of scored) {
      const e = entryOf(point.key)
      let j = e.names.indexOf(detector)
      if (j === -1) {
        // a detector the selection did not name: one more column
        j = e.names.length
        const columns = widened(e, detector)
        e.names = columns.names
        e.minSamples = columns.minSamples
        e.seen.push(0)
        e.ready.push(false)
        reshape(e, e.capacity, j, j + 1)
      }
      e.seen[j]!++
      e.ready[j] = verdict.ready
      const D = e.names.length
      const last = e.length === 0 ? -1 : (e.head + e.length - 1) % e.capacity
      const slot = last !== -1 && e.times[last] === point.time ? last : append(e, point.time, point.value)
      const at = slot * D + j
      const severity = verdict.anomalous ? verdict.severity : "none"
      e.flags[at] =
        PRESENT |
        (verdict.anomalous ? ANOMALOUS : 0) |
        (verdict.ready ? READY : 0) |
        (severities.indexOf(severity) << SEVERITY_SHIFT)
      // clamped to the float32 range, so a finite score stays finite
      e.bands[at * 4] = Number.isFinite(verdict.score) ? Math.max(-F32_MAX, Math.min(F32_MAX, verdict.score)) : 0
      e.bands[at * 4 + 1] = verdict.expected
      e.bands[at * 4 + 2] = verdict.lower
      e.bands[at * 4 + 3] = verdict.upper
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
    for (let k = 0; k < e.length; k++) {
      const value = e.values[(e.head + k) % e.capacity]!
      if (!Number.isFinite(value)) continue
      count++
      sum += value
      if (value < min) min = value
      if (value > max) max = value
    }
    const last = e.length === 0 ? -1 : (e.head + e.length - 1) % e.capacity
    const detectors = e.names.map((name, j) => {
      const ready = e.ready[j]!
      const seen = e.seen[j]!
      const minSamples = e.minSamples[j]!
      return {
        name,
        seen,
        minSamples,
        ready,
        progress: ready ? `${label(name)} ready` : `${label(name)} ${Math.min(seen, minSamples)}/${minSamples} windows`
      }
    })
    return {
      series: e.key,
      lastPoint: last === -1 ? null : { time: e.times[last]!, value: finite(e.values[last]!) },
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
      const warming = e.ready.some((ready) => !ready)
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
  const pointAt = (e: Entry, slot: number): Point => {
    const D = e.names.length
    const detectors: Array<DetectorPoint> = []
    for (let j = 0; j < D; j++) {
      const at = slot * D + j
      const f = e.flags[at]!
      if ((f & PRESENT) === 0) continue
      detectors.push({
        name: e.names[j]!,
        score: e.bands[at * 4]!,
        expected: finite(e.bands[at * 4 + 1]!),
        lower: finite(e.bands[at * 4 + 2]!),
        upper: finite(e.bands[at * 4 + 3]!),
        anomalous: (f & ANOMALOUS) !== 0,
        severity: severities[(f >> SEVERITY_SHIFT) & 3]!,
        ready: (f & READY) !== 0
      })
    }
    const primary = detectors.find((d) => d.ready) ?? detectors[0]
    let severity: Verdict.Severity = "none"
    for (const d of detectors) if (Verdict.rank(d.severity) > Verdict.rank(severity)) severity = d.severity
    return {
      time: e.times[slot]!,
      value: finite(e.values[slot]!),
      expected: primary?.expected ?? null,
      lower: primary?.lower ?? null,
      upper: primary?.upper ?? null,
      anomalous: detectors.some((d) => d.anomalous),
      severity,
      detectors
    }
  }
  const points = (id: string, o: { readonly limit?: number; readonly since?: number } = {}) => {
    const e = entries.get(id)
    if (e === undefined) return undefined
    const slots: Array<number> = []
    for (let k = 0; k < e.length; k++) {
      const slot = (e.head + k) % e.capacity
      if (o.since === undefined || e.times[slot]! >= o.since) slots.push(slot)
    }
    const window = slots.slice(Math.max(0, slots.length - (o.limit ?? capacity)))
    return { series: summary(e), points: window.map((slot) => pointAt(e, slot)) }
  }
  return {
    observe,
    onAlerts,
    list,
    points,
    size: () => entries.size,
    capacity
  }
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
export const layer = (options: {
  readonly detectors: Detector.Selection
  readonly capacity?: number
  readonly historyBytes?: number
}) => Layer.sync(SeriesRegistry, () => make(options))

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
