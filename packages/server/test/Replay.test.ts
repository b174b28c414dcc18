import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
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

  it.effect("NDJSON: events are decoded, extracted per series, scored; labels in NDJSON", () =>
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
      assert.strictEqual(summary.rows, 201)
      assert.strictEqual(summary.rejected, 1)
      assert.strictEqual(summary.series, 1)
      assert.strictEqual(summary.points, 200)
      const anomalies = readLines(path("ev-anomalies.ndjson")).map((l) => JSON.parse(l))
      assert.deepStrictEqual(
        anomalies.map((a) => [a.series, a.time, a.row]),
        [["chat/gpt-4o/latency", T0 + 150 * MIN, 152]]
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

  it.effect("NDJSON with --window: windows per series become signals, as live, and are scored", () =>
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
        detectors: ["zscore"],
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
      assert.strictEqual(bad._tag, "ReplayConfigError")
    }).pipe(Effect.provide(NodeServices.layer))
  )

  it.effect("a bad configuration is a ReplayConfigError listing every problem with its path", () =>
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
      assert.strictEqual(error._tag, "ReplayConfigError")
      if (error._tag !== "ReplayConfigError") return
      assert.deepStrictEqual(
        error.issues.map((i) => i.path),
        ["thresholds.warning"]
      )
      const error2 = yield* Effect.flip(
        Replay.resolveConfig({ detectors: [{ type: "zscore", params: { window: -1, bogus: 1 } }, { type: "nope" }] })
      )
      assert.deepStrictEqual([...new Set(error2.issues.map((i) => i.path))].sort(), [
        "detectors.0.params.bogus",
        "detectors.0.params.window",
        "detectors.1.type"
      ])
      assert.include(error2.issues.find((i) => i.path === "detectors.1.type")!.message, 'unknown detector "nope"')
      assert.include(error2.message, "detectors.0.params.window")
      const peers = yield* Effect.flip(Replay.resolveConfig({ detectors: [{ type: "peer-group" }] }))
      assert.deepStrictEqual(
        peers.issues.map((i) => i.path),
        ["detectors.0.type"]
      )
      assert.include(peers.issues[0]!.message, "cannot be replayed on one series")
      const empty = yield* Effect.flip(Replay.resolveConfig({ detectors: [], extra: 1 }))
      assert.deepStrictEqual(empty.issues.map((i) => i.path).sort(), ["detectors", "extra"])
    }).pipe(Effect.provide(NodeServices.layer))
  )

  it.effect("a missing CSV column is a ReplayInputError", () =>
    Effect.gen(function* () {
      const file = write("cols.csv", "time,value\n0,1\n")
      const error = yield* Effect.flip(
        Replay.replay({ file, valueColumn: "p99", out: path("x.ndjson"), progress: false })
      )
      assert.strictEqual(error._tag, "ReplayInputError")
      assert.include(error.message, '"p99"')
    }).pipe(Effect.provide(NodeServices.layer))
  )

  it("evaluate: windows with tolerance, point-wise precision, delay from the window start", () => {
    const m = Replay.evaluate(
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
    const none = Replay.evaluate([], [{ start: 0, end: 1 }])
    assert.strictEqual(none.precision, null)
    assert.strictEqual(none.f1, 0)
    assert.strictEqual(none.meanDelayMs, null)
  })

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
})
