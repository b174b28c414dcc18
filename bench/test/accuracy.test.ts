import { assert, describe, it } from "@effect/vitest"
import { DAY, MINUTE, scenarios, T0 } from "../src/scenarios.ts"

describe("bench scenarios", () => {
  const a = scenarios(7)
  const b = scenarios(7)

  it("the same seed gives the same data; another seed does not", () => {
    assert.strictEqual(a.length, b.length)
    for (let s = 0; s < a.length; s++) {
      assert.deepStrictEqual(a[s]!.values, b[s]!.values, a[s]!.name)
      assert.deepStrictEqual(a[s]!.incidents, b[s]!.incidents, a[s]!.name)
      assert.deepStrictEqual(a[s]!.peers, b[s]!.peers, a[s]!.name)
    }
    const c = scenarios(8)
    assert.notDeepEqual(a[0]!.values, c[0]!.values)
  })

  for (const s of scenarios(7)) {
    it(`${s.name}: labels are exactly where the incidents were injected`, () => {
      assert.strictEqual(s.values.length, s.days * DAY)
      assert.isTrue(s.values.every(Number.isFinite))
      const inside = (t: number) =>
        s.incidents.some((w) => w.start <= t && t <= w.end) ||
        (s.unlabelled ?? []).some((w) => w.start <= t && t <= w.end)
      const touched = new Set<number>()
      for (let i = 0; i < s.values.length; i++) {
        assert.strictEqual(s.times[i], T0 + i * MINUTE)
        if (s.values[i] !== s.clean[i]) {
          assert.isTrue(inside(s.times[i]!), `${s.name}: injected point ${i} outside every label`)
          touched.add(i)
        }
      }
      for (const w of s.incidents) {
        assert.isAtLeast(w.start, T0 + DAY * MINUTE, "the first day is incident-free")
        const from = (w.start - T0) / MINUTE
        const to = (w.end - T0) / MINUTE
        let hit = 0
        for (let i = from; i <= to; i++) if (touched.has(i)) hit++
        assert.isAbove(hit / (to - from + 1), 0.9, `${s.name}: incident at ${from} mostly injected`)
      }
      if (s.name.startsWith("noise")) assert.strictEqual(s.incidents.length, 0)
      else assert.isAbove(s.incidents.length, 0)
    })
  }
})
