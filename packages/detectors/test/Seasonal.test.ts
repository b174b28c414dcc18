import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { Seasonal } from "@llm-sentinel/detectors"
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
const _noise = (n: number, seed: number, mean = 100, sd = 5) => {
  const g = gaussian(seed)
  return Array.from({ length: n }, () => mean + sd * g())
}

const firing = (vs: ReadonlyArray<{ readonly anomalous: boolean }>) => vs.flatMap((v, i) => (v.anomalous ? [i] : []))
const _roundtrip = <S>(d: Detector.Detector<S, number>, xs: ReadonlyArray<number>, cut: number) => {
  const first = Detector.run(d, xs.slice(0, cut))
  const restored = Result.getOrThrow(Detector.restore(d, Detector.snapshot(d, first.state)))
  const rest = Detector.run(d, xs.slice(cut), { state: restored, times: xs.slice(cut).map((_, i) => cut + i) })
  assert.deepStrictEqual([...first.verdicts, ...rest.verdicts], Detector.run(d, xs).verdicts)
}

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE

// a daily sine (amplitude 50 around 200) with noise σ 2, one point every 10 minutes
const daily = (days: number, seed: number) => {
  const g = gaussian(seed)
  const times: Array<number> = []
  const values: Array<number> = []
  for (let t = Date.UTC(2026, 0, 5); t < Date.UTC(2026, 0, 5) + days * DAY; t += 10 * MINUTE) {
    times.push(t)
    values.push(200 + 50 * Math.sin((2 * Math.PI * (t % DAY)) / DAY) + 2 * g())
  }
  return { times, values }
}

describe("Seasonal", () => {
  it("does not fire on a repeated daily cycle but fires on an off-cycle spike", () => {
    const { times, values } = daily(21, 71)
    // the daily peak value (250, at 06:00 UTC) at the daily trough (18:00 UTC) on day 18
    const at = times.indexOf(Date.UTC(2026, 0, 23, 18, 0))
    values[at] = 250
    const { verdicts } = Detector.run(Seasonal.make(), values, { times })
    assert.deepStrictEqual(firing(verdicts), [at])
    // a z-score on the same series would see 250 as ordinary
    assert.isTrue(verdicts[at]!.expected < 160)
  })

  it("buckets by UTC hour of day and hour of week", () => {
    assert.strictEqual(Seasonal.bucketOf(Date.UTC(2026, 0, 5, 13, 59), "day"), 13)
    assert.strictEqual(Seasonal.bucketOf(Date.UTC(2026, 0, 5, 0, 0), "week"), 0) // a Monday
    assert.strictEqual(Seasonal.bucketOf(Date.UTC(2026, 0, 11, 23, 0), "week"), 167) // a Sunday
    assert.strictEqual(Seasonal.bucketOf(-1, "day"), 23)
  })

  it("a weekly period separates weekdays from weekends", () => {
    const times: Array<number> = []
    const values: Array<number> = []
    const g = gaussian(72)
    for (let t = Date.UTC(2026, 0, 5); t < Date.UTC(2026, 0, 5) + 8 * 7 * DAY; t += 30 * MINUTE) {
      const weekend = new Date(t).getUTCDay() % 6 === 0
      times.push(t)
      values.push((weekend ? 20 : 100) + g())
    }
    assert.deepStrictEqual(firing(Detector.run(Seasonal.make({ period: "week" }), values, { times }).verdicts), [])
    const daily = firing(Detector.run(Seasonal.make({ alpha: 0.3 }), values, { times }).verdicts)
    assert.isAbove(daily.length, 0) // an hour-of-day baseline sees every weekend as anomalous
  })

  it("is not ready until the bucket has enough points; snapshot/restore is exact; params are validated", () => {
    const d = Seasonal.make({ minSamples: 1, bucketMinSamples: 3 })
    let s = d.initial()
    s = d.learn(s, 10, 0)
    s = d.learn(s, 11, DAY)
    assert.isFalse(d.score(s, 50, 2 * DAY).ready)
    assert.isFalse(d.score(s, 50, 3 * HOUR).ready)
    s = d.learn(s, 12, 2 * DAY)
    assert.isTrue(d.score(s, 50, 3 * DAY).ready)
    assert.strictEqual(d.score(s, Number.NaN, 0).score, 0)
    const { times, values } = daily(8, 73)
    const first = Detector.run(Seasonal.make(), values.slice(0, 500), { times: times.slice(0, 500) })
    const restored = Result.getOrThrow(
      Detector.restore(Seasonal.make(), Detector.snapshot(Seasonal.make(), first.state))
    )
    const rest = Detector.run(Seasonal.make(), values.slice(500), { times: times.slice(500), state: restored })
    const whole = Detector.run(Seasonal.make(), values, { times })
    assert.deepStrictEqual([...first.verdicts, ...rest.verdicts], whole.verdicts)
    // biome-ignore lint/suspicious/noExplicitAny: invalid config from untyped input
    assert.throws(() => Seasonal.make({ period: "month" as any }), /period/)
  })
})

const HOUR = 3_600_000
