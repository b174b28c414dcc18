/**
 * OTLP/HTTP trace ingest: `POST /v1/traces`, where an OpenTelemetry SDK's OTLP trace exporter can point
 * (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:7300/v1/traces`). GenAI spans become telemetry events
 * (the mapping is in `@llm-sentinel/adapters/Otlp`), journaled and queued like `POST /v1/events`; other spans are
 * ignored and counted. Events are redacted (`privacy`, see `Redaction.ts`) before they are journaled; the span's
 * status message, which becomes `errorType`, is redacted too.
 *
 * One route for both encodings, chosen by `Content-Type`: `application/x-protobuf` (or `application/protobuf`)
 * and `application/json`; `Content-Encoding: gzip` is accepted. The answer uses the request's encoding:
 * - **200** with an `ExportTraceServiceResponse`: empty when every GenAI span became an event, else
 *   `partial_success` with `rejected_spans` and the first reasons;
 * - **400** (`google.rpc.Status`) for a body that does not decode, **413** past the body limit (also after gzip) or
 *   the span limit, **415** for another content type;
 * - **429** or **503** with `Retry-After` under backpressure (events in flight, a full queue, a journal out of
 *   disk budget): what OTLP exporters retry on. Nothing of such a request was accepted.
 *
 * @since 0.1.0
 */
import { gunzipSync } from "node:zlib"
import * as Otlp from "@llm-sentinel/adapters/Otlp"
import { Event, EventSource } from "@llm-sentinel/core"
import { Clock, Effect, type Layer, Metric } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Admission from "./Admission.ts"
import * as Ingest from "./Ingest.ts"
import * as Redaction from "./Redaction.ts"

type Encoding = "protobuf" | "json"

const encodingOf = (contentType: string | undefined): Encoding | undefined => {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase()
  return type === "application/x-protobuf" || type === "application/protobuf"
    ? "protobuf"
    : type === "application/json"
      ? "json"
      : undefined
}

const contentTypes: Record<Encoding, string> = { protobuf: "application/x-protobuf", json: "application/json" }

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

/**
 * The OTLP ingest counters, for `/metrics`.
 *
 * @category models
 * @since 0.1.0
 */
export const metrics = {
  spans: counter("sentinel_otlp_spans_received_total", "spans received on /v1/traces"),
  ignored: counter("sentinel_otlp_spans_ignored_total", "spans that are not GenAI spans"),
  rejected: counter("sentinel_otlp_spans_rejected_total", "GenAI spans that could not become events")
}

/**
 * The OTLP trace route, offering events to the `EventQueue` in context within the `Admission` in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: Ingest.Options = {}
): Layer.Layer<never, never, HttpRouter.HttpRouter | EventSource.EventQueue | Admission.Admission> => {
  const limit = options.maxBodyBytes ?? Ingest.defaultMaxBodyBytes
  const maxSpans = options.maxRecordsPerRequest ?? Ingest.defaultMaxRecordsPerRequest
  const retryAfter = String(options.retryAfterSeconds ?? 1)
  const bounds = options.timeBounds ?? Event.defaultTimeBounds
  const maxErrorsPerRecord = options.maxErrorsPerRecord ?? Event.defaultMaxErrorsPerRecord
  const redactor = options.redactor ?? Redaction.make()
  const respond = (encoding: Encoding, status: number, body: Uint8Array | string) =>
    typeof body === "string"
      ? HttpServerResponse.text(body, { status, contentType: contentTypes[encoding] })
      : HttpServerResponse.uint8Array(body, { status, contentType: contentTypes[encoding] })
  // gRPC codes in the Status body: 3 INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE
  const failure = (encoding: Encoding, status: number, code: number, message: string) =>
    respond(encoding, status, Otlp.encodeStatus(encoding, code, message))
  const retryable = (encoding: Encoding, status: 429 | 503, message: string) =>
    failure(encoding, status, status === 429 ? 8 : 14, `${message}; nothing was accepted, retry`).pipe(
      HttpServerResponse.setHeader("retry-after", retryAfter)
    )
  return HttpRouter.use(
    Effect.fn(function* (router) {
      const queue = yield* EventSource.EventQueue
      const admission = yield* Admission.Admission
      const handler = Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const contentType = request.headers["content-type"]
        const encoding = encodingOf(contentType)
        if (encoding === undefined) {
          return failure(
            "json",
            415,
            3,
            `expected Content-Type application/x-protobuf or application/json (OTLP/HTTP), got ${
              contentType === undefined ? "none" : JSON.stringify(contentType.slice(0, 100))
            }`
          )
        }
        if (admission.inFlight().events >= admission.limits.maxEvents) {
          return retryable(encoding, 429, "the pipeline is behind (too many events in flight)")
        }
        const chunks: Array<Uint8Array> = []
        return yield* Ingest.withBody(
          request,
          admission,
          limit,
          (chunk) => {
            chunks.push(chunk)
            return true
          },
          (read) =>
            Effect.gen(function* () {
              if (read === "tooLarge") return failure(encoding, 413, 8, `the body is larger than ${limit} bytes`)
              if (read === "busy") return retryable(encoding, 429, "too many request bytes are being read")
              if (typeof read === "object") return failure(encoding, 400, 3, `cannot read the body: ${read.unreadable}`)
              let body: Buffer = Buffer.concat(chunks)
              if ((request.headers["content-encoding"] ?? "").toLowerCase() === "gzip") {
                try {
                  body = gunzipSync(body, { maxOutputLength: limit })
                } catch (e) {
                  return (e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE"
                    ? failure(encoding, 413, 8, `the body is larger than ${limit} bytes once decompressed`)
                    : failure(encoding, 400, 3, `the body is not valid gzip (${String(e)})`)
                }
              }
              let plain: unknown
              if (encoding === "protobuf") plain = Otlp.decodeProtobuf(body)
              else {
                try {
                  plain = JSON.parse(body.toString("utf8"))
                } catch (e) {
                  plain = `not valid OTLP/JSON (${e instanceof Error ? e.message : String(e)})`
                }
              }
              if (typeof plain === "string") return failure(encoding, 400, 3, plain)
              const mapped = Otlp.toRecords(plain, encoding === "protobuf")
              if (mapped.spans > maxSpans) {
                return failure(
                  encoding,
                  413,
                  8,
                  `the request holds ${mapped.spans} spans, more than the limit of ${maxSpans}`
                )
              }
              const now = yield* Clock.currentTimeMillis
              const result = yield* Ingest.accept(
                queue,
                admission,
                { records: mapped.records, indexes: undefined, unparsable: [] },
                { time: { now, bounds }, maxErrorsPerRecord },
                redactor
              )
              if (result._tag === "Behind") return retryable(encoding, 429, result.message)
              const rejected = mapped.rejected + result.rejected.length
              const reasons = [
                ...mapped.reasons,
                ...result.rejected.slice(0, 3).map((r) => r.errors.map((e) => `${e.path}: ${e.message}`).join("; "))
              ]
              yield* Effect.all(
                [
                  Metric.update(metrics.spans, mapped.spans),
                  Metric.update(metrics.ignored, mapped.ignored),
                  Metric.update(metrics.rejected, rejected)
                ],
                { discard: true }
              )
              return respond(
                encoding,
                200,
                Otlp.encodeResponse(encoding, rejected, reasons.slice(0, 5).join(" | ").slice(0, 2000))
              )
            })
        ).pipe(
          Effect.catchTag("SourceError", (e) => Effect.succeed(retryable(encoding, 503, e.message))),
          Effect.tap(() => Admission.report(admission))
        )
      })
      yield* router.add("POST", "/v1/traces", handler)
    })
  )
}
