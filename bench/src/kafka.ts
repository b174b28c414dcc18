// Kafka → pipeline → PostgreSQL, against the broker of scripts/services.sh and the machine's PostgreSQL:
// - throughput: the backbone pipeline (examples/backbone/pipeline.ts, one pipeline per partition) reading a
//   6-partition topic into PostgreSQL, beside a bare @platformatic/kafka consumer that only reads the same topic
//   (its own group), in the same run; events/s from the first record to the last one processed;
// - checkpoint cost at 10k series: one StateStore.setMany of 10,000 detector states (one transaction) and one
//   entries() prefix read of them, PostgreSQL beside the embedded SQLite store;
// - rebalance time: two members in one group over a live stream; one leaves; the time from its leaving to the
//   first verdict of the other on a partition that moved.
//
//   npm run bench:kafka                  # 86,400 events (2 hours × 12 series), 3 rounds (best reported)
//   node bench/src/kafka.ts --seconds 3600 --rounds 1
import { randomBytes } from "node:crypto"
import { Kafka, Postgres } from "@llm-sentinel/adapters"
import { AlertSink, AnomalyStore, type DeadLetterSink, Pipeline, StateStore } from "@llm-sentinel/core"
import { EmbeddedStore } from "@llm-sentinel/server"
import { Consumer, ProduceAcks, Producer, stringSerializers } from "@platformatic/kafka"
import { Context, Effect, Exit, Fiber, Layer, Logger, Redacted, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { config, scenario } from "../../examples/backbone/pipeline.ts"

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const SECONDS = arg("seconds", 2 * 3600)
const ROUNDS = arg("rounds", 3)
const brokers = [process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"]
const pgUrl = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const schema = `sentinel_bench_${randomBytes(3).toString("hex")}`
const pg: Postgres.Config = { url: Redacted.make(pgUrl), schema }

const produceAll = async (topic: string, events: ReadonlyArray<Record<string, unknown>>) => {
  const producer = new Producer<string, string, string, string>({
    clientId: "bench",
    bootstrapBrokers: brokers,
    serializers: stringSerializers,
    acks: ProduceAcks.LEADER
  })
  for (let i = 0; i < events.length; i += 5000) {
    await producer.send({
      messages: events.slice(i, i + 5000).map((e) => ({
        topic,
        key: Kafka.eventKey(e as { service: string; model: string }),
        value: JSON.stringify(e)
      }))
    })
  }
  await producer.close()
}

const bare = async (topic: string, n: number) => {
  const consumer = new Consumer({
    clientId: "bench-bare",
    groupId: `bare-${randomBytes(4).toString("hex")}`,
    bootstrapBrokers: brokers
  })
  const stream = await consumer.consume({ topics: [topic], mode: "earliest", autocommit: false, maxWaitTime: 100 })
  const started = performance.now()
  let seen = 0
  await new Promise<void>((resolve) => {
    stream.on("data", () => {
      if (++seen === n) resolve()
    })
  })
  const ms = performance.now() - started
  await stream.close()
  await consumer.close(true)
  return ms
}

const noAlerts = Layer.succeed(AlertSink.AlertSink, { write: () => Effect.void })
const quietDeadLetters: Layer.Layer<DeadLetterSink.DeadLetterSink, never, Postgres.Postgres> = Postgres.layerDeadLetters

const pipelineRun = (topic: string, n: number) =>
  Effect.gen(function* () {
    const partitioned = Pipeline.makePartitioned(config({ flushOnEnd: false, checkpointEvery: "1 second" }))
    const started = performance.now()
    const fiber = yield* Effect.forkChild(partitioned.run)
    while ((yield* partitioned.stats).received < n) yield* Effect.sleep("5 millis")
    const ms = performance.now() - started
    yield* Fiber.interrupt(fiber)
    return { ms, stats: yield* partitioned.stats }
  }).pipe(
    Effect.provide(
      Layer.mergeAll(AnomalyStore.layerSink, quietDeadLetters, noAlerts).pipe(
        Layer.provideMerge(Kafka.layerSource({ brokers, topic, groupId: `bench-${randomBytes(4).toString("hex")}` })),
        Layer.provideMerge(Postgres.layer(pg))
      )
    )
  )

const checkpointCost = (store: StateStore.StateStore["Service"]) =>
  Effect.gen(function* () {
    const state = JSON.stringify({
      mean: 512.25,
      m2: 1234.5,
      n: 360,
      ring: Array.from({ length: 32 }, (_, i) => 500 + i)
    })
    const entries = Array.from(
      { length: 10_000 },
      (_, i) => [`detector/mad/svc${i % 100}/model${i}/latency.p95`, state] as const
    )
    const best = { write: Number.POSITIVE_INFINITY, read: Number.POSITIVE_INFINITY }
    for (let r = 0; r < ROUNDS; r++) {
      let t = performance.now()
      yield* store.setMany(entries)
      best.write = Math.min(best.write, performance.now() - t)
      t = performance.now()
      const back = yield* store.entries("detector/")
      best.read = Math.min(best.read, performance.now() - t)
      if (back.length !== entries.length) throw new Error(`read ${back.length} of ${entries.length}`)
    }
    return { ...best, bytes: entries.length * state.length }
  })

const rebalance = (topic: string) =>
  Effect.gen(function* () {
    const groupId = `rebalance-${randomBytes(4).toString("hex")}`
    const member = (name: string) =>
      Effect.gen(function* () {
        const partitioned = Pipeline.makePartitioned(config({ flushOnEnd: false }))
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(
          Layer.mergeAll(AnomalyStore.layerSink, quietDeadLetters, noAlerts).pipe(
            Layer.provideMerge(
              Kafka.layerSource({ brokers, topic, groupId, clientId: `bench-${name}`, sessionTimeout: "6 seconds" })
            ),
            Layer.provideMerge(Postgres.layer(pg))
          ),
          scope
        )
        const fiber = yield* Effect.forkDetach(Effect.provideContext(partitioned.run, context))
        return { partitioned, scope, fiber, kafka: Context.get(context, Kafka.KafkaSource) }
      })
    // a live stream: 12 series, 50 events/s each, event time moving on
    const producer = new Producer<string, string, string, string>({
      clientId: "bench-live",
      bootstrapBrokers: brokers,
      serializers: stringSerializers
    })
    let second = SECONDS + 1000
    let live = true
    const feeding = (async () => {
      while (live) {
        const events = scenario({ from: second, seconds: second + 1 })
        second++
        await producer.send({
          messages: events.map((e) => ({
            topic,
            key: Kafka.eventKey(e as { service: string; model: string }),
            value: JSON.stringify(e)
          }))
        })
        await new Promise((r) => setTimeout(r, 20))
      }
    })()
    const a = yield* member("a")
    const b = yield* member("b")
    while ((yield* a.kafka.assigned).length === 0 || (yield* b.kafka.assigned).length === 0)
      yield* Effect.sleep("50 millis")
    yield* Effect.sleep("3 seconds")
    const moving = yield* b.kafka.assigned
    const verdictsBefore = new Map([...(yield* a.partitioned.byPartition)].map(([id, p]) => [id, p.stats.verdicts]))
    const left = performance.now()
    yield* Fiber.interrupt(b.fiber)
    yield* Scope.close(b.scope, Exit.void)
    const closed = performance.now() - left
    let firstVerdict: number | undefined
    const deadline = performance.now() + 60_000
    while (firstVerdict === undefined && performance.now() < deadline) {
      for (const p of moving) {
        const st = (yield* a.partitioned.byPartition).get(`${topic}/${p}`)
        if (st !== undefined && st.stats.verdicts > (verdictsBefore.get(`${topic}/${p}`) ?? 0))
          firstVerdict = performance.now() - left
      }
      yield* Effect.sleep("10 millis")
    }
    live = false
    yield* Effect.promise(() => feeding)
    yield* Effect.promise(() => producer.close())
    yield* Fiber.interrupt(a.fiber)
    yield* Scope.close(a.scope, Exit.void)
    return { moved: moving.length, leaveMs: closed, firstVerdictMs: firstVerdict }
  })

const main = Effect.gen(function* () {
  const topic = `bench-${randomBytes(4).toString("hex")}`
  yield* Kafka.ensureTopics({ brokers }, [topic], 6)
  const events = scenario({ seconds: SECONDS })
  yield* Effect.promise(() => produceAll(topic, events))
  console.log(
    `kafka bench: ${events.length} events (${SECONDS} s × 12 series) on 6 partitions; PostgreSQL schema ${schema}`
  )
  let bareMs = Number.POSITIVE_INFINITY
  let pipeMs = Number.POSITIVE_INFINITY
  let anomalies = 0
  for (let r = 0; r < ROUNDS; r++) {
    bareMs = Math.min(bareMs, yield* Effect.promise(() => bare(topic, events.length)))
    yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).pipe(
      Effect.provide(Postgres.layerClient({ url: Redacted.make(pgUrl) }))
    )
    const run = yield* pipelineRun(topic, events.length)
    pipeMs = Math.min(pipeMs, run.ms)
    anomalies = run.stats.anomalies
  }
  const rate = (ms: number) => Math.round(events.length / (ms / 1000))
  console.log(
    `  bare @platformatic/kafka consumer (reads only): ${rate(bareMs).toLocaleString("en")} events/s (${Math.round(bareMs)} ms)`
  )
  console.log(
    `  Kafka → pipeline → PostgreSQL:                 ${rate(pipeMs).toLocaleString("en")} events/s (${Math.round(pipeMs)} ms, ${anomalies} anomalies), ratio ${(bareMs / pipeMs).toFixed(2)}`
  )

  const pgCost = yield* Effect.flatMap(StateStore.StateStore, checkpointCost).pipe(Effect.provide(Postgres.layer(pg)))
  const sqliteCost = yield* Effect.flatMap(StateStore.StateStore, checkpointCost).pipe(
    Effect.provide(EmbeddedStore.layer({ path: ":memory:" }))
  )
  console.log(
    `  checkpoint of 10,000 states (${(pgCost.bytes / 1024 / 1024).toFixed(1)} MiB): PostgreSQL setMany ${Math.round(pgCost.write)} ms, entries() ${Math.round(pgCost.read)} ms; embedded SQLite setMany ${Math.round(sqliteCost.write)} ms, entries() ${Math.round(sqliteCost.read)} ms`
  )

  const rb = yield* rebalance(topic)
  console.log(
    `  rebalance: ${rb.moved} partitions moved; member left (its pipelines drained and committed) in ${Math.round(rb.leaveMs)} ms; first verdict on a moved partition ${rb.firstVerdictMs === undefined ? "not seen" : `${Math.round(rb.firstVerdictMs)} ms`} after it began to leave`
  )
  yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).pipe(
    Effect.provide(Postgres.layerClient({ url: Redacted.make(pgUrl) }))
  )
})

await Effect.runPromise(main.pipe(Effect.scoped, Effect.provide(Logger.layer([]))))
process.exit(0)
