/**
 * The JSON form of the core's alert events, as a Schema, for the adapters that send them out of the process
 * (webhooks, NATS). The core's `Alert.AlertEvent` is a plain interface discriminated by `kind`; until the core
 * defines its own Schema, this one documents the wire format and lets receivers decode it.
 *
 * Each event also has a deterministic delivery id ({@link deliveryId}): the same event replayed after a
 * restart gets the same id, so receivers (and JetStream's duplicate window) can drop the repeat.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import type { Alert as CoreAlert } from "@llm-sentinel/core"
import { Series, Verdict } from "@llm-sentinel/core"
import { Schema } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export const Alert = Schema.Struct({
  id: Schema.String,
  series: Series.SeriesKeySchema,
  status: Schema.Literals(["open", "resolved"]),
  severity: Verdict.Severity,
  /** Event times, epoch ms. */
  openedAt: Schema.Finite,
  lastAnomalyAt: Schema.Finite,
  resolvedAt: Schema.NullOr(Schema.Finite),
  anomalies: Schema.Finite,
  detectors: Schema.Array(Schema.String),
  reason: Schema.String
}).annotate({ identifier: "Alert" })

const Change = (kind: "opened" | "escalated" | "resolved") =>
  Schema.Struct({ kind: Schema.Literal(kind), alert: Alert })

/**
 * @category models
 * @since 0.1.0
 */
export const AlertEvent = Schema.Union([
  Change("opened"),
  Change("escalated"),
  Change("resolved"),
  Schema.Struct({ kind: Schema.Literal("storm"), time: Schema.Finite, suppressed: Schema.Finite })
]).annotate({ identifier: "AlertEvent" })

/**
 * The event time an alert event is about: when the alert opened, escalated (its latest anomaly) or resolved;
 * for a storm, the start of the storm window.
 *
 * @category combinators
 * @since 0.1.0
 */
export const eventTime = (e: CoreAlert.AlertEvent): number =>
  e.kind === "storm"
    ? e.time
    : e.kind === "opened"
      ? e.alert.openedAt
      : e.kind === "resolved"
        ? (e.alert.resolvedAt ?? e.alert.lastAnomalyAt)
        : e.alert.lastAnomalyAt

/**
 * A deterministic id of one alert event: 128 bits of SHA-256 over the alert id (or `storm`), the kind, the
 * event time and, for escalations, the new severity.
 *
 * @category constructors
 * @since 0.1.0
 */
export const deliveryId = (e: CoreAlert.AlertEvent): string => {
  const subject = e.kind === "storm" ? "storm" : `${e.alert.id}\u0000${e.alert.severity}`
  return createHash("sha256")
    .update(`${subject}\u0000${e.kind}\u0000${eventTime(e)}`)
    .digest("hex")
    .slice(0, 32)
}

/**
 * The event as JSON text (the core's events are plain JSON values already).
 *
 * @category combinators
 * @since 0.1.0
 */
export const encode = (e: CoreAlert.AlertEvent): string => JSON.stringify(e)
