/**
 * HTTP ingest: `POST /v1/events` with a JSON object, a JSON array of objects (`Content-Type: application/json`),
 * or NDJSON (`application/x-ndjson`, also `application/ndjson`, `application/jsonl`, `application/x-jsonlines`;
 * one event per line, `\n` or `\r\n` line endings).
 *
 * Answers:
 * - **202** `{ accepted, rejected: [{ index, errors: [{ path, message }] }], rejectedCount }`: the valid events
 *   were journaled and queued for the pipeline, already decoded; invalid records are reported and not queued, so
 *   a mixed batch still delivers its valid events. `index` is the position in the JSON array (0 for a single
 *   object) or, for NDJSON, the 0-based line number (blank lines are skipped but counted). An NDJSON line that is
 *   not JSON is a rejected record with `path: ""`. Each rejection lists at most `maxErrorsPerRecord` errors, a
 *   response at most `maxReportedRejections` rejections and `maxReportedErrors` errors in all; `rejectedCount`
 *   is always the total. Event times outside the plausible bounds (`timeBounds`, by default 2000-01-01 to 5
 *   minutes ahead of the server clock) are rejections on `timestamp`.
 * Every failure is an RFC 9457 problem document (`Problem.ts`, `application/problem+json`) with `code`:
 * - **400** `validation`, with `errors` (`[{ path, message }]`): an empty body, a JSON body that does not parse,
 *   or JSON that is neither an object nor an array.
 * - **413** `payload-too-large` past the body limit (`maxBodyBytes`, default 10 MiB) or the record limit
 *   (`maxRecordsPerRequest`, default 10,000; `detail` names the limit): nothing was accepted; the connection is
 *   closed.
 * - **415** `unsupported-media-type` for any other content type (a web page can send `text/plain` or a form
 *   without asking; it cannot send these types cross-origin without a CORS preflight).
 * - **429** `too-many-requests` with `Retry-After` when the events or body bytes in flight (see `Admission`) or
 *   the pipeline's queue are at their limit, and stayed there for `admissionWaitMs` (default 500 ms): nothing of
 *   the request was accepted, send it again.
 * - **507** `insufficient-storage` with `Retry-After` when the journal's disk budget is used up.
 *
 * The body is read chunk by chunk: NDJSON lines and the elements of a JSON array are split and parsed as they
 * arrive (no copy of the whole body), so the record limit stops reading early. Records are decoded in slices,
 * yielding between them, so one large request never holds the event loop for long. Nothing is logged per request.
 *
 * @since 0.1.0
 */
import { Event, EventSource, type SourceError } from "@llm-sentinel/core"
import { Clock, Effect, type Layer, Schema, Stream } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Admission from "./Admission.ts"
import type { FieldError } from "./Api.ts"
import * as Problem from "./Problem.ts"
import * as Redaction from "./Redaction.ts"

/**
 * Options of the ingest route.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Largest accepted body in bytes (default 10 MiB). */
  readonly maxBodyBytes?: number
  /** Most records (events, valid or not) in one request (default 10,000). */
  readonly maxRecordsPerRequest?: number
  /** The `Retry-After` of a 429 or 507, in seconds (default 1). */
  readonly retryAfterSeconds?: number
  /** How many rejected records a response lists at most (default 1000). */
  readonly maxReportedRejections?: number
  /** How many errors a response lists at most, over all its rejections (default 5000). */
  readonly maxReportedErrors?: number
  /** How many errors one rejected record lists at most (default 20). */
  readonly maxErrorsPerRecord?: number
  /** Plausible event times (default `Event.defaultTimeBounds`). */
  readonly timeBounds?: Event.TimeBounds
  /** Redacts decoded events before they are queued (default `Redaction.make()`: text dropped, built-in patterns). */
  readonly redactor?: Redaction.Redactor
  /**
   * How long a request waits for room when the events in flight or the pipeline's queue are at their limit,
   * before it is answered 429 (default 500 ms). A short backlog then costs latency instead of a 429 that makes
   * the client sleep for its `Retry-After` while the server idles.
   */
  readonly admissionWaitMs?: number
}

/**
 * The default body limit: 10 MiB.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultMaxBodyBytes = 10 * 1024 * 1024

/**
 * The default record limit per request: 10,000.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultMaxRecordsPerRequest = 10_000

/**
 * The default wait for room before a 429: 500 ms.
 *
 * @category constructors
 * @since 0.2.0
 */
export const defaultAdmissionWaitMs = 500

/**
 * A record that was not accepted, as reported to the client.
 *
 * @category models
 * @since 0.1.0
 */
export interface Rejection {
  readonly index: number
  readonly errors: ReadonlyArray<FieldError>
}

/**
 * What a body parses into: the records to decode with their indexes, and the records that are not JSON.
 *
 * @category models
 * @since 0.1.0
 */
export interface ParsedBody {
  readonly records: Array<unknown>
  /** `indexes[i]` is the index reported for `records[i]` (its line, for NDJSON). */
  readonly indexes: Array<number> | undefined
  readonly unparsable: Array<Rejection>
  /** NDJSON only: `texts[i]` is the line `records[i]` was parsed from (journaled as it is, not serialized again). */
  readonly texts?: Array<string>
}

/**
 * A body parser fed chunk by chunk. `push` returns `false` once the body holds more than its record limit
 * (stop reading: the request is answered 413).
 *
 * @category models
 * @since 0.1.0
 */
export interface BodyParser {
  readonly push: (chunk: Uint8Array) => boolean
  /** The parsed body, or the message of a 400. */
  readonly end: () => ParsedBody | string
  /** Whether the body held more records than the limit (after `end`, the last line counted too). */
  readonly overLimit: () => boolean
}

const notJson = (e: unknown): string => `not valid JSON (${e instanceof Error ? e.message : String(e)})`

/**
 * An NDJSON parser: decodes and splits each chunk as it arrives and parses each complete line. A `\r` before
 * the `\n` is dropped, so CRLF bodies read (and are journaled) as LF bodies.
 *
 * @category constructors
 * @since 0.1.0
 */
export const ndjsonParser = (maxRecords = Number.POSITIVE_INFINITY): BodyParser => {
  const decoder = new TextDecoder("utf-8")
  const records: Array<unknown> = []
  const texts: Array<string> = []
  const indexes: Array<number> = []
  const unparsable: Array<Rejection> = []
  let carry = ""
  let line = 0
  let bytes = 0
  let count = 0
  const onLine = (raw: string) => {
    const index = line++
    const text = raw.charCodeAt(raw.length - 1) === 13 ? raw.slice(0, -1) : raw
    if (text.trim().length === 0) return
    count++
    if (count > maxRecords) return
    try {
      records.push(JSON.parse(text))
      texts.push(text)
      indexes.push(index)
    } catch (e) {
      unparsable.push({ index, errors: [{ path: "", message: `line ${index + 1} is ${notJson(e)}` }] })
    }
  }
  const split = (text: string) => {
    let start = 0
    let nl = text.indexOf("\n")
    while (nl >= 0 && count <= maxRecords) {
      onLine(text.slice(start, nl))
      start = nl + 1
      nl = text.indexOf("\n", start)
    }
    carry = text.slice(start)
  }
  return {
    push: (chunk) => {
      bytes += chunk.length
      split(carry + decoder.decode(chunk, { stream: true }))
      return count <= maxRecords
    },
    end: () => {
      split(carry + decoder.decode())
      if (carry.length > 0) onLine(carry)
      carry = ""
      if (bytes === 0 || (records.length === 0 && unparsable.length === 0)) return "the body is empty"
      return { records, indexes, unparsable, texts }
    },
    overLimit: () => count > maxRecords
  }
}

const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9

/**
 * A JSON parser for one object or an array of objects. It scans the text as it arrives (strings, nesting, the
 * top-level separators) and parses each element of a top-level array on its own, so no copy of the whole body is
 * made, an over-long array stops the reading at its record limit, and the scan itself never recurses.
 *
 * @category constructors
 * @since 0.1.0
 */
export const jsonParser = (maxRecords = Number.POSITIVE_INFINITY): BodyParser => {
  const decoder = new TextDecoder("utf-8")
  const records: Array<unknown> = []
  let top: "none" | "array" | "object" | "scalar" = "none"
  let done = false
  let failed: string | undefined
  let depth = 0
  let inString = false
  let escaped = false
  let pending = ""
  let count = 0
  let separators = 0

  const emit = (text: string, last: boolean) => {
    if (text.trim().length === 0) {
      // `[]` is an empty batch; `[1,]` or `[,1]` is not JSON
      if (!(last && separators === 0)) failed ??= notJson(new Error("an array element is missing"))
      return
    }
    if (++count > maxRecords) return
    try {
      records.push(JSON.parse(text))
    } catch (e) {
      failed ??= notJson(e)
    }
  }

  const scan = (t: string) => {
    if (top === "scalar") {
      pending += t
      return
    }
    let start = 0
    for (let i = 0; i < t.length && failed === undefined && count <= maxRecords; i++) {
      const c = t.charCodeAt(i)
      if (inString) {
        if (escaped) escaped = false
        else if (c === 92) escaped = true
        else if (c === 34) inString = false
        continue
      }
      if (depth === 0) {
        if (isSpace(c)) continue
        if (done) {
          failed = notJson(new Error("unexpected data after the JSON value"))
          return
        }
        if (c !== 91 && c !== 123) {
          // not an object or an array: keep the text, to tell a JSON scalar from text that is not JSON at the end
          top = "scalar"
          pending += t.slice(i)
          return
        }
        top = c === 91 ? "array" : "object"
        depth = 1
        pending = ""
        start = c === 91 ? i + 1 : i
        continue
      }
      if (c === 34) inString = true
      else if (c === 91 || c === 123) depth++
      else if (c === 93 || c === 125) {
        depth--
        if (depth === 0) {
          if ((top === "array") !== (c === 93)) {
            failed = notJson(new Error("mismatched brackets"))
            return
          }
          emit(pending + t.slice(start, top === "array" ? i : i + 1), true)
          pending = ""
          done = true
        }
      } else if (c === 44 && depth === 1 && top === "array") {
        separators++
        emit(pending + t.slice(start, i), false)
        pending = ""
        start = i + 1
      }
    }
    if (depth > 0) pending += t.slice(start)
  }

  return {
    push: (chunk) => {
      if (failed === undefined) scan(decoder.decode(chunk, { stream: true }))
      return count <= maxRecords
    },
    end: () => {
      if (failed === undefined) scan(decoder.decode())
      if (failed !== undefined) {
        return failed.startsWith("expected")
          ? failed
          : `the body is ${failed}; send a JSON object, a JSON array, or NDJSON with Content-Type: application/x-ndjson`
      }
      if (top === "none") return "the body is empty"
      if (top === "scalar") {
        try {
          JSON.parse(pending)
        } catch (e) {
          return `the body is ${notJson(e)}; send a JSON object, a JSON array, or NDJSON with Content-Type: application/x-ndjson`
        }
        return "expected a JSON object (one event) or a JSON array of events"
      }
      if (!done) {
        return `the body is ${notJson(new Error("unexpected end of the body"))}; send a JSON object, a JSON array, or NDJSON with Content-Type: application/x-ndjson`
      }
      return { records, indexes: undefined, unparsable: [] }
    },
    overLimit: () => count > maxRecords
  }
}

const ndjsonTypes = new Set([
  "application/x-ndjson",
  "application/ndjson",
  "application/jsonl",
  "application/x-jsonlines"
])

/**
 * The body format of a content type: `json` for `application/json`, `ndjson` for the NDJSON types
 * (`application/x-ndjson`, `application/ndjson`, `application/jsonl`, `application/x-jsonlines`), `undefined`
 * for anything else (answered 415: `text/plain` and form types are what a web page may post to a local server
 * without a CORS preflight).
 *
 * @category constructors
 * @since 0.1.0
 */
export const formatOf = (contentType: string | undefined): "json" | "ndjson" | undefined => {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase()
  return type === "application/json" ? "json" : ndjsonTypes.has(type) ? "ndjson" : undefined
}

/**
 * What decoding a request gives: the events, every rejection in index order, and the accepted records' JSON
 * array text when the body was NDJSON.
 *
 * @category models
 * @since 0.1.0
 */
export interface DecodedBody {
  readonly events: ReadonlyArray<Event.TelemetryEvent>
  readonly rejected: Array<Rejection>
  readonly encoded: string | undefined
}

const slice = 1024

/**
 * Decodes parsed records, `slice` records at a time with a yield in between, and reports every rejection in
 * index order.
 *
 * @category combinators
 * @since 0.1.0
 */
export const decode = (parsed: ParsedBody, options: Event.DecodeOptions = {}): Effect.Effect<DecodedBody> =>
  Effect.gen(function* () {
    const events: Array<Event.TelemetryEvent> = []
    const rejectedAt: Array<Event.Rejected> = []
    for (let from = 0; from < parsed.records.length; from += slice) {
      if (from > 0) yield* Effect.yieldNow
      const part = Event.decodeBatch(parsed.records.slice(from, from + slice), options)
      for (const e of part.events) events.push(e)
      for (const r of part.rejected) rejectedAt.push({ ...r, index: r.index + from })
    }
    const texts = parsed.texts
    let encoded: string | undefined
    if (texts !== undefined && events.length > 0) {
      if (rejectedAt.length === 0) encoded = `[${texts.join(",")}]`
      else {
        const skip = new Set(rejectedAt.map((r) => r.index))
        encoded = `[${texts.filter((_, i) => !skip.has(i)).join(",")}]`
      }
    }
    const decodedRejections: Array<Rejection> = rejectedAt.map((r) => ({
      index: parsed.indexes === undefined ? r.index : parsed.indexes[r.index]!,
      errors: r.errors
    }))
    const rejected =
      parsed.unparsable.length === 0
        ? decodedRejections
        : [...parsed.unparsable, ...decodedRejections].sort((a, b) => a.index - b.index)
    return { events, rejected, encoded }
  })

/**
 * The rejections a response lists: at most `maxRejections`, and at most `maxErrors` errors over all of them.
 *
 * @category combinators
 * @since 0.1.0
 */
export const reported = (
  rejected: ReadonlyArray<Rejection>,
  maxRejections: number,
  maxErrors: number
): Array<Rejection> => {
  const out: Array<Rejection> = []
  let errors = 0
  for (const r of rejected) {
    if (out.length >= maxRejections || errors + r.errors.length > maxErrors) break
    errors += r.errors.length
    out.push(r)
  }
  return out
}

/**
 * What {@link accept} did: queued the valid events (and reports the rest), or refused everything because the
 * pipeline is behind.
 *
 * @category models
 * @since 0.1.0
 */
export type Accepted =
  | { readonly _tag: "Accepted"; readonly events: number; readonly rejected: Array<Rejection> }
  | { readonly _tag: "Behind"; readonly message: string }

/**
 * Decodes parsed records and queues the valid events, within the admission limits: every record counts as an
 * event in flight until decoding says how many are events, and the events stay counted until the pipeline has
 * processed them (their batch's `ack`). The events are redacted by `redactor` before they are queued (and the
 * request's own text is then not journaled when redaction changed an event). When the events in flight or the
 * queue are at their limit, it waits up to `waitMs` for the pipeline to acknowledge something before giving up
 * (`Behind`). Fails with the queue's `SourceError` when the batch cannot be kept (a
 * journal out of disk budget): nothing was queued.
 *
 * @category combinators
 * @since 0.1.0
 */
export const accept = (
  queue: EventSource.EventQueue["Service"],
  admission: Admission.Admission["Service"],
  parsed: ParsedBody,
  options: Event.DecodeOptions,
  redactor?: Redaction.Redactor,
  waitMs = 0
): Effect.Effect<Accepted, SourceError.SourceError> =>
  Effect.gen(function* () {
    const records = parsed.records.length
    const deadline = waitMs > 0 ? (yield* Clock.currentTimeMillis) + waitMs : 0
    // waits for the pipeline to acknowledge something while there is time left; false once the time is up
    const waited = Effect.gen(function* () {
      if (waitMs <= 0) return false
      const left = deadline - (yield* Clock.currentTimeMillis)
      if (left <= 0) return false
      return yield* admission.awaitRelease(left)
    })
    while (!admission.tryAcquire(records, 0)) {
      if (!(yield* waited)) {
        return { _tag: "Behind", message: "the pipeline is behind (too many events in flight)" } as const
      }
    }
    const decoded = yield* decode(parsed, options)
    const redacted = redactor === undefined ? undefined : redactor.events(decoded.events)
    const events = redacted?.events ?? decoded.events
    const rejected = decoded.rejected
    // the request's own text holds what redaction removed: then the redacted events are journaled instead
    const encoded = redacted?.changed === true ? undefined : decoded.encoded
    admission.release(records - events.length, 0)
    if (events.length > 0) {
      const release = Effect.sync(() => admission.release(events.length, 0))
      const batch = { raw: [], events, ack: release, ...(encoded === undefined ? {} : { encoded }) }
      while (!(yield* queue.tryOffer(batch).pipe(Effect.tapError(() => release)))) {
        if (!(yield* waited)) {
          admission.release(events.length, 0)
          return { _tag: "Behind", message: "the pipeline is behind (its queue is full)" } as const
        }
      }
    }
    return { _tag: "Accepted", events: events.length, rejected } as const
  }).pipe(
    Effect.withSpan("sentinel.ingest", { attributes: { records: parsed.records.length } }, { captureStackTrace: false })
  )

/**
 * Reads a request body chunk by chunk within the body limit and the admission's bytes in flight, handing each
 * chunk to `onChunk` (which returns `false` to stop: too many records) and yielding between chunks, so many
 * uploads at once share the event loop. `run` gets the outcome; the bytes stay counted until it is done.
 *
 * @category combinators
 * @since 0.1.0
 */
export const withBody = <A, E, R>(
  request: HttpServerRequest.HttpServerRequest,
  admission: Admission.Admission["Service"],
  limit: number,
  onChunk: (chunk: Uint8Array) => boolean,
  run: (read: "ok" | "tooLarge" | "tooMany" | "busy" | { readonly unreadable: string }) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  const declared = Number(request.headers["content-length"])
  const known = request.headers["content-length"] !== undefined && Number.isFinite(declared)
  if (known && declared > limit) return run("tooLarge")
  let held = 0
  if (known && declared > 0) {
    if (!admission.tryAcquire(0, declared)) return run("busy")
    held = declared
  }
  let bytes = 0
  return request.stream.pipe(
    Stream.runForEachArray((chunks): Effect.Effect<void, TooLarge | Busy> => {
      for (const chunk of chunks) {
        bytes += chunk.length
        if (bytes > limit) return Effect.fail(new TooLarge({ message: "" }))
        if (bytes > held) {
          if (!admission.tryAcquire(0, bytes - held)) return Effect.fail(new Busy())
          held = bytes
        }
        if (!onChunk(chunk)) return Effect.fail(new TooLarge({ message: "records" }))
      }
      // let the other requests (and /healthz) have a turn between chunks: under load many uploads are
      // readable at once, and parsing all of them in one turn of the event loop would hold it for long
      return Effect.yieldNow
    }),
    Effect.map(() => "ok" as const),
    Effect.catchTags({
      TooLarge: (e) => Effect.succeed(e.message === "records" ? ("tooMany" as const) : ("tooLarge" as const)),
      Busy: () => Effect.succeed("busy" as const),
      HttpServerError: (e) => Effect.succeed({ unreadable: e.message })
    }),
    Effect.flatMap(run),
    Effect.ensuring(Effect.sync(() => admission.release(0, held)))
  )
}

class TooLarge extends Schema.TaggedError<TooLarge>("@llm-sentinel/server/Ingest/TooLarge")("TooLarge", {
  message: Schema.String
}) {}
class Busy extends Schema.TaggedError<Busy>("@llm-sentinel/server/Ingest/Busy")("Busy", {}) {}

const codeOf = {
  BadRequest: "validation",
  PayloadTooLarge: "payload-too-large",
  UnsupportedMediaType: "unsupported-media-type",
  TooManyRequests: "too-many-requests",
  InsufficientStorage: "insufficient-storage"
} as const satisfies Record<string, Problem.Code>

const error = (
  status: number,
  tag: keyof typeof codeOf,
  message: string,
  extra: { readonly errors?: ReadonlyArray<FieldError> } = {}
) => Problem.response(Problem.make({ status, code: codeOf[tag], detail: message, ...extra }))

const tooLarge = (message: string) =>
  error(413, "PayloadTooLarge", message).pipe(HttpServerResponse.setHeader("connection", "close"))

const unsupported = (contentType: string | undefined) =>
  error(
    415,
    "UnsupportedMediaType",
    `expected Content-Type application/json (an event or an array of events) or application/x-ndjson (one event per line), got ${
      contentType === undefined ? "none" : JSON.stringify(contentType.slice(0, 100))
    }`
  )

/**
 * The ingest route, offering accepted events to the `EventQueue` in context, within the limits of the
 * `Admission` in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<never, never, HttpRouter.HttpRouter | EventSource.EventQueue | Admission.Admission> => {
  const limit = options.maxBodyBytes ?? defaultMaxBodyBytes
  const maxRecords = options.maxRecordsPerRequest ?? defaultMaxRecordsPerRequest
  const retryAfter = String(options.retryAfterSeconds ?? 1)
  const maxReported = options.maxReportedRejections ?? 1000
  const maxErrors = options.maxReportedErrors ?? 5000
  const maxErrorsPerRecord = options.maxErrorsPerRecord ?? Event.defaultMaxErrorsPerRecord
  const bounds = options.timeBounds ?? Event.defaultTimeBounds
  const redactor = options.redactor ?? Redaction.make()
  const waitMs = options.admissionWaitMs ?? defaultAdmissionWaitMs
  const bodyTooLarge = `the body is larger than ${limit} bytes (the body limit, --max-body); send smaller batches`
  const tooManyRecords = `the body holds more than ${maxRecords} records (the record limit, --max-records); send smaller batches`
  const busy = (what: string) =>
    error(429, "TooManyRequests", `${what}; nothing was accepted, retry after ${retryAfter} s`).pipe(
      HttpServerResponse.setHeader("retry-after", retryAfter)
    )
  return HttpRouter.use(
    Effect.fn(function* (router) {
      const queue = yield* EventSource.EventQueue
      const admission = yield* Admission.Admission
      const handler = Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const contentType = request.headers["content-type"]
        const format = formatOf(contentType)
        if (format === undefined) return unsupported(contentType)
        // full already: wait for room before reading (the body waits in the socket), and answer 429 before
        // reading if none came (parsing bodies that would be refused is what overload costs most)
        if (admission.inFlight().events >= admission.limits.maxEvents) {
          const deadline = (yield* Clock.currentTimeMillis) + waitMs
          let left = waitMs
          while (left > 0 && admission.inFlight().events >= admission.limits.maxEvents) {
            if (!(yield* admission.awaitRelease(left))) break
            left = deadline - (yield* Clock.currentTimeMillis)
          }
          if (admission.inFlight().events >= admission.limits.maxEvents) {
            return busy("the pipeline is behind (too many events in flight)")
          }
        }
        const parser = format === "ndjson" ? ndjsonParser(maxRecords) : jsonParser(maxRecords)
        return yield* withBody(request, admission, limit, parser.push, (read) =>
          Effect.gen(function* () {
            if (read === "tooLarge") return tooLarge(bodyTooLarge)
            if (read === "tooMany") return tooLarge(tooManyRecords)
            if (read === "busy") {
              return busy("too many request bytes are being read").pipe(
                HttpServerResponse.setHeader("connection", "close")
              )
            }
            if (typeof read === "object") return error(400, "BadRequest", `cannot read the body: ${read.unreadable}`)
            const parsed = parser.end()
            if (parser.overLimit()) return tooLarge(tooManyRecords)
            if (typeof parsed === "string") {
              return error(400, "BadRequest", parsed, { errors: [{ path: "", message: parsed }] })
            }
            const now = yield* Clock.currentTimeMillis
            const result = yield* accept(
              queue,
              admission,
              parsed,
              { time: { now, bounds }, maxErrorsPerRecord },
              redactor,
              waitMs
            )
            if (result._tag === "Behind") return busy(result.message)
            return HttpServerResponse.jsonUnsafe(
              {
                accepted: result.events,
                rejected: reported(result.rejected, maxReported, maxErrors),
                rejectedCount: result.rejected.length
              },
              { status: 202 }
            )
          })
        ).pipe(
          Effect.catchTag("SourceError", (e) =>
            Effect.succeed(
              error(507, "InsufficientStorage", `${e.message}; nothing was accepted, retry after ${retryAfter} s`).pipe(
                HttpServerResponse.setHeader("retry-after", retryAfter)
              )
            )
          ),
          Effect.tap(() => Admission.report(admission))
        )
      })
      yield* router.add("POST", "/v1/events", handler)
    })
  )
}
