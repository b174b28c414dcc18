// Sink throughput: each adapter of @llm-sentinel/adapters beside its bare client doing the same writes, in the
// same run, against the same local server:
// - webhook: signed alert events POSTed one after another to a node:http receiver on 127.0.0.1 (in this
//   process), beside fetch() POSTing the same bodies with the same HMAC headers;
// - slack: Block Kit messages to the same receiver, beside fetch() POSTing the same JSON;
// - influx: anomalies as line protocol in batches of 5000 to the InfluxDB of scripts/services.sh, beside fetch()
//   POSTing the same lines (built by the same Influx.anomalyLine) in the same batches;
// - nats sink: anomalies published to JetStream (Nats-Msg-Id, awaited acks) in writes of 500, beside
//   js.publish() of the same messages in groups of 500;
// - nats source: messages fetched and acknowledged through the EventSource in batches of 500, beside a
//   consumer.fetch() loop acknowledging the same batches.
// The receiver runs in this process, so the webhook figures include its cost on both sides alike.
//
//   npm run bench:sinks                # default sizes, 3 rounds (best round reported)
//   node bench/src/sinks.ts --rounds 5
import { createHmac, randomBytes } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Influx, Nats, Slack, Webhook } from "@llm-sentinel/adapters"
import { type Alert, AlertSink, Anomaly, AnomalySink, DeadLetterSink, EventSource, Series } from "@llm-sentinel/core"
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Layer, Logger, Redacted, Stream } from "effect"

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const ROUNDS = arg("rounds", 3)
const HTTP_N = arg("http", 2000)
const INFLUX_N = arg("influx", 100_000)
const NATS_N = arg("nats", 20_000)
const influxUrl = process.env.INFLUX_URL ?? "http://127.0.0.1:8086"
const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222"
const secret = "bench-secret"

const key = Series.makeKey("checkout", "gpt-4o", "latency.p95", { environment: "prod" })
const anomalies: Array<Anomaly.Anomaly> = Array.from({ length: Math.max(INFLUX_N, NATS_N) }, (_, i) => {
  const time = 1_780_000_000_000 + i * 1000
  return {
    id: Anomaly.makeId(`${key.id}#${i % 97}`, "mad", time),
    series: { id: key.id, service: `svc-${i % 20}`, model: `model-${i % 10}`, metric: key.metric, dimensions: {} },
    detector: "mad",
    time,
    observed: 3000 + (i % 100),
    expected: 500,
    lower: 420,
    upper: 580,
    score: 9.5,
    severity: i % 3 === 0 ? "critical" : "warning",
    reason: "value 3000 above expected 500 [420, 580], score 9.5",
    detectedAt: time + 3
  }
})
const alerts: Array<Alert.AlertEvent> = Array.from({ length: HTTP_N }, (_, i) => ({
  _tag: "opened",
  alert: {
    id: Anomaly.makeId(key.id, "alert", i),
    series: key,
    status: "open",
    severity: "critical",
    openedAt: 1_780_000_000_000 + i * 60_000,
    lastAnomalyAt: 1_780_000_000_000 + i * 60_000,
    resolvedAt: null,
    anomalies: 1,
    detectors: ["mad"],
    reason: "value 3000 above expected 500 [420, 580], score 9.5"
  }
}))

const time = async (f: () => Promise<unknown>): Promise<number> => {
  const t = performance.now()
  await f()
  return (performance.now() - t) / 1000
}
const quiet = <A, E>(e: Effect.Effect<A, E>) => e.pipe(Effect.provide(Logger.layer([])))

interface Row {
  readonly name: string
  readonly items: number
  sink: number
  bare: number
}
const rows: Array<Row> = []
const record = (name: string, items: number, sinkS: number, bareS: number) => {
  let r = rows.find((x) => x.name === name)
  if (r === undefined) rows.push((r = { name, items, sink: 0, bare: 0 }))
  r.sink = Math.max(r.sink, items / sinkS)
  r.bare = Math.max(r.bare, items / bareS)
}

// ---- HTTP receiver (webhook, slack)
const server = createServer((req, res) => {
  req.resume()
  req.on("end", () => res.writeHead(204).end())
})
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
const unlimited = { ratePerSecond: 1e9, burst: 1_000_000_000 }

const benchWebhook = async () => {
  const sinkS = await time(() =>
    Effect.runPromise(
      quiet(
        AlertSink.AlertSink.use((s) => s.write(alerts)).pipe(
          Effect.provide(
            Webhook.layer({ url: hook, secret: Redacted.make(secret), ...unlimited }).pipe(
              Layer.provide(DeadLetterSink.layerLog)
            )
          )
        )
      )
    )
  )
  const bareS = await time(async () => {
    for (const e of alerts) {
      const body = new TextEncoder().encode(Webhook.body(e))
      const ts = String(Math.floor(Date.now() / 1000))
      const sig = `v1=${createHmac("sha256", secret).update(`${ts}.`).update(body).digest("hex")}`
      const r = await fetch(hook, {
        method: "POST",
        headers: { "content-type": "application/json", "x-sentinel-timestamp": ts, "x-sentinel-signature": sig },
        body
      })
      await r.text()
    }
  })
  record("webhook (signed)", alerts.length, sinkS, bareS)
}

const benchSlack = async () => {
  const sinkS = await time(() =>
    Effect.runPromise(
      quiet(
        AlertSink.AlertSink.use((s) => s.write(alerts)).pipe(
          Effect.provide(
            Slack.layer({
              url: Redacted.make(hook),
              dashboardUrl: "http://127.0.0.1:7300/?s={series}",
              ...unlimited
            }).pipe(Layer.provide(DeadLetterSink.layerLog))
          )
        )
      )
    )
  )
  const bareS = await time(async () => {
    for (const e of alerts) {
      const body = JSON.stringify(Slack.message(e, { dashboardUrl: "http://127.0.0.1:7300/?s={series}" }))
      const r = await fetch(hook, { method: "POST", headers: { "content-type": "application/json" }, body })
      await r.text()
    }
  })
  record("slack", alerts.length, sinkS, bareS)
}

// ---- InfluxDB
const influxQuery = (q: string) =>
  fetch(`${influxUrl}/query`, { method: "POST", body: new URLSearchParams({ q }) }).then((r) => r.text())

const benchInflux = async () => {
  const db = `sentinel_bench_${randomBytes(3).toString("hex")}`
  await influxQuery(`CREATE DATABASE "${db}"`)
  const data = anomalies.slice(0, INFLUX_N)
  try {
    const sinkS = await time(() =>
      Effect.runPromise(
        quiet(
          Effect.gen(function* () {
            const influx = yield* Influx.Influx
            for (let i = 0; i < data.length; i += 1000) yield* influx.writeAnomalies(data.slice(i, i + 1000))
            yield* influx.flush
          }).pipe(
            Effect.provide(
              Influx.layer({
                url: influxUrl,
                database: db,
                batchSize: 5000,
                maxBuffer: INFLUX_N,
                measurementPrefix: "s_"
              })
            )
          )
        )
      )
    )
    const bareS = await time(async () => {
      for (let i = 0; i < data.length; i += 5000) {
        const body = data
          .slice(i, i + 5000)
          .map((a) => Influx.anomalyLine(a, { measurementPrefix: "b_" }))
          .join("\n")
        const r = await fetch(`${influxUrl}/write?db=${db}&precision=ms`, { method: "POST", body })
        if (r.status !== 204) throw new Error(`influx ${r.status} ${await r.text()}`)
      }
    })
    record("influx (line protocol)", data.length, sinkS, bareS)
  } finally {
    await influxQuery(`DROP DATABASE "${db}"`)
  }
}

// ---- NATS JetStream
const benchNats = async () => {
  const nc = await connect({ servers: natsUrl })
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  const id = randomBytes(3).toString("hex")
  const stream = `SENTINEL_BENCH_${id}`
  const subject = `sentinel.bench.${id}`
  await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] })
  const data = anomalies.slice(0, NATS_N)
  const enc = new TextEncoder()
  try {
    const sinkS = await time(() =>
      Effect.runPromise(
        quiet(
          AnomalySink.AnomalySink.use((s) =>
            Effect.forEach(
              Array.from({ length: Math.ceil(data.length / 500) }, (_, k) => data.slice(k * 500, k * 500 + 500)),
              (chunk) => s.write(chunk),
              { discard: true }
            )
          ).pipe(Effect.provide(Nats.layerSink({ servers: natsUrl, anomalySubject: `${subject}.sink` })))
        )
      )
    )
    const bareS = await time(async () => {
      for (let i = 0; i < data.length; i += 500) {
        await Promise.all(
          data
            .slice(i, i + 500)
            .map((a) =>
              js.publish(`${subject}.bare.${a.severity}`, enc.encode(JSON.stringify(a)), { msgID: `b${a.id}` })
            )
        )
      }
    })
    record("nats sink (publish, acked)", data.length, sinkS, bareS)

    // source: read back what the sink published (NATS_N messages), through the EventSource and bare
    const durable = `src${id}`
    const sourceS = await time(() =>
      Effect.runPromise(
        quiet(
          EventSource.EventSource.use((s) =>
            s.batches.pipe(
              Stream.mapAccumEffect(
                () => 0,
                (n, b) => Effect.as(b.ack, [n + b.raw.length, [n + b.raw.length]] as const)
              ),
              Stream.takeUntil((n) => n >= data.length),
              Stream.runDrain
            )
          ).pipe(
            Effect.provide(
              Nats.layerSource({
                servers: natsUrl,
                stream,
                consumer: durable,
                filterSubject: `${subject}.sink.>`,
                batchSize: 500
              })
            )
          )
        )
      )
    )
    await jsm.consumers.add(stream, {
      durable_name: `bare${id}`,
      ack_policy: AckPolicy.Explicit,
      filter_subject: `${subject}.bare.>`
    })
    const consumer = await js.consumers.get(stream, `bare${id}`)
    const bareSourceS = await time(async () => {
      let n = 0
      while (n < data.length) {
        const it = await consumer.fetch({ max_messages: 500, expires: 1000 })
        const batch: Array<unknown> = []
        for await (const m of it) {
          batch.push(JSON.parse(new TextDecoder().decode(m.data)))
          m.ack()
        }
        await nc.flush()
        n += batch.length
      }
    })
    record("nats source (fetch + ack)", data.length, sourceS, bareSourceS)
  } finally {
    await jsm.streams.delete(stream).catch(() => undefined)
    await nc.close()
  }
}

console.log(
  `sink throughput, best of ${ROUNDS} rounds; webhook/slack ${HTTP_N} requests, influx ${INFLUX_N} lines, nats ${NATS_N} messages`
)
for (let r = 0; r < ROUNDS; r++) {
  await benchWebhook()
  await benchSlack()
  await benchInflux()
  await benchNats()
}
server.close()
const pad = (s: string, n: number) => s.padEnd(n)
const fmt = (x: number) => (x >= 10_000 ? `${(x / 1000).toFixed(0)}k` : x.toFixed(0)).padStart(7)
console.log(`${pad("sink", 28)} ${"items".padStart(7)} ${"sink/s".padStart(7)} ${"bare/s".padStart(7)}  ratio`)
for (const r of rows) {
  console.log(
    `${pad(r.name, 28)} ${String(r.items).padStart(7)} ${fmt(r.sink)} ${fmt(r.bare)}  ${(r.sink / r.bare).toFixed(2)}`
  )
}
