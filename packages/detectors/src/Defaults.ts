/**
 * The default detector set and thresholds, chosen from the accuracy benchmark (`npm run bench:accuracy`): a
 * seasonal baseline (hour-of-day, so a daily traffic cycle is not an anomaly) and a robust MAD detector, deciding
 * at warning 6 / critical 8. On the benchmark's synthetic LLM-telemetry scenarios this pair had a mean F1 of
 * 0.96 with recall 1.00 and 0.79 false alarms per simulated day on noise-only series, the best of every set
 * within a budget of one false alarm a day (the README quotes the table).
 *
 * @since 0.1.0
 */
import type { Detector } from "@llm-sentinel/core"
import { Verdict } from "@llm-sentinel/core"
import * as Mad from "./Mad.ts"
import * as Seasonal from "./Seasonal.ts"

/**
 * The default detectors, fresh instances with their default parameters.
 *
 * @category constructors
 * @since 0.1.0
 */
export const detectors = (): ReadonlyArray<Detector.Any> => [Seasonal.make(), Mad.make()]

/**
 * The default thresholds: warning at score 6, critical at 8.
 *
 * @category constructors
 * @since 0.1.0
 */
export const thresholds: Verdict.Thresholds = { warning: 6, critical: 8 }

/**
 * The default deciding step ({@link thresholds}).
 *
 * @category constructors
 * @since 0.1.0
 */
export const decide: Verdict.Decide = Verdict.threshold(thresholds)

/**
 * The default configuration as one value: the detectors and the deciding step they were chosen with.
 *
 * @category constructors
 * @since 0.2.0
 */
export const config = { detectors, thresholds, decide }
