import { assert, describe, it } from "@effect/vitest"
import { Series } from "../src/index.ts"

describe("Series", () => {
  it("interns keys and bounds cardinality, counting what it refuses", () => {
    const r = Series.makeRegistry({ maxSeries: 2 })
    const a = r.key("chat", "gpt-4o", "latency")
    assert.strictEqual(r.key("chat", "gpt-4o", "latency"), a)
    assert.ok(r.key("chat", "gpt-4o", "cost") !== undefined)
    assert.strictEqual(r.key("chat", "gpt-4o", "error"), undefined)
    assert.strictEqual(r.key("chat", "gpt-4o", "error"), undefined)
    assert.deepStrictEqual([r.size(), r.overflow()], [2, 2])
    // once full, new names are refused without being indexed, and the known keys are still found
    assert.strictEqual(r.key("search", "claude", "latency"), undefined)
    assert.strictEqual(r.group("search", "claude").size, 0)
    assert.deepStrictEqual([...r.group("chat", "gpt-4o").keys()], ["latency", "cost"])
    assert.strictEqual(r.key("chat", "gpt-4o", "latency"), a)
    assert.deepStrictEqual([r.size(), r.overflow()], [2, 3])
  })
  it("keeps keys with and without a dimension apart", () => {
    const r = Series.makeRegistry({ dimension: "environment" })
    const plain = r.key("chat", "gpt-4o", "latency")
    const prod = r.key("chat", "gpt-4o", "latency", "prod")
    assert.notStrictEqual(plain, prod)
    assert.deepStrictEqual(plain?.dimensions, {})
    assert.deepStrictEqual(prod?.dimensions, { environment: "prod" })
    assert.strictEqual(r.group("chat", "gpt-4o", "prod").get("latency"), prod)
  })
  it("escapes separators so distinct keys never share an id", () => {
    assert.notStrictEqual(Series.makeKey("a/b", "c", "d").id, Series.makeKey("a", "b/c", "d").id)
    assert.strictEqual(
      Series.makeKey("chat", "gpt-4o", "latency", { environment: "prod" }).id,
      "chat/gpt-4o/latency;environment=prod"
    )
  })
})
