// `sentinel serve` with an `influxdb` sink against the InfluxDB 1.x that scripts/services.sh starts: the real binary
// writes every closed window's aggregates (`sentinel_window`) and every anomaly (`sentinel_anomaly`) as line
// protocol; read back with InfluxQL: one window row per series and window with the right count, the spike's
// anomalies with their tags; /readyz reports the sink.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { eventually, killAll, postNdjson, spikeWorkload, start, stop } from "../e2e/sentinel.ts"
import { database, influxUrl, query, rows } from "./influx.ts"

afterAll(() => killAll())

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0)

describe("sentinel serve: InfluxDB sink", () => {
  it("writes window aggregates and anomalies that read back with InfluxQL", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sentinel-influx-serve-"))
    const scope = Effect.runSync(Scope.make())
    try {
      const db = await Effect.runPromise(database.pipe(Scope.provide(scope)))
      const config = join(dataDir, "sentinel.yaml")
      writeFileSync(
        config,
        [
          "pipeline:",
          "  window: 10 seconds",
          "  idleTimeout: 10 minutes",
          "sinks:",
          `  - { type: influxdb, name: tsdb, url: "${influxUrl}", database: ${db}, flushInterval: 200 millis }`,
          ""
        ].join("\n")
      )
      const server = await start(dataDir, ["--config", config])
      const ready = (await (await fetch(`${server.url}/readyz`)).json()) as { adapters: Record<string, boolean> }
      assert.deepStrictEqual(ready.adapters, { "sink:tsdb": true })
      // 30 minutes at one event per second; a spike at minute 25
      await postNdjson(server.url, [
        ...spikeWorkload({ t0: T0, services: ["influx-chat"], spiked: ["influx-chat"], seed: 5 }),
        // a later event closes the windows after the spike
        { timestamp: T0 + 40 * 60_000, service: "influx-chat", model: "gpt-4o", latencyMs: 1 }
      ])
      // 180 windows of 10 events each for the latency metric (the window of the last event stays open)
      const latencyWindows = () =>
        Effect.runPromise(
          query(`SELECT "count" FROM "sentinel_window" WHERE "service" = 'influx-chat' AND "metric" = 'latency'`, db)
        )
      await eventually("the windows in InfluxDB", async () => rows(await latencyWindows()).length >= 180, 20_000)
      const windows = rows(await latencyWindows())
      // every second's event in its window once; the gap before the last event gets empty windows (at most
      // maxEmptyWindows, 10) so detectors see the silence
      assert.strictEqual(windows.filter((w) => w.count === 10).length, 180)
      const empty = windows.filter((w) => w.count !== 10)
      assert.isTrue(empty.length <= 10 && empty.every((w) => w.count === 0), JSON.stringify(empty))
      await eventually(
        "the spike's anomalies in InfluxDB",
        async () =>
          rows(await Effect.runPromise(query(`SELECT * FROM "sentinel_anomaly" WHERE "service" = 'influx-chat'`, db)))
            .length > 0,
        20_000
      )
      const anomalies = rows(
        await Effect.runPromise(query(`SELECT * FROM "sentinel_anomaly" WHERE "service" = 'influx-chat'`, db))
      )
      const first = Math.min(...anomalies.map((a) => Number(a.time)))
      assert.isAtLeast(first, T0 + 25 * 60_000 - 10_000)
      assert.strictEqual(anomalies[0]?.model, "gpt-4o")
      assert.strictEqual((await stop(server)).code, 0, server.output())
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 90_000)
})
