/**
 * The series the laws feed detectors: stationary Gaussian noise with optional spikes and steps, constant series,
 * and adversarial ("wild") finite values. Noise is drawn from a seeded generator rather than as fast-check arrays
 * so that a counterexample is a handful of parameters (level, sigma, length, seed, events) that fast-check shrinks
 * and prints compactly; wild series are plain arrays, shrunk element by element.
 *
 * @since 0.1.0
 */
import * as fc from "fast-check"

/**
 * Which values a detector is meant for: any real number, or positive values only.
 *
 * @category models
 * @since 0.1.0
 */
export type Domain = "real" | "positive"

/**
 * A generated base series and a short description of how it was made (what fast-check prints).
 *
 * @category models
 * @since 0.1.0
 */
export interface Scenario {
  readonly label: string
  readonly values: ReadonlyArray<number>
}

/**
 * A spike (one point off by `size` σ) or a step (every point from `at` on shifted by `size` σ).
 *
 * @category models
 * @since 0.1.0
 */
export interface Event {
  readonly kind: "spike" | "step"
  readonly at: number
  readonly size: number
}

/**
 * The parameters of a noisy series: `level + sigma * N(0, 1)` plus events.
 *
 * @category models
 * @since 0.1.0
 */
export interface NoiseSpec {
  readonly level: number
  readonly sigma: number
  readonly length: number
  readonly seed: number
  readonly events: ReadonlyArray<Event>
}

const scenario = (label: string, values: ReadonlyArray<number>): Scenario => {
  const printable = { label, values, [fc.toStringMethod]: () => label }
  return printable
}

/**
 * A small deterministic uniform generator on [0, 1) (mulberry32), so noise is a function of its seed.
 *
 * @category constructors
 * @since 0.1.0
 */
export const uniform = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * `n` standard normal draws from a seed (Box–Muller).
 *
 * @category constructors
 * @since 0.1.0
 */
export const gaussian = (seed: number, n: number): Array<number> => {
  const next = uniform(seed)
  const out = new Array<number>(n)
  for (let i = 0; i < n; i += 2) {
    const u = 1 - next() // (0, 1]: log(u) is finite
    const v = next()
    const r = Math.sqrt(-2 * Math.log(u))
    out[i] = r * Math.cos(2 * Math.PI * v)
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v)
  }
  return out
}

/**
 * Renders a {@link NoiseSpec} into values.
 *
 * @category constructors
 * @since 0.1.0
 */
export const render = (spec: NoiseSpec): Array<number> => {
  const noise = gaussian(spec.seed, spec.length)
  const values = new Array<number>(spec.length)
  let shift = 0
  for (let i = 0; i < spec.length; i++) {
    let spike = 0
    for (const e of spec.events) {
      if (e.at !== i) continue
      if (e.kind === "step") shift += e.size * spec.sigma
      else spike += e.size * spec.sigma
    }
    values[i] = spec.level + shift + spike + spec.sigma * noise[i]!
  }
  return values
}

const fmt = (x: number): string => String(Math.round(x * 1e4) / 1e4)

/**
 * How a {@link NoiseSpec} prints in a counterexample: enough to rebuild it with {@link render}.
 *
 * @category combinators
 * @since 0.1.0
 */
export const describeNoise = (spec: NoiseSpec): string => {
  const events = spec.events.map((e) => `${e.kind}@${e.at}:${e.size >= 0 ? "+" : ""}${fmt(e.size)}σ`).join(", ")
  return `noise({ level: ${spec.level}, sigma: ${spec.sigma}, length: ${spec.length}, seed: ${spec.seed}, events: [${events}] })`
}

/**
 * A level and a noise standard deviation for the domain. Sigma is at least 1e-3 of the level: real telemetry is
 * never that flat, and a flatter series tests float rounding rather than detection.
 *
 * @category constructors
 * @since 0.1.0
 */
export const levelAndSigma = (domain: Domain): fc.Arbitrary<{ readonly level: number; readonly sigma: number }> =>
  domain === "real"
    ? fc
        .record({
          level: fc.double({ min: -1e4, max: 1e4, noNaN: true }),
          sigma: fc.double({ min: 0.01, max: 1e3, noNaN: true })
        })
        .map(({ level, sigma }) => ({ level, sigma: Math.max(sigma, Math.abs(level) * 1e-3) }))
    : // positive: at least 40σ above zero, so noise and events of up to 25σ stay positive
      fc
        .record({
          sigma: fc.double({ min: 0.01, max: 100, noNaN: true }),
          ratio: fc.double({ min: 40, max: 1000, noNaN: true })
        })
        .map(({ sigma, ratio }) => ({ level: sigma * ratio, sigma }))

/**
 * Options of the noise generators.
 *
 * @category models
 * @since 0.1.0
 */
export interface NoiseOptions {
  readonly domain: Domain
  readonly minLength: number
  readonly maxLength: number
  /** How many spikes and steps at most (default 0). */
  readonly maxEvents?: number
}

/**
 * Stationary Gaussian noise, with up to `maxEvents` spikes and steps of 2 to 20 σ in either direction.
 *
 * @category constructors
 * @since 0.1.0
 */
export const noise = (options: NoiseOptions): fc.Arbitrary<Scenario> =>
  fc
    .record({
      ls: levelAndSigma(options.domain),
      length: fc.integer({ min: options.minLength, max: Math.max(options.minLength, options.maxLength) }),
      seed: fc.integer({ min: 0, max: 0x7fffffff }),
      events: fc.array(
        fc.record({
          kind: fc.constantFrom<"spike" | "step">("spike", "step"),
          at: fc.nat(),
          size: fc.double({ min: 2, max: 20, noNaN: true }),
          up: fc.boolean()
        }),
        { maxLength: options.maxEvents ?? 0 }
      )
    })
    .map(({ ls, length, seed, events }) => {
      const spec: NoiseSpec = {
        level: ls.level,
        sigma: ls.sigma,
        length,
        seed,
        events: events.map((e) => ({
          kind: e.kind,
          at: length === 0 ? 0 : e.at % length,
          size: e.up || options.domain === "positive" ? e.size : -e.size
        }))
      }
      return scenario(describeNoise(spec), render(spec))
    })

/**
 * A constant value of the domain: round numbers, integers, and arbitrary doubles (whose running sums do not stay
 * exact, the usual cause of a detector firing on a flat line).
 *
 * @category constructors
 * @since 0.1.0
 */
export const constantValue = (domain: Domain): fc.Arbitrary<number> =>
  domain === "real"
    ? fc.oneof(
        fc.constantFrom(0, 1, -1, 0.1, 1e-9, 1e6),
        fc.integer({ min: -1000, max: 1000 }),
        fc.double({ min: -1e6, max: 1e6, noNaN: true })
      )
    : fc.oneof(
        fc.constantFrom(1, 0.1, 1e-6, 1e6),
        fc.integer({ min: 1, max: 1000 }),
        fc.double({ min: 1e-6, max: 1e6, noNaN: true })
      )

/**
 * A constant series.
 *
 * @category constructors
 * @since 0.1.0
 */
export const constant = (options: NoiseOptions): fc.Arbitrary<Scenario> =>
  fc
    .tuple(
      constantValue(options.domain),
      fc.integer({ min: options.minLength, max: Math.max(options.minLength, options.maxLength) })
    )
    .map(([c, n]) => scenario(`constant(${c}, length ${n})`, new Array<number>(n).fill(c)))

/**
 * Adversarial finite values: arbitrary doubles up to 1e9 in magnitude, small integers (ties, long flat stretches,
 * zero variance), a palette of few distinct values, and huge values that differ by tiny amounts (cancellation).
 * Magnitudes stop at 1e9 so that sums of squares stay finite: telemetry does not reach 1e150.
 *
 * @category constructors
 * @since 0.1.0
 */
export const wild = (options: NoiseOptions): fc.Arbitrary<Scenario> => {
  const lo = options.domain === "real" ? -1e9 : 0
  const n = { minLength: options.minLength, maxLength: Math.max(options.minLength, options.maxLength) }
  const label = (kind: string) => (values: ReadonlyArray<number>) => scenario(`${kind}([${values.join(", ")}])`, values)
  return fc.oneof(
    fc.array(fc.double({ min: lo, max: 1e9, noNaN: true }), n).map(label("doubles")),
    fc.array(fc.integer({ min: options.domain === "real" ? -3 : 0, max: 3 }), n).map(label("integers")),
    fc
      .tuple(
        fc.array(fc.double({ min: lo, max: 1e9, noNaN: true }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), n)
      )
      .map(([palette, picks]) => picks.map((i) => palette[i % palette.length]!))
      .map(label("palette")),
    fc
      .tuple(
        fc.double({ min: Math.max(lo, 1), max: 1e9, noNaN: true }),
        fc.double({ min: 1e-6, max: 1, noNaN: true }),
        fc.array(fc.integer({ min: 0, max: 4 }), n)
      )
      .map(([base, eps, ks]) => ks.map((k) => base + k * eps))
      .map(label("nearlyEqual"))
  )
}

/**
 * Non-finite values to interleave with a series.
 *
 * @category constructors
 * @since 0.1.0
 */
export const nonFinite: fc.Arbitrary<number> = fc.constantFrom(
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY
)
