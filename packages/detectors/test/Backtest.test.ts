import { assert, describe, it } from "@effect/vitest"
import { Backtest, Defaults, ZScore } from "@llm-sentinel/detectors"
import { Duration, Effect, Stream } from "effect"

// a deterministic noisy series around 100 with spikes at the given indices
const series = (n: number, spikes: ReadonlyArray<number>): Array<number> => {
  let seed = 7
  const rnd = () => (seed = (seed * 48271) % 2147483647) / 2147483647
  return Array.from({ length: n }, (_, i) => 100 + (rnd() - 0.5) * 10 + (spikes.includes(i) ? 80 : 0))
}
const T0 = Date.parse("2026-11-01T00:00:00.000Z")
const MIN = 60_000

describe("Backtest", () => {
  it.effect("in code: a series from memory with detectors built in code, anomalies and scores as records, labels", () =>
    Effect.gen(function* () {
      const values = series(300, [120, 250])
      const rows = [["time", "value"], ...values.map((v, i) => [String(T0 + i * MIN), v.toFixed(3)])]
      rows.splice(101, 0, ["later", "1"]) // row 101 of the data: rejected, but its score row keeps its place
      const anomalies: Array<Backtest.AnomalyRecord> = []
      const scores: Array<Backtest.ScoreRow> = []
      const summary = yield* Backtest.run(Backtest.series(Stream.fromIterable(rows), { name: "p95" }), {
        detectors: [ZScore.make()],
        incidents: [{ start: T0 + 120 * MIN, end: T0 + 121 * MIN }],
        onAnomalies: (a) => Effect.sync(() => anomalies.push(...a)),
        onScores: (s) => Effect.sync(() => scores.push(...s))
      })
      assert.deepStrictEqual(
        anomalies.map((a) => [a.time, a.detector, a.series, a.row]),
        [
          [T0 + 120 * MIN, "zscore", "replay/p95/value", 122],
          [T0 + 250 * MIN, "zscore", "replay/p95/value", 252]
        ]
      )
      assert.strictEqual(scores.length, 301)
      assert.deepStrictEqual(scores[100], {
        time: undefined,
        series: "replay/p95/value",
        value: Number.NaN,
        field: "1",
        score: Number.NaN,
        anomalous: false
      })
      assert.isTrue(scores[121]!.anomalous)
      assert.deepStrictEqual(
        [summary.input, summary.rows, summary.rejected, summary.points, summary.detectors],
        ["series", 301, 1, 300, ["zscore"]]
      )
      assert.deepStrictEqual(summary.rejectedExamples, ['row 101: cannot read time "later"'])
      assert.strictEqual(summary.labels?.recall, 1)
      assert.strictEqual(summary.labels?.precision, 0.5)
    })
  )

  it.effect("in code: telemetry events windowed as live, the delay counted from the window's end", () =>
    Effect.gen(function* () {
      // 10 calls a minute for 3 hours; minute 150 is slow (p95 ×3)
      const lat = series(1800, [])
      const records = Array.from({ length: 1800 }, (_, i) => {
        const minute = Math.floor(i / 10)
        return {
          timestamp: T0 + minute * MIN + (i % 10) * 1000,
          service: "chat",
          model: "gpt-4o",
          latencyMs: lat[i]! * (minute === 150 ? 3 : 1)
        }
      })
      records.splice(7, 0, { timestamp: T0, service: "chat", model: "gpt-4o", latencyMs: -1 })
      const anomalies: Array<Backtest.AnomalyRecord> = []
      const summary = yield* Backtest.run(
        Backtest.events(Stream.fromIterable(records), { timeBounds: { minMs: 0, maxFutureMs: Number.MAX_VALUE } }),
        {
          config: { detectors: [{ type: "zscore" }], thresholds: { warning: 6, critical: 8 } },
          window: "1 minute",
          signals: ["latency.p95"],
          incidents: [{ start: T0 + 150 * MIN, end: T0 + 151 * MIN }],
          onAnomalies: (a) => Effect.sync(() => anomalies.push(...a))
        }
      )
      assert.deepStrictEqual(
        anomalies.map((a) => [a.time, a.series, a.row]),
        [[T0 + 150 * MIN, "chat/gpt-4o/latency.p95", null]]
      )
      assert.strictEqual(summary.input, "events")
      assert.strictEqual(summary.rejected, 1)
      assert.match(summary.rejectedExamples[0]!, /^record 8: latencyMs/)
      assert.strictEqual(summary.labels?.detected, 1)
      assert.strictEqual(summary.labels?.meanDelayMs, MIN)
    })
  )

  it.effect("options that do not fit are an InvalidConfig naming them", () =>
    Effect.gen(function* () {
      const rows = Stream.make(["time", "value"], ["0", "1"])
      const input = Backtest.series(rows, { name: "x" })
      const window = yield* Effect.flip(Backtest.run(input, { window: "1 minute" }))
      assert.deepStrictEqual(window._tag === "InvalidConfig" ? window.issues.map((i) => i.path) : [], ["window"])
      const both = yield* Effect.flip(Backtest.run(input, { detectors: ["zscore"], config: { detectors: [] } }))
      assert.strictEqual(both._tag, "InvalidConfig")
      const tolerance = yield* Effect.flip(Backtest.run(input, { tolerance: "a while" }))
      assert.deepStrictEqual(tolerance._tag === "InvalidConfig" ? tolerance.issues.map((i) => i.path) : [], [
        "tolerance"
      ])
      const column = yield* Effect.flip(Backtest.run(Backtest.series(rows, { name: "x", valueColumn: "p99" })))
      assert.strictEqual(column._tag, "InvalidInput")
      assert.include(column.message, '"p99"')
    })
  )

  it.effect("resolveConfig reports every problem with its path; defaults are Defaults.config", () =>
    Effect.gen(function* () {
      const error2 = yield* Effect.flip(
        Backtest.resolveConfig({ detectors: [{ type: "zscore", params: { window: -1, bogus: 1 } }, { type: "nope" }] })
      )
      assert.deepStrictEqual([...new Set(error2.issues.map((i) => i.path))].sort(), [
        "detectors.0.params.bogus",
        "detectors.0.params.window",
        "detectors.1.type"
      ])
      assert.include(error2.issues.find((i) => i.path === "detectors.1.type")!.message, 'unknown detector "nope"')
      assert.include(error2.message, "detectors.0.params.window")
      const peers = yield* Effect.flip(Backtest.resolveConfig({ detectors: [{ type: "peer-group" }] }))
      assert.deepStrictEqual(
        peers.issues.map((i) => i.path),
        ["detectors.0.type"]
      )
      assert.include(peers.issues[0]!.message, "cannot be backtested on one series")
      const empty = yield* Effect.flip(Backtest.resolveConfig({ detectors: [], extra: 1 }))
      assert.deepStrictEqual(empty.issues.map((i) => i.path).sort(), ["detectors", "extra"])
      const resolved = Backtest.defaultResolved()
      assert.deepStrictEqual(resolved.thresholds, Defaults.config.thresholds)
      assert.deepStrictEqual(
        Backtest.defaultDetectors,
        Defaults.config.detectors().map((d) => d.name)
      )
    })
  )

  it("incident: timestamps, {time}, {start, end} with an optional series; what is wrong otherwise", () => {
    assert.deepStrictEqual(Backtest.incident(T0), { start: T0, end: T0 })
    assert.deepStrictEqual(Backtest.incident({ time: new Date(T0).toISOString(), series: " p95 " }), {
      start: T0,
      end: T0,
      series: "p95"
    })
    assert.deepStrictEqual(Backtest.incident({ start: String(T0), end: "" }), { start: T0, end: T0 })
    assert.match(Backtest.incident({ start: T0 + 1, end: T0 }) as string, /is before start/)
    assert.match(Backtest.incident({ start: "soon" }) as string, /cannot read time/)
    assert.isString(Backtest.incident([]))
  })

  it("evaluate: windows with tolerance, point-wise precision, delay from the window start", () => {
    const m = Backtest.evaluate(
      [50, 105, 130, 260, 900],
      [
        { start: 100, end: 200 },
        { start: 250, end: 250 },
        { start: 500, end: 600 }
      ],
      20
    )
    assert.strictEqual(m.detected, 2) // 105 in [100, 220]; 260 in [250, 270]
    assert.strictEqual(m.truePositives, 3) // 105, 130, 260
    assert.strictEqual(m.falsePositives, 2) // 50, 900
    assert.strictEqual(m.precision, 3 / 5)
    assert.strictEqual(m.recall, 2 / 3)
    assert.strictEqual(m.meanDelayMs, (5 + 10) / 2)
    const none = Backtest.evaluate([], [{ start: 0, end: 1 }])
    assert.strictEqual(none.precision, null)
    assert.strictEqual(none.f1, 0)
    assert.strictEqual(none.meanDelayMs, null)
  })

  it("labels may name a series: only that series' anomalies detect the incident or fall inside it", () => {
    const incidents = [
      { start: 100, end: 200, series: "latency.p95" },
      { start: 500, end: 600 }
    ]
    const m = Backtest.evaluate([150, 160, 550], incidents, 0, {
      series: ["chat/gpt-4o/error.rate", "chat/gpt-4o/latency.p95", "chat/gpt-4o/error.rate"]
    })
    assert.strictEqual(m.detected, 2)
    assert.strictEqual(m.truePositives, 2) // 160 on latency.p95 and 550 (any series); 150 is another series
    assert.strictEqual(m.falsePositives, 1)
    assert.strictEqual(m.meanDelayMs, (60 + 50) / 2)
    assert.isTrue(Backtest.seriesMatches("chat/gpt-4o/latency.p95", "gpt-4o/latency.p95"))
    assert.isFalse(Backtest.seriesMatches("chat/gpt-4o/latency.p95", "o/latency.p95"))
    // a window signal's verdict is known at the window's end: the delay counts from there
    const windowed = Backtest.evaluate([100], [{ start: 100, end: 200 }], 0, { knownAfter: 60 })
    assert.strictEqual(windowed.meanDelayMs, 60)
  })

  it("durations on the command line: compact (1m, 30s, 1h30m), long (5 minutes) and milliseconds", () => {
    const ms = (raw: string) => {
      const d = Backtest.parseDuration(raw)
      return d === undefined ? undefined : Duration.toMillis(d)
    }
    assert.strictEqual(ms("1m"), 60_000)
    assert.strictEqual(ms("30s"), 30_000)
    assert.strictEqual(ms("1h30m"), 5_400_000)
    assert.strictEqual(ms("500ms"), 500)
    assert.strictEqual(ms("5 minutes"), 300_000)
    assert.strictEqual(ms("1500"), 1500)
    assert.strictEqual(ms("soon"), undefined)
  })
})
