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

describe("Seasonal adapts to a lasting change, at any sampling interval", () => {
  // a daily cycle around 200 with noise σ 2; from day 4 12:00 on, 30% of the mean (60) higher for good
  const stepped = (stepMinutes: number) => {
    const g = gaussian(74)
    const times: Array<number> = []
    const values: Array<number> = []
    const start = Date.UTC(2026, 0, 5)
    const step = start + 4 * DAY + 12 * HOUR
    for (let t = start; t < start + 7 * DAY; t += stepMinutes * MINUTE) {
      times.push(t)
      const x = 200 + 50 * Math.sin((2 * Math.PI * (t % DAY)) / DAY) + 2 * g()
      values.push(t >= step ? x + 60 : x)
    }
    return { times, values, step }
  }
  for (const interval of [1, 5]) {
    it(`a permanent +30% step on ${interval}-minute data is reported, then quiet within a day (not at the same hours of the next days)`, () => {
      const { times, values, step } = stepped(interval)
      const { verdicts } = Detector.run(Seasonal.make(), values, { times })
      const fired = firing(verdicts).map((i) => times[i]!)
      assert.isTrue(
        fired.some((t) => t >= step && t < step + HOUR),
        "the step is reported at its start"
      )
      const late = fired.filter((t) => t >= step + 18 * HOUR)
      assert.deepStrictEqual(late, [], "quiet from 18 hours after the step on")
      // without bounded learning (anomalies skipped) it fires on and on, the next days too
      const never = Detector.run(Seasonal.make({ anomalies: "skip" }), values, { times }).verdicts
      assert.isAbove(firing(never).filter((i) => times[i]! >= step + DAY).length, 100)
    })
  }

  it("with period both, the hour of the week takes over from the hour of the day once two weeks are known", () => {
    const times: Array<number> = []
    const values: Array<number> = []
    const g = gaussian(75)
    // every 10 minutes: an hour-of-week bucket has its 5 points after one week
    for (let t = Date.UTC(2026, 0, 5); t < Date.UTC(2026, 0, 5) + 5 * 7 * DAY; t += 10 * MINUTE) {
      const weekend = new Date(t).getUTCDay() % 6 === 0
      times.push(t)
      values.push((weekend ? 20 : 100) + g())
    }
    const both = firing(Detector.run(Seasonal.make(), values, { times }).verdicts)
    // the first two weekends are new to it (hour-of-day buckets); once an hour of the week was seen in two weeks its
    // own bucket takes over, and from the third weekend on a weekend is normal (but for a few points where it begins and ends)
    const from = Date.UTC(2026, 0, 5) + 14 * DAY
    assert.isAbove(both.filter((i) => times[i]! < from).length, 50)
    assert.isBelow(both.filter((i) => times[i]! >= from).length, 10, String(both))
    assert.deepStrictEqual(Seasonal.make().params.period, "both")
  })
})
