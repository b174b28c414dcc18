// The public toolkit against naive references (fast-check), and a user's median detector built from it passing
// the law suite.
import { Detector } from "@llm-sentinel/core"
import { Result } from "effect"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import { runLaws } from "../src/testing/index.ts"
import {
  insertSorted,
  lowerBound,
  makeWindow,
  meanAbsDeviation,
  medianAbsDeviation,
  quantile,
  removeSorted,
  robustScale,
  type SortedWindow,
  upperBound,
  WindowSchema,
  windowPush,
  windowValues
} from "../src/toolkit/index.ts"

const values = fc.array(
  fc.integer({ min: -50, max: 50 }).map((n) => n / 4),
  { maxLength: 80 }
)
const sortedCopy = (xs: ReadonlyArray<number>) => Float64Array.from([...xs].sort((a, b) => a - b))
const naiveQuantile = (sorted: ArrayLike<number>, p: number) => {
  const h = (sorted.length - 1) * p
  const i = Math.floor(h)
  return i + 1 < sorted.length ? sorted[i]! + (h - i) * (sorted[i + 1]! - sorted[i]!) : sorted[i]!
}
const options = { seed: 20_261_202, numRuns: 300 }

describe("toolkit", () => {
  it("a rolling window holds exactly the last `size` values, sorted", () => {
    fc.assert(
      fc.property(values, fc.integer({ min: 1, max: 12 }), (xs, size) => {
        const w = makeWindow(size)
        for (const x of xs) windowPush(w, x)
        expect(Array.from(windowValues(w))).toEqual(Array.from(sortedCopy(xs.slice(-size))))
      }),
      options
    )
  })

  it("bounds, insert and remove agree with a sorted array", () => {
    fc.assert(
      fc.property(
        values,
        fc.integer({ min: -60, max: 60 }).map((n) => n / 4),
        (xs, x) => {
          const sorted = new Float64Array(xs.length + 1)
          sorted.set(sortedCopy(xs))
          const n = xs.length
          expect(lowerBound(sorted, n, x)).toBe(xs.filter((v) => v < x).length)
          expect(upperBound(sorted, n, x)).toBe(xs.filter((v) => v <= x).length)
          insertSorted(sorted, n, x)
          expect(Array.from(sorted)).toEqual(Array.from(sortedCopy([...xs, x])))
          expect(removeSorted(sorted, n + 1, x)).toBe(true)
          expect(Array.from(sorted.subarray(0, n))).toEqual(Array.from(sortedCopy(xs)))
        }
      ),
      options
    )
  })

  it("quantile, MAD and mean absolute deviation agree with their definitions", () => {
    fc.assert(
      fc.property(values, fc.double({ min: 0, max: 1, noNaN: true }), (xs, p) => {
        const sorted = sortedCopy(xs)
        const n = xs.length
        if (n === 0) {
          expect(quantile(sorted, 0, p)).toBeNaN()
          expect(medianAbsDeviation(sorted, 0, 0)).toBeNaN()
          return
        }
        expect(quantile(sorted, n, p)).toBeCloseTo(naiveQuantile(sorted, p), 9)
        const median = quantile(sorted, n, 0.5)
        const deviations = sortedCopy(xs.map((x) => Math.abs(x - median)))
        expect(medianAbsDeviation(sorted, n, median)).toBeCloseTo(naiveQuantile(deviations, 0.5), 9)
        const mean = xs.reduce((s, x) => s + Math.abs(x - median), 0) / n
        expect(meanAbsDeviation(sorted, n, median)).toBeCloseTo(mean, 9)
      }),
      options
    )
  })

  it("robustScale falls back from the MAD to the mean deviation to a floor relative to the median", () => {
    const spread = Float64Array.of(1, 2, 3, 4, 100)
    expect(robustScale(spread, 5, 3, 1e-3)).toBeCloseTo(1.482602218505602, 12)
    const discrete = Float64Array.of(5, 5, 5, 5, 9)
    expect(robustScale(discrete, 5, 5, 1e-3)).toBeCloseTo(1.2533141373155003 * (4 / 5), 12)
    expect(robustScale(Float64Array.of(7, 7, 7), 3, 7, 1e-3)).toBeCloseTo(0.007, 12)
    expect(robustScale(Float64Array.of(0, 0), 2, 0, 1e-3)).toBe(1e-12)
  })

  it("a window round-trips through WindowSchema (a detector's checkpoint)", () => {
    const w = makeWindow(4)
    for (const x of [3, 1, 4, 1, 5]) windowPush(w, x)
    const detector = medianJump()
    const restored = Detector.restore(detector, Detector.snapshot(detector, w))
    expect(Result.getOrThrow(restored)).toEqual(w)
  })
})

// A user's median detector, as in the toolkit's module example: the law suite holds on it.
const medianJump = (params: { readonly window?: number } = {}) =>
  Detector.make<SortedWindow>({
    name: "median-jump",
    params,
    minSamples: 20,
    state: WindowSchema,
    initial: () => makeWindow(params.window ?? 64),
    score: (w, x) => {
      if (w.count === 0) return { score: 0, expected: x, lower: x, upper: x, ready: false } // nothing learned yet
      const median = quantile(w.sorted, w.count, 0.5)
      const scale = robustScale(w.sorted, w.count, median, 1e-3)
      return {
        score: Math.abs(x - median) / scale,
        expected: median,
        lower: median - 4 * scale,
        upper: median + 4 * scale,
        ready: w.count >= 20
      }
    },
    learn: (w, x) => {
      windowPush(w, x)
      return w
    }
  })

describe("a detector built from the toolkit", () =>
  runLaws(it, medianJump, {
    shiftInvariant: true,
    scaleInvariant: true,
    monotonic: true,
    sensitivity: { kind: "spike", size: 8 },
    testParams: { window: 32 }
  }))
