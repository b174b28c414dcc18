/**
 * `npm run bench:accuracy`: runs every shipped detector on every synthetic scenario (`scenarios.ts`) and prints,
 * per detector × scenario, recall, precision, mean detection delay and false alarms per simulated day; then the
 * best set of uncalibrated detectors on these scenarios alone, and the shipped default configuration
 * (`Defaults.config`, its own detectors per metric and deciding step) per scenario.
 *
 * Detectors are discovered from the `@llm-sentinel/detectors` barrel (modules with `make` + `name`), run with
 * their default parameters through `Detector.makeDetectFn` (the live detection code) for one-number-per-point
 * input. Detectors that need other input get it where a scenario has it: a peer-group detector gets
 * `{ value, peers }` on the peer scenario (and is skipped elsewhere); a vector detector gets `[value]`.
 * `threshold` has no bounds by default, so it gets an SLO a person would set after looking at the first day:
 * `upper = 1.5 × p99`, `lower = 0.5 × p1` of day one.
 *
 * Metrics are `Backtest.evaluate` (the same as `sentinel replay --labels`) with a tolerance of 5 minutes after an
 * incident's end. Precision is point-wise: a detector that keeps firing through a 3-hour regression collects
 * many true positives; the false-alarm rate per day is the figure to compare for noise.
 *
 * Options: `--seed N` (default 42), `--tolerance MINUTES` (default 5).
 */
import { Detector, Peers, Series, Verdict } from "@llm-sentinel/core"
import * as Detectors from "@llm-sentinel/detectors"
import { DAY, MINUTE, type Scenario, scenarios } from "./scenarios.ts"

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const seed = arg("seed", 42)
const toleranceMs = arg("tolerance", 5) * MINUTE

type Module = Detectors.Catalog.Module

type Kind = "scalar" | "peers" | "vector"

const modules: ReadonlyArray<Module> = Detectors.Catalog.modules()

/** What input a detector takes, probed through `accepts` (names decide for vector detectors that accept numbers). */
const kindOf = (m: Module, d: Detector.Detector<unknown, unknown>): Kind | undefined => {
  if (/peer/i.test(m.name)) return "peers"
  if (/half|hst|tree|forest/i.test(m.name)) return "vector"
  if (d.accepts(1)) return "scalar"
  if (d.accepts({ value: 1, peers: [1, 1, 1] })) return "peers"
  if (d.accepts([1]) || d.accepts(Float64Array.of(1))) return "vector"
  return undefined
}

const quantile = (xs: Float64Array, q: number): number => {
  const sorted = Float64Array.from(xs).sort()
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/** Per-scenario parameters where the defaults cannot work at all. */
const paramsFor = (m: Module, s: Scenario): Record<string, unknown> | undefined => {
  if (m.name === "threshold") {
    const day = s.values.subarray(0, DAY)
    return { upper: 1.5 * quantile(day, 0.99), lower: 0.5 * quantile(day, 0.01) }
  }
  return undefined
}

interface Outcome {
  readonly anomalyTimes: Array<number>
}

const run = (m: Module, s: Scenario, decide: Verdict.Decide): Outcome | undefined => {
  const params = paramsFor(m, s)
  const d = m.make(params)
  const kind = kindOf(m, d)
  const anomalyTimes: Array<number> = []
  if (kind === "scalar") {
    const key = Series.makeKey("bench", s.name, s.metric)
    const points: Array<Series.MetricPoint> = new Array(s.values.length)
    for (let i = 0; i < s.values.length; i++) points[i] = { key, time: s.times[i]!, value: s.values[i]! }
    const fn = Detector.makeDetectFn({ detectors: [d as Detector.Any], decide, onlyAnomalous: true })
    for (let i = 0; i < points.length; i += 4096) {
      for (const scored of fn.apply(points.slice(i, i + 4096))) anomalyTimes.push(scored.point.time)
    }
    return { anomalyTimes }
  }
  if (kind === "peers") {
    if (s.peers === undefined) return undefined
    const inputs = Array.from(s.values, (value, i) => ({ value, peers: s.peers!.map((p) => p[i]!) }))
    const { verdicts } = Detector.run(d, inputs, { decide, times: Array.from(s.times) })
    verdicts.forEach((v, i) => {
      if (v.anomalous) anomalyTimes.push(s.times[i]!)
    })
    return { anomalyTimes }
  }
  if (kind === "vector") {
    const inputs = Array.from(s.values, (v) => [v])
    const { verdicts } = Detector.run(d, inputs, { decide, times: Array.from(s.times) })
    verdicts.forEach((v, i) => {
      if (v.anomalous) anomalyTimes.push(s.times[i]!)
    })
    return { anomalyTimes }
  }
  return undefined
}

interface Cell {
  readonly metrics: Detectors.Backtest.LabelMetrics
  readonly falseAlarmsPerDay: number
  readonly anomalyTimes: Array<number>
}

const kinds = new Map(
  modules.map((m) => [m.name, kindOf(m, m.make(m.name === "threshold" ? { upper: 1 } : undefined))])
)

const all = scenarios(seed)
const warnings = [3, 4, 5, 6] as const
const started = performance.now()

// results[warning][detector][scenario]
const results = new Map<number, Map<string, Map<string, Cell | undefined>>>()
for (const w of warnings) {
  const decide = Verdict.threshold({ warning: w, critical: w + 2 })
  const byDetector = new Map<string, Map<string, Cell | undefined>>()
  for (const m of modules) {
    const byScenario = new Map<string, Cell | undefined>()
    for (const s of all) {
      const outcome = run(m, s, decide)
      if (outcome === undefined) {
        byScenario.set(s.name, undefined)
        continue
      }
      const metrics = Detectors.Backtest.evaluate(outcome.anomalyTimes, s.incidents, toleranceMs)
      byScenario.set(s.name, {
        metrics,
        falseAlarmsPerDay: metrics.falsePositives / s.days,
        anomalyTimes: outcome.anomalyTimes
      })
    }
    byDetector.set(m.name, byScenario)
  }
  results.set(w, byDetector)
}

const f = (x: number | null, digits = 2): string => (x === null ? "–" : x.toFixed(digits))
const pad = (s: string, n: number) => s.padStart(n)
const names = modules.map((m) => m.name)
const nameWidth = Math.max(10, ...names.map((n) => n.length)) + 1
const isNoise = (s: Scenario) => s.incidents.length === 0

console.log(
  `bench/accuracy: ${modules.length} detectors (${names.join(", ")}) × ${all.length} scenarios, seed ${seed}, tolerance ${toleranceMs / MINUTE} min, default parameters`
)
console.log(
  "recall = detected incidents / incidents; precision = anomalous points inside [start, end + tolerance] / anomalous points;"
)
console.log(
  "delay = minutes from incident start to first anomaly (detected incidents); FA/d = false positives per day\n"
)

const w4 = results.get(4)!
console.log("## Per detector × scenario (warning threshold 4, critical 6: the defaults)\n")
for (const s of all) {
  console.log(`### ${s.name}: ${s.description} [${s.metric}, ${s.days} d, ${s.incidents.length} incidents]`)
  console.log(
    `${"detector".padEnd(nameWidth)}${pad("recall", 8)}${pad("precision", 10)}${pad("F1", 6)}${pad("delay m", 9)}${pad("FA/d", 8)}`
  )
  for (const n of names) {
    const c = w4.get(n)!.get(s.name)
    if (c === undefined) {
      console.log(`${n.padEnd(nameWidth)}  (skipped: input type)`)
      continue
    }
    const l = c.metrics
    console.log(
      `${n.padEnd(nameWidth)}${pad(f(l.recall), 8)}${pad(f(l.precision), 10)}${pad(isNoise(s) ? "–" : f(l.f1), 6)}${pad(
        l.meanDelayMs === null ? "–" : (l.meanDelayMs / MINUTE).toFixed(1),
        9
      )}${pad(c.falseAlarmsPerDay.toFixed(1), 8)}`
    )
  }
  console.log("")
}

// ---- overview matrix: F1 (incident scenarios) and FA/day (noise scenarios) ----
const short = (name: string) =>
  name.replace("latency-", "lat-").replace("-degradation", "").replace("noise-", "n-").slice(0, 9)
console.log("## Overview at the default threshold: F1 per incident scenario, false alarms/day on noise\n")
console.log(`${"detector".padEnd(nameWidth)}${all.map((s) => pad(short(s.name), 10)).join("")}`)
for (const n of names) {
  const cells = all.map((s) => {
    const c = w4.get(n)!.get(s.name)
    if (c === undefined) return pad("skip", 10)
    return pad(isNoise(s) ? `${c.falseAlarmsPerDay.toFixed(1)}/d` : f(c.metrics.f1), 10)
  })
  console.log(`${n.padEnd(nameWidth)}${cells.join("")}`)
}

// ---- summary: per detector and threshold, then a greedy detector set ----
const incidentScenarios = all.filter((s) => !isNoise(s))
const noiseScenarios = all.filter(isNoise)

interface Score {
  readonly meanF1: number
  readonly meanRecall: number
  readonly noiseFaPerDay: number
  readonly allFaPerDay: number
  /** Incident scenarios counted. */
  readonly scenarios: number
}

/** Scores a set of detectors whose anomalies are united (a point fires if any detector fires on it). */
/** With `applicableOnly`, scenarios none of the set can run on (input type) are left out of the means. */
const scoreSet = (w: number, set: ReadonlyArray<string>, applicableOnly = false): Score => {
  const byDetector = results.get(w)!
  const union = (s: Scenario): Array<number> | undefined => {
    const times = new Set<number>()
    let any = false
    for (const n of set) {
      const c = byDetector.get(n)!.get(s.name)
      if (c === undefined) continue
      any = true
      for (const t of c.anomalyTimes) times.add(t)
    }
    return any ? [...times] : undefined
  }
  let f1 = 0
  let recall = 0
  let fa = 0
  let days = 0
  let counted = 0
  for (const s of incidentScenarios) {
    const u = union(s)
    if (u === undefined && applicableOnly) continue
    counted++
    const m = Detectors.Backtest.evaluate(u ?? [], s.incidents, toleranceMs)
    f1 += m.f1
    recall += m.recall ?? 0
    fa += m.falsePositives
    days += s.days
  }
  let noiseFa = 0
  let noiseDays = 0
  for (const s of noiseScenarios) {
    const u = union(s)
    if (u === undefined && applicableOnly) continue
    noiseFa += (u ?? []).length
    noiseDays += s.days
  }
  return {
    meanF1: counted === 0 ? 0 : f1 / counted,
    meanRecall: counted === 0 ? 0 : recall / counted,
    noiseFaPerDay: noiseDays === 0 ? Number.NaN : noiseFa / noiseDays,
    allFaPerDay: days === 0 ? 0 : fa / days,
    scenarios: counted
  }
}

console.log("\n## Summary per detector and warning threshold (critical = warning + 2)\n")
console.log(
  `mean F1 and recall over the incident scenarios a detector can run on (of ${incidentScenarios.length}); FA noise = false alarms per day on the noise-only scenarios (– if it cannot run on them)\n`
)
console.log(`${"detector".padEnd(nameWidth)}${warnings.map((w) => pad(`w=${w} F1/rec/FA noise`, 24)).join("")}`)
for (const n of names) {
  const cells = warnings.map((w) => {
    const sc = scoreSet(w, [n], true)
    const fa = Number.isNaN(sc.noiseFaPerDay) ? "–" : sc.noiseFaPerDay.toFixed(1)
    return pad(`${f(sc.meanF1)} / ${f(sc.meanRecall)} / ${fa}`, 24)
  })
  console.log(`${n.padEnd(nameWidth)}${cells.join("")}  (${scoreSet(4, [n], true).scenarios} scenarios)`)
}

// the default set must run on any single series: scalar detectors only (peer-group and vector detectors are
// recommended separately, where their input exists)
// `ensemble` is left out: the set itself is an ensemble (a point fires when any member fires, i.e. combine "max")
const scalarNames = names.filter((n) => kinds.get(n) === "scalar" && n !== "ensemble")

// greedy selection: for each threshold, add the detector that raises mean F1 most while the union stays under
// the false-alarm budget on noise; keep the best threshold
const budget = 1 // false alarms per day on noise, for the whole set
let best: { w: number; set: Array<string>; score: Score } | undefined
for (const w of warnings) {
  const set: Array<string> = []
  let current: Score | undefined
  for (let k = 0; k < 3; k++) {
    let pick: { n: string; score: Score } | undefined
    for (const n of scalarNames) {
      if (set.includes(n)) continue
      const sc = scoreSet(w, [...set, n])
      if (sc.noiseFaPerDay > budget) continue
      if (pick === undefined || sc.meanF1 > pick.score.meanF1) pick = { n, score: sc }
    }
    if (pick === undefined || (current !== undefined && pick.score.meanF1 < current.meanF1 + 0.01)) break
    set.push(pick.n)
    current = pick.score
  }
  if (current !== undefined && (best === undefined || current.meanF1 > best.score.meanF1)) {
    best = { w, set, score: current }
  }
}

console.log(
  "\n## The best set of uncalibrated detectors on these synthetic scenarios alone (for comparison: the shipped defaults, below, are chosen on this bench and bench:realworld together)\n"
)
if (best === undefined) {
  console.log(`no detector stays under ${budget} false alarm/day on noise at any threshold`)
} else {
  // default parameters throughout: the config names the detectors only
  const params = best.set.map((n) => ({ type: n }))
  console.log(
    `best raw set: ${best.set.join(" + ")} at warning ${best.w} (critical ${best.w + 2}): mean F1 ${f(best.score.meanF1)}, mean recall ${f(
      best.score.meanRecall
    )}, ${best.score.noiseFaPerDay.toFixed(2)} false alarms/day on noise, ${best.score.allFaPerDay.toFixed(1)}/day outside labels on incident scenarios`
  )
  console.log("per scenario (F1 / recall / delay min):")
  for (const s of incidentScenarios) {
    const times = new Set<number>()
    for (const n of best.set) for (const t of results.get(best.w)!.get(n)!.get(s.name)?.anomalyTimes ?? []) times.add(t)
    const m = Detectors.Backtest.evaluate([...times], s.incidents, toleranceMs)
    console.log(
      `  ${s.name.padEnd(18)} ${f(m.f1)} / ${f(m.recall)} / ${m.meanDelayMs === null ? "–" : (m.meanDelayMs / MINUTE).toFixed(1)}`
    )
  }
  for (const n of names.filter((x) => kinds.get(x) !== "scalar")) {
    const alone = scoreSet(best.w, [n], true)
    const withSet = scoreSet(best.w, [...best.set, n])
    console.log(
      `  + ${n} (${kinds.get(n)} input, ${alone.scenarios} scenarios): alone mean F1 ${f(alone.meanF1)}; added to the set: mean F1 ${f(withSet.meanF1)} (from ${f(best.score.meanF1)}), ${withSet.noiseFaPerDay.toFixed(2)} false alarms/day on noise`
    )
  }
  for (const n of best.set) {
    console.log(`  ${n} parameters (defaults): ${JSON.stringify(modules.find((x) => x.name === n)?.defaults ?? {})}`)
  }
  console.log("replay config:")
  console.log(JSON.stringify({ detectors: params, thresholds: { warning: best.w, critical: best.w + 2 } }))
}
// ---- the shipped default configuration, as the library, serve and replay run it ----
console.log("\n## The default configuration (`Defaults.config`: its detectors per metric and its own deciding step)\n")
const defaultsConfig = Detectors.Defaults.config
console.log(
  `thresholds: warning ${defaultsConfig.thresholds.warning}, critical ${defaultsConfig.thresholds.critical}; detectors: ${defaultsConfig
    .detectors()
    .map((d) => d.name)
    .join(" + ")}\n`
)
console.log(
  `${"scenario".padEnd(20)}${pad("F1", 6)}${pad("recall", 8)}${pad("precision", 10)}${pad("delay m", 9)}${pad("FA/d", 8)}`
)
let defaultsNoiseFa = 0
let defaultsNoiseDays = 0
for (const s of all) {
  const fn = Detector.makeDetectFn({ ...defaultsConfig.detectOptions(), onlyAnomalous: true })
  const key = Series.makeKey("bench", s.name, s.metric)
  const times = new Set<number>()
  for (let i = 0; i < s.values.length; i += 4096) {
    const points: Array<Series.MetricPoint> = []
    for (let j = i; j < Math.min(s.values.length, i + 4096); j++)
      points.push({ key, time: s.times[j]!, value: s.values[j]! })
    for (const scored of fn.apply(points)) times.add(scored.point.time)
  }
  const m = Detectors.Backtest.evaluate([...times], s.incidents, toleranceMs)
  const fa = m.falsePositives / s.days
  if (isNoise(s)) {
    defaultsNoiseFa += m.falsePositives
    defaultsNoiseDays += s.days
  }
  console.log(
    `${s.name.padEnd(20)}${pad(isNoise(s) ? "–" : f(m.f1), 6)}${pad(f(m.recall), 8)}${pad(f(m.precision), 10)}${pad(
      m.meanDelayMs === null ? "–" : (m.meanDelayMs / MINUTE).toFixed(1),
      9
    )}${pad(fa.toFixed(2), 8)}`
  )
  // where peers exist: the defaults with the live peer stage (`Peers.makePeerFn` with `Defaults.config.peerOptions()`,
  // as the pipeline's `peers` option runs it): the peers are the same model on other services, fed in time order
  // after this series (so this series sees its peers' previous minute, as a window closing first would live)
  if (s.peers !== undefined) {
    const peerFn = Peers.makePeerFn({ ...defaultsConfig.peerOptions(), maxAgeMs: MINUTE, onlyAnomalous: true })
    const peerKeys = s.peers.map((_, k) => Series.makeKey(`peer-${k}`, s.name, s.metric))
    const both = new Set(times)
    for (let i = 0; i < s.values.length; i++) {
      const points: Array<Series.MetricPoint> = [{ key, time: s.times[i]!, value: s.values[i]! }]
      for (let k = 0; k < peerKeys.length; k++)
        points.push({ key: peerKeys[k]!, time: s.times[i]!, value: s.peers[k]![i]! })
      for (const scored of peerFn.apply(points)) if (scored.point.key.id === key.id) both.add(scored.point.time)
    }
    const m = Detectors.Backtest.evaluate([...both], s.incidents, toleranceMs)
    console.log(
      `${"  + peer stage".padEnd(20)}${pad(f(m.f1), 6)}${pad(f(m.recall), 8)}${pad(f(m.precision), 10)}${pad(
        m.meanDelayMs === null ? "–" : (m.meanDelayMs / MINUTE).toFixed(1),
        9
      )}${pad((m.falsePositives / s.days).toFixed(2), 8)}  (the defaults with the live peer stage)`
    )
  }
}
console.log(`false alarms per day on the noise-only scenarios: ${(defaultsNoiseFa / defaultsNoiseDays).toFixed(2)}`)
console.log(`\n(${((performance.now() - started) / 1000).toFixed(1)} s)`)
