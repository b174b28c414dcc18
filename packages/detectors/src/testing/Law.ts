/**
 * What a law is: a named fast-check property over a detector under test (a {@link Subject}), universal (every
 * detector must satisfy it unless exempt) or claimed (run only when the detector declares it).
 *
 * @since 0.1.0
 */
import type { Detector, Verdict } from "@llm-sentinel/core"
import { Schema } from "effect"
import type * as fc from "fast-check"
import type { BaseClaims, InputMap } from "./Claims.ts"

/**
 * The laws every detector satisfies unless it is exempt (with a reason).
 *
 * @category models
 * @since 0.1.0
 */
export const universalLaws = [
  "determinism",
  "totality",
  "noInputMutation",
  "noStateMutation",
  "warmUp",
  "quietOnConstant",
  "snapshotRestore",
  "boundedState",
  "chunkingInvariance"
] as const

/**
 * The laws a detector must claim for them to run.
 *
 * @category models
 * @since 0.1.0
 */
export const claimedLaws = ["shiftInvariance", "scaleInvariance", "sensitivity", "monotonic", "adaptation"] as const

/**
 * The name of a law, as it appears in test ids (`zscore:determinism`) and in `exempt`.
 *
 * @category models
 * @since 0.1.0
 */
export type LawName = (typeof universalLaws)[number] | (typeof claimedLaws)[number]

/**
 * Whether a string names a law.
 *
 * @category guards
 * @since 0.1.0
 */
export const isLawName = (u: unknown): u is LawName =>
  (universalLaws as ReadonlyArray<unknown>).includes(u) || (claimedLaws as ReadonlyArray<unknown>).includes(u)

/**
 * A detector under test, with everything the laws need to exercise it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Subject<S = unknown, In = unknown> {
  /** The prefix of test ids and reports. */
  readonly name: string
  /** A fresh instance (the same instance each time when the caller passed an instance rather than a factory). */
  readonly make: () => Detector.Detector<S, In>
  readonly claims: BaseClaims<unknown>
  /** Builds inputs from base number series. */
  readonly input: fc.Arbitrary<InputMap<In>>
  readonly decide: Verdict.Decide
  /** Event time of the first point (epoch ms). */
  readonly start: number
  /** Milliseconds between points. */
  readonly interval: number
  /** The detector's `minSamples`. */
  readonly minSamples: number
  /** How many points past warm-up the laws generate at most. */
  readonly length: number
}

/**
 * A law: a fast-check property of a subject. The property throws a {@link LawViolation} that says what went wrong
 * (fast-check then shrinks the input and reports the smallest counterexample).
 *
 * @category models
 * @since 0.1.0
 */
export interface Law {
  readonly name: LawName
  /** One sentence: what the law demands. */
  readonly description: string
  /** Whether the law runs for these claims (before exemptions). */
  readonly applies: (claims: BaseClaims<unknown>) => boolean
  // biome-ignore lint/suspicious/noExplicitAny: the generated tuple differs per law
  readonly property: <S, In>(subject: Subject<S, In>) => fc.IProperty<any>
}

/**
 * Thrown inside a law's property when the detector breaks the law; the message says where and how.
 *
 * @category errors
 * @since 0.1.0
 */
export class LawViolation extends Schema.TaggedError<LawViolation>("@llm-sentinel/detectors/testing/LawViolation")(
  "LawViolation",
  { message: Schema.String }
) {}
