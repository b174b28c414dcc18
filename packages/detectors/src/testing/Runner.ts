/**
 * Registers the laws as tests in any framework with an `it(name, fn)` function (vitest, node:test, jest, mocha):
 * one test per law, named `Detector:law`, and a skipped test per exemption when the framework has `it.skip`.
 *
 * @since 0.1.0
 */
import type { Detector } from "@llm-sentinel/core"
import { assertLaw, type CheckOptions, type DetectorOrFactory, makeSubject, selectLaws } from "./Check.ts"
import type { LawClaims } from "./Claims.ts"

/**
 * A test-registering function such as vitest's or node:test's `it`.
 *
 * @category models
 * @since 0.1.0
 */
export interface TestFunction {
  (name: string, fn: () => void): unknown
  readonly skip?: (name: string, fn: () => void) => unknown
}

/**
 * A module that ships a detector the way `@llm-sentinel/detectors` modules do: a `name`, a `make` factory and
 * `claims` (its {@link LawClaims}; `laws` in `@llm-sentinel/detectors/testing` are the law implementations).
 *
 * @category models
 * @since 0.1.0
 */
export interface DetectorModule<S = unknown, In = number, P = Readonly<Record<string, unknown>>> {
  readonly name: string
  readonly make: (params?: Partial<P>) => Detector.Detector<S, In>
  /** What the detector claims for the law suite. */
  readonly claims: LawClaims<P, In>
}

/**
 * Whether a value looks like a {@link DetectorModule} (used to walk a barrel of modules).
 *
 * @category guards
 * @since 0.1.0
 */
export const isDetectorModule = (u: unknown): u is DetectorModule<unknown, unknown, unknown> =>
  typeof u === "object" &&
  u !== null &&
  typeof (u as { name?: unknown }).name === "string" &&
  typeof (u as { make?: unknown }).make === "function" &&
  typeof (u as { claims?: unknown }).claims === "object" &&
  (u as { claims?: unknown }).claims !== null

/**
 * Registers one test per law the claims select, named `${name}:${law}` (the name defaults to the detector's).
 *
 * @example
 * ```ts
 * import { describe, it } from "vitest"
 * import { ZScore } from "@llm-sentinel/detectors" // or your own detector module's `make` and `claims`
 * import { runLaws } from "@llm-sentinel/detectors/testing"
 * describe("laws", () => runLaws(it, ZScore.make, ZScore.claims))
 * ```
 * @category testing
 * @since 0.1.0
 */
export const runLaws = <S, In, P>(
  test: TestFunction,
  detectorOrFactory: DetectorOrFactory<S, In, P>,
  claims: LawClaims<P, In>,
  options: CheckOptions<In> = {}
): void => {
  const subject = makeSubject(detectorOrFactory, claims, options)
  const { run, exempt } = selectLaws(subject.claims, options.only)
  const params = {
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.numRuns !== undefined ? { numRuns: options.numRuns } : {}),
    ...(options.path !== undefined ? { path: options.path } : {})
  }
  for (const law of run) test(`${subject.name}:${law.name}`, () => assertLaw(subject, law, params))
  for (const e of exempt) test.skip?.(`${subject.name}:${e.law} (exempt: ${e.reason})`, () => {})
}

/**
 * Registers the laws of a {@link DetectorModule}, named after the module's `name`.
 *
 * @category testing
 * @since 0.1.0
 */
export const runModuleLaws = <S, In, P>(
  test: TestFunction,
  module: DetectorModule<S, In, P>,
  options: CheckOptions<In> = {}
): void => runLaws(test, module.make, module.claims, { name: module.name, ...options })
