import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { Drift } from "@llm-sentinel/detectors"
import { firing, gaussian, noise, roundtrip } from "./fixtures.ts"

describe("Drift", () => {
  it("is quiet on a stationary series and fires on a shifted distribution", () => {
    const xs = noise(3000, 81)
    assert.deepStrictEqual(firing(Detector.run(Drift.make(), xs).verdicts), [])
    for (let i = 2000; i < 3000; i++) xs[i] = xs[i]! + 5 * 1.5
    const fired = firing(Detector.run(Drift.make(), xs).verdicts)
    assert.isAtLeast(fired[0]!, 2000)
    assert.isBelow(fired[0]!, 2050)
  })

  it("fires on a change of spread with the same mean (which a mean detector misses)", () => {
    const xs = noise(2000, 82)
    for (let i = 1500; i < 2000; i++) xs[i] = 100 + (xs[i]! - 100) * 4
    const fired = firing(Detector.run(Drift.make(), xs).verdicts)
    assert.isAtLeast(fired[0]!, 1500)
    assert.isBelow(fired[0]!, 1560)
  })

  it("keeps both windows sorted and consistent with the arrival order", () => {
    const d = Drift.make({ reference: 7, window: 5, bins: 3 })
    const g = gaussian(83)
    let s = d.initial()
    const xs: Array<number> = []
    for (let i = 0; i < 60; i++) {
      const x = Math.round(g() * 2)
      xs.push(x)
      s = d.learn(s, x, i)
      const cur = xs.slice(-4).sort((a, b) => a - b)
      const ref = xs.slice(-11, -4).sort((a, b) => a - b)
      assert.deepStrictEqual([...s.cur.subarray(0, s.curLen)], cur)
      assert.deepStrictEqual([...s.ref.subarray(0, s.refLen)], ref)
    }
  })

  it("KS maps to the σ scale: identical samples score 0, disjoint ones very high", () => {
    const d = Drift.make({ reference: 50, window: 50 })
    let s = d.initial()
    for (let i = 0; i < 50; i++) s = d.learn(s, i, i)
    for (let i = 0; i < 49; i++) s = d.learn(s, 1000 + i, i)
    assert.isAbove(d.score(s, 2000, 0).score, 6)
    let t = d.initial()
    for (let i = 0; i < 99; i++) t = d.learn(t, i % 50, i)
    assert.strictEqual(d.score(t, 49, 0).score, 0)
    const flat = Detector.run(d, Array(300).fill(5)).verdicts
    assert.deepStrictEqual(firing(flat), [])
  })

  it("snapshot/restore mid-stream gives identical verdicts; params are validated", () => {
    const d = Drift.make({ reference: 40, window: 10 })
    const xs = noise(200, 84)
    for (let i = 150; i < 200; i++) xs[i] = xs[i]! + 20
    roundtrip(d, xs, 97)
    assert.throws(() => Drift.make({ bins: 1 }), /bins/)
    assert.throws(() => Drift.make({ window: 3 }), /window/)
  })
})
