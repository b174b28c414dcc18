/**
 * Running the laws on a detector: picks the laws its claims select, runs each as a fast-check property with a
 * fixed seed (env `SENTINEL_LAW_SEED`, or {@link defaultSeed}), and returns one result per law, or throws the
 * fast-check report ({@link assertLaw}) for test frameworks.
 *
 * @since 0.1.0
 */
import { type Detector, Verdict } from "@llm-sentinel/core"
import * as fc from "fast-check"
import type { BaseClaims, Input, InputMap, LawClaims } from "./Claims.ts"
import { claimedLaws, isLawName, type Law, type LawName, type Subject, universalLaws } from "./Law.ts"
import { laws } from "./Laws.ts"

/**
 * The seed used when neither the options nor `SENTINEL_LAW_SEED` give one.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultSeed = 20_260_101

/**
 * Runs per law when neither the options nor `SENTINEL_LAW_RUNS` say otherwise.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultNumRuns = 100

const envInt = (name: string): number | undefined => {
  const raw = globalThis.process?.env?.[name]
  if (raw === undefined || raw.trim() === "") return undefined
  const n = Number(raw)
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`)
  return n
}

/**
 * The seed of this process: `SENTINEL_LAW_SEED` when set, else {@link defaultSeed}.
 *
 * @category constructors
 * @since 0.1.0
 */
export const seed = (): number => envInt("SENTINEL_LAW_SEED") ?? defaultSeed

/**
 * A detector instance, or a factory taking partial parameters (called with the claims' `testParams`).
 *
 * @category models
 * @since 0.1.0
 */
export type DetectorOrFactory<S, In, P> = Detector.Detector<S, In> | ((params?: Partial<P>) => Detector.Detector<S, In>)

/**
 * How to run the laws. Everything is optional.
 *
 * @category models
 * @since 0.1.0
 */
export interface CheckOptions<In = number> {
  /** The test-id prefix (default: the detector's `name`). */
  readonly name?: string
  /** The fast-check seed (default: {@link seed}). */
  readonly seed?: number
  /** Runs per law (default `SENTINEL_LAW_RUNS` or {@link defaultNumRuns}). */
  readonly numRuns?: number
  /** A fast-check replay path, from a failure report (with its seed). */
  readonly path?: string
  /** Builds inputs from base series; overrides the claims' `input` (default: the numbers themselves). */
  readonly input?: Input<In>
  /** The deciding step (default `Verdict.threshold()`). */
  readonly decide?: Verdict.Decide
  /** Event time of the first point, epoch ms (default 2026-01-01T00:00:00Z). */
  readonly start?: number
  /** Milliseconds between points (default: the claims' `interval`, else one minute). */
  readonly interval?: number
  /** Points past warm-up the laws generate at most (default 200). */
  readonly length?: number
  /** Only these laws (still minus exemptions and unclaimed laws). */
  readonly only?: ReadonlyArray<LawName>
}

/**
 * The outcome of one law on one detector. Exempt laws are reported with `ok: true` and their `exempt` reason.
 *
 * @category models
 * @since 0.1.0
 */
export interface LawResult {
  readonly law: LawName
  readonly ok: boolean
  /** Why the detector is exempt (the law was not run). */
  readonly exempt?: string
  /** The shrunk failing input, as generated (the input map first, then the law's values). */
  readonly counterexample?: ReadonlyArray<unknown>
  /** What was wrong with the counterexample (usually a `LawViolation`). */
  readonly error?: unknown
  /** fast-check's report, with the seed and replay path. */
  readonly report?: string
  readonly seed: number
  readonly numRuns: number
}

/**
 * Which laws the claims select and which they exempt. Throws on an exemption naming no law (a typo would
 * otherwise silently keep a law from running).
 *
 * @category combinators
 * @since 0.1.0
 */
export const selectLaws = (
  claims: BaseClaims<unknown>,
  only?: ReadonlyArray<LawName>
): {
  readonly run: ReadonlyArray<Law>
  readonly exempt: ReadonlyArray<{ readonly law: LawName; readonly reason: string }>
} => {
  const exemptions = claims.exempt ?? {}
  for (const name of Object.keys(exemptions)) if (!isLawName(name)) throw new Error(`exempt names no law: ${name}`)
  const run: Array<Law> = []
  const exempt: Array<{ law: LawName; reason: string }> = []
  for (const name of [...universalLaws, ...claimedLaws]) {
    const law = laws[name]
    if (only !== undefined && !only.includes(name)) continue
    if (!law.applies(claims)) continue
    const reason = exemptions[name]
    if (reason !== undefined) exempt.push({ law: name, reason })
    else run.push(law)
  }
  return { run, exempt }
}

const identity = Object.assign(
  <In>(series: ReadonlyArray<number>): ReadonlyArray<In> => series as unknown as ReadonlyArray<In>,
  {
    [fc.toStringMethod]: () => "numbers"
  }
)

const toArbitrary = <In>(input: Input<In> | undefined): fc.Arbitrary<InputMap<In>> =>
  input === undefined ? fc.constant<InputMap<In>>(identity) : typeof input === "function" ? fc.constant(input) : input

/**
 * Builds the subject the laws run on.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeSubject = <S, In, P>(
  detectorOrFactory: DetectorOrFactory<S, In, P>,
  claims: LawClaims<P, In>,
  options: CheckOptions<In> = {}
): Subject<S, In> => {
  const make =
    typeof detectorOrFactory === "function" ? () => detectorOrFactory(claims.testParams) : () => detectorOrFactory
  const sample = make()
  return {
    name: options.name ?? sample.name,
    make,
    claims: claims as BaseClaims<unknown>,
    input: toArbitrary(options.input ?? (claims as { readonly input?: Input<In> }).input),
    decide: options.decide ?? Verdict.threshold(),
    start: options.start ?? Date.UTC(2026, 0, 1),
    interval: options.interval ?? claims.interval ?? 60_000,
    minSamples: sample.minSamples,
    length: options.length ?? 200
  }
}

const violation = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/**
 * Runs one law on a subject.
 *
 * @category testing
 * @since 0.1.0
 */
export const checkLaw = <S, In>(
  subject: Subject<S, In>,
  law: Law,
  options: { readonly seed?: number; readonly numRuns?: number; readonly path?: string } = {}
): LawResult => {
  const seedUsed = options.seed ?? seed()
  const numRuns = options.numRuns ?? envInt("SENTINEL_LAW_RUNS") ?? defaultNumRuns
  const details = fc.check(law.property(subject), {
    seed: seedUsed,
    numRuns,
    ...(options.path !== undefined ? { path: options.path } : {})
  })
  if (!details.failed) return { law: law.name, ok: true, seed: seedUsed, numRuns }
  return {
    law: law.name,
    ok: false,
    ...(details.counterexample !== null ? { counterexample: details.counterexample } : {}),
    ...(details.errorInstance !== null ? { error: details.errorInstance } : {}),
    report: `${subject.name}:${law.name} failed: ${violation(details.errorInstance)}\n${fc.defaultReportMessage(details) ?? ""}`,
    seed: seedUsed,
    numRuns
  }
}

/**
 * Runs one law on a subject and throws an `Error` carrying fast-check's report when it fails.
 *
 * @category testing
 * @since 0.1.0
 */
export const assertLaw = <S, In>(
  subject: Subject<S, In>,
  law: Law,
  options: { readonly seed?: number; readonly numRuns?: number; readonly path?: string } = {}
): void => {
  const result = checkLaw(subject, law, options)
  if (!result.ok) throw new Error(result.report, { cause: result.error })
}

/**
 * Runs every law the claims select on a detector (universal laws plus the claimed ones, minus exemptions) and
 * returns one result per law, exempt laws included.
 *
 * @example
 * ```ts
 * import { checkDetector } from "@llm-sentinel/detectors/testing"
 * import { claims, make } from "@llm-sentinel/detectors/ZScore"
 * const failures = checkDetector(make, claims).filter((r) => !r.ok)
 * for (const f of failures) console.error(f.report)
 * ```
 * @category testing
 * @since 0.1.0
 */
export const checkDetector = <S, In, P>(
  detectorOrFactory: DetectorOrFactory<S, In, P>,
  claims: LawClaims<P, In>,
  options: CheckOptions<In> = {}
): Array<LawResult> => {
  const subject = makeSubject(detectorOrFactory, claims, options)
  const { run, exempt } = selectLaws(subject.claims, options.only)
  const seedUsed = options.seed ?? seed()
  const numRuns = options.numRuns ?? envInt("SENTINEL_LAW_RUNS") ?? defaultNumRuns
  const results = run.map((law) =>
    checkLaw(subject, law, { seed: seedUsed, numRuns, ...(options.path !== undefined ? { path: options.path } : {}) })
  )
  for (const e of exempt) results.push({ law: e.law, ok: true, exempt: e.reason, seed: seedUsed, numRuns: 0 })
  return results
}
