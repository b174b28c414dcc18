/**
 * Sharding by series: which of N shards (worker threads, in-process partitions) owns an event. The key is the
 * one Kafka partitions are keyed by (`service/model`, as `Kafka.eventKey`), so a shard holds whole series, per-series
 * order is kept within a shard, and a shard is the unit of state ownership exactly as a partition is: its
 * checkpoints live under `Pipeline.partitionPrefix(Shard.id(i))`.
 *
 * @since 0.2.0
 */

/**
 * The sharding key of an event: `service/model` (the key of the events topic's records).
 *
 * @category models
 * @since 0.2.0
 */
export const key = (e: { readonly service: string; readonly model: string }): string => `${e.service}/${e.model}`

/**
 * FNV-1a (32 bits) of a string's UTF-16 code units: stable across processes and releases, cheap, and spread well
 * enough over a few shards.
 *
 * @category constructors
 * @since 0.2.0
 */
export const hash = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/**
 * The shard (0 to `shards - 1`) that owns an event's series. The hash covers `service`, `/` and `model` without
 * building the key string.
 *
 * @example
 * ```ts
 * import { Shard } from "@llm-sentinel/core"
 * Shard.of({ service: "chat", model: "gpt-4o" }, 4) // always the same shard for chat/gpt-4o
 * ```
 * @category constructors
 * @since 0.2.0
 */
export const of = (e: { readonly service: string; readonly model: string }, shards: number): number => {
  if (shards <= 1) return 0
  let h = 0x811c9dc5
  const s = e.service
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= 47 // "/"
  h = Math.imul(h, 0x01000193)
  const m = e.model
  for (let i = 0; i < m.length; i++) {
    h ^= m.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % shards
}

/**
 * The partition id of shard `i`: its checkpoints live under `Pipeline.partitionPrefix(id(i))`, i.e.
 * `partition/shard-<i>/`.
 *
 * @category constructors
 * @since 0.2.0
 */
export const id = (i: number): string => `shard-${i}`

/**
 * Splits events into `shards` arrays by owner, keeping their order within each shard.
 *
 * @category combinators
 * @since 0.2.0
 */
export const split = <A extends { readonly service: string; readonly model: string }>(
  events: ReadonlyArray<A>,
  shards: number
): Array<Array<A>> => {
  const out: Array<Array<A>> = Array.from({ length: Math.max(1, shards) }, () => [])
  if (shards <= 1) {
    for (const e of events) out[0]!.push(e)
    return out
  }
  for (const e of events) out[of(e, shards)]!.push(e)
  return out
}
