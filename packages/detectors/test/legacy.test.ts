// Checkpoints written before the compact detector states (float64 arrays, a sorted copy of the window, three
// seasonal arrays, histograms renormalised beyond 1e100) still restore: the detectors resume where the old code
// was and give its scores (to the bit where the state is still float64, to float precision where it is float32).
import { Buffer } from "node:buffer"
import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { Calibrated, Iqr, Mad, Seasonal } from "@llm-sentinel/detectors"
import { Result } from "effect"
import { firing, legacySeries } from "./fixtures.ts"

interface Legacy {
  readonly snapshot: string
  readonly scores: ReadonlyArray<number>
  readonly anomalous: ReadonlyArray<number>
}
const legacy: Record<string, Legacy> = JSON.parse(
  readFileSync(new URL("./legacy-snapshots.json", import.meta.url), "utf8")
)

const resumes = (
  name: string,
  d: Detector.Detector<unknown, number>,
  n: number,
  cut: number,
  tolerance: number
): unknown => {
  const { snapshot, scores, anomalous } = legacy[name]!
  const { values, times } = legacySeries(n)
  const state = Result.getOrThrow(Detector.restore(d, snapshot))
  const rest = Detector.run(d, values.slice(cut), { state, times: times.slice(cut) })
  assert.deepStrictEqual(firing(rest.verdicts), [...anomalous])
  rest.verdicts.forEach((v, i) => {
    const old = scores[i]!
    if (tolerance === 0) assert.strictEqual(v.score, old, `point ${cut + i}`)
    else assert.closeTo(v.score, old, tolerance * Math.max(1, Math.abs(old)), `point ${cut + i}`)
  })
  // and the restored state checkpoints in the new layout, which restores to the same state
  const again = Detector.snapshot(d, state)
  assert.strictEqual(Detector.snapshot(d, Result.getOrThrow(Detector.restore(d, again))), again)
  return state
}

describe("checkpoints of earlier versions", () => {
  it("Mad and Iqr: a window with a sorted copy of its values is ranked again, and scores to the bit", () => {
    resumes("mad", Mad.make({ window: 16, minSamples: 10 }) as Detector.Detector<unknown, number>, 400, 300, 0)
    resumes("iqr", Iqr.make({ window: 16, minSamples: 10 }) as Detector.Detector<unknown, number>, 400, 300, 0)
  })

  it("Seasonal: three float64 arrays of offsets from a level at 0 become float32 buckets around the level", () => {
    const day = Seasonal.make({ period: "day", minSamples: 20 })
    const s = resumes("seasonalDay", day as Detector.Detector<unknown, number>, 400, 300, 1e-6) as Seasonal.State
    // the offsets were ~1e6 (from a level at 0): they now hold the daily shape only
    for (let b = 0; b < 24; b++) assert.isBelow(Math.abs(s.buckets[3 * b]!), 100)
    resumes("seasonalBoth", Seasonal.make() as Detector.Detector<unknown, number>, 3000, 2900, 1e-6)
    // another period's checkpoint has another number of buckets: a Schema error, not a broken state
    assert.isTrue(Result.isFailure(Detector.restore(Seasonal.make(), legacy.seasonalDay!.snapshot)))
  })

  it("Calibrated: float64 bins are rounded to float32, renormalised first when they would not fit", () => {
    const inner = () => Mad.make({ window: 16, minSamples: 10 })
    resumes(
      "calibratedMad",
      Calibrated.make({ detector: inner() }) as Detector.Detector<unknown, number>,
      400,
      300,
      1e-6
    )
    // memory 10: the old weight reached 9e43 and bins 2.5e44, beyond the float32 range (3.4e38)
    const heavy = Calibrated.make({ detector: inner(), memory: 10 })
    const restored = Result.getOrThrow(Detector.restore(heavy, legacy.calibratedHeavyWeight!.snapshot))
    assert.strictEqual(restored.weight, 1)
    resumes("calibratedHeavyWeight", heavy as Detector.Detector<unknown, number>, 3300, 3200, 1e-6)
  })

  it("Calibrated: bins are written as base64 of float32 (as held); base64 of float64 bins restores too", () => {
    const d = Calibrated.make({ detector: Mad.make({ window: 16, minSamples: 10 }) })
    const { values, times } = legacySeries(300)
    const { state } = Detector.run(d, values, { times })
    const json = JSON.parse(Detector.snapshot(d, state))
    assert.strictEqual(json.bins, Buffer.from(state.bins.buffer, state.bins.byteOffset, 96 * 4).toString("base64"))
    const wide = JSON.stringify({ ...json, bins: Buffer.from(Float64Array.from(state.bins).buffer).toString("base64") })
    const back = Result.getOrThrow(Detector.restore(d, wide))
    assert.ok(back.bins instanceof Float32Array)
    assert.deepStrictEqual(Array.from(back.bins), Array.from(state.bins))
    // 10 float32 bins are not 96 in either width
    const short = JSON.stringify({ ...json, bins: Buffer.alloc(40).toString("base64") })
    assert.isTrue(Result.isFailure(Detector.restore(d, short)))
  })

  it("a window whose slots are not a ranking of its values fails to decode", () => {
    const d = Mad.make({ window: 4, minSamples: 3 })
    const base = { count: 3, pos: 3, n: 3, last: 2, quantum: 1 }
    const ok = { ...base, ring: [3, 1, 2, 0], order: [1, 2, 0] }
    assert.isTrue(Result.isSuccess(Detector.restore(d, JSON.stringify(ok))))
    for (const order of [
      [0, 1, 2],
      [1, 2],
      [1, 1, 0],
      [1, 2, 3]
    ])
      assert.isTrue(Result.isFailure(Detector.restore(d, JSON.stringify({ ...ok, order }))), `order ${order}`)
    assert.isTrue(Result.isFailure(Detector.restore(d, JSON.stringify({ ...ok, pos: 1 }))))
    // equal values stay in arrival order, so the oldest is evicted from the front of its equals
    const ties = { ...base, ring: [5, 5, 5, 0], order: [1, 0, 2] }
    assert.isTrue(Result.isFailure(Detector.restore(d, JSON.stringify(ties))))
  })
})
