// The InfluxDB 1.x that scripts/services.sh starts, for the Influx tests: InfluxQL over /query, and a fresh
// database per test that is dropped afterwards. A missing server fails the test (it never skips).
import { randomBytes } from "node:crypto"
import { Effect } from "effect"

export const influxUrl = process.env.INFLUX_URL ?? "http://127.0.0.1:8086"

export interface Series {
  readonly name: string
  readonly tags?: Record<string, string>
  readonly columns: ReadonlyArray<string>
  readonly values: ReadonlyArray<ReadonlyArray<unknown>>
}

export const query = (q: string, db?: string, epoch: "ms" | "ns" = "ms") =>
  Effect.tryPromise({
    try: async () => {
      const params = new URLSearchParams({ q, epoch, ...(db === undefined ? {} : { db }) })
      const r = await fetch(`${influxUrl}/query`, { method: "POST", body: params })
      const json = (await r.json()) as { results?: Array<{ series?: Array<Series>; error?: string }>; error?: string }
      const err = json.error ?? json.results?.[0]?.error
      if (!r.ok || err !== undefined) throw new Error(`InfluxQL ${q}: HTTP ${r.status} ${err ?? ""}`)
      return json.results?.[0]?.series ?? []
    },
    catch: (e) =>
      new Error(
        `InfluxDB at ${influxUrl} did not answer (start it with: bash scripts/services.sh up): ${(e as Error).message}`
      )
  })

/** Rows of a query as objects keyed by column. */
export const rows = (series: ReadonlyArray<Series>): Array<Record<string, unknown>> =>
  series.flatMap((s) => s.values.map((v) => Object.fromEntries(s.columns.map((c, i) => [c, v[i]]))))

/** A database that exists for the scope. */
export const database = Effect.acquireRelease(
  Effect.gen(function* () {
    const db = `sentinel_test_${randomBytes(4).toString("hex")}`
    yield* query(`CREATE DATABASE "${db}"`)
    return db
  }),
  (db) => Effect.ignore(query(`DROP DATABASE "${db}"`))
)
