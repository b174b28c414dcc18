/**
 * The alert policy: turns a stream of verdicts into alerts people can act on. One alert per series at a time:
 * - **severity floor**: anomalies below `minSeverity` never open an alert;
 * - **dedup**: further anomalies on a series with an open alert update it (count, peak severity) instead of
 *   opening another; a rise in severity is reported as `escalated`;
 * - **resolve**: after `resolveAfter` consecutive normal points the alert is `resolved`;
 * - **cooldown**: for `cooldown` after a resolve, the series cannot open a new alert (counted as suppressed);
 * - **storm cap**: at most `stormCap` alerts open per `stormWindow` across all series; beyond it alerts are
 *   suppressed and counted, and one `storm` event says how many.
 *
 * Time is event time, so the same input gives the same alerts (and the same alert ids) on every replay.
 *
 * @since 0.1.0
 */
import { type Duration, Option, Result, Schema } from "effect"
import { makeId } from "./Anomaly.ts"
import type * as Detector from "./Detector.ts"
import { toMillis } from "./internal/millis.ts"
import { SeriesKeySchema } from "./Series.ts"
import * as Verdict from "./Verdict.ts"

/**
 * A resolved alert policy, built by {@link policy}.
 *
 * Durations follow one rule across the library: options take a `Duration.Input` under the plain name
 * (`cooldown: "5 minutes"`);
 * the resolved value holds it in milliseconds under the same name with an `Ms` suffix (`cooldownMs: 300000`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Policy {
  readonly minSeverity: Verdict.Severity
  readonly resolveAfter: number
  readonly cooldownMs: number
  readonly stormCap: number
  readonly stormWindowMs: number
}

/**
 * The default policy: warning and above, resolve after 3 normal points, 5 minutes cooldown, at most 50 new
 * alerts per minute.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultPolicy: Policy = {
  minSeverity: "warning",
  resolveAfter: 3,
  cooldownMs: 5 * 60_000,
  stormCap: 50,
  stormWindowMs: 60_000
}

/**
 * Invalid alert policy options: a duration that is not a finite non-negative duration (a storm window must be
 * positive), or a count that is not a positive whole number.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidPolicy extends Schema.TaggedError<InvalidPolicy>("@llm-sentinel/core/Alert/InvalidPolicy")(
  "InvalidPolicy",
  { parameter: Schema.String, message: Schema.String }
) {}

/**
 * Builds a policy from friendlier options (durations as `Duration.Input`); an invalid option is an
 * {@link InvalidPolicy} naming it.
 *
 * @example
 * ```ts
 * import { Alert } from "@llm-sentinel/core"
 * const policy = Alert.policy({ cooldown: "10 minutes", stormWindow: "1 minute" }) // Result
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const policy = (
  options: {
    readonly minSeverity?: Verdict.Severity
    readonly resolveAfter?: number
    readonly cooldown?: Duration.Input
    readonly stormCap?: number
    readonly stormWindow?: Duration.Input
  } = {}
): Result.Result<Policy, InvalidPolicy> => {
  const duration = (parameter: string, input: Duration.Input | undefined, fallback: number, positive: boolean) => {
    if (input === undefined) return Result.succeed(fallback)
    const ms = toMillis(input)
    return ms !== undefined && Number.isFinite(ms) && ms >= 0 && !(positive && ms === 0)
      ? Result.succeed(ms)
      : Result.fail(
          new InvalidPolicy({
            parameter,
            message: `${parameter} must be a finite ${positive ? "positive" : "non-negative"} duration, got ${String(input)}`
          })
        )
  }
  const count = (parameter: string, n: number | undefined, fallback: number) =>
    n === undefined
      ? Result.succeed(fallback)
      : Number.isInteger(n) && n >= 1
        ? Result.succeed(n)
        : Result.fail(
            new InvalidPolicy({ parameter, message: `${parameter} must be a positive whole number, got ${n}` })
          )
  return Result.gen(function* () {
    return {
      minSeverity: options.minSeverity ?? defaultPolicy.minSeverity,
      resolveAfter: yield* count("resolveAfter", options.resolveAfter, defaultPolicy.resolveAfter),
      cooldownMs: yield* duration("cooldown", options.cooldown, defaultPolicy.cooldownMs, false),
      stormCap: yield* count("stormCap", options.stormCap, defaultPolicy.stormCap),
      stormWindowMs: yield* duration("stormWindow", options.stormWindow, defaultPolicy.stormWindowMs, true)
    }
  })
}

/**
 * An alert: one incident on one series. Times are event times (epoch ms).
 *
 * @category models
 * @since 0.1.0
 */
export const Alert = Schema.Struct({
  id: Schema.String,
  series: SeriesKeySchema,
  status: Schema.Literals(["open", "resolved"]),
  severity: Verdict.Severity,
  openedAt: Schema.Finite,
  lastAnomalyAt: Schema.Finite,
  resolvedAt: Schema.NullOr(Schema.Finite),
  anomalies: Schema.Finite,
  detectors: Schema.Array(Schema.String),
  reason: Schema.String
}).annotate({ identifier: "Alert" })

/**
 * @category models
 * @since 0.1.0
 */
export type Alert = typeof Alert.Type

/**
 * An alert opened on a series.
 *
 * @category models
 * @since 0.1.0
 */
export const Opened = Schema.TaggedStruct("opened", { alert: Alert })

/**
 * An open alert's severity rose.
 *
 * @category models
 * @since 0.1.0
 */
export const Escalated = Schema.TaggedStruct("escalated", { alert: Alert })

/**
 * An alert resolved after `resolveAfter` normal points.
 *
 * @category models
 * @since 0.1.0
 */
export const Resolved = Schema.TaggedStruct("resolved", { alert: Alert })

/**
 * The storm cap suppressed `suppressed` alerts in the storm window starting at `time`.
 *
 * @category models
 * @since 0.1.0
 */
export const Storm = Schema.TaggedStruct("storm", { time: Schema.Finite, suppressed: Schema.Finite })

/**
 * What the policy says happened, discriminated by `_tag` (`opened`, `escalated`, `resolved`, `storm`). This is
 * also the wire format of every adapter that sends alert events out of the process (webhooks, Slack, Kafka,
 * NATS, PostgreSQL, the HTTP API): JSON such as `{"_tag":"opened","alert":{...}}`.
 *
 * @example
 * ```ts
 * import { Alert } from "@llm-sentinel/core"
 * import { Schema } from "effect"
 * const decode = Schema.decodeUnknownSync(Schema.fromJsonString(Alert.AlertEvent))
 * const event = decode(`{"_tag":"storm","time":0,"suppressed":3}`)
 * ```
 * @category models
 * @since 0.1.0
 */
export const AlertEvent = Schema.Union([Opened, Escalated, Resolved, Storm]).annotate({ identifier: "AlertEvent" })

/**
 * @category models
 * @since 0.1.0
 */
export type AlertEvent = typeof AlertEvent.Type

/**
 * Counters of the policy.
 *
 * @category models
 * @since 0.1.0
 */
export interface Counters {
  readonly opened: number
  readonly resolved: number
  /** Anomalies folded into an already open alert. */
  readonly deduplicated: number
  readonly suppressedByCooldown: number
  readonly suppressedByStorm: number
  readonly belowFloor: number
}

interface SeriesAlertState {
  open: MutableAlert | undefined
  normalStreak: number
  lastNormalTime: number
  cooldownUntil: number
}

type MutableAlert = { -readonly [K in keyof Alert]: Alert[K] }

const nullable = <S extends Schema.Top>(schema: S) => Schema.NullOr(schema)
// The checkpointed policy state, decoded (not cast) on restore: a damaged row must not become an alert whose
// fields are of the wrong type somewhere later.
const Snapshot = Schema.fromJsonString(
  Schema.Struct({
    series: Schema.Array(
      Schema.Struct({
        id: Schema.String,
        open: nullable(Alert),
        normalStreak: Schema.Finite,
        lastNormalTime: nullable(Schema.Finite),
        cooldownUntil: nullable(Schema.Finite)
      })
    ),
    storm: Schema.Struct({ start: nullable(Schema.Finite), opened: Schema.Finite, suppressed: Schema.Finite }),
    latest: nullable(Schema.Finite)
  })
)
const decodeSnapshot = Schema.decodeUnknownOption(Snapshot)

/**
 * The policy as a pure state machine over chunks of verdicts.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeAlertFn = (
  policy: Policy = defaultPolicy
): {
  readonly apply: (scored: ReadonlyArray<Detector.Scored>) => Array<AlertEvent>
  readonly counters: () => Counters
  readonly open: () => ReadonlyArray<Alert>
  /** The policy's state as JSON: open alerts, resolve streaks, cooldowns and the storm window (for checkpoints). */
  readonly snapshot: () => string
  /** Continues from a {@link snapshot}; a snapshot that does not parse is ignored (and `false` returned). */
  readonly restore: (json: string) => boolean
} => {
  const floor = Verdict.rank(policy.minSeverity)
  const series = new Map<string, SeriesAlertState>()
  const c = { opened: 0, resolved: 0, deduplicated: 0, suppressedByCooldown: 0, suppressedByStorm: 0, belowFloor: 0 }
  let stormStart = Number.NEGATIVE_INFINITY
  let stormOpened = 0
  let stormSuppressed = 0
  let latest = Number.NEGATIVE_INFINITY

  const apply = (scored: ReadonlyArray<Detector.Scored>): Array<AlertEvent> => {
    const out: Array<AlertEvent> = []
    for (const { point, detector, verdict } of scored) {
      if (!verdict.ready) continue
      if (point.time > latest) latest = point.time
      let s = series.get(point.key.id)
      if (s === undefined) {
        s = { open: undefined, normalStreak: 0, lastNormalTime: Number.NaN, cooldownUntil: Number.NEGATIVE_INFINITY }
        series.set(point.key.id, s)
      }
      if (!verdict.anomalous) {
        if (s.open === undefined || point.time === s.lastNormalTime || point.time <= s.open.lastAnomalyAt) continue
        s.lastNormalTime = point.time
        if (++s.normalStreak >= policy.resolveAfter) {
          s.open.status = "resolved"
          s.open.resolvedAt = point.time
          out.push({ _tag: "resolved", alert: { ...s.open } })
          c.resolved++
          s.open = undefined
          s.cooldownUntil = point.time + policy.cooldownMs
        }
        continue
      }
      if (Verdict.rank(verdict.severity) < floor) {
        c.belowFloor++
        continue
      }
      s.normalStreak = 0
      const open = s.open
      if (open !== undefined) {
        c.deduplicated++
        open.anomalies++
        open.lastAnomalyAt = Math.max(open.lastAnomalyAt, point.time)
        if (!open.detectors.includes(detector)) open.detectors = [...open.detectors, detector]
        if (Verdict.rank(verdict.severity) > Verdict.rank(open.severity)) {
          open.severity = verdict.severity
          open.reason = verdict.reason
          out.push({ _tag: "escalated", alert: { ...open } })
        }
        continue
      }
      if (point.time < s.cooldownUntil) {
        c.suppressedByCooldown++
        continue
      }
      if (point.time >= stormStart + policy.stormWindowMs) {
        if (stormSuppressed > 0) out.push({ _tag: "storm", time: stormStart, suppressed: stormSuppressed })
        stormStart = point.time
        stormOpened = 0
        stormSuppressed = 0
      }
      if (stormOpened >= policy.stormCap) {
        c.suppressedByStorm++
        stormSuppressed++
        continue
      }
      stormOpened++
      c.opened++
      s.open = {
        id: makeId(point.key.id, "alert", point.time),
        series: point.key,
        status: "open",
        severity: verdict.severity,
        openedAt: point.time,
        lastAnomalyAt: point.time,
        resolvedAt: null,
        anomalies: 1,
        detectors: [detector],
        reason: verdict.reason
      }
      out.push({ _tag: "opened", alert: { ...s.open } })
    }
    return out
  }
  const open = () => [...series.values()].flatMap((s) => (s.open === undefined ? [] : [{ ...s.open }]))
  const snapshot = () => {
    const entries: Array<readonly [string, SeriesAlertState]> = []
    // only series with something to remember: an open alert or a cooldown still running
    for (const [id, st] of series) if (st.open !== undefined || st.cooldownUntil > latest) entries.push([id, st])
    return JSON.stringify({
      series: entries.map(([id, st]) => ({
        id,
        open: st.open ?? null,
        normalStreak: st.normalStreak,
        lastNormalTime: Number.isFinite(st.lastNormalTime) ? st.lastNormalTime : null,
        cooldownUntil: Number.isFinite(st.cooldownUntil) ? st.cooldownUntil : null
      })),
      storm: {
        start: Number.isFinite(stormStart) ? stormStart : null,
        opened: stormOpened,
        suppressed: stormSuppressed
      },
      latest: Number.isFinite(latest) ? latest : null
    })
  }
  const restore = (json: string): boolean => {
    const decoded = decodeSnapshot(json)
    if (Option.isNone(decoded)) return false
    const data = decoded.value
    for (const e of data.series) {
      series.set(e.id, {
        open: e.open === null ? undefined : ({ ...e.open, detectors: [...e.open.detectors] } as MutableAlert),
        normalStreak: e.normalStreak,
        lastNormalTime: e.lastNormalTime ?? Number.NaN,
        cooldownUntil: e.cooldownUntil ?? Number.NEGATIVE_INFINITY
      })
    }
    stormStart = data.storm.start ?? Number.NEGATIVE_INFINITY
    stormOpened = data.storm.opened
    stormSuppressed = data.storm.suppressed
    latest = data.latest ?? Number.NEGATIVE_INFINITY
    return true
  }
  return { apply, counters: () => ({ ...c }), open, snapshot, restore }
}
