// Scaling of the pipeline sharded by series across worker threads (`node:worker_threads`), for 1..N workers
// (N = os.availableParallelism()), beside the single in-process pipeline measured in the same run. Events are
// routed by `Shard.of` (the hash of `service/model`, the key of Kafka's events topic), so every series stays in
// one shard and keeps its order. Two ways to hand a batch to a worker are measured:
//
// - `clone`:  the parent posts each shard's event objects (structured clone of an array of objects);
// - `ndjson`: the parent posts each shard's NDJSON lines as one buffer, transferred (no copy); the worker parses.
//
// Each worker runs the same pipeline as `npm run bench` (decode → window → ZScore → alert, null sinks) and acks
// every batch; the parent keeps at most `--in-flight` batches per worker unacknowledged (backpressure, bounded
// memory). The clock runs from the first post to the last worker's end of run; workers are started and warmed up
// by one unmeasured run per mode first (as the in-process pipeline is). The figure is the ratio to the in-process pipeline: absolute numbers move with the load of
// this shared machine.
//
//   npm run bench:shards
//   npm run bench:shards -- --events 600000 --rounds 5 --workers 4

import { availableParallelism, loadavg } from "node:os"
import { parseArgs } from "node:util"
import { Worker } from "node:worker_threads"
import { EventSource, Pipeline, Shard } from "@llm-sentinel/core"
import { ZScore } from "@llm-sentinel/detectors"
import { Effect, Layer, Result } from "effect"
import { nullSinks } from "./nullSinks.ts"

const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "300000" },
    rounds: { type: "string", default: "3" },
    window: { type: "string", default: "10" },
    batch: { type: "string", default: "1000" },
    workers: { type: "string", default: String(availableParallelism()) },
    "in-flight": { type: "string", default: "8" }
  }
})
const N = Number(args.events)
const ROUNDS = Number(args.rounds)
const WINDOW_S = Number(args.window)
const BATCH = Number(args.batch)
const MAX_WORKERS = Number(args.workers)
const IN_FLIGHT = Number(args["in-flight"])

// ---- input: the events of `npm run bench` (20 services × 10 models, 1000 events/s of event time), parsed, and
// each one's JSON line (what HTTP ingest holds after parsing a request)
const rand = (() => {
  let a = 12345
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
})()
const T0 = Date.parse("2026-11-26T00:00:00.000Z")
interface Record_ {
  readonly timestamp: number
  readonly service: string
  readonly model: string
  readonly [k: string]: unknown
}
const records: Array<Record_> = []
const texts: Array<string> = []
for (let i = 0; i < N; i++) {
  const r = {
    timestamp: T0 + i,
    service: `service-${i % 20}`,
    model: `model-${Math.floor(i / 20) % 10}`,
    provider: "openai",
    latencyMs: 400 + 200 * rand(),
    ttftMs: 100 + 50 * rand(),
    inputTokens: 500 + Math.floor(500 * rand()),
    outputTokens: 100 + Math.floor(300 * rand()),
    costUsd: 0.001 + 0.01 * rand(),
    status: rand() < 0.01 ? "error" : "ok"
  }
  records.push(r)
  texts.push(JSON.stringify(r))
}

// ---- in process: one pipeline, as `npm run bench`
const config = Result.getOrThrow(
  Pipeline.makeConfig({ detectors: [ZScore.make()], window: `${WINDOW_S} seconds`, maxDelay: "1 second" })
)
const inProcess = async (): Promise<number> => {
  const pipeline = Pipeline.make(config)
  const t = performance.now()
  await Effect.runPromise(
    pipeline.run.pipe(
      Effect.provide(Layer.mergeAll(nullSinks, EventSource.layerFromIterable(records, { batchSize: BATCH })))
    )
  )
  const ms = performance.now() - t
  const { decoded } = Effect.runSync(pipeline.stats)
  if (decoded !== N) throw new Error(`in process: decoded ${decoded} of ${N}`)
  return ms
}

// ---- sharded over worker threads
type Mode = "clone" | "ndjson"
interface Shard_ {
  readonly worker: Worker
  inFlight: number
  readonly waiting: Array<() => void>
  ready: () => void
  finish: (d: { readonly decoded: number; readonly windows: number }) => void
}

const startShard = (): Shard_ => {
  const worker = new Worker(new URL("./shard-worker.ts", import.meta.url), { workerData: { window: WINDOW_S } })
  const shard: Shard_ = { worker, inFlight: 0, waiting: [], ready: () => {}, finish: () => {} }
  worker.on("error", (e) => {
    console.error("a shard worker failed", e)
    process.exit(1)
  })
  worker.on("message", (m: { ready?: true; ack?: number; done?: { decoded: number; windows: number } }) => {
    if (m.ready === true) shard.ready()
    else if (m.ack !== undefined) {
      shard.inFlight--
      shard.waiting.shift()?.()
    } else if (m.done !== undefined) shard.finish(m.done)
  })
  return shard
}

const encoder = new TextEncoder()

/** One run over every event on already started workers; the clock starts once every worker is ready. */
const sharded = async (shards: ReadonlyArray<Shard_>, mode: Mode): Promise<number> => {
  const workers = shards.length
  await Promise.all(
    shards.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.ready = resolve
          s.worker.postMessage({ _tag: "start" })
        })
    )
  )
  const done = shards.map(
    (s) =>
      new Promise<{ readonly decoded: number; readonly windows: number }>((resolve) => {
        s.finish = resolve
      })
  )
  const send = async (s: Shard_, message: unknown, transfer?: ReadonlyArray<ArrayBuffer>) => {
    while (s.inFlight >= IN_FLIGHT) await new Promise<void>((resolve) => s.waiting.push(resolve))
    s.inFlight++
    s.worker.postMessage(message, transfer as Array<ArrayBuffer> | undefined)
  }
  const t = performance.now()
  for (let from = 0; from < N; from += BATCH) {
    const to = Math.min(N, from + BATCH)
    // one request's worth of events, split by owner (what ingest would do after parsing and validating)
    const objects: Array<Array<Record_>> = Array.from({ length: workers }, () => [])
    const lines: Array<Array<string>> = Array.from({ length: workers }, () => [])
    for (let i = from; i < to; i++) {
      const s = Shard.of(records[i]!, workers)
      if (mode === "clone") objects[s]!.push(records[i]!)
      else lines[s]!.push(texts[i]!)
    }
    for (let s = 0; s < workers; s++) {
      if (mode === "clone") {
        if (objects[s]!.length > 0) await send(shards[s]!, { _tag: "objects", events: objects[s] })
      } else if (lines[s]!.length > 0) {
        const bytes = encoder.encode(lines[s]!.join("\n"))
        await send(shards[s]!, { _tag: "ndjson", bytes }, [bytes.buffer as ArrayBuffer])
      }
    }
  }
  for (const s of shards) s.worker.postMessage({ _tag: "end" })
  const results = await Promise.all(done)
  const ms = performance.now() - t
  const decoded = results.reduce((n, r) => n + r.decoded, 0)
  if (decoded !== N) throw new Error(`${workers} workers (${mode}): decoded ${decoded} of ${N}`)
  return ms
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const int = (x: number) => Math.round(x).toLocaleString("en-US")

console.log(
  `Pipeline sharded over worker threads: ${int(N)} events, 200 series, batches of ${BATCH}, ${IN_FLIGHT} in flight per worker, medians of ${ROUNDS}`
)
console.log(
  `Node ${process.version}, ${availableParallelism()} cores shared with whatever else runs; load average before: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}\n`
)
await inProcess() // warm-up
const pools = new Map<number, ReadonlyArray<Shard_>>()
for (let w = 1; w <= MAX_WORKERS; w++) {
  const shards = Array.from({ length: w }, startShard)
  pools.set(w, shards)
  for (const mode of ["clone", "ndjson"] as const) await sharded(shards, mode) // warm-up
}
const base: Array<number> = []
const runs = new Map<string, Array<number>>()
for (let round = 0; round < ROUNDS; round++) {
  // interleaved, so a burst of load from a neighbour hits every configuration alike
  base.push(await inProcess())
  for (let w = 1; w <= MAX_WORKERS; w++) {
    for (const mode of ["clone", "ndjson"] as const) {
      const k = `${w}|${mode}`
      runs.set(k, [...(runs.get(k) ?? []), await sharded(pools.get(w)!, mode)])
    }
  }
}
const baseMs = median(base)
console.log(
  `${"configuration".padEnd(26)} ${"events/s".padStart(11)} ${"ms".padStart(8)} ${"× in-process".padStart(12)}`
)
const row = (name: string, ms: number) =>
  console.log(
    `${name.padEnd(26)} ${int((N / ms) * 1000).padStart(11)} ${int(ms).padStart(8)} ${(baseMs / ms).toFixed(2).padStart(12)}`
  )
row("in process, 1 pipeline", baseMs)
for (let w = 1; w <= MAX_WORKERS; w++) {
  for (const mode of ["clone", "ndjson"] as const)
    row(`${w} worker${w > 1 ? "s" : ""}, ${mode}`, median(runs.get(`${w}|${mode}`)!))
}
console.log(
  `\nload average after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`
)
// the pools' workers would keep the process alive (the bench printed its table, then hung until killed)
await Promise.all([...pools.values()].flat().map((s) => s.worker.terminate()))
