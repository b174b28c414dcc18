/**
 * Where alert events go: the log, the dashboard, a webhook, a pager. A sink receives each batch of alert events
 * the policy produced and must accept it (or fail) before the source's position is committed.
 *
 * Every sink module has the same layers: `layerLog`, `layerNull`, and `layerMemory` with its {@link Memory}
 * reader.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Ref } from "effect"
import type { AlertEvent } from "./Alert.ts"
import type { SinkError } from "./SinkError.ts"

/**
 * @category services
 * @since 0.1.0
 */
export class AlertSink extends Context.Service<
  AlertSink,
  {
    readonly write: (events: ReadonlyArray<AlertEvent>) => Effect.Effect<void, SinkError>
  }
>()("@llm-sentinel/core/AlertSink") {}

/**
 * Logs alert events: opened and escalated at warning level, resolved at info.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerLog: Layer.Layer<AlertSink> = Layer.succeed(AlertSink, {
  write: (events) =>
    Effect.forEach(
      events,
      (e) => {
        if (e._tag === "storm") return Effect.logWarning(`alert storm: ${e.suppressed} alerts suppressed`)
        const a = e.alert
        const text = `alert ${e._tag}: ${a.series.id} ${a.severity} (${a.detectors.join(", ")}): ${a.reason}`
        const annotated = (eff: Effect.Effect<void>) =>
          eff.pipe(Effect.annotateLogs({ alertId: a.id, openedAt: new Date(a.openedAt).toISOString() }))
        return annotated(e._tag === "resolved" ? Effect.logInfo(text) : Effect.logWarning(text))
      },
      { discard: true }
    )
})

/**
 * A sink that drops every alert event (benchmarks, or a pipeline whose output is only its anomalies).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerNull: Layer.Layer<AlertSink> = Layer.succeed(AlertSink, { write: () => Effect.void })

/**
 * The reader of {@link layerMemory}: every alert event written so far, in order.
 *
 * @category services
 * @since 0.1.0
 */
export class Memory extends Context.Service<
  Memory,
  {
    readonly written: Effect.Effect<ReadonlyArray<AlertEvent>>
  }
>()("@llm-sentinel/core/AlertSink/Memory") {}

/**
 * Keeps alert events in memory (tests, examples), readable through {@link Memory}.
 *
 * @example
 * ```ts
 * import { AlertSink } from "@llm-sentinel/core"
 * import { Effect } from "effect"
 * const events = AlertSink.Memory.use((m) => m.written).pipe(Effect.provide(AlertSink.layerMemory))
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<AlertSink | Memory> = Layer.effectContext(
  Effect.map(Ref.make<ReadonlyArray<AlertEvent>>([]), (ref) =>
    Context.make(AlertSink, { write: (xs) => Ref.update(ref, (all) => [...all, ...xs]) }).pipe(
      Context.add(Memory, { written: Ref.get(ref) })
    )
  )
)
