// `npm run bench:overload`: the real `sentinel serve` pushed past what it can take. C connections post NDJSON
// bodies of E events as fast as they can for S seconds while a probe asks /healthz every 50 ms; prints events/s
// accepted, the share of 429 answers, the server's peak RSS and /healthz latency — beside the same /healthz probe
// on the idle server, measured first in the same run (the baseline).
//
//   npm run bench:overload -- [--seconds 20] [--connections 32] [--events 5000] [--max-events-in-flight 100000]
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Worker } from "node:worker_threads"
import { metric, rss, sleep, start, stop } from "../../test/e2e/sentinel.ts"

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const SECONDS = arg("seconds", 20)
const CONNECTIONS = arg("connections", 32)
const EVENTS = arg("events", 5000)
const MAX_IN_FLIGHT = arg("max-events-in-flight", 100_000)

const quantile = (xs: Array<number>, q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * q))] ?? Number.NaN
}
const ms = (x: number) => `${x.toFixed(1)} ms`
const mib = (b: number) => `${Math.round(b / 1024 / 1024)} MiB`

// The probe runs in its own thread, so its timings are the server's, not the load generator's event loop.
const probeSource = `
const { parentPort, workerData } = require("node:worker_threads")
const out = []
const run = async () => {
  while (Date.now() < workerData.until) {
    const started = performance.now()
    const res = await fetch(workerData.url + "/healthz")
    await res.text()
    out.push(performance.now() - started)
    await new Promise((r) => setTimeout(r, 50))
  }
  parentPort.postMessage(out)
}
run()
`
const probeHealth = (url: string, until: number, onSample: () => void): Promise<Array<number>> =>
  new Promise((resolve, reject) => {
    const worker = new Worker(probeSource, { eval: true, workerData: { url, until } })
    const timer = setInterval(onSample, 100)
    worker.once("message", (latencies: Array<number>) => {
      clearInterval(timer)
      void worker.terminate()
      resolve(latencies)
    })
    worker.once("error", (e) => {
      clearInterval(timer)
      reject(e)
    })
  })

const dataDir = mkdtempSync(join(tmpdir(), "sentinel-bench-overload-"))
try {
  const server = await start(dataDir, ["--max-events-in-flight", String(MAX_IN_FLIGHT)])
  const t0 = Date.now() - 120_000
  const bodies = Array.from({ length: 8 }, (_, b) =>
    Array.from({ length: EVENTS }, (_, i) =>
      JSON.stringify({
        timestamp: t0 + ((i * 7 + b) % 1200) * 100,
        service: `svc-${(i + b) % 50}`,
        model: `m-${i % 5}`,
        latencyMs: 300 + (i % 50),
        inputTokens: 200,
        outputTokens: 100 + (i % 7)
      })
    ).join("\n")
  )
  let peak = rss(server)
  const idle = await probeHealth(server.url, Date.now() + 3000, () => {})
  const idleRss = rss(server)
  const deadline = Date.now() + SECONDS * 1000
  let accepted = 0
  let answered = 0
  let tooMany = 0
  let errors = 0
  const load = async (c: number) => {
    for (let n = 0; Date.now() < deadline; n++) {
      const res = await fetch(`${server.url}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/x-ndjson" },
        body: bodies[(c + n) % bodies.length]!
      })
      const text = await res.text()
      answered++
      if (res.status === 202) accepted += (JSON.parse(text) as { accepted: number }).accepted
      else if (res.status === 429) {
        tooMany++
        await sleep(Number(res.headers.get("retry-after") ?? "1") * 20)
      } else errors++
    }
  }
  const started = Date.now()
  const [busy] = await Promise.all([
    probeHealth(server.url, deadline, () => {
      peak = Math.max(peak, rss(server))
    }),
    ...Array.from({ length: CONNECTIONS }, (_, c) => load(c))
  ])
  const seconds = (Date.now() - started) / 1000
  const drainStart = Date.now()
  while ((await metric(server, "sentinel_events_decoded_total")) < accepted && Date.now() - drainStart < 120_000) {
    await sleep(100)
  }
  const drained = (Date.now() - drainStart) / 1000
  console.log(
    `overload: ${CONNECTIONS} connections posting ${EVENTS}-event NDJSON bodies for ${SECONDS} s, max ${MAX_IN_FLIGHT} events in flight; node ${process.version}, 2 cores shared by server and load generator; /healthz probed every 50 ms from its own thread\n`
  )
  console.log(
    `accepted            ${Math.round(accepted / seconds).toLocaleString("en")} events/s (${accepted.toLocaleString("en")} events)`
  )
  console.log(
    `answers             ${answered} requests: ${(100 * (tooMany / Math.max(1, answered))).toFixed(1)}% 429, ${errors} other errors`
  )
  console.log(`server RSS          idle ${mib(idleRss)}, peak under load ${mib(peak)}`)
  console.log(
    `/healthz            idle (baseline) p50 ${ms(quantile(idle, 0.5))} p99 ${ms(quantile(idle, 0.99))}; under load p50 ${ms(
      quantile(busy, 0.5)
    )} p99 ${ms(quantile(busy, 0.99))} max ${ms(quantile(busy, 1))} (${busy.length} probes)`
  )
  console.log(`/healthz p99 under load / idle: ${(quantile(busy, 0.99) / quantile(idle, 0.99)).toFixed(1)}×`)
  console.log(`all accepted events processed ${drained.toFixed(1)} s after the load stopped`)
  await stop(server)
} finally {
  rmSync(dataDir, { recursive: true, force: true })
}
