/**
 * `npm run bench:realworld`: every shipped detector, and the default configuration (`Defaults`), over the labelled
 * real series of `../shared/data/realworld/` (override with `--data DIR` or `SENTINEL_REALWORLD`), beside a plain
 * rolling z-score baseline (window 300, learning every point) computed in the same run.
 *
 * Detection goes through `Detector.makeDetectFn`, the code `sentinel replay` and the live pipeline run, one series
 * at a time, rows in file order, times from the file.
 *
 * Scoring is event-wise ({@link scoreSeries}):
 * - an **alert** is a run of consecutive anomalous rows; it is placed at its first row;
 * - a labelled window `[s, e]` (rows) is **detected** when an alert starts in `[s − 5, e + 30]`;
 * - the first 15% of each file, at most 750 rows, is **warm-up**: alerts starting there and windows starting there
 *   are not scored (and an alert inside the tolerant range of such a window is neither true nor false);
 * - **recall** = detected windows / windows; **false alarms** = alerts that start in no window's tolerant range;
 *   **precision** = detected windows / (detected windows + false alarms), so that an alert flapping inside one
 *   window is not rewarded; **F1** from those two; **FA/day** = false alarms / scored days (per series per day);
 *   **delay** = mean over detected windows of (first alert start in its range − window start), at least 0, in
 *   minutes.
 * Figures are pooled over the series of a group (or of the corpus): counts are summed, then divided.
 *
 * Two operating points per detector: its **own decision** (the `anomalous` flags a user gets: `Defaults.config`'s
 * deciding step for the default set, the library's `Verdict.threshold()` (warning 4) for a detector used alone),
 * and the **best global threshold**: the per-row scores of that same run thresholded
 * afterwards at the one threshold that maximises the corpus F1 (an upper bound on what re-thresholding could do;
 * the detectors' learning still followed their own decisions).
 *
 * Options: `--data DIR`, `--only name,name` (detectors to run; `defaults` and `baseline` always run), `--quiet`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, resolve } from "node:path"
import { Detector, Series, Verdict } from "@llm-sentinel/core"
import * as Detectors from "@llm-sentinel/detectors"

const DAY_MS = 86_400_000
/** An alert may start this many rows before a labelled window and still detect it. */
export const EARLY_ROWS = 5
/** ... or this many rows after its last row. */
export const LATE_ROWS = 30

/** One labelled series of the corpus. */
export interface LabelledSeries {
  readonly group: string
  readonly name: string
  readonly times: Float64Array
  readonly values: Float64Array
  /** Labelled windows as inclusive row ranges `[first, last]`. */
  readonly windows: ReadonlyArray<readonly [number, number]>
}

/** Warm-up rows of a file of `n` rows: 15% of it, at most 750. */
export const warmupRows = (n: number): number => Math.min(750, Math.floor(0.15 * n))

const lowerBound = (xs: Float64Array, x: number): number => {
  let lo = 0
  let hi = xs.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (xs[mid]! < x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Reads the corpus: `labels.json` maps each CSV (relative path) to `[start, end]` ISO timestamps. */
export const loadCorpus = (dir: string): Array<LabelledSeries> => {
  const labels = JSON.parse(readFileSync(join(dir, "labels.json"), "utf8")) as Record<
    string,
    ReadonlyArray<readonly [string, string]>
  >
  const out: Array<LabelledSeries> = []
  for (const group of readdirSync(dir).sort()) {
    if (!statSync(join(dir, group)).isDirectory()) continue
    for (const file of readdirSync(join(dir, group)).sort()) {
      if (!file.endsWith(".csv")) continue
      const rel = `${group}/${file}`
      const lines = readFileSync(join(dir, rel), "utf8").split("\n")
      const times: Array<number> = []
      const values: Array<number> = []
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i]!
        if (line === "") continue
        const comma = line.indexOf(",")
        times.push(Date.parse(line.slice(0, comma)))
        values.push(Number(line.slice(comma + 1)))
      }
      const t = Float64Array.from(times)
      const windows = (labels[rel] ?? []).map(
        ([s, e]) => [lowerBound(t, Date.parse(s)), lowerBound(t, Date.parse(e))] as const
      )
      out.push({ group, name: file.replace(/\.csv$/, ""), times: t, values: Float64Array.from(values), windows })
    }
  }
  return out
}

/** Event counts of one series (or pooled). */
export interface Counts {
  windows: number
  detected: number
  falseAlarms: number
  days: number
  /** Sum of delays over detected windows, ms. */
  delayMs: number
}

export const emptyCounts = (): Counts => ({ windows: 0, detected: 0, falseAlarms: 0, days: 0, delayMs: 0 })

export const addCounts = (a: Counts, b: Counts): Counts => {
  a.windows += b.windows
  a.detected += b.detected
  a.falseAlarms += b.falseAlarms
  a.days += b.days
  a.delayMs += b.delayMs
  return a
}

/** The start rows of the alerts: runs of consecutive `true` flags. */
export const alertStarts = (flags: ArrayLike<boolean | number>): Array<number> => {
  const out: Array<number> = []
  let previous = false
  for (let i = 0; i < flags.length; i++) {
    const f = Boolean(flags[i])
    if (f && !previous) out.push(i)
    previous = f
  }
  return out
}

/** Scores alert start rows against a series' labelled windows, event-wise (see the module documentation). */
export const scoreSeries = (
  s: Pick<LabelledSeries, "times" | "windows">,
  starts: ReadonlyArray<number>,
  warmup = warmupRows(s.times.length)
): Counts => {
  const n = s.times.length
  const ranges = s.windows.map(([a, b]) => ({
    from: a - EARLY_ROWS,
    to: b + LATE_ROWS,
    start: a,
    scored: a >= warmup,
    first: -1
  }))
  let falseAlarms = 0
  for (const at of starts) {
    if (at < warmup) continue
    let matched = false
    for (const r of ranges) {
      if (at < r.from || at > r.to) continue
      matched = true
      if (r.scored && r.first === -1) r.first = at
    }
    if (!matched) falseAlarms++
  }
  const scored = ranges.filter((r) => r.scored)
  const detected = scored.filter((r) => r.first !== -1)
  const times = s.times
  const span =
    n > warmup
      ? times[n - 1]! - times[warmup]! + (n > warmup + 1 ? (times[n - 1]! - times[warmup]!) / (n - warmup - 1) : 0)
      : 0
  return {
    windows: scored.length,
    detected: detected.length,
    falseAlarms,
    days: span / DAY_MS,
    delayMs: detected.reduce((sum, r) => sum + Math.max(0, times[r.first]! - times[r.start]!), 0)
  }
}

/** Precision, recall, F1, false alarms per day and mean delay (minutes) of pooled counts. */
export const metricsOf = (c: Counts) => {
  const precision = c.detected + c.falseAlarms === 0 ? 0 : c.detected / (c.detected + c.falseAlarms)
  const recall = c.windows === 0 ? 0 : c.detected / c.windows
  return {
    precision,
    recall,
    f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall),
    faPerDay: c.days === 0 ? 0 : c.falseAlarms / c.days,
    delayMin: c.detected === 0 ? Number.NaN : c.delayMs / c.detected / 60_000
  }
}

/** The per-row outcome of one configuration on one series: best ready score (NaN if none) and the flags. */
export interface RowOutcome {
  readonly scores: Float64Array
  readonly flags: Uint8Array
}

/** Runs detectors through `Detector.makeDetectFn` (the live detection code) over a series, in 4096-row chunks. */
export const runDetectors = (
  s: LabelledSeries,
  detectors: ReadonlyArray<Detector.Any>,
  decide: Verdict.Decide,
  toInput: (x: number) => unknown = (x) => x
): RowOutcome => {
  const key = Series.makeKey("realworld", s.name, "value")
  const fn = Detector.makeDetectFn({ detectors, decide })
  const n = s.values.length
  const scores = new Float64Array(n).fill(Number.NaN)
  const flags = new Uint8Array(n)
  const k = detectors.length
  for (let from = 0; from < n; from += 4096) {
    const to = Math.min(n, from + 4096)
    const points: Array<Series.MetricPoint> = []
    for (let i = from; i < to; i++)
      points.push({ key, time: s.times[i]!, value: toInput(s.values[i]!) as unknown as number })
    const scored = fn.apply(points)
    for (let p = 0; p < points.length; p++) {
      let best = Number.NaN
      let fired = false
      for (let d = p * k; d < (p + 1) * k; d++) {
        const v = scored[d]!.verdict
        if (v.ready && !(v.score <= best)) best = v.score
        if (v.anomalous) fired = true
      }
      scores[from + p] = best
      flags[from + p] = fired ? 1 : 0
    }
  }
  return { scores, flags }
}

/**
 * The plain baseline: a rolling z-score over the last 300 points, learning every point (about as simple as
 * detection gets), `|x − mean| / sd` with no floor (a flat window scores 0 on its own value, +∞ otherwise).
 */
export const baselineScores = (values: Float64Array, window = 300): Float64Array => {
  const n = values.length
  const out = new Float64Array(n).fill(Number.NaN)
  let sum = 0
  let sumSq = 0
  for (let i = 0; i < n; i++) {
    const count = Math.min(i, window)
    if (count >= 30) {
      const mean = sum / count
      const sd = Math.sqrt(Math.max(0, sumSq / count - mean * mean))
      const d = Math.abs(values[i]! - mean)
      out[i] = sd > 1e-12 * Math.max(1, Math.abs(mean)) ? d / sd : d === 0 ? 0 : Number.POSITIVE_INFINITY
    }
    const x = values[i]!
    sum += x
    sumSq += x * x
    if (i >= window) {
      const old = values[i - window]!
      sum -= old
      sumSq -= old * old
    }
    if (i % window === window - 1) {
      // exact recomputation once per window: no drift of the running sums
      sum = 0
      sumSq = 0
      for (let j = i - window + 1; j <= i; j++) {
        sum += values[j]!
        sumSq += values[j]! * values[j]!
      }
    }
  }
  return out
}

/** Alert starts of a score series at a threshold (NaN never fires). */
export const startsAt = (scores: Float64Array, threshold: number): Array<number> => {
  const out: Array<number> = []
  let previous = false
  for (let i = 0; i < scores.length; i++) {
    const f = scores[i]! >= threshold
    if (f && !previous) out.push(i)
    previous = f
  }
  return out
}

/** Thresholds tried for the best global threshold: 1.5 to 1000, log-spaced (about 4% apart). */
export const thresholdGrid: ReadonlyArray<number> = Array.from({ length: 167 }, (_, i) => 1.5 * 1.04 ** i).filter(
  (t) => t <= 1000
)

interface Row {
  readonly name: string
  readonly own?: Map<string, Counts>
  readonly best: { readonly threshold: number; readonly byGroup: Map<string, Counts> }
}

const pooled = (corpus: ReadonlyArray<LabelledSeries>, per: ReadonlyArray<Counts>): Map<string, Counts> => {
  const byGroup = new Map<string, Counts>([["all", emptyCounts()]])
  corpus.forEach((s, i) => {
    if (!byGroup.has(s.group)) byGroup.set(s.group, emptyCounts())
    addCounts(byGroup.get(s.group)!, per[i]!)
    addCounts(byGroup.get("all")!, per[i]!)
  })
  return byGroup
}

/** The best global threshold for per-series score arrays: the one maximising the pooled F1 of the corpus. */
export const bestThreshold = (
  corpus: ReadonlyArray<LabelledSeries>,
  scores: ReadonlyArray<Float64Array>
): { readonly threshold: number; readonly byGroup: Map<string, Counts> } => {
  let best: { threshold: number; byGroup: Map<string, Counts>; f1: number } | undefined
  for (const t of thresholdGrid) {
    const per = corpus.map((s, i) => scoreSeries(s, startsAt(scores[i]!, t)))
    const byGroup = pooled(corpus, per)
    const f1 = metricsOf(byGroup.get("all")!).f1
    if (best === undefined || f1 > best.f1) best = { threshold: t, byGroup, f1 }
  }
  return best!
}

const evaluateConfig = (
  corpus: ReadonlyArray<LabelledSeries>,
  name: string,
  make: () => ReadonlyArray<Detector.Any>,
  decide: Verdict.Decide,
  toInput?: (x: number) => unknown
): Row => {
  const outcomes = corpus.map((s) => runDetectors(s, make(), decide, toInput))
  const own = pooled(
    corpus,
    corpus.map((s, i) => scoreSeries(s, alertStarts(outcomes[i]!.flags)))
  )
  return {
    name,
    own,
    best: bestThreshold(
      corpus,
      outcomes.map((o) => o.scores)
    )
  }
}

const scalarModules = (): Array<{ name: string; make: () => Detector.Any; toInput?: (x: number) => unknown }> =>
  Detectors.Catalog.modules().flatMap((m) => {
    const d = m.make()
    if (d.accepts(1)) return [{ name: m.name, make: () => m.make() as Detector.Any }]
    if (d.accepts([1])) return [{ name: m.name, make: () => m.make() as Detector.Any, toInput: (x: number) => [x] }]
    return [] // peer-group needs peers: not a single-series detector
  })

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "–")
const f1d = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "–")

/** Prints the overall table and the per-group F1 matrix. */
export const report = (rows: ReadonlyArray<Row>, groups: ReadonlyArray<string>): string => {
  const lines: Array<string> = []
  const table = (group: string) => {
    lines.push(
      "| configuration | P | R | F1 | FA/day | delay min | best thr | P | R | F1 | FA/day | delay min |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for (const r of rows) {
      const own = r.own === undefined ? undefined : metricsOf(r.own.get(group)!)
      const b = metricsOf(r.best.byGroup.get(group)!)
      const o =
        own === undefined
          ? ["–", "–", "–", "–", "–"]
          : [f2(own.precision), f2(own.recall), f2(own.f1), f2(own.faPerDay), f1d(own.delayMin)]
      lines.push(
        `| ${r.name} | ${o.join(" | ")} | ${f1d(r.best.threshold)} | ${f2(b.precision)} | ${f2(b.recall)} | ${f2(b.f1)} | ${f2(b.faPerDay)} | ${f1d(b.delayMin)} |`
      )
    }
  }
  lines.push("## All series", "")
  table("all")
  for (const g of groups.filter((x) => x !== "all")) {
    lines.push("", `## ${g} (the best threshold is the corpus-wide one)`, "")
    table(g)
  }
  return lines.join("\n")
}

const argOf = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? undefined : process.argv[i + 1]
}

if (import.meta.main) {
  const here = new URL(".", import.meta.url).pathname
  const dir = resolve(
    argOf("data") ?? process.env.SENTINEL_REALWORLD ?? join(here, "..", "..", "..", "shared", "data", "realworld")
  )
  const only = argOf("only")?.split(",")
  const started = performance.now()
  const corpus = loadCorpus(dir)
  const groups = [...new Set(corpus.map((s) => s.group)), "all"]
  const windows = corpus.reduce((a, s) => a + s.windows.length, 0)
  const rowsTotal = corpus.reduce((a, s) => a + s.values.length, 0)
  console.log(
    `bench/realworld: ${corpus.length} series, ${rowsTotal.toLocaleString("en")} rows, ${windows} labelled windows from ${dir}`
  )
  console.log(
    `event-wise: an alert detects a window when it starts ${EARLY_ROWS} rows before to ${LATE_ROWS} rows after it; warm-up 15% (≤ 750 rows) not scored; precision = detected / (detected + false alarms)`
  )
  const config = Detectors.Defaults.config
  const rows: Array<Row> = []
  const log = (r: Row) => {
    rows.push(r)
    if (!process.argv.includes("--quiet")) {
      const m = r.own === undefined ? undefined : metricsOf(r.own.get("all")!)
      const b = metricsOf(r.best.byGroup.get("all")!)
      console.error(
        `  ${r.name}: ${m === undefined ? "" : `own F1 ${f2(m.f1)} (P ${f2(m.precision)} R ${f2(m.recall)} FA/d ${f2(m.faPerDay)}); `}best F1 ${f2(b.f1)} at ${f1d(r.best.threshold)} (${((performance.now() - started) / 1000).toFixed(0)} s)`
      )
    }
  }
  log(evaluateConfig(corpus, "defaults", () => config.detectors(), config.decide))
  const baseline = corpus.map((s) => baselineScores(s.values))
  log({ name: "z-score baseline (w 300)", best: bestThreshold(corpus, baseline) })
  for (const m of scalarModules()) {
    if (only !== undefined && !only.includes(m.name)) continue
    log(evaluateConfig(corpus, m.name, () => [m.make()], Verdict.threshold(), m.toInput))
  }
  console.log(
    `\nOwn decision: the defaults at Defaults.config.decide (warning ${config.thresholds.warning}), a detector alone at Verdict.threshold() (warning ${Verdict.defaultThresholds.warning}); best thr = best global threshold afterwards\n`
  )
  console.log(report(rows, groups))
  console.log(`\n(${((performance.now() - started) / 1000).toFixed(1)} s)`)
}
