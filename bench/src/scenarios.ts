/**
 * Deterministic synthetic LLM-telemetry scenarios with labelled, injected incidents, for `bench/accuracy`.
 *
 * Every scenario is a per-minute signal (one point per window, as the live pipeline produces after
 * aggregation) generated from a seeded PRNG: the same seed gives the same data, bit for bit. Each scenario is
 * built as a `clean` series (baseline, seasonality, noise and any *traps*: behaviour that looks unusual but is
 * not an incident, such as daily peaks or a provider-wide slowdown) and `values` = `clean` plus the injected
 * incidents. So `values[i] !== clean[i]` exactly on the injected points, and every injected point lies inside a
 * labelled incident window `[start, end]` (checked by the smoke test).
 *
 * The first day of every scenario is incident-free, so detectors with long memories can warm up.
 *
 * Run `node bench/src/scenarios.ts` to print a one-line description of each scenario.
 */

/** A labelled incident window in epoch ms, inclusive. */
export interface Incident {
  readonly start: number
  readonly end: number
}

export interface Scenario {
  readonly name: string
  readonly description: string
  /** Which metric the signal stands for (for display). */
  readonly metric: string
  readonly stepMs: number
  readonly times: Float64Array
  /** The observed signal, incidents included. */
  readonly values: Float64Array
  /** The same signal without the injected incidents (traps included). */
  readonly clean: Float64Array
  /** For peer-group detectors: the same metric of peer services at the same times (healthy). */
  readonly peers?: ReadonlyArray<Float64Array>
  readonly incidents: ReadonlyArray<Incident>
  /**
   * Ranges where the signal was changed on purpose but is not an incident: the lasting part of a permanent level
   * shift, labelled only at its start (a detector still firing there has not adapted).
   */
  readonly unlabelled?: ReadonlyArray<Incident>
  /** Simulated duration in days, for false alarms per day. */
  readonly days: number
}

/** 2026-11-02T00:00:00Z, a Monday. */
export const T0 = Date.UTC(2026, 10, 2)
export const MINUTE = 60_000
export const DAY = 1440

/** mulberry32: a small, fast, well-distributed 32-bit PRNG. */
export const prng = (seed: number) => {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  let spare = Number.NaN
  const normal = (): number => {
    if (!Number.isNaN(spare)) {
      const s = spare
      spare = Number.NaN
      return s
    }
    const u = 1 - next()
    const v = next()
    const r = Math.sqrt(-2 * Math.log(u))
    spare = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }
  const poisson = (lambda: number): number => {
    if (lambda > 50) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * normal()))
    const l = Math.exp(-lambda)
    let k = 0
    let p = 1
    do {
      k++
      p *= next()
    } while (p > l)
    return k - 1
  }
  const binomial = (n: number, p: number): number => {
    if (n * p > 30 && n * (1 - p) > 30) {
      return Math.min(n, Math.max(0, Math.round(n * p + Math.sqrt(n * p * (1 - p)) * normal())))
    }
    let k = 0
    for (let i = 0; i < n; i++) if (next() < p) k++
    return k
  }
  return { next, normal, poisson, binomial, int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)) }
}

type Rng = ReturnType<typeof prng>

/** Hour of day (fractional) of point i. */
const hourOf = (i: number): number => ((i % DAY) / 60) as number

/** A smooth daily profile in [0, 1]: 0 at night, 1 at the 14:00 peak (business hours). */
const daily = (i: number): number => {
  const h = hourOf(i)
  const x = Math.cos(((h - 14) / 24) * 2 * Math.PI)
  return Math.max(0, x) ** 2
}

interface Builder {
  readonly n: number
  readonly clean: Float64Array
  readonly values: Float64Array
  readonly incidents: Array<Incident>
  readonly unlabelled: Array<Incident>
}

const builder = (days: number, f: (i: number) => number): Builder => {
  const n = days * DAY
  const clean = new Float64Array(n)
  for (let i = 0; i < n; i++) clean[i] = f(i)
  return { n, clean, values: clean.slice(), incidents: [], unlabelled: [] }
}

/** Applies `g` to the points [from, from + length) and labels that window. */
const inject = (b: Builder, from: number, length: number, g: (v: number, k: number) => number): void => {
  for (let k = 0; k < length && from + k < b.n; k++) b.values[from + k] = g(b.values[from + k]!, k)
  b.incidents.push({ start: T0 + from * MINUTE, end: T0 + (from + length - 1) * MINUTE })
}

/** Incident starts spread over days 1.. (never the first day), at least `gap` points apart. */
const starts = (rng: Rng, days: number, count: number, length: number, gap = 240): Array<number> => {
  const out: Array<number> = []
  let guard = 0
  while (out.length < count && guard++ < 10_000) {
    const s = rng.int(DAY, days * DAY - length - 1)
    if (out.every((o) => Math.abs(o - s) > gap + length)) out.push(s)
  }
  return out.sort((a, b) => a - b)
}

const finish = (
  name: string,
  description: string,
  metric: string,
  days: number,
  b: Builder,
  peers?: ReadonlyArray<Float64Array>
): Scenario => {
  const times = new Float64Array(b.n)
  for (let i = 0; i < b.n; i++) times[i] = T0 + i * MINUTE
  return {
    name,
    description,
    metric,
    stepMs: MINUTE,
    times,
    values: b.values,
    clean: b.clean,
    ...(peers === undefined ? {} : { peers }),
    incidents: b.incidents.sort((a, c) => a.start - c.start),
    ...(b.unlabelled.length === 0 ? {} : { unlabelled: b.unlabelled }),
    days
  }
}

/** Log-normal latency around `median` ms with relative spread `sigma`. */
const latency = (rng: Rng, median: number, sigma: number) => median * Math.exp(sigma * rng.normal())

const latencyStep = (rng: Rng): Scenario => {
  const days = 4
  const b = builder(days, () => latency(rng, 800, 0.08))
  for (const s of starts(rng, days, 3, 180)) inject(b, s, 180, (v) => v * 1.5)
  return finish("latency-step", "p95 latency regression: +50% for 3 h (×3)", "latency.p95", days, b)
}

const latencySpike = (rng: Rng): Scenario => {
  const days = 4
  const b = builder(days, () => latency(rng, 800, 0.08))
  for (const s of starts(rng, days, 8, 3, 60)) {
    const len = rng.int(1, 3)
    const factor = 2.5 + rng.next() * 3
    inject(b, s, len, (v) => v * factor)
  }
  return finish("latency-spike", "p95 latency spikes ×2.5–5.5 for 1–3 min (×8)", "latency.p95", days, b)
}

const costSpike = (rng: Rng): Scenario => {
  const days = 4
  // cost per minute: per-call cost × calls; gamma-like right skew
  const b = builder(days, (i) => {
    const calls = rng.poisson(60 + 60 * daily(i))
    return calls * 0.004 * Math.exp(0.15 * rng.normal())
  })
  for (const s of starts(rng, days, 3, 10)) inject(b, s, 10, (v) => v * 5)
  return finish(
    "cost-spike",
    "cost per minute ×5 for 10 min (a loop of expensive calls) (×3)",
    "cost.perMinute",
    days,
    b
  )
}

const runawayTokens = (rng: Rng): Scenario => {
  const days = 4
  // mean output tokens per call over ~100 calls a minute
  const b = builder(days, () => 300 + 12 * rng.normal())
  for (const s of starts(rng, days, 3, 30)) {
    // 20% of calls now hit max_tokens = 4096
    inject(b, s, 30, (v) => 0.8 * v + 0.2 * 4096 + 40 * rng.normal())
  }
  return finish(
    "runaway-output",
    "runaway output tokens: 20% of calls hit max_tokens for 30 min (×3)",
    "outputTokens.mean",
    days,
    b
  )
}

const errorBurst = (rng: Rng): Scenario => {
  const days = 4
  const b = builder(days, () => rng.binomial(100, 0.01) / 100)
  for (const s of starts(rng, days, 4, 15)) {
    const len = rng.int(5, 15)
    const rate = 0.15 + rng.next() * 0.25
    // replace the minute's rate (the clean draw is discarded): keeps values ≠ clean
    inject(b, s, len, () => (rng.binomial(100, rate) + 1) / 100)
  }
  return finish("error-burst", "error rate 1% → 15–40% for 5–15 min (×4)", "error.rate", days, b)
}

const drift = (rng: Rng): Scenario => {
  const days = 5
  const b = builder(days, () => 300 + 12 * rng.normal())
  // output length creeps up by 60% over a day, then stays (a prompt or model change rolled out slowly)
  const from = 2 * DAY
  const length = DAY
  for (let k = 0; k < b.n - from; k++) {
    b.values[from + k] = b.values[from + k]! + 180 * Math.min(1, (k + 1) / length)
  }
  b.incidents.push({ start: T0 + from * MINUTE, end: T0 + (b.n - 1) * MINUTE })
  return finish("drift", "output length drifts +60% over 24 h and stays (gradual)", "outputTokens.mean", days, b)
}

const seasonal = (rng: Rng): Scenario => {
  const days = 5
  // latency rises 60% at the daily peak (load): a trap for non-seasonal detectors
  const b = builder(days, (i) => latency(rng, 700 * (1 + 0.6 * daily(i)), 0.06))
  for (let d = 2; d < days; d++) {
    // a night-time regression to a level that is normal at the peak
    const s = d * DAY + 3 * 60 + rng.int(0, 60)
    inject(b, s, 30, (v) => v * 1.45)
  }
  return finish(
    "seasonal",
    "daily peak +60% (trap), night-time +45% for 30 min on days 3–5 (×3)",
    "latency.p95",
    days,
    b
  )
}

const trafficDrop = (rng: Rng): Scenario => {
  const days = 4
  // requests per minute, windowed: daily seasonality
  const b = builder(days, (i) => rng.poisson(40 + 160 * daily(i)) / 60)
  for (const s of starts(rng, days, 3, 20)) inject(b, s, 20, () => 0)
  // guard: an injected 0 equal to a clean 0 would not be an "injected point"; clean counts are never 0 here
  return finish("traffic-drop", "request rate drops to zero for 20 min (outage) (×3)", "requests.perSecond", days, b)
}

const peerDegradation = (rng: Rng): Scenario => {
  const days = 4
  const n = days * DAY
  // a provider-wide component shared by all services (slow random walk + one provider slowdown as a trap)
  const common = new Float64Array(n)
  let walk = 0
  for (let i = 0; i < n; i++) {
    walk = 0.98 * walk + 0.02 * rng.normal()
    common[i] = Math.exp(0.3 * walk)
  }
  const slowdown = 2 * DAY + 600
  for (let k = 0; k < 60; k++) common[slowdown + k]! *= 1.7
  // peers: the same model called by other services, at similar levels
  const peers = [760, 780, 820, 850, 800].map((m) => {
    const p = new Float64Array(n)
    for (let i = 0; i < n; i++) p[i] = latency(rng, m * common[i]!, 0.05)
    return p
  })
  const b = builder(days, (i) => latency(rng, 800 * common[i]!, 0.05))
  for (const s of starts(rng, days, 3, 120).filter((s) => Math.abs(s - slowdown) > 300)) {
    inject(b, s, 120, (v) => v * 1.35)
  }
  return finish(
    "peer-degradation",
    "one service's model +35% for 2 h while peers are fine; a provider-wide +70% slowdown for 1 h (trap)",
    "latency.p95",
    days,
    b,
    peers
  )
}

const noiseGaussian = (rng: Rng): Scenario => {
  const days = 14
  const b = builder(days, () => 800 + 40 * rng.normal())
  return finish("noise-normal", "Gaussian noise only, 14 days (false alarms)", "latency.p95", days, b)
}

const noiseHeavy = (rng: Rng): Scenario => {
  const days = 14
  // log-normal with a fat right tail plus rare (0.1%) ×2 blips that are part of normal life
  const b = builder(days, () => latency(rng, 800, 0.15) * (rng.next() < 0.001 ? 2 : 1))
  return finish(
    "noise-heavy-tail",
    "log-normal noise with rare ×2 blips, 14 days (false alarms)",
    "latency.p95",
    days,
    b
  )
}

// ---- what real operations data showed (issue 7) ----

const levelShift = (rng: Rng): Scenario => {
  const days = 5
  const b = builder(days, () => latency(rng, 800, 0.08))
  // a deploy makes latency 40% slower for good: an incident at its start, the new normal afterwards
  const from = 2 * DAY + rng.int(0, DAY)
  const labelled = 30
  inject(b, from, labelled, (v) => v * 1.4)
  for (let i = from + labelled; i < b.n; i++) b.values[i] = b.values[i]! * 1.4
  b.unlabelled.push({ start: T0 + (from + labelled) * MINUTE, end: T0 + (b.n - 1) * MINUTE })
  return finish(
    "level-shift",
    "permanent +40% latency from a deploy, labelled only for its first 30 min (the rest is the new normal)",
    "latency.p95",
    days,
    b
  )
}

const flatBlips = (rng: Rng): Scenario => {
  const days = 5
  // a gauge that sits at 50 (99% of minutes), with rare one-step blips that are normal; incidents jump by 8–15
  const b = builder(days, () => (rng.next() < 0.01 ? 50 + (rng.next() < 0.5 ? -1 : 1) : 50))
  for (const s of starts(rng, days, 3, 10)) {
    const jump = rng.int(8, 15)
    inject(b, s, rng.int(5, 10), () => 50 + jump)
  }
  return finish(
    "flat-blips",
    "flat at 50 with rare ±1 blips (normal), jumps of +8–15 for 5–10 min (×3)",
    "gauge",
    days,
    b
  )
}

const integerCounts = (rng: Rng): Scenario => {
  const days = 4
  // calls per minute of a small service: Poisson counts with a daily profile (1 at night, 6 at the peak)
  const b = builder(days, (i) => rng.poisson(1 + 5 * daily(i)))
  for (const s of starts(rng, days, 3, 10)) inject(b, s, 10, (_, k) => rng.poisson(40) + 20 + k)
  return finish(
    "integer-counts",
    "Poisson calls per minute (1–6), a retry storm of ~60/min for 10 min (×3)",
    "requests.count",
    days,
    b
  )
}

const squareWave = (rng: Rng): Scenario => {
  const days = 4
  // a batch job: load alternates between 100 and 300 every hour
  const b = builder(days, (i) => (Math.floor(i / 60) % 2 === 0 ? 100 : 300) + 8 * rng.normal())
  for (const s of starts(rng, days, 3, 20)) inject(b, s, 20, (v) => v + 150)
  return finish("square-wave", "hourly on/off load 100 ↔ 300, +150 for 20 min (×3)", "load", days, b)
}

const errorFromZero = (rng: Rng): Scenario => {
  const days = 4
  // about 50 calls a minute with errors so rare that most minutes have none (one now and then is normal)
  const b = builder(days, () => {
    const calls = rng.poisson(50)
    return calls === 0 ? 0 : rng.binomial(calls, 0.002) / calls
  })
  for (const s of starts(rng, days, 3, 15)) {
    inject(b, s, 15, (_, k) => {
      const calls = rng.poisson(50)
      // a provider outage ramping up: 5% to 30% of calls fail (at least one)
      return (Math.max(1, rng.binomial(calls, 0.05 + (0.25 * k) / 14)) + 0) / Math.max(calls, 1)
    })
  }
  return finish(
    "error-from-zero",
    "error rate ≈ 0 (one error now and then), rising to 5–30% for 15 min (×3)",
    "error.rate",
    days,
    b
  )
}

const sparseBursts = (rng: Rng): Scenario => {
  const days = 5
  // tokens/s of a mostly idle service: usually 0, a short normal burst (up to 40) in 2% of minutes
  const b = builder(days, () => (rng.next() < 0.02 ? rng.int(5, 40) : 0))
  for (const s of starts(rng, days, 4, 15)) inject(b, s, 15, () => 200 + rng.int(0, 100))
  return finish(
    "sparse-bursts",
    "mostly idle (0, short bursts ≤ 40 normal), sustained 200–300 for 15 min (×4)",
    "totalTokens.perSecond",
    days,
    b
  )
}

const generators: ReadonlyArray<(rng: Rng) => Scenario> = [
  latencyStep,
  latencySpike,
  costSpike,
  runawayTokens,
  errorBurst,
  drift,
  seasonal,
  trafficDrop,
  peerDegradation,
  noiseGaussian,
  noiseHeavy,
  levelShift,
  flatBlips,
  integerCounts,
  squareWave,
  errorFromZero,
  sparseBursts
]

/**
 * Every scenario, generated from `seed`. Each scenario has its own stream derived from the seed, so adding a
 * scenario does not change the others.
 */
export const scenarios = (seed = 42): Array<Scenario> => generators.map((g, k) => g(prng(seed * 1000 + k + 1)))

if (import.meta.main) {
  for (const s of scenarios()) {
    console.log(
      `${s.name.padEnd(18)} ${String(s.values.length).padStart(6)} points, ${s.days} days, ${s.incidents.length} incidents${s.peers ? `, ${s.peers.length} peers` : ""}: ${s.description}`
    )
  }
}
