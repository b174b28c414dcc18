import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { Ensemble, Ewma, Mad, Threshold, ZScore } from "@llm-sentinel/detectors"
import { firing, noise, roundtrip } from "./fixtures.ts"

describe("Ensemble", () => {
  it("max fires when any member fires; vote only when a majority does", () => {
    const members = [Threshold.make({ upper: 150 }), ZScore.make({ minSamples: 10 }), Mad.make({ minSamples: 10 })]
    const xs = noise(300, 111)
    xs[200] = 149 // ~10σ: the statistical members fire, the threshold does not
    const max = Detector.run(Ensemble.make({ members, combine: "max" }), xs).verdicts
    const vote = Detector.run(Ensemble.make({ members, combine: "vote" }), xs).verdicts
    assert.deepStrictEqual(firing(max), [200])
    assert.deepStrictEqual(firing(vote), [200])
    const strict = [Threshold.make({ upper: 90 }), ZScore.make({ minSamples: 10 }), Mad.make({ minSamples: 10 })]
    const maxStrict = firing(Detector.run(Ensemble.make({ members: strict, combine: "max" }), xs).verdicts)
    const voteStrict = firing(Detector.run(Ensemble.make({ members: strict, combine: "vote" }), xs).verdicts)
    assert.isAbove(maxStrict.length, 10) // the threshold alone fires on every point above 90
    assert.deepStrictEqual(voteStrict, [200])
  })

  it("weighted averages the scores of ready members", () => {
    const members = [Threshold.make({ upper: 10, margin: 5 }), Threshold.make({ upper: 20, margin: 5 })]
    const d = Ensemble.make({ members, combine: "weighted", weights: [3, 1] })
    const a = d.score(d.initial(), 15, 0)
    // member scores 6 and 0
    assert.closeTo(a.score, (3 * 6 + 1 * 0) / 4, 1e-12)
    assert.isTrue(a.ready)
  })

  it("state is the tuple of member states and roundtrips through a snapshot", () => {
    const d = Ensemble.make()
    const xs = noise(400, 112)
    xs[300] = 200
    roundtrip(d, xs, 150)
    const s = Detector.run(d, xs.slice(0, 40)).state
    assert.strictEqual(s.length, 3)
    assert.deepStrictEqual(JSON.parse(Detector.snapshot(d, s)).length, 3)
    assert.isTrue(Detector.run(d, xs).verdicts[300]!.anomalous)
  })

  it("is not ready until members are; rejects invalid params", () => {
    const d = Ensemble.make({
      members: [ZScore.make({ minSamples: 5 }), Ewma.make({ minSamples: 50 })],
      combine: "vote"
    })
    const { verdicts } = Detector.run(d, noise(60, 113))
    assert.isFalse(verdicts[4]!.ready)
    assert.isTrue(verdicts[10]!.ready) // one of two is a majority
    assert.throws(() => Ensemble.make({ members: [] }), /members/)
    assert.throws(() => Ensemble.make({ weights: [1, 2] }), /weights/)
    // biome-ignore lint/suspicious/noExplicitAny: invalid config from untyped input
    assert.throws(() => Ensemble.make({ combine: "mean" as any }), /combine/)
  })
})
