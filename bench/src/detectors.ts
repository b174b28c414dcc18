/**
 * `npm run bench:detectors`: the cost of every shipped detector, beside a plain hand-written Welford z-score loop
 * measured in the same run (compare the ratios, not absolute times: the machine is shared and noisy).
 *
 * Per detector:
 * - **score+learn ns/pt**: the detector alone, `score` then `learn` per point over one series, median of 7 runs;
 * - **× base**: that time over the baseline loop's time: the two are timed alternately and the median of the
 *   pairwise ratios is shown;
 * - **step ns/pt**: one `Detector.step` transition (score + decide + learn) with the default deciding step
 *   (`Verdict.threshold()`, which also writes a reason string for every point);
 * - **detectFn ns/pt**: the same through `Detector.makeDetectFn` in chunks of 4096 points (the live detection
 *   code: series lookup, verdict objects), median of 7 runs;
 * - **snapshot B**: the length of `Detector.snapshot` (the checkpoint JSON) of one warmed-up state;
 * - **heap B**: in-memory bytes per series: `heapUsed + arrayBuffers` growth (typed arrays live outside the JS
 *   heap), after GC, for 10,000
 *   warmed-up states held in an array, divided by 10,000 (run with `--expose-gc`, as the npm script does;
 *   without it the figure is noisier).
 *
 * Options: `--points N` (default 200000), `--states N` (default 10000).
 */
import { Detector, Series, Verdict } from "@llm-sentinel/core"
import * as Detectors from "@llm-sentinel/detectors"
import { prng } from "./scenarios.ts"

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const N = arg("points", 200_000)
const STATES = arg("states", 10_000)
const WARM = 300
const RUNS = 7

type Module = Detectors.Catalog.Module
const modules: ReadonlyArray<Module> = Detectors.Catalog.modules()

// one noisy series with rare spikes, and a second "peer" view of it
const rng = prng(1)
const values = new Float64Array(N)
for (let i = 0; i < N; i++) values[i] = 800 * Math.exp(0.08 * rng.normal()) * (rng.next() < 0.001 ? 3 : 1)
const times = new Float64Array(N)
for (let i = 0; i < N; i++) times[i] = 1_700_000_000_000 + i * 60_000
const peerInputs = Array.from(values, (value, i) => ({
  value,
  peers: [values[(i + 7) % N]!, values[(i + 13) % N]!, value * 1.1]
}))
const vectorInputs = Array.from(values, (v) => [v])
const paramsFor = (name: string): Record<string, unknown> | undefined =>
  name === "threshold" ? { upper: 2000, lower: 100 } : undefined

const median = (xs: Array<number>): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
let sink: unknown
const once = (f: () => unknown): number => {
  const t0 = process.hrtime.bigint()
  sink = f()
  return Number(process.hrtime.bigint() - t0) / N
}
const time = (f: () => unknown): number => median(Array.from({ length: RUNS }, () => once(f)))
/**
 * Times `f` and the baseline alternately, RUNS pairs: the ratio of each pair is taken, so that the machine's
 * speed, which drifts during a run on a shared box, cancels out. Returns the median time and median ratio.
 */
const paired = (f: () => unknown): { ns: number; ratio: number; base: number } => {
  const ns: Array<number> = []
  const base: Array<number> = []
  const ratio: Array<number> = []
  for (let r = 0; r < RUNS; r++) {
    const b = once(baseline)
    const x = once(f)
    ns.push(x)
    base.push(b)
    ratio.push(x / b)
  }
  return { ns: median(ns), ratio: median(ratio), base: median(base) }
}

/** The baseline: cumulative Welford mean/variance and a z-score per point, learning only non-anomalous points. */
const baseline = (): number => {
  let n = 0
  let mean = 0
  let m2 = 0
  let fired = 0
  for (let i = 0; i < N; i++) {
    const x = values[i]!
    if (n >= 30) {
      const sd = Math.sqrt(m2 / (n - 1))
      if (Math.abs(x - mean) / sd >= 4) {
        fired++
        continue
      }
    }
    n++
    const d = x - mean
    mean += d / n
    m2 += d * (x - mean)
  }
  return fired
}

const inputOf = (m: Module, d: Detector.Detector<unknown, unknown>): ArrayLike<unknown> => {
  if (/peer/i.test(m.name) || (!d.accepts(1) && d.accepts(peerInputs[0]))) return peerInputs
  if (/half|hst|tree|forest/i.test(m.name) || !d.accepts(1)) return vectorInputs
  return values
}

const gc = (globalThis as { gc?: () => void }).gc
const heapNow = (): number => {
  gc?.()
  gc?.()
  const m = process.memoryUsage()
  // typed-array backing stores live outside the JS heap: count them too
  return m.heapUsed + m.arrayBuffers
}

const decide = Verdict.threshold()
const bases: Array<number> = []
time(baseline) // warm-up
console.log(
  `bench/detectors: ${N.toLocaleString("en")} points per run, median of ${RUNS}; state memory over ${STATES.toLocaleString("en")} series warmed with ${WARM} points${gc ? "" : " (no --expose-gc: memory figures are rough)"}`
)
console.log("baseline: a hand-written Welford z-score loop over the same points\n")
console.log(
  `${"detector".padEnd(18)}${"score+learn ns/pt".padStart(19)}${"× base".padStart(9)}${"step ns/pt".padStart(12)}${"detectFn ns/pt".padStart(16)}${"snapshot B".padStart(12)}${"heap B".padStart(10)}`
)

for (const m of modules) {
  const d = m.make(paramsFor(m.name)) as Detector.Detector<unknown, unknown>
  const inputs = inputOf(m, d)
  const transition = Detector.step(d, decide)
  const raw = paired(() => {
    let s = d.initial()
    let sum = 0
    for (let i = 0; i < N; i++) {
      const x = inputs[i]
      const t = times[i]!
      sum += d.score(s, x, t).score
      s = d.learn(s, x, t)
    }
    return sum
  })
  bases.push(raw.base)
  const stepNs = time(() => {
    let s = d.initial()
    let fired = 0
    for (let i = 0; i < N; i++) {
      const [next, v] = transition(s, inputs[i], times[i]!)
      s = next
      if (v.anomalous) fired++
    }
    return fired
  })
  let fnNs = Number.NaN
  if (inputs === values) {
    const key = Series.makeKey("bench", "m", "x")
    const points: Array<Series.MetricPoint> = Array.from(values, (value, i) => ({ key, time: times[i]!, value }))
    const chunks: Array<Array<Series.MetricPoint>> = []
    for (let i = 0; i < N; i += 4096) chunks.push(points.slice(i, i + 4096))
    fnNs = time(() => {
      const fn = Detector.makeDetectFn({ detectors: [d as Detector.Any] })
      let out = 0
      for (const c of chunks) out += fn.apply(c).length
      return out
    })
  }
  // warmed-up state for the snapshot and the memory estimate
  const warm = (): unknown => {
    let s = d.initial()
    for (let i = 0; i < WARM; i++) s = transition(s, inputs[i], times[i]!)[0]
    return s
  }
  const snapshotBytes = Detector.snapshot(d, warm()).length
  const held: Array<unknown> = new Array(STATES)
  const before = heapNow()
  for (let k = 0; k < STATES; k++) held[k] = warm()
  const heapBytes = (heapNow() - before) / STATES
  if (held.length !== STATES) console.log("unreachable")
  console.log(
    `${m.name.padEnd(18)}${raw.ns.toFixed(1).padStart(19)}${raw.ratio.toFixed(1).padStart(9)}${stepNs.toFixed(1).padStart(12)}${(Number.isNaN(fnNs) ? "–" : fnNs.toFixed(1)).padStart(16)}${String(snapshotBytes).padStart(12)}${Math.round(heapBytes).toString().padStart(10)}`
  )
}
// the default detector set of one signal (four calibrated detectors), as `sentinel serve` holds it per series
{
  const config = Detectors.Defaults.config
  const set = config.detectors("latency.p95") as ReadonlyArray<Detector.Detector<unknown, number>>
  const transitions = set.map((d) => Detector.step(d, config.decide))
  const warm = (): Array<unknown> =>
    set.map((d, j) => {
      let s = d.initial()
      for (let i = 0; i < WARM; i++) s = transitions[j]!(s, values[i]!, times[i]!)[0]
      return s
    })
  const sample = warm()
  const snapshotBytes = set.reduce((sum, d, j) => sum + Detector.snapshot(d, sample[j]).length, 0)
  const held: Array<unknown> = new Array(STATES)
  const before = heapNow()
  for (let k = 0; k < STATES; k++) held[k] = warm()
  const heapBytes = (heapNow() - before) / STATES
  if (held.length !== STATES) console.log("unreachable")
  console.log(
    `\ndefault set per signal (Defaults.config.detectors("latency.p95"): ${set.map((d) => d.name).join(" + ")}): heap ${Math.round(heapBytes)} B, snapshots ${snapshotBytes} B`
  )
}
console.log(
  `\nbaseline measured beside each detector: median ${median(bases).toFixed(1)} ns/pt, range ${Math.min(...bases).toFixed(1)}–${Math.max(...bases).toFixed(1)}`
)
if (sink === "unreachable") console.log(sink) // keeps the timed results observable
