/**
 * Event-time progress. A bounded out-of-orderness watermark: after seeing event time `t` for a series, events
 * older than `t - maxDelay` are no longer expected, so windows ending before that may close. Events up to
 * `allowedLateness` behind the watermark still update the windows they belong to (a late firing, revision > 0);
 * older ones are late: counted and sent to the late side output.
 *
 * A series that goes silent would never advance its watermark; after `idleTimeout` of processing time without
 * an event its watermark advances with the processing clock, so its windows close (and empty windows are
 * emitted, which is what makes a traffic drop visible). After `expireAfter` of silence its state is dropped.
 *
 * @since 0.1.0
 */
import { type Duration, Result, Schema } from "effect"
import { toMillis } from "./internal/millis.ts"

/**
 * A resolved watermark, built by {@link bounded}.
 *
 * Durations follow one rule across the library: options take a `Duration.Input` under the plain name
 * (`maxDelay: "5 seconds"`);
 * the resolved value holds it in milliseconds under the same name with an `Ms` suffix (`maxDelayMs: 5000`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Watermark {
  readonly maxDelayMs: number
  readonly allowedLatenessMs: number
  readonly idleTimeoutMs: number
  readonly expireAfterMs: number
}

/**
 * Invalid watermark parameters.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidWatermark extends Schema.TaggedError<InvalidWatermark>("@llm-sentinel/core/InvalidWatermark")(
  "InvalidWatermark",
  { parameter: Schema.String, message: Schema.String }
) {}

/**
 * A bounded out-of-orderness watermark. Defaults: `maxDelay` 5 s, `allowedLateness` 0, `idleTimeout` 30 s,
 * `expireAfter` 1 hour.
 *
 * @example
 * ```ts
 * import { Watermark } from "@llm-sentinel/core"
 * const wm = Watermark.bounded({ maxDelay: "10 seconds", allowedLateness: "1 minute" }) // Result
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const bounded = (
  options: {
    readonly maxDelay?: Duration.Input
    readonly allowedLateness?: Duration.Input
    readonly idleTimeout?: Duration.Input
    readonly expireAfter?: Duration.Input
  } = {}
): Result.Result<Watermark, InvalidWatermark> => {
  const read = (parameter: string, input: Duration.Input | undefined, fallback: number, positive: boolean) => {
    if (input === undefined) return fallback
    const ms = toMillis(input)
    if (ms === undefined || !Number.isFinite(ms) || ms < 0 || (positive && ms === 0)) {
      return new InvalidWatermark({
        parameter,
        message: `${parameter} must be a finite ${positive ? "positive" : "non-negative"} duration, got ${String(
          input
        )}`
      })
    }
    return ms
  }
  const maxDelayMs = read("maxDelay", options.maxDelay, 5_000, false)
  if (typeof maxDelayMs !== "number") return Result.fail(maxDelayMs)
  const allowedLatenessMs = read("allowedLateness", options.allowedLateness, 0, false)
  if (typeof allowedLatenessMs !== "number") return Result.fail(allowedLatenessMs)
  const idleTimeoutMs = read("idleTimeout", options.idleTimeout, 30_000, true)
  if (typeof idleTimeoutMs !== "number") return Result.fail(idleTimeoutMs)
  const expireAfterMs = read("expireAfter", options.expireAfter, 3_600_000, true)
  if (typeof expireAfterMs !== "number") return Result.fail(expireAfterMs)
  if (expireAfterMs < idleTimeoutMs) {
    return Result.fail(new InvalidWatermark({ parameter: "expireAfter", message: "expireAfter must be ≥ idleTimeout" }))
  }
  return Result.succeed({ maxDelayMs, allowedLatenessMs, idleTimeoutMs, expireAfterMs })
}

/**
 * The default watermark (see {@link bounded}).
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaults: Watermark = Result.getOrThrow(bounded())
