import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { Cusum } from "@llm-sentinel/detectors"
import { firing, noise, roundtrip } from "./fixtures.ts"

describe("Cusum", () => {
  it("is quiet on noise and catches a small sustained shift within a few points", () => {
    const xs = noise(2000, 41)
    for (let i = 1500; i < 2000; i++) xs[i] = xs[i]! + 5 * 1.5
    const fired = firing(Detector.run(Cusum.make(), xs).verdicts)
    assert.isAbove(fired.length, 0)
    assert.isAtLeast(fired[0]!, 1500)
    assert.isBelow(fired[0]!, 1520) // about h/(c − k) = 8 points, plus baseline adaptation
  })

  it("maps S = h to the warning score and places bounds there", () => {
    const d = Cusum.make({ minSamples: 5 })
    let s = d.initial()
    for (const x of noise(100, 42)) s = d.learn(s, x, 0)
    const a = d.score(s, 0, 0)
    assert.closeTo(d.score(s, a.upper, 0).score, 4, 1e-9)
    assert.closeTo(d.score(s, a.lower, 0).score, 4, 1e-9)
  })

  it("resets the sums after a learned signal", () => {
    const d = Cusum.make({ minSamples: 5, anomalies: "learn" })
    let s = d.initial()
    for (const x of noise(50, 43)) s = d.learn(s, x, 0)
    s = d.learn(s, 100 + 5 * 20, 0)
    assert.strictEqual(s.up, 0)
    assert.strictEqual(s.down, 0)
  })

  it("re-baselines on a signal: a lasting step signals once, a lone spike leaves the baseline", () => {
    // a slow baseline (memory ~400 points) would lag a lasting step for hundreds of points and signal again and again
    const d = Cusum.make({ alpha: 0.005, h: 12, anomalies: "learn" })
    const xs = noise(2000, 45)
    for (let i = 1000; i < 2000; i++) xs[i] = xs[i]! + 5 * 3
    const fired = firing(Detector.run(d, xs).verdicts)
    const starts = fired.filter((i, k) => k === 0 || fired[k - 1] !== i - 1)
    assert.isAtLeast(fired[0]!, 1000)
    assert.isBelow(fired[0]!, 1010)
    assert.strictEqual(starts.length, 1, `signals starting at ${starts}`)
    let s = d.initial()
    for (const x of noise(500, 46)) s = d.learn(s, x, 0)
    const before = s.mean
    s = d.learn(s, 100 + 5 * 40, 0)
    for (const x of noise(5, 47)) s = d.learn(s, x, 0)
    assert.isBelow(Math.abs(s.mean - before), 2)
  })

  it("is safe on flat series and non-finite input; snapshot/restore is exact; params are validated", () => {
    const flat = Detector.run(Cusum.make({ minSamples: 5 }), [...Array(20).fill(2), 2, 3]).verdicts
    assert.isFalse(flat[20]!.anomalous)
    assert.isTrue(flat[21]!.anomalous && Number.isFinite(flat[21]!.score))
    const d = Cusum.make()
    assert.strictEqual(d.score(d.initial(), Number.NaN, 0).score, 0)
    const xs = noise(300, 44)
    for (let i = 200; i < 300; i++) xs[i] = xs[i]! + 10
    roundtrip(d, xs, 170)
    assert.throws(() => Cusum.make({ h: 0 }), /h/)
    assert.throws(() => Cusum.make({ k: -1 }), /\["k"\]/)
  })
})
