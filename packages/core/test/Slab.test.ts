import { describe, expect, it } from "@effect/vitest"
import { Slab } from "../src/index.ts"

describe("Slab", () => {
  it("carves zeroed, aligned, disjoint views out of shared chunks", () => {
    const arrays = [Slab.float32(96), Slab.float64(129), Slab.float32(3), Slab.float64(1), Slab.float32(576)]
    const ranges = arrays.map((a) => [a.buffer, a.byteOffset, a.byteOffset + a.byteLength] as const)
    for (const a of arrays) {
      expect(a.every((x) => x === 0)).toBe(true)
      expect(a.byteOffset % 8).toBe(0)
      expect(a.buffer.byteLength).toBe(Slab.chunkBytes)
      a.fill(7)
    }
    // writing one never touches another
    for (let i = 0; i < ranges.length; i++) {
      for (let j = 0; j < ranges.length; j++) {
        if (i === j || ranges[i]![0] !== ranges[j]![0]) continue
        expect(ranges[i]![2] <= ranges[j]![1] || ranges[j]![2] <= ranges[i]![1]).toBe(true)
      }
    }
    expect(arrays.every((a) => a.every((x) => x === 7))).toBe(true)
  })

  it("gives an array above pooledBytes a buffer of its own, and starts a new chunk when one is full", () => {
    const big = Slab.float64(Slab.pooledBytes / 8 + 1)
    expect(big.buffer.byteLength).toBe(big.byteLength)
    const seen = new Set<ArrayBufferLike>()
    for (let i = 0; i < (2 * Slab.chunkBytes) / Slab.pooledBytes + 1; i++)
      seen.add(Slab.float32(Slab.pooledBytes / 4).buffer)
    expect(seen.size).toBeGreaterThanOrEqual(2)
  })

  it("copies like Float32Array.from / Float64Array.from", () => {
    expect([...Slab.float32From([1.1, 2, Number.NaN])]).toEqual([...Float32Array.from([1.1, 2, Number.NaN])])
    expect([...Slab.float64From([1, 2, 3], (x, i) => x * 10 + i)]).toEqual([10, 21, 32])
    expect(JSON.stringify(Slab.float64From([1, 2]))).toBe(JSON.stringify(Float64Array.from([1, 2])))
  })
})
