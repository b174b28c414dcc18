import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { Problem } from "../src/index.ts"

describe("Problem", () => {
  it("makes an RFC 9457 document with the code's type and title, and the failing paths", () => {
    const p = Problem.validation("invalid query parameters", [{ path: "limit", message: "expected an integer" }])
    assert.deepStrictEqual(p, {
      type: "https://llm-sentinel.dev/problems/validation",
      title: "Invalid request",
      status: 400,
      detail: "invalid query parameters",
      code: "validation",
      errors: [{ path: "limit", message: "expected an integer" }]
    })
    assert.isTrue(Schema.is(Problem.ProblemDocument)(p))
  })

  it("derives the code from the status, and keeps extensions without letting them override members", () => {
    const p = Problem.make({
      status: 503,
      detail: "not ready: store",
      code: "not-ready",
      extensions: { checks: { store: false }, status: 1 }
    })
    assert.strictEqual(p.status, 503)
    assert.strictEqual(p.title, "Not ready")
    assert.deepStrictEqual(p.checks, { store: false })
    assert.strictEqual(Problem.make({ status: 404, detail: "x" }).type, "https://llm-sentinel.dev/problems/not-found")
  })

  it("answers with application/problem+json and the status", () => {
    const r = Problem.unauthorized("missing Authorization: Bearer")
    assert.strictEqual(r.status, 401)
    assert.strictEqual(r.headers["www-authenticate"], 'Bearer realm="sentinel"')
    assert.strictEqual(r.body._tag, "Uint8Array")
    if (r.body._tag === "Uint8Array") assert.strictEqual(r.body.contentType, "application/problem+json")
  })
})
