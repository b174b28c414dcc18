/**
 * The default configuration, as one value ({@link config}): the detectors for each metric (with the metric's
 * minimum meaningful change), and the deciding step they were chosen with. The library, `sentinel serve` and
 * `sentinel replay` share it, so the detectors cannot be run with thresholds they were not chosen for.
 *
 * The choice comes from two benchmarks (the README quotes both tables): `npm run bench:realworld` (43 labelled
 * series from real systems, event-wise) and `npm run bench:accuracy` (synthetic LLM-telemetry scenarios). The
 * default detectors are four views of a series, each {@link Calibrated} (its raw score turned into how rare that
 * score is for this series, in σ units), so that one threshold means the same for all of them: a rate of change
 * (sudden jumps), a robust MAD (far from the recent level), a seasonal baseline (off the usual for the hour of
 * the day and week) and a slow CUSUM (sustained drift). They decide at warning 4.3 / critical 5
 * ({@link defaultThresholds}), chosen on both tables: the lowest threshold whose synthetic false-alarm rate on
 * noise stays within the budget of one a day (4.2 gives 1.04), where the real-series F1 is flat (0.55 from 4.1 to
 * 4.3).
 *
 * @since 0.1.0
 */
import { type Detector, type Peers, Verdict } from "@llm-sentinel/core"
import * as Calibrated from "./Calibrated.ts"
import * as Cusum from "./Cusum.ts"
import type { MinimumChange } from "./internal.ts"
import * as Mad from "./Mad.ts"
import * as PeerGroup from "./PeerGroup.ts"
import * as RateOfChange from "./RateOfChange.ts"
import * as Seasonal from "./Seasonal.ts"

/**
 * The thresholds the default detectors were chosen with: warning at a calibrated score of 4.3 (a point rarer than
 * about 1 in 100,000 for its series), critical at 5.
 *
 * @category constructors
 * @since 0.2.0
 */
export const defaultThresholds: Verdict.Thresholds = { warning: 4.3, critical: 5 }

/**
 * The minimum meaningful change of a metric (see `scaleFloor`: a smaller change scores under 3 in the inner
 * detector): absolute (`minChange`, in the metric's unit), relative to the level (`minRelativeChange`), and
 * whether the values are counts (Poisson spread).
 *
 * @category models
 * @since 0.2.0
 */
export type MetricMinimum = Partial<MinimumChange>

/**
 * The default detector configuration as one value.
 *
 * @category models
 * @since 0.2.0
 */
export interface Config {
  /** The thresholds of the deciding step. */
  readonly thresholds: Verdict.Thresholds
  /** The deciding step the detectors were chosen with. */
  readonly decide: Verdict.Decide
  /**
   * Minimum meaningful changes per metric, by metric name or family prefix (`"latency"` covers `latency.p95`);
   * the longest matching key wins, `"*"` is the fallback.
   */
  readonly minimumChanges: Readonly<Record<string, MetricMinimum>>
  /**
   * The default detectors for a metric (the fallback minimum when the metric is unknown or absent). The same
   * instances for every metric with the same minimum change: detectors keep their per-series state apart, in
   * their `State`, so one instance serves any number of series.
   */
  readonly detectors: (metric?: string) => ReadonlyArray<Detector.Any>
  /** The detect-stage options (`Detector.makeDetectFn`, `Detector.detect`, the pipeline): per-series detectors and `decide`. */
  readonly detectOptions: () => { readonly detectors: Detector.Selection; readonly decide: Verdict.Decide }
  /**
   * The peer-stage options (`Peers.makePeerFn`, the pipeline's `peers`): a {@link PeerGroup} detector per series,
   * judged against the same model's series on other services, with the same deciding step.
   */
  readonly peerOptions: () => Peers.Options
}

/**
 * The default minimum changes: latency and time to first token under 5% or 20 ms, mean token counts under 5%,
 * rates per second or minute are counts with changes under 10% ignored, and the error rate moves by at least 5
 * percentage points (one error in a quiet minute of 20 calls is not an incident; a burst is).
 *
 * @category constructors
 * @since 0.2.0
 */
export const minimumChanges: Readonly<Record<string, MetricMinimum>> = {
  "*": {},
  latency: { minChange: 20, minRelativeChange: 0.05 },
  ttft: { minChange: 20, minRelativeChange: 0.05 },
  "outputTokens.mean": { minRelativeChange: 0.05 },
  "inputTokens.mean": { minRelativeChange: 0.05 },
  "totalTokens.perSecond": { minRelativeChange: 0.1, counts: true },
  "outputTokens.perSecond": { minRelativeChange: 0.1, counts: true },
  "inputTokens.perSecond": { minRelativeChange: 0.1, counts: true },
  "requests.perSecond": { minRelativeChange: 0.1, counts: true },
  "cost.perMinute": { minRelativeChange: 0.1 },
  "error.rate": { minChange: 0.05 }
}

/**
 * The minimum change for a metric: the longest key of `table` that is the metric or a dot-prefix of it, else `"*"`.
 *
 * @category combinators
 * @since 0.2.0
 */
export const minimumFor = (table: Readonly<Record<string, MetricMinimum>>, metric?: string): MetricMinimum => {
  if (metric === undefined) return table["*"] ?? {}
  let best: string | undefined
  for (const key of Object.keys(table)) {
    if (key !== metric && !metric.startsWith(`${key}.`)) continue
    if (best === undefined || key.length > best.length) best = key
  }
  return table[best ?? "*"] ?? {}
}

/**
 * Builds a configuration: the default detectors with the given thresholds and minimum changes (each defaulting to
 * the shipped ones).
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { Defaults } from "@llm-sentinel/detectors"
 * const detect = Detector.makeDetectFn(Defaults.config.detectOptions())
 * const stricter = Defaults.configure({ thresholds: { warning: 5, critical: 7 } })
 * ```
 * @category constructors
 * @since 0.2.0
 */
export const configure = (
  options: {
    readonly thresholds?: Verdict.Thresholds
    readonly minimumChanges?: Readonly<Record<string, MetricMinimum>>
  } = {}
): Config => {
  const thresholds = options.thresholds ?? defaultThresholds
  const table = options.minimumChanges ?? minimumChanges
  const decide = Verdict.threshold(thresholds)
  const make = (minimum: MetricMinimum): ReadonlyArray<Detector.Any> => {
    const calibrated = (detector: Detector.Any) => Calibrated.make({ detector, memory: 3000, tail: 0.05 })
    return [
      // sudden changes: a jump, a dip, a spike
      calibrated(RateOfChange.make({ alpha: 0.01, ...minimum })),
      // points far from the recent robust level
      calibrated(Mad.make(minimum)),
      // departures from the usual value at this hour of the day / week
      calibrated(Seasonal.make(minimum)),
      // sustained shifts: a long-memory baseline (about 400 points) accumulating evidence
      calibrated(Cusum.make({ alpha: 0.005, h: 12, ...minimum }))
    ]
  }
  // one set of detectors per minimum change, shared by every series it applies to: a detector holds no per-series
  // state (that is its `State`), and making one per series cost ~20 KB of closures and compiled state Schemas each
  // (2 GB at 100k series)
  const made = new Map<MetricMinimum, ReadonlyArray<Detector.Any>>()
  const detectors = (metric?: string): ReadonlyArray<Detector.Any> => {
    const minimum = minimumFor(table, metric)
    let found = made.get(minimum)
    if (found === undefined) made.set(minimum, (found = make(minimum)))
    return found
  }
  const peer = PeerGroup.make({ minSamples: 30 })
  return {
    thresholds,
    decide,
    minimumChanges: table,
    detectors,
    detectOptions: () => ({ detectors: (key) => detectors(key.metric), decide }),
    // not calibrated: a lasting offset from the peers is what it reports, and a per-series calibration would learn
    // it away; its scale is pooled over time and corrected for small groups, so its σ units are honest as they are
    peerOptions: () => ({ detector: () => peer, decide })
  }
}

/**
 * The default configuration.
 *
 * @category constructors
 * @since 0.2.0
 */
export const config: Config = configure()

/**
 * The default detectors for a metric. Prefer `config.detectOptions()`, which brings the deciding step along.
 *
 * @category constructors
 * @since 0.1.0
 */
export const detectors = (metric?: string): ReadonlyArray<Detector.Any> => config.detectors(metric)

/**
 * The default thresholds (`config.thresholds`; not the library's `Verdict.defaultThresholds`, warning 4, which
 * uncalibrated detectors used alone decide with).
 *
 * @category constructors
 * @since 0.1.0
 */
export const thresholds: Verdict.Thresholds = config.thresholds

/**
 * The default deciding step (`config.decide`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const decide: Verdict.Decide = config.decide
