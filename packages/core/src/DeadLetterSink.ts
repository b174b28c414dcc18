/**
 * Where invalid input goes: every record that failed to decode, with its formatted errors and its original
 * payload, so nothing accepted by a source disappears silently.
 *
 * Every sink module has the same layers: `layerLog`, `layerNull`, and `layerMemory` with its {@link Memory}
 * reader.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Ref } from "effect"
import type { Rejected } from "./Event.ts"
import type { SinkError } from "./SinkError.ts"

/**
 * @category services
 * @since 0.1.0
 */
export class DeadLetterSink extends Context.Service<
  DeadLetterSink,
  {
    readonly write: (rejected: ReadonlyArray<Rejected>) => Effect.Effect<void, SinkError>
  }
>()("@llm-sentinel/core/DeadLetterSink") {}

// a payload too deep (or too large) to serialize is still logged, as what String() makes of it
const preview = (payload: unknown): string => {
  try {
    return (typeof payload === "string" ? payload : (JSON.stringify(payload) ?? "undefined")).slice(0, 2048)
  } catch {
    return String(payload).slice(0, 2048)
  }
}

/**
 * Logs each dead letter at warning level with its errors.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerLog: Layer.Layer<DeadLetterSink> = Layer.succeed(DeadLetterSink, {
  write: (rejected) =>
    Effect.forEach(
      rejected,
      (r) =>
        Effect.logWarning(
          `dead letter: ${r.errors.map((e) => (e.path === "" ? e.message : `${e.path}: ${e.message}`)).join("; ")}`
        ).pipe(
          Effect.annotateLogs({ payload: preview(r.payload), ...(r.source === undefined ? {} : { source: r.source }) })
        ),
      { discard: true }
    )
})

/**
 * A sink that drops every dead letter (benchmarks over input known to be valid).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerNull: Layer.Layer<DeadLetterSink> = Layer.succeed(DeadLetterSink, { write: () => Effect.void })

/**
 * The reader of {@link layerMemory}: every dead letter written so far, in order.
 *
 * @category services
 * @since 0.1.0
 */
export class Memory extends Context.Service<
  Memory,
  {
    readonly written: Effect.Effect<ReadonlyArray<Rejected>>
  }
>()("@llm-sentinel/core/DeadLetterSink/Memory") {}

/**
 * Keeps the dead letters in memory (tests, examples), readable through {@link Memory}.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<DeadLetterSink | Memory> = Layer.effectContext(
  Effect.map(Ref.make<ReadonlyArray<Rejected>>([]), (ref) =>
    Context.make(DeadLetterSink, { write: (xs) => Ref.update(ref, (all) => [...all, ...xs]) }).pipe(
      Context.add(Memory, { written: Ref.get(ref) })
    )
  )
)
