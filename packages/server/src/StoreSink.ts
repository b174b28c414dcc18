/**
 * The anomaly sink that writes into the `AnomalyStore` (the embedded store by default, PostgreSQL later): the
 * pipeline's output becomes queryable through `GET /v1/anomalies`. Inserts are idempotent on the anomaly id, so
 * at-least-once delivery stores each anomaly once.
 *
 * @since 0.1.0
 */
import { AnomalySink, AnomalyStore } from "@llm-sentinel/core"
import { Effect, Layer } from "effect"

/**
 * An `AnomalySink` over the `AnomalyStore` in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<AnomalySink.AnomalySink, never, AnomalyStore.AnomalyStore> = Layer.effect(
  AnomalySink.AnomalySink,
  Effect.map(AnomalyStore.AnomalyStore, (store) => ({
    write: (anomalies) => Effect.asVoid(store.insert(anomalies))
  }))
)
