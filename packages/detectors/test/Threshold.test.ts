import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { Threshold } from "@llm-sentinel/detectors"
import { firing, roundtrip } from "./fixtures.ts"

describe("Threshold", () => {
  it("fires at and beyond the bounds, critical past the margin", () => {
    const d = Threshold.make({ upper: 500, lower: 10 })
    const vs = Detector.run(d, [100, 499, 500, 700, 750, 10, 5, 11]).verdicts
    assert.deepStrictEqual(firing(vs), [2, 3, 4, 5, 6])
    assert.strictEqual(vs[2]!.score, 4)
    assert.strictEqual(vs[4]!.severity, "critical") // default margin: half of 500
    assert.strictEqual(vs[3]!.severity, "warning")
    assert.strictEqual(vs[0]!.score, 0)
    assert.isTrue(vs[0]!.ready)
  })

  it("uses an explicit margin and handles a bound of 0", () => {
    const errors = Threshold.make({ upper: 0, margin: 2 })
    assert.strictEqual(errors.score(errors.initial(), 2, 0).score, 6)
    const zero = Threshold.make({ upper: 0 })
    assert.strictEqual(zero.score(zero.initial(), 1, 0).score, 6)
  })

  it("never fires without bounds; rejects lower >= upper with the field path", () => {
    const d = Threshold.make()
    assert.deepStrictEqual(firing(Detector.run(d, [1e9, -1e9, 0]).verdicts), [])
    assert.throws(() => Threshold.make({ lower: 5, upper: 1 }), /lower/)
    assert.throws(() => Threshold.make({ upper: Number.NaN }), /upper/)
    roundtrip(Threshold.make({ upper: 3, minSamples: 2 }), [1, 2, 5, 1, 4], 2)
  })
})
