// Tests the law suite itself: a well-behaved reference detector (Welford z-score) passes every law, over numbers
// and over vectors, and for each law a detector with one deliberate defect is caught by that law.
import { Detector } from "@llm-sentinel/core"
import { Schema } from "effect"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  checkDetector,
  claimedLaws,
  isDetectorModule,
  type LawClaims,
  type LawName,
  LawViolation,
  runLaws,
  selectLaws,
  universalLaws
} from "../src/testing/index.ts"

const MIN = 10

interface W {
  n: number
  mean: number
  m2: number
}

const WState = Schema.Struct({ n: Schema.Number, mean: Schema.Number, m2: Schema.Number })

const sdOf = (s: W): number => (s.n > 1 ? Math.sqrt(Math.max(s.m2, 0) / (s.n - 1)) : 0)

/** |x - mean| / sd, capped; a flat history scores 0 on its own value and the cap on anything else. */
const zOf = (s: W, x: number): number => {
  const sd = sdOf(s)
  const d = Math.abs(x - s.mean)
  return sd > 0 ? Math.min(d / sd, 1e6) : d === 0 ? 0 : 1e6
}

const assess = (s: W, score: number) => {
  const sd = sdOf(s)
  return { score, expected: s.mean, lower: s.mean - 4 * sd, upper: s.mean + 4 * sd, ready: s.n >= MIN }
}

const learnW = (s: W, x: number): W => {
  const n = s.n + 1
  const d = x - s.mean
  const mean = s.mean + d / n
  return { n, mean, m2: s.m2 + d * (x - mean) }
}

/** The reference: a Welford z-score over all points (anomalous ones too, so a lasting step becomes normal). */
const welford = Detector.make<W>({
  name: "welford",
  minSamples: MIN,
  learnAnomalies: true,
  state: WState,
  initial: () => ({ n: 0, mean: 0, m2: 0 }),
  score: (s, x) => assess(s, zOf(s, x)),
  learn: learnW
})

const welfordClaims: LawClaims = {
  shiftInvariant: true,
  scaleInvariant: true,
  monotonic: true,
  sensitivity: { kind: "spike", size: 6 },
  // the step's share of all points learned grows until its own spread hides it: about 5% of the history for 10σ
  adapts: { size: 10, within: 50 }
}

/** The same over vectors: the z-score of the coordinates' mean. */
const meanOf = (v: ReadonlyArray<number>): number => v.reduce((a, b) => a + b, 0) / v.length
const vectorWelford = Detector.make<W, ReadonlyArray<number>>({
  name: "vector-welford",
  minSamples: MIN,
  learnAnomalies: true,
  state: WState,
  initial: () => ({ n: 0, mean: 0, m2: 0 }),
  score: (s, v) => assess(s, zOf(s, meanOf(v))),
  learn: (s, v) => learnW(s, meanOf(v))
})
const vectorClaims: LawClaims<Readonly<Record<string, unknown>>, ReadonlyArray<number>> = {
  ...welfordClaims,
  // the dimension is drawn (and shrunk) by fast-check
  input: fc
    .integer({ min: 1, max: 4 })
    .map((dim) => (series: ReadonlyArray<number>) => series.map((x) => new Array<number>(dim).fill(x)))
}

describe("reference detectors pass every law", () => {
  runLaws(it, welford, welfordClaims)
  runLaws(it, vectorWelford, vectorClaims)

  it("checkDetector reports every law as ok", () => {
    const results = checkDetector(welford, welfordClaims, { numRuns: 20 })
    expect(results.map((r) => r.law).sort()).toEqual([...universalLaws, ...claimedLaws].sort())
    expect(results.filter((r) => !r.ok)).toEqual([])
  })
})

/** Runs one law and asserts that it fails with a law violation whose message matches. */
const expectCaught = <S, In>(
  law: LawName,
  detector: Detector.Detector<S, In> | (() => Detector.Detector<S, In>),
  claims: LawClaims<Record<string, unknown>, In>,
  message: RegExp
): void => {
  const [result] = checkDetector(detector, claims, { only: [law] })
  expect(result?.law).toBe(law)
  expect(result?.ok).toBe(false)
  expect(result?.error).toBeInstanceOf(LawViolation)
  expect(String((result?.error as Error | undefined)?.message)).toMatch(message)
}

/** A Welford variant with one defect. */
const variant = (overrides: Partial<Parameters<typeof Detector.make<W>>[0]>) =>
  Detector.make<W>({
    name: "broken",
    minSamples: MIN,
    state: WState,
    initial: () => ({ n: 0, mean: 0, m2: 0 }),
    score: (s, x) => assess(s, zOf(s, x)),
    learn: learnW,
    ...overrides
  })

describe("each law catches a detector that breaks it", () => {
  it("determinism: a score dithered with Math.random", () => {
    const d = variant({ score: (s, x) => assess(s, zOf(s, x) + Math.random() * 1e-9) })
    expectCaught("determinism", d, {}, /verdicts differ/)
  })

  it("totality: throws on a finite input (log of a non-positive value)", () => {
    const d = variant({
      score: (s, x) => {
        if (x <= 0) throw new Error("log of a non-positive value")
        return assess(s, zOf(s, x))
      }
    })
    expectCaught("totality", d, {}, /threw at point/)
  })

  it("totality: accepts NaN, which poisons the running mean", () => {
    expectCaught("totality", variant({ accepts: () => true }), {}, /non-finite|changed/)
  })

  it("totality: a signed (negative) score", () => {
    const d = variant({ score: (s, x) => assess(s, sdOf(s) > 0 ? (x - s.mean) / sdOf(s) : 0) })
    expectCaught("totality", d, {}, /must be finite and >= 0/)
  })

  it("totality: an infinite score after a flat stretch (no floor on sigma)", () => {
    const d = variant({ score: (s, x) => assess(s, s.n > 1 ? Math.abs(x - s.mean) / sdOf(s) || 0 : 0) })
    expectCaught("totality", d, {}, /is Infinity/)
  })

  it("noStateMutation: score caches into the state", () => {
    interface C extends W {
      last: number
    }
    const d = Detector.make<C>({
      name: "caching",
      minSamples: MIN,
      state: Schema.Struct({ n: Schema.Number, mean: Schema.Number, m2: Schema.Number, last: Schema.Number }),
      initial: () => ({ n: 0, mean: 0, m2: 0, last: 0 }),
      score: (s, x) => {
        s.last = x
        return assess(s, zOf(s, x))
      },
      learn: (s, x) => ({ ...learnW(s, x), last: s.last })
    })
    expectCaught("noStateMutation", d, {}, /score mutated the state/)
  })

  it("noInputMutation: learn sorts the input vector in place to take its median", () => {
    const median = (v: Array<number>) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)]!
    const d = Detector.make<W, Array<number>>({
      name: "sorting",
      minSamples: MIN,
      state: WState,
      initial: () => ({ n: 0, mean: 0, m2: 0 }),
      score: (s, v) => assess(s, zOf(s, [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!)),
      learn: (s, v) => learnW(s, median(v))
    })
    const claims: LawClaims<Record<string, unknown>, Array<number>> = {
      input: (series) => series.map((x) => [x, -x, x / 2])
    }
    expectCaught("noInputMutation", d, claims, /stepping mutated the input/)
  })

  it("warmUp: ready after 2 points while declaring minSamples 10", () => {
    const d = variant({ score: (s, x) => ({ ...assess(s, zOf(s, x)), ready: s.n >= 2 }) })
    expectCaught("warmUp", d, {}, /after \d learned points \(minSamples 10\)/)
  })

  it("quietOnConstant: a mean from a running sum, whose rounding fires on a flat line", () => {
    interface P {
      n: number
      sum: number
      sumSq: number
    }
    const d = Detector.make<P>({
      name: "sums",
      minSamples: MIN,
      state: Schema.Struct({ n: Schema.Number, sum: Schema.Number, sumSq: Schema.Number }),
      initial: () => ({ n: 0, sum: 0, sumSq: 0 }),
      score: (s, x) => {
        const mean = s.n > 0 ? s.sum / s.n : 0
        const sd = s.n > 0 ? Math.sqrt(Math.max(s.sumSq / s.n - mean * mean, 0)) : 0
        const score = Math.min(Math.abs(x - mean) / Math.max(sd, 1e-300), 1e6)
        return { score, expected: mean, lower: mean - 4 * sd, upper: mean + 4 * sd, ready: s.n >= MIN }
      },
      learn: (s, x) => ({ n: s.n + 1, sum: s.sum + x, sumSq: s.sumSq + x * x })
    })
    expectCaught("quietOnConstant", d, {}, /of the constant series .* fired/)
  })

  it("snapshotRestore: an initial maximum of -Infinity, which JSON turns into null", () => {
    interface M extends W {
      max: number
    }
    const d = Detector.make<M>({
      name: "max",
      minSamples: MIN,
      state: Schema.Struct({ n: Schema.Number, mean: Schema.Number, m2: Schema.Number, max: Schema.Number }),
      initial: () => ({ n: 0, mean: 0, m2: 0, max: Number.NEGATIVE_INFINITY }),
      score: (s, x) => assess(s, zOf(s, x)),
      learn: (s, x) => ({ ...learnW(s, x), max: Math.max(s.max, x) })
    })
    expectCaught("snapshotRestore", d, {}, /does not restore/)
  })

  it("boundedState: keeps every point it has seen", () => {
    interface H extends W {
      history: Array<number>
    }
    const d = Detector.make<H>({
      name: "history",
      minSamples: MIN,
      state: Schema.Struct({
        n: Schema.Number,
        mean: Schema.Number,
        m2: Schema.Number,
        history: Schema.mutable(Schema.Array(Schema.Number))
      }),
      initial: () => ({ n: 0, mean: 0, m2: 0, history: [] }),
      score: (s, x) => assess(s, zOf(s, x)),
      learn: (s, x) => ({ ...learnW(s, x), history: [...s.history, x] })
    })
    expectCaught("boundedState", d, {}, /grew from/)
  })

  it("boundedState: a declared maxStateBytes that the state exceeds", () => {
    expectCaught("boundedState", welford, { maxStateBytes: 20 }, /more than maxStateBytes 20/)
  })

  it("chunkingInvariance: initial() hands every series the same object, which learn updates in place", () => {
    const factory = () => {
      const shared: W = { n: 0, mean: 0, m2: 0 }
      return variant({
        initial: () => shared,
        learn: (s, x) => {
          const next = learnW(s, x)
          s.n = next.n
          s.mean = next.mean
          s.m2 = next.m2
          return s
        }
      })
    }
    expectCaught("chunkingInvariance", factory, {}, /streamed vs one-shot/)
  })

  it("shiftInvariance: a deviation relative to |mean|", () => {
    const d = variant({
      score: (s, x) => assess(s, Math.min(Math.abs(x - s.mean) / (0.01 * Math.abs(s.mean) + 1e-9), 1e6))
    })
    expectCaught("shiftInvariance", d, { shiftInvariant: true }, /after adding/)
  })

  it("scaleInvariance: an absolute floor added to sigma", () => {
    const d = variant({ score: (s, x) => assess(s, Math.abs(x - s.mean) / (sdOf(s) + 1)) })
    expectCaught("scaleInvariance", d, { scaleInvariant: true }, /after multiplying by/)
  })

  it("sensitivity: a score in thirds of sigma cannot see a 6σ spike", () => {
    const d = variant({ score: (s, x) => assess(s, zOf(s, x) / 3) })
    expectCaught("sensitivity", d, { sensitivity: { kind: "spike", size: 6 } }, /did not fire within 5 points/)
    expectCaught("sensitivity", d, { sensitivity: { kind: "step", size: 6 } }, /step at point/)
  })

  it("adaptation: a detector that never learns what it judged anomalous fires on and on after a lasting step", () => {
    // `variant` keeps Detector.make's defaults: anomalous points are not learned at all
    expectCaught("adaptation", variant({}), { adapts: { size: 10, within: 50 } }, /still fired on \d+ of the 100/)
    // with bounded learning (clipped to the band) the same z-score passes the law within a longer horizon
    const [clipped] = checkDetector(
      variant({ adapt: "clip" }),
      { adapts: { size: 10, within: 200 } },
      {
        only: ["adaptation"]
      }
    )
    expect(clipped?.ok).toBe(true)
  })

  it("monotonic: a redescending score that treats far points as data errors", () => {
    const d = variant({
      score: (s, x) => {
        const z = zOf(s, x)
        return assess(s, z <= 12 ? z : Math.max(0, 24 - z))
      }
    })
    expectCaught("monotonic", d, { monotonic: true }, /the score fell/)
  })
})

describe("claims", () => {
  it("an exemption naming no law is an error", () => {
    expect(() => selectLaws({ exempt: { determinsm: "typo" } as never })).toThrow(/exempt names no law: determinsm/)
  })

  it("exempt laws are reported, not run, and claimed laws run only when claimed", () => {
    const { run, exempt } = selectLaws({ exempt: { boundedState: "keeps a sketch that grows like log n" } })
    expect(run.map((l) => l.name)).toEqual(universalLaws.filter((n) => n !== "boundedState"))
    expect(exempt).toEqual([{ law: "boundedState", reason: "keeps a sketch that grows like log n" }])
    const results = checkDetector(welford, { exempt: { boundedState: "why not" } }, { only: ["boundedState"] })
    expect(results).toEqual([{ law: "boundedState", ok: true, exempt: "why not", seed: results[0]?.seed, numRuns: 0 }])
  })

  it("runLaws registers Detector:law ids and skips exemptions", () => {
    const names: Array<string> = []
    const skipped: Array<string> = []
    const test = Object.assign((name: string) => names.push(name), { skip: (name: string) => skipped.push(name) })
    runLaws(test, welford, { monotonic: true, exempt: { warmUp: "fires at once by design" } })
    expect(names).toContain("welford:determinism")
    expect(names).toContain("welford:monotonic")
    expect(names).not.toContain("welford:sensitivity")
    expect(skipped).toEqual(["welford:warmUp (exempt: fires at once by design)"])
  })

  it("recognises detector modules", () => {
    expect(isDetectorModule({ name: "x", make: () => welford, claims: {} })).toBe(true)
    expect(isDetectorModule({ name: "x", make: () => welford })).toBe(false)
    expect(isDetectorModule(welford)).toBe(false)
  })
})
