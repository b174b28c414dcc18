/**
 * Event-time windows per series: tumbling, sliding and session windows, half-open `[start, end)`,
 * aligned at `time - time % slide` (Flink's and Arroyo's vocabulary: `size`, `slide`, `gap`).
 *
 * Sliding windows are computed from panes of width `slide`: each point updates one pane, and a window is the
 * merge of its `size / slide` panes, so a point costs one aggregate update whatever the overlap.
 *
 * Windows close when the series' watermark ({@link Watermark}) passes their end. Points up to
 * `allowedLateness` behind the watermark re-fire the time windows they fall in (`revision` 1, 2, …); older
 * points are late: counted and returned on the late side output. Sessions do not re-fire: a point later than
 * the watermark allows never reopens a closed session and is sent to the late output.
 *
 * Work per point is bounded whatever the timestamps: a gap in a series (silence, or event time jumping ahead)
 * emits at most `maxEmptyWindows` empty windows in a row, enough to make the silence visible, and then jumps to
 * the next window that holds points (or to the watermark), counting the windows it skipped. Points whose time is
 * not a valid date (beyond ±8.64e15 ms) are counted and dropped: window arithmetic there would lose precision.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Result, Schema, Stream } from "effect"
import { dual } from "effect/Function"
import * as Aggregate from "./Aggregate.ts"
import * as Extract from "./Extract.ts"
import { toMillis } from "./internal/millis.ts"
import type * as Series from "./Series.ts"
import * as Watermark from "./Watermark.ts"

/**
 * A resolved window, built by {@link tumbling}, {@link sliding} or {@link session}.
 *
 * Durations follow one rule across the library: options take a `Duration.Input` under the plain name
 * (`size: "1 minute"`);
 * the resolved value holds it in milliseconds under the same name with an `Ms` suffix (`sizeMs: 60000`).
 *
 * @category models
 * @since 0.1.0
 */
export type Window =
  | { readonly _tag: "Tumbling"; readonly sizeMs: number; readonly slideMs: number }
  | { readonly _tag: "Sliding"; readonly sizeMs: number; readonly slideMs: number }
  | { readonly _tag: "Session"; readonly gapMs: number }

/**
 * Invalid window parameters, reported at construction.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidWindow extends Schema.TaggedError<InvalidWindow>("@llm-sentinel/core/InvalidWindow")(
  "InvalidWindow",
  { parameter: Schema.String, message: Schema.String }
) {}

const positive = (parameter: string, input: unknown): Result.Result<number, InvalidWindow> => {
  const ms = toMillis(input as never)
  return ms !== undefined && Number.isFinite(ms) && ms >= 1 && Number.isInteger(ms)
    ? Result.succeed(ms)
    : Result.fail(
        new InvalidWindow({
          parameter,
          message: `${parameter} must be a positive whole number of milliseconds, got ${String(input)}`
        })
      )
}

/**
 * Fixed, non-overlapping windows of `size`.
 *
 * @example
 * ```ts
 * import { Window } from "@llm-sentinel/core"
 * import { Effect } from "effect"
 * Effect.gen(function*() {
 *   const w = yield* Effect.fromResult(Window.tumbling({ size: "1 minute" })) // InvalidWindow for "0 seconds"
 * })
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const tumbling = (options: {
  readonly size: import("effect").Duration.Input
}): Result.Result<Window, InvalidWindow> =>
  Result.map(positive("size", options.size), (sizeMs) => ({ _tag: "Tumbling", sizeMs, slideMs: sizeMs }))

/**
 * Overlapping windows of `size`, one starting every `slide`. `slide` must divide `size`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const sliding = (options: {
  readonly size: import("effect").Duration.Input
  readonly slide: import("effect").Duration.Input
}): Result.Result<Window, InvalidWindow> =>
  Result.flatMap(positive("size", options.size), (sizeMs) =>
    Result.flatMap(positive("slide", options.slide), (slideMs) =>
      slideMs > sizeMs
        ? Result.fail(
            new InvalidWindow({ parameter: "slide", message: `slide (${slideMs} ms) exceeds size (${sizeMs} ms)` })
          )
        : sizeMs % slideMs !== 0
          ? Result.fail(
              new InvalidWindow({
                parameter: "slide",
                message: `slide (${slideMs} ms) must divide size (${sizeMs} ms)`
              })
            )
          : Result.succeed<Window>({ _tag: "Sliding", sizeMs, slideMs })
    )
  )

/**
 * Windows of activity separated by at least `gap` without points. A session ends `gap` after its last point.
 *
 * @category constructors
 * @since 0.1.0
 */
export const session = (options: {
  readonly gap: import("effect").Duration.Input
}): Result.Result<Window, InvalidWindow> =>
  Result.map(positive("gap", options.gap), (gapMs) => ({ _tag: "Session", gapMs }))

/**
 * One closed (or re-fired) window of one series.
 *
 * @category models
 * @since 0.1.0
 */
export interface WindowResult {
  readonly key: Series.SeriesKey
  readonly start: number
  readonly end: number
  readonly summary: Aggregate.Summary
  /** 0 for the on-time firing, n for the n-th late update within `allowedLateness`. */
  readonly revision: number
  /** Why it closed: the watermark passed its end, the series went idle, or the input ended (`flush`). */
  readonly closedBy: "watermark" | "idle" | "flush"
}

/**
 * What one step of the windowing produces.
 *
 * @category models
 * @since 0.1.0
 */
export interface Output {
  readonly windows: Array<WindowResult>
  readonly late: Array<Series.MetricPoint>
}

/**
 * Counters of the windowing state.
 *
 * @category models
 * @since 0.1.0
 */
export interface Counters {
  /** Points accepted into windows. */
  readonly points: number
  /** Points later than `allowedLateness` allows. */
  readonly late: number
  readonly windowsClosed: number
  /** Empty windows not emitted because a gap already emitted `maxEmptyWindows` in a row. */
  readonly windowsSkipped: number
  /** Points dropped because their time is not a valid date. */
  readonly invalidTime: number
  /** Series dropped after `expireAfter` of silence. */
  readonly expired: number
  readonly activeSeries: number
}

/**
 * The event-time clock of one series: what a restarted windower needs to resume without firing a window twice.
 * Points of windows already fired are dropped as late after a restore, so replaying a source from before the
 * checkpoint rebuilds the open windows and nothing else.
 *
 * @category models
 * @since 0.1.0
 */
export interface SeriesClock {
  readonly maxTime: number
  readonly watermark: number
  readonly nextEnd: number
  readonly firedUpTo: number
}

/**
 * Options of the windowing.
 *
 * @category models
 * @since 0.1.0
 */
export interface WindowOptions {
  readonly window: Window
  readonly watermark?: Watermark.Watermark
  /** Whether the series' aggregates keep a quantile sketch (default: metrics derived by quantiles). */
  readonly quantiles?: (key: Series.SeriesKey) => boolean
  /** The checkpointed clock of a series seen for the first time (time windows only). */
  readonly restore?: (seriesId: string) => SeriesClock | undefined
  /**
   * Empty windows a gap in a series emits in a row before the windowing jumps ahead (default
   * {@link defaultMaxEmptyWindows}); 0 emits none.
   */
  readonly maxEmptyWindows?: number
}

/**
 * The default of {@link WindowOptions.maxEmptyWindows}: 10 empty windows in a row (10 minutes of silence at
 * 1-minute windows) make a traffic drop visible to the detectors; more would only cost work.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultMaxEmptyWindows = 10

interface TimeSeries {
  readonly key: Series.SeriesKey
  readonly quantiles: boolean
  maxTime: number
  watermark: number
  lastArrival: number
  nextEnd: number
  firedUpTo: number
  readonly panes: Map<number, Pane>
  /** Revisions fired per window end, once a late point re-fired one (most series never need it). */
  revisions: Map<number, number> | undefined
  /** The pane the last point went to: most points of a series land in the same pane as the one before. */
  lastPaneStart: number
  lastPane: Aggregate.Aggregate | undefined
  /** Whether the series is in the windower's set of moved clocks (a flag check per point, not a Set lookup). */
  moved: boolean
  /** Empty windows emitted in a row. */
  emptyRun: number
}

/** A pane's aggregate and the first source position that added to it. */
interface Pane {
  readonly agg: Aggregate.Aggregate
  readonly position: number | undefined
}

interface Session {
  start: number
  last: number
  agg: Aggregate.Aggregate
  position: number | undefined
}

interface SessionSeries {
  readonly key: Series.SeriesKey
  readonly quantiles: boolean
  maxTime: number
  watermark: number
  lastArrival: number
  sessions: Array<Session>
}

/**
 * The windowing as a pure state machine over chunks: `points(points, now)`, `tick(now)` (processing time, for
 * idle series) and `flush()` (close everything, at the end of the input).
 *
 * @category models
 * @since 0.1.0
 */
export interface Windower {
  /**
   * Adds points at processing time `now`. `position` is the source position of the batch they came from (e.g.
   * a journal sequence number), remembered per open window so {@link Windower.oldestOpenPosition} can say
   * where a replay must start.
   */
  readonly points: (points: ReadonlyArray<Series.MetricPoint>, now: number, position?: number) => Output
  readonly tick: (now: number) => Output
  readonly flush: () => Output
  readonly counters: () => Counters
  /**
   * The clocks of the series whose clock moved since the last call; with `max`, at most that many (the others stay
   * for the next call, so a large checkpoint can be taken in slices).
   */
  readonly clocks: (max?: number) => Array<readonly [seriesId: string, clock: SeriesClock]>
  /** The smallest source position with points in a window not fired yet, if any. */
  readonly oldestOpenPosition: () => number | undefined
  /**
   * The same, one series per step: each step yields the oldest open position of one series (`undefined` when it
   * has none), so a checkpoint of 100k series can take the minimum in slices. Valid while no points are added.
   */
  readonly openPositions: () => Iterator<number | undefined, void>
}

/** The minimum of the positions an {@link Windower.openPositions} iterator yields. */
const oldestOf = (positions: Iterator<number | undefined, void>): number | undefined => {
  let oldest: number | undefined
  for (let r = positions.next(); r.done !== true; r = positions.next()) {
    if (r.value !== undefined && (oldest === undefined || r.value < oldest)) oldest = r.value
  }
  return oldest
}

const byQuantiles = (key: Series.SeriesKey): boolean => Extract.derivationsOf(key.metric).includes("quantiles")

// exact (no rounding of t / step), also for times near the limit of valid dates
const floorTo = (t: number, step: number): number => t - (((t % step) + step) % step)

const validTime = (t: number): boolean => t >= -8.64e15 && t <= 8.64e15

/**
 * Makes a {@link Windower}.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeWindower = (options: WindowOptions): Windower => {
  const wm = options.watermark ?? Watermark.defaults
  const wantsQuantiles = options.quantiles ?? byQuantiles
  const spec = options.window
  let points = 0
  let late = 0
  let windowsClosed = 0
  let windowsSkipped = 0
  let invalidTime = 0
  let expired = 0
  const maxEmpty = Math.max(0, options.maxEmptyWindows ?? defaultMaxEmptyWindows)
  const counters = (activeSeries: number): Counters => ({
    points,
    late,
    windowsClosed,
    windowsSkipped,
    invalidTime,
    expired,
    activeSeries
  })

  if (spec._tag === "Session")
    return makeSessionWindower(
      spec.gapMs,
      wm,
      wantsQuantiles,
      {
        onPoint: () => points++,
        onLate: () => late++,
        onInvalid: () => invalidTime++,
        onClosed: () => windowsClosed++,
        onExpired: () => expired++
      },
      counters
    )

  const { sizeMs, slideMs } = spec
  // by key object first (keys are interned: an identity lookup), by id for keys made elsewhere
  const series = new Map<string, TimeSeries>()
  const byKey = new Map<Series.SeriesKey, TimeSeries>()
  // the series whose clock moved since the last checkpoint, in the order they moved (a checkpoint of a few
  // changed series does not walk every series)
  const moved = new Set<TimeSeries>()
  const markMoved = (s: TimeSeries) => {
    if (s.moved) return
    s.moved = true
    moved.add(s)
  }

  const windowOf = (s: TimeSeries, end: number, closedBy: WindowResult["closedBy"], revision: number): WindowResult => {
    const start = end - sizeMs
    let agg = Aggregate.empty(false)
    for (let p = start; p < end; p += slideMs) {
      const pane = s.panes.get(p)
      if (pane !== undefined) agg = sizeMs === slideMs ? pane.agg : Aggregate.combine(agg, pane.agg)
    }
    return { key: s.key, start, end, summary: Aggregate.finish(agg), revision, closedBy }
  }

  const isEmpty = (s: TimeSeries, end: number): boolean => {
    for (let p = end - sizeMs; p < end; p += slideMs) if (s.panes.has(p)) return false
    return true
  }

  // After `maxEmpty` empty windows in a row: the end of the first window that holds a pane, or the first end
  // past the watermark. A pane starting at P is first in the window ending at P + slide.
  const skipTarget = (s: TimeSeries): number => {
    let target = floorTo(s.watermark, slideMs) + slideMs
    for (const start of s.panes.keys()) {
      if (start >= s.nextEnd && start + slideMs < target) target = start + slideMs
    }
    return target
  }

  const advance = (s: TimeSeries, watermark: number, closedBy: WindowResult["closedBy"], out: Output) => {
    if (watermark > s.watermark) s.watermark = watermark
    if (s.nextEnd > s.watermark) return
    while (s.nextEnd <= s.watermark) {
      if (s.emptyRun >= maxEmpty && isEmpty(s, s.nextEnd)) {
        const target = skipTarget(s)
        windowsSkipped += (target - s.nextEnd) / slideMs
        s.firedUpTo = target - slideMs
        s.nextEnd = target
        continue
      }
      const w = windowOf(s, s.nextEnd, closedBy, 0)
      s.emptyRun = w.summary.count === 0 ? s.emptyRun + 1 : 0
      out.windows.push(w)
      windowsClosed++
      s.firedUpTo = s.nextEnd
      s.nextEnd += slideMs
    }
    const keepFrom = s.watermark - wm.allowedLatenessMs - sizeMs
    for (const start of s.panes.keys()) if (start < keepFrom) s.panes.delete(start)
    if (s.revisions !== undefined) for (const end of s.revisions.keys()) if (end < keepFrom) s.revisions.delete(end)
    if (s.lastPaneStart < keepFrom) s.lastPane = undefined
  }

  const add = (p: Series.MetricPoint, now: number, position: number | undefined, out: Output) => {
    if (!validTime(p.time)) {
      invalidTime++
      return
    }
    let s = byKey.get(p.key)
    if (s === undefined) s = series.get(p.key.id)
    if (s === undefined) {
      const clock = options.restore?.(p.key.id)
      s = {
        key: p.key,
        quantiles: wantsQuantiles(p.key),
        maxTime: clock?.maxTime ?? Number.NEGATIVE_INFINITY,
        watermark: clock?.watermark ?? Number.NEGATIVE_INFINITY,
        lastArrival: now,
        nextEnd: clock?.nextEnd ?? floorTo(p.time, slideMs) + slideMs,
        firedUpTo: clock?.firedUpTo ?? Number.NEGATIVE_INFINITY,
        panes: new Map(),
        revisions: undefined,
        lastPaneStart: Number.NaN,
        lastPane: undefined,
        moved: false,
        emptyRun: 0
      }
      series.set(p.key.id, s)
      byKey.set(p.key, s)
    }
    s.lastArrival = now
    const paneStart = floorTo(p.time, slideMs)
    // late when every window containing the point closed more than allowedLateness ago
    if (paneStart + sizeMs + wm.allowedLatenessMs <= s.watermark) {
      late++
      out.late.push(p)
      return
    }
    points++
    let pane = paneStart === s.lastPaneStart ? s.lastPane : s.panes.get(paneStart)?.agg
    if (pane === undefined) {
      // positions only grow, so the batch that creates a pane is the oldest one with points in it
      s.panes.set(paneStart, { agg: (pane = Aggregate.empty(s.quantiles)), position })
    }
    s.lastPaneStart = paneStart
    s.lastPane = pane
    Aggregate.add(pane, p.value)
    if (s.firedUpTo === Number.NEGATIVE_INFINITY) {
      // nothing fired yet: an early point may start the series' first window sooner
      const end = paneStart + slideMs
      if (end < s.nextEnd) s.nextEnd = end
    } else if (p.time < s.firedUpTo) {
      // a late point within allowedLateness: re-fire the closed windows that contain it and are still in time
      for (let end = paneStart + slideMs; end <= s.firedUpTo && end - sizeMs <= p.time; end += slideMs) {
        if (end + wm.allowedLatenessMs <= s.watermark) continue
        s.revisions ??= new Map()
        const revision = (s.revisions.get(end) ?? 0) + 1
        s.revisions.set(end, revision)
        out.windows.push(windowOf(s, end, "watermark", revision))
      }
    }
    if (p.time > s.maxTime) {
      s.maxTime = p.time
      markMoved(s)
      advance(s, p.time - wm.maxDelayMs, "watermark", out)
    }
  }

  const clocks = (max = Number.POSITIVE_INFINITY) => {
    const out: Array<readonly [string, SeriesClock]> = []
    for (const s of moved) {
      if (out.length >= max) break
      moved.delete(s)
      s.moved = false
      out.push([s.key.id, { maxTime: s.maxTime, watermark: s.watermark, nextEnd: s.nextEnd, firedUpTo: s.firedUpTo }])
    }
    return out
  }

  function* openPositions(): Generator<number | undefined, void> {
    for (const s of series.values()) {
      const firstOpen = s.nextEnd - sizeMs
      let oldest: number | undefined
      for (const [start, { position }] of s.panes) {
        if (position === undefined) continue
        if (start + slideMs > firstOpen && (oldest === undefined || position < oldest)) oldest = position
      }
      yield oldest
    }
  }

  return {
    points: (input, now, position) => {
      const out: Output = { windows: [], late: [] }
      for (let i = 0; i < input.length; i++) add(input[i]!, now, position, out)
      return out
    },
    tick: (now) => {
      const out: Output = { windows: [], late: [] }
      for (const [id, s] of series) {
        const silent = now - s.lastArrival
        if (silent < wm.idleTimeoutMs) continue
        const before = s.watermark
        advance(s, s.maxTime - wm.maxDelayMs + silent, "idle", out)
        if (s.watermark !== before) markMoved(s)
        if (silent >= wm.expireAfterMs) {
          series.delete(id)
          byKey.delete(s.key)
          moved.delete(s)
          expired++
        }
      }
      return out
    },
    flush: () => {
      const out: Output = { windows: [], late: [] }
      for (const s of series.values()) {
        let lastEnd = s.firedUpTo
        for (const start of s.panes.keys()) lastEnd = Math.max(lastEnd, start + sizeMs)
        advance(s, lastEnd, "flush", out)
        markMoved(s)
      }
      return out
    },
    counters: () => counters(series.size),
    clocks,
    oldestOpenPosition: () => oldestOf(openPositions()),
    openPositions
  }
}

const makeSessionWindower = (
  gapMs: number,
  wm: Watermark.Watermark,
  wantsQuantiles: (key: Series.SeriesKey) => boolean,
  count: {
    onPoint: () => void
    onLate: () => void
    onInvalid: () => void
    onClosed: () => void
    onExpired: () => void
  },
  counters: (activeSeries: number) => Counters
): Windower => {
  const series = new Map<string, SessionSeries>()
  const close = (s: SessionSeries, closedBy: WindowResult["closedBy"], out: Output, all: boolean) => {
    const open: Array<Session> = []
    for (const session of s.sessions) {
      if (all || session.last + gapMs <= s.watermark) {
        out.windows.push({
          key: s.key,
          start: session.start,
          end: session.last + gapMs,
          summary: Aggregate.finish(session.agg),
          revision: 0,
          closedBy
        })
        count.onClosed()
      } else open.push(session)
    }
    s.sessions = open
  }
  function* openPositions(): Generator<number | undefined, void> {
    for (const s of series.values()) {
      let oldest: number | undefined
      for (const session of s.sessions) {
        if (session.position !== undefined && (oldest === undefined || session.position < oldest)) {
          oldest = session.position
        }
      }
      yield oldest
    }
  }
  return {
    points: (input, now, position) => {
      const out: Output = { windows: [], late: [] }
      for (let i = 0; i < input.length; i++) {
        const p = input[i]!
        if (!validTime(p.time)) {
          count.onInvalid()
          continue
        }
        let s = series.get(p.key.id)
        if (s === undefined) {
          s = {
            key: p.key,
            quantiles: wantsQuantiles(p.key),
            maxTime: Number.NEGATIVE_INFINITY,
            watermark: Number.NEGATIVE_INFINITY,
            lastArrival: now,
            sessions: []
          }
          series.set(p.key.id, s)
        }
        s.lastArrival = now
        // late when the session the point alone would make has closed more than allowedLateness ago
        if (p.time + gapMs + wm.allowedLatenessMs <= s.watermark) {
          count.onLate()
          out.late.push(p)
          continue
        }
        count.onPoint()
        // merge every session within `gap` of the point, and the point, into one
        let merged: Session = {
          start: p.time,
          last: p.time,
          agg: Aggregate.add(Aggregate.empty(s.quantiles), p.value),
          position
        }
        const rest: Array<Session> = []
        for (const session of s.sessions) {
          if (session.last + gapMs > p.time && p.time + gapMs > session.start) {
            merged = {
              start: Math.min(merged.start, session.start),
              last: Math.max(merged.last, session.last),
              agg: Aggregate.combine(merged.agg, session.agg),
              position:
                merged.position === undefined || session.position === undefined
                  ? (merged.position ?? session.position)
                  : Math.min(merged.position, session.position)
            }
          } else rest.push(session)
        }
        rest.push(merged)
        rest.sort((a, b) => a.start - b.start)
        s.sessions = rest
        if (p.time > s.maxTime) {
          s.maxTime = p.time
          s.watermark = Math.max(s.watermark, p.time - wm.maxDelayMs)
          close(s, "watermark", out, false)
        }
      }
      return out
    },
    tick: (now) => {
      const out: Output = { windows: [], late: [] }
      for (const [id, s] of series) {
        const silent = now - s.lastArrival
        if (silent < wm.idleTimeoutMs) continue
        s.watermark = Math.max(s.watermark, s.maxTime - wm.maxDelayMs + silent)
        close(s, "idle", out, false)
        if (silent >= wm.expireAfterMs) {
          series.delete(id)
          count.onExpired()
        }
      }
      return out
    },
    flush: () => {
      const out: Output = { windows: [], late: [] }
      for (const s of series.values()) close(s, "flush", out, true)
      series.clear()
      return out
    },
    counters: () => counters(series.size),
    // sessions are not restored from checkpoints: a restart replays their open sessions from the source
    clocks: () => [],
    oldestOpenPosition: () => oldestOf(openPositions()),
    openPositions
  }
}

/**
 * Turns closed windows (revision 0 only: detectors never see a window twice) into the watched signals, e.g.
 * the `latency` window of a series becomes points of `latency.p95`, `latency.p50`, … at the window's start.
 *
 * @category combinators
 * @since 0.1.0
 */
export const makeSignalFn = (options: {
  readonly registry: Series.Registry
  readonly metrics?: ReadonlyArray<Extract.MetricSpec>
  /** Only these signals are produced (default all). */
  readonly signals?: ReadonlyArray<string>
}): ((windows: ReadonlyArray<WindowResult>) => Array<Series.MetricPoint>) => {
  const wanted = options.signals === undefined ? undefined : new Set(options.signals)
  const plans = new Map<string, ReadonlyArray<readonly [Aggregate.Derivation, ReadonlyArray<string>]>>()
  const plan = (metric: string) => {
    let found = plans.get(metric)
    if (found === undefined) {
      found = Extract.derivationsOf(metric, options.metrics).map(
        (d) => [d, Aggregate.signals[d].map((s) => `${metric}.${s}`)] as const
      )
      plans.set(metric, found)
    }
    return found
  }
  return (windows) => {
    const out: Array<Series.MetricPoint> = []
    for (const w of windows) {
      if (w.revision !== 0) continue
      for (const [derivation, names] of plan(w.key.metric)) {
        const values = Aggregate.derive(derivation, w.summary, w.end - w.start)
        for (let i = 0; i < names.length; i++) {
          const name = names[i]!
          if (wanted !== undefined && !wanted.has(name)) continue
          const dimension = Object.values(w.key.dimensions)[0]
          const key = options.registry.key(w.key.service, w.key.model, name, dimension)
          if (key !== undefined) out.push({ key, time: w.start, value: values[i]! })
        }
      }
    }
    return out
  }
}

/**
 * The windowing stage as a stream operator: points in, closed windows out. A processing-time tick every
 * `tick` (default 1 s, from the `Clock`, so `TestClock` drives it) closes idle series; late points go to
 * `onLate`; the end of the input flushes every open window. Callbacks are `on<What>` options returning an
 * Effect, as `Event.decode`'s `onRejected`.
 *
 * @category windowing
 * @since 0.1.0
 */
export const aggregate: {
  <E2 = never, R2 = never>(
    options: WindowOptions & {
      readonly tick?: import("effect").Duration.Input
      readonly onLate?: (late: ReadonlyArray<Series.MetricPoint>) => Effect.Effect<void, E2, R2>
    }
  ): <E, R>(self: Stream.Stream<Series.MetricPoint, E, R>) => Stream.Stream<WindowResult, E | E2, R | R2>
  <E, R, E2 = never, R2 = never>(
    self: Stream.Stream<Series.MetricPoint, E, R>,
    options: WindowOptions & {
      readonly tick?: import("effect").Duration.Input
      readonly onLate?: (late: ReadonlyArray<Series.MetricPoint>) => Effect.Effect<void, E2, R2>
    }
  ): Stream.Stream<WindowResult, E | E2, R | R2>
} = dual(
  2,
  <E, R, E2, R2>(
    self: Stream.Stream<Series.MetricPoint, E, R>,
    options: WindowOptions & {
      readonly tick?: import("effect").Duration.Input
      readonly onLate?: (late: ReadonlyArray<Series.MetricPoint>) => Effect.Effect<void, E2, R2>
    }
  ): Stream.Stream<WindowResult, E | E2, R | R2> =>
    Stream.unwrap(
      Effect.sync(() => {
        const windower = makeWindower(options)
        const ticks = Stream.tick(options.tick ?? "1 second").pipe(Stream.map(() => undefined))
        const input: Stream.Stream<Series.MetricPoint | undefined, E, R> = Stream.merge(self, ticks, {
          haltStrategy: "left"
        })
        const emit = (out: Output) =>
          Effect.as(
            out.late.length > 0 && options.onLate !== undefined ? options.onLate(out.late) : Effect.void,
            out.windows
          )
        return input.pipe(
          Stream.mapArrayEffect((chunk) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              const pts: Array<Series.MetricPoint> = []
              let ticked = false
              for (const x of chunk)
                if (x === undefined) ticked = true
                else pts.push(x)
              const out = windower.points(pts, now)
              if (ticked) {
                // one by one: a tick can close more windows than a spread call may take as arguments
                for (const w of windower.tick(now).windows) out.windows.push(w)
              }
              return Effect.map(emit(out), (windows) => [windows] as const)
            })
          ),
          Stream.concat(Stream.suspend(() => Stream.fromEffect(emit(windower.flush())))),
          Stream.filter((ws): ws is [WindowResult, ...Array<WindowResult>] => ws.length > 0),
          Stream.flattenArray
        )
      })
    )
)

/**
 * The signal derivation as a stream operator: closed windows in, watched signal points out (see
 * {@link makeSignalFn}).
 *
 * @example
 * ```ts
 * import { Series, Window } from "@llm-sentinel/core"
 * import type { Stream } from "effect"
 * declare const windows: Stream.Stream<Window.WindowResult>
 * const registry = Series.makeRegistry()
 * const p95 = windows.pipe(Window.signals({ registry, signals: ["latency.p95"] }))
 * ```
 * @category windowing
 * @since 0.1.0
 */
export const signals: {
  (
    options: Parameters<typeof makeSignalFn>[0]
  ): <E, R>(self: Stream.Stream<WindowResult, E, R>) => Stream.Stream<Series.MetricPoint, E, R>
  <E, R>(
    self: Stream.Stream<WindowResult, E, R>,
    options: Parameters<typeof makeSignalFn>[0]
  ): Stream.Stream<Series.MetricPoint, E, R>
} = dual(
  2,
  <E, R>(
    self: Stream.Stream<WindowResult, E, R>,
    options: Parameters<typeof makeSignalFn>[0]
  ): Stream.Stream<Series.MetricPoint, E, R> =>
    Stream.mapAccumArray(
      self,
      () => makeSignalFn(options),
      (fn, windows) => [fn, fn(windows)]
    )
)
