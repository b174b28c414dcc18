import { assert, describe, it } from "@effect/vitest"
import { Detector } from "@llm-sentinel/core"
import { Seasonal } from "@llm-sentinel/detectors"
import { firing, gaussian, roundtrip } from "./fixtures.ts"

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
    roundtrip(Seasonal.make(), values, 500, { times, resume: Seasonal.make() })
    // biome-ignore lint/suspicious/noExplicitAny: invalid config from untyped input
    assert.throws(() => Seasonal.make({ period: "month" as any }), /period/)
  })
})

const HOUR = 3_600_000
