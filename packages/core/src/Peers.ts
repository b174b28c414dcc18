/**
 * The cross-series peer stage: series are put in peer groups (by default {@link byModel}: the same model and
 * metric called by other services), and each point of a series is judged against the values its peers had at the
 * same time, by a detector over `{ value, peers }` (`PeerGroup` in `@llm-sentinel/detectors`): one service's model
 * degrading while the same model elsewhere is fine is an anomaly; a slowdown every peer shares is not.
 *
 * It runs beside the per-series detect stage on the same points (the pipeline's `peers` option), and its verdicts
 * join theirs (under the peer detector's name), so anomalies and the alert policy see both. Live, the windows of
 * different series close at different moments (each series has its own watermark), so a group's points of one
 * time wait until that time is complete ({@link makePeerFn}; the pipeline passes one window slide as `maxAge`) and
 * are then judged against each other: every member at the same time. A point whose time has fewer than `minPeers`
 * peers gets no peer verdict.
 *
 * The stage is a pure chunk-wise function with its own state ({@link makePeerFn}), like `Detector.makeDetectFn`.
 * The peer detector's state per series is not checkpointed: it is relearned after a restart (a peer-group detector
 * keeps no baseline of the series, only a smoothed group scale).
 *
 * @since 0.2.0
 */
import * as Detector from "./Detector.ts"
import type { MetricPoint, SeriesKey } from "./Series.ts"
import * as Verdict from "./Verdict.ts"

/**
 * The input of a peer detector: one series' value and its peers' values at the same time.
 *
 * @category models
 * @since 0.2.0
 */
export interface Input {
  readonly value: number
  readonly peers: ReadonlyArray<number>
}

/**
 * Options of the peer stage.
 *
 * @category models
 * @since 0.2.0
 */
export interface Options {
  /** A detector over {@link Input}, fresh per series (`() => PeerGroup.make()`). */
  // biome-ignore lint/suspicious/noExplicitAny: per-series detector state
  readonly detector: () => Detector.Detector<any, Input>
  /** The peer group of a series (series with the same group are peers); `undefined`: not compared. Default {@link byModel}. */
  readonly group?: (key: SeriesKey) => string | undefined
  /**
   * One window slide (ms of event time): a time waits for the members that reported within this before it, and
   * once a member reports a time more than this later, the earlier time is judged with the peers it has. The
   * pipeline passes its window's slide. Default 60 000 (the default 1-minute windows).
   */
  readonly maxAgeMs?: number
  /** Peers needed for a verdict (count). Default 3. */
  readonly minPeers?: number
  /** The deciding step. Default `Verdict.threshold()`. */
  readonly decide?: Verdict.Decide
  /** Emit only the verdicts that fired (default false: every verdict, which the alert policy needs to resolve). */
  readonly onlyAnomalous?: boolean
}

/**
 * The default peer groups: the same model, metric and dimensions on other services (the series id without its
 * service).
 *
 * @category constructors
 * @since 0.2.0
 */
export const byModel = (key: SeriesKey): string | undefined => {
  let group = `${key.model}\u0000${key.metric}`
  for (const name of Object.keys(key.dimensions).sort()) group += `\u0000${name}=${key.dimensions[name]}`
  return group
}

/**
 * The peer stage as a pure chunk-wise function with its state. `apply` returns the verdicts of the points whose
 * time is complete (see {@link makePeerFn}), which may include points of earlier calls; with `flush`, every point
 * still waiting for its peers is judged with the peers it has.
 *
 * @category models
 * @since 0.2.0
 */
export interface PeerFn {
  readonly apply: (points: ReadonlyArray<MetricPoint>, flush?: boolean) => Array<Detector.Scored>
}

interface Member {
  /** The latest time this series reported. */
  time: number
  // biome-ignore lint/suspicious/noExplicitAny: per-series detector state
  state: any
  readonly step: Detector.Step<unknown, Input>
  readonly name: string
}

interface Group {
  readonly members: Map<string, Member>
  /** Points waiting for their peers, by time. */
  readonly pending: Map<number, Array<MetricPoint>>
  /** The latest time judged. */
  judged: number
}

/**
 * Makes the peer stage: feed it the points the detect stage gets, get the peer verdicts.
 *
 * A group's points of one time are judged together, against each other, once that time is complete: every member
 * that reported within `maxAge` before it has reported it, or a member has reported a time more than `maxAge`
 * later (the others are late or idle). So a verdict may come one window after the point, and a change every
 * member shares is compared at the same time for all of them.
 *
 * @example
 * ```ts
 * import { Peers, Series } from "@llm-sentinel/core"
 * import { PeerGroup } from "@llm-sentinel/detectors"
 * const peers = Peers.makePeerFn({ detector: () => PeerGroup.make() })
 * const at = (service: string, value: number) => ({ key: Series.makeKey(service, "gpt-4o", "latency.p95"), time: 0, value })
 * peers.apply([at("a", 800), at("b", 810), at("c", 790), at("d", 1400)])
 * ```
 * @category constructors
 * @since 0.2.0
 */
export const makePeerFn = (options: Options): PeerFn => {
  const groupKey = options.group ?? byModel
  const maxAge = options.maxAgeMs ?? 60_000
  const minPeers = options.minPeers ?? 3
  const decide = options.decide ?? Verdict.threshold()
  const onlyAnomalous = options.onlyAnomalous ?? false
  const groups = new Map<string, Group>()
  const groupOf = new Map<string, Group | undefined>()
  const stepOf = new WeakMap<object, Detector.Step<unknown, Input>>()
  const memberOf = (group: Group, id: string): Member => {
    let m = group.members.get(id)
    if (m === undefined) {
      const d = options.detector()
      // one step function per detector instance, shared by its members (not a closure per series)
      let step = stepOf.get(d)
      if (step === undefined) stepOf.set(d, (step = Detector.step(d, decide) as Detector.Step<unknown, Input>))
      m = {
        time: Number.NEGATIVE_INFINITY,
        state: d.initial(),
        step,
        name: d.name
      }
      group.members.set(id, m)
    }
    return m
  }
  const judge = (group: Group, time: number, points: ReadonlyArray<MetricPoint>, out: Array<Detector.Scored>): void => {
    if (time > group.judged) group.judged = time
    if (points.length <= minPeers) return
    for (const point of points) {
      const peers: Array<number> = []
      for (const other of points) if (other !== point) peers.push(other.value)
      const m = group.members.get(point.key.id)!
      const [next, verdict] = m.step(m.state, { value: point.value, peers }, point.time)
      m.state = next
      if (!onlyAnomalous || verdict.anomalous) out.push({ point, detector: m.name, verdict })
    }
  }
  // the members expected at `time`: those that reported within a slide before it, or since the last time judged
  // (after a gap in the whole group, the first member back does not make its time complete on its own)
  const complete = (group: Group, time: number, size: number): boolean => {
    const since = Math.min(time - maxAge, group.judged)
    let expected = 0
    for (const m of group.members.values()) if (m.time >= since) expected++
    return size >= expected
  }
  const apply = (points: ReadonlyArray<MetricPoint>, flush = false): Array<Detector.Scored> => {
    const out: Array<Detector.Scored> = []
    for (let i = 0; i < points.length; i++) {
      const point = points[i]!
      const id = point.key.id
      let group = groupOf.get(id)
      if (group === undefined && !groupOf.has(id)) {
        const key = groupKey(point.key)
        if (key !== undefined) {
          group = groups.get(key)
          if (group === undefined) {
            group = { members: new Map(), pending: new Map(), judged: Number.NEGATIVE_INFINITY }
            groups.set(key, group)
          }
        }
        groupOf.set(id, group)
      }
      if (group === undefined || !Number.isFinite(point.value)) continue
      const m = memberOf(group, id)
      if (point.time < m.time) continue // a late revision of an older window: its peers have moved on
      m.time = point.time
      let bucket = group.pending.get(point.time)
      if (bucket === undefined) {
        bucket = []
        group.pending.set(point.time, bucket)
      }
      const same = bucket.findIndex((p) => p.key.id === id)
      if (same === -1) bucket.push(point)
      else bucket[same] = point // a revision of the same window
      for (const [time, waiting] of group.pending) {
        if (time < point.time - maxAge || (time === point.time && complete(group, time, waiting.length))) {
          group.pending.delete(time)
          judge(group, time, waiting, out)
        }
      }
    }
    if (flush) {
      for (const group of groups.values()) {
        for (const [time, waiting] of [...group.pending].sort((a, b) => a[0] - b[0])) {
          group.pending.delete(time)
          judge(group, time, waiting, out)
        }
      }
    }
    return out
  }
  return { apply }
}
