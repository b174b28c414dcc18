/**
 * HTTP ingest: `POST /v1/events` with a JSON object, a JSON array of objects, or NDJSON
 * (`Content-Type: application/x-ndjson`, one event per line).
 *
 * Answers:
 * - **202** `{ accepted, rejected: [{ index, errors: [{ path, message }] }], rejectedCount }`: the valid events
 *   were queued for the pipeline, already decoded (one Schema pass per request, never decoded again); invalid
 *   records are reported and not queued, so a mixed batch still delivers its valid events. `index` is the
 *   position in the JSON array (0 for a single object) or, for NDJSON, the 0-based line number (blank lines are
 *   skipped but counted, so `index + 1` is the line number in an editor). An NDJSON line that is not JSON is a
 *   rejected record with `path: ""`. At most 1000 rejections are listed; `rejectedCount` is the total.
 * - **400** `{ _tag: "BadRequest", message, errors }`: an empty body, a JSON body that does not parse, or JSON that
 *   is neither an object nor an array.
 * - **413** `{ _tag: "PayloadTooLarge", … }` past the body limit (default 10 MiB, `--max-body`); the connection is
 *   closed.
 * - **429** `{ _tag: "TooManyRequests", … }` with `Retry-After` when the pipeline's queue is full: nothing of the
 *   request was queued, send it again later.
 *
 * The body is read chunk by chunk: NDJSON lines are parsed as they arrive (no copy of the whole body); a JSON
 * body is parsed once it is complete. Nothing is logged per request.
 *
 * @since 0.1.0
 */
import { Event, EventSource } from "@llm-sentinel/core"
import { Effect, type Layer, Schema, Stream } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import type { FieldError } from "./Api.ts"

/**
 * Options of the ingest route.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Largest accepted body in bytes (default 10 MiB). */
  readonly maxBodyBytes?: number
  /** The `Retry-After` of a 429, in seconds (default 1). */
  readonly retryAfterSeconds?: number
  /** How many rejected records a response lists at most (default 1000). */
  readonly maxReportedRejections?: number
}

/**
 * The default body limit: 10 MiB.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultMaxBodyBytes = 10 * 1024 * 1024

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
 * A body parser fed chunk by chunk.
 *
 * @category models
 * @since 0.1.0
 */
export interface BodyParser {
  readonly push: (chunk: Uint8Array) => void
  /** The parsed body, or the message of a 400. */
  readonly end: () => ParsedBody | string
}

const notJson = (e: unknown): string => `not valid JSON (${e instanceof Error ? e.message : String(e)})`

/**
 * An NDJSON parser: decodes and splits each chunk as it arrives and parses each complete line.
 *
 * @category constructors
 * @since 0.1.0
 */
export const ndjsonParser = (): BodyParser => {
  const decoder = new TextDecoder("utf-8")
  const records: Array<unknown> = []
  const texts: Array<string> = []
  const indexes: Array<number> = []
  const unparsable: Array<Rejection> = []
  let carry = ""
  let line = 0
  let bytes = 0
  const onLine = (text: string) => {
    const index = line++
    if (text.trim().length === 0) return
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
    while (nl >= 0) {
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
    },
    end: () => {
      split(carry + decoder.decode())
      if (carry.length > 0) onLine(carry)
      carry = ""
      if (bytes === 0 || (records.length === 0 && unparsable.length === 0)) return "the body is empty"
      return { records, indexes, unparsable, texts }
    }
  }
}

/**
 * A JSON parser: keeps the chunks and parses the whole body at the end (a JSON object or an array of objects).
 *
 * @category constructors
 * @since 0.1.0
 */
export const jsonParser = (): BodyParser => {
  const chunks: Array<Uint8Array> = []
  return {
    push: (chunk) => void chunks.push(chunk),
    end: () => {
      const text = Buffer.concat(chunks).toString("utf8")
      if (text.trim().length === 0) return "the body is empty"
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch (e) {
        return `the body is ${notJson(e)}; send a JSON object, a JSON array, or NDJSON with Content-Type: application/x-ndjson`
      }
      if (Array.isArray(value)) return { records: value, indexes: undefined, unparsable: [] }
      if (typeof value === "object" && value !== null) return { records: [value], indexes: undefined, unparsable: [] }
      return "expected a JSON object (one event) or a JSON array of events"
    }
  }
}

const ndjsonTypes = new Set([
  "application/x-ndjson",
  "application/ndjson",
  "application/jsonl",
  "application/x-jsonlines"
])

/**
 * The body format of a content type: `ndjson` for the NDJSON types (`application/x-ndjson`, `application/ndjson`,
 * `application/jsonl`, `application/x-jsonlines`), `json` for anything else (clients such as `curl -d` send
 * `application/x-www-form-urlencoded` by default; the body decides, and a non-JSON body is a 400).
 *
 * @category constructors
 * @since 0.1.0
 */
export const formatOf = (contentType: string | undefined): "json" | "ndjson" => {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase()
  return ndjsonTypes.has(type) ? "ndjson" : "json"
}

/**
 * Decodes parsed records in one Schema pass and reports every rejection in index order.
 *
 * @category combinators
 * @since 0.1.0
 */
export const decode = (
  parsed: ParsedBody
): {
  readonly events: ReadonlyArray<Event.TelemetryEvent>
  readonly rejected: Array<Rejection>
  /** The accepted records' JSON array text, when the body was NDJSON. */
  readonly encoded: string | undefined
} => {
  const { events, rejected } = Event.decodeBatch(parsed.records)
  const texts = parsed.texts
  let encoded: string | undefined
  if (texts !== undefined && events.length > 0) {
    if (rejected.length === 0) encoded = `[${texts.join(",")}]`
    else {
      const rejectedAt = new Set(rejected.map((r) => r.index))
      encoded = `[${texts.filter((_, i) => !rejectedAt.has(i)).join(",")}]`
    }
  }
  const decodedRejections: Array<Rejection> = rejected.map((r) => ({
    index: parsed.indexes === undefined ? r.index : parsed.indexes[r.index]!,
    errors: r.errors
  }))
  const all =
    parsed.unparsable.length === 0
      ? decodedRejections
      : [...parsed.unparsable, ...decodedRejections].sort((a, b) => a.index - b.index)
  return { events, rejected: all, encoded }
}

class TooLarge extends Schema.TaggedError<TooLarge>()("TooLarge", { limit: Schema.Number }) {}

const error = (status: number, tag: string, message: string, extra: Record<string, unknown> = {}) =>
  HttpServerResponse.jsonUnsafe({ _tag: tag, message, ...extra }, { status })

const tooLarge = (limit: number) =>
  error(413, "PayloadTooLarge", `the body is larger than ${limit} bytes (see --max-body); send smaller batches`).pipe(
    HttpServerResponse.setHeader("connection", "close")
  )

/**
 * The ingest route, offering accepted events to the `EventQueue` in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<never, never, HttpRouter.HttpRouter | EventSource.EventQueue> => {
  const limit = options.maxBodyBytes ?? defaultMaxBodyBytes
  const retryAfter = options.retryAfterSeconds ?? 1
  const maxReported = options.maxReportedRejections ?? 1000
  return HttpRouter.use(
    Effect.fn(function* (router) {
      const queue = yield* EventSource.EventQueue
      const handler = Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const format = formatOf(request.headers["content-type"])
        const declared = Number(request.headers["content-length"])
        if (Number.isFinite(declared) && declared > limit) return tooLarge(limit)
        const parser = format === "ndjson" ? ndjsonParser() : jsonParser()
        let bytes = 0
        const read = yield* request.stream.pipe(
          Stream.runForEachArray((chunks) => {
            for (const chunk of chunks) {
              bytes += chunk.length
              if (bytes > limit) return Effect.fail(new TooLarge({ limit }))
              parser.push(chunk)
            }
            return Effect.void
          }),
          Effect.map(() => undefined),
          Effect.catchTags({
            TooLarge: () => Effect.succeed(tooLarge(limit)),
            HttpServerError: (e) => Effect.succeed(error(400, "BadRequest", `cannot read the body: ${e.message}`))
          })
        )
        if (read !== undefined) return read
        const parsed = parser.end()
        if (typeof parsed === "string") {
          return error(400, "BadRequest", parsed, { errors: [{ path: "", message: parsed }] })
        }
        const { events, rejected, encoded } = decode(parsed)
        if (events.length > 0) {
          const queued = yield* queue.tryOffer({
            raw: [],
            events,
            ack: Effect.void,
            ...(encoded === undefined ? {} : { encoded })
          })
          if (!queued) {
            return error(
              429,
              "TooManyRequests",
              `the pipeline is behind; nothing was accepted, retry after ${retryAfter} s`
            ).pipe(HttpServerResponse.setHeader("retry-after", String(retryAfter)))
          }
        }
        return HttpServerResponse.jsonUnsafe(
          {
            accepted: events.length,
            rejected: rejected.length > maxReported ? rejected.slice(0, maxReported) : rejected,
            rejectedCount: rejected.length
          },
          { status: 202 }
        )
      })
      yield* router.add("POST", "/v1/events", handler)
    })
  )
}
