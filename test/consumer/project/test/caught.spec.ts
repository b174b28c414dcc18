// The installed law suite is live, not a formality: a detector with one deliberate defect (its score is in
// thirds of a standard deviation, so it claims a 6σ spike it cannot see) fails its sensitivity law with a shrunk
// counterexample and a seed, while every law it does not break still passes.
import { Detector } from "@llm-sentinel/core"
import { checkDetector, type LawClaims } from "@llm-sentinel/detectors/testing"
import { Schema } from "effect"
import { describe, expect, it } from "vitest"

interface W {
  readonly n: number
  readonly mean: number
  readonly m2: number
}

const sdOf = (s: W): number => (s.n > 1 ? Math.sqrt(Math.max(s.m2, 0) / (s.n - 1)) : 0)

/** A Welford z-score divided by three: a 6σ spike scores 2 and never reaches the threshold. */
const dim = Detector.make<W>({
  name: "dim",
  minSamples: 10,
  learnAnomalies: true,
  state: Schema.Struct({ n: Schema.Number, mean: Schema.Number, m2: Schema.Number }),
  initial: () => ({ n: 0, mean: 0, m2: 0 }),
  score: (s, x) => {
    const sd = sdOf(s)
    const d = Math.abs(x - s.mean)
    const z = sd > 0 ? Math.min(d / sd, 1e6) : d === 0 ? 0 : 1e6
    return { score: z / 3, expected: s.mean, lower: s.mean - 4 * sd, upper: s.mean + 4 * sd, ready: s.n >= 10 }
  },
  learn: (s, x) => {
    const n = s.n + 1
    const d = x - s.mean
    const mean = s.mean + d / n
    return { n, mean, m2: s.m2 + d * (x - mean) }
  }
})

const claims: LawClaims = { shiftInvariant: true, scaleInvariant: true, sensitivity: { kind: "spike", size: 6 } }

describe("the law suite from @llm-sentinel/detectors/testing", () => {
  it("catches a detector that cannot see the spike it claims, and passes the laws it keeps", () => {
    const results = checkDetector(dim, claims)
    const failed = results.filter((r) => !r.ok)
    expect(failed.map((r) => r.law)).toEqual(["sensitivity"])
    expect(failed[0]?.report).toMatch(/dim:sensitivity failed/)
    expect(failed[0]?.counterexample).toBeDefined()
    expect(results.filter((r) => r.ok && r.exempt === undefined).length).toBeGreaterThan(5)
  })
})
