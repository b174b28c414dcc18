import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { RateOfChange } from "@llm-sentinel/detectors"
import { Result } from "effect"

// mulberry32 + Box-Muller: deterministic noise
const gaussian = (seed: number) => {
  let a = seed >>> 0
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u())
}
const noise = (n: number, seed: number, mean = 100, sd = 5) => {
  const g = gaussian(seed)
  return Array.from({ length: n }, () => mean + sd * g())
}

const firing = (vs: ReadonlyArray<{ readonly anomalous: boolean }>) => vs.flatMap((v, i) => (v.anomalous ? [i] : []))
const roundtrip = <S>(d: Detector.Detector<S, number>, xs: ReadonlyArray<number>, cut: number) => {
  const first = Detector.run(d, xs.slice(0, cut))
  const restored = Result.getOrThrow(Detector.restore(d, Detector.snapshot(d, first.state)))
  const rest = Detector.run(d, xs.slice(cut), { state: restored, times: xs.slice(cut).map((_, i) => cut + i) })
  assert.deepStrictEqual([...first.verdicts, ...rest.verdicts], Detector.run(d, xs).verdicts)
}

describe("RateOfChange", () => {
  it("ignores a slow trend and fires on a sudden jump", () => {
    const xs = noise(1000, 61, 0, 1).map((x, i) => x + i * 0.5) // trend of 0.5 per point
    xs[800] = xs[800]! + 10
    const fired = firing(Detector.run(RateOfChange.make(), xs).verdicts)
    assert.deepStrictEqual(fired, [800])
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
