// Runs the law suite on every shipped detector: walks the detectors barrel, and for each module with `make` and
// `claims` registers one test per law it must satisfy (universal laws plus its claims, minus its exemptions), named
// `Detector:law`. The seed is fixed (SENTINEL_LAW_SEED or the suite's default) so CI is reproducible.
import { describe, expect, it } from "vitest"
import * as Detectors from "../src/index.ts"
import { isDetectorModule, runModuleLaws } from "../src/testing/index.ts"

const exported = Object.entries(Detectors as Record<string, unknown>)
const modules = exported.map(([, module]) => module).filter(isDetectorModule)

describe("detector laws", () => {
  it("discovers the shipped detector modules", () => {
    expect(modules.length).toBeGreaterThanOrEqual(1)
  })

  it("every module with a detector factory declares its claims", () => {
    const undeclared = exported
      .filter(([, m]) => typeof (m as { make?: unknown }).make === "function" && !isDetectorModule(m))
      .map(([name]) => name)
    expect(undeclared).toEqual([])
  })

  // adaptation to a lasting change is claimed by every detector but the fixed-bound one, whose bounds are the
  // user's (an SLO): a lasting breach is still a breach
  const notAdapting: Readonly<Record<string, string>> = { threshold: "fixed bounds set by the user" }
  it("every shipped detector claims the adaptation law, except fixed-bound ones", () => {
    const unclaimed = modules.filter((m) => m.claims.adapts === undefined).map((m) => m.name)
    expect(unclaimed.sort()).toEqual(Object.keys(notAdapting).sort())
  })

  for (const module of modules) runModuleLaws(it, module)
})
