import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { PageHinkley } from "@llm-sentinel/detectors"
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

  it("restarts after a learned signal and warms up again", () => {
    const d = PageHinkley.make({ minSamples: 10, learnAnomalies: true })
    let s = d.initial()
    for (const x of noise(100, 52)) s = d.learn(s, x, 0)
    for (const x of noise(20, 53, 200)) s = d.learn(s, x, 0)
    assert.strictEqual(s.n, 20) // restarted on the first point of the new regime
    assert.isAbove(s.mean, 190)
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
