// The NATS JetStream source and sink against the NATS server running on 127.0.0.1:4222, with a stream of its
// own per test (unique names, deleted afterwards).
import { assert, describe, it } from "@effect/vitest"
import { Nats } from "@llm-sentinel/adapters"
import { type Alert, AlertSink, DeadLetterSink, EventSource, Pipeline, Verdict } from "@llm-sentinel/core"
import type { SourceBatch } from "@llm-sentinel/core/EventSource"
import * as ZScore from "@llm-sentinel/detectors/ZScore"
import { jetstream } from "@nats-io/jetstream"
import { Effect, Fiber, Layer, Result, Stream } from "effect"
import { anomaly, opened } from "./fixtures.ts"
import { natsUrl, testStream } from "./nats.ts"

const T0 = 1_700_000_000_000
const event = (i: number) => ({
  timestamp: T0 + i * 1000,
  service: "chat",
  model: "gpt-4o",
  latencyMs: 500 + (i % 7),
  traceId: `trace-${i}`
})
const keyOf = (r: unknown) => (typeof r === "string" ? `text:${r}` : (r as { traceId: string }).traceId)

describe("Nats source (JetStream durable pull consumer)", () => {
  it.live(
    "restarted mid-stream, between a sink write and its ack: nothing lost; only the unacknowledged batch comes again",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const t = yield* testStream()
          // 1000 events in 911 messages: 900 single events, 10 arrays of 10, one message that is not JSON
          const rest = Array.from({ length: 10 }, (_, k) =>
            JSON.stringify(Array.from({ length: 10 }, (_, j) => event(900 + k * 10 + j)))
          )
          yield* t.publish([...Array.from({ length: 900 }, (_, i) => JSON.stringify(event(i))), ...rest, "not json {"])
          const config: Nats.SourceConfig = {
            servers: natsUrl,
            stream: t.name,
            consumer: "sentinel",
            batchSize: 100,
            ackWait: "1 second"
          }
          // the "sink": idempotent by trace id, as stores are by anomaly id; every pass counted
          const store = new Map<string, unknown>()
          let passes = 0
          const write = (b: SourceBatch) => {
            for (const r of b.raw) {
              passes++
              store.set(keyOf(r), r)
            }
          }

          // first instance: 3 batches written and acknowledged, a 4th written, then the process "crashes"
          let batchNo = 0
          let unacked = 0
          const c1 = yield* Effect.gen(function* () {
            yield* EventSource.EventSource.use((s) =>
              s.batches.pipe(
                Stream.take(4),
                Stream.runForEach((b) => {
                  write(b)
                  if (++batchNo < 4) return b.ack
                  unacked = b.raw.length
                  return Effect.void
                })
              )
            )
            return yield* Nats.NatsSource.use((s) => s.counters.values)
          }).pipe(Effect.provide(Nats.layerSource(config)))
          assert.strictEqual(store.size, 400)
          assert.strictEqual(unacked, 100)
          assert.deepStrictEqual(c1, { received: 400, sent: 300, retried: 0, dropped: 0, errors: 0 })
          assert.deepStrictEqual(yield* t.consumer("sentinel"), { pending: 511, ackPending: 100, delivered: 400 })

          // second instance, same durable consumer: runs until the server has nothing pending or unacknowledged
          const c2 = yield* Effect.gen(function* () {
            yield* EventSource.EventSource.use((s) =>
              s.batches.pipe(
                Stream.mapEffect((b) =>
                  Effect.gen(function* () {
                    write(b)
                    yield* b.ack
                    const info = yield* t.consumer("sentinel")
                    return info.pending === 0 && info.ackPending === 0
                  })
                ),
                Stream.takeUntil((done) => done),
                Stream.runDrain
              )
            )
            return yield* Nats.NatsSource.use((s) => s.counters.values)
          }).pipe(Effect.provide(Nats.layerSource(config)), Effect.timeout("20 seconds"))

          assert.strictEqual(store.size, 1001, "1000 events and the text of the bad message, each once")
          for (let i = 0; i < 1000; i++) assert.deepStrictEqual(store.get(`trace-${i}`), event(i))
          assert.isTrue(store.has("text:not json {"))
          assert.strictEqual(passes, 1001 + unacked, "only the batch that was never acknowledged came again")
          assert.deepStrictEqual(c2, { received: 611, sent: 611, retried: 100, dropped: 0, errors: 0 })
          assert.deepStrictEqual(yield* t.consumer("sentinel"), { pending: 0, ackPending: 0, delivered: 911 })
        })
      ),
    40_000
  )

  it.live("a redelivery of a message this instance still holds is not passed on twice", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const t = yield* testStream()
        yield* t.publish(Array.from({ length: 100 }, (_, i) => JSON.stringify(event(i))))
        const config: Nats.SourceConfig = {
          servers: natsUrl,
          stream: t.name,
          consumer: "slow",
          batchSize: 50,
          ackWait: "1 second"
        }
        const seen: Array<string> = []
        const held: Array<Effect.Effect<void>> = []
        const counters = yield* Effect.gen(function* () {
          yield* EventSource.EventSource.use((s) =>
            s.batches.pipe(
              Stream.mapEffect((b) =>
                Effect.gen(function* () {
                  for (const r of b.raw) seen.push(keyOf(r))
                  held.push(b.ack)
                  // the first batch is held past ackWait, so the server redelivers it meanwhile
                  if (held.length === 1) yield* Effect.sleep("2500 millis")
                  if (seen.length < 100) return false
                  // then everything is acknowledged in order, as the pipeline does
                  for (const ack of held.splice(0)) yield* ack
                  const info = yield* t.consumer("slow")
                  return info.pending === 0 && info.ackPending === 0
                })
              ),
              Stream.takeUntil((done) => done),
              Stream.runDrain
            )
          )
          return yield* Nats.NatsSource.use((s) => s.counters.values)
        }).pipe(Effect.provide(Nats.layerSource(config)), Effect.timeout("20 seconds"))
        assert.strictEqual(seen.length, 100)
        assert.strictEqual(new Set(seen).size, 100)
        assert.isAbove(counters.retried, 0, "the server did redeliver")
        assert.strictEqual(counters.received, 100 + counters.retried)
        assert.deepStrictEqual(yield* t.consumer("slow"), { pending: 0, ackPending: 0, delivered: 100 })
      })
    )
  )

  it.live("health: true while the stream exists, false once it is gone", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const t = yield* testStream()
        const [before, after] = yield* Effect.gen(function* () {
          const source = yield* Nats.NatsSource
          const before = yield* source.health
          yield* Effect.promise(() => t.jsm.streams.delete(t.name))
          return [before, yield* source.health] as const
        }).pipe(Effect.provide(Nats.layerSource({ servers: natsUrl, stream: t.name, consumer: "h" })))
        assert.isTrue(before)
        assert.isFalse(after)
      })
    )
  )
})

describe("Nats sink", () => {
  it.live("publishes anomalies and alert events; a replay is stored once (Nats-Msg-Id)", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const t = yield* testStream({ create: false })
        const anomalies = Array.from({ length: 50 }, (_, i) => anomaly(i))
        const alerts = [opened(1), opened(2)]
        const counters = yield* Effect.gen(function* () {
          const sink = yield* Nats.NatsSink
          assert.isTrue(yield* sink.health)
          for (let round = 0; round < 2; round++) {
            yield* sink.publishAnomalies(anomalies)
            yield* AlertSink.AlertSink.use((s) => s.write(alerts))
          }
          return yield* sink.counters.values
        }).pipe(
          Effect.provide(
            Nats.layerSink({
              servers: natsUrl,
              stream: t.name,
              anomalySubject: `${t.subject}.anomalies`,
              alertSubject: `${t.subject}.alerts`
            })
          )
        )
        assert.strictEqual(yield* t.messages, 52, "sent twice, stored once")
        assert.deepStrictEqual(counters, { received: 104, sent: 104, retried: 0, dropped: 0, errors: 0 })
        const js = jetstream(t.nc)
        const first = yield* Effect.promise(() =>
          js.streams.get(t.name).then((s) => s.getMessage({ last_by_subj: `${t.subject}.anomalies.critical` }))
        )
        const last = JSON.parse(new TextDecoder().decode(first!.data))
        assert.deepStrictEqual(last, anomalies[48])
        const alert = yield* Effect.promise(() =>
          js.streams.get(t.name).then((s) => s.getMessage({ last_by_subj: `${t.subject}.alerts.opened` }))
        )
        assert.deepStrictEqual(JSON.parse(new TextDecoder().decode(alert!.data)), alerts[1])
      })
    )
  )

  it.live(
    "a pipeline reading from NATS and writing to NATS: every event decoded and acknowledged, the spike found",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const t = yield* testStream()
          let seed = 7
          const noise = () => {
            seed = (seed * 16807) % 2147483647
            return (seed / 2147483647 - 0.5) * 40
          }
          const input = Array.from({ length: 900 }, (_, i) => ({
            timestamp: T0 + i * 1000,
            service: "search",
            model: "gpt-4o",
            latencyMs: i >= 600 && i < 610 ? 3000 : 500 + noise(),
            status: "ok"
          }))
          yield* t.publish(input.map((e) => JSON.stringify(e)))
          const config = Result.getOrThrow(
            Pipeline.makeConfig({
              detectors: [ZScore.make()],
              window: "10 seconds",
              maxDelay: "1 second",
              signals: ["latency.p95"],
              decide: Verdict.threshold({ warning: 6, critical: 8 }),
              flushOnEnd: false
            })
          )
          const layers = Layer.mergeAll(
            Nats.layerSource({
              servers: natsUrl,
              stream: t.name,
              consumer: "pipeline",
              filterSubject: `${t.subject}.events`
            }),
            Nats.layerSink({
              servers: natsUrl,
              anomalySubject: `${t.subject}.anomalies`,
              alertSubject: `${t.subject}.alerts`
            }),
            DeadLetterSink.layerMemory
          )
          const pipeline = Pipeline.make(config)
          const sinkCounts = yield* Effect.gen(function* () {
            const fiber = yield* Effect.forkChild(pipeline.run)
            // until the server has every event acknowledged (the pipeline acks after its sinks accepted)
            for (let i = 0; i < 200; i++) {
              const info = yield* t.consumer("pipeline")
              if (info.pending === 0 && info.ackPending === 0) break
              yield* Effect.sleep("100 millis")
            }
            yield* Fiber.interrupt(fiber)
            return yield* Nats.NatsSink.use((s) => s.counters.values)
          }).pipe(Effect.provide(layers))
          // the stream also holds the published anomalies, which the filtered consumer skips past
          const final = yield* t.consumer("pipeline")
          assert.deepStrictEqual([final.pending, final.ackPending], [0, 0])
          assert.isAtLeast(final.delivered, 900)
          const stats = yield* pipeline.stats
          assert.strictEqual(stats.received, 900)
          assert.strictEqual(stats.decoded, 900)
          assert.isAbove(stats.anomalies, 0)
          const js = jetstream(t.nc)
          const stream = yield* Effect.promise(() => js.streams.get(t.name))
          const info = yield* Effect.promise(() => stream.info(false, { subjects_filter: `${t.subject}.>` }))
          const bySubject = info.state.subjects ?? {}
          const anomaliesStored = Object.entries(bySubject)
            .filter(([s]) => s.startsWith(`${t.subject}.anomalies.`))
            .reduce((n, [, c]) => n + c, 0)
          assert.strictEqual(anomaliesStored, stats.anomalies, "every anomaly published once")
          assert.isAtLeast(bySubject[`${t.subject}.alerts.opened`] ?? 0, 1)
          assert.strictEqual(sinkCounts.sent, stats.anomalies + stats.alertEvents)
          const last = yield* Effect.promise(() => stream.getMessage({ last_by_subj: `${t.subject}.alerts.opened` }))
          const opened = JSON.parse(new TextDecoder().decode(last!.data)) as Alert.AlertEvent
          assert.strictEqual(opened._tag === "opened" ? opened.alert.series.service : "", "search")
        })
      ),
    40_000
  )

  it.effect("config: unknown fields are errors; credentials are redacted", () =>
    Effect.gen(function* () {
      const ok = yield* Nats.decodeSourceConfig({ stream: "S", consumer: "c", user: "u", password: "hunter2" })
      assert.notInclude(String(ok.password), "hunter2")
      const bad = yield* Effect.flip(Nats.decodeSourceConfig({ stream: "S", consumer: "c", durable: "x" }))
      assert.include(bad.message, "durable")
      const bad2 = yield* Effect.flip(Nats.decodeSinkConfig({ subject: "x" }))
      assert.include(bad2.message, "subject")
    })
  )
})
