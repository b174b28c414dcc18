import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Aggregate } from "../src/index.ts"

const values = fc.array(fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true }), { maxLength: 60 })
const build = (xs: ReadonlyArray<number>, quantiles = true) => {
  const a = Aggregate.empty(quantiles)
  for (const x of xs) Aggregate.add(a, x)
  return a
}
const close = (a: number, b: number) =>
  (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b))
const sameSummary = (a: Aggregate.Summary, b: Aggregate.Summary) =>
  a.count === b.count &&
  close(a.sum, b.sum) &&
  close(a.mean, b.mean) &&
  close(a.variance, b.variance) &&
  close(a.min, b.min) &&
  close(a.max, b.max) &&
  close(a.p50, b.p50) &&
  close(a.p95, b.p95) &&
  close(a.p99, b.p99)
const params = { seed: 42, numRuns: 200 }

describe("Aggregate merge laws", () => {
  it("combine of two halves equals adding everything (Chan merge = Welford)", () => {
    fc.assert(
      fc.property(values, values, (xs, ys) =>
        sameSummary(Aggregate.finish(Aggregate.combine(build(xs), build(ys))), Aggregate.finish(build([...xs, ...ys])))
      ),
      params
    )
  })
  it("is commutative", () => {
    fc.assert(
      fc.property(values, values, (xs, ys) =>
        sameSummary(
          Aggregate.finish(Aggregate.combine(build(xs), build(ys))),
          Aggregate.finish(Aggregate.combine(build(ys), build(xs)))
        )
      ),
      params
    )
  })
  it("is associative", () => {
    fc.assert(
      fc.property(values, values, values, (xs, ys, zs) =>
        sameSummary(
          Aggregate.finish(Aggregate.combine(Aggregate.combine(build(xs), build(ys)), build(zs))),
          Aggregate.finish(Aggregate.combine(build(xs), Aggregate.combine(build(ys), build(zs))))
        )
      ),
      params
    )
  })
  it("has empty as identity, and combine leaves its inputs unchanged", () => {
    fc.assert(
      fc.property(values, (xs) => {
        const a = build(xs)
        const before = Aggregate.finish(a)
        const merged = Aggregate.finish(Aggregate.combine(Aggregate.empty(true), a))
        return sameSummary(merged, before) && sameSummary(Aggregate.finish(a), before)
      }),
      params
    )
  })
})

describe("Aggregate merge laws across the exact/sketch switch", () => {
  const big = fc.array(fc.double({ min: 0, max: 1e4, noNaN: true, noDefaultInfinity: true }), {
    minLength: 200,
    maxLength: 400
  })
  it("combine of two halves equals adding everything, whether the result is exact or sketched", () => {
    fc.assert(
      fc.property(big, big, (xs, ys) =>
        sameSummary(Aggregate.finish(Aggregate.combine(build(xs), build(ys))), Aggregate.finish(build([...xs, ...ys])))
      ),
      { seed: 42, numRuns: 30 }
    )
  })
})

describe("Aggregate", () => {
  it("gives exact quantiles for small windows", () => {
    const s = Aggregate.finish(build([5, 1, 4, 2, 3]))
    assert.deepStrictEqual([s.p50, s.p95, s.p99], [3, 4.8, 4.96])
  })

  it("computes sample variance, extremes and quantiles within the sketch's accuracy", () => {
    const xs = Array.from({ length: 1000 }, (_, i) => i + 1)
    const s = Aggregate.finish(build(xs))
    assert.strictEqual(s.count, 1000)
    assert.strictEqual(s.mean, 500.5)
    assert.closeTo(s.variance, 83416.667, 0.01)
    assert.strictEqual(s.min, 1)
    assert.strictEqual(s.max, 1000)
    assert.closeTo(s.p95, 950, 950 * 0.02)
    assert.closeTo(s.p50, 500, 500 * 0.02)
  })
  it("ignores non-finite values and derives rates over the window length", () => {
    const s = Aggregate.finish(build([1, Number.NaN, 0, Number.POSITIVE_INFINITY, 1], false))
    assert.strictEqual(s.count, 3)
    assert.ok(Number.isNaN(s.p50))
    assert.deepStrictEqual(Aggregate.derive("rate", s, 60_000), [2 / 3])
    assert.deepStrictEqual(Aggregate.derive("perSecond", s, 10_000), [0.2])
    assert.deepStrictEqual(Aggregate.derive("perMinute", s, 30_000), [4])
    const empty = Aggregate.finish(Aggregate.empty(false))
    assert.deepStrictEqual(Aggregate.derive("perSecond", empty, 10_000), [0])
  })
})
