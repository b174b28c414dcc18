// End to end: the real `sentinel` binary as a child process, driven over HTTP.
//
// Three series post one event per second of event time for 40 minutes (latency ~ N(500, 25) from a seeded PRNG);
// one series (`search`) has a 20-second latency spike (~3000 ms) at minute 30. With 10-second tumbling windows the
// spike fills exactly two windows. The steady stream goes on after the spike, so the watermark closes the spike's
// windows (the idle timeout is long on purpose: silence would itself be reported, as a traffic drop). The test
// then checks that the anomalies are exactly on that series, on latency signals, at the spike's windows; stops the
// server with SIGTERM (clean exit, pipeline drained); restarts it on the same data directory and finds the same
// anomalies (durability).
//
// A second test kills the server with SIGKILL while the spike is still in open windows (accepted, journaled, not
// yet processed), restarts it on the same data directory, and finds the same spike: nothing accepted is lost.
//
// The data come from a seeded PRNG (SENTINEL_E2E_SEED overrides the seed; seeds 1–12 and 20261126 all pass with
// the default detectors). History: with z-score/EWMA at warning 4 and sketch-quantised p50/p95 some seeds gave a
// false positive; exact small-window quantiles and the benchmark-chosen defaults (seasonal + MAD at 6) fixed it.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { killAll, mulberry32, type Server, sleep, start as startServer, stop } from "./sentinel.ts"

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0)
const SECONDS = 40 * 60
const SPIKE_START = 30 * 60
const SPIKE_SECONDS = 20
const WINDOW_MS = 10_000
const series = ["chat", "search", "agent"] as const
const spiked = "search"

const makeEvents = () => {
  const random = mulberry32(Number(process.env.SENTINEL_E2E_SEED ?? 20261126))
  const normal = (mean: number, sd: number) => {
    const u = 1 - random()
    const v = random()
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
  const events: Array<Record<string, unknown>> = []
  for (let s = 0; s < SECONDS; s++) {
    for (const service of series) {
      const inSpike = service === spiked && s >= SPIKE_START && s < SPIKE_START + SPIKE_SECONDS
      events.push({
        timestamp: T0 + s * 1000,
        service,
        model: "gpt-4o",
        latencyMs: Math.max(0, Math.round(inSpike ? normal(3000, 100) : normal(500, 25))),
        inputTokens: 200,
        outputTokens: 300
      })
    }
  }
  return events
}

const start = (dataDir: string, extra: ReadonlyArray<string> = []): Promise<Server> =>
  startServer(dataDir, ["--window", "10 seconds", "--max-delay", "5 seconds", "--idle-timeout", "10 minutes", ...extra])

interface StoredAnomaly {
  readonly id: string
  readonly series: { readonly service: string; readonly model: string; readonly metric: string }
  readonly detector: string
  readonly time: number
  readonly observed: number | null
}

const allAnomalies = async (url: string, query = ""): Promise<Array<StoredAnomaly>> => {
  const items: Array<StoredAnomaly> = []
  let cursor: string | null = null
  for (let page = 0; page < 1000; page++) {
    const res = await fetch(
      `${url}/v1/anomalies?limit=50${query}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`
    )
    assert.strictEqual(res.status, 200, await res.clone().text())
    const body = (await res.json()) as { items: Array<StoredAnomaly>; next: string | null }
    items.push(...body.items)
    cursor = body.next
    if (cursor === null) return items
  }
  throw new Error("too many pages")
}

const settledAnomalies = async (url: string): Promise<Array<StoredAnomaly>> => {
  // wait until the pipeline has written the spike's anomalies and nothing changes any more
  let anomalies: Array<StoredAnomaly> = []
  let stableSince = Date.now()
  const deadline = Date.now() + 30_000
  for (;;) {
    const now = await allAnomalies(url)
    if (now.length !== anomalies.length) stableSince = Date.now()
    anomalies = now
    if (anomalies.length > 0 && Date.now() - stableSince > 2_000) return anomalies
    if (Date.now() > deadline) return anomalies
    await sleep(250)
  }
}

const postAll = async (url: string, events: Array<Record<string, unknown>>) => {
  let accepted = 0
  for (let i = 0; i < events.length; i += 600) {
    const body = `${events
      .slice(i, i + 600)
      .map((e) => JSON.stringify(e))
      .join("\n")}\n`
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${url}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/x-ndjson" },
        body
      })
      if (res.status === 429 && attempt < 50) {
        await sleep(Number(res.headers.get("retry-after") ?? "1") * 200)
        continue
      }
      assert.strictEqual(res.status, 202, await res.clone().text())
      const json = (await res.json()) as { accepted: number; rejectedCount: number }
      assert.strictEqual(json.rejectedCount, 0)
      accepted += json.accepted
      break
    }
  }
  return accepted
}

afterAll(() => {
  killAll()
})

describe("sentinel serve (end to end)", () => {
  it("finds the latency spike of one series, shuts down cleanly, and keeps the anomalies across a restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sentinel-e2e-"))
    try {
      const first = await start(dataDir)
      const health = await fetch(`${first.url}/healthz`)
      assert.strictEqual(health.status, 200)

      const events = makeEvents()
      assert.strictEqual(await postAll(first.url, events), events.length)

      // wait until the pipeline has written the spike's anomalies and nothing changes any more
      let anomalies: Array<StoredAnomaly> = []
      let stableSince = Date.now()
      const deadline = Date.now() + 30_000
      for (;;) {
        const now = await allAnomalies(first.url)
        if (now.length !== anomalies.length) stableSince = Date.now()
        anomalies = now
        if (anomalies.length > 0 && Date.now() - stableSince > 2_000) break
        if (Date.now() > deadline) break
        await sleep(250)
      }

      const spikeWindows = new Set([T0 + SPIKE_START * 1000, T0 + SPIKE_START * 1000 + WINDOW_MS])
      const describe = (a: StoredAnomaly) =>
        `${a.series.service}/${a.series.metric} ${a.detector} at +${(a.time - T0) / 1000}s observed ${a.observed}`
      assert.isAbove(anomalies.length, 0, `no anomaly found; server output:\n${first.output()}`)
      const found = anomalies.map(describe).join("\n")
      for (const a of anomalies) {
        assert.strictEqual(a.series.service, spiked, `anomaly on a steady series: ${describe(a)}; all:\n${found}`)
        assert.match(a.series.metric, /^latency\./, `anomaly on a non-latency signal: ${describe(a)}; all:\n${found}`)
        assert.isTrue(spikeWindows.has(a.time), `anomaly outside the spike: ${describe(a)}; all:\n${found}`)
      }
      // the spike is found in each of its windows on p95 latency
      for (const w of spikeWindows) {
        assert.isTrue(
          anomalies.some((a) => a.time === w && a.series.metric === "latency.p95"),
          `no latency.p95 anomaly at +${(w - T0) / 1000}s; found: ${anomalies.map(describe).join("; ")}`
        )
      }
      // filters reach the same anomalies
      const filtered = await allAnomalies(
        first.url,
        `&service=${spiked}&metric=latency.p95&since=${new Date(T0 + SPIKE_START * 1000).toISOString()}`
      )
      assert.deepStrictEqual(
        filtered.map((a) => a.id),
        anomalies.filter((a) => a.series.metric === "latency.p95").map((a) => a.id)
      )
      assert.strictEqual((await allAnomalies(first.url, "&service=chat")).length, 0)

      // every accepted event went through the pipeline (Prometheus counters)
      const metrics = await (await fetch(`${first.url}/metrics`)).text()
      assert.match(metrics, new RegExp(`^sentinel_events_decoded_total ${events.length}$`, "m"), metrics)
      assert.match(metrics, /^sentinel_events_dead_lettered_total 0$/m)

      const stopped = await stop(first)
      assert.deepStrictEqual(stopped, { code: 0, signal: null }, first.output())
      assert.match(first.output(), /pipeline drained/)

      // durability: a new process on the same data directory serves the same anomalies
      const second = await start(dataDir)
      const again = await allAnomalies(second.url)
      assert.includeMembers(
        again.map((a) => a.id),
        anomalies.map((a) => a.id)
      )
      for (const a of again) {
        assert.strictEqual(a.series.service, spiked, describe(a))
        assert.isTrue(spikeWindows.has(a.time), describe(a))
      }
      const stoppedAgain = await stop(second)
      assert.strictEqual(stoppedAgain.code, 0, second.output())
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 180_000)

  it("loses nothing accepted when killed with SIGKILL: the journal replays it after a restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sentinel-e2e-kill-"))
    try {
      const events = makeEvents()
      const cut = events.findIndex((e) => (e.timestamp as number) >= T0 + (SPIKE_START + 15) * 1000)
      const checkpointed = events.findIndex((e) => (e.timestamp as number) >= T0 + 20 * 60 * 1000)
      const first = await start(dataDir, ["--checkpoint-every", "1 second"])
      assert.strictEqual(await postAll(first.url, events.slice(0, checkpointed)), checkpointed)
      await sleep(2_500) // a checkpoint is taken: the restart replays from it, not from the beginning
      // the spike's first 15 seconds are accepted, then the process dies before its windows can close
      assert.strictEqual(await postAll(first.url, events.slice(checkpointed, cut)), cut - checkpointed)
      first.child.kill("SIGKILL")
      assert.deepStrictEqual(await first.exited, { code: null, signal: "SIGKILL" })

      const second = await start(dataDir, ["--checkpoint-every", "1 second"])
      assert.match(second.output(), /replaying \d+ journaled batches from position [1-9]\d*/)
      assert.strictEqual(await postAll(second.url, events.slice(cut)), events.length - cut)
      const anomalies = await settledAnomalies(second.url)
      const spikeWindows = new Set([T0 + SPIKE_START * 1000, T0 + SPIKE_START * 1000 + WINDOW_MS])
      const found = anomalies.map(
        (a) => `${a.series.service}/${a.series.metric} ${a.detector} +${(a.time - T0) / 1000}s`
      )
      for (const w of spikeWindows) {
        assert.isTrue(
          anomalies.some((a) => a.time === w && a.series.service === spiked && a.series.metric === "latency.p95"),
          `the spike's window at +${(w - T0) / 1000}s was lost; found:\n${found.join("\n")}\n${second.output()}`
        )
      }
      for (const a of anomalies) {
        assert.strictEqual(a.series.service, spiked, found.join("\n"))
        assert.isTrue(spikeWindows.has(a.time), found.join("\n"))
      }
      assert.strictEqual(new Set(anomalies.map((a) => a.id)).size, anomalies.length)
      assert.strictEqual((await stop(second)).code, 0, second.output())
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 180_000)
})
