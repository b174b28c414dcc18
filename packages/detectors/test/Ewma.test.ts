import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { Ewma } from "@llm-sentinel/detectors"
import { firing, noise, roundtrip } from "./fixtures.ts"

describe("Ewma", () => {
  it("is quiet on gaussian noise and fires on a large spike", () => {
    const xs = noise(3000, 11)
    xs[2000] = 100 + 5 * 10
    const { verdicts } = Detector.run(Ewma.make(), xs)
    const fired = firing(verdicts)
    assert.deepStrictEqual(fired, [2000])
  })

  it("catches a small sustained shift that a point z-score misses", () => {
    const xs = noise(1000, 12)
    for (let i = 800; i < 1000; i++) xs[i] = xs[i]! + 5 * 2.5
    const chart = Detector.run(Ewma.make({ alpha: 0.01 }), xs).verdicts
    const shewhart = Detector.run(Ewma.make({ alpha: 0.01, lambda: 1 }), xs).verdicts
    const firstChart = chart.findIndex((v) => v.anomalous)
    assert.isAtLeast(firstChart, 800)
    assert.isBelow(firstChart, 815)
    assert.isAbove(chart.filter((v) => v.anomalous).length, shewhart.slice(800).filter((v) => v.anomalous).length)
  })

  it("bounds are where the score reaches the warning threshold", () => {
    const d = Ewma.make({ minSamples: 5 })
    let s = d.initial()
    for (const x of noise(100, 13)) s = d.learn(s, x, 0)
    const a = d.score(s, 100, 0)
    assert.closeTo(d.score(s, a.upper, 0).score, 4, 1e-6)
    assert.closeTo(d.score(s, a.lower, 0).score, 4, 1e-6)
    assert.isBelow(a.lower, a.upper)
  })

  it("with lambda 1 the score is the plain z-score of the baseline", () => {
    const d = Ewma.make({ lambda: 1, alpha: 1 / 3, minSamples: 2 })
    let s = d.initial()
    for (const x of [1, 1.1, 3]) s = d.learn(s, x, 0)
    // alpha = max(1/3, 1/n): exact mean and population variance of 1, 1.1, 3 (σ above the quantum 0.1)
    const variance = (0.7 ** 2 + 0.6 ** 2 + 1.3 ** 2) / 3
    assert.closeTo(s.mean, 1.7, 1e-12)
    assert.closeTo(s.variance, variance, 1e-12)
    assert.closeTo(d.score(s, 1.7 + 3 * Math.sqrt(variance), 0).score, 3, 1e-9)
  })

  it("a flat series then a jump fires with a finite score; non-finite input is ignored", () => {
    const d = Ewma.make({ minSamples: 5 })
    const { state, verdicts } = Detector.run(d, [...Array(30).fill(3), 3, 4])
    assert.isFalse(verdicts[30]!.anomalous)
    assert.isTrue(verdicts[31]!.anomalous)
    assert.isTrue(Number.isFinite(verdicts[31]!.score))
    const before = Detector.snapshot(d, state)
    assert.strictEqual(d.score(state, Number.NaN, 0).score, 0)
    assert.strictEqual(Detector.snapshot(d, d.learn(state, Number.NEGATIVE_INFINITY, 0)), before)
  })

  it("snapshot/restore mid-stream gives identical verdicts", () => {
    const d = Ewma.make()
    const xs = noise(400, 14)
    xs[300] = 200
    roundtrip(d, xs, 123)
  })

  it("rejects invalid params with the field path", () => {
    assert.throws(() => Ewma.make({ alpha: 0 }), /alpha/)
    assert.throws(() => Ewma.make({ lambda: 1.5 }), /lambda/)
    assert.throws(() => Ewma.make({ minSamples: -1 }), /minSamples/)
  })
})
