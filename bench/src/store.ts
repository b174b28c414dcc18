// Embedded store benchmark: the SQLite store of `sentinel serve` (node:sqlite, WAL, synchronous=NORMAL) beside the
// in-memory AnomalyStore as the baseline, in the same run.
//
// Prints: RSS before/after opening, open time on a new file and on an existing one, insert rows/s for N anomalies
// in batches of 1000 (one transaction each), p50/p95 query latency for "latest 100" and "service + since", file
// size, and the longest single insert batch (how long one batch blocks the event loop).
//
//   npm run bench:store            # 100k anomalies
//   node bench/src/store.ts 20000  # fewer
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Anomaly, AnomalyStore } from "@llm-sentinel/core"
import { EmbeddedStore } from "@llm-sentinel/server"
import { Context, Effect, Layer, Scope } from "effect"

const N = Number(process.argv[2] ?? 100_000)
const BATCH = 1000
const QUERIES = 200
const services = Array.from({ length: 20 }, (_, i) => `service-${i}`)
const models = Array.from({ length: 10 }, (_, i) => `model-${i}`)
const signals = ["latency.p95", "latency.p50", "error.rate", "cost.perMinute"]
const t0 = 1_780_000_000_000

const anomalies: Array<Anomaly.Anomaly> = Array.from({ length: N }, (_, i) => {
  const service = services[i % services.length]!
  const model = models[(i >> 3) % models.length]!
  const metric = signals[(i >> 5) % signals.length]!
  const id = `${service}/${model}/${metric}`
  const time = t0 + Math.floor(i / 4) * 10_000
  const detector = i % 2 === 0 ? "zscore" : "ewma"
  return {
    id: Anomaly.makeId(id, detector, time),
    series: { id, service, model, metric, dimensions: {} },
    detector,
    time,
    observed: 3000 + (i % 100),
    expected: 500,
    lower: 420,
    upper: 580,
    score: 6.5,
    severity: "critical",
    reason: "z=6.5 above mean 500 (σ 25)",
    detectedAt: time + 12_000
  }
})

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
const ms = (x: number) => `${x.toFixed(2)} ms`
const now = () => performance.now()
const percentile = (xs: Array<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

interface Result {
  readonly name: string
  readonly rssBefore: number
  readonly rssAfter: number
  readonly openNew: number
  readonly openExisting: number | undefined
  readonly insertRowsPerSec: number
  readonly maxBatchMs: number
  readonly latest100: [number, number]
  readonly serviceSince: [number, number]
  readonly rssEnd: number
  readonly fileSize: number | undefined
}

const openStore = (layer: Layer.Layer<AnomalyStore.AnomalyStore, unknown>) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const start = now()
    const context = yield* Layer.buildWithScope(layer, scope)
    const elapsed = now() - start
    return { store: Context.get(context, AnomalyStore.AnomalyStore), scope, elapsed }
  })

const measure = (
  name: string,
  layer: () => Layer.Layer<AnomalyStore.AnomalyStore, unknown>,
  file: string | undefined
): Effect.Effect<Result, unknown> =>
  Effect.gen(function* () {
    globalThis.gc?.()
    const rssBefore = process.memoryUsage().rss
    const opened = yield* openStore(layer())
    const rssAfter = process.memoryUsage().rss
    const { store } = opened
    let maxBatchMs = 0
    const insertStart = now()
    for (let i = 0; i < anomalies.length; i += BATCH) {
      const b = now()
      yield* store.insert(anomalies.slice(i, i + BATCH))
      maxBatchMs = Math.max(maxBatchMs, now() - b)
    }
    const insertSecs = (now() - insertStart) / 1000
    const latest: Array<number> = []
    const filtered: Array<number> = []
    for (let q = 0; q < QUERIES; q++) {
      let s = now()
      const page = yield* store.query({ limit: 100 })
      latest.push(now() - s)
      if (page.items.length !== 100) throw new Error(`${name}: latest 100 returned ${page.items.length}`)
      const since = t0 + Math.floor(((q * 7919) % N) / 4) * 10_000
      s = now()
      yield* store.query({ limit: 100, service: services[q % services.length]!, since })
      filtered.push(now() - s)
    }
    const rssEnd = process.memoryUsage().rss
    yield* Scope.close(opened.scope, { _tag: "Success", value: undefined } as never)
    let openExisting: number | undefined
    if (file !== undefined) {
      const again = yield* openStore(layer())
      openExisting = again.elapsed
      const page = yield* again.store.query({ limit: 1 })
      if (page.items.length !== 1) throw new Error("reopened store is empty")
      yield* Scope.close(again.scope, { _tag: "Success", value: undefined } as never)
    }
    return {
      name,
      rssBefore,
      rssAfter,
      openNew: opened.elapsed,
      openExisting,
      insertRowsPerSec: N / insertSecs,
      maxBatchMs,
      latest100: [percentile(latest, 0.5), percentile(latest, 0.95)],
      serviceSince: [percentile(filtered, 0.5), percentile(filtered, 0.95)],
      rssEnd,
      fileSize: file === undefined ? undefined : statSync(file).size
    }
  })

const dir = mkdtempSync(join(tmpdir(), "sentinel-bench-store-"))
const file = join(dir, "sentinel.db")

const results = await Effect.runPromise(
  Effect.gen(function* () {
    const memory = yield* measure("in-memory (baseline)", () => AnomalyStore.layerMemory, undefined)
    const sqlite = yield* measure("node:sqlite (WAL, NORMAL)", () => EmbeddedStore.layer({ path: file }), file)
    return [memory, sqlite]
  })
)
rmSync(dir, { recursive: true, force: true })

console.log(`store benchmark: ${N} anomalies in batches of ${BATCH}, ${QUERIES} queries each, Node ${process.version}`)
const rows: Array<[string, (r: Result) => string]> = [
  ["RSS before open", (r) => mib(r.rssBefore)],
  ["RSS after open", (r) => `${mib(r.rssAfter)} (+${mib(r.rssAfter - r.rssBefore)})`],
  ["open, new file", (r) => ms(r.openNew)],
  ["open, existing file", (r) => (r.openExisting === undefined ? "n/a" : ms(r.openExisting))],
  ["insert rows/s", (r) => Math.round(r.insertRowsPerSec).toLocaleString("en-US")],
  ["longest batch of 1000", (r) => ms(r.maxBatchMs)],
  ["latest 100, p50 / p95", (r) => `${ms(r.latest100[0])} / ${ms(r.latest100[1])}`],
  ["service+since, p50 / p95", (r) => `${ms(r.serviceSince[0])} / ${ms(r.serviceSince[1])}`],
  ["RSS after inserts+queries", (r) => mib(r.rssEnd)],
  ["file size (after close)", (r) => (r.fileSize === undefined ? "n/a" : mib(r.fileSize))]
]
const width = Math.max(...rows.map(([k]) => k.length))
console.log(`${"".padEnd(width)}  ${results.map((r) => r.name.padEnd(28)).join("")}`)
for (const [label, f] of rows) console.log(`${label.padEnd(width)}  ${results.map((r) => f(r).padEnd(28)).join("")}`)
