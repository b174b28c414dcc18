/**
 * OTLP trace export requests (OpenTelemetry's `ExportTraceServiceRequest`, protobuf or JSON) read as telemetry
 * events: one event per GenAI span, mapped by the OpenTelemetry GenAI semantic conventions.
 *
 * Protobuf is decoded with the code OpenTelemetry generates from its official proto definitions
 * (`opentelemetry-proto`, through protobufjs, as shipped in `@opentelemetry/otlp-transformer` 0.57), never by a
 * hand-written wire parser; JSON follows the OTLP/JSON encoding (hex `traceId`/`spanId`, 64-bit integers as
 * decimal strings or numbers, enums as integers, unknown fields ignored). Both become the same plain object,
 * read by one mapping:
 *
 * | event field | from the span (or its resource) |
 * |---|---|
 * | `timestamp` | `startTimeUnixNano` (epoch ms) |
 * | `latencyMs` | `endTimeUnixNano − startTimeUnixNano` |
 * | `service` | resource `service.name` (`unknown_service` when absent, as the SDKs do) |
 * | `environment` | resource `deployment.environment.name` (or the deprecated `deployment.environment`) |
 * | `model` | `gen_ai.response.model`, else `gen_ai.request.model` (a GenAI span with neither is rejected) |
 * | `provider` | `gen_ai.provider.name` (or the deprecated `gen_ai.system`) |
 * | `operation` | `gen_ai.operation.name` |
 * | `inputTokens` | `gen_ai.usage.input_tokens` (or the deprecated `gen_ai.usage.prompt_tokens`) |
 * | `outputTokens` | `gen_ai.usage.output_tokens` (or the deprecated `gen_ai.usage.completion_tokens`) |
 * | `cachedInputTokens` | `gen_ai.usage.cache_read.input_tokens` |
 * | `metrics.cache_creation_input_tokens` | `gen_ai.usage.cache_creation.input_tokens` |
 * | `reasoningTokens` | `gen_ai.usage.reasoning.output_tokens` |
 * | `finishReason` | the first of `gen_ai.response.finish_reasons` |
 * | `ttftMs` | `gen_ai.response.time_to_first_chunk` (seconds) × 1000 |
 * | `status`, `errorType` | `error`, with `error.type` (or the status message) when `error.type` is set or the span status code is 2 (ERROR); `ok` otherwise |
 * | `traceId`, `spanId` | the span's ids, as lowercase hex |
 *
 * A span is a GenAI span when it has `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.system`,
 * `gen_ai.request.model` or `gen_ai.response.model`; other spans are ignored and counted.
 *
 * @since 0.1.0
 */
import { createRequire } from "node:module"
import protobuf from "protobufjs"

interface Message {
  readonly decode: (bytes: Uint8Array) => unknown
  readonly toObject: (message: unknown, options: Record<string, unknown>) => Record<string, unknown>
  readonly encode: (message: Record<string, unknown>) => { readonly finish: () => Uint8Array }
  readonly fromObject: (object: Record<string, unknown>) => Record<string, unknown>
}
interface GeneratedRoot {
  readonly opentelemetry: {
    readonly proto: {
      readonly collector: {
        readonly trace: {
          readonly v1: { readonly ExportTraceServiceRequest: Message; readonly ExportTraceServiceResponse: Message }
        }
      }
    }
  }
}

// The generated module is CommonJS, reached by its path: the package publishes no exports map for it.
const generated = createRequire(import.meta.url)(
  "@opentelemetry/otlp-transformer/build/src/generated/root.js"
) as GeneratedRoot
const { ExportTraceServiceRequest, ExportTraceServiceResponse } = generated.opentelemetry.proto.collector.trace.v1

/**
 * A request's spans as events to decode, and what was left out.
 *
 * @category models
 * @since 0.1.0
 */
export interface Mapped {
  /** One raw telemetry record per GenAI span, to decode with `Event.decodeBatch`. */
  readonly records: Array<Record<string, unknown>>
  /** Spans that are not GenAI spans. */
  readonly ignored: number
  /** GenAI spans that cannot be events, with why (the first few reasons; `rejected` is the count). */
  readonly rejected: number
  readonly reasons: Array<string>
  readonly spans: number
}

type Plain = Record<string, unknown>

const isPlain = (v: unknown): v is Plain => typeof v === "object" && v !== null && !Array.isArray(v)
const list = (v: unknown): ReadonlyArray<unknown> => (Array.isArray(v) ? v : [])

/**
 * Decodes an `ExportTraceServiceRequest` in protobuf into the plain OTLP object (int64 as decimal strings, ids as
 * base64), or the message of a 400.
 *
 * @category constructors
 * @since 0.1.0
 */
export const decodeProtobuf = (bytes: Uint8Array): Plain | string => {
  try {
    const message = ExportTraceServiceRequest.decode(bytes)
    return ExportTraceServiceRequest.toObject(message, { longs: String, enums: Number, bytes: String, defaults: false })
  } catch (e) {
    return `not a protobuf ExportTraceServiceRequest (${e instanceof Error ? e.message : String(e)})`
  }
}

/** Reads an OTLP `AnyValue`: scalars, and arrays of scalars (nothing deeper is needed by the mapping). */
const anyValue = (v: unknown): unknown => {
  if (!isPlain(v)) return undefined
  if (typeof v.stringValue === "string") return v.stringValue
  if (typeof v.boolValue === "boolean") return v.boolValue
  if (v.intValue !== undefined) {
    const n = Number(v.intValue)
    return Number.isFinite(n) ? n : undefined
  }
  if (v.doubleValue !== undefined) {
    const n = Number(v.doubleValue)
    return Number.isFinite(n) ? n : undefined
  }
  if (isPlain(v.arrayValue)) {
    return list(v.arrayValue.values).map((x) => (isPlain(x) && !isPlain(x.arrayValue) ? anyValue(x) : undefined))
  }
  return undefined
}

const attributes = (kvs: unknown): Map<string, unknown> => {
  const out = new Map<string, unknown>()
  for (const kv of list(kvs)) if (isPlain(kv) && typeof kv.key === "string") out.set(kv.key, anyValue(kv.value))
  return out
}

const nanosToMs = (v: unknown): number | undefined => {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 ? v / 1e6 : undefined
  if (typeof v !== "string" || !/^\d{1,20}$/.test(v)) return undefined
  const ns = BigInt(v)
  return Number(ns / 1000n) / 1000
}

const hexId = (v: unknown, base64: boolean): string | undefined => {
  if (typeof v !== "string" || v.length === 0) return undefined
  return base64 ? Buffer.from(v, "base64").toString("hex") : v.toLowerCase()
}

const genAiKeys = [
  "gen_ai.operation.name",
  "gen_ai.provider.name",
  "gen_ai.system",
  "gen_ai.request.model",
  "gen_ai.response.model"
]

const str = (v: unknown): string | undefined => (typeof v === "string" && v.length > 0 ? v : undefined)
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined)

/**
 * Maps a plain OTLP request (from {@link decodeProtobuf}, or parsed OTLP/JSON) to telemetry records.
 * `idsInBase64` is true for protobuf (where ids are bytes), false for OTLP/JSON (hex).
 *
 * @category combinators
 * @since 0.1.0
 */
export const toRecords = (request: unknown, idsInBase64: boolean): Mapped => {
  const records: Array<Record<string, unknown>> = []
  const reasons: Array<string> = []
  let ignored = 0
  let rejected = 0
  let spans = 0
  const reject = (reason: string) => {
    rejected++
    if (reasons.length < 5) reasons.push(reason)
  }
  for (const rs of list(isPlain(request) ? request.resourceSpans : undefined)) {
    if (!isPlain(rs)) continue
    const resource = attributes(isPlain(rs.resource) ? rs.resource.attributes : undefined)
    const service = str(resource.get("service.name")) ?? "unknown_service"
    const environment = str(resource.get("deployment.environment.name")) ?? str(resource.get("deployment.environment"))
    for (const ss of [...list(rs.scopeSpans), ...list(rs.instrumentationLibrarySpans)]) {
      if (!isPlain(ss)) continue
      for (const span of list(ss.spans)) {
        spans++
        if (!isPlain(span)) {
          reject("a span that is not an object")
          continue
        }
        const a = attributes(span.attributes)
        if (!genAiKeys.some((k) => a.has(k))) {
          ignored++
          continue
        }
        const name = str(span.name) ?? "span"
        const model = str(a.get("gen_ai.response.model")) ?? str(a.get("gen_ai.request.model"))
        if (model === undefined) {
          reject(
            `span ${JSON.stringify(name.slice(0, 64))}: a GenAI span without gen_ai.request.model or gen_ai.response.model`
          )
          continue
        }
        const start = nanosToMs(span.startTimeUnixNano)
        const end = nanosToMs(span.endTimeUnixNano)
        if (start === undefined || end === undefined || end < start) {
          reject(
            `span ${JSON.stringify(name.slice(0, 64))}: startTimeUnixNano/endTimeUnixNano missing or end before start`
          )
          continue
        }
        const status = isPlain(span.status) ? span.status : {}
        const errorType = str(a.get("error.type"))
        const failed = errorType !== undefined || Number(status.code) === 2
        const finish = a.get("gen_ai.response.finish_reasons")
        const ttft = num(a.get("gen_ai.response.time_to_first_chunk"))
        const cacheCreation = num(a.get("gen_ai.usage.cache_creation.input_tokens"))
        const event: Record<string, unknown> = {
          timestamp: start,
          service,
          model,
          latencyMs: end - start,
          status: failed ? "error" : "ok"
        }
        const set = (key: string, value: unknown) => {
          if (value !== undefined) event[key] = value
        }
        set("environment", environment)
        set("provider", str(a.get("gen_ai.provider.name")) ?? str(a.get("gen_ai.system")))
        set("operation", str(a.get("gen_ai.operation.name")))
        set("inputTokens", num(a.get("gen_ai.usage.input_tokens")) ?? num(a.get("gen_ai.usage.prompt_tokens")))
        set("outputTokens", num(a.get("gen_ai.usage.output_tokens")) ?? num(a.get("gen_ai.usage.completion_tokens")))
        set("cachedInputTokens", num(a.get("gen_ai.usage.cache_read.input_tokens")))
        set("reasoningTokens", num(a.get("gen_ai.usage.reasoning.output_tokens")))
        set("finishReason", Array.isArray(finish) ? str(finish[0]) : str(finish))
        set("ttftMs", ttft === undefined ? undefined : ttft * 1000)
        if (failed) set("errorType", errorType ?? str(status.message) ?? "error")
        set("traceId", hexId(span.traceId, idsInBase64))
        set("spanId", hexId(span.spanId, idsInBase64))
        if (cacheCreation !== undefined) event.metrics = { cache_creation_input_tokens: cacheCreation }
        records.push(event)
      }
    }
  }
  return { records, ignored, rejected, reasons, spans }
}

/**
 * The `ExportTraceServiceResponse`: empty when everything was accepted, else `partial_success` with the number
 * of rejected spans and why; protobuf bytes or OTLP/JSON text.
 *
 * @category constructors
 * @since 0.1.0
 */
export const encodeResponse = (
  encoding: "protobuf" | "json",
  rejected: number,
  message: string
): Uint8Array | string => {
  const partial = rejected > 0 ? { partialSuccess: { rejectedSpans: rejected, errorMessage: message } } : {}
  if (encoding === "json") {
    return JSON.stringify(
      rejected > 0 ? { partialSuccess: { rejectedSpans: String(rejected), errorMessage: message } } : {}
    )
  }
  return ExportTraceServiceResponse.encode(ExportTraceServiceResponse.fromObject(partial)).finish()
}

/**
 * Encodes a request (tests and tools that send OTLP without an SDK).
 *
 * @category constructors
 * @since 0.1.0
 */
export const encodeRequest = (request: Record<string, unknown>): Uint8Array =>
  ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(request)).finish()

// google.rpc.Status, the body OTLP/HTTP servers answer failures with, built with protobufjs' reflection
const Status = new protobuf.Type("Status")
  .add(new protobuf.Field("code", 1, "int32"))
  .add(new protobuf.Field("message", 2, "string"))

/**
 * The body of a failure (`google.rpc.Status` with a gRPC code and a message): protobuf bytes or JSON text.
 *
 * @category constructors
 * @since 0.1.0
 */
export const encodeStatus = (encoding: "protobuf" | "json", code: number, message: string): Uint8Array | string =>
  encoding === "json" ? JSON.stringify({ code, message }) : Status.encode(Status.create({ code, message })).finish()
