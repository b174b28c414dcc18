/**
 * Online Half-Space Trees (Tan, Ting & Liu, 2011) over a vector input, e.g. `[latency, tokens, cost, errors]`:
 * a point is anomalous when it falls where few recent points fell, in any combination of dimensions.
 *
 * Each of `trees` random trees halves a randomly chosen dimension at every level down to `height`, over a work
 * space randomly stretched around the unit cube. Inputs are normalised by the per-dimension minimum and maximum of
 * the first `window` points (then frozen). Each node counts the points of the last complete window (reference
 * mass `r`) and of the window being filled (`l`); at the end of each window `l` becomes `r`. The raw anomaly of a
 * point is `−mean over trees of log₂((r_node + 1)·2^depth / window)` (a geometric mean, so that the few
 * trees that isolate a point are not drowned by the others), where `node` is the deepest node on its path
 * whose reference mass is at least `sizeLimit·window`. Raw anomalies have a heavy, discrete right tail, so they
 * are calibrated by peaks over threshold: over the last `calibration` learned raw anomalies (a sorted ring), the
 * tail beyond their 90% quantile `u` is fitted by an exponential with the mean excess `β` (at least 0.05), giving
 * `p = 0.1·exp(−(a − u)/β)` above `u` and the empirical tail fraction below it. Score: the normal quantile of
 * that tail probability, `max(0, Φ⁻¹(1 − p))`, in σ units (4 = warning, p ≈ 3·10⁻⁵). `expected`, `lower` and
 * `upper` are in raw-anomaly units (the median, the least anomalous and the warning bound), since a vector has
 * no single expected value.
 *
 * Deterministic: the tree structure is derived from `seed` and the input dimension by a small PRNG (mulberry32),
 * never `Math.random`, so only masses and statistics live in the state (`trees·(2^(height+1) − 1)·2` counts).
 * Warm-up: `window` points for the ranges, `window` more for the first reference mass, then 20 for the
 * calibration.
 *
 * Adaptation (`anomalies: "learn"`, the default): anomalous points are counted into the latest mass window too,
 * so after a lasting change the next reference windows describe the new regime and it is quiet again within
 * about two windows.
 *
 * @since 0.1.0
 */
import { Detector, type Verdict } from "@llm-sentinel/core"
import { Schema } from "effect"
import {
  type Anomalies,
  AnomaliesSchema,
  adaptOptions,
  decodeParams,
  fmt,
  lowerBound,
  NonNegativeInt,
  PositiveInt,
  quantile,
  rejected,
  type SortedWindow,
  squash,
  TINY,
  UnitInterval,
  upperBound,
  WARNING,
  windowPush,
  zFromLogTail
} from "./internal.ts"
import type { LawClaims } from "./testing/Claims.ts"

/**
 * @category models
 * @since 0.1.0
 */
export const name = "half-space-trees"

/**
 * @category models
 * @since 0.1.0
 */
export interface Params {
  /** Number of trees (count). Default 24. */
  readonly trees: number
  /** Depth of each tree (levels, 1 to 12). Default 6. */
  readonly height: number
  /** Points per mass window (count), also the points used to learn the ranges. Default 250. */
  readonly window: number
  /** A node is deep enough to score when its reference mass is below this fraction of the window. Default 0.02. */
  readonly sizeLimit: number
  /** Raw anomalies kept to calibrate the score (count). Default 256. */
  readonly calibration: number
  /** Seed of the tree structure (integer). Default 1. */
  readonly seed: number
  /** Points to learn before the detector may fire (count); never less than `2·window + 20`. Default 0. */
  readonly minSamples: number
  /** How points judged anomalous are learned: `"learn"` in full, `"clip"` to the band, `"skip"`. Default `"learn"`. */
  readonly anomalies: Anomalies
}

/**
 * @category models
 * @since 0.1.0
 */
export const defaults: Params = {
  trees: 24,
  height: 6,
  window: 250,
  sizeLimit: 0.02,
  calibration: 256,
  seed: 1,
  minSamples: 0,
  anomalies: "learn"
}

/**
 * Validates a (partial) configuration.
 *
 * @category models
 * @since 0.1.0
 */
export const ParamsSchema: Schema.Codec<Partial<Params>, unknown> = Schema.Struct({
  trees: Schema.optionalKey(PositiveInt.check(Schema.isLessThanOrEqualTo(256))),
  height: Schema.optionalKey(PositiveInt.check(Schema.isLessThanOrEqualTo(12))),
  window: Schema.optionalKey(PositiveInt.check(Schema.isGreaterThanOrEqualTo(10), Schema.isLessThanOrEqualTo(1e7))),
  sizeLimit: Schema.optionalKey(UnitInterval),
  calibration: Schema.optionalKey(
    PositiveInt.check(Schema.isGreaterThanOrEqualTo(20), Schema.isLessThanOrEqualTo(100_000))
  ),
  seed: Schema.optionalKey(Schema.Int),
  minSamples: Schema.optionalKey(NonNegativeInt),
  anomalies: Schema.optionalKey(AnomaliesSchema)
})

/**
 * Ranges, masses and score statistics, updated in place by `learn`.
 *
 * @category models
 * @since 0.1.0
 */
export interface State {
  /** Input dimension (0 until the first point). */
  dims: number
  /** Points learned. */
  n: number
  min: Float64Array<ArrayBuffer>
  max: Float64Array<ArrayBuffer>
  /** Reference masses, `trees × nodes`. */
  readonly ref: Float64Array<ArrayBuffer>
  /** Masses of the window being filled. */
  readonly latest: Float64Array<ArrayBuffer>
  /** Points in the window being filled. */
  fill: number
  /** The last raw anomalies of learned points, in arrival order and sorted. */
  readonly calibration: SortedWindow
}

const StateSchema = Schema.Struct({
  dims: Schema.Number,
  n: Schema.Number,
  min: Detector.Float64ArrayState,
  max: Detector.Float64ArrayState,
  ref: Detector.Float64ArrayState,
  latest: Detector.Float64ArrayState,
  fill: Schema.Number,
  calibration: Schema.Struct({
    ring: Detector.Float64ArrayState,
    sorted: Detector.Float64ArrayState,
    count: Schema.Number,
    pos: Schema.Number
  })
})

/** ln P(Z > 4): the tail probability at the warning score. */
const LOG_TAIL_WARNING = Math.log(3.167124183311998e-5)

const mulberry32 = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Structure {
  /** The dimension each node splits, `trees × nodes`. */
  readonly split: Int32Array
  /** Each tree's work space, `trees × dims` lower and upper ends. */
  readonly lo: Float64Array
  readonly hi: Float64Array
}

const isVector = (input: ReadonlyArray<number>): boolean => {
  if (!Array.isArray(input) || input.length === 0) return false
  for (let i = 0; i < input.length; i++) if (!Number.isFinite(input[i])) return false
  return true
}

/**
 * Creates a Half-Space Trees detector over vectors.
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { HalfSpaceTrees } from "@llm-sentinel/detectors"
 * const detector = HalfSpaceTrees.make({ seed: 42 })
 * // inputs: [latency ms, tokens, cost, error 0/1]
 * const { verdicts } = Detector.run(detector, [[512, 300, 0.002, 0], [530, 310, 0.002, 0]])
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = (params?: Partial<Params>): Detector.Detector<State, ReadonlyArray<number>> => {
  const p = decodeParams(ParamsSchema, defaults, params)
  const { trees, height, window } = p
  const nodes = 2 ** (height + 1) - 1
  const limit = p.sizeLimit * window
  const minSamples = Math.max(p.minSamples, 2 * window + 20)
  // the structure depends only on (seed, dims): built once per dimension, outside the state
  const structures = new Map<number, Structure>()
  const structureOf = (dims: number): Structure => {
    let st = structures.get(dims)
    if (st === undefined) {
      const rand = mulberry32(p.seed ^ Math.imul(dims, 0x9e3779b1))
      const split = new Int32Array(trees * nodes)
      const lo = new Float64Array(trees * dims)
      const hi = new Float64Array(trees * dims)
      for (let t = 0; t < trees; t++) {
        for (let q = 0; q < dims; q++) {
          const s = rand()
          const half = 2 * Math.max(s, 1 - s)
          lo[t * dims + q] = s - half
          hi[t * dims + q] = s + half
        }
        for (let k = 0; k < nodes; k++) split[t * nodes + k] = Math.floor(rand() * dims)
      }
      st = { split, lo, hi }
      structures.set(dims, st)
    }
    return st
  }
  let z = new Float64Array(0)
  let lo = new Float64Array(0)
  let hi = new Float64Array(0)
  const normalise = (s: State, x: ReadonlyArray<number>): void => {
    if (z.length < s.dims) {
      z = new Float64Array(s.dims)
      lo = new Float64Array(s.dims)
      hi = new Float64Array(s.dims)
    }
    for (let q = 0; q < s.dims; q++) {
      const range = s.max[q]! - s.min[q]!
      z[q] = (x[q]! - s.min[q]!) / Math.max(range, 1e-9 * Math.abs(s.min[q]!), TINY)
    }
  }
  /** Walks tree `t` for the normalised point; `mass` counts visits when given, else returns the leaf's weight. */
  const walk = (s: State, st: Structure, t: number, mass: Float64Array | undefined): number => {
    const d = s.dims
    for (let q = 0; q < d; q++) {
      lo[q] = st.lo[t * d + q]!
      hi[q] = st.hi[t * d + q]!
    }
    const base = t * nodes
    let node = 0
    let depth = 0
    while (true) {
      if (mass !== undefined) mass[base + node]! += 1
      else if (s.ref[base + node]! < limit) break
      if (depth === height) break
      const q = st.split[base + node]!
      const mid = (lo[q]! + hi[q]!) / 2
      if (z[q]! < mid) {
        hi[q] = mid
        node = 2 * node + 1
      } else {
        lo[q] = mid
        node = 2 * node + 2
      }
      depth++
    }
    return (s.ref[base + node]! + 1) * 2 ** depth
  }
  const rawAnomaly = (s: State, x: ReadonlyArray<number>): number => {
    const st = structureOf(s.dims)
    normalise(s, x)
    let sum = 0
    for (let t = 0; t < trees; t++) sum += Math.log2(walk(s, st, t, undefined))
    return Math.log2(window) - sum / trees
  }
  const score = (s: State, x: ReadonlyArray<number>): Verdict.Assessment => {
    if (!isVector(x) || (s.dims !== 0 && x.length !== s.dims)) return rejected
    const c = s.calibration
    if (s.n < 2 * window || c.count < 10)
      return { score: 0, expected: Number.NaN, lower: Number.NaN, upper: Number.NaN, ready: false }
    const a = rawAnomaly(s, x)
    const sorted = c.sorted
    const u = quantile(sorted, c.count, 0.9)
    const above = upperBound(sorted, c.count, u)
    let excess = 0
    for (let i = above; i < c.count; i++) excess += sorted[i]! - u
    const beta = Math.max(above < c.count ? excess / (c.count - above) : 0, 0.05)
    const logp =
      a > u ? Math.log(0.1) - (a - u) / beta : Math.log((c.count - lowerBound(sorted, c.count, a) + 1) / (c.count + 1))
    const result = squash(zFromLogTail(logp))
    const expected = quantile(sorted, c.count, 0.5)
    const lower = sorted[0]!
    const upper = u + beta * (Math.log(0.1) - LOG_TAIL_WARNING)
    const ready = s.n >= minSamples
    if (result < WARNING) return { score: result, expected, lower, upper, ready }
    return {
      score: result,
      expected,
      lower,
      upper,
      ready,
      reason: `point in a sparse region: anomaly ${fmt(a)} beyond the usual ${fmt(expected)} (tail p ${fmt(Math.exp(logp))})`
    }
  }
  const learn = (s: State, x: ReadonlyArray<number>): State => {
    if (!isVector(x) || (s.dims !== 0 && x.length !== s.dims)) return s
    if (s.dims === 0) {
      s.dims = x.length
      s.min = Float64Array.from(x)
      s.max = Float64Array.from(x)
    }
    if (s.n < window) {
      for (let q = 0; q < s.dims; q++) {
        if (x[q]! < s.min[q]!) s.min[q] = x[q]!
        if (x[q]! > s.max[q]!) s.max[q] = x[q]!
      }
      s.n++
      return s
    }
    if (s.n >= 2 * window) windowPush(s.calibration, rawAnomaly(s, x))
    const st = structureOf(s.dims)
    normalise(s, x)
    for (let t = 0; t < trees; t++) walk(s, st, t, s.latest)
    s.fill++
    if (s.fill === window) {
      s.ref.set(s.latest)
      s.latest.fill(0)
      s.fill = 0
    }
    s.n++
    return s
  }
  return Detector.make<State, ReadonlyArray<number>>({
    name,
    params: { ...p },
    minSamples,
    ...adaptOptions(p.anomalies),
    state: StateSchema,
    initial: () => ({
      dims: 0,
      n: 0,
      min: new Float64Array(0),
      max: new Float64Array(0),
      ref: new Float64Array(trees * nodes),
      latest: new Float64Array(trees * nodes),
      fill: 0,
      calibration: {
        ring: new Float64Array(p.calibration),
        sorted: new Float64Array(p.calibration),
        count: 0,
        pos: 0
      }
    }),
    score,
    learn,
    accepts: isVector
  })
}

/** For the laws: a lag embedding `[x_i, x_{i−1}]` of the base series (non-finite points stay non-finite). */
const lagPairs = (series: ReadonlyArray<number>): ReadonlyArray<ReadonlyArray<number>> =>
  series.map((x, i) => [x, i > 0 && Number.isFinite(series[i - 1]!) ? series[i - 1]! : x])

/**
 * The laws this detector claims (see `@llm-sentinel/detectors/testing`).
 *
 * @category testing
 * @since 0.1.0
 */
export const claims: LawClaims<Params, ReadonlyArray<number>> = {
  adapts: { size: 10, within: 600 },
  input: lagPairs,
  // masses are counts over a random partition: the score is a step function of the probe, and the ranges come
  // from the first window only, so no shift, scale, monotonicity or sensitivity claims
  maxStateBytes: 16_384,
  testParams: { trees: 8, height: 5, window: 30, calibration: 50 }
}
