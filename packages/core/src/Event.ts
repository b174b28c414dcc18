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
import {
  Array as Arr,
  Clock,
  Duration,
  Effect,
  Option,
  Result,
  Schema,
  SchemaIssue,
  SchemaTransformation,
  Stream
} from "effect"
import { dual } from "effect/Function"
import { fastDecode } from "./internal/fastDecode.ts"
import { maxDateMs, parseIsoDateTime as parseIsoDateTime_ } from "./internal/isoTime.ts"

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

/**
 * Reads an ISO 8601 date-time with a time zone into epoch milliseconds, strictly: impossible dates such as
 * `2025-11-31` or `24:00` are `undefined` (where `Date.parse` would roll them over).
 *
 * @category constructors
 * @since 0.1.0
 */
export const parseIsoDateTime: (s: string) => number | undefined = parseIsoDateTime_

/**
 * The largest epoch-millisecond value that is a valid date (`8.64e15`, year 275760); larger timestamps are invalid.
 *
 * @category constructors
 * @since 0.1.0
 */
export const maxTimestampMs: number = maxDateMs

/**
 * An ISO 8601 date-time with a time zone (`2026-11-26T19:00:00.000Z`) or epoch milliseconds, decoded to epoch
 * milliseconds. Epoch milliseconds must be a valid date (at most {@link maxTimestampMs}); ISO strings must name a
 * real calendar date and time.
 *
 * @category models
 * @since 0.1.0
 */
export const Timestamp: Schema.Codec<number, string | number> = Schema.Union([
  Schema.Finite.check(
    Schema.isBetween(
      { minimum: 0, maximum: maxDateMs },
      { message: "expected epoch milliseconds of a valid date (0 to 8.64e15)" }
    )
  ),
  Schema.String.check(
    Schema.makeFilter((s: string) => parseIsoDateTime_(s) !== undefined, {
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
        decode: (x) => (typeof x === "number" ? x : parseIsoDateTime_(x)!),
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
 * An input record that failed to decode, with every problem found (at most `maxErrorsPerRecord`, the last entry
 * then says how many more there were) and the original payload.
 *
 * @category models
 * @since 0.1.0
 */
export interface Rejected {
  readonly index: number
  readonly errors: ReadonlyArray<FieldError>
  readonly payload: unknown
  /** Where the record came from, when the source knows (e.g. `journal 0000000000000042.journal at byte 1234`). */
  readonly source?: string
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

/**
 * Which event times are plausible, relative to the clock of whoever decodes (`now`): from `min` (epoch ms) up to
 * `maxFuture` ms ahead of `now`. A timestamp outside is a field error on `timestamp`, so an event from year 33658
 * (`1e15` read as ms) or a clock skewed by a year never reaches the windows. Epoch seconds sent as milliseconds
 * (`1764600000`, January 1970) fall below any sensible `min`.
 *
 * A resolved value, built by {@link timeBounds} from `min` (a date) and `maxFuture` (a `Duration.Input`): options
 * take durations under the plain name, the resolved value holds milliseconds under the name with `Ms`.
 *
 * @category models
 * @since 0.1.0
 */
export interface TimeBounds {
  /** The earliest plausible event time, in epoch ms. */
  readonly minMs: number
  /** How far ahead of the decoder's clock an event time may be, in ms (clock skew of the sender). */
  readonly maxFutureMs: number
}

/**
 * The default {@link TimeBounds}: from 2000-01-01T00:00:00Z to 5 minutes ahead of the clock.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultTimeBounds: TimeBounds = { minMs: Date.UTC(2000, 0, 1), maxFutureMs: 5 * 60_000 }

/**
 * Invalid time bounds: a `min` that is not a date, or a `maxFuture` that is not a finite non-negative duration.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidTimeBounds extends Schema.TaggedError<InvalidTimeBounds>(
  "@llm-sentinel/core/Event/InvalidTimeBounds"
)("InvalidTimeBounds", { parameter: Schema.String, message: Schema.String }) {}

/**
 * Builds {@link TimeBounds}: `min` as epoch ms or an ISO 8601 date-time, `maxFuture` as a `Duration.Input`; each
 * defaults to {@link defaultTimeBounds}'. An invalid one is an {@link InvalidTimeBounds} naming it.
 *
 * @example
 * ```ts
 * import { Event, Pipeline } from "@llm-sentinel/core"
 * import { ZScore } from "@llm-sentinel/detectors"
 * import { Result } from "effect"
 * const bounds = Result.getOrThrow(Event.timeBounds({ min: "2026-01-01T00:00:00Z", maxFuture: "1 minute" }))
 * const config = Pipeline.makeConfig({ detectors: [ZScore.make()], timeBounds: bounds })
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const timeBounds = (
  options: { readonly min?: number | string; readonly maxFuture?: Duration.Input } = {}
): Result.Result<TimeBounds, InvalidTimeBounds> => {
  const min =
    options.min === undefined
      ? defaultTimeBounds.minMs
      : typeof options.min === "number"
        ? options.min
        : parseIsoDateTime(options.min)
  if (min === undefined || !Number.isFinite(min)) {
    return Result.fail(
      new InvalidTimeBounds({
        parameter: "min",
        message: `min must be epoch ms or an ISO 8601 date-time, got ${String(options.min)}`
      })
    )
  }
  const maxFuture =
    options.maxFuture === undefined
      ? defaultTimeBounds.maxFutureMs
      : Option.map(Duration.fromInput(options.maxFuture), Duration.toMillis)
  const ms = typeof maxFuture === "number" ? maxFuture : Option.getOrUndefined(maxFuture)
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
    return Result.fail(
      new InvalidTimeBounds({
        parameter: "maxFuture",
        message: `maxFuture must be a finite non-negative duration, got ${String(options.maxFuture)}`
      })
    )
  }
  return Result.succeed({ minMs: min, maxFutureMs: ms })
}

/**
 * Options of {@link decodeBatch}.
 *
 * @category models
 * @since 0.1.0
 */
export interface DecodeOptions {
  /** Reject implausible event times, relative to `now` (no time check without it). */
  readonly time?: { readonly now: number; readonly bounds: TimeBounds }
  /** Errors listed per rejected record (default 20); past it a last entry says how many more there were. */
  readonly maxErrorsPerRecord?: number
}

/**
 * The default of {@link DecodeOptions.maxErrorsPerRecord}.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultMaxErrorsPerRecord = 20

/**
 * The field error of an implausible event time, or `undefined` when `ms` is within `bounds` of `now`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const checkTime = (ms: number, raw: unknown, now: number, bounds: TimeBounds): FieldError | undefined => {
  const max = now + bounds.maxFutureMs
  if (ms >= bounds.minMs && ms <= max) return undefined
  const seconds =
    ms * 1000 >= bounds.minMs && ms * 1000 <= max ? " (it looks like epoch seconds: send milliseconds)" : ""
  return {
    path: "timestamp",
    message: `expected a time from ${iso(bounds.minMs)} to ${Duration.format(
      Duration.millis(bounds.maxFutureMs)
    )} ahead of the server clock (${iso(now)}), got ${show(raw)}${seconds}`
  }
}

const iso = (ms: number): string => (Math.abs(ms) <= maxDateMs ? new Date(ms).toISOString() : String(ms))

const decodeArray = Schema.decodeUnknownExit(Schema.Array(TelemetryEvent))
const options = { errors: "all", onExcessProperty: "error" } as const
const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const at = (value: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let v: unknown = value
  for (const p of path) {
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, p)) return undefined
    v = (v as Record<PropertyKey, unknown>)[p]
  }
  return v
}

/**
 * A short preview of any value (at most ~60 characters), in time and stack depth bounded by the preview, not the
 * value: a 10,000-level nested array or a 5 MB string is shown as its first characters.
 */
const show = (value: unknown): string => {
  let out = ""
  const budget = 60
  // an explicit stack of what is left to print: values, or literal text (closing brackets and separators)
  const stack: Array<{ readonly text: string } | { readonly value: unknown }> = [{ value }]
  while (stack.length > 0 && out.length <= budget) {
    const next = stack.pop()!
    if ("text" in next) {
      out += next.text
      continue
    }
    const v = next.value
    if (v === undefined) out += out.length === 0 ? "nothing" : "null"
    else if (v === null || typeof v === "boolean") out += String(v)
    else if (typeof v === "number") out += Number.isFinite(v) ? JSON.stringify(v) : "null"
    else if (typeof v === "string") out += JSON.stringify(v.length > budget ? v.slice(0, budget) : v)
    else if (Array.isArray(v)) {
      out += "["
      stack.push({ text: "]" })
      for (let i = Math.min(v.length, budget) - 1; i >= 0; i--) {
        stack.push({ value: v[i] })
        if (i > 0) stack.push({ text: "," })
      }
    } else if (typeof v === "object") {
      out += "{"
      stack.push({ text: "}" })
      const keys = Object.keys(v).slice(0, budget)
      for (let i = keys.length - 1; i >= 0; i--) {
        stack.push({ value: (v as Record<string, unknown>)[keys[i]!] })
        stack.push({ text: `${JSON.stringify(keys[i]!.slice(0, budget))}:` })
        if (i > 0) stack.push({ text: "," })
      }
    } else out += String(v)
  }
  return out.length > budget || stack.length > 0 ? `${out.slice(0, budget - 3)}...` : out
}

const describeIssue = (raw: unknown, path: ReadonlyArray<PropertyKey>, message: string): FieldError => {
  const m = message.charAt(0).toLowerCase() + message.slice(1)
  const where = path.map(String).join(".")
  if (m === "missing key") return { path: where, message: "required field is missing" }
  if (m === "expected no excess property") return unknownField(where)
  return { path: where, message: `${m}, got ${show(at(raw, path))}` }
}

const unknownField = (path: string): FieldError => ({
  path,
  message: "unknown field (put custom context under `attributes` or `metrics`)"
})

const known = new Set(Object.keys(TelemetryEvent.fields))
const maps = new Set(["attributes", "metrics"])

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

const define = (target: Record<string, unknown>, key: string, value: unknown) =>
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })

/**
 * What the Schema is shown of a record the fast path refused: the known fields only (unknown ones become
 * errors here), at most 65 entries of each map (enough for the "at most 64" error), and `[]` for any nested
 * array or object where the Schema expects a scalar (it would be rejected whatever it contains). So the
 * Schema's work, and the depth of anything it or its formatter recurses into, are bounded whatever the record;
 * the record is valid exactly when its trimmed copy is.
 */
const trim = (raw: unknown): { readonly copy: unknown; readonly unknown: Array<FieldError> } => {
  if (!isPlainObject(raw)) return { copy: raw, unknown: [] }
  const copy: Record<string, unknown> = {}
  const unknown: Array<FieldError> = []
  for (const k of Object.keys(raw)) {
    const v = raw[k]
    if (!known.has(k)) unknown.push(unknownField(k))
    else if (maps.has(k) && isPlainObject(v)) {
      const entries: Record<string, unknown> = {}
      let n = 0
      for (const mk of Object.keys(v)) {
        if (++n > 65) break
        const mv = v[mk]
        define(entries, mk, typeof mv === "object" && mv !== null ? [] : mv)
      }
      copy[k] = entries
    } else copy[k] = typeof v === "object" && v !== null ? [] : v
  }
  return { copy, unknown }
}

const capErrors = (errors: Array<FieldError>, max: number): Array<FieldError> =>
  errors.length <= max
    ? errors
    : [...errors.slice(0, max - 1), { path: "", message: `and ${errors.length - max + 1} more errors` }]

/**
 * Decodes a batch of raw records. Valid records take a hand-written fast path; the others are trimmed (see
 * below) and meet the Schema in one pass, which reports every problem with its path. With `time`, events
 * outside the plausible {@link TimeBounds} are rejected with an error on `timestamp`.
 *
 * Cost is linear in the size of the input, and so is the size of the errors: each rejected record lists at
 * most `maxErrorsPerRecord` errors, and nothing recurses into the nesting of a value (a 10,000-level array
 * under `attributes` is one error, not a stack overflow).
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
export const decodeBatch = (raws: ReadonlyArray<unknown>, decodeOptions: DecodeOptions = {}): Decoded => {
  const maxErrors = Math.max(1, decodeOptions.maxErrorsPerRecord ?? defaultMaxErrorsPerRecord)
  const time = decodeOptions.time
  // one slot per input: an event, or a rejection; the fast path first, the Schema for what it cannot vouch for
  const slots: Array<TelemetryEvent | Rejected> = new Array(raws.length)
  let slow: Array<number> | undefined
  let rejections = 0
  for (let i = 0; i < raws.length; i++) {
    const event = fastDecode(raws[i]) as TelemetryEvent | undefined
    if (event === undefined) (slow ??= []).push(i)
    else slots[i] = event
  }
  if (slow !== undefined) {
    const trimmed = slow.map((i) => trim(raws[i]))
    const viaSchema = decodeSlow(
      trimmed.map((t) => t.copy),
      slow.map((i) => raws[i])
    )
    let next = 0
    const rejectedAt = new Map(viaSchema.rejected.map((r) => [r.index, r.errors] as const))
    for (let j = 0; j < slow.length; j++) {
      const i = slow[j]!
      const errors = rejectedAt.get(j)
      const unknown = trimmed[j]!.unknown
      if (errors === undefined && unknown.length === 0) slots[i] = viaSchema.events[next++]!
      else {
        if (errors === undefined) next++ // valid apart from its unknown fields
        slots[i] = { index: i, errors: capErrors([...(errors ?? []), ...unknown], maxErrors), payload: raws[i] }
        rejections++
      }
    }
  }
  if (time !== undefined) {
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!
      if ("errors" in slot) continue
      const error = checkTime(slot.timestamp, (raws[i] as { timestamp?: unknown }).timestamp, time.now, time.bounds)
      if (error !== undefined) {
        slots[i] = { index: i, errors: [error], payload: raws[i] }
        rejections++
      }
    }
  }
  if (rejections === 0) return { events: slots as Array<TelemetryEvent>, rejected: [] }
  const events: Array<TelemetryEvent> = []
  const rejected: Array<Rejected> = []
  for (const slot of slots) {
    if ("errors" in slot) rejected.push(slot)
    else events.push(slot)
  }
  return { events, rejected }
}

const decodeSlow = (copies: ReadonlyArray<unknown>, raws: ReadonlyArray<unknown>): Decoded => {
  const exit = decodeArray(copies, options)
  if (exit._tag === "Success") return { events: exit.value as Array<TelemetryEvent>, rejected: [] }
  const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (failure === undefined || failure._tag !== "Fail") throw new Error("unexpected defect while decoding events")
  const byIndex = new Map<number, Array<FieldError>>()
  for (const issue of formatter(failure.error.issue).issues) {
    const path = (issue.path ?? []).map((p) =>
      typeof p === "object" && p !== null ? (p as { key: PropertyKey }).key : p
    )
    const index = Number(path[0])
    let list = byIndex.get(index)
    if (list === undefined) byIndex.set(index, (list = []))
    list.push(describeIssue(raws[index], path.slice(1), issue.message))
  }
  const rejected: Array<Rejected> = []
  const valid: Array<unknown> = []
  for (let i = 0; i < copies.length; i++) {
    const errors = byIndex.get(i)
    if (errors === undefined) valid.push(copies[i])
    else rejected.push({ index: i, errors, payload: raws[i] })
  }
  const rest = decodeArray(valid, options)
  if (rest._tag !== "Success") throw new Error("events that passed validation failed on a second decode")
  return { events: rest.value as Array<TelemetryEvent>, rejected }
}

/**
 * Decodes a batch with the Schema alone, on the records as they are (no fast path, no trimming): the reference
 * behaviour that {@link decodeBatch} is tested against. Not for untrusted input: its cost and its errors grow
 * with whatever a record holds.
 *
 * @category combinators
 * @since 0.1.0
 */
export const decodeWithSchema = (raws: ReadonlyArray<unknown>): Decoded => decodeSlow(raws, raws)

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
 * Options of {@link decode}. Callbacks are named `on<What>` and sit in the options object, as in Effect's own
 * APIs (`{ onFailure, onSuccess }`) and as `Window.aggregate`'s `onLate`.
 *
 * @category models
 * @since 0.1.0
 */
export interface DecodeStreamOptions<E, R> {
  /** Receives every rejected record (with its errors and original payload) before the events of its batch move on. */
  readonly onRejected: (rejected: ReadonlyArray<Rejected>) => Effect.Effect<void, E, R>
  /** Rejects implausible event times, relative to the `Clock` (no time check without it). */
  readonly timeBounds?: TimeBounds
  /** Errors listed per rejected record (default {@link defaultMaxErrorsPerRecord}). */
  readonly maxErrorsPerRecord?: number
}

/**
 * The decode stage as a stream operator: arrays of raw records in, events out; every rejected record goes to
 * `onRejected` (a dead-letter sink) with its errors and original payload before the events of that batch move
 * on.
 *
 * @example
 * ```ts
 * import { Event } from "@llm-sentinel/core"
 * import { Console, Stream } from "effect"
 * const events = Stream.make({ timestamp: 0, service: "chat", model: "m", latencyMs: 120 }, { latencyMs: -1 }).pipe(
 *   Event.decode({ onRejected: (rejected) => Console.error(`${rejected.length} rejected`) })
 * )
 * ```
 * @category combinators
 * @since 0.1.0
 */
export const decode: {
  <E2, R2>(
    options: DecodeStreamOptions<E2, R2>
  ): <E, R>(self: Stream.Stream<unknown, E, R>) => Stream.Stream<TelemetryEvent, E | E2, R | R2>
  <E, R, E2, R2>(
    self: Stream.Stream<unknown, E, R>,
    options: DecodeStreamOptions<E2, R2>
  ): Stream.Stream<TelemetryEvent, E | E2, R | R2>
} = dual(
  2,
  <E, R, E2, R2>(
    self: Stream.Stream<unknown, E, R>,
    options: DecodeStreamOptions<E2, R2>
  ): Stream.Stream<TelemetryEvent, E | E2, R | R2> =>
    self.pipe(
      Stream.mapArrayEffect((raws) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const { events, rejected } = decodeBatch(raws, {
            ...(options.timeBounds !== undefined ? { time: { now, bounds: options.timeBounds } } : {}),
            ...(options.maxErrorsPerRecord !== undefined ? { maxErrorsPerRecord: options.maxErrorsPerRecord } : {})
          })
          const emit = Effect.succeed([events] as const)
          return rejected.length === 0 ? emit : Effect.andThen(options.onRejected(rejected), emit)
        })
      ),
      Stream.filter(Arr.isArrayNonEmpty),
      Stream.flattenArray
    )
)
