// The InfluxDB sink against the real InfluxDB 1.x that scripts/services.sh starts: written as line protocol,
// read back with InfluxQL over /query and compared value by value, tag by tag. Batching, Retry-After and the v2
// and v3 write APIs are checked against a loopback HTTP receiver (no InfluxDB 2 or 3 runs here).
import { assert, describe, it } from "@effect/vitest"
import { Influx } from "@llm-sentinel/adapters"
import { AnomalySink, Series, type Window } from "@llm-sentinel/core"
import { Effect, Redacted, Stream } from "effect"
import { anomaly } from "./fixtures.ts"
import { database, influxUrl, query, rows } from "./influx.ts"
import { closedPort, receiver } from "./receiver.ts"

const tricky = Series.makeKey('check out,eu=1 "x"', "gpt-4o\\mini", "latencyMs", {
  environment: "prod east",
  service: "dimension named like a tag",
  region: "trailing backslash\\"
})

const windowOf = (i: number): Window.WindowResult => ({
  key: tricky,
  start: 1_700_000_000_000 + i * 60_000,
  end: 1_700_000_060_000 + i * 60_000,
  summary: {
    count: 10 + i,
    sum: 1234.5 + i,
    mean: 123.45,
    variance: 7.25,
    min: 100,
    max: 150.5,
    p50: 120,
    p95: 149,
    p99: Number.NaN
  },
  revision: 0,
  closedBy: "watermark"
})

const withInflux = <A, E>(config: Influx.Config, use: Effect.Effect<A, E, Influx.Influx | AnomalySink.AnomalySink>) =>
  use.pipe(Effect.provide(Influx.layer(config)))

describe("Influx (real InfluxDB 1.x)", () => {
  it.live("anomalies and windows round-trip: every value and tag read back with InfluxQL", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const db = yield* database
        const anomalies = Array.from({ length: 250 }, (_, i) => ({ ...anomaly(i), series: { ...tricky } }))
        const windows = Array.from({ length: 30 }, (_, i) => windowOf(i))
        const c = yield* withInflux(
          { url: influxUrl, database: db, batchSize: 100, flushInterval: "10 seconds" },
          Effect.gen(function* () {
            yield* AnomalySink.AnomalySink.use((s) => s.write(anomalies))
            yield* Influx.Influx.use((x) => x.writeWindows(windows))
            yield* Influx.Influx.use((x) => x.flush)
            assert.isTrue(yield* Influx.Influx.use((x) => x.health))
            return yield* Influx.Influx.use((x) => x.counters.values)
          })
        )
        assert.deepStrictEqual(c, { received: 280, sent: 280, retried: 0, dropped: 0, errors: 0 })

        const got = rows(yield* query("SELECT * FROM sentinel_anomaly ORDER BY time", db))
        assert.strictEqual(got.length, 250)
        for (const [i, r] of got.entries()) {
          const a = anomalies[i]!
          assert.strictEqual(r.time, a.time)
          assert.strictEqual(r.id, a.id)
          assert.strictEqual(r.observed, a.observed)
          assert.strictEqual(r.expected, a.expected)
          assert.strictEqual(r.lower, a.lower)
          assert.strictEqual(r.upper, a.upper)
          assert.strictEqual(r.score, a.score)
          assert.strictEqual(r.reason, a.reason, "quotes and backslashes in a string field")
          assert.strictEqual(r.severity, a.severity)
          assert.strictEqual(r.detector, "mad")
          assert.strictEqual(r.service, 'check out,eu=1 "x"', "spaces, commas, equals and quotes in a tag")
          assert.strictEqual(r.model, "gpt-4o\\mini", "a backslash inside a tag is kept")
          assert.strictEqual(r.metric, "latencyMs")
          assert.strictEqual(r.environment, "prod east")
          assert.strictEqual(r.dim_service, "dimension named like a tag")
          assert.strictEqual(r.region, "trailing backslash", "a trailing backslash cannot be written; it is cut")
        }
        const w = rows(yield* query("SELECT * FROM sentinel_window ORDER BY time", db))
        assert.strictEqual(w.length, 30)
        for (const [i, r] of w.entries()) {
          const x = windows[i]!
          assert.strictEqual(r.time, x.start)
          assert.strictEqual(r.count, x.summary.count)
          assert.strictEqual(r.sum, x.summary.sum)
          assert.strictEqual(r.mean, 123.45)
          assert.strictEqual(r.variance, 7.25)
          assert.strictEqual(r.min, 100)
          assert.strictEqual(r.max, 150.5)
          assert.strictEqual(r.p95, 149)
          assert.strictEqual(r.p99, undefined, "a NaN statistic is left out (no p99 field at all)")
          assert.strictEqual(r.size_ms, 60_000)
          assert.strictEqual(r.closed_by, "watermark")
        }
        const types = rows(yield* query("SHOW FIELD KEYS FROM sentinel_window", db))
        const typeOf = Object.fromEntries(types.map((t) => [t.fieldKey, t.fieldType]))
        assert.strictEqual(typeOf.count, "integer")
        assert.strictEqual(typeOf.mean, "float")
      })
    )
  )

  it.live("nanosecond precision; a replay overwrites the same points instead of duplicating them", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const db = yield* database
        const anomalies = Array.from({ length: 40 }, (_, i) => anomaly(i))
        const write = withInflux(
          { url: influxUrl, database: db, precision: "ns" },
          Effect.andThen(
            AnomalySink.AnomalySink.use((s) => s.write(anomalies)),
            Influx.Influx.use((x) => x.flush)
          )
        )
        yield* write
        yield* write
        const got = rows(yield* query("SELECT score, id FROM sentinel_anomaly ORDER BY time", db, "ns"))
        assert.strictEqual(got.length, 40, "written twice, stored once")
        assert.strictEqual(got[0]!.time, anomalies[0]!.time * 1_000_000)
        const n = rows(yield* query("SELECT count(score) FROM sentinel_anomaly", db))
        assert.strictEqual(n[0]!.count, 40)
      })
    )
  )

  it.live("tapWindows writes the windows of a stream as they pass", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const db = yield* database
        const passed = yield* withInflux(
          { url: influxUrl, database: db },
          Stream.fromIterable(Array.from({ length: 12 }, (_, i) => windowOf(i))).pipe(
            Stream.rechunk(5),
            Influx.tapWindows,
            Stream.runCount
          )
        )
        assert.strictEqual(passed, 12)
        const n = rows(yield* query("SELECT count(mean) FROM sentinel_window", db))
        assert.strictEqual(n[0]!.count, 12)
      })
    )
  )

  it.live("closing the layer flushes what is buffered", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const db = yield* database
        yield* withInflux(
          { url: influxUrl, database: db, flushInterval: "1 hour", batchSize: 10_000 },
          AnomalySink.AnomalySink.use((s) => s.write(Array.from({ length: 7 }, (_, i) => anomaly(i))))
        )
        const n = rows(yield* query("SELECT count(score) FROM sentinel_anomaly", db))
        assert.strictEqual(n[0]!.count, 7)
      })
    )
  )

  it.live("InfluxDB down: the buffer stays bounded, drops are counted, health is false, flush fails retryably", () =>
    Effect.gen(function* () {
      const port = yield* closedPort
      const [c, buffered, healthy, error] = yield* withInflux(
        {
          url: `http://127.0.0.1:${port}`,
          database: "x",
          maxBuffer: 100,
          retries: 1,
          retryBaseDelay: "5 millis",
          flushInterval: "1 hour"
        },
        Effect.gen(function* () {
          const influx = yield* Influx.Influx
          yield* influx.writeAnomalies(Array.from({ length: 250 }, (_, i) => anomaly(i)))
          const error = yield* Effect.flip(influx.flush)
          return [yield* influx.counters.values, yield* influx.buffered, yield* influx.health, error] as const
        })
      )
      assert.strictEqual(buffered, 100)
      assert.deepStrictEqual(c, { received: 250, sent: 0, retried: 1, dropped: 150, errors: 2 })
      assert.isFalse(healthy)
      assert.strictEqual(error._tag, "InfluxError")
      assert.isTrue(error.isRetryable)
      assert.include(error.message, "ECONNREFUSED")
    })
  )
})

describe("Influx (write API shapes, loopback receiver)", () => {
  it.live("batches by size, then by time; v2 URL and token", () =>
    Effect.gen(function* () {
      const rx = yield* receiver()
      const base = rx.url.replace(/\/hook$/, "")
      yield* withInflux(
        {
          url: base,
          api: "v2",
          org: "acme",
          bucket: "llm",
          token: Redacted.make("tok"),
          batchSize: 100,
          flushInterval: "1 second"
        },
        Effect.gen(function* () {
          const influx = yield* Influx.Influx
          const t0 = Date.now()
          yield* influx.writeAnomalies(Array.from({ length: 250 }, (_, i) => anomaly(i)))
          const until = (n: number) =>
            Effect.gen(function* () {
              while (rx.received.length < n && Date.now() - t0 < 5000) yield* Effect.sleep("10 millis")
            })
          yield* until(2)
          if (Date.now() - t0 < 900) assert.strictEqual(rx.received.length, 2, "two full batches go at once")
          yield* until(3)
          assert.isAtLeast(rx.received[2]!.at - t0, 900, "the rest goes on the flush interval")
          assert.isBelow(rx.received[0]!.at - t0, 900, "full batches do not wait for the interval")
        })
      )
      const sizes = rx.received.map((r) => r.body.toString("utf8").split("\n").length)
      assert.deepStrictEqual(sizes, [100, 100, 50])
      const r = rx.received[0]!
      assert.strictEqual(r.path, "/api/v2/write?org=acme&bucket=llm&precision=ms")
      assert.strictEqual(r.headers.authorization, "Token tok")
      assert.strictEqual(r.body.toString("utf8").split("\n")[0], Influx.anomalyLine(anomaly(0)))
    })
  )

  it.live("v3 URL and bearer token; 503 and 429 with Retry-After are retried, the batch then accepted", () =>
    Effect.gen(function* () {
      const rx = yield* receiver()
      rx.script([{ status: 503 }, { status: 429, headers: { "retry-after": "1" } }])
      const base = rx.url.replace(/\/hook$/, "")
      const c = yield* withInflux(
        {
          url: base,
          api: "v3",
          database: "llm",
          token: Redacted.make("t3"),
          precision: "ns",
          retryBaseDelay: "10 millis"
        },
        Effect.gen(function* () {
          const influx = yield* Influx.Influx
          yield* influx.writeAnomalies([anomaly(1)])
          yield* influx.flush
          return yield* influx.counters.values
        })
      )
      assert.strictEqual(rx.received.length, 3)
      assert.isAtLeast(rx.received[2]!.at - rx.received[1]!.at, 1000)
      assert.strictEqual(rx.received[0]!.path, "/api/v3/write_lp?db=llm&precision=nanosecond")
      assert.strictEqual(rx.received[0]!.headers.authorization, "Bearer t3")
      assert.match(rx.received[0]!.body.toString("utf8"), / 1700000001000000000$/)
      assert.deepStrictEqual(c, { received: 1, sent: 1, retried: 2, dropped: 0, errors: 2 })
    })
  )

  it.effect("config: per-API requirements, unknown fields, redacted token", () =>
    Effect.gen(function* () {
      const v2 = yield* Effect.flip(Influx.decodeConfig({ url: "http://127.0.0.1:8086", api: "v2", bucket: "b" }))
      assert.include(v2.message, "api v2 needs org, bucket and token")
      const typo = yield* Effect.flip(
        Influx.decodeConfig({ url: "http://127.0.0.1:8086", database: "d", batchsize: 5 })
      )
      assert.include(typo.message, "batchsize")
      const ok = yield* Influx.decodeConfig({ url: "http://127.0.0.1:8086", database: "d", token: "secret-token" })
      assert.notInclude(String(ok.token), "secret-token")
    })
  )

  it("line protocol escaping", () => {
    assert.strictEqual(Influx.escapeMeasurement("a b,c=d"), "a\\ b\\,c=d")
    assert.strictEqual(Influx.escapeTag("a b,c=d\nx\\"), "a\\ b\\,c\\=d\\nx")
    assert.strictEqual(Influx.quoteField('say "hi" \\ now'), '"say \\"hi\\" \\\\ now"')
  })
})
