/**
 * A user-defined detector, written as it would be outside this repository: it imports only the published
 * packages. It watches tokens per request and fires when a request uses far more tokens than usual (a prompt
 * that exploded, a runaway tool loop). Token counts are positive and multiplicative, so it works on their
 * logarithm: an exponentially weighted mean and variance of `log(tokens)`, and a one-sided z-score (only overruns
 * matter). Because it works in log space it is scale invariant (tokens or thousands of tokens), not shift
 * invariant. Its σ never falls below a meaningful relative change (`minRelativeChange`, 5% by default: a request
 * 5% over budget is not news however steady the history), scores are squashed, never capped (so they still rank),
 * and an overrun is learned clipped to the band (`adapt: "clip"`), so a lasting change of prompt length becomes the
 * new budget instead of firing forever.
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
  /** The smallest overrun that means anything, as a fraction of the usual tokens (0.05 = 5%). */
  readonly minRelativeChange: number
}

/** Parameters used where none are given. */
export const defaults: Params = { alpha: 0.02, minSamples: 50, minRelativeChange: 0.05 }

interface State {
  readonly n: number
  /** Exponentially weighted mean and variance of log(tokens). */
  readonly mean: number
  readonly variance: number
}

const StateSchema = Schema.Struct({ n: Schema.Number, mean: Schema.Number, variance: Schema.Number })

/** Makes huge scores grow logarithmically: finite, monotone, and never tied (a cap would make them all equal). */
const squash = (z: number): number => (z <= 50 ? z : 50 * (1 + Math.log(z / 50)))

/** Creates a token-budget detector. */
export const make = (params: Partial<Params> = {}): Detector.Detector<State, number> => {
  const { alpha, minSamples, minRelativeChange } = { ...defaults, ...params }
  // in log space a relative change r is log(1 + r); a change of that size scores at most 3
  const floor = Math.max(Math.log1p(minRelativeChange) / 3, 1e-12)
  const score = (s: State, tokens: number): Verdict.Assessment => {
    const sd = Math.max(Math.sqrt(s.variance), floor)
    const excess = Math.log(tokens) - s.mean
    return {
      score: excess <= 0 ? 0 : squash(excess / sd),
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
    params: { alpha, minSamples, minRelativeChange },
    minSamples,
    adapt: "clip",
    state: StateSchema,
    initial: () => ({ n: 0, mean: 0, variance: 0 }),
    score,
    learn,
    // zero or negative token counts are not requests: ignore them
    accepts: (tokens) => Number.isFinite(tokens) && tokens > 0
  })
}

/** What the detector claims; the law suite checks every claim. */
export const claims: LawClaims<Params> = {
  positive: true,
  scaleInvariant: true,
  monotonic: true,
  sensitivity: { kind: "spike", size: 8, direction: "up" },
  adapts: { size: 10, within: 300 },
  maxStateBytes: 200,
  // the laws' noise can be far below 5% of the level: claims in σ units hold without the minimum change
  testParams: { minSamples: 20, minRelativeChange: 0 }
}
