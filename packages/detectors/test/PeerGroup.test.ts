import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { PeerGroup } from "@llm-sentinel/detectors"
import { firing, gaussian } from "./fixtures.ts"

describe("PeerGroup", () => {
  it("flags the replica that departs from its peers, not a shared shift", () => {
    const g = gaussian(91)
    const d = PeerGroup.make()
    const inputs = Array.from({ length: 500 }, (_, t) => {
      const level = 200 + (t >= 300 ? 100 : 0) // every replica shifts together at t = 300
      const peers = Array.from({ length: 10 }, () => level + 5 * g())
      return { value: level + 5 * g() + (t === 400 ? 60 : 0), peers }
    })
    const { verdicts } = Detector.run(d, inputs)
    assert.deepStrictEqual(firing(verdicts), [400])
  })

  it("handles equal peers (MAD 0) and too few peers without dividing by zero", () => {
    const d = PeerGroup.make()
    const s = d.initial()
    assert.strictEqual(d.score(s, { value: 5, peers: [5, 5, 5, 5] }, 0).score, 0)
    const jump = d.score(s, { value: 6, peers: [5, 5, 5, 5] }, 0)
    assert.isTrue(jump.ready && Number.isFinite(jump.score) && jump.score >= 4)
    const zero = d.score(s, { value: 1, peers: [0, 0, 0] }, 0)
    assert.isTrue(Number.isFinite(zero.score) && zero.score > 4)
    assert.isFalse(d.score(s, { value: 1, peers: [0, Number.NaN] }, 0).ready)
    assert.isFalse(d.score(s, { value: Number.NaN, peers: [1, 2, 3] }, 0).ready)
    assert.isFalse(d.accepts({ value: Number.POSITIVE_INFINITY, peers: [] }))
  })

  it("outliers scores a whole group at once", () => {
    const r = PeerGroup.outliers([101, 99, 100, 102, 98, 180, Number.NaN])
    assert.strictEqual(r.median, 100.5)
    assert.deepStrictEqual(r.outliers, [5])
    assert.strictEqual(r.scores[6], 0)
    assert.closeTo(r.scores[5]!, 79.5 / r.scale, 1e-12)
    assert.deepStrictEqual(PeerGroup.outliers([]).outliers, [])
    assert.deepStrictEqual(PeerGroup.outliers([1, 1, 1, 2], { threshold: 1000 }).outliers, [])
  })

  it("rejects invalid params with the field path", () => {
    assert.throws(() => PeerGroup.make({ minPeers: 0 }), /minPeers/)
  })
})
