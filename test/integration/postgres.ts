// The machine's PostgreSQL (127.0.0.1:5432, trust auth, database `test`) for the PostgreSQL and Kafka tests: a
// fresh schema per test (or per process), dropped afterwards. A missing server fails the test (it never skips).
import { randomBytes } from "node:crypto"
import { Postgres } from "@llm-sentinel/adapters"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"

export const pgBase: Postgres.Config = {
  host: process.env.PGHOST ?? "127.0.0.1",
  port: Number(process.env.PGPORT ?? 5432),
  database: process.env.PGDATABASE ?? "test",
  username: process.env.PGUSER ?? "postgres",
  connectTimeout: "5 seconds"
}

export const newSchema = (tag: string) => `sentinel_${tag}_${randomBytes(4).toString("hex")}`

/** A client on the base database (no schema), for setup and inspection. */
export const admin = Postgres.layerClient(pgBase)

export const dropSchema = (schema: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).pipe(
    Effect.provide(admin),
    Effect.ignore
  )

/** The Postgres layer over a schema of its own that is dropped when the layer is released. */
export const freshStore = (tag: string) => {
  const schema = newSchema(tag)
  return Postgres.layer({ ...pgBase, schema }).pipe(
    Layer.provideMerge(Layer.effectDiscard(Effect.addFinalizer(() => dropSchema(schema))))
  )
}
