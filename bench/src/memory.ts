/**
 * `npm run bench:memory`: the resident memory of the real `sentinel serve` holding 12,500 service × model pairs
 * (100,000 watched signal series, 8 per pair) with the default detectors, and whether it stays flat in a soak at a
 * constant rate.
 *
 * The server starts on a fresh data directory (embedded store, journal, the default detectors and peer stage);
 * its RSS once ready, before any event, is the baseline printed beside every figure. Then every pair sends one
 * event per second of wall-clock time (event time = now, NDJSON bodies of 5,000 events), first for a warm-up
 * (`--warmup` minutes: every series exists and its detectors allocated), then for the soak (`--minutes`). The RSS
 * of the server (`/proc/<pid>/status`) is sampled every 5 s. Printed: RSS at the end of the warm-up and every
 * minute of the soak, the soak's median ("steady state") against the 512 MiB target, its slope (a least-squares
 * line through the soak's samples, MiB per minute) and the last minute's mean over the first one's. At the end
 * every posted event must have been decoded, and the live series must number 8 per pair.
 *
 *   npm run bench:memory                                  # 12,500 pairs, 2 min warm-up, 10 min soak
 *   npm run bench:memory -- --pairs 2000 --minutes 2      # a quick look
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { metric, mulberry32, rss, sleep, start, stop } from "../../test/e2e/sentinel.ts"

const { values: args } = parseArgs({
  options: {
    pairs: { type: "string", default: "12500" },
    warmup: { type: "string", default: "2" },
    minutes: { type: "string", default: "10" },
    window: { type: "string", default: "10 seconds" }
  }
})
const PAIRS = Number(args.pairs)
const WARMUP_S = Number(args.warmup) * 60
const SOAK_S = Number(args.minutes) * 60
const BODY = 5000
const SERVICES = Math.min(PAIRS, 500)
const SIGNALS_PER_PAIR = 8

const mib = (bytes: number) => bytes / 2 ** 20
const fmt = (bytes: number) => `${Math.round(mib(bytes))} MiB`
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length
/** Least-squares slope of y over x. */
const slope = (xs: ReadonlyArray<number>, ys: ReadonlyArray<number>) => {
  const mx = mean(xs)
  const my = mean(ys)
  let num = 0
  let den = 0
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my)
    den += (xs[i]! - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

const rand = mulberry32(20261202)
const prefixes = Array.from(
  { length: PAIRS },
  (_, p) => `{"service":"service-${p % SERVICES}","model":"model-${Math.floor(p / SERVICES)}","timestamp":`
)
/** One second of events, every pair once, as NDJSON bodies. */
const secondOf = (now: number): Array<string> => {
  const bodies: Array<string> = []
  let lines: Array<string> = []
  for (let p = 0; p < PAIRS; p++) {
    const latency = Math.round(400 * Math.exp(0.1 * (rand() - 0.5)))
    const tokens = 100 + Math.floor(200 * rand())
    lines.push(
      `${prefixes[p]}${now - 1000 + Math.floor((p / PAIRS) * 1000)},"latencyMs":${latency},"ttftMs":${Math.round(latency / 4)},"inputTokens":${500 + (p % 50)},"outputTokens":${tokens},"costUsd":${(tokens * 2e-6).toFixed(6)},"status":"${rand() < 0.01 ? "error" : "ok"}"}`
    )
    if (lines.length === BODY) {
      bodies.push(lines.join("\n"))
      lines = []
    }
  }
  if (lines.length > 0) bodies.push(lines.join("\n"))
  return bodies
}

const dataDir = mkdtempSync(join(tmpdir(), "sentinel-bench-memory-"))
try {
  const config = join(dataDir, "sentinel.json")
  writeFileSync(config, JSON.stringify({ pipeline: { window: args.window, maxSeries: PAIRS * SIGNALS_PER_PAIR * 2 } }))
  const samples: Array<{ t: number; rss: number }> = []
  const server = await start(join(dataDir, "data"), ["--config", config])
  process.on("uncaughtException", (e) => {
    console.error(
      `bench failed at ${new Date().toISOString()}: ${e}; server exit ${server.child.exitCode} ${server.child.signalCode}, last RSS samples ${samples
        .slice(-5)
        .map((x) => fmt(x.rss))
        .join(", ")}\nserver output (tail):\n${server.output().slice(-4000)}`
    )
    process.exit(1)
  })
  await sleep(2000)
  const baseline = rss(server)
  let posted = 0
  let resets = 0
  const post = async (body: string) => {
    for (;;) {
      // a connection the server closed as idle while the request was on its way is retried, as any client would
      const res = await fetch(`${server.url}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/x-ndjson" },
        body
      }).catch((e: unknown) => {
        if (server.child.exitCode !== null || server.child.signalCode !== null) throw e
        resets++
        return undefined
      })
      if (res === undefined) continue
      const text = await res.text()
      if (res.status === 202) {
        posted += (JSON.parse(text) as { accepted: number }).accepted
        return
      }
      if (res.status !== 429) throw new Error(`ingest answered ${res.status}: ${text}`)
      await sleep(100)
    }
  }
  const began = Date.now()
  const sampler = setInterval(() => {
    samples.push({ t: (Date.now() - began) / 1000, rss: rss(server) })
    if (process.env.BENCH_VERBOSE) console.log(`${Math.round((Date.now() - began) / 1000)} s: ${fmt(rss(server))}`)
  }, 5000)
  let behind = 0
  for (let s = 0; s < WARMUP_S + SOAK_S; s++) {
    const due = began + s * 1000
    const wait = due - Date.now()
    if (wait > 0) await sleep(wait)
    else behind++
    await Promise.all(secondOf(Date.now()).map(post))
  }
  clearInterval(sampler)
  const drainStart = Date.now()
  while ((await metric(server, "sentinel_events_decoded_total")) < posted && Date.now() - drainStart < 120_000) {
    await sleep(200)
  }
  const decoded = await metric(server, "sentinel_events_decoded_total")
  const series = ((await (await fetch(`${server.url}/v1/series?limit=1`)).json()) as { total: number }).total
  await stop(server)

  const soak = samples.filter((x) => x.t >= WARMUP_S)
  const warm = samples.filter((x) => x.t < WARMUP_S)
  const steady = median(soak.map((x) => x.rss))
  const perMinute = slope(
    soak.map((x) => x.t / 60),
    soak.map((x) => mib(x.rss))
  )
  const first = mean(soak.filter((x) => x.t < WARMUP_S + 60).map((x) => x.rss))
  const last = mean(soak.filter((x) => x.t >= WARMUP_S + SOAK_S - 60).map((x) => x.rss))
  console.log(
    `memory: sentinel serve (embedded default, default detectors and peer stage, ${args.window} windows), ${PAIRS.toLocaleString("en")} service × model pairs (${(PAIRS * SIGNALS_PER_PAIR).toLocaleString("en")} signals), one event per pair per second; node ${process.version}\n`
  )
  console.log(`baseline            RSS of the ready server before any event: ${fmt(baseline)}`)
  console.log(`end of warm-up      ${fmt(warm.at(-1)?.rss ?? 0)} after ${WARMUP_S / 60} min`)
  for (let m = 1; m <= SOAK_S / 60; m++) {
    const at = soak.filter((x) => x.t >= WARMUP_S + (m - 1) * 60 && x.t < WARMUP_S + m * 60)
    if (at.length > 0) console.log(`soak minute ${String(m).padStart(2)}      ${fmt(mean(at.map((x) => x.rss)))}`)
  }
  console.log(
    `steady state        ${fmt(steady)} (median of the soak; target < 512 MiB: ${mib(steady) < 512 ? "met" : "NOT met"}), ${(steady / baseline).toFixed(1)}× the baseline, ${Math.round((steady - baseline) / (PAIRS * SIGNALS_PER_PAIR))} B per signal above it`
  )
  console.log(
    `flatness            slope ${perMinute.toFixed(2)} MiB/min over the soak; last minute / first minute ${(last / first).toFixed(3)}`
  )
  console.log(
    `input               ${posted.toLocaleString("en")} events posted, ${decoded.toLocaleString("en")} decoded, ${series.toLocaleString("en")} live series; the load generator fell behind its schedule in ${behind} of ${WARMUP_S + SOAK_S} seconds; ${resets} requests retried after a connection reset`
  )
  if (decoded < posted) throw new Error(`only ${decoded} of ${posted} posted events were decoded`)
} finally {
  rmSync(dataDir, { recursive: true, force: true })
}
