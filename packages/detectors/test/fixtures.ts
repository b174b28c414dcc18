// Shared fixtures of the detector tests: deterministic noise, the indices a run fired at, and the check that a
// run cut by a snapshot and a restore gives the verdicts of an uncut one.
import { assert } from "@effect/vitest"
import { Detector, type Verdict } from "@llm-sentinel/core"
import { Result } from "effect"

/** A deterministic standard normal generator: mulberry32 uniforms through Box-Muller. */
export const gaussian = (seed: number): (() => number) => {
  let a = seed >>> 0
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u())
}

/** `n` normal values around `mean` with standard deviation `sd`. */
export const noise = (n: number, seed: number, mean = 100, sd = 5): Array<number> => {
  const g = gaussian(seed)
  return Array.from({ length: n }, () => mean + sd * g())
}

/** The indices of the anomalous verdicts. */
export const firing = (vs: ReadonlyArray<{ readonly anomalous: boolean }>): Array<number> =>
  vs.flatMap((v, i) => (v.anomalous ? [i] : []))

/**
 * Runs `xs` cut at `cut`: the first part, a snapshot of its state, a restore, then the rest from the restored
 * state; asserts the verdicts equal those of one uninterrupted run, which it returns. `times` defaults to the
 * indices; `resume` is the instance that restores and runs the rest (default `d`), e.g. a fresh one.
 */
export const roundtrip = <S, In>(
  d: Detector.Detector<S, In>,
  xs: ReadonlyArray<In>,
  cut: number,
  options: { readonly times?: ReadonlyArray<number>; readonly resume?: Detector.Detector<S, In> } = {}
): { readonly state: S; readonly verdicts: Array<Verdict.Verdict> } => {
  const times = options.times ?? xs.map((_, i) => i)
  const resume = options.resume ?? d
  const first = Detector.run(d, xs.slice(0, cut), { times: times.slice(0, cut) })
  const restored = Result.getOrThrow(Detector.restore(resume, Detector.snapshot(d, first.state)))
  const rest = Detector.run(resume, xs.slice(cut), { state: restored, times: times.slice(cut) })
  const whole = Detector.run(d, xs, { times })
  assert.deepStrictEqual([...first.verdicts, ...rest.verdicts], whole.verdicts)
  return whole
}

/**
 * The series of `legacy-snapshots.json`: noise around 1e6 (far from zero, so float32 offsets from zero would not
 * do), a daily shape in 10-minute points, and a spike every 97 points.
 */
export const legacySeries = (n: number): { readonly values: Array<number>; readonly times: Array<number> } => {
  const values = noise(n, 7).map((x, i) => 1e6 + x + 20 * Math.sin((2 * Math.PI * i) / 144) + (i % 97 === 50 ? 60 : 0))
  return { values, times: values.map((_, i) => Date.UTC(2026, 0, 5) + i * 600_000) }
}
