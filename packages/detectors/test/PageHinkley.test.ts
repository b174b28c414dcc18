import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { PageHinkley } from "@llm-sentinel/detectors"
import { firing, noise, roundtrip } from "./fixtures.ts"

describe("PageHinkley", () => {
  it("is quiet on noise and detects a mean change in both directions", () => {
    for (const sign of [1, -1]) {
      const xs = noise(2000, 51)
      for (let i = 1500; i < 2000; i++) xs[i] = xs[i]! + sign * 5 * 2
      const fired = firing(Detector.run(PageHinkley.make(), xs).verdicts)
      assert.isAbove(fired.length, 0)
      assert.isAtLeast(fired[0]!, 1500)
      assert.isBelow(fired[0]!, 1510)
    }
  })

  it("re-baselines to the new level after a learned signal and stays ready", () => {
    const d = PageHinkley.make({ minSamples: 10, anomalies: "learn" })
    let s = d.initial()
    for (const x of noise(100, 52)) s = d.learn(s, x, 0)
    for (const x of noise(20, 53, 200)) s = d.learn(s, x, 0)
    assert.strictEqual(s.n, 120) // no warm-up again: a false alarm cannot blind the test
    assert.isAbove(s.mean, 190)
    const a = d.score(s, 200, 0)
    assert.isTrue(a.ready)
    assert.isBelow(a.score, 4)
  })

  it("a lone spike signals but does not move the baseline", () => {
    const d = PageHinkley.make({ minSamples: 10 })
    let s = d.initial()
    for (const x of noise(200, 56)) s = d.learn(s, x, 0)
    const before = s.mean
    s = d.learn(s, 100 + 5 * 40, 0)
    for (const x of noise(5, 57)) s = d.learn(s, x, 0)
    assert.isBelow(Math.abs(s.mean - before), 5)
  })

  it("bounds are where the score reaches 4; snapshot/restore is exact; params are validated", () => {
    const d = PageHinkley.make()
    let s = d.initial()
    for (const x of noise(100, 54)) s = d.learn(s, x, 0)
    const a = d.score(s, 0, 0)
    assert.closeTo(d.score(s, a.upper, 0).score, 4, 1e-9)
    assert.closeTo(d.score(s, a.lower, 0).score, 4, 1e-9)
    const xs = noise(400, 55)
    for (let i = 300; i < 400; i++) xs[i] = xs[i]! + 15
    roundtrip(d, xs, 222)
    assert.throws(() => PageHinkley.make({ lambda: -2 }), /lambda/)
  })
})
