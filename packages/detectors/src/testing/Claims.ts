/**
 * What a detector declares about itself for the law suite: which optional laws it claims, which universal laws it
 * is exempt from (with a reason), and how to test it (parameters, input domain, a generator for non-number input).
 *
 * Every shipped detector module exports one of these as `claims`, and `laws.test.ts` runs the claimed laws on it.
 *
 * @since 0.1.0
 */
import type * as fc from "fast-check"
import type { LawName } from "./Law.ts"

/**
 * Turns a base number series (what the laws generate: noise, spikes, steps, constants) into the detector's input,
 * one input per point. The map must keep the length and be causal and deterministic (the input at `i` depends only
 * on points `0..i`), so that prefixes map to prefixes: the laws map a warm-up and a warm-up plus probe separately.
 * A non-finite base point should map to an input the detector does not accept (the totality law checks that such
 * input is ignored).
 *
 * @category models
 * @since 0.1.0
 */
export type InputMap<In> = (series: ReadonlyArray<number>) => ReadonlyArray<In>

/**
 * How the laws build inputs: a fixed {@link InputMap}, or a fast-check arbitrary of them (for example one that
 * draws the number of peers or the vector dimension), which fast-check then shrinks with the rest of a
 * counterexample.
 *
 * @category models
 * @since 0.1.0
 */
export type Input<In> = InputMap<In> | fc.Arbitrary<InputMap<In>>

/**
 * A claim that the detector flags a spike (one point) or a step (a level shift) of `size` noise standard
 * deviations, after warming up on a stationary Gaussian series.
 *
 * @category models
 * @since 0.1.0
 */
export interface SensitivityClaim {
  readonly kind: "spike" | "step"
  /** The size of the change, in standard deviations of the noise. */
  readonly size: number
  /** Which direction of change is claimed (default `"both"`: the sign is drawn by the law). */
  readonly direction?: "up" | "down" | "both"
  /** Within how many points of the change's start the detector must fire (default 5). */
  readonly within?: number
}

/**
 * A claim that the detector adapts to a lasting change: after warming up on stationary Gaussian noise, a step of
 * `size` noise standard deviations that lasts is reported (or not) and then becomes the new normal: from `within`
 * points after the step's start on, nothing fires any more (checked over the next 100 points).
 *
 * @category models
 * @since 0.2.0
 */
export interface AdaptationClaim {
  /** The size of the step, in standard deviations of the noise. */
  readonly size: number
  /** After how many points of the step the detector is quiet for good. */
  readonly within: number
}

/**
 * The part of the claims that does not depend on the input type.
 *
 * @category models
 * @since 0.1.0
 */
export interface BaseClaims<P> {
  /** Universal laws this detector opts out of, each with the reason (shown as a skipped test). */
  readonly exempt?: Readonly<Partial<Record<LawName, string>>>
  /** Adding a constant to every point leaves the anomalous flags unchanged. */
  readonly shiftInvariant?: boolean
  /** Multiplying every point by a positive constant leaves the anomalous flags unchanged. */
  readonly scaleInvariant?: boolean
  /** The score does not decrease as a probe point moves away from the expected value (on either side). */
  readonly monotonic?: boolean
  /** The detector flags a change of this size. */
  readonly sensitivity?: SensitivityClaim
  /** The detector is quiet again within a number of points after a lasting step (bounded learning of anomalies). */
  readonly adapts?: AdaptationClaim
  /**
   * An upper bound on the snapshot JSON length. Without it, the boundedState law compares the length after N and
   * after 4N points instead.
   */
  readonly maxStateBytes?: number
  /** Parameters for the instance under test (small windows keep the laws fast and bounded-state meaningful). */
  readonly testParams?: Partial<P>
  /**
   * The detector only makes sense on positive values (latencies, token counts, costs): generated series are
   * positive, except in the totality law, which still feeds every finite number.
   */
  readonly positive?: boolean
  /**
   * Milliseconds between generated points (default one minute). Detectors that bucket by event time (seasonal
   * baselines) set it so that the laws' series cover their buckets.
   */
  readonly interval?: number
}

/**
 * What a detector module declares for the law suite (River's `_unit_test_params` and `_tags`, in one record).
 * Detectors over numbers may omit `input`; detectors over anything else must say how to build their input from a
 * base number series.
 *
 * @example
 * ```ts
 * import type { LawClaims } from "@llm-sentinel/detectors/testing"
 * interface Params { readonly window: number; readonly threshold: number }
 * export const claims: LawClaims<Params> = {
 *   shiftInvariant: true,
 *   scaleInvariant: true,
 *   sensitivity: { kind: "spike", size: 6 },
 *   testParams: { window: 64 }
 * }
 * ```
 * @category models
 * @since 0.1.0
 */
export type LawClaims<P = Readonly<Record<string, unknown>>, In = number> = BaseClaims<P> &
  ([In] extends [number] ? { readonly input?: Input<In> } : { readonly input: Input<In> })
