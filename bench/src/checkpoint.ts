/**
 * `npm run bench:checkpoint`: how long a checkpoint blocks the event loop, at a few hundred and at 12,500
 * service × model pairs (3,200 and 100,000 watched signal series), with the default detectors
 * (`Defaults.config`) and the embedded SQLite store of `sentinel serve`.
 *
 * Each size runs the in-process pipeline twice over the same streamed input (a few windows of events, every pair
 * in every window): once with the embedded `StateStore` and once without one (the baseline, in the same run).
 * When every batch was processed and acknowledged, the event-loop delay histogram
 * (`perf_hooks.monitorEventLoopDelay`, 1 ms resolution) is reset and the source ends: the forced checkpoint at the
 * end of the input (every detector state, window clock, the alert state and the position) is then all that runs.
 * Printed: the longest event-loop stall during it, its wall time, and how many entries it wrote.
 *
 *   npm run bench:checkpoint                      # 400 and 12,500 pairs
 *   npm run bench:checkpoint -- --pairs 400       # one size
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks"
import { parseArgs } from "node:util"
import { EventSource, Extract, Pipeline } from "@llm-sentinel/core"
import { Defaults } from "@llm-sentinel/detectors"
import { EmbeddedStore } from "@llm-sentinel/server"
import { Effect, Layer, Result, Stream } from "effect"
import { nullSinks } from "./nullSinks.ts"

const { values: args } = parseArgs({
  options: {
    pairs: { type: "string", multiple: true },
    windows: { type: "string", default: "3" },
    batch: { type: "string", default: "250" }
  }
})
const sizes = (args.pairs ?? ["400", "12500"]).map(Number)
const WINDOWS = Number(args.windows)
const BATCH = Number(args.batch)
const WINDOW_MS = 10_000
const T0 = Date.parse("2026-11-26T00:00:00.000Z")

/** Every pair once per second of event time for `WINDOWS` windows (+1, which closes the last), streamed. */
function* batches(pairs: number, counter: { sent: number }): Generator<EventSource.SourceBatch> {
  const services = Math.min(pairs, 500)
  const seconds = (WINDOWS + 1) * (WINDOW_MS / 1000)
  let raw: Array<unknown> = []
  let seq = 0
  for (let s = 0; s < seconds; s++) {
    for (let p = 0; p < pairs; p++) {
      const i = s * pairs + p
      raw.push({
        timestamp: T0 + s * 1000 + Math.floor((p / pairs) * 1000),
        service: `service-${p % services}`,
        model: `model-${Math.floor(p / services)}`,
        latencyMs: 400 + ((i * 7919) % 200),
        ttftMs: 100 + ((i * 104729) % 50),
        inputTokens: 500 + (i % 500),
        outputTokens: 100 + ((i * 31) % 300),
        costUsd: 0.001 + (i % 97) / 10_000,
        status: i % 101 === 0 ? "error" : "ok"
      })
      if (raw.length === BATCH) {
        counter.sent++
        yield { raw, events: [], ack: Effect.void, position: seq++ }
        raw = []
      }
    }
  }
  if (raw.length > 0) {
    counter.sent++
    yield { raw, events: [], ack: Effect.void, position: seq++ }
  }
}

interface Measured {
  readonly maxStallMs: number
  readonly maxGcMs: number
  readonly processingStallMs: number
  readonly processingGcMs: number
  readonly checkpointMs: number
  readonly entries: number
  readonly rssMiB: number
}

const runOnce = async (pairs: number, withStore: boolean): Promise<Measured> => {
  const config = Result.getOrThrow(
    Pipeline.makeConfig({
      ...Defaults.config.detectOptions(),
      window: `${WINDOW_MS} millis`,
      maxDelay: "1 second",
      flushOnEnd: false,
      // only the first batch and the end of the input checkpoint
      checkpointEvery: "1 hour",
      maxEventsPerStep: BATCH,
      maxSeries: 1_000_000
    })
  )
  const pipeline = Pipeline.make(config)
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  histogram.enable()
  let measuring = true
  let maxGcMs = 0
  let processingStallMs = 0
  let processingGcMs = 0
  const gc = new PerformanceObserver((list) => {
    if (measuring) for (const e of list.getEntries()) maxGcMs = Math.max(maxGcMs, e.duration)
  })
  gc.observe({ entryTypes: ["gc"] })
  const counter = { sent: 0 }
  let endAt = 0
  // after every batch was acknowledged: reset the histogram, then end the source (the end checkpoints)
  const quiesce = Effect.gen(function* () {
    while (true) {
      const st = yield* pipeline.stats
      if (st.batchesAcknowledged >= counter.sent) break
      yield* Effect.sleep("20 millis")
    }
    yield* Effect.sleep("50 millis")
    processingStallMs = histogram.max / 1e6
    processingGcMs = maxGcMs
    maxGcMs = 0
    histogram.reset()
    measuring = true
    endAt = performance.now()
  })
  const source = Layer.succeed(EventSource.EventSource, {
    batches: Stream.fromIteratorSucceed(batches(pairs, counter), 1).pipe(
      Stream.concat(Stream.drain(Stream.fromEffect(quiesce)))
    )
  })
  const dir = mkdtempSync(join(tmpdir(), "sentinel-bench-checkpoint-"))
  const store = withStore ? EmbeddedStore.layer({ path: join(dir, "sentinel.db") }) : Layer.empty
  await Effect.runPromise(
    pipeline.run.pipe(Effect.provide(Layer.mergeAll(nullSinks, source, store)), Effect.scoped) as Effect.Effect<void>
  )
  const checkpointMs = performance.now() - endAt
  histogram.disable()
  measuring = false
  gc.disconnect()
  const st = Effect.runSync(pipeline.stats)
  rmSync(dir, { recursive: true, force: true })
  return {
    maxStallMs: histogram.max / 1e6,
    maxGcMs,
    processingStallMs,
    processingGcMs,
    checkpointMs,
    entries: st.checkpoints,
    rssMiB: process.memoryUsage().rss / 2 ** 20
  }
}

console.log(
  `checkpoint stall: default detectors, ${WINDOW_MS / 1000} s windows, ${WINDOWS} windows per pair, batches of ${BATCH}, ${Extract.defaultSignals.length} signals per pair; node ${process.version}`
)
console.log(
  "pairs   signal series  store       entries written  checkpoint ms  longest stall / GC ms  (processing: stall / GC ms)  RSS MiB"
)
for (const pairs of sizes) {
  for (const withStore of [false, true]) {
    const m = await runOnce(pairs, withStore)
    console.log(
      `${String(pairs).padEnd(8)}${String(pairs * Extract.defaultSignals.length).padEnd(15)}${(withStore ? "sqlite" : "none (base)").padEnd(12)}${String(m.entries).padStart(15)}  ${m.checkpointMs.toFixed(0).padStart(13)}  ${`${m.maxStallMs.toFixed(1)} / ${m.maxGcMs.toFixed(1)}`.padStart(21)}  ${`${m.processingStallMs.toFixed(1)} / ${m.processingGcMs.toFixed(1)}`.padStart(27)}  ${m.rssMiB.toFixed(0).padStart(7)}`
    )
    globalThis.gc?.()
  }
}
