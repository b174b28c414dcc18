// The Kafka broker that scripts/services.sh starts (127.0.0.1:9092), for the Kafka tests: a topic of its own per
// test (deleted afterwards), a producer keyed like Sentinel's ingest, end offsets and a group's commits. A missing
// broker fails the test (it never skips).
import { randomBytes } from "node:crypto"
import { Kafka } from "@llm-sentinel/adapters"
import { Admin, Consumer, ProduceAcks, Producer, stringDeserializer, stringSerializers } from "@platformatic/kafka"
import { Effect } from "effect"

export const brokers = [process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"]

const hint = "(start it with: bash scripts/services.sh up)"

const attempt = <A>(what: string, f: () => Promise<A>) =>
  Effect.tryPromise({
    try: f,
    catch: (e) => new Error(`Kafka at ${brokers.join(",")} ${what} failed ${hint}: ${(e as Error).message}`)
  })

/** A topic with `partitions` partitions that exists for the scope. */
export const testTopic = (partitions: number, tag = "events") =>
  Effect.acquireRelease(
    Effect.gen(function* () {
      const name = `sentinel-${tag}-${randomBytes(4).toString("hex")}`
      yield* Kafka.ensureTopics({ brokers }, [name], partitions).pipe(
        Effect.mapError((e) => new Error(`${e.message} ${hint}`))
      )
      return name
    }),
    (name) =>
      Effect.ignore(
        attempt("delete topic", async () => {
          const admin = new Admin({ clientId: "sentinel-test", bootstrapBrokers: brokers })
          try {
            await admin.deleteTopics({ topics: [name] })
          } finally {
            await admin.close()
          }
        })
      )
  )

/** Produces events keyed like HTTP ingest does (service × model), or raw message values with a key. */
export const produce = (topic: string, records: ReadonlyArray<Record<string, unknown> | readonly [string, string]>) =>
  attempt("produce", async () => {
    const producer = new Producer<string, string, string, string>({
      clientId: "sentinel-test",
      bootstrapBrokers: brokers,
      serializers: stringSerializers,
      acks: ProduceAcks.ALL
    })
    try {
      for (let i = 0; i < records.length; i += 2000) {
        await producer.send({
          messages: records.slice(i, i + 2000).map((r) =>
            Array.isArray(r)
              ? { topic, key: r[0] as string, value: r[1] as string }
              : {
                  topic,
                  key: Kafka.eventKey(r as { service: string; model: string }),
                  value: JSON.stringify(r)
                }
          )
        })
      }
    } finally {
      await producer.close()
    }
  })

/** The end offset of each partition of a topic. */
export const endOffsets = (topic: string) =>
  attempt("list offsets", async () => {
    const consumer = new Consumer({
      clientId: "sentinel-test",
      groupId: `probe-${randomBytes(4).toString("hex")}`,
      bootstrapBrokers: brokers
    })
    try {
      const offsets = await consumer.listOffsets({ topics: [topic] })
      return (offsets.get(topic) ?? []).map((o) => Number(o))
    } finally {
      await consumer.close()
    }
  })

/** The offsets a group committed on a topic, per partition (`-1` where none). */
export const committedOffsets = (groupId: string, topic: string, partitions: number) =>
  attempt("list committed offsets", async () => {
    const admin = new Admin({ clientId: "sentinel-test", bootstrapBrokers: brokers })
    try {
      const groups = await admin.listConsumerGroupOffsets({
        groups: [
          { groupId, topics: [{ name: topic, partitionIndexes: Array.from({ length: partitions }, (_, i) => i) }] }
        ]
      })
      const out = Array.from({ length: partitions }, () => -1)
      for (const t of groups[0]?.topics ?? [])
        for (const p of t.partitions) out[p.partitionIndex] = Number(p.committedOffset)
      return out
    } finally {
      await admin.close()
    }
  })

/** One record read back from a topic: partition, offset, key, headers and value as text. */
export interface ReadRecord {
  readonly partition: number
  readonly offset: number
  readonly key: string
  readonly headers: ReadonlyMap<string, string>
  readonly value: string
}

/** Every record of a topic from the start up to its end offsets right now (its own group, nothing committed). */
export const readAll = (topic: string) =>
  Effect.flatMap(endOffsets(topic), (end) =>
    attempt("read back", async () => {
      const total = end.reduce((a, b) => a + b, 0)
      const out: Array<ReadRecord> = []
      if (total === 0) return out
      const consumer = new Consumer<string, string, string, string>({
        clientId: "sentinel-test",
        groupId: `readback-${randomBytes(4).toString("hex")}`,
        bootstrapBrokers: brokers,
        deserializers: {
          key: stringDeserializer,
          value: stringDeserializer,
          headerKey: stringDeserializer,
          headerValue: stringDeserializer
        }
      })
      try {
        const stream = await consumer.consume({
          topics: [topic],
          mode: "earliest",
          autocommit: false,
          maxWaitTime: 200
        })
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${total} records`)), 30_000)
          stream.on("error", reject)
          stream.on("data", (m) => {
            if (m.offset >= BigInt(end[m.partition] ?? 0)) return
            out.push({
              partition: m.partition,
              offset: Number(m.offset),
              key: m.key,
              headers: new Map(m.headers),
              value: m.value
            })
            if (out.length === total) {
              clearTimeout(timer)
              resolve()
            }
          })
        })
        await stream.close()
      } finally {
        await consumer.close(true)
      }
      return out
    })
  )
