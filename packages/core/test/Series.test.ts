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
  })
  it("escapes separators so distinct keys never share an id", () => {
    assert.notStrictEqual(Series.makeKey("a/b", "c", "d").id, Series.makeKey("a", "b/c", "d").id)
    assert.strictEqual(
      Series.makeKey("chat", "gpt-4o", "latency", { environment: "prod" }).id,
      "chat/gpt-4o/latency;environment=prod"
    )
  })
})
