/**
 * Checkpoints: detector states and source positions under string keys, so that a restarted or rebalanced
 * instance resumes where the last one stopped. Values are JSON strings made by `Detector.snapshot`.
 *
 * Keys are grouped by prefix (`detector/`, `window/`, `source/`, `alerts/`); a partitioned source keeps one group
 * per partition under `partition/<id>/` ({@link prefixed}), so a partition's state moves with it.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option } from "effect"
import type { StoreError } from "./StoreError.ts"

/**
 * @category services
 * @since 0.1.0
 */
export class StateStore extends Context.Service<
  StateStore,
  {
    readonly get: (key: string) => Effect.Effect<Option.Option<string>, StoreError>
    /**
     * Writes several entries, in order. The in-memory and PostgreSQL stores write them atomically (all or none);
     * the embedded SQLite store of `sentinel serve` commits a large write as several transactions in order, a
     * few milliseconds each, so that a checkpoint of 100k series does not block the event loop: after a crash a
     * prefix of the entries may be written (the pipeline orders a checkpoint's entries so that a prefix is safe).
     */
    readonly setMany: (entries: ReadonlyArray<readonly [key: string, value: string]>) => Effect.Effect<void, StoreError>
    readonly delete: (key: string) => Effect.Effect<void, StoreError>
    /** Every key starting with `prefix`, in byte order. */
    readonly keys: (prefix: string) => Effect.Effect<ReadonlyArray<string>, StoreError>
    /** Every entry whose key starts with `prefix`, in byte order of the keys: one read, not one per key. */
    readonly entries: (
      prefix: string
    ) => Effect.Effect<ReadonlyArray<readonly [key: string, value: string]>, StoreError>
  }
>()("@llm-sentinel/core/StateStore") {}

/** The order of UTF-8 bytes, which the stores sort keys by: code points (not UTF-16 units, as `<` compares). */
const byteOrder = (a: string, b: string): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i) as number
    const y = b.codePointAt(i) as number
    if (x !== y) return x - y
    if (x > 0xffff) i++
  }
  return a.length - b.length
}

/**
 * An in-memory state store.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<StateStore> = Layer.sync(StateStore, () => {
  const map = new Map<string, string>()
  const under = (prefix: string) => [...map.keys()].filter((k) => k.startsWith(prefix)).sort(byteOrder)
  return {
    get: (key) => Effect.sync(() => Option.fromNullishOr(map.get(key))),
    setMany: (entries) =>
      Effect.sync(() => {
        for (const [k, v] of entries) map.set(k, v)
      }),
    delete: (key) => Effect.sync(() => void map.delete(key)),
    keys: (prefix) => Effect.sync(() => under(prefix)),
    entries: (prefix) => Effect.sync(() => under(prefix).map((k) => [k, map.get(k) as string] as const))
  }
})

/**
 * The store seen through a key prefix: every key read or written is `prefix + key`, and `keys`/`entries` return
 * keys without it. Used to give each partition of a source its own checkpoints in one store.
 *
 * @category combinators
 * @since 0.1.0
 */
export const prefixed = (store: StateStore["Service"], prefix: string): StateStore["Service"] => ({
  get: (key) => store.get(prefix + key),
  setMany: (entries) => store.setMany(entries.map(([k, v]) => [prefix + k, v] as const)),
  delete: (key) => store.delete(prefix + key),
  keys: (p) => Effect.map(store.keys(prefix + p), (ks) => ks.map((k) => k.slice(prefix.length))),
  entries: (p) =>
    Effect.map(store.entries(prefix + p), (es) => es.map(([k, v]) => [k.slice(prefix.length), v] as const))
})
