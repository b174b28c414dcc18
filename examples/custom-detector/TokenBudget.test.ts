// Checks the user-defined TokenBudget detector with the public law suite, as a user would in their own project:
// one vitest test per law, named `token-budget:<law>`, with the suite's fixed seed (or SENTINEL_LAW_SEED).
import { Detector } from "@llm-sentinel/core"
import { runLaws } from "@llm-sentinel/detectors/testing"
import { describe, expect, it } from "vitest"
import { claims, make } from "./TokenBudget.ts"

describe("TokenBudget", () => {
  runLaws(it, make, claims)

  it("flags a request that uses ten times the usual tokens", () => {
    const usual = Array.from({ length: 60 }, (_, i) => 800 + ((i * 37) % 200))
    const { verdicts } = Detector.run(make(), [...usual, 9000, 850])
    expect(verdicts.at(-2)?.anomalous).toBe(true)
    expect(verdicts.at(-1)?.anomalous).toBe(false)
  })

  it("a 4% overrun after a perfectly steady history is not news; a 2× overrun is, with a finite score", () => {
    const steady = new Array(100).fill(1000)
    const { verdicts } = Detector.run(make(), [...steady, 1040, 2000])
    expect(verdicts.at(-2)?.anomalous).toBe(false)
    expect(verdicts.at(-1)?.anomalous).toBe(true)
    expect(Number.isFinite(verdicts.at(-1)?.score)).toBe(true)
  })
})
