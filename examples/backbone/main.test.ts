// The backbone example run three ways in CI, by swapping layers only: in memory, file → PostgreSQL, Kafka →
// PostgreSQL (real broker and database; a missing service fails the test). All three store the same anomalies.
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { brokers, produce, testTopic } from "../../test/integration/kafka.ts"
import { dropSchema, newSchema, pgBase } from "../../test/integration/postgres.ts"
import * as FilePostgres from "./file-postgres.ts"
import * as KafkaPostgres from "./kafka-postgres.ts"
import * as Memory from "./memory.ts"
import { missed, scenario, scenarioEnd } from "./pipeline.ts"

describe("backbone example: one pipeline, three ways", () => {
  it.live(
    "memory, file → PostgreSQL and Kafka → PostgreSQL find the same anomalies",
    () =>
      Effect.gen(function* () {
        const events = scenario()
        const memory = yield* Memory.program
        assert.deepStrictEqual(missed(memory.anomalies), [])
        const ids = memory.anomalies.map((a) => a.id).sort()

        const file = join(tmpdir(), `sentinel-backbone-${process.pid}.ndjson`)
        writeFileSync(file, `${events.map((e) => JSON.stringify(e)).join("\n")}\n`)
        const s1 = newSchema("example_file")
        yield* Effect.addFinalizer(() => dropSchema(s1))
        const fromFile = yield* FilePostgres.program(file, { ...pgBase, schema: s1 })
        assert.deepStrictEqual(fromFile.anomalies.map((a) => a.id).sort(), ids)

        const topic = yield* testTopic(6, "example")
        yield* produce(topic, events)
        const s2 = newSchema("example_kafka")
        yield* Effect.addFinalizer(() => dropSchema(s2))
        const fromKafka = yield* KafkaPostgres.program({
          brokers,
          topic,
          groupId: `example-${topic}`,
          pg: { ...pgBase, schema: s2 }
        })
        assert.deepStrictEqual(
          fromKafka.anomalies
            .filter((a) => a.time < scenarioEnd())
            .map((a) => a.id)
            .sort(),
          ids
        )
        // at least once: a rebalance (a slow heartbeat on a busy machine) re-reads a partition from its last
        // commit, so records may be received twice; the anomalies above are still exactly the same ids
        assert.isAtLeast(fromKafka.stats.received, events.length)
      }).pipe(Effect.scoped),
    120_000
  )
})
