/**
 * Checkpoints: detector states and source positions under string keys, so that a restarted or rebalanced
 * instance resumes where the last one stopped. Values are JSON strings made by `Detector.snapshot`.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option } from "effect"
import type { SinkError } from "./SinkError.ts"

/**
 * @category services
 * @since 0.1.0
 */
export class StateStore extends Context.Service<
  StateStore,
  {
    readonly get: (key: string) => Effect.Effect<Option.Option<string>, SinkError>
    /** Writes several entries atomically (all or none). */
    readonly setMany: (entries: ReadonlyArray<readonly [key: string, value: string]>) => Effect.Effect<void, SinkError>
    readonly delete: (key: string) => Effect.Effect<void, SinkError>
    /** Every key starting with `prefix`. */
    readonly keys: (prefix: string) => Effect.Effect<ReadonlyArray<string>, SinkError>
  }
>()("@llm-sentinel/core/StateStore") {}

/**
 * An in-memory state store.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<StateStore> = Layer.sync(StateStore, () => {
  const map = new Map<string, string>()
  return {
    get: (key) => Effect.sync(() => Option.fromNullishOr(map.get(key))),
    setMany: (entries) =>
      Effect.sync(() => {
        for (const [k, v] of entries) map.set(k, v)
      }),
    delete: (key) => Effect.sync(() => void map.delete(key)),
    keys: (prefix) => Effect.sync(() => [...map.keys()].filter((k) => k.startsWith(prefix)).sort())
  }
})
