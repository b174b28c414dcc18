// Test fixtures shared by the core tests: a seeded PRNG, a reference detector and event generators.
import { Schema } from "effect"
import { Detector } from "../src/index.ts"

/** mulberry32: a small deterministic PRNG. */
export const prng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Standard normal draws from a uniform source (Box–Muller). */
export const gaussian = (uniform: () => number) => () =>
  Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform())

/** A cumulative Welford z-score: the reference detector of the core tests. */
export const welford = Detector.make({
  name: "welford",
  minSamples: 10,
  state: Schema.Struct({ n: Schema.Number, mean: Schema.Number, m2: Schema.Number }),
  initial: () => ({ n: 0, mean: 0, m2: 0 }),
  score: (s, x) => {
    const sd = s.n > 1 ? Math.sqrt(s.m2 / (s.n - 1)) : 0
    const scale = Math.max(sd, Math.abs(s.mean) * 0.01, 1e-9)
    return {
      score: Math.abs(x - s.mean) / scale,
      expected: s.mean,
      lower: s.mean - 4 * scale,
      upper: s.mean + 4 * scale,
      ready: s.n >= 10
    }
  },
  learn: (s, x) => {
    const n = s.n + 1
    const d = x - s.mean
    const mean = s.mean + d / n
    return { n, mean, m2: s.m2 + d * (x - mean) }
  }
})

export const T0 = Date.parse("2026-11-26T00:00:00.000Z")

/** One event per second per series, latency ~ N(500, 20); `spike(i, service)` overrides the latency. */
export const events = (options: {
  readonly seconds: number
  readonly services: ReadonlyArray<string>
  readonly seed?: number
  readonly spike?: (second: number, service: string) => number | undefined
}) => {
  const normal = gaussian(prng(options.seed ?? 1))
  const out: Array<Record<string, unknown>> = []
  for (let i = 0; i < options.seconds; i++) {
    for (const service of options.services) {
      out.push({
        timestamp: T0 + i * 1000,
        service,
        model: "gpt-4o",
        latencyMs: options.spike?.(i, service) ?? 500 + 20 * normal(),
        outputTokens: 200,
        inputTokens: 1000,
        costUsd: 0.01,
        status: "ok"
      })
    }
  }
  return out
}
