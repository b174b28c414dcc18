import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { RateOfChange } from "@llm-sentinel/detectors"
import { firing, noise, roundtrip } from "./fixtures.ts"

describe("RateOfChange", () => {
  it("ignores a slow trend and fires on a sudden jump", () => {
    const xs = noise(1000, 61, 0, 1).map((x, i) => x + i * 0.5) // trend of 0.5 per point
    xs[800] = xs[800]! + 10
    const fired = firing(Detector.run(RateOfChange.make(), xs).verdicts)
    // the jump only: the return from the spike is judged from the last normal point, not as a second anomaly
    assert.deepStrictEqual(fired, [800])
    // a two-point spike: its start fires; its second point is level with the first; its end is a return
    const twice = noise(1000, 61, 0, 1).map((x, i) => x + i * 0.5 + (i === 800 || i === 801 ? 10 : 0))
    assert.deepStrictEqual(firing(Detector.run(RateOfChange.make(), twice).verdicts), [800])
    // a lasting step fires once, at its start: from the next point on it is the new level
    const step = noise(1000, 61, 0, 1).map((x, i) => x + (i >= 800 ? 10 : 0))
    assert.deepStrictEqual(firing(Detector.run(RateOfChange.make(), step).verdicts), [800])
  })

  it("measures changes per time unit with perTime", () => {
    const d = RateOfChange.make({ perTime: true, minSamples: 5 })
    let s = d.initial()
    // 1 per time unit, sampled at irregular times
    const times = [0, 1, 3, 4, 7, 8, 10, 13, 14, 16]
    for (const t of times) s = d.learn(s, t + 0.01 * Math.sin(t), t)
    assert.closeTo(s.mean, 1, 0.05)
    assert.isBelow(d.score(s, 16 + 5, 21).score, 4) // on trend after a gap of 5
    assert.isAbove(d.score(s, 16 + 5, 17).score, 4) // the same value one unit later is a jump
  })

  it("is safe on flat series and non-finite input; snapshot/restore is exact; params are validated", () => {
    const flat = Detector.run(RateOfChange.make({ minSamples: 5 }), [...Array(20).fill(2), 2, 3]).verdicts
    assert.isFalse(flat[20]!.anomalous)
    assert.isTrue(flat[21]!.anomalous && Number.isFinite(flat[21]!.score))
    const d = RateOfChange.make()
    assert.isFalse(d.score(d.initial(), Number.POSITIVE_INFINITY, 0).ready)
    const xs = noise(300, 62)
    xs[250] = 300
    roundtrip(d, xs, 101)
    assert.throws(() => RateOfChange.make({ alpha: 2 }), /alpha/)
  })
})
