import { assert, describe, it } from "@effect/vitest"
import { Detector, Peers, Series, Verdict } from "@llm-sentinel/core"
import { Defaults } from "@llm-sentinel/detectors"
import { gaussian } from "./fixtures.ts"

const MINUTE = 60_000
const T0 = Date.UTC(2026, 0, 5)

describe("Defaults", () => {
  it("is one value: the detectors come with the deciding step they were chosen with", () => {
    const { detectors, decide } = Defaults.config.detectOptions()
    assert.strictEqual(decide, Defaults.config.decide)
    assert.deepStrictEqual(Defaults.config.thresholds, Defaults.defaultThresholds)
    assert.strictEqual(Defaults.decide, Defaults.config.decide)
    const key = Series.makeKey("chat", "gpt-4o", "latency.p95")
    const chosen = typeof detectors === "function" ? detectors(key) : detectors
    assert.deepStrictEqual(
      chosen.map((d) => d.name),
      Defaults.config.detectors().map((d) => d.name)
    )
    // a configuration with other thresholds is a new value, the shipped one is untouched
    const strict = Defaults.configure({ thresholds: { warning: 5, critical: 7 } })
    assert.deepStrictEqual(strict.thresholds, { warning: 5, critical: 7 })
    assert.deepStrictEqual(Defaults.config.thresholds, Defaults.defaultThresholds)
  })

  it("gives each metric its minimum meaningful change: latency under 5% or 20 ms never fires", () => {
    assert.deepStrictEqual(Defaults.minimumFor(Defaults.minimumChanges, "latency.p95"), {
      minChange: 20,
      minRelativeChange: 0.05
    })
    assert.deepStrictEqual(Defaults.minimumFor(Defaults.minimumChanges, "error.rate"), { minChange: 0.05 })
    assert.deepStrictEqual(Defaults.minimumFor(Defaults.minimumChanges, "metrics.score"), {})
    assert.deepStrictEqual(Defaults.minimumFor(Defaults.minimumChanges, "latencyish"), {})
    // a very steady latency (σ 0.5 ms around 400 ms): +15 ms is under both minimums and is not an anomaly
    const g = gaussian(81)
    const values = Array.from({ length: 3000 }, () => 400 + 0.5 * g())
    values[2500] = 415
    const times = values.map((_, i) => T0 + i * MINUTE)
    const run = (metric: string) => {
      const fn = Detector.makeDetectFn(Defaults.config.detectOptions())
      const key = Series.makeKey("chat", "gpt-4o", metric)
      return fn.apply(values.map((value, i) => ({ key, time: times[i]!, value }))).filter((s) => s.verdict.anomalous)
    }
    assert.deepStrictEqual(
      run("latency.p95").map((s) => s.point.time),
      []
    )
    // the same series as an unknown metric has no minimum: the 30σ jump is found
    assert.include(
      run("metrics.custom").map((s) => s.point.time),
      times[2500]
    )
  })

  it("error rate: one error in a quiet minute is not an incident, a burst is", () => {
    // two steady hours of ~50 calls a minute with one error now and then, then a burst of 20% errors
    const g = gaussian(82)
    let seed = 5
    const rnd = () => (seed = (seed * 48271) % 2147483647) / 2147483647
    const values: Array<number> = []
    for (let i = 0; i < 600; i++) {
      const calls = Math.max(20, Math.round(50 + 5 * g()))
      values.push(rnd() < 0.05 ? 1 / calls : 0)
    }
    for (let i = 0; i < 10; i++) values.push(0.2 + 0.02 * g())
    const key = Series.makeKey("chat", "gpt-4o", "error.rate")
    const fn = Detector.makeDetectFn(Defaults.config.detectOptions())
    const fired = fn
      .apply(values.map((value, i) => ({ key, time: T0 + i * MINUTE, value })))
      .filter((s) => s.verdict.anomalous)
      .map((s) => (s.point.time - T0) / MINUTE)
    assert.isTrue(
      fired.every((i) => i >= 600),
      `fired at ${fired.filter((i) => i < 600)}`
    )
    assert.isAbove(fired.length, 0)
  })

  it("the default thresholds are what Verdict.threshold gets from the config", () => {
    const between = { score: 4.1, expected: 0, lower: -1, upper: 1, ready: true }
    assert.isFalse(Defaults.config.decide(between, 10).anomalous)
    assert.isTrue(Verdict.threshold()(between, 10).anomalous) // the library default (4) would fire: use the config
    assert.isTrue(Defaults.config.decide({ ...between, score: 4.4 }, 10).anomalous)
  })

  it("peer options: one service's model degrading is found, a slowdown every service shares is not", () => {
    const g = gaussian(83)
    const fn = Peers.makePeerFn({ ...Defaults.config.peerOptions(), maxAgeMs: MINUTE })
    const services = ["chat", "search", "summarize", "translate", "rank"]
    const fired: Array<[string, number]> = []
    for (let i = 0; i < 600; i++) {
      // minutes 300–359: every service 70% slower (the provider); from 450: search alone 35% slower
      const shared = i >= 300 && i < 360 ? 1.7 : 1
      const points = services.map((service) => ({
        key: Series.makeKey(service, "gpt-4o", "latency.p95"),
        time: T0 + i * MINUTE,
        value: 800 * shared * (service === "search" && i >= 450 ? 1.35 : 1) * Math.exp(0.05 * g())
      }))
      for (const s of fn.apply(points)) if (s.verdict.anomalous) fired.push([s.point.key.service, i])
    }
    assert.isAbove(fired.length, 0)
    for (const [service, i] of fired) {
      assert.strictEqual(service, "search", `${service} at ${i}`)
      assert.isAtLeast(i, 450)
    }
  })
})

describe("Defaults: detectors are shared, not made per series", () => {
  it("returns the same instances for every series of a minimum change, and separate ones across minimums", () => {
    const config = Defaults.configure()
    const p95 = config.detectors("latency.p95")
    assert.strictEqual(config.detectors("latency.p50"), p95)
    assert.notStrictEqual(config.detectors("error.rate"), p95)
    const select = config.detectOptions().detectors
    assert.isFunction(select)
    if (typeof select !== "function") return
    const a = select(Series.makeKey("chat", "gpt-4o", "latency.p95"))
    const b = select(Series.makeKey("search", "gpt-4o-mini", "latency.p95"))
    assert.strictEqual(a, b)
    assert.strictEqual(config.peerOptions().detector(), config.peerOptions().detector())
  })

  it("shared instances keep series apart: two series through one detect function score as each alone", () => {
    const g7 = gaussian(7)
    const g8 = gaussian(8)
    const values = Array.from({ length: 400 }, (_, i) => 500 + 20 * g7() + (i === 350 ? 400 : 0))
    const other = Array.from({ length: 400 }, () => 900 + 5 * g8())
    const a = Series.makeKey("chat", "gpt-4o", "latency.p95")
    const b = Series.makeKey("search", "gpt-4o", "latency.p95")
    const together = Detector.makeDetectFn(Defaults.config.detectOptions())
    const alone = Detector.makeDetectFn(Defaults.configure().detectOptions())
    const scoresTogether: Array<number> = []
    const scoresAlone: Array<number> = []
    for (let i = 0; i < values.length; i++) {
      const time = T0 + i * MINUTE
      const out = together.apply([
        { key: a, time, value: values[i]! },
        { key: b, time, value: other[i]! }
      ])
      for (const s of out) if (s.point.key === a) scoresTogether.push(s.verdict.score)
      for (const s of alone.apply([{ key: a, time, value: values[i]! }])) scoresAlone.push(s.verdict.score)
    }
    assert.deepStrictEqual(scoresTogether, scoresAlone)
  })
})
