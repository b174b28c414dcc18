/**
 * Process and queue gauges for `/metrics`, sampled every 2 seconds while the server runs:
 * `process_resident_memory_bytes`, `process_heap_used_bytes`, `process_heap_total_bytes` (the V8 heap reserved:
 * used plus what the garbage collector has not given back), `process_array_buffers_bytes` (typed-array and Buffer
 * memory outside the V8 heap), `process_cpu_seconds_total` (user + system, since
 * start), `nodejs_eventloop_delay_p99_seconds` and `nodejs_eventloop_delay_max_seconds` (over the last sample
 * interval), and `sentinel_queue_batches` (batches accepted by ingest and not yet taken by the pipeline: the
 * queue between the ingest and detect stages).
 *
 * @since 0.2.0
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import { type Detector, EventSource } from "@llm-sentinel/core"
import { Effect, Layer, Metric, Schedule } from "effect"

const gauges = {
  rss: Metric.gauge("process_resident_memory_bytes", { description: "resident set size" }),
  heap: Metric.gauge("process_heap_used_bytes", { description: "V8 heap in use" }),
  heapTotal: Metric.gauge("process_heap_total_bytes", { description: "V8 heap reserved (in use and free)" }),
  arrayBuffers: Metric.gauge("process_array_buffers_bytes", {
    description: "memory of typed arrays and Buffers, outside the V8 heap"
  }),
  cpu: Metric.gauge("process_cpu_seconds_total", { description: "user and system CPU time since start" }),
  loopP99: Metric.gauge("nodejs_eventloop_delay_p99_seconds", {
    description: "99th percentile of the event loop delay over the last sample interval"
  }),
  loopMax: Metric.gauge("nodejs_eventloop_delay_max_seconds", {
    description: "largest event loop delay over the last sample interval"
  }),
  queue: Metric.gauge("sentinel_queue_batches", {
    description: "batches accepted by ingest that the pipeline has not taken yet"
  }),
  lag: Metric.gauge("sentinel_detection_lag_seconds", {
    description: "wall-clock time minus the event time of the newest point scored (window length included)"
  })
}

let newestScored = Number.NaN

/**
 * Sees the scored points of the pipeline (its `onScored` hook) for `sentinel_detection_lag_seconds`.
 *
 * @category constructors
 * @since 0.2.0
 */
export const observeScored = (scored: ReadonlyArray<Detector.Scored>): void => {
  for (const s of scored) if (!(s.point.time <= newestScored)) newestScored = s.point.time
}

/**
 * Samples the gauges for the lifetime of the layer.
 *
 * @category layers
 * @since 0.2.0
 */
export const layer: Layer.Layer<never, never, EventSource.EventQueue> = Layer.effectDiscard(
  Effect.gen(function* () {
    const queue = yield* EventSource.EventQueue
    const delay = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const h = monitorEventLoopDelay({ resolution: 10 })
        h.enable()
        return h
      }),
      (h) => Effect.sync(() => h.disable())
    )
    const sample = Effect.gen(function* () {
      const memory = process.memoryUsage()
      const cpu = process.cpuUsage()
      yield* Metric.update(gauges.rss, memory.rss)
      yield* Metric.update(gauges.heap, memory.heapUsed)
      yield* Metric.update(gauges.heapTotal, memory.heapTotal)
      yield* Metric.update(gauges.arrayBuffers, memory.arrayBuffers)
      yield* Metric.update(gauges.cpu, (cpu.user + cpu.system) / 1e6)
      yield* Metric.update(gauges.loopP99, delay.percentile(99) / 1e9)
      yield* Metric.update(gauges.loopMax, delay.max / 1e9)
      delay.reset()
      yield* Metric.update(gauges.queue, yield* queue.size)
      if (!Number.isNaN(newestScored)) yield* Metric.update(gauges.lag, (Date.now() - newestScored) / 1000)
    })
    yield* sample.pipe(Effect.repeat(Schedule.spaced("2 seconds")), Effect.forkScoped)
  })
)
