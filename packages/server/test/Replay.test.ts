import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import * as Detectors from "@llm-sentinel/detectors"
import { Backtest } from "@llm-sentinel/detectors"
import { Replay } from "@llm-sentinel/server"
import { Effect } from "effect"
import { Command } from "effect/cli"

const dir = mkdtempSync(join(tmpdir(), "sentinel-replay-"))
const path = (name: string) => join(dir, name)
const write = (name: string, text: string): string => {
  writeFileSync(path(name), text)
  return path(name)
}
const readLines = (file: string) => readFileSync(file, "utf8").trim().split("\n")

// a deterministic noisy series around 100 with spikes at the given indices
const series = (n: number, spikes: ReadonlyArray<number>): Array<number> => {
  let seed = 7
  const rnd = () => (seed = (seed * 48271) % 2147483647) / 2147483647
  return Array.from({ length: n }, (_, i) => 100 + (rnd() - 0.5) * 10 + (spikes.includes(i) ? 80 : 0))
}
const T0 = Date.parse("2026-11-01T00:00:00.000Z")
const MIN = 60_000

describe("Replay", () => {
  it.effect("CSV: anomalies, a scores file in input row order, and label metrics", () =>
    Effect.gen(function* () {
      const values = series(300, [120, 250])
      const rows = values.map(
        (v, i) => `${i % 2 === 0 ? T0 + i * MIN : new Date(T0 + i * MIN).toISOString()},${v.toFixed(3)}`
      )
      rows.splice(200, 0, "not-a-time,1") // rejected, but kept in the scores file
      rows[50] = `${T0 + 50 * MIN},` // an empty value: scored by nobody, kept
      const file = write("series.csv", `ts,p95\n${rows.join("\n")}\n`)
      // incident 1 at row 120; incident 2 is a window that nothing fires in
      const labels = write(
        "labels.csv",
        `start,end\n${new Date(T0 + 120 * MIN).toISOString()},${new Date(T0 + 121 * MIN).toISOString()}\n${T0 + 10 * MIN},${T0 + 11 * MIN}\n`
      )
      const summary = yield* Replay.replay({
        file,
        timeColumn: "ts",
        valueColumn: "p95",
        detectors: ["zscore"],
        out: path("anomalies.ndjson"),
        scores: path("scores.csv"),
        labels,
        progress: false
      })
      assert.strictEqual(summary.rows, 301)
      assert.strictEqual(summary.rejected, 1)
      assert.strictEqual(summary.points, 300)

      const anomalies = readLines(path("anomalies.ndjson")).map((l) => JSON.parse(l))
      assert.deepStrictEqual(
        anomalies.map((a) => a.time),
        [T0 + 120 * MIN, T0 + 250 * MIN]
      )
      assert.strictEqual(anomalies[0].detector, "zscore")
      assert.strictEqual(anomalies[0].row, 121)
      assert.strictEqual(anomalies[1].row, 252) // after the rejected row

      const scores = readLines(path("scores.csv"))
      assert.strictEqual(scores[0], "time,value,score,anomalous")
      assert.strictEqual(scores.length, 1 + 301)
      assert.strictEqual(scores[1 + 200], ",1,,false")
      assert.strictEqual(scores[1 + 50], `${T0 + 50 * MIN},,,false`)
      const times = scores
        .slice(1)
        .filter((_, i) => i !== 200)
        .map((l) => Number(l.split(",")[0]))
      assert.deepStrictEqual(
        times,
        values.map((_, i) => T0 + i * MIN)
      )
      assert.strictEqual(scores[1 + 120]!.split(",")[3], "true")
      assert.isAbove(Number(scores[1 + 120]!.split(",")[2]), 6)

      const l = summary.labels!
      assert.strictEqual(l.incidents, 2)
      assert.strictEqual(l.detected, 1)
      assert.strictEqual(l.recall, 0.5)
      assert.strictEqual(l.precision, 0.5) // the spike at 250 is outside every window
      assert.strictEqual(l.meanDelayMs, 0)
      assert.closeTo(l.f1, 0.5, 1e-12)
    }).pipe(Effect.provide(NodeServices.layer))
  )

  // live clock: NDJSON events are checked against the plausible event times around now
  it.live("NDJSON: events are decoded, extracted per series, scored; labels in NDJSON", () =>
    Effect.gen(function* () {
      const lat = series(200, [150])
      const lines: Array<string> = []
      for (let i = 0; i < 200; i++) {
        lines.push(
          JSON.stringify({
            timestamp: new Date(T0 + i * MIN).toISOString(),
            service: "chat",
            model: "gpt-4o",
            latencyMs: lat[i],
            outputTokens: 200 + (i % 7)
          })
        )
        if (i === 3) lines.push(JSON.stringify({ timestamp: T0, service: "chat", model: "gpt-4o", latencyMs: -1 }))
        // implausible times are rejected rows, as in live ingest: far future, epoch seconds
        if (i === 5) lines.push(JSON.stringify({ timestamp: 1e15, service: "chat", model: "gpt-4o", latencyMs: 5 }))
        if (i === 6)
          lines.push(JSON.stringify({ timestamp: T0 / 1000, service: "chat", model: "gpt-4o", latencyMs: 5 }))
      }
      const file = write("events.ndjson", `${lines.join("\n")}\n`)
      const labels = write("labels.ndjson", `{"time":${T0 + 150 * MIN}}\n"${new Date(T0 + 30 * MIN).toISOString()}"\n`)
      const summary = yield* Replay.replay({
        file,
        detectors: ["zscore"],
        metrics: ["latency"],
        out: path("ev-anomalies.ndjson"),
        scores: path("ev-scores.csv"),
        labels,
        tolerance: "1 minute",
        progress: false
      })
      assert.strictEqual(summary.format, "ndjson")
      assert.strictEqual(summary.rows, 203)
      assert.strictEqual(summary.rejected, 3)
      assert.strictEqual(summary.series, 1)
      assert.strictEqual(summary.points, 200)
      const anomalies = readLines(path("ev-anomalies.ndjson")).map((l) => JSON.parse(l))
      assert.deepStrictEqual(
        anomalies.map((a) => [a.series, a.time, a.row]),
        [["chat/gpt-4o/latency", T0 + 150 * MIN, 154]]
      )
      const scores = readLines(path("ev-scores.csv"))
      assert.strictEqual(scores[0], "time,series,value,score,anomalous")
      assert.strictEqual(scores.length, 201)
      assert.isTrue(scores[1 + 150]!.startsWith(`${T0 + 150 * MIN},chat/gpt-4o/latency,`))
      assert.isTrue(scores[1 + 150]!.endsWith(",true"))
      assert.deepStrictEqual(
        { ...summary.labels!, f1: Math.round(summary.labels!.f1 * 1000) / 1000 },
        {
          incidents: 2,
          detected: 1,
          anomalies: 1,
          truePositives: 1,
          falsePositives: 0,
          precision: 1,
          recall: 0.5,
          f1: 0.667,
          meanDelayMs: 0,
          toleranceMs: 60_000
        }
      )
    }).pipe(Effect.provide(NodeServices.layer))
  )

  // live clock: NDJSON events are checked against the plausible event times around now
  it.live("NDJSON with --window: windows per series become signals, as live, and are scored", () =>
    Effect.gen(function* () {
      // 10 calls a minute for 3 hours; minute 150 is slow (p95 ×3)
      const lat = series(1800, [])
      const lines: Array<string> = []
      for (let i = 0; i < 1800; i++) {
        const minute = Math.floor(i / 10)
        lines.push(
          JSON.stringify({
            timestamp: T0 + minute * MIN + (i % 10) * 1000,
            service: "chat",
            model: "gpt-4o",
            latencyMs: lat[i]! * (minute === 150 ? 3 : 1)
          })
        )
      }
      const file = write("windowed.ndjson", `${lines.join("\n")}\n`)
      const summary = yield* Replay.replay({
        file,
        window: "1 minute",
        signals: ["latency.p95"],
        // named detectors decide at Verdict.defaultThresholds (4/6) unless the configuration says otherwise
        config: { detectors: [{ type: "zscore" }], thresholds: { warning: 6, critical: 8 } },
        out: path("w-anomalies.ndjson"),
        scores: path("w-scores.csv"),
        progress: false
      })
      assert.strictEqual(summary.rows, 1800)
      assert.strictEqual(summary.series, 1)
      assert.strictEqual(summary.points, 180) // one latency.p95 point per minute
      const anomalies = readLines(path("w-anomalies.ndjson")).map((l) => JSON.parse(l))
      assert.deepStrictEqual(
        anomalies.map((a) => [a.series, a.time, a.row]),
        [["chat/gpt-4o/latency.p95", T0 + 150 * MIN, null]]
      )
      const scores = readLines(path("w-scores.csv"))
      assert.strictEqual(scores.length, 181)
      assert.deepStrictEqual(
        scores.slice(1).map((l) => Number(l.split(",")[0])),
        Array.from({ length: 180 }, (_, m) => T0 + m * MIN)
      )
      const bad = yield* Effect.flip(
        Replay.replay({ file: write("w.csv", "time,value\n0,1\n"), window: "1 minute", progress: false })
      )
      assert.strictEqual(bad._tag, "InvalidConfig")
    }).pipe(Effect.provide(NodeServices.layer))
  )

  it.effect("a bad configuration is a Backtest.InvalidConfig listing every problem with its path", () =>
    Effect.gen(function* () {
      const file = write("small.csv", "time,value\n0,1\n")
      const error = yield* Effect.flip(
        Replay.replay({
          file,
          config: {
            detectors: [{ type: "zscore", params: { window: -1, bogus: 1 } }, { type: "nope" }],
            thresholds: { warning: "high", critical: 6 }
          },
          progress: false
        })
      )
      assert.strictEqual(error._tag, "InvalidConfig")
      if (error._tag !== "InvalidConfig") return
      assert.deepStrictEqual(
        error.issues.map((i) => i.path),
        ["thresholds.warning"]
      )
    }).pipe(Effect.provide(NodeServices.layer))
  )

  it.effect("a missing CSV column is an InvalidInput", () =>
    Effect.gen(function* () {
      const file = write("cols.csv", "time,value\n0,1\n")
      const error = yield* Effect.flip(
        Replay.replay({ file, valueColumn: "p99", out: path("x.ndjson"), progress: false })
      )
      assert.strictEqual(error._tag, "InvalidInput")
      assert.include(error.message, '"p99"')
    }).pipe(Effect.provide(NodeServices.layer))
  )

  it.effect("the command parses its flags and runs", () =>
    Effect.gen(function* () {
      const values = series(100, [80])
      const file = write("cmd.csv", `time,value\n${values.map((v, i) => `${T0 + i * MIN},${v}`).join("\n")}\n`)
      const config = write("cfg.json", JSON.stringify({ detectors: [{ type: "zscore", params: { window: 32 } }] }))
      yield* Command.runWith(Replay.command, { version: "0.0.0" })([
        file,
        "--config",
        config,
        "--out",
        path("cmd.ndjson"),
        "--quiet"
      ])
      assert.deepStrictEqual(
        readLines(path("cmd.ndjson")).map((l) => JSON.parse(l).time),
        [T0 + 80 * MIN]
      )
    }).pipe(Effect.provide(NodeServices.layer))
  )

  it.effect(
    "NDJSON label files of {start, end} objects are read (the commas inside the JSON are not a CSV header)",
    () =>
      Effect.gen(function* () {
        const a = new Date(T0 + 10 * MIN).toISOString()
        const b = new Date(T0 + 12 * MIN).toISOString()
        const labels = write(
          "labels.ndjson",
          `${JSON.stringify({ start: a, end: b })}\n${JSON.stringify({ start: T0, end: T0 + MIN, series: "p95" })}\n${JSON.stringify({ time: T0 + 99 * MIN })}\n`
        )
        assert.deepStrictEqual(yield* Replay.readLabels(labels), [
          { start: T0 + 10 * MIN, end: T0 + 12 * MIN },
          { start: T0, end: T0 + MIN, series: "p95" },
          { start: T0 + 99 * MIN, end: T0 + 99 * MIN }
        ])
        const csv = write("labels-series.csv", `start,end,series\n${T0},${T0 + MIN},chat/gpt-4o/latency.p95\n${T0},,\n`)
        assert.deepStrictEqual(yield* Replay.readLabels(csv), [
          { start: T0, end: T0 + MIN, series: "chat/gpt-4o/latency.p95" },
          { start: T0, end: T0 }
        ])
        const bad = yield* Effect.flip(Replay.readLabels(write("bad.ndjson", '{"start": "soon"}\n')))
        assert.match(bad.message, /line 1: cannot read time/)
      }).pipe(Effect.provide(NodeServices.layer))
  )

  // live clock: NDJSON events are checked against the plausible event times around now
  it.live("--window 1m works on the command line; the delay is measured from the window's end", () =>
    Effect.gen(function* () {
      // 10 calls a minute for 3 hours; minute 150 is slow (p95 ×3) and labelled from its first call
      const lat = series(1800, [])
      const lines = Array.from({ length: 1800 }, (_, i) => {
        const minute = Math.floor(i / 10)
        return JSON.stringify({
          timestamp: T0 + minute * MIN + (i % 10) * 1000,
          service: "chat",
          model: "gpt-4o",
          latencyMs: lat[i]! * (minute === 150 ? 3 : 1)
        })
      })
      const file = write("cli-windowed.ndjson", `${lines.join("\n")}\n`)
      const labels = write("cli-labels.ndjson", `${JSON.stringify({ start: T0 + 150 * MIN, end: T0 + 151 * MIN })}\n`)
      const config = write(
        "cli-cfg.json",
        JSON.stringify({ detectors: [{ type: "zscore" }], thresholds: { warning: 6, critical: 8 } })
      )
      yield* Command.runWith(Replay.command, { version: "0.0.0" })([
        file,
        "--window",
        "1m",
        "--signal",
        "latency.p95",
        "--config",
        config,
        "--labels",
        labels,
        "--out",
        path("cli-w.ndjson"),
        "--quiet"
      ])
      assert.deepStrictEqual(
        readLines(path("cli-w.ndjson")).map((l) => JSON.parse(l).time),
        [T0 + 150 * MIN]
      )
      const summary = yield* Replay.replay({
        file,
        window: "1m",
        signals: ["latency.p95"],
        config: JSON.parse(readFileSync(config, "utf8")),
        labels,
        out: path("cli-w2.ndjson"),
        progress: false
      })
      assert.strictEqual(summary.labels?.detected, 1)
      assert.strictEqual(summary.labels?.meanDelayMs, MIN) // known when the 1-minute window closed, not "0 ms"
      const bad = yield* Effect.flip(Replay.replay({ file, window: "a while", progress: false }))
      assert.strictEqual(bad._tag, "InvalidConfig")
    }).pipe(Effect.provide(NodeServices.layer))
  )

  it.effect("warm-up rows get no score: the scores file leaves it empty until a detector is ready", () =>
    Effect.gen(function* () {
      const values = series(100, [])
      const file = write("warm.csv", `time,value\n${values.map((v, i) => `${T0 + i * MIN},${v}`).join("\n")}\n`)
      yield* Replay.replay({
        file,
        detectors: ["zscore"],
        out: path("warm.ndjson"),
        scores: path("warm-scores.csv"),
        progress: false
      })
      const scores = readLines(path("warm-scores.csv"))
        .slice(1)
        .map((l) => l.split(",")[2])
      // zscore needs 30 points: rows 1..30 have no score, row 31 on have one
      assert.deepStrictEqual(scores.slice(0, 30), new Array(30).fill(""))
      assert.isTrue(scores.slice(30).every((x) => x !== "" && Number.isFinite(Number(x))))
    }).pipe(Effect.provide(NodeServices.layer))
  )

  it.effect("without detector names, replay runs Defaults.config (its detectors per metric and its thresholds)", () =>
    Effect.gen(function* () {
      const values = series(600, [500])
      const file = write("defaults.csv", `time,value\n${values.map((v, i) => `${T0 + i * MIN},${v}`).join("\n")}\n`)
      const summary = yield* Replay.replay({ file, out: path("defaults.ndjson"), progress: false })
      assert.deepStrictEqual(summary.detectors, [...Backtest.defaultDetectors])
      const resolved = Backtest.defaultResolved()
      assert.deepStrictEqual(resolved.thresholds, Detectors.Defaults.config.thresholds)
      const times = readLines(path("defaults.ndjson")).map((l) => JSON.parse(l).time)
      assert.include(times, T0 + 500 * MIN)
    }).pipe(Effect.provide(NodeServices.layer))
  )
})
