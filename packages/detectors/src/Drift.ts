/**
 * Distribution drift: compares the distribution of the most recent `window` points with the `reference` points
 * before them, by the Kolmogorov–Smirnov statistic and the population stability index (PSI).
 *
 * Both windows slide and are kept sorted (binary insertion), so each point costs one merge walk over the two
 * windows (O(reference + window)). The point being scored is counted in the current window. Scores are mapped to
 * the σ scale through their null distributions and the normal quantile of the resulting tail probability:
 * KS: `p = Q_KS(√n_e·D)` (Kolmogorov's asymptotic distribution with Stephens' correction,
 * `n_e = n_ref·n_cur/(n_ref + n_cur)`), `z_KS = Φ⁻¹(1 − p)`; PSI over `bins` reference-quantile bins (counts
 * smoothed by 0.5): `n_e·PSI` is approximately χ² with `bins − 1` degrees of freedom, turned into `z_PSI` by the
 * Wilson–Hilferty transform. Score: `max(0, z_KS, z_PSI)` (4 = warning, p ≈ 3·10⁻⁵). A PSI of 0.25 (the usual
 * "significant shift") with the default windows is a score of about 3.6.
 *
 * `expected` is the reference median, and `lower`/`upper` the reference's 0.5% and 99.5% quantiles: drift is a
 * property of many points, so no single value has a bound. Both tests are rank-based, hence shift- and
 * scale-invariant. Consecutive windows overlap, so scores are strongly autocorrelated and a drift fires for
 * several points in a row.
 *
 * Adaptation (`anomalies: "learn"`, the default): every point is learned, so both windows slide on through a
 * lasting change; once the reference holds only the new regime (about `reference + window` points after it
 * started) the distributions agree again and the detector is quiet.
 *
 * @since 0.1.0
 */
import { Detector, Slab, type Verdict } from "@llm-sentinel/core"
import { Schema } from "effect"
import {
  type Anomalies,
  AnomaliesSchema,
  adaptOptions,
  decodeParams,
  fmt,
  insertSorted,
  NonNegativeInt,
  PositiveInt,
  quantile,
  rejected,
  removeSorted,
  squash,
  upperBound,
  zFromLogTail
} from "./internal.ts"
import type { LawClaims } from "./testing/Claims.ts"

/**
 * @category models
 * @since 0.1.0
 */
export const name = "drift"

/**
 * @category models
 * @since 0.1.0
 */
export interface Params {
  /** Points in the reference window, just before the current one (count). Default 200. */
  readonly reference: number
  /** Points in the current window, including the scored point (count). Default 50. */
  readonly window: number
  /** Reference-quantile bins of the PSI (count, 2 to 50). Default 10. */
  readonly bins: number
  /** Points to learn before the detector may fire (count); never less than `reference + window − 1`. Default 0. */
  readonly minSamples: number
  /** How points judged anomalous are learned: `"learn"` in full, `"clip"` to the band, `"skip"`. Default `"learn"`. */
  readonly anomalies: Anomalies
}

/**
 * @category models
 * @since 0.1.0
 */
export const defaults: Params = { reference: 200, window: 50, bins: 10, minSamples: 0, anomalies: "learn" }

/**
 * Validates a (partial) configuration.
 *
 * @category models
 * @since 0.1.0
 */
export const ParamsSchema: Schema.Codec<Partial<Params>, unknown> = Schema.Struct({
  reference: Schema.optionalKey(
    PositiveInt.check(Schema.isGreaterThanOrEqualTo(5), Schema.isLessThanOrEqualTo(100_000))
  ),
  window: Schema.optionalKey(PositiveInt.check(Schema.isGreaterThanOrEqualTo(5), Schema.isLessThanOrEqualTo(100_000))),
  bins: Schema.optionalKey(PositiveInt.check(Schema.isGreaterThanOrEqualTo(2), Schema.isLessThanOrEqualTo(50))),
  minSamples: Schema.optionalKey(NonNegativeInt),
  anomalies: Schema.optionalKey(AnomaliesSchema)
})

/**
 * The last `reference + window − 1` points in arrival order, and the two windows sorted; updated in place.
 *
 * @category models
 * @since 0.1.0
 */
export interface State {
  readonly ring: Float64Array<ArrayBuffer>
  readonly ref: Float64Array<ArrayBuffer>
  readonly cur: Float64Array<ArrayBuffer>
  /** Points learned in total. */
  n: number
  /** The ring slot the next point goes to. */
  pos: number
  refLen: number
  curLen: number
}

const StateSchema = Schema.Struct({
  ring: Detector.Float64ArrayState,
  ref: Detector.Float64ArrayState,
  cur: Detector.Float64ArrayState,
  n: Schema.Number,
  pos: Schema.Number,
  refLen: Schema.Number,
  curLen: Schema.Number
})

/** P(K > λ) for Kolmogorov's distribution, as a natural log. */
const logKolmogorovTail = (lambda: number): number => {
  if (lambda <= 0.2) return 0
  const l2 = lambda * lambda
  if (lambda < 1.5) {
    let sum = 0
    for (let j = 1; j <= 100; j++) {
      const term = Math.exp(-2 * j * j * l2)
      sum += j % 2 === 1 ? term : -term
      if (term < 1e-17) break
    }
    return Math.log(Math.min(1, Math.max(2 * sum, Number.MIN_VALUE)))
  }
  return Math.LN2 - 2 * l2 + Math.log1p(-Math.exp(-6 * l2))
}

/** Standard normal z of a χ² statistic with `k` degrees of freedom (Wilson–Hilferty). */
const chiSquareZ = (x: number, k: number): number => {
  const v = 2 / (9 * k)
  return (Math.cbrt(x / k) - (1 - v)) / Math.sqrt(v)
}

/**
 * The drift statistics of a reference sample against a current sample (both sorted), with an optional extra
 * point counted in the current sample.
 */
const statistics = (
  ref: Float64Array,
  n1: number,
  cur: Float64Array,
  curLen: number,
  x: number,
  bins: number
): { readonly ks: number; readonly psi: number; readonly zKs: number; readonly zPsi: number } => {
  const n2 = curLen + 1
  const ix = upperBound(cur, curLen, x)
  const curAt = (j: number): number => (j < ix ? cur[j]! : j === ix ? x : cur[j - 1]!)
  // Kolmogorov–Smirnov: walk both samples in order, stepping over ties together
  let i = 0
  let j = 0
  let d = 0
  while (i < n1 && j < n2) {
    const a = ref[i]!
    const b = curAt(j)
    const v = Math.min(a, b)
    while (i < n1 && ref[i]! === v) i++
    while (j < n2 && curAt(j) === v) j++
    const diff = Math.abs(i / n1 - j / n2)
    if (diff > d) d = diff
  }
  const ne = (n1 * n2) / (n1 + n2)
  const sq = Math.sqrt(ne)
  const zKs = zFromLogTail(logKolmogorovTail((sq + 0.12 + 0.11 / sq) * d))
  // PSI over reference-quantile bins (e_{k−1}, e_k]
  let psi = 0
  let prevRef = 0
  let prevCur = 0
  for (let k = 1; k <= bins; k++) {
    let cRef: number
    let cCur: number
    if (k === bins) {
      cRef = n1
      cCur = n2
    } else {
      const edge = quantile(ref, n1, k / bins)
      cRef = upperBound(ref, n1, edge)
      cCur = upperBound(cur, curLen, edge) + (x <= edge ? 1 : 0)
    }
    const p = (cRef - prevRef + 0.5) / (n1 + 0.5 * bins)
    const q = (cCur - prevCur + 0.5) / (n2 + 0.5 * bins)
    psi += (q - p) * Math.log(q / p)
    prevRef = cRef
    prevCur = cCur
  }
  const zPsi = psi > 0 ? chiSquareZ(ne * psi, bins - 1) : 0
  return { ks: d, psi, zKs, zPsi }
}

/**
 * Creates a distribution drift detector (Kolmogorov–Smirnov and PSI).
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { Drift } from "@llm-sentinel/detectors"
 * const detector = Drift.make({ reference: 500, window: 100 })
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = (params?: Partial<Params>): Detector.Detector<State, number> => {
  const p = decodeParams(ParamsSchema, defaults, params)
  const r = p.reference
  const w = p.window
  const cap = r + w - 1
  const minSamples = Math.max(p.minSamples, cap)
  const score = (s: State, x: number): Verdict.Assessment => {
    if (!Number.isFinite(x)) return rejected
    if (s.refLen < 2) return { score: 0, expected: Number.NaN, lower: Number.NaN, upper: Number.NaN, ready: false }
    const st = statistics(s.ref, s.refLen, s.cur, s.curLen, x, p.bins)
    const result = squash(Math.max(st.zKs, st.zPsi))
    const expected = quantile(s.ref, s.refLen, 0.5)
    const lower = quantile(s.ref, s.refLen, 0.005)
    const upper = quantile(s.ref, s.refLen, 0.995)
    const ready = s.n >= minSamples
    if (result < 4) return { score: result, expected, lower, upper, ready }
    return {
      score: result,
      expected,
      lower,
      upper,
      ready,
      reason: `distribution drift: KS D=${fmt(st.ks)} (z ${fmt(st.zKs)}), PSI ${fmt(st.psi)} (z ${fmt(st.zPsi)}) over the last ${
        s.curLen + 1
      } points against the ${s.refLen} before`
    }
  }
  const learn = (s: State, x: number): State => {
    if (!Number.isFinite(x)) return s
    const held = Math.min(s.n, cap)
    if (s.curLen === w - 1) {
      // the oldest point of the current window moves to the reference window
      const mover = s.ring[(s.pos - (w - 1) + cap) % cap]!
      removeSorted(s.cur, s.curLen, mover)
      s.curLen--
      if (held === cap) {
        removeSorted(s.ref, s.refLen, s.ring[s.pos]!)
        s.refLen--
      }
      insertSorted(s.ref, s.refLen, mover)
      s.refLen++
    }
    insertSorted(s.cur, s.curLen, x)
    s.curLen++
    s.ring[s.pos] = x
    s.pos = s.pos + 1 === cap ? 0 : s.pos + 1
    s.n++
    return s
  }
  return Detector.make<State>({
    name,
    params: { ...p },
    minSamples,
    ...adaptOptions(p.anomalies),
    state: StateSchema,
    initial: () => ({
      ring: Slab.float64(cap),
      ref: Slab.float64(r),
      cur: Slab.float64(w - 1),
      n: 0,
      pos: 0,
      refLen: 0,
      curLen: 0
    }),
    score,
    learn
  })
}

/**
 * The laws this detector claims (see `@llm-sentinel/detectors/testing`).
 *
 * @category testing
 * @since 0.1.0
 */
export const claims: LawClaims<Params> = {
  adapts: { size: 10, within: 400 },
  shiftInvariant: true,
  scaleInvariant: true,
  sensitivity: { kind: "step", size: 3, within: 20 },
  maxStateBytes: 8192,
  testParams: { reference: 60, window: 20, bins: 5 }
}
