/**
 * A user-defined detector, written as it would be outside this repository: it imports only the published
 * packages. It watches tokens per request and fires when a request uses far more tokens than usual (a prompt
 * that exploded, a runaway tool loop). Token counts are positive and multiplicative, so it works on their
 * logarithm: an exponentially weighted mean and variance of `log(tokens)`, and a one-sided z-score (only overruns
 * matter). Because it works in log space it is scale invariant (tokens or thousands of tokens), not shift
 * invariant.
 *
 * `TokenBudget.test.ts` checks it against the `@llm-sentinel/detectors/testing` law suite.
 */
import { Detector, type Verdict } from "@llm-sentinel/core"
import type { LawClaims } from "@llm-sentinel/detectors/testing"
import { Schema } from "effect"

/** The detector's name, the prefix of its law test ids (`token-budget:determinism`). */
export const name = "token-budget"

/** The detector's parameters. */
export interface Params {
  /** Weight of the newest point once warmed up (0 < alpha < 1). */
  readonly alpha: number
  /** Requests to learn before firing. */
  readonly minSamples: number
}

/** Parameters used where none are given. */
export const defaults: Params = { alpha: 0.02, minSamples: 50 }

interface State {
  readonly n: number
  /** Exponentially weighted mean and variance of log(tokens). */
  readonly mean: number
  readonly variance: number
}

const StateSchema = Schema.Struct({ n: Schema.Number, mean: Schema.Number, variance: Schema.Number })

/** Scores are capped so that a jump after a perfectly flat history is loud but finite. */
const MAX_SCORE = 1000

/** Creates a token-budget detector. */
export const make = (params: Partial<Params> = {}): Detector.Detector<State, number> => {
  const { alpha, minSamples } = { ...defaults, ...params }
  const score = (s: State, tokens: number): Verdict.Assessment => {
    const sd = Math.sqrt(s.variance)
    const excess = Math.log(tokens) - s.mean
    const z = excess <= 0 ? 0 : sd > 0 ? excess / sd : MAX_SCORE
    return {
      score: Math.min(z, MAX_SCORE),
      expected: Math.exp(s.mean),
      lower: 0,
      upper: Math.exp(s.mean + 4 * sd),
      ready: s.n >= minSamples
    }
  }
  const learn = (s: State, tokens: number): State => {
    const n = s.n + 1
    // 1/n while warming up gives the plain mean and variance of the first points; alpha afterwards
    const w = Math.max(alpha, 1 / n)
    const d = Math.log(tokens) - s.mean
    return { n, mean: s.mean + w * d, variance: (1 - w) * (s.variance + w * d * d) }
  }
  return Detector.make({
    name,
    params: { alpha, minSamples },
    minSamples,
    state: StateSchema,
    initial: () => ({ n: 0, mean: 0, variance: 0 }),
    score,
    learn,
    // zero or negative token counts are not requests: ignore them
    accepts: (tokens) => Number.isFinite(tokens) && tokens > 0
  })
}

/** What the detector claims; the law suite checks every claim. */
export const laws: LawClaims<Params> = {
  positive: true,
  scaleInvariant: true,
  monotonic: true,
  sensitivity: { kind: "spike", size: 8, direction: "up" },
  maxStateBytes: 200,
  testParams: { minSamples: 20 }
}
