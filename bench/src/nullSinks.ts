/**
 * The sinks of a bench that measures the pipeline alone: anomalies, dead letters and alerts are accepted and
 * dropped, so what is timed is decode, window, detect and alert decisions, not a sink's I/O.
 */
import { AlertSink, AnomalySink, DeadLetterSink } from "@llm-sentinel/core"
import { Effect, Layer } from "effect"

export const nullSinks = Layer.mergeAll(
  AnomalySink.layerNull,
  Layer.succeed(DeadLetterSink.DeadLetterSink, { write: () => Effect.void }),
  Layer.succeed(AlertSink.AlertSink, { write: () => Effect.void })
)
