import { Buffer } from "node:buffer"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import { Detector, Series, Verdict } from "../src/index.ts"
import { gaussian, prng, welford } from "./fixtures.ts"

const noise = (n: number, seed = 3) => {
  const g = gaussian(prng(seed))
  return Array.from({ length: n }, () => 100 + 5 * g())
}

describe("Detector contract", () => {
  it("step ignores non-finite input without touching the state", () => {
    const step = Detector.step(welford)
    const s0 = Detector.run(welford, noise(20)).state
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const [s1, v] = step(s0, bad, 0)
      assert.strictEqual(s1, s0)
      assert.strictEqual(v.anomalous, false)
      assert.strictEqual(v.ready, false)
    }
  })

  it("does not learn points judged anomalous unless told to", () => {
    const values = [...noise(50), 1000]
    const quiet = Detector.run(welford, values)
    assert.ok(quiet.verdicts.at(-1)!.anomalous)
    assert.strictEqual(quiet.state.n, 50)
    const learning = Detector.run(Detector.make({ ...welford, learnAnomalies: true }), values)
    assert.strictEqual(learning.state.n, 51)
  })

  it("learns a point judged anomalous clipped to its band with adapt: clip, or through a custom bounded update", () => {
    const values = [...noise(50), 1000]
    const clip = Detector.make({ ...welford, adapt: "clip" })
    const { state, verdicts } = Detector.run(clip, values)
    const last = verdicts.at(-1)!
    assert.ok(last.anomalous)
    assert.strictEqual(state.n, 51)
    // the learned value was the band's upper edge, not 1000
    const before = Detector.run(welford, values.slice(0, 50)).state
    const expected = welford.learn(before, last.upper, 0)
    assert.closeTo(state.mean, expected.mean, 1e-9)
    assert.strictEqual(Detector.clipToBand(1000, last), last.upper)
    assert.strictEqual(Detector.clipToBand(1000, { ...last, lower: Number.NaN }), undefined)
    // a custom rule gets the assessment; "skip" and learnAnomalies: true override it as documented
    const seen: Array<number> = []
    const custom = Detector.make({
      ...welford,
      adapt: (s, _x, _t, a) => {
        seen.push(a.score)
        return s
      }
    })
    assert.strictEqual(Detector.run(custom, values).state.n, 50)
    assert.strictEqual(seen.length, 1)
    assert.isAbove(seen[0]!, 4)
    assert.strictEqual(Detector.make({ ...welford, adapt: "skip" }).learnAnomaly, undefined)
    assert.strictEqual(Detector.make({ ...welford, adapt: "clip", learnAnomalies: true }).learnAnomaly, undefined)
  })

  it("snapshot and restore continue with identical verdicts", () => {
    const values = noise(200)
    const whole = Detector.run(welford, values).verdicts
    const first = Detector.run(welford, values.slice(0, 77))
    const restored = Result.getOrThrow(Detector.restore(welford, Detector.snapshot(welford, first.state)))
    const rest = Detector.run(welford, values.slice(77), {
      state: restored,
      times: values.slice(77).map((_, i) => i + 77)
    })
    assert.deepStrictEqual([...first.verdicts, ...rest.verdicts], whole)
    assert.ok(Result.isFailure(Detector.restore(welford, '{"n":"x"}')))
    assert.ok(Result.isFailure(Detector.restore(welford, "not json")))
  })

  it("Float64ArrayState encodes base64 of little-endian bytes, exact, and still decodes number arrays", () => {
    const d = Detector.make({
      name: "ring",
      minSamples: 0,
      state: Detector.Float64ArrayState,
      initial: () => new Float64Array([1, Number.NaN, 0.1, Number.NEGATIVE_INFINITY]),
      score: () => ({ score: 0, expected: 0, lower: 0, upper: 0, ready: true }),
      learn: (s) => s
    })
    const json = Detector.snapshot(d, d.initial())
    const bytes = Buffer.alloc(32)
    for (const [i, x] of [1, Number.NaN, 0.1, Number.NEGATIVE_INFINITY].entries()) bytes.writeDoubleLE(x, i * 8)
    assert.strictEqual(json, JSON.stringify(bytes.toString("base64")))
    const back = Result.getOrThrow(Detector.restore(d, json))
    assert.ok(back instanceof Float64Array)
    assert.deepStrictEqual(Array.from(back), [1, Number.NaN, 0.1, Number.NEGATIVE_INFINITY])
    // a snapshot of an earlier version: numbers, null for non-finite entries
    assert.deepStrictEqual(Array.from(Result.getOrThrow(Detector.restore(d, "[1, null, 3]"))), [1, Number.NaN, 3])
    // 12 bytes are not whole float64 entries; "*" is not base64 (Buffer.from would skip it silently)
    assert.ok(Result.isFailure(Detector.restore(d, JSON.stringify(Buffer.alloc(12).toString("base64")))))
    assert.ok(Result.isFailure(Detector.restore(d, '"AAAAAAAA*AAAAAAA"')))
    assert.ok(Result.isFailure(Detector.restore(d, '[1, "x"]')))
  })

  it("Float32ArrayState roundtrips exactly, reads legacy arrays to float precision, rejects what it cannot hold", () => {
    const d = Detector.make({
      name: "bins",
      minSamples: 0,
      state: Detector.Float32ArrayState,
      initial: () => Float32Array.of(0.1, Number.NaN, 3, -1e30, Number.POSITIVE_INFINITY),
      score: () => ({ score: 0, expected: 0, lower: 0, upper: 0, ready: true }),
      learn: (s) => s
    })
    const json = Detector.snapshot(d, d.initial())
    assert.strictEqual(json, JSON.stringify(Buffer.from(d.initial().buffer).toString("base64")))
    const back = Result.getOrThrow(Detector.restore(d, json))
    assert.ok(back instanceof Float32Array)
    assert.deepStrictEqual(Array.from(back), Array.from(d.initial()))
    // legacy arrays: a float64 value is rounded to the nearest float32, null is NaN
    assert.deepStrictEqual(Array.from(Result.getOrThrow(Detector.restore(d, "[0.1, 2, null]"))), [
      Math.fround(0.1),
      2,
      Number.NaN
    ])
    // beyond ±3.4e38 a float32 would be ±Infinity: a Schema error, not a silently broken state
    assert.ok(Result.isFailure(Detector.restore(d, "[1, 1e39]")))
    assert.ok(Result.isFailure(Detector.restore(d, "[1, -1e300]")))
    assert.ok(Result.isFailure(Detector.restore(d, '[1, "x"]')))
    // 6 bytes are not whole float32 entries
    assert.ok(Result.isFailure(Detector.restore(d, '"AAAAAAAA"')))
    assert.ok(Result.isFailure(Detector.restore(d, "42")))
  })

  it.effect("the detect operator keeps per-series state and equals the one-shot run", () =>
    Effect.gen(function* () {
      const a = Series.makeKey("a", "m", "latency")
      const b = Series.makeKey("b", "m", "latency")
      const va = [...noise(40, 1), 500]
      const vb = noise(41, 2)
      const points = va.flatMap((v, i) => [
        { key: a, time: i, value: v },
        { key: b, time: i, value: vb[i]! }
      ])
      const scored = yield* Stream.fromIterable(points).pipe(
        Stream.rechunk(7),
        Detector.detect({ detectors: [welford], decide: Verdict.threshold() }),
        Stream.runCollect
      )
      const ofA = scored.filter((s) => s.point.key === a).map((s) => s.verdict)
      assert.deepStrictEqual(ofA, Detector.run(welford, va).verdicts)
      assert.deepStrictEqual(
        scored.filter((s) => s.verdict.anomalous).map((s) => [s.point.key.service, s.point.time]),
        [["a", 40]]
      )
    })
  )
})
