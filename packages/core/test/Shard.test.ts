import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Shard from "../src/Shard.ts"

const series = fc.record({ service: fc.string({ maxLength: 20 }), model: fc.string({ maxLength: 20 }) })

describe("Shard", () => {
  it("of is the hash of the key, in range, the same for every event of a series", () => {
    fc.assert(
      fc.property(series, fc.integer({ min: 1, max: 64 }), (e, n) => {
        const s = Shard.of(e, n)
        assert.isTrue(s >= 0 && s < n)
        assert.strictEqual(s, n === 1 ? 0 : Shard.hash(Shard.key(e)) % n)
        assert.strictEqual(Shard.of({ ...e, latencyMs: 1 } as typeof e, n), s)
      }),
      { seed: 12, numRuns: 500 }
    )
  })

  it("split keeps every event once, in order within each shard, each on its owner", () => {
    fc.assert(
      fc.property(fc.array(series, { maxLength: 200 }), fc.integer({ min: 1, max: 8 }), (list, n) => {
        const events = list.map((e, i) => ({ ...e, i }))
        const parts = Shard.split(events, n)
        assert.strictEqual(parts.length, n)
        assert.strictEqual(
          parts.reduce((k, p) => k + p.length, 0),
          events.length
        )
        parts.forEach((part, s) => {
          for (let j = 0; j < part.length; j++) {
            assert.strictEqual(Shard.of(part[j]!, n), s)
            if (j > 0) assert.isAbove(part[j]!.i, part[j - 1]!.i)
          }
        })
      }),
      { seed: 12, numRuns: 200 }
    )
  })

  it("spreads 200 series over 2 and 4 shards without an empty or a crowded shard", () => {
    const keys = Array.from({ length: 200 }, (_, i) => ({
      service: `service-${i % 20}`,
      model: `model-${Math.floor(i / 20) % 10}`
    }))
    const distinct = [...new Map(keys.map((k) => [Shard.key(k), k])).values()]
    for (const n of [2, 4]) {
      const counts = new Array(n).fill(0)
      for (const k of distinct) counts[Shard.of(k, n)]++
      for (const c of counts) assert.isAbove(c, (distinct.length / n) * 0.5)
    }
  })
})
