import { assert, describe, it } from "@effect/vitest"
import { Detector, Verdict } from "@llm-sentinel/core"
import { ZScore } from "@llm-sentinel/detectors"
import { firing, noise, roundtrip } from "./fixtures.ts"

describe("ZScore", () => {
  it("is quiet on gaussian noise and fires on a spike after warm-up", () => {
    const xs = noise(2000, 1)
    xs[1500] = 100 + 5 * 8
    const { verdicts } = Detector.run(ZScore.make(), xs)
    const fired = firing(verdicts)
    assert.deepStrictEqual(fired, [1500])
    assert.isAbove(verdicts[1500]!.score, 6)
    assert.strictEqual(verdicts[1500]!.severity, "critical")
    assert.match(verdicts[1500]!.reason, /above mean/)
  })

  it("does not fire during warm-up", () => {
    const { verdicts } = Detector.run(ZScore.make({ minSamples: 30 }), [...noise(10, 2), 1e6])
    assert.isFalse(verdicts[10]!.ready)
    assert.isFalse(verdicts[10]!.anomalous)
  })

  it("scores in σ units with bounds at the warning threshold", () => {
    const d = ZScore.make({ window: 4, minSamples: 2 })
    let s = d.initial()
    for (const x of [1, 2, 3, 4]) s = d.learn(s, x, 0)
    const sd = Math.sqrt(5 / 3)
    const a = d.score(s, 2.5 + 3 * sd, 0)
    assert.closeTo(a.score, 3, 1e-9)
    assert.closeTo(a.upper, 2.5 + 4 * sd, 1e-9)
    assert.closeTo(a.lower, 2.5 - 4 * sd, 1e-9)
    assert.strictEqual(a.expected, 2.5)
  })

  it("keeps a rolling window: old points are forgotten and sums do not drift", () => {
    const d = ZScore.make({ window: 8, minSamples: 2 })
    let s = d.initial()
    for (const x of noise(1000, 3, 1e6, 1)) s = d.learn(s, x, 0)
    for (let i = 0; i < 5; i++) for (const x of [1, 2, 3, 4, 5, 6, 7, 8]) s = d.learn(s, x, 0)
    for (const x of [1, 2, 3]) s = d.learn(s, x, 0)
    assert.closeTo(s.mean, 4.5, 1e-9)
    assert.closeTo(s.m2 / 7, 6, 1e-9)
  })

  it("a constant series then a jump fires with a finite score", () => {
    const { verdicts } = Detector.run(ZScore.make({ window: 16, minSamples: 5 }), [...Array(20).fill(7), 7, 8])
    assert.strictEqual(verdicts[20]!.score, 0)
    assert.isFalse(verdicts[20]!.anomalous)
    assert.isTrue(verdicts[21]!.anomalous)
    assert.isTrue(Number.isFinite(verdicts[21]!.score))
  })

  it("is safe on non-finite input called directly", () => {
    const d = ZScore.make({ window: 4, minSamples: 2 })
    let s = d.initial()
    for (const x of [1, 2, 3]) s = d.learn(s, x, 0)
    const before = Detector.snapshot(d, s)
    assert.strictEqual(d.score(s, Number.NaN, 0).score, 0)
    assert.isFalse(d.score(s, Number.POSITIVE_INFINITY, 0).ready)
    s = d.learn(s, Number.NaN, 0)
    assert.strictEqual(Detector.snapshot(d, s), before)
  })

  it("snapshot/restore mid-stream gives identical verdicts", () => {
    const d = ZScore.make({ window: 32, minSamples: 10 })
    const xs = noise(300, 4)
    xs[250] = 200
    const whole = roundtrip(d, xs, 150)
    assert.isTrue(whole.verdicts[250]!.anomalous)
  })

  it("rejects invalid params with the field path", () => {
    assert.throws(() => ZScore.make({ window: 0 }), /window/)
    assert.throws(() => ZScore.make({ window: 2.5 }), /window/)
    // biome-ignore lint/suspicious/noExplicitAny: unknown keys come from untyped config
    assert.throws(() => ZScore.make({ windw: 10 } as any), /windw/)
  })

  it("is usable with a custom decider", () => {
    const d = ZScore.make({ window: 16, minSamples: 5 })
    const { verdicts } = Detector.run(d, [...noise(30, 5), 100 + 5 * 4.5], {
      decide: Verdict.threshold({ warning: 3, critical: 5 })
    })
    assert.strictEqual(verdicts[30]!.severity, "warning")
  })

  it("span: the window is a span of event time, the same day at 1-minute and at 5-minute data", () => {
    const day = 86_400_000
    for (const minutes of [1, 5]) {
      const step = minutes * 60_000
      const d = ZScore.make({ span: day })
      const times = Array.from({ length: 3 * (day / step) }, (_, i) => Date.UTC(2026, 0, 5) + i * step)
      // a daily cycle (amplitude 5σ) with noise: a window of a day holds the whole cycle
      const g = noise(times.length, 9, 0, 1)
      const values = times.map((t, i) => 100 + 5 * Math.sin((2 * Math.PI * (t % day)) / day) + g[i]!)
      const { state, verdicts } = Detector.run(d, values, { times })
      assert.strictEqual(state.ring.length, day / step)
      assert.deepStrictEqual(firing(verdicts), [], `${minutes}-minute data`)
    }
  })
})
