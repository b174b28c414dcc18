import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { type Alert, Detector, Series } from "@llm-sentinel/core"
import { Effect, Exit, Option } from "effect"
import * as Config from "../src/Config.ts"
import * as ConfigDetectors from "../src/ConfigDetectors.ts"
import * as ConfigLoad from "../src/ConfigLoad.ts"
import * as Serve from "../src/Serve.ts"
import * as Sinks from "../src/Sinks.ts"

const examplePath = join(import.meta.dirname, "..", "..", "..", "sentinel.example.yaml")

const issues = (raw: unknown, origins?: ReadonlyMap<string, string>) =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(Config.decode(raw, origins))
    assert.isTrue(Exit.isFailure(exit), "expected the configuration to be refused")
    const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
    return error !== undefined && error._tag === "Fail" ? (error.error as Config.ConfigError).issues : []
  })

const noFlags: ConfigLoad.Flags = Object.fromEntries(
  Object.keys(ConfigLoad.flags).map((k) => [k, Option.none()])
) as unknown as ConfigLoad.Flags

describe("Config", () => {
  it.effect("decodes the example configuration, which sets every section of the Schema", () =>
    Effect.gen(function* () {
      const raw = yield* Config.parse(examplePath, readFileSync(examplePath, "utf8"))
      const config = yield* Config.decode(raw)
      for (const section of Object.keys(Config.Config.fields)) {
        assert.isTrue(section in (raw as object), `the example leaves out ${section}`)
      }
      assert.strictEqual(config.sinks?.length, 5)
      assert.deepStrictEqual(config.sinks?.map((s) => s.type).sort(), ["file", "influxdb", "nats", "slack", "webhook"])
      // every secret decodes to a Redacted value, printed redacted
      const rendered = Config.render(config)
      assert.notInclude(rendered, "change-me")
      assert.include(rendered, '"secret": "<redacted>"')
    })
  )

  it.effect("names the exact path, the expectation and the value of every problem", () =>
    Effect.gen(function* () {
      const found = yield* issues({
        detectors: [{ type: "mad" }, { type: "zscore" }, { type: "mad", params: { window: 0 } }]
      })
      assert.deepStrictEqual(
        found.map((i) => i.path),
        ["detectors[2].params.window", "detectors[2].params.window"]
      )
      assert.include(found[0]!.message, "got 0")
      const typos = yield* issues({ server: { prot: 7300 }, pipeline: { window: "soon" }, limits: { maxRecords: 0 } })
      assert.deepStrictEqual(typos.map((i) => `${i.path}: ${i.message}`).sort(), [
        "limits.maxRecords: expected a value greater than or equal to 1, got 0",
        'pipeline.window: expected a duration such as "10 seconds" or "1 minute", got "soon"',
        "server.prot: unknown key"
      ])
      const unknown = yield* issues({ detectors: [{ type: "magic" }] })
      assert.strictEqual(unknown[0]!.path, "detectors[0].type")
      assert.match(unknown[0]!.message, /unknown detector "magic" \(known: .*zscore/)
    })
  )

  it.effect("checks sink names and routes, and kafka without postgres", () =>
    Effect.gen(function* () {
      const found = yield* issues({
        sinks: [
          { type: "webhook", name: "a", url: "http://127.0.0.1:1/x" },
          { type: "file", name: "a", path: "x.ndjson" }
        ],
        alerts: { routes: [{ sinks: ["b"] }] },
        source: { type: "kafka", brokers: ["127.0.0.1:9092"] }
      })
      assert.deepStrictEqual(
        found.map((i) => i.path),
        ["sinks[1].name", "alerts.routes[0].sinks[0]", "source"]
      )
      const influx = yield* issues({
        sinks: [{ type: "influxdb", name: "tsdb", url: "http://127.0.0.1:8086", database: "s" }],
        alerts: { routes: [{ sinks: ["tsdb"] }] }
      })
      assert.deepStrictEqual(
        influx.map((i) => i.path),
        ["alerts.routes[0].sinks[0]"]
      )
      assert.match(influx[0]!.message, /takes alert events/)
      const key = yield* issues({ auth: { keys: [{ name: "k", scopes: ["read"], sha256: "ab", env: "X" }] } })
      assert.deepStrictEqual(
        key.map((i) => i.path),
        ["auth.keys[0].sha256"]
      )
    })
  )

  it.effect("file < SENTINEL_* environment < flags, and errors say where a value came from", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "sentinel-config-"))
      const file = join(dir, "sentinel.yaml")
      writeFileSync(file, "server:\n  port: 1111\n  host: 127.0.0.1\npipeline:\n  window: 10 seconds\n")
      const fromFile = yield* ConfigLoad.load({ ...noFlags, config: Option.some(file) }, {})
      assert.strictEqual(fromFile.server?.port, 1111)
      const env = { SENTINEL_SERVER_PORT: "2222", SENTINEL_PIPELINE_WINDOW: "20 seconds", HOME: "/x" }
      const fromEnv = yield* ConfigLoad.load({ ...noFlags, config: Option.some(file) }, env)
      assert.strictEqual(fromEnv.server?.port, 2222)
      assert.strictEqual(fromEnv.pipeline?.window, "20 seconds")
      const fromFlag = yield* ConfigLoad.load({ ...noFlags, config: Option.some(file), port: Option.some(3333) }, env)
      assert.strictEqual(fromFlag.server?.port, 3333)
      assert.strictEqual(fromFlag.pipeline?.window, "20 seconds")
      const bad = yield* Effect.flip(
        ConfigLoad.load({ ...noFlags, config: Option.some(file) }, { SENTINEL_SERVER_PORT: "x" })
      )
      assert.deepStrictEqual(bad.issues, [
        { path: "server.port", message: 'expected number, got "x" (from SENTINEL_SERVER_PORT)' }
      ])
      const typo = yield* Effect.flip(ConfigLoad.load(noFlags, { SENTINEL_SERVER_PROT: "1" }))
      assert.deepStrictEqual(typo.issues, [{ path: "server.prot", message: "unknown key (from SENTINEL_SERVER_PROT)" }])
    }).pipe(Effect.provide(NodeServices.layer))
  )

  it.effect("time bounds of the configuration: a bad one names its key", () =>
    Effect.gen(function* () {
      const ok = yield* Serve.fromConfig(
        yield* Config.decode({ limits: { minTimestamp: "2020-01-01T00:00:00Z", maxFuture: "2 hours" } })
      )
      assert.deepStrictEqual(ok.timeBounds, { minMs: Date.UTC(2020, 0, 1), maxFutureMs: 7_200_000 })
      // the Schema refuses a date without a time zone before serve sees it
      const bad = yield* Effect.flip(Config.decode({ limits: { minTimestamp: "2020-01-01" } }))
      assert.strictEqual(bad.issues[0]?.path, "limits.minTimestamp")
    })
  )

  it.effect("pipeline.seriesHistory sets the live-series history budget; a bad size names its key", () =>
    Effect.gen(function* () {
      const ok = yield* Serve.fromConfig(yield* Config.decode({ pipeline: { seriesHistory: "16 MiB" } }))
      assert.strictEqual(ok.seriesHistoryBytes, 16 * 2 ** 20)
      const bad = yield* Effect.flip(Config.decode({ pipeline: { seriesHistory: "lots" } }))
      assert.strictEqual(bad.issues[0]?.path, "pipeline.seriesHistory")
    })
  )

  it.effect("without a file the embedded default runs exactly as with the flags' defaults", () =>
    Effect.gen(function* () {
      const config = yield* ConfigLoad.load(noFlags, {})
      assert.deepStrictEqual(config, {})
      const options = yield* Serve.fromConfig(config)
      assert.deepStrictEqual(options, Serve.defaults)
    }).pipe(Effect.provide(NodeServices.layer))
  )

  it("changing one detector's parameters keeps the state of the detectors whose parameters did not change", () => {
    const key = Series.makeKey("chat", "gpt", "latency.p95")
    const points = Array.from({ length: 200 }, (_, i) => ({ key, time: i * 60_000, value: 100 + (i % 7) }))
    const before = ConfigDetectors.selection([
      { type: "zscore", params: { window: 50 } },
      { type: "mad", params: { window: 30 } },
      { type: "ewma" }
    ])
    const first = Detector.makeDetectFn({ detectors: before })
    first.apply(points)
    const saved = new Map(first.checkpoint().map((c) => [`${c.detector}/${c.seriesId}`, c.state]))
    assert.strictEqual(saved.size, 3)
    // the same configuration restores all three
    const same = Detector.makeDetectFn({ detectors: before, restore: (s, d) => saved.get(`${d}/${s}`) })
    same.apply(points.slice(0, 1))
    assert.deepStrictEqual(same.restored(), { ok: 3, failed: 0 })
    // mad's window changes: mad starts afresh, zscore (same params) and ewma (no params) keep their state
    const after = ConfigDetectors.selection([
      { type: "zscore", params: { window: 50 } },
      { type: "mad", params: { window: 40 } },
      { type: "ewma" }
    ])
    const looked: Array<string> = []
    const second = Detector.makeDetectFn({
      detectors: after,
      restore: (s, d) => {
        looked.push(d)
        return saved.get(`${d}/${s}`)
      }
    })
    second.apply(points.slice(0, 1))
    assert.deepStrictEqual(second.restored(), { ok: 2, failed: 0 })
    const savedKeys = [...saved.keys()].map((k) => k.slice(0, k.indexOf("/")))
    assert.isTrue(looked[0]!.startsWith("zscore@") && savedKeys.includes(looked[0]!), looked[0])
    assert.isTrue(looked[1]!.startsWith("mad@") && !savedKeys.includes(looked[1]!), looked[1])
    assert.strictEqual(looked[2], "ewma")
    // key order does not change the fingerprint; values do
    assert.strictEqual(ConfigDetectors.fingerprint({ a: 1, b: 2 }), ConfigDetectors.fingerprint({ b: 2, a: 1 }))
    assert.notStrictEqual(ConfigDetectors.fingerprint({ a: 1 }), ConfigDetectors.fingerprint({ a: 2 }))
  })
})

describe("Sinks.route", () => {
  const event = (service: string, severity: "warning" | "critical"): Alert.AlertEvent => ({
    _tag: "opened",
    alert: {
      id: "a",
      series: Series.makeKey(service, "gpt-4o", "latency.p95"),
      status: "open",
      severity,
      openedAt: 0,
      lastAnomalyAt: 0,
      resolvedAt: null,
      anomalies: 1,
      detectors: ["mad"],
      reason: "r"
    }
  })
  const storm: Alert.AlertEvent = { _tag: "storm", time: 0, suppressed: 3 }
  const all = ["pager", "chat", "billing"]
  const routes = [
    { sinks: ["pager"], severity: ["critical" as const] },
    { sinks: ["chat"] },
    { sinks: ["billing"], services: ["billing"] }
  ]
  it("without routes every alert sink gets every event", () => {
    assert.deepStrictEqual([...Sinks.route(undefined, all, event("x", "warning"))], all)
  })
  it("routes by severity and service; a storm goes to the routes without a services filter", () => {
    assert.deepStrictEqual([...Sinks.route(routes, all, event("search", "warning"))], ["chat"])
    assert.deepStrictEqual([...Sinks.route(routes, all, event("search", "critical"))], ["pager", "chat"])
    assert.deepStrictEqual([...Sinks.route(routes, all, event("billing", "warning"))], ["chat", "billing"])
    assert.deepStrictEqual([...Sinks.route(routes, all, storm)], ["pager", "chat"])
    assert.deepStrictEqual([...Sinks.route([{ sinks: ["billing"], services: ["billing"] }], all, storm)], [])
  })
})
