/**
 * The telemetry event: one LLM call, as sent by an application. The Schema here is the single source of truth:
 * the decode stage, the JSON Schema served by the API and the test generators all derive from it.
 *
 * Decisions:
 * - `timestamp` is accepted as ISO 8601 (with a time zone) or epoch milliseconds, and decoded to epoch ms.
 * - Unknown top-level fields are **rejected** (a misspelt `latency_ms` must not pass silently as a missing
 *   optional field). Free-form context belongs in `attributes` (string → string | number | boolean), numeric
 *   measures in `metrics`.
 * - Every number is finite and non-negative; token counts are integers; strings and maps are bounded.
 *
 * @since 0.1.0
 */
import { Array as Arr, Effect, Schema, SchemaIssue, SchemaTransformation, Stream } from "effect"
import { dual } from "effect/Function"
import { fastDecode } from "./internal/fastDecode.ts"

const nonNegative = Schema.Finite.annotate({ message: "expected a finite number" }).check(
  Schema.isGreaterThanOrEqualTo(0, { message: "expected a finite number ≥ 0" })
)
const tokenCount = Schema.Finite.annotate({ message: "expected a finite number" }).check(
  Schema.isInt({ message: "expected an integer ≥ 0" }),
  Schema.isGreaterThanOrEqualTo(0, { message: "expected an integer ≥ 0" })
)
const text = (max: number) =>
  Schema.String.annotate({ message: "expected a string" }).check(
    Schema.isBetweenLength(1, max, { message: `expected a string of 1 to ${max} characters` })
  )

const isoPattern = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})$/

/**
 * An ISO 8601 date-time with a time zone (`2026-11-26T19:00:00.000Z`) or epoch milliseconds, decoded to epoch
 * milliseconds.
 *
 * @category models
 * @since 0.1.0
 */
export const Timestamp: Schema.Codec<number, string | number> = Schema.Union([
  Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)),
  Schema.String.check(
    Schema.makeFilter((s: string) => isoPattern.test(s) && Number.isFinite(Date.parse(s)), {
      message: "expected an ISO 8601 date-time with a time zone",
      format: "date-time"
    } as never)
  )
])
  .annotate({ message: "expected an ISO 8601 date-time string or epoch milliseconds" })
  .pipe(
    Schema.decodeTo(
      Schema.Finite,
      SchemaTransformation.transform<number, string | number>({
        decode: (x) => (typeof x === "number" ? x : Date.parse(x)),
        encode: (ms) => new Date(ms).toISOString()
      })
    )
  )

const Scalar = Schema.Union([
  Schema.String.check(Schema.isMaxLength(1024, { message: "expected at most 1024 characters" })),
  Schema.Finite,
  Schema.Boolean
]).annotate({ message: "expected a string, a finite number or a boolean" })

const key = Schema.String.check(Schema.isBetweenLength(1, 128, { message: "expected a key of 1 to 128 characters" }))

/**
 * The schema of one telemetry event (one LLM call).
 *
 * @category models
 * @since 0.1.0
 */
export const TelemetryEvent = Schema.Struct({
  /** When the call started: ISO 8601 or epoch ms. */
  timestamp: Timestamp,
  /** The calling application or service. */
  service: text(128),
  /** The model called, e.g. `gpt-4o-mini`. */
  model: text(128),
  /** End-to-end latency of the call in milliseconds. */
  latencyMs: nonNegative,
  provider: Schema.optionalKey(text(64)),
  operation: Schema.optionalKey(text(64)),
  environment: Schema.optionalKey(text(64)),
  /** Time to first token in milliseconds (streaming calls). */
  ttftMs: Schema.optionalKey(nonNegative),
  inputTokens: Schema.optionalKey(tokenCount),
  outputTokens: Schema.optionalKey(tokenCount),
  cachedInputTokens: Schema.optionalKey(tokenCount),
  reasoningTokens: Schema.optionalKey(tokenCount),
  /** Cost of the call in US dollars. */
  costUsd: Schema.optionalKey(nonNegative),
  status: Schema.optionalKey(Schema.Literals(["ok", "error"]).annotate({ message: 'expected "ok" or "error"' })),
  errorType: Schema.optionalKey(text(256)),
  finishReason: Schema.optionalKey(text(64)),
  traceId: Schema.optionalKey(text(64)),
  spanId: Schema.optionalKey(text(64)),
  /** Free-form context: at most 64 entries of string | number | boolean. */
  attributes: Schema.optionalKey(
    Schema.Record(key, Scalar).check(Schema.isMaxProperties(64, { message: "expected at most 64 attributes" }))
  ),
  /** Custom numeric measures (eval scores, retries, …): at most 64 finite non-negative numbers. */
  metrics: Schema.optionalKey(
    Schema.Record(key, nonNegative).check(Schema.isMaxProperties(64, { message: "expected at most 64 metrics" }))
  )
}).annotate({ identifier: "TelemetryEvent", title: "LLM-Sentinel telemetry event", message: "expected an object" })

/**
 * @category models
 * @since 0.1.0
 */
export type TelemetryEvent = typeof TelemetryEvent.Type

/**
 * The event's JSON Schema (draft 2020-12), as served by `GET /v1/schema/event`.
 *
 * @category models
 * @since 0.1.0
 */
export const jsonSchema = (): Record<string, unknown> => {
  const doc = Schema.toJsonSchemaDocument(TelemetryEvent)
  const defs = (doc.definitions ?? {}) as Record<string, Record<string, unknown>>
  const root = { ...(defs.TelemetryEvent ?? doc.schema) } as Record<string, unknown>
  const properties = { ...(root.properties as Record<string, Record<string, unknown>>) }
  // what the generic derivation cannot see: decoding rejects unknown fields, the string form of `timestamp` is
  // a date-time, and the value types of the two maps
  properties.timestamp = {
    anyOf: [
      { type: "string", format: "date-time" },
      { type: "number", minimum: 0, description: "epoch ms" }
    ]
  }
  properties.attributes = {
    ...properties.attributes,
    additionalProperties: { anyOf: [{ type: "string", maxLength: 1024 }, { type: "number" }, { type: "boolean" }] },
    propertyNames: { minLength: 1, maxLength: 128 }
  }
  properties.metrics = {
    ...properties.metrics,
    additionalProperties: { type: "number", minimum: 0 },
    propertyNames: { minLength: 1, maxLength: 128 }
  }
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "https://llm-sentinel.dev/schema/event.json",
    ...root,
    properties,
    additionalProperties: false
  }
}

/**
 * One problem with one input record: where (`path`, e.g. `latencyMs` or `attributes.region`) and what.
 *
 * @category models
 * @since 0.1.0
 */
export interface FieldError {
  readonly path: string
  readonly message: string
}

/**
 * An input record that failed to decode, with every problem found and the original payload.
 *
 * @category models
 * @since 0.1.0
 */
export interface Rejected {
  readonly index: number
  readonly errors: ReadonlyArray<FieldError>
  readonly payload: unknown
}

/**
 * The outcome of decoding a batch: the valid events in input order and the rejected records.
 *
 * @category models
 * @since 0.1.0
 */
export interface Decoded {
  readonly events: Array<TelemetryEvent>
  readonly rejected: Array<Rejected>
}

const decodeArray = Schema.decodeUnknownExit(Schema.Array(TelemetryEvent))
const options = { errors: "all", onExcessProperty: "error" } as const
const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const at = (value: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let v: unknown = value
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined
    v = (v as Record<PropertyKey, unknown>)[p]
  }
  return v
}

const show = (value: unknown): string => {
  if (value === undefined) return "nothing"
  const json = JSON.stringify(value)
  return json === undefined ? String(value) : json.length > 60 ? `${json.slice(0, 57)}...` : json
}

const describeIssue = (raw: unknown, path: ReadonlyArray<PropertyKey>, message: string): FieldError => {
  const m = message.charAt(0).toLowerCase() + message.slice(1)
  const where = path.map(String).join(".")
  if (m === "missing key") return { path: where, message: "required field is missing" }
  if (m === "expected no excess property") {
    return { path: where, message: "unknown field (put custom context under `attributes` or `metrics`)" }
  }
  return { path: where, message: `${m}, got ${show(at(raw, path))}` }
}

/**
 * Decodes a batch of raw records. All-valid batches take one Schema pass; a batch with errors is split into
 * the records that failed (every problem with its path, and the payload) and the events that passed.
 *
 * @example
 * ```ts
 * import { Event } from "@llm-sentinel/core"
 * const { events, rejected } = Event.decodeBatch([
 *   { timestamp: 0, service: "chat", model: "gpt-4o", latencyMs: 512 },
 *   { timestamp: 0, service: "chat", model: "gpt-4o", latencyMs: -3 }
 * ])
 * // rejected[0].errors[0] => { path: "latencyMs", message: "expected a finite number ≥ 0, got -3" }
 * ```
 * @category combinators
 * @since 0.1.0
 */
export const decodeBatch = (raws: ReadonlyArray<unknown>): Decoded => {
  // fast path first (see internal/fastDecode.ts); only the records it cannot vouch for meet the Schema
  const decoded: Array<unknown> = new Array(raws.length)
  let slow: Array<number> | undefined
  for (let i = 0; i < raws.length; i++) {
    const event = fastDecode(raws[i])
    if (event === undefined) (slow ??= []).push(i)
    else decoded[i] = event
  }
  if (slow === undefined) return { events: decoded as Array<TelemetryEvent>, rejected: [] }
  const viaSchema = decodeWithSchema(slow.map((i) => raws[i]))
  const rejectedAt = new Set(viaSchema.rejected.map((r) => r.index))
  let next = 0
  for (let j = 0; j < slow.length; j++) if (!rejectedAt.has(j)) decoded[slow[j]!] = viaSchema.events[next++]
  return {
    // rejected slots stay empty: filtering them out keeps every accepted event at its input order
    events: (rejectedAt.size === 0 ? decoded : decoded.filter((e) => e !== undefined)) as Array<TelemetryEvent>,
    rejected: viaSchema.rejected.map((r) => ({ ...r, index: slow[r.index]! }))
  }
}

/**
 * Decodes a batch with the Schema alone (no fast path): the reference behaviour of {@link decodeBatch}.
 *
 * @category combinators
 * @since 0.1.0
 */
export const decodeWithSchema = (raws: ReadonlyArray<unknown>): Decoded => {
  const exit = decodeArray(raws, options)
  if (exit._tag === "Success") return { events: exit.value as Array<TelemetryEvent>, rejected: [] }
  const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (failure === undefined || failure._tag !== "Fail") throw new Error("unexpected defect while decoding events")
  const byIndex = new Map<number, Array<FieldError>>()
  for (const issue of formatter(failure.error.issue).issues) {
    const path = (issue.path ?? []).map((p) =>
      typeof p === "object" && p !== null ? (p as { key: PropertyKey }).key : p
    )
    const index = Number(path[0])
    const raw = raws[index]
    let list = byIndex.get(index)
    if (list === undefined) byIndex.set(index, (list = []))
    list.push(describeIssue(raw, path.slice(1), issue.message))
  }
  const rejected: Array<Rejected> = []
  const valid: Array<unknown> = []
  for (let i = 0; i < raws.length; i++) {
    const errors = byIndex.get(i)
    if (errors === undefined) valid.push(raws[i])
    else rejected.push({ index: i, errors, payload: raws[i] })
  }
  const rest = decodeArray(valid, options)
  if (rest._tag !== "Success") throw new Error("events that passed validation failed on a second decode")
  return { events: rest.value as Array<TelemetryEvent>, rejected }
}

/**
 * A dead letter: a rejected record with the batch position it came from.
 *
 * @category models
 * @since 0.1.0
 */
export interface DeadLetter extends Rejected {
  readonly reason: "invalid"
}

/**
 * The decode stage as a stream operator: arrays of raw records in, events out; every rejected record goes to
 * `onRejected` (a dead-letter sink) with its errors and original payload before the events of that batch move
 * on.
 *
 * @category combinators
 * @since 0.1.0
 */
export const decode: {
  <E2, R2>(
    onRejected: (rejected: ReadonlyArray<Rejected>) => Effect.Effect<void, E2, R2>
  ): <E, R>(self: Stream.Stream<unknown, E, R>) => Stream.Stream<TelemetryEvent, E | E2, R | R2>
  <E, R, E2, R2>(
    self: Stream.Stream<unknown, E, R>,
    onRejected: (rejected: ReadonlyArray<Rejected>) => Effect.Effect<void, E2, R2>
  ): Stream.Stream<TelemetryEvent, E | E2, R | R2>
} = dual(
  2,
  <E, R, E2, R2>(
    self: Stream.Stream<unknown, E, R>,
    onRejected: (rejected: ReadonlyArray<Rejected>) => Effect.Effect<void, E2, R2>
  ): Stream.Stream<TelemetryEvent, E | E2, R | R2> =>
    self.pipe(
      Stream.mapArrayEffect((raws) => {
        const { events, rejected } = decodeBatch(raws)
        const emit = Effect.succeed([events] as const)
        return rejected.length === 0 ? emit : Effect.andThen(onRejected(rejected), emit)
      }),
      Stream.filter(Arr.isArrayNonEmpty),
      Stream.flattenArray
    )
)
