/**
 * `@llm-sentinel/detectors/testing`: the law suite every detector is checked against, for the shipped detectors
 * and for your own. Declare what your detector claims ({@link LawClaims}), then either register one test per law
 * with {@link runLaws} (any `it(name, fn)`: vitest, node:test…) or get the results with {@link checkDetector}.
 *
 * Runs are reproducible: the fast-check seed is `SENTINEL_LAW_SEED` (default {@link defaultSeed}) and the runs per
 * law `SENTINEL_LAW_RUNS` (default {@link defaultNumRuns}); both can be passed as options, with a replay `path`.
 *
 * @example
 * ```ts
 * import { describe, it } from "vitest"
 * import { ZScore } from "@llm-sentinel/detectors" // in your project: your own detector's factory
 * import { type LawClaims, runLaws } from "@llm-sentinel/detectors/testing"
 * const claims: LawClaims<ZScore.Params> = { shiftInvariant: true, sensitivity: { kind: "spike", size: 6 } }
 * describe("ZScore laws", () => runLaws(it, ZScore.make, claims)) // ids: zscore:determinism, …
 * ```
 *
 * @since 0.1.0
 */
export * as Arbitraries from "./Arbitraries.ts"
export {
  assertLaw,
  type CheckOptions,
  checkDetector,
  checkLaw,
  type DetectorOrFactory,
  defaultNumRuns,
  defaultSeed,
  type LawResult,
  makeSubject,
  seed,
  selectLaws
} from "./Check.ts"
export type { BaseClaims, Input, InputMap, LawClaims, SensitivityClaim } from "./Claims.ts"
export { firstDifference, sameAssessment, sameNumber, sameVerdict } from "./Equivalence.ts"
export {
  claimedLaws,
  isLawName,
  type Law,
  type LawName,
  LawViolation,
  type Subject,
  universalLaws
} from "./Law.ts"
export { laws } from "./Laws.ts"
export { type DetectorModule, isDetectorModule, runLaws, runModuleLaws, type TestFunction } from "./Runner.ts"
