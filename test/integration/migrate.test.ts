// `sentinel migrate` and the backbone flags of `sentinel serve`, through the command line (in process).
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { Cli } from "@llm-sentinel/server"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { admin, dropSchema, newSchema, pgBase } from "./postgres.ts"

const url = `postgres://${pgBase.username}@${pgBase.host}:${pgBase.port}/${pgBase.database}`

describe("sentinel migrate / serve --kafka-brokers", () => {
  it.effect("migrate applies every migration once, and again changes nothing", () =>
    Effect.gen(function* () {
      const schema = newSchema("cli")
      yield* Effect.addFinalizer(() => dropSchema(schema))
      yield* Cli.run(["migrate", "--postgres", url, "--postgres-schema", schema])
      yield* Cli.run(["migrate", "--postgres", url, "--postgres-schema", schema])
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ n: number }>`SELECT count(*)::int4 AS n FROM ${sql(schema)}.sentinel_migrations`
      assert.strictEqual(rows[0]?.n, 6)
    }).pipe(Effect.provide(admin), Effect.provide(NodeServices.layer), Effect.scoped)
  )

  it.effect("serve with Kafka but no PostgreSQL is refused (the instances hand state over through it)", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(Cli.run(["serve", "--port", "0", "--kafka-brokers", "127.0.0.1:9092"]))
      assert.strictEqual((e as { _tag: string })._tag, "ConfigError")
      assert.include((e as { message: string }).message, "--postgres")
    }).pipe(Effect.provide(NodeServices.layer))
  )
})
