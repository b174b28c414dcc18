import { assert, describe, it } from "@effect/vitest"
import { Catalog, Mad } from "../src/index.ts"

describe("Catalog", () => {
  it("lists every shipped detector once, each making a detector named after it (a wrapper adds its inner detector)", () => {
    const names = Catalog.modules().map((m) => m.name)
    assert.strictEqual(new Set(names).size, names.length)
    assert.includeMembers(names, ["zscore", "ewma", "mad", "seasonal", "peer-group", "half-space-trees", "ensemble"])
    for (const m of Catalog.modules()) {
      const detector = m.make(m.name === "threshold" ? { upper: 1 } : undefined)
      assert.isTrue(detector.name === m.name || detector.name.startsWith(`${m.name}(`), detector.name)
    }
  })
  it("finds a module by name", () => {
    assert.strictEqual(Catalog.byName("mad"), Mad as unknown as Catalog.Module)
    assert.strictEqual(Catalog.byName("nope"), undefined)
  })
})
