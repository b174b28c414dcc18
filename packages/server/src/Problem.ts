/**
 * RFC 9457 problem documents: the body of every error the server answers (`application/problem+json`). Each has
 * a `type` URI (`https://llm-sentinel.dev/problems/<code>`), a `title` (the same for every problem of a code),
 * the `status`, a `detail` for this occurrence and, for validation errors, `errors`: every failing field or
 * parameter with what was expected. The short `code` is also sent as an extension member for clients that
 * switch on it.
 *
 * @example
 * ```ts
 * import { Problem } from "@llm-sentinel/server"
 * const response = Problem.response(
 *   Problem.make({ status: 400, detail: "invalid query parameters", errors: [{ path: "limit", message: "expected an integer" }] })
 * )
 * ```
 * @since 0.1.0
 */

import { Schema } from "effect"
import { HttpServerResponse } from "effect/http"

/**
 * The media type of problem documents.
 *
 * @category models
 * @since 0.1.0
 */
export const contentType = "application/problem+json"

/**
 * The base of every problem `type` URI.
 *
 * @category models
 * @since 0.1.0
 */
export const typeBase = "https://llm-sentinel.dev/problems/"

/**
 * Every problem code, with its status and title.
 *
 * @category models
 * @since 0.1.0
 */
export const codes = {
  validation: { status: 400, title: "Invalid request" },
  unauthorized: { status: 401, title: "Authentication required" },
  forbidden: { status: 403, title: "Forbidden" },
  "not-found": { status: 404, title: "Not found" },
  "method-not-allowed": { status: 405, title: "Method not allowed" },
  "payload-too-large": { status: 413, title: "Payload too large" },
  "unsupported-media-type": { status: 415, title: "Unsupported media type" },
  "too-many-requests": { status: 429, title: "Too many requests" },
  internal: { status: 500, title: "Internal server error" },
  unavailable: { status: 503, title: "Service unavailable" },
  "not-ready": { status: 503, title: "Not ready" },
  "insufficient-storage": { status: 507, title: "Insufficient storage" }
} as const satisfies Record<string, { readonly status: number; readonly title: string }>

/**
 * A problem code.
 *
 * @category models
 * @since 0.1.0
 */
export type Code = keyof typeof codes

/**
 * One failing field or parameter: `path` names it (`limit`, `id`, `0.latencyMs`), `message` says what was
 * expected.
 *
 * @category models
 * @since 0.1.0
 */
export const FieldError = Schema.Struct({
  path: Schema.String.annotate({ description: "The parameter or field, e.g. `limit` or `0.latencyMs`" }),
  message: Schema.String.annotate({ description: "What was expected, and what was received" })
}).annotate({ identifier: "FieldError" })

/**
 * @category models
 * @since 0.1.0
 */
export type FieldError = typeof FieldError.Type

/**
 * The problem document, as a Schema (for the OpenAPI document and for clients).
 *
 * @category models
 * @since 0.1.0
 */
export const ProblemDocument = Schema.StructWithRest(
  Schema.Struct({
    type: Schema.String.annotate({ description: "`https://llm-sentinel.dev/problems/<code>`" }),
    title: Schema.String,
    status: Schema.Int,
    detail: Schema.String,
    code: Schema.String,
    instance: Schema.optionalKey(Schema.String),
    errors: Schema.optionalKey(Schema.Array(FieldError))
  }),
  [Schema.Record(Schema.String, Schema.Unknown)]
).annotate({ identifier: "Problem", description: "An RFC 9457 problem document" })

/**
 * A problem document.
 *
 * @category models
 * @since 0.1.0
 */
export interface Problem {
  readonly type: string
  readonly title: string
  readonly status: number
  readonly detail: string
  readonly code: string
  readonly instance?: string
  readonly errors?: ReadonlyArray<FieldError>
  readonly [extension: string]: unknown
}

const codeOfStatus = (status: number): Code => {
  for (const [code, c] of Object.entries(codes)) if (c.status === status) return code as Code
  return status >= 500 ? "internal" : "validation"
}

/**
 * Makes a problem document. The code defaults to the first code of the status; `extensions` are extra members
 * (e.g. `checks` of a readiness failure).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: {
  readonly status: number
  readonly detail: string
  readonly code?: Code
  readonly title?: string
  readonly instance?: string
  readonly errors?: ReadonlyArray<FieldError>
  readonly extensions?: Readonly<Record<string, unknown>>
}): Problem => {
  const code = options.code ?? codeOfStatus(options.status)
  return {
    ...options.extensions,
    type: typeBase + code,
    title: options.title ?? (codes[code].status === options.status ? codes[code].title : `HTTP ${options.status}`),
    status: options.status,
    detail: options.detail,
    code,
    ...(options.instance === undefined ? {} : { instance: options.instance }),
    ...(options.errors === undefined ? {} : { errors: options.errors })
  }
}

/**
 * The response carrying a problem document, with its status and `Content-Type: application/problem+json`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const response = (
  problem: Problem,
  headers?: Readonly<Record<string, string>>
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(problem, {
    status: problem.status,
    contentType,
    ...(headers === undefined ? {} : { headers })
  })

/**
 * A 400 naming every failing field or parameter.
 *
 * @category constructors
 * @since 0.1.0
 */
export const validation = (detail: string, errors: ReadonlyArray<FieldError>): Problem =>
  make({ status: 400, code: "validation", detail, errors })

/**
 * A 401 (no or unknown credentials), with `WWW-Authenticate: Bearer`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const unauthorized = (detail: string): HttpServerResponse.HttpServerResponse =>
  response(make({ status: 401, code: "unauthorized", detail }), { "www-authenticate": 'Bearer realm="sentinel"' })

/**
 * A 403 (credentials known, not allowed here).
 *
 * @category constructors
 * @since 0.1.0
 */
export const forbidden = (detail: string): HttpServerResponse.HttpServerResponse =>
  response(make({ status: 403, code: "forbidden", detail }))
