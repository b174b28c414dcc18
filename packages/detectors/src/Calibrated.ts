/**
 * Calibrated scores: turns any detector's raw score into how rare that score is **for this series**, in σ units,
 * so that one threshold means the same on every detector and every series.
 *
 * Raw scores are not comparable: a z-score of 8 is routine on a heavy-tailed series and unheard of on a Gaussian
 * one, and a rate-of-change score is not a CUSUM score. This wrapper keeps, per series, the distribution of the
 * inner detector's past raw scores (a histogram over log-spaced bins, 12 per decade from 1e-3 to 1e5, forgetting
 * with a memory of `memory` points) and scores a point by the tail probability `p` of its raw score under that
 * distribution: the empirical tail, and within the top `tail` of the mass an exponential tail fitted to the mean
 * excess there (peaks over threshold; the exponential is the generalised Pareto tail with shape 0), so that scores
 * beyond anything seen still rank. The exponential tail is heavier than a Gaussian one, so on light-tailed series the
 * calibration is on the cautious side (a 6σ Gaussian spike scores about 4.5). The score is the standard normal quantile of `p`: `z` with `P(Z > z) = p`, so
 * 4 means "as rare as a 4σ Gaussian excursion" (p ≈ 3·10⁻⁵) whatever the inner detector and the data. Where the
 * inner score is under 3 (what the shipped detectors give a change under the metric's minimum change, or of one
 * quantum), the calibrated score is at most the inner one: however steady a series was, a change the inner
 * detector calls small never becomes an alarm. The map is monotone, so the inner detector's ranking (and its shift and scale invariance) is kept.
 *
 * Warm-up: the history starts from a prior (`prior` points of Gaussian-noise scores, |Z|), so a new series is
 * calibrated as if it were Gaussian and its own scores take over as they come; ready once the inner detector is
 * ready and `minHistory` of its raw scores were seen. Learning: every
 * point adds its raw score, **declustered by runs** (the peaks-over-threshold practice for dependent data): a run of
 * consecutive points whose raw score is above the tail threshold, or that were judged anomalous, adds one raw score,
 * the run's largest, when it ends. Without it a sustained anomaly (an hour-long provider slowdown, the rising flank
 * of a CUSUM) adds dozens of high scores at once and teaches the series that such scores are usual, so the next
 * incident is missed. A run still going after `clusterLength` points is a new regime: its later points are learned
 * one by one, so a lasting change that the inner detector keeps scoring high also becomes less rare (this wrapper's
 * share of adaptation, on top of the inner detector's own bounded learning, `learnAnomaly`).
 *
 * @since 0.2.0
 */
import { Detector, Slab, type Verdict } from "@llm-sentinel/core"
import { Schema, SchemaTransformation } from "effect"
import { decodeParams, fmt, MIN_CHANGE_SCORE, PositiveInt, rejected, UnitInterval, zFromLogTail } from "./internal.ts"
import * as RateOfChange from "./RateOfChange.ts"
import type { LawClaims } from "./testing/Claims.ts"
import * as ZScore from "./ZScore.ts"

/**
 * @category models
 * @since 0.2.0
 */
export const name = "calibrated"

/**
 * @category models
 * @since 0.2.0
 */
export interface Params<In = number> {
  /**
   * The detector whose raw scores are calibrated (over numbers, or any input: a peer-group detector's
   * `{ value, peers }`). Default `RateOfChange.make({ alpha: 0.01 })`.
   */
  // biome-ignore lint/suspicious/noExplicitAny: the inner detector's state is opaque here
  readonly detector: Detector.Detector<any, In>
  /** How many recent raw scores the calibration remembers (exponential forgetting, count). Default 1000. */
  readonly memory: number
  /** The top fraction of the score distribution where the exponential tail is fitted, in (0, 1]. Default 0.02. */
  readonly tail: number
  /** Raw scores to see before the calibrated score may fire (count). Default 30. */
  readonly minHistory: number
  /**
   * The weight of the prior, in points: the history starts as this many raw scores distributed as `|Z|` of a
   * standard normal (what a σ-unit score of Gaussian noise would be), so a new series is calibrated as if it were
   * Gaussian until its own scores outweigh the prior (and the prior is forgotten like any old score). Default 50.
   */
  readonly prior: number
  /**
   * Runs declustering: consecutive points whose raw score is above the fitted tail's threshold (where the top
   * `tail` of the history begins), or that were judged anomalous, are one exceedance run, learned as one raw score
   * (the run's largest) when it ends, so a sustained anomaly counts as one rare episode, not as dozens of points
   * that teach the series that high scores are usual. A run counts as one episode for at most this many points
   * (count): one that lasts longer is a new regime, and its later points are learned one by one (the wrapper's
   * share of adapting to a lasting change that the inner detector keeps scoring high). Default 30.
   */
  readonly clusterLength: number
}

/**
 * @category models
 * @since 0.2.0
 */
export const defaults: Params = {
  detector: RateOfChange.make({ alpha: 0.01 }),
  memory: 1000,
  tail: 0.02,
  minHistory: 30,
  prior: 50,
  clusterLength: 30
}

const isDetector = (u: unknown): u is Detector.Any =>
  typeof u === "object" &&
  u !== null &&
  typeof (u as Detector.Any).score === "function" &&
  typeof (u as Detector.Any).learn === "function" &&
  typeof (u as Detector.Any).initial === "function"

/**
 * Validates a (partial) configuration.
 *
 * @category models
 * @since 0.2.0
 */
export const ParamsSchema: Schema.Codec<Partial<Params>, unknown> = Schema.Struct({
  detector: Schema.optionalKey(Schema.declare(isDetector, { expected: "a detector" })),
  memory: Schema.optionalKey(PositiveInt.check(Schema.isGreaterThanOrEqualTo(10))),
  tail: Schema.optionalKey(UnitInterval),
  minHistory: Schema.optionalKey(PositiveInt),
  prior: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))),
  clusterLength: Schema.optionalKey(PositiveInt)
})

/** Bins per decade and the decades covered by the histogram of raw scores. */
const PER_DECADE = 12
const LOW = -3
const HIGH = 5
const BINS = (HIGH - LOW) * PER_DECADE

/**
 * The inner detector's state and the forgetting histogram of its raw scores. Forgetting is lazy: each new score
 * is added with `weight`, which grows by `1/(1 − 1/memory)` per point, instead of shrinking every bin per point.
 * The bins are float32 (only their ratios matter, and the sums over them are taken in float64): 384 bytes, not 768.
 *
 * @category models
 * @since 0.2.0
 */
export interface State {
  inner: unknown
  readonly bins: Float32Array<ArrayBuffer>
  /** The sum of the bins. */
  total: number
  /** The weight of the next raw score. */
  weight: number
  /** Raw scores learned in total. */
  seen: number
  /** The largest raw score of the exceedance run in progress (0: none), learned when the run ends. */
  run: number
  /** Points in the exceedance run in progress. */
  runLength: number
}

const binOf = (r: number): number => {
  if (!(r > 10 ** LOW)) return 0
  const b = Math.floor((Math.log10(r) - LOW) * PER_DECADE)
  return b >= BINS ? BINS - 1 : b
}
/** The lower edge of each bin, and the geometric middle of each bin (precomputed: `10 **` per bin per score was most of the cost). */
const EDGES: Float64Array = Float64Array.from({ length: BINS + 1 }, (_, b) => 10 ** (LOW + b / PER_DECADE))
const MIDS: Float64Array = Float64Array.from({ length: BINS }, (_, b) => 10 ** (LOW + (b + 0.5) / PER_DECADE))
const edgeOf = (b: number): number => EDGES[b]!

/**
 * The weight beyond which the histogram is renormalised (only ratios matter). A bin holds at most about
 * `memory·weight`, so this keeps the bins far below the float32 maximum (3.4e38) and far above its smallest
 * normal number for any weight worth keeping.
 */
const RENORMALISE = 1e20

/** Scales the histogram so that the next weight is 1 (in place). */
const renormalise = (s: { readonly bins: Float32Array | Float64Array; total: number; weight: number }): void => {
  const k = 1 / s.weight
  for (let b = 0; b < BINS; b++) s.bins[b]! *= k
  s.total *= k
  s.weight = 1
}

/** P(|Z| ≤ x) for a standard normal Z (Abramowitz–Stegun 7.1.26 for erf, error < 1.5e-7). */
const halfNormalCdf = (x: number): number => {
  const t = x / Math.SQRT2
  const k = 1 / (1 + 0.3275911 * t)
  const poly = k * (0.254829592 + k * (-0.284496736 + k * (1.421413741 + k * (-1.453152027 + k * 1.061405429))))
  return 1 - poly * Math.exp(-t * t)
}

/** The prior histogram: the mass of |Z| in each bin, for a weight of one point. */
const priorBins: Float64Array = Float64Array.from({ length: BINS }, (_, b) => {
  const lo = b === 0 ? 0 : edgeOf(b)
  const hi = b === BINS - 1 ? Number.POSITIVE_INFINITY : edgeOf(b + 1)
  return (hi === Number.POSITIVE_INFINITY ? 1 : halfNormalCdf(hi)) - halfNormalCdf(lo)
})

/**
 * The natural log of the tail probability `P(R ≥ r)` of a raw score under the histogram: the empirical tail up to
 * where the top `tail` of the mass begins, the fitted exponential tail above (continuous and decreasing in `r`).
 *
 * @category combinators
 * @since 0.2.0
 */
/**
 * The raw score where the top `tail` of the history's mass begins (the threshold of the fitted exponential tail,
 * and of runs declustering).
 *
 * @category combinators
 * @since 0.2.0
 */
export const tailThreshold = (s: Pick<State, "bins" | "total">, tail: number): number => {
  const bins = s.bins
  let mass = 0
  let k = BINS - 1
  for (; k > 0; k--) {
    mass += bins[k]!
    if (mass >= tail * s.total) break
  }
  return edgeOf(k)
}

export const logTail = (s: Pick<State, "bins" | "total">, r: number, tail: number): number => {
  const bins = s.bins
  const total = s.total
  if (!(total > 0)) return 0
  const b = binOf(r)
  let above = 0
  for (let k = b + 1; k < BINS; k++) above += bins[k]!
  // the part of r's own bin above r (log-linear within the bin)
  const lo = edgeOf(b)
  const within = r <= lo ? 1 : Math.max(0, 1 - (Math.log10(r) - Math.log10(lo)) * PER_DECADE)
  const empirical = (above + bins[b]! * within) / total
  // peaks over threshold: u = the lower edge of the bin where the top `tail` of the mass begins
  let mass = 0
  let k = BINS - 1
  for (; k > 0; k--) {
    mass += bins[k]!
    if (mass >= tail * total) break
  }
  const u = edgeOf(k)
  // at and below u the empirical tail; above it the fitted tail alone (continuous at u, where both are mass/total)
  if (r <= u || mass <= 0) return Math.log(Math.max(empirical, Number.MIN_VALUE))
  let excess = 0
  for (let j = k; j < BINS; j++) excess += bins[j]! * (MIDS[j]! - u)
  const meanExcess = Math.max(excess / mass, 1e-12)
  const logExp = Math.log(mass / total) - (r - u) / meanExcess
  return logExp
}

/**
 * Wraps a detector so that its scores are calibrated per series (see the module documentation).
 *
 * @example
 * ```ts
 * import { Calibrated, ZScore } from "@llm-sentinel/detectors"
 * const detector = Calibrated.make({ detector: ZScore.make({ window: 64 }) })
 * ```
 * @category constructors
 * @since 0.2.0
 */
export const make = <In = number>(params?: Partial<Params<In>>): Detector.Detector<State, In> => {
  const p = decodeParams(ParamsSchema, defaults, params) as unknown as Params<In>
  const inner = p.detector
  const grow = 1 / (1 - 1 / p.memory)
  const addScore = (s: State, r: number): void => {
    if (!Number.isFinite(r)) return
    s.bins[binOf(r)]! += s.weight
    s.total += s.weight
    s.seen++
    s.weight *= grow
    if (s.weight > RENORMALISE) renormalise(s)
  }
  // `Detector.step` scores a point, then learns it: the inner assessment and the calibrated score of the last score
  // call are kept for the learn call on the same state and point (any learn clears them, so an in-place update can
  // never make them stale)
  let cached:
    | {
        readonly state: unknown
        readonly x: In
        readonly time: number
        readonly a: Verdict.Assessment
        z: number
        logp: number
      }
    | undefined
  const assess = (s: State, x: In, time: number): { readonly a: Verdict.Assessment; z: number; logp: number } => {
    const c = cached
    if (c !== undefined && c.state === s.inner && c.x === x && c.time === time) return c
    const a = inner.score(s.inner, x, time)
    const next = { state: s.inner, x, time, a, z: 0, logp: 0 }
    if (a.ready) {
      const logp = logTail(s, a.score, p.tail)
      // what the inner detector calls small (a raw score under 3: a change under the metric's minimum, one
      // quantum) stays small however steady the series was: below 3 the calibrated score is at most the raw one
      const calibrated = Math.max(0, zFromLogTail(logp))
      next.z = a.score < MIN_CHANGE_SCORE ? Math.min(calibrated, a.score) : calibrated
      next.logp = logp
    }
    cached = next
    return next
  }
  const score = (s: State, x: In, time: number): Verdict.Assessment => {
    if (!inner.accepts(x)) return rejected
    const { a, z, logp } = assess(s, x, time)
    if (!a.ready) return { ...a, score: 0, ready: false }
    const ready = s.seen >= p.minHistory
    if (!ready || z < MIN_CHANGE_SCORE) return { score: z, expected: a.expected, lower: a.lower, upper: a.upper, ready }
    return {
      score: z,
      expected: a.expected,
      lower: a.lower,
      upper: a.upper,
      ready,
      reason: `${inner.name} score ${fmt(a.score)} is rarer than 1 in ${fmt(Math.round(Math.exp(-logp)))} for this series${a.reason === undefined ? "" : ` (${a.reason})`}`
    }
  }
  // runs declustering: a point of an exceedance run (above the tail threshold, or judged anomalous) only raises the
  // run's maximum; the first point after the run learns that maximum, once, and then itself
  const learnScore = (s: State, x: In, time: number, anomalous: boolean): Verdict.Assessment => {
    const { a } = assess(s, x, time)
    cached = undefined
    if (!a.ready || !Number.isFinite(a.score)) return a
    const exceeds = anomalous || a.score > tailThreshold(s, p.tail)
    if (exceeds && s.runLength < p.clusterLength) {
      if (a.score > s.run) s.run = a.score
      s.runLength++
      return a
    }
    if (s.run > 0) {
      addScore(s, s.run)
      s.run = 0
    }
    // a run longer than `clusterLength` stays "in progress" (so it is not counted again) but learns point by point
    s.runLength = exceeds ? s.runLength + 1 : 0
    addScore(s, a.score)
    return a
  }
  const learn = (s: State, x: In, time: number): State => {
    if (!inner.accepts(x)) return s
    learnScore(s, x, time, false)
    s.inner = inner.learn(s.inner, x, time)
    return s
  }
  const learnAnomaly = (s: State, x: In, time: number): State => {
    if (!inner.accepts(x)) return s
    const a = learnScore(s, x, time, true)
    if (inner.learnAnomalies) s.inner = inner.learn(s.inner, x, time)
    else if (inner.learnAnomaly !== undefined) s.inner = inner.learnAnomaly(s.inner, x, time, a)
    return s
  }
  // the bins are encoded as float32 (base64 of their bytes), as they are held. Also decoded: float64 bins (base64,
  // or the number arrays of earlier versions, whose bins were renormalised only beyond 1e100 and may exceed the
  // float32 range: renormalised first, then rounded to float32)
  const binCount = Schema.makeFilter(
    (bins: Float32Array | Float64Array) => bins.length === BINS || `expected ${BINS} bins, got ${bins.length}`
  )
  const state = Schema.Struct({
    inner: inner.state,
    bins: Schema.Union([Detector.Float32ArrayState.check(binCount), Detector.Float64ArrayState.check(binCount)]),
    total: Schema.Number,
    weight: Schema.Finite.check(Schema.isGreaterThan(0)),
    seen: Schema.Number,
    run: Schema.Number,
    runLength: Schema.Number
  }).pipe(
    Schema.decodeTo(
      Schema.declare((u: unknown): u is State => typeof u === "object" && u !== null && "bins" in u, {
        expected: "a calibrated state"
      }),
      SchemaTransformation.transform({
        decode: (e): State => {
          const wide = { bins: e.bins, total: e.total, weight: e.weight }
          if (wide.weight > RENORMALISE) renormalise(wide)
          return { ...e, bins: Slab.float32From(wide.bins), total: wide.total, weight: wide.weight }
        },
        encode: (s) => s
      })
    )
  ) as unknown as Schema.Codec<State, unknown>
  return Detector.make<State, In>({
    name: `${name}(${inner.name})`,
    params: {
      detector: inner.name,
      ...inner.params,
      memory: p.memory,
      tail: p.tail,
      minHistory: p.minHistory,
      prior: p.prior,
      clusterLength: p.clusterLength
    },
    minSamples: inner.minSamples + p.minHistory,
    adapt: learnAnomaly,
    state,
    initial: () => ({
      inner: inner.initial(),
      bins: Slab.float32From(priorBins, (m) => m * p.prior),
      total: p.prior,
      weight: 1,
      seen: 0,
      run: 0,
      runLength: 0
    }),
    score,
    learn,
    accepts: inner.accepts
  })
}

/**
 * The laws this detector claims (see `@llm-sentinel/detectors/testing`).
 *
 * @category testing
 * @since 0.2.0
 */
export const claims: LawClaims<Params> = {
  adapts: { size: 10, within: 200 },
  shiftInvariant: true,
  scaleInvariant: true,
  monotonic: true,
  // calibrated on ~100 raw scores of the test's warm-up, whose top 10% carry the fitted tail
  sensitivity: { kind: "spike", size: 16 },
  maxStateBytes: 4096,
  // a monotone inner detector, so that the calibrated score's monotonicity is what is tested
  testParams: { detector: ZScore.make({ window: 64, minSamples: 20 }), minHistory: 100, tail: 0.1 }
}
