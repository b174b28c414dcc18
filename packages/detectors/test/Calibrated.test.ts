import { assert, describe, it } from "@effect/vitest"
import { Detector, Verdict } from "@llm-sentinel/core"
import { Calibrated, Mad } from "@llm-sentinel/detectors"
import { firing, noise, roundtrip } from "./fixtures.ts"

const decide = Verdict.threshold({ warning: 4, critical: 6 })

// noise, a 25-point +8σ trap (an episode the series recovers from), noise, then a +8σ incident
const trapThenIncident = (): Array<number> => {
  const xs = noise(3000, 61)
  for (let i = 1500; i < 1525; i++) xs[i] = xs[i]! + 5 * 8
  for (let i = 2500; i < 2510; i++) xs[i] = xs[i]! + 5 * 8
  return xs
}

describe("Calibrated", () => {
  it("declusters: a sustained anomaly is learned as one episode, so the next one is still rare", () => {
    const xs = trapThenIncident()
    const make = (clusterLength: number) =>
      Calibrated.make({ detector: Mad.make({ window: 64 }), memory: 3000, tail: 0.05, clusterLength })
    const declustered = firing(Detector.run(make(30), xs, { decide }).verdicts)
    assert.include(declustered, 1500)
    assert.isTrue(
      declustered.some((i) => i >= 2500 && i < 2510),
      `declustered fired at ${declustered.filter((i) => i > 1600)}`
    )
    // every point of the trap learned one by one: the trap taught the series that such scores are more usual
    const peak = (clusterLength: number) =>
      Math.max(
        ...Detector.run(make(clusterLength), xs, { decide })
          .verdicts.slice(2500, 2510)
          .map((v) => v.score)
      )
    assert.isAbove(peak(30), peak(1) + 0.3)
  })

  it("learns a run once, at its maximum, when it ends", () => {
    const d = Calibrated.make({ detector: Mad.make({ window: 64 }), memory: 3000, tail: 0.05 })
    const xs = noise(500, 62)
    let s = Detector.run(d, xs, { decide }).state
    const seen = s.seen
    const step = Detector.step(d, decide)
    for (let i = 0; i < 10; i++) s = step(s, 100 + 5 * (10 + i), i)[0]
    assert.strictEqual(s.seen, seen) // in the run: nothing learned yet
    assert.isAbove(s.runLength, 0)
    s = step(s, 100, 10)[0]
    assert.strictEqual(s.seen, seen + 2) // the run's maximum, then the point that ended it
    assert.strictEqual(s.runLength, 0)
    roundtrip(d, trapThenIncident(), 1510)
    assert.throws(() => Calibrated.make({ clusterLength: 0 }), /clusterLength/)
  })
})
