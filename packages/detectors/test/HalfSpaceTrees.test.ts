import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { HalfSpaceTrees } from "@llm-sentinel/detectors"
import { gaussian, roundtrip } from "./fixtures.ts"

// [latency ms, tokens, cost, error]: latency follows tokens
const requests = (n: number, seed: number) => {
  const g = gaussian(seed)
  return Array.from({ length: n }, () => {
    const tokens = 300 + 30 * g()
    return [2 * tokens + 10 * g(), tokens, tokens * 1e-5, 0]
  })
}

describe("HalfSpaceTrees", () => {
  it("is mostly quiet on normal traffic and ranks points in empty regions above normal ones", () => {
    const xs = requests(3000, 101)
    const odd = [2500, 2700, 2800]
    xs[2500] = [2000, 300, 0.003, 0] // slow for its token count
    xs[2700] = [600, 300, 0.003, 1] // an error
    xs[2800] = [5000, 2000, 0.02, 0] // far out in every dimension
    // ranking, not adaptation: the odd points are not learned (by default they are, so a lasting change adapts)
    const { verdicts } = Detector.run(HalfSpaceTrees.make({ anomalies: "skip" }), xs)
    const normal = verdicts.filter((v, i) => v.ready && !odd.includes(i)).map((v) => v.score)
    const sorted = [...normal].sort((a, b) => a - b)
    const p99 = sorted[Math.floor(0.99 * sorted.length)]!
    for (const i of odd) assert.isAbove(verdicts[i]!.score, p99)
    assert.isBelow(normal.filter((x) => x >= 4).length, normal.length * 0.005)
    assert.isFalse(verdicts[519]!.ready) // two windows + 20 of warm-up
    assert.isTrue(verdicts[520]!.ready)
  })

  it("is deterministic given the seed, and the seed matters", () => {
    const xs = requests(800, 102)
    const a = Detector.run(HalfSpaceTrees.make({ seed: 7 }), xs).verdicts.map((v) => v.score)
    const b = Detector.run(HalfSpaceTrees.make({ seed: 7 }), xs).verdicts.map((v) => v.score)
    const c = Detector.run(HalfSpaceTrees.make({ seed: 8 }), xs).verdicts.map((v) => v.score)
    assert.deepStrictEqual(a, b)
    assert.notDeepEqual(a, c)
  })

  it("ignores vectors with non-finite entries or the wrong dimension; state stays bounded", () => {
    const d = HalfSpaceTrees.make({ window: 20, trees: 4, height: 4 })
    const { state } = Detector.run(d, requests(200, 103))
    const before = Detector.snapshot(d, state)
    assert.isFalse(d.accepts([1, Number.NaN]))
    assert.isFalse(d.score(state, [1, 2], 0).ready)
    assert.strictEqual(Detector.snapshot(d, d.learn(state, [1, 2], 0)), before)
    assert.strictEqual(Detector.snapshot(d, d.learn(state, [1, 2, Number.POSITIVE_INFINITY, 3], 0)), before)
    const long = Detector.snapshot(d, Detector.run(d, requests(2000, 104)).state).length
    const longer = Detector.snapshot(d, Detector.run(d, requests(8000, 104)).state).length
    assert.isBelow(longer, long * 1.1)
  })

  it("snapshot/restore mid-stream gives identical verdicts; params are validated", () => {
    const d = HalfSpaceTrees.make({ window: 40 })
    const xs = requests(400, 105)
    xs[300] = [5000, 10, 0, 1]
    roundtrip(d, xs, 170, { resume: HalfSpaceTrees.make({ window: 40 }) })
    assert.throws(() => HalfSpaceTrees.make({ height: 20 }), /height/)
    assert.throws(() => HalfSpaceTrees.make({ seed: 1.5 }), /seed/)
  })
})
