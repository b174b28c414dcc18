// One shard of `bench:shards` (bench/src/shards.ts): a worker thread running the real pipeline (the same
// configuration as `npm run bench`: ZScore, 10 s windows, null sinks) over the batches its parent posts. A batch
// arrives either as an array of event objects (structured clone) or as a transferred buffer of NDJSON lines
// (parsed here); each batch's ack posts `{ ack }` back, so the parent keeps a bounded number in flight. Each
// `start` begins a new run (a fresh pipeline); `end` ends it, and `{ done }` reports it.

import { parentPort, workerData } from "node:worker_threads"
import { EventSource, Pipeline } from "@llm-sentinel/core"
import { ZScore } from "@llm-sentinel/detectors"
import { type Cause, Effect, Layer, Queue, Result, Stream } from "effect"
import { nullSinks } from "./nullSinks.ts"

const port = parentPort!
const { window } = workerData as { readonly window: number }

type Message =
  | { readonly _tag: "objects"; readonly events: ReadonlyArray<unknown> }
  | { readonly _tag: "ndjson"; readonly bytes: Uint8Array }
  | { readonly _tag: "end" }

const config = Result.getOrThrow(
  Pipeline.makeConfig({ detectors: [ZScore.make()], window: `${window} seconds`, maxDelay: "1 second" })
)
const decoder = new TextDecoder()
const lines = (bytes: Uint8Array): Array<unknown> => {
  const text = decoder.decode(bytes)
  const out: Array<unknown> = []
  let start = 0
  let nl = text.indexOf("\n")
  while (nl >= 0) {
    if (nl > start) out.push(JSON.parse(text.slice(start, nl)))
    start = nl + 1
    nl = text.indexOf("\n", start)
  }
  if (start < text.length) out.push(JSON.parse(text.slice(start)))
  return out
}

// one run per `start`: the worker stays up between runs, so the JIT is warm for the measured ones
let queue: Queue.Queue<EventSource.SourceBatch, Cause.Done> | undefined
let n = 0
const run = Effect.gen(function* () {
  const q = yield* Queue.unbounded<EventSource.SourceBatch, Cause.Done>()
  queue = q
  port.postMessage({ ready: true })
  const pipeline = Pipeline.make(config)
  yield* pipeline.run.pipe(
    Effect.provide(Layer.mergeAll(nullSinks, Layer.succeed(EventSource.EventSource, { batches: Stream.fromQueue(q) })))
  )
  const stats = yield* pipeline.stats
  port.postMessage({ done: { decoded: stats.decoded, windows: stats.windows } })
})

port.on("message", (m: Message | { readonly _tag: "start" }) => {
  if (m._tag === "start") {
    Effect.runFork(run)
    return
  }
  if (m._tag === "end") {
    Queue.endUnsafe(queue!)
    return
  }
  const id = n++
  const raw = m._tag === "objects" ? m.events : lines(m.bytes)
  Queue.offerUnsafe(queue!, { raw, events: [], ack: Effect.sync(() => port.postMessage({ ack: id })) })
})
