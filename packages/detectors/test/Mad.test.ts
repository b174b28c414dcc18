import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { Iqr, Mad } from "@llm-sentinel/detectors"
import { firing, gaussian, noise, roundtrip } from "./fixtures.ts"

describe("Mad", () => {
  it("is quiet on noise, fires on a spike, and ignores a previous outlier (robust)", () => {
    const xs = noise(1500, 21)
    xs[1000] = 100 + 5 * 30 // not learned
    xs[1200] = 100 + 5 * 7
    const { verdicts } = Detector.run(Mad.make(), xs)
    assert.deepStrictEqual(firing(verdicts), [1000, 1200])
  })

  it("median and MAD match a brute-force computation on the rolling window", () => {
    const d = Mad.make({ window: 9, minSamples: 3 })
    const g = gaussian(22)
    let s = d.initial()
    const xs: Array<number> = []
    for (let i = 0; i < 200; i++) {
      const x = Math.round(g() * 3) // discrete values: many ties
      xs.push(x)
      s = d.learn(s, x, i)
      const win = xs.slice(-9).sort((a, b) => a - b)
      const median = win[(win.length - 1) >> 1]! / 2 + win[win.length >> 1]! / 2
      const devs = win.map((v) => Math.abs(v - median)).sort((a, b) => a - b)
      const mad = devs[(devs.length - 1) >> 1]! / 2 + devs[devs.length >> 1]! / 2
      const a = d.score(s, median + 10, i)
      assert.strictEqual(a.expected, median)
      // integer values: the scale never falls below the learned quantum, 1
      if (mad > 0) assert.closeTo(a.score, 10 / Math.max(1.482602218505602 * mad, 1), 1e-9)
      assert.deepStrictEqual(
        Array.from(s.order.subarray(0, s.count), (slot) => s.ring[slot]),
        win
      )
    }
  })

  it("on a flat series then a jump fires without dividing by zero", () => {
    const { verdicts } = Detector.run(Mad.make({ window: 32, minSamples: 10 }), [...Array(40).fill(0), 0, 1])
    assert.strictEqual(verdicts[40]!.score, 0)
    assert.isFalse(verdicts[40]!.anomalous)
    assert.isTrue(verdicts[41]!.anomalous)
    assert.isTrue(Number.isFinite(verdicts[41]!.score))
    const level = Detector.run(Mad.make({ window: 32, minSamples: 10 }), [...Array(40).fill(500), 502, 540]).verdicts
    assert.isFalse(level[40]!.anomalous) // 0.4% off with a 1% floor: score 0.4
    assert.closeTo(level[40]!.score, 0.4, 1e-9)
    assert.isTrue(level[41]!.anomalous)
  })

  it("on a discrete series with MAD 0 falls back to the mean absolute deviation, floored at the quantum", () => {
    // mostly zeros, some pairs 5, 5.1: MAD is 0, the mean absolute deviation is not, and it is above the quantum 0.1
    const xs: Array<number> = Array.from({ length: 100 }, (_, i) => (i % 10 === 0 ? 5 : i % 10 === 1 ? 5.1 : 0))
    const d = Mad.make({ window: 100, minSamples: 10 })
    const state = xs.reduce((s, x, i) => d.learn(s, x, i), d.initial())
    const meanAd = xs.reduce((a, x) => a + Math.abs(x), 0) / 100
    assert.closeTo(d.score(state, 1, 0).score, 1 / (meanAd * 1.2533141373155003), 1e-9)
    // a counter at 0 that blips to 1 now and then: the blip scores 1 (one quantum), not a capped 1000
    const blips: Array<number> = Array.from({ length: 100 }, (_, i) => (i % 25 === 0 ? 1 : 0))
    const counter = blips.reduce((s, x, i) => d.learn(s, x, i), d.initial())
    assert.closeTo(d.score(counter, 1, 0).score, 1, 1e-9)
    assert.closeTo(d.score(counter, 7, 0).score, 7, 1e-9)
  })

  it("snapshot/restore mid-stream gives identical verdicts; invalid params are rejected", () => {
    const d = Mad.make({ window: 16, minSamples: 5 })
    const xs = noise(200, 23)
    xs[150] = 300
    roundtrip(d, xs, 77)
    assert.throws(() => Mad.make({ window: 1 }), /window/)
    assert.throws(() => Mad.make({ scaleFloor: -1 }), /scaleFloor/)
  })
})

describe("Iqr", () => {
  it("is quiet on noise and fires on a spike", () => {
    const xs = noise(1500, 31)
    xs[1100] = 100 - 5 * 8
    const { verdicts } = Detector.run(Iqr.make(), xs)
    assert.deepStrictEqual(firing(verdicts), [1100])
  })

  it("maps Tukey fences to the σ scale", () => {
    const d = Iqr.make({ window: 5, minSamples: 3 })
    let s = d.initial()
    for (const x of [1, 2, 3, 4, 5]) s = d.learn(s, x, 0)
    // Q1 = 2, Q3 = 4, IQR = 2: the k = 1.5 fence is 7, the k = 3 fence is 10
    assert.closeTo(d.score(s, 7, 0).score, 2.698, 1e-3)
    assert.closeTo(d.score(s, 10, 0).score, 4.721, 1e-3)
    assert.closeTo(d.score(s, -1, 0).score, 2.698, 1e-3)
    assert.closeTo(d.score(s, d.score(s, 0, 0).upper, 0).score, 4, 1e-9)
  })

  it("on a flat series then a jump fires with a finite score", () => {
    const { verdicts } = Detector.run(Iqr.make({ window: 16, minSamples: 5 }), [...Array(20).fill(3), 3, 4])
    assert.isFalse(verdicts[20]!.anomalous)
    assert.isTrue(verdicts[21]!.anomalous)
    assert.isTrue(Number.isFinite(verdicts[21]!.score))
  })

  it("snapshot/restore mid-stream gives identical verdicts; invalid params are rejected", () => {
    const d = Iqr.make({ window: 16, minSamples: 5 })
    const xs = noise(200, 32)
    roundtrip(d, xs, 50)
    assert.throws(() => Iqr.make({ minSamples: 0 }), /minSamples/)
  })
})
