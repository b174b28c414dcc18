// The shared maths of the detectors: the monotone squash that replaced the capped score, and the resolution-aware
// scale floors that replaced 1e-9·|mean|.
import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { Mad, ZScore } from "@llm-sentinel/detectors"
import { learnResolution, noMinimumChange, type Resolution, SQUASH_KNEE, scaleFloor, squash } from "../src/internal.ts"

describe("squash", () => {
  it("is the identity up to the knee, then strictly increasing and finite: huge scores never tie", () => {
    assert.strictEqual(squash(3.5), 3.5)
    assert.strictEqual(squash(SQUASH_KNEE), SQUASH_KNEE)
    const big = [60, 1000, 1001, 1e6, 1e9, 1e300, Number.POSITIVE_INFINITY].map(squash)
    for (let i = 1; i < big.length; i++) assert.isAbove(big[i]!, big[i - 1]!)
    assert.isTrue(big.every(Number.isFinite))
    assert.strictEqual(squash(Number.NaN), 0)
    assert.strictEqual(squash(-2), 0)
  })

  it("after a flat stretch, changes of different sizes get different scores (no cap at 1000)", () => {
    const d = ZScore.make({ window: 64, minSamples: 10 })
    const { state } = Detector.run(d, new Array(100).fill(7))
    const scores = [8, 9, 107].map((x) => d.score(state, x, 0).score)
    assert.isBelow(scores[0]!, scores[1]!)
    assert.isBelow(scores[1]!, scores[2]!)
  })
})

describe("scale floors", () => {
  const resolution = (xs: ReadonlyArray<number>): Resolution => {
    const r: Resolution = { last: Number.NaN, quantum: 0 }
    for (const x of xs) learnResolution(r, x)
    return r
  }

  it("learn the quantum of the values: the smallest non-zero step, float rounding ignored", () => {
    assert.strictEqual(resolution([0, 0, 1, 0, 3]).quantum, 1)
    assert.closeTo(resolution([0.5, 0.49, 0.5, 0.52]).quantum, 0.01, 1e-12)
    assert.strictEqual(resolution([1e6, 1e6 + 1e-7, 1e6]).quantum, 0) // below 1e-9 of the magnitude
    assert.strictEqual(resolution([5, 5, 5]).quantum, 0)
  })

  it("take the largest of the quantum, the minimum changes and the Poisson spread of counts", () => {
    const r = resolution([0, 1, 2, 1])
    assert.strictEqual(scaleFloor(r, 100, noMinimumChange), 1)
    assert.closeTo(scaleFloor(r, 100, { ...noMinimumChange, minChange: 30 }), 10, 1e-12)
    assert.closeTo(scaleFloor(r, 100, { ...noMinimumChange, minRelativeChange: 0.6 }), 20, 1e-12)
    assert.closeTo(scaleFloor(r, 100, { ...noMinimumChange, counts: true }), 10, 1e-12) // √(100·1)
    assert.isAbove(scaleFloor(resolution([]), 0, noMinimumChange), 0)
  })

  it("a counter at 0 that blips to 1 every 500 points scores 1, not 1000, and never fires", () => {
    const xs = Array.from({ length: 5000 }, (_, i) => (i % 500 === 499 ? 1 : 0))
    for (const d of [Mad.make(), ZScore.make()] as ReadonlyArray<Detector.Any>) {
      const { verdicts } = Detector.run(d, xs)
      const blips = verdicts.filter((_, i) => i % 500 === 499 && i > 1000)
      assert.isTrue(
        blips.every((v) => !v.anomalous && v.score <= 1 + 1e-9),
        `${d.name}: ${blips.map((v) => v.score)}`
      )
    }
  })

  it("counts: one event more in a quiet interval is small, a burst is not", () => {
    const d = Mad.make({ counts: true })
    let seed = 3
    const rnd = () => (seed = (seed * 48271) % 2147483647) / 2147483647
    // Poisson-ish counts around 4
    const xs = Array.from({ length: 400 }, () => Math.floor(-Math.log(rnd()) * 2) + Math.floor(-Math.log(rnd()) * 2))
    const { state } = Detector.run(d, xs)
    assert.isBelow(d.score(state, 7, 0).score, 4)
    assert.isAbove(d.score(state, 30, 0).score, 8)
    // without counts, the same detector makes more of a small step (its robust spread is narrower than Poisson)
    const plain = Mad.make()
    const p = Detector.run(plain, xs).state
    assert.isAtLeast(plain.score(p, 7, 0).score, d.score(state, 7, 0).score)
  })
})
