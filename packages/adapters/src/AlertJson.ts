/**
 * The JSON form of the core's alert events for the adapters that send them out of the process (webhooks, Slack,
 * Kafka, NATS): the wire format is the core's `Alert.AlertEvent` Schema (discriminated by `_tag`), which
 * receivers decode with it.
 *
 * Each event also has a deterministic delivery id ({@link deliveryId}): the same event replayed after a
 * restart gets the same id, so receivers (and JetStream's duplicate window) can drop the repeat.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { Alert as CoreAlert } from "@llm-sentinel/core"
import { Schema } from "effect"

const encodeJson = Schema.encodeSync(Schema.fromJsonString(CoreAlert.AlertEvent))

/**
 * The event time an alert event is about: when the alert opened, escalated (its latest anomaly) or resolved;
 * for a storm, the start of the storm window.
 *
 * @category combinators
 * @since 0.1.0
 */
export const eventTime = (e: CoreAlert.AlertEvent): number =>
  e._tag === "storm"
    ? e.time
    : e._tag === "opened"
      ? e.alert.openedAt
      : e._tag === "resolved"
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
  const subject = e._tag === "storm" ? "storm" : `${e.alert.id}\u0000${e.alert.severity}`
  return createHash("sha256")
    .update(`${subject}\u0000${e._tag}\u0000${eventTime(e)}`)
    .digest("hex")
    .slice(0, 32)
}

/**
 * The event as JSON text, encoded with the core's `Alert.AlertEvent` Schema.
 *
 * @category combinators
 * @since 0.1.0
 */
export const encode = (e: CoreAlert.AlertEvent): string => encodeJson(e)
