import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
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
        Event.decode((rejected) => Effect.sync(() => dead.push(...rejected))),
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
        const fast = Event.decodeBatch([raw])
        const reference = Event.decodeWithSchema([raw])
        assert.deepStrictEqual(fast.events, reference.events)
        assert.deepStrictEqual(fast.rejected, reference.rejected)
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
