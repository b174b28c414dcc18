import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import * as fc from "fast-check"
import { Event } from "../src/index.ts"

const valid = { timestamp: "2026-11-26T10:00:00.000Z", service: "chat", model: "gpt-4o", latencyMs: 512 }

describe("Event.decodeBatch", () => {
  it("decodes ISO and epoch timestamps to epoch ms", () => {
    const { events, rejected } = Event.decodeBatch([valid, { ...valid, timestamp: 1_764_151_200_000 }])
    assert.deepStrictEqual(rejected, [])
    assert.strictEqual(events[0]!.timestamp, Date.parse("2026-11-26T10:00:00.000Z"))
    assert.strictEqual(events[1]!.timestamp, 1_764_151_200_000)
  })

  it("reports every problem of a record with its path and the value it got", () => {
    const { events, rejected } = Event.decodeBatch([
      valid,
      { ...valid, latencyMs: -3, status: "maybe", inputTokens: 1.5, latency_ms: 4, service: undefined }
    ])
    assert.strictEqual(events.length, 1)
    assert.strictEqual(rejected.length, 1)
    const errors = Object.fromEntries(rejected[0]!.errors.map((e) => [e.path, e.message]))
    assert.strictEqual(errors.latencyMs, "expected a finite number ≥ 0, got -3")
    assert.match(errors.status!, /expected "ok" or "error", got "maybe"/)
    assert.match(errors.inputTokens!, /integer/)
    assert.match(errors.latency_ms!, /unknown field/)
    assert.match(errors.service!, /service|string|missing/)
    assert.strictEqual(rejected[0]!.index, 1)
    assert.deepStrictEqual((rejected[0]!.payload as { latencyMs: number }).latencyMs, -3)
  })

  it("rejects non-objects, bad timestamps, NaN-like and oversized maps", () => {
    const attributes = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]))
    const { events, rejected } = Event.decodeBatch([
      "hello",
      null,
      { ...valid, timestamp: "yesterday" },
      { ...valid, timestamp: "2026-11-26T10:00:00" },
      { ...valid, costUsd: "1.5" },
      { ...valid, attributes },
      { ...valid, metrics: { quality: 0.9 }, attributes: { region: "eu", retry: false } }
    ])
    assert.strictEqual(events.length, 1)
    assert.deepStrictEqual(
      rejected.map((r) => r.index),
      [0, 1, 2, 3, 4, 5]
    )
    assert.match(rejected[2]!.errors[0]!.message, /ISO 8601/)
    assert.strictEqual(rejected[4]!.errors[0]!.path, "costUsd")
    assert.match(rejected[5]!.errors.map((e) => e.message).join(), /at most 64 attributes/)
  })

  it("exports a JSON Schema with the required fields and no extra properties", () => {
    const schema = Event.jsonSchema() as {
      required: Array<string>
      properties: Record<string, unknown>
      additionalProperties: unknown
    }
    assert.includeMembers(schema.required, ["timestamp", "service", "model", "latencyMs"])
    assert.property(schema.properties, "costUsd")
    assert.strictEqual(schema.additionalProperties, false)
  })

  it.effect("the decode operator sends rejected records to the dead-letter callback and keeps order", () =>
    Effect.gen(function* () {
      const dead: Array<Event.Rejected> = []
      const events = yield* Stream.fromIterable([valid, { bad: true }, { ...valid, latencyMs: 7 }]).pipe(
        Event.decode({ onRejected: (rejected) => Effect.sync(() => dead.push(...rejected)) }),
        Stream.runCollect
      )
      assert.deepStrictEqual(
        events.map((e) => e.latencyMs),
        [512, 7]
      )
      assert.strictEqual(dead.length, 1)
      assert.deepStrictEqual(dead[0]!.payload, { bad: true })
    })
  )

  it("timeBounds: a date and a Duration.Input resolved to milliseconds; invalid ones name their option", () => {
    assert.deepStrictEqual(Result.getOrThrow(Event.timeBounds()), Event.defaultTimeBounds)
    assert.deepStrictEqual(
      Result.getOrThrow(Event.timeBounds({ min: "2026-01-01T00:00:00Z", maxFuture: "1 minute" })),
      {
        minMs: Date.UTC(2026, 0, 1),
        maxFutureMs: 60_000
      }
    )
    assert.deepStrictEqual(Result.getOrThrow(Event.timeBounds({ min: 0, maxFuture: 0 })), { minMs: 0, maxFutureMs: 0 })
    for (const [options, parameter] of [
      [{ min: "soon" }, "min"],
      [{ min: Number.NaN }, "min"],
      [{ maxFuture: "later" as never }, "maxFuture"],
      [{ maxFuture: -5 }, "maxFuture"]
    ] as const) {
      const result = Event.timeBounds(options)
      assert.ok(Result.isFailure(result), JSON.stringify(options))
      if (Result.isFailure(result)) assert.strictEqual(result.failure.parameter, parameter)
    }
  })

  it.effect("the decode operator checks event times against the Clock when given time bounds", () =>
    Effect.gen(function* () {
      const dead: Array<Event.Rejected> = []
      const bounds: Event.TimeBounds = { minMs: 0, maxFutureMs: 1000 }
      const events = yield* Stream.make({ ...valid, timestamp: 500 }, { ...valid, timestamp: 5000 }).pipe(
        Event.decode({ onRejected: (rejected) => Effect.sync(() => dead.push(...rejected)), timeBounds: bounds }),
        Stream.runCollect
      ) // the TestClock is at 0: 5000 is 5 s ahead of it
      assert.deepStrictEqual(
        events.map((e) => e.timestamp),
        [500]
      )
      assert.deepStrictEqual(
        dead.map((d) => [d.index, d.errors[0]?.path]),
        [[1, "timestamp"]]
      )
    })
  )
})

describe("Event fast path", () => {
  // Values near every boundary the schema draws, for every field.
  const anyValue = fc.oneof(
    fc.constantFrom(0, -0, -1, 1.5, 7, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY, 1e308),
    fc.constantFrom("", "ok", "error", "maybe", "x".repeat(64), "x".repeat(65), "x".repeat(129), "x".repeat(257)),
    fc.constantFrom(
      "2026-11-26T10:00:00.000Z",
      "2026-11-26T10:00:00+02:00",
      "2026-11-26 10:00Z",
      "2026-11-26T10:00:00",
      "2026-13-45T10:00:00Z",
      "yesterday"
    ),
    fc.constantFrom(null, undefined, true, [], [1], {}),
    fc.dictionary(
      fc.string({ minLength: 0, maxLength: 3 }),
      fc.oneof(fc.double(), fc.string(), fc.boolean(), fc.constant(null)),
      {
        maxKeys: 3
      }
    ),
    fc.double({ min: 0, max: 1e7, noNaN: true })
  )
  const fields = [
    "timestamp",
    "service",
    "model",
    "latencyMs",
    "provider",
    "operation",
    "environment",
    "ttftMs",
    "inputTokens",
    "outputTokens",
    "cachedInputTokens",
    "reasoningTokens",
    "costUsd",
    "status",
    "errorType",
    "finishReason",
    "traceId",
    "spanId",
    "attributes",
    "metrics",
    "latency_ms"
  ] as const
  const record = fc.record(Object.fromEntries(fields.map((f) => [f, anyValue])), { requiredKeys: [] })
  const mostlyValid = fc
    .record({
      timestamp: fc.oneof(fc.nat(), fc.constant("2026-11-26T10:00:00.000Z")),
      service: fc.constantFrom("chat", "search"),
      model: fc.constant("gpt-4o"),
      latencyMs: fc.double({ min: 0, max: 1e5, noNaN: true })
    })
    .chain((base) => record.map((extra) => ({ ...base, ...extra })))

  it("accepts only what the Schema accepts, and builds the same event", () => {
    fc.assert(
      fc.property(fc.oneof(record, mostlyValid), (raw) => {
        const fast = Event.decodeBatch([raw], { maxErrorsPerRecord: 1000 })
        const reference = Event.decodeWithSchema([raw])
        assert.deepStrictEqual(fast.events, reference.events)
        // the same records rejected with the same errors (unknown fields are listed after the others)
        const sorted = (d: Event.Decoded) =>
          d.rejected.map((r) => ({
            ...r,
            errors: [...r.errors].sort((a, b) => `${a.path} ${a.message}`.localeCompare(`${b.path} ${b.message}`))
          }))
        assert.deepStrictEqual(sorted(fast), sorted(reference))
      }),
      { seed: 7, numRuns: 3000 }
    )
  })

  it("keeps input order when fast and slow records mix", () => {
    const batch = [
      valid,
      { ...valid, latencyMs: -1 },
      { ...valid, timestamp: "2026-11-26T10:00:00+00:00", latencyMs: 2 },
      { ...valid, latencyMs: 3 }
    ]
    const { events, rejected } = Event.decodeBatch(batch)
    assert.deepStrictEqual(
      events.map((e) => e.latencyMs),
      [512, 2, 3]
    )
    assert.deepStrictEqual(
      rejected.map((r) => r.index),
      [1]
    )
  })
})

describe("Event limits (poison input)", () => {
  const now = Date.parse("2026-12-01T12:00:00.000Z")
  const time = { now, bounds: Event.defaultTimeBounds }

  it("rejects implausible event times with an error on timestamp, and hints at epoch seconds", () => {
    const { events, rejected } = Event.decodeBatch(
      [
        { ...valid, timestamp: 1e22 },
        { ...valid, timestamp: 1_764_600_000 },
        { ...valid, timestamp: now + 6 * 60_000 },
        { ...valid, timestamp: now + 4 * 60_000 },
        { ...valid, timestamp: "2030-01-01T00:00:00Z" },
        valid
      ],
      { time }
    )
    assert.deepStrictEqual(
      rejected.map((r) => r.index),
      [0, 1, 2, 4]
    )
    assert.strictEqual(events.length, 2)
    for (const r of rejected) assert.strictEqual(r.errors[0]!.path, "timestamp")
    assert.match(rejected[1]!.errors[0]!.message, /epoch seconds/)
    assert.match(rejected[2]!.errors[0]!.message, /5m ahead of the server clock \(2026-12-01T12:00:00.000Z\)/)
    // without `time` only validity is checked (1e22 is not a valid date at all)
    assert.deepStrictEqual(
      Event.decodeBatch([
        { ...valid, timestamp: 1e22 },
        { ...valid, timestamp: 1_764_600_000 }
      ]).rejected.map((r) => r.index),
      [0]
    )
  })

  it("rejects impossible calendar dates that Date.parse rolls over", () => {
    const { events, rejected } = Event.decodeBatch([
      { ...valid, timestamp: "2025-11-31T00:00:00Z" },
      { ...valid, timestamp: "2025-02-29T00:00:00Z" },
      { ...valid, timestamp: "2024-02-29T00:00:00Z" },
      { ...valid, timestamp: "2026-01-01T24:00:00Z" },
      { ...valid, timestamp: "2026-01-01T10:00:00+25:00" }
    ])
    assert.deepStrictEqual(
      rejected.map((r) => r.index),
      [0, 1, 3, 4]
    )
    assert.strictEqual(events[0]!.timestamp, Date.UTC(2024, 1, 29))
    assert.strictEqual(Event.parseIsoDateTime("2026-11-26T10:00:00.5+02:00"), Date.UTC(2026, 10, 26, 8, 0, 0, 500))
  })

  it("keeps a record's errors bounded and O(its size), and never recurses into deep values", () => {
    const many: Record<string, unknown> = { ...valid }
    for (let i = 0; i < 50_000; i++) many[`k${i}`] = i
    const deep = JSON.parse(`${"[".repeat(20_000)}${"]".repeat(20_000)}`)
    const { events, rejected } = Event.decodeBatch([
      many,
      { ...valid, attributes: { a: deep } },
      { ...valid, service: deep },
      { ...valid, latencyMs: 5 }
    ])
    assert.deepStrictEqual(
      events.map((e) => e.latencyMs),
      [5]
    )
    assert.strictEqual(rejected[0]!.errors.length, Event.defaultMaxErrorsPerRecord)
    assert.deepStrictEqual(rejected[0]!.errors.at(-1), { path: "", message: "and 49981 more errors" })
    assert.strictEqual(rejected[1]!.errors[0]!.path, "attributes.a")
    assert.isBelow(rejected[1]!.errors[0]!.message.length, 200)
    assert.strictEqual(rejected[2]!.errors[0]!.path, "service")
  })

  it("keeps prototype-named keys in maps, as the Schema does", () => {
    const raw = JSON.parse(
      '{"timestamp":0,"service":"s","model":"m","latencyMs":1,"metrics":{"__proto__":5,"hasOwnProperty":3},"attributes":{"constructor":"x"}}'
    )
    const { events } = Event.decodeBatch([raw])
    assert.deepStrictEqual(Object.keys(events[0]!.metrics!), ["__proto__", "hasOwnProperty"])
    assert.strictEqual(Object.getPrototypeOf(events[0]!.metrics), Object.prototype)
    assert.deepStrictEqual(events, Event.decodeWithSchema([raw]).events)
  })
})
