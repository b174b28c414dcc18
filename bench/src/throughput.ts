// Throughput of the in-process pipeline (decode → extract → window → detect → alert, null sinks), in events/s,
// beside a hand-written plain-JS loop doing the same work on the same input in the same run. The ratio is the
// figure: absolute numbers move with the machine's load.
//
//   npm run bench                        (defaults: 300k events, 200 series, 5 rounds)
//   npm run bench -- --events 1000000 --rounds 3

import { parseArgs } from "node:util"
import { DDSketch } from "@datadog/sketches-js"
import { EventSource, Pipeline } from "@llm-sentinel/core"
import { ZScore } from "@llm-sentinel/detectors"
import { Effect, Layer, Result } from "effect"
import { nullSinks } from "./nullSinks.ts"

const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "300000" },
    rounds: { type: "string", default: "5" },
    window: { type: "string", default: "10" }
  }
})
const N = Number(args.events)
const ROUNDS = Number(args.rounds)
const WINDOW_S = Number(args.window)

// ---- input: 20 services × 10 models, 1000 events/s of event time, ~200 bytes of JSON each, parsed. Streamed:
// each run draws the same records from a fresh generator (the same seed), so no fixture of N records is held and
// the RSS printed is the pipeline's. Both paths pay for the generation; its cost alone is timed and printed too.
const T0 = Date.parse("2026-11-26T00:00:00.000Z")
const SERVICES = Array.from({ length: 20 }, (_, s) => `service-${s}`)
const MODELS = Array.from({ length: 10 }, (_, m) => `model-${m}`)
function* records(): Generator<Record<string, unknown>> {
  let a = 12345
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  for (let i = 0; i < N; i++) {
    yield {
      timestamp: T0 + i,
      service: SERVICES[i % 20],
      model: MODELS[Math.floor(i / 20) % 10],
      provider: "openai",
      latencyMs: 400 + 200 * rand(),
      ttftMs: 100 + 50 * rand(),
      inputTokens: 500 + Math.floor(500 * rand()),
      outputTokens: 100 + Math.floor(300 * rand()),
      costUsd: 0.001 + 0.01 * rand(),
      status: rand() < 0.01 ? "error" : "ok"
    }
  }
}
const generation = (): number => {
  const t = performance.now()
  let n = 0
  for (const r of records()) if (r.status !== undefined) n++
  if (n !== N) throw new Error("unreachable")
  return performance.now() - t
}

// ---- Sentinel: the real pipeline with null sinks
const config = Result.getOrThrow(
  Pipeline.makeConfig({ detectors: [ZScore.make()], window: `${WINDOW_S} seconds`, maxDelay: "1 second" })
)
const sentinel = async (): Promise<number> => {
  const pipeline = Pipeline.make(config)
  const t = performance.now()
  await Effect.runPromise(
    pipeline.run.pipe(
      Effect.provide(
        Layer.mergeAll(nullSinks, EventSource.layerFromIterable({ [Symbol.iterator]: records }, { batchSize: 1000 }))
      )
    )
  )
  const ms = performance.now() - t
  const { decoded } = Effect.runSync(pipeline.stats)
  if (decoded !== N) throw new Error(`decoded ${decoded} of ${N}`)
  return ms
}

// ---- baseline: the same work by hand — validate, extract 7 metrics, tumbling windows per series with
// Welford + DDSketch (quantile metrics), derive the 8 default signals, rolling z-score (window 256) on each.
const baseline = (): number => {
  const t = performance.now()
  const size = WINDOW_S * 1000
  type Win = { end: number; n: number; sum: number; mean: number; m2: number; sketch: DDSketch | undefined }
  type Det = { ring: Float64Array; n: number; i: number; mean: number; m2: number }
  const windows = new Map<string, Map<string, Map<string, Win>>>()
  const dets = new Map<string, Det>()
  let anomalies = 0
  let decoded = 0
  const detect = (key: string, x: number) => {
    if (!Number.isFinite(x)) return
    let d = dets.get(key)
    if (d === undefined) dets.set(key, (d = { ring: new Float64Array(256), n: 0, i: 0, mean: 0, m2: 0 }))
    const sd = d.n > 1 ? Math.sqrt(d.m2 / (d.n - 1)) : 0
    if (d.n >= 30 && Math.abs(x - d.mean) / Math.max(sd, 1e-9) >= 4) anomalies++
    if (d.n === 256) {
      const old = d.ring[d.i]!
      const mean = d.mean + (x - old) / 256
      d.m2 += (x - old) * (x - mean + old - d.mean)
      d.mean = mean
    } else {
      d.n++
      const delta = x - d.mean
      d.mean += delta / d.n
      d.m2 += delta * (x - d.mean)
    }
    d.ring[d.i] = x
    d.i = (d.i + 1) % 256
  }
  const close = (service: string, model: string, metric: string, w: Win) => {
    const base = `${service}/${model}/${metric}`
    const q = (p: number) => (w.sketch && w.sketch.count > 0 ? w.sketch.getValueAtQuantile(p) : Number.NaN)
    if (metric === "latency") {
      detect(`${base}.p95`, q(0.95))
      detect(`${base}.p50`, q(0.5))
    } else if (metric === "ttft") detect(`${base}.p95`, q(0.95))
    else if (metric === "outputTokens") detect(`${base}.mean`, w.mean)
    else if (metric === "totalTokens") detect(`${base}.perSecond`, w.sum / WINDOW_S)
    else if (metric === "cost") detect(`${base}.perMinute`, (w.sum / WINDOW_S) * 60)
    else if (metric === "error") detect(`${base}.rate`, w.mean)
    else if (metric === "requests") detect(`${base}.perSecond`, w.n / WINDOW_S)
  }
  const add = (service: string, model: string, metric: string, time: number, x: number, quantiles: boolean) => {
    let byModel = windows.get(service)
    if (byModel === undefined) windows.set(service, (byModel = new Map()))
    let byMetric = byModel.get(model)
    if (byMetric === undefined) byModel.set(model, (byMetric = new Map()))
    let w = byMetric.get(metric)
    const end = time - (time % size) + size
    if (w !== undefined && end > w.end) {
      close(service, model, metric, w)
      w = undefined
    }
    if (w === undefined) {
      byMetric.set(metric, (w = { end, n: 0, sum: 0, mean: 0, m2: 0, sketch: quantiles ? new DDSketch() : undefined }))
    }
    w.n++
    w.sum += x
    const delta = x - w.mean
    w.mean += delta / w.n
    w.m2 += delta * (x - w.mean)
    w.sketch?.accept(x)
  }
  const num = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0
  for (const r of records()) {
    if (typeof r.service !== "string" || typeof r.model !== "string" || !num(r.latencyMs) || !num(r.timestamp)) continue
    if (r.costUsd !== undefined && !num(r.costUsd)) continue
    decoded++
    const time = r.timestamp as number
    add(r.service, r.model, "latency", time, r.latencyMs as number, true)
    add(r.service, r.model, "ttft", time, r.ttftMs as number, true)
    add(r.service, r.model, "inputTokens", time, r.inputTokens as number, false)
    add(r.service, r.model, "outputTokens", time, r.outputTokens as number, false)
    add(r.service, r.model, "totalTokens", time, (r.inputTokens as number) + (r.outputTokens as number), false)
    add(r.service, r.model, "cost", time, r.costUsd as number, false)
    add(r.service, r.model, "error", time, r.status === "error" ? 1 : 0, false)
    add(r.service, r.model, "requests", time, 1, false)
  }
  for (const [service, byModel] of windows) {
    for (const [model, byMetric] of byModel) for (const [metric, w] of byMetric) close(service, model, metric, w)
  }
  const ms = performance.now() - t
  if (decoded !== N) throw new Error(`baseline decoded ${decoded}`)
  if (anomalies < 0) throw new Error("unreachable")
  return ms
}

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
await sentinel() // warm-up both paths once
baseline()
const s: Array<number> = []
const b: Array<number> = []
const g: Array<number> = []
let peakRss = 0
for (let r = 0; r < ROUNDS; r++) {
  g.push(generation())
  b.push(baseline())
  s.push(await sentinel())
  peakRss = Math.max(peakRss, process.memoryUsage().rss)
}
const rate = (ms: number) => Math.round(N / (ms / 1000))
const rss = Math.round(peakRss / 2 ** 20)
console.log(
  `throughput: ${N} events, 200 series × 8 metrics, ${WINDOW_S} s tumbling windows, rolling z-score on 8 signals`
)
console.log(
  `  medians of ${ROUNDS} rounds (node ${process.version}, RSS ${rss} MiB after the pipeline runs, input streamed)`
)
console.log(
  `  hand-written loop : ${rate(median(b)).toLocaleString("en")} events/s (${((median(b) * 1e6) / N).toFixed(0)} ns/event)`
)
console.log(
  `  sentinel pipeline : ${rate(median(s)).toLocaleString("en")} events/s (${((median(s) * 1e6) / N).toFixed(0)} ns/event)`
)
console.log(`  input generation alone: ${((median(g) * 1e6) / N).toFixed(0)} ns/event (included in both figures above)`)
console.log(`  ratio sentinel/hand-written throughput: ${(median(b) / median(s)).toFixed(2)}`)
