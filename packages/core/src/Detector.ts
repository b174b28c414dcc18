/**
 * The detector contract. A detector is a pure state machine over the points of one series:
 * `initial()` makes a fresh state, `score` assesses a point against the state without changing it, and
 * `learn` returns the state after the point. Its `state` Schema encodes the state to JSON and back, so it can
 * be checkpointed and restored.
 *
 * Deciding is separate ({@link Verdict.Decide}): {@link step} combines a detector and a decider into one pure
 * transition `(state, value, time) => [state, verdict]`, applying the rules every detector shares: non-finite
 * input is ignored without touching the state, and a point judged anomalous is learned in full only when the
 * detector says `learnAnomalies`; otherwise it goes to the detector's `learnAnomaly` (bounded learning, e.g. the
 * value clipped to the band of its assessment), or is not learned at all when there is none.
 *
 * Bounded learning is what lets a detector adapt to a lasting change: a spike learned as the edge of the band
 * barely moves the baseline, but a level shift that lasts pulls the baseline (and its spread) along until the new
 * level is inside the band and the detector is quiet again, without ever learning an incident's full size.
 *
 * `learn` may update the state in place for speed (and return it), as long as every law of
 * `@llm-sentinel/detectors/testing` still holds; `score` must never mutate.
 *
 * @since 0.1.0
 */
import { Effect, Pipeable, Result, Schema, SchemaGetter, SchemaIssue, SchemaTransformation, Stream } from "effect"
import { dual } from "effect/Function"
import * as TypedBase64 from "./internal/typedBase64.ts"
import type { MetricPoint, SeriesKey } from "./Series.ts"
import * as Slab from "./Slab.ts"
import * as Verdict from "./Verdict.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Detector<S, In = number> extends Pipeable.Pipeable {
  /** A stable identifier, part of anomaly ids: `"zscore"`, `"ewma"`, … */
  readonly name: string
  /** The parameters this instance runs with, for display and documentation. */
  readonly params: Readonly<Record<string, unknown>>
  /** Points to learn before the detector may fire. */
  readonly minSamples: number
  /** Whether points judged anomalous are learned in full (default false: an incident does not become the new normal). */
  readonly learnAnomalies: boolean
  /**
   * Bounded learning of a point judged anomalous (when `learnAnomalies` is false), given its assessment: for
   * example the value clipped to `[lower, upper]`. Absent: anomalous points are not learned at all.
   */
  readonly learnAnomaly: ((state: S, input: In, time: number, assessment: Verdict.Assessment) => S) | undefined
  /** Encodes the state to JSON-compatible values and back. */
  readonly state: Schema.Codec<S, unknown>
  readonly initial: () => S
  readonly score: (state: S, input: In, time: number) => Verdict.Assessment
  readonly learn: (state: S, input: In, time: number) => S
  /** Whether an input may be scored and learned; by default finite numbers (or arrays of them). */
  readonly accepts: (input: In) => boolean
  /**
   * The key of this instance's checkpoints (default `name`). A configured instance sets it to its name and a
   * fingerprint of its parameters, so a restart with other parameters starts that detector afresh while the
   * detectors whose parameters did not change keep their state.
   */
  readonly stateKey?: string
}

/**
 * The key under which an instance's state is checkpointed: its `stateKey`, else its `name`.
 *
 * @category models
 * @since 0.2.0
 */
export const stateKeyOf = (detector: { readonly name: string; readonly stateKey?: string }): string =>
  detector.stateKey ?? detector.name

/**
 * A detector of any state over numbers, as held in collections.
 *
 * @category models
 * @since 0.1.0
 */
// biome-ignore lint/suspicious/noExplicitAny: existential state type
export type Any = Detector<any, number>

const acceptsFinite = (input: unknown): boolean => {
  if (typeof input === "number") return Number.isFinite(input)
  if (Array.isArray(input) || ArrayBuffer.isView(input)) {
    for (const x of input as Iterable<unknown>) if (typeof x !== "number" || !Number.isFinite(x)) return false
    return true
  }
  return false
}

const DetectorProto = {
  pipe() {
    // biome-ignore lint/complexity/noArguments: Pipeable protocol
    return Pipeable.pipeArguments(this, arguments)
  }
}

/**
 * How a detector learns a point judged anomalous when `learnAnomalies` is false: `"clip"` learns the value clipped
 * to the assessment's band `[lower, upper]` (numbers only; a point without finite bounds is not learned), a
 * function does its own bounded update, `"skip"` does not learn it.
 *
 * @category models
 * @since 0.2.0
 */
export type Adapt<S, In> = "clip" | "skip" | ((state: S, input: In, time: number, assessment: Verdict.Assessment) => S)

/**
 * The value learned for an anomalous point under `"clip"`: `x` clipped to `[lower, upper]`, or `undefined` when
 * the bounds are not finite.
 *
 * @category combinators
 * @since 0.2.0
 */
export const clipToBand = (x: number, assessment: Verdict.Assessment): number | undefined => {
  const { lower, upper } = assessment
  if (!Number.isFinite(lower) || !Number.isFinite(upper) || lower > upper) return undefined
  return x < lower ? lower : Math.min(x, upper)
}

const learnAnomalyOf = <S, In>(
  adapt: Adapt<S, In> | undefined,
  learn: (state: S, input: In, time: number) => S
): Detector<S, In>["learnAnomaly"] => {
  if (adapt === undefined || adapt === "skip") return undefined
  if (adapt !== "clip") return adapt
  return (state, input, time, assessment) => {
    if (typeof input !== "number") return state
    const clipped = clipToBand(input, assessment)
    return clipped === undefined ? state : learn(state, clipped as In, time)
  }
}

/**
 * Builds a detector. `learnAnomalies` defaults to false, `adapt` to `"skip"` and `accepts` to "finite numbers".
 *
 * @example
 * ```ts
 * import { Detector } from "@llm-sentinel/core"
 * import { Schema } from "effect"
 * // flags values further than 3 from the running maximum
 * const maxJump = Detector.make({
 *   name: "max-jump",
 *   params: { jump: 3 },
 *   minSamples: 1,
 *   state: Schema.Struct({ n: Schema.Number, max: Schema.Number }),
 *   initial: () => ({ n: 0, max: 0 }),
 *   score: (s, x) => ({ score: Math.max(0, x - s.max) / 3 * 4, expected: s.max, lower: 0, upper: s.max + 3, ready: s.n >= 1 }),
 *   learn: (s, x) => ({ n: s.n + 1, max: Math.max(s.max, x) })
 * })
 * ```
 * @category constructors
 * @since 0.1.0
 */
export const make = <S, In = number>(options: {
  readonly name: string
  readonly params?: Readonly<Record<string, unknown>>
  readonly minSamples: number
  readonly learnAnomalies?: boolean
  /** Bounded learning of anomalous points (see {@link Adapt}); ignored when `learnAnomalies` is true. */
  readonly adapt?: Adapt<S, In>
  readonly state: Schema.Codec<S, unknown>
  readonly initial: () => S
  readonly score: (state: S, input: In, time: number) => Verdict.Assessment
  readonly learn: (state: S, input: In, time: number) => S
  readonly accepts?: (input: In) => boolean
}): Detector<S, In> =>
  Object.assign(Object.create(DetectorProto), {
    name: options.name,
    params: options.params ?? {},
    minSamples: options.minSamples,
    learnAnomalies: options.learnAnomalies ?? false,
    learnAnomaly: options.learnAnomalies === true ? undefined : learnAnomalyOf(options.adapt, options.learn),
    state: options.state,
    initial: options.initial,
    score: options.score,
    learn: options.learn,
    accepts: options.accepts ?? acceptsFinite
  })

/**
 * One pure transition of a detector with a deciding step.
 *
 * @category models
 * @since 0.1.0
 */
export type Step<S, In = number> = (state: S, input: In, time: number) => readonly [S, Verdict.Verdict]

const rejected = Verdict.notReady("non-finite input ignored")

/**
 * Combines a detector with a deciding step (default {@link Verdict.threshold}) into one transition. Input the
 * detector does not accept yields a not-ready verdict and leaves the state untouched. A point judged anomalous is
 * learned in full with `learnAnomalies`, else through `learnAnomaly` when the detector has one, else not at all.
 *
 * @category combinators
 * @since 0.1.0
 */
export const step =
  <S, In>(detector: Detector<S, In>, decide: Verdict.Decide = Verdict.threshold()): Step<S, In> =>
  (state, input, time) => {
    if (!detector.accepts(input) || !Number.isFinite(time)) return [state, rejected]
    const assessment = detector.score(state, input, time)
    const verdict = decide(assessment, typeof input === "number" ? input : Number.NaN)
    if (verdict.anomalous && !detector.learnAnomalies) {
      const bounded = detector.learnAnomaly
      return [bounded === undefined ? state : bounded(state, input, time, assessment), verdict]
    }
    return [detector.learn(state, input, time), verdict]
  }

/**
 * Runs a detector over a whole array of values (times are the indices unless given), from a fresh state.
 *
 * @category combinators
 * @since 0.1.0
 */
export const run = <S, In>(
  detector: Detector<S, In>,
  inputs: ReadonlyArray<In>,
  options: { readonly decide?: Verdict.Decide; readonly times?: ReadonlyArray<number>; readonly state?: S } = {}
): { readonly state: S; readonly verdicts: Array<Verdict.Verdict> } => {
  const transition = step(detector, options.decide)
  let state = options.state ?? detector.initial()
  const verdicts: Array<Verdict.Verdict> = new Array(inputs.length)
  for (let i = 0; i < inputs.length; i++) {
    const [next, verdict] = transition(state, inputs[i] as In, options.times?.[i] ?? i)
    state = next
    verdicts[i] = verdict
  }
  return { state, verdicts }
}

/**
 * A checkpoint could not be decoded into a detector's state.
 *
 * @category errors
 * @since 0.1.0
 */
export class DetectorStateError extends Schema.TaggedError<DetectorStateError>("@llm-sentinel/core/DetectorStateError")(
  "DetectorStateError",
  {
    detector: Schema.String,
    message: Schema.String
  }
) {}

/**
 * Encodes a detector state as a JSON string.
 *
 * @category combinators
 * @since 0.1.0
 */
export const snapshot = <S, In>(detector: Detector<S, In>, state: S): string => {
  let encode = encoders.get(detector.state)
  if (encode === undefined)
    encoders.set(detector.state, (encode = Schema.encodeSync(detector.state) as (state: unknown) => unknown))
  return JSON.stringify(encode(state))
}

// one encoder per state Schema: building it per call was half the cost of a snapshot
const encoders = new WeakMap<object, (state: unknown) => unknown>()

/**
 * Decodes a JSON string made by {@link snapshot} back into a state.
 *
 * @category combinators
 * @since 0.1.0
 */
export const restore = <S, In>(detector: Detector<S, In>, json: string): Result.Result<S, DetectorStateError> => {
  let raw: unknown
  try {
    raw = JSON.parse(json)
  } catch (e) {
    return Result.fail(new DetectorStateError({ detector: detector.name, message: `not JSON: ${String(e)}` }))
  }
  return Result.mapError(
    Schema.decodeUnknownResult(detector.state)(raw),
    (e) => new DetectorStateError({ detector: detector.name, message: e.message })
  )
}

// One check over the whole array instead of a union per element: a legacy (pre-0.3) snapshot's state arrays.
const isNumberOrNullArray = (u: unknown): u is ReadonlyArray<number | null> => {
  if (!Array.isArray(u)) return false
  for (let i = 0; i < u.length; i++) {
    const x = u[i]
    if (x !== null && typeof x !== "number") return false
  }
  return true
}

/** The largest finite float32: a finite number beyond it would silently become ±Infinity in a `Float32Array`. */
const FLOAT32_MAX = 3.4028234663852886e38

// the guard only tells a string from a legacy number array: the strict base64 check runs on decode alone (in the
// guard it would run on every encode too, and encoding is the checkpoint's critical path: tens of thousands of
// states at a time)
const floatArrayState = <T extends Float32Array<ArrayBuffer> | Float64Array<ArrayBuffer>>(options: {
  readonly type: typeof Float32Array | typeof Float64Array
  readonly make: (length: number) => T
  readonly from: (xs: ReadonlyArray<number | null>) => T
  /** Why a legacy array cannot be held, or `undefined`. */
  readonly legacyProblem: (xs: ReadonlyArray<number | null>) => string | undefined
}): Schema.Codec<T, string | ReadonlyArray<number | null>> => {
  const width = options.type.BYTES_PER_ELEMENT
  const entries = `float${width * 8}`
  return Schema.declare(
    (u: unknown): u is string | ReadonlyArray<number | null> => typeof u === "string" || isNumberOrNullArray(u),
    { expected: `base64 of ${entries} entries (or an array of numbers or nulls)` }
  ).pipe(
    Schema.decodeTo(
      Schema.instanceOf(options.type) as unknown as Schema.Codec<T>,
      SchemaTransformation.makeTransformation({
        decode: SchemaGetter.transformEffect<T, string | ReadonlyArray<number | null>>((e, parseOptions) => {
          const problem = typeof e === "string" ? TypedBase64.problem(e, width) : options.legacyProblem(e)
          if (problem !== undefined) {
            return Effect.fail(
              new SchemaIssue.InvalidValue({ expected: `base64 of ${entries} entries (${problem})` }, e, parseOptions)
            )
          }
          return Effect.succeed(typeof e === "string" ? TypedBase64.decode(e, width, options.make) : options.from(e))
        }),
        encode: SchemaGetter.transform<string | ReadonlyArray<number | null>, T>(TypedBase64.encode)
      })
    )
  )
}

const nullAsNaN = (x: number | null): number => (x === null ? Number.NaN : x)

/**
 * A `Float64Array` encoded as base64 of its little-endian bytes (exact, NaN and ±Infinity included), for ring
 * buffers in detector state. Decodes the older encoding too, an array of numbers with `null` for non-finite
 * entries.
 *
 * @category models
 * @since 0.1.0
 */
export const Float64ArrayState: Schema.Codec<
  Float64Array<ArrayBuffer>,
  string | ReadonlyArray<number | null>
> = floatArrayState({
  type: Float64Array,
  make: Slab.float64,
  from: (xs) => Slab.float64From(xs, nullAsNaN),
  legacyProblem: () => undefined
})

/**
 * A `Float32Array` encoded as base64 of its little-endian bytes, for compact detector state whose values need
 * float precision only (ratios, offsets from a level, counts up to 2^24). Decodes the older encoding too, an
 * array of numbers with `null` for non-finite entries; there, a finite number beyond the float32 range (about
 * ±3.4e38) fails to decode instead of becoming ±Infinity, and others are rounded to the nearest float32.
 *
 * @category models
 * @since 0.2.0
 */
export const Float32ArrayState: Schema.Codec<
  Float32Array<ArrayBuffer>,
  string | ReadonlyArray<number | null>
> = floatArrayState({
  type: Float32Array,
  make: Slab.float32,
  from: (xs) => Slab.float32From(xs, nullAsNaN),
  legacyProblem: (xs) =>
    xs.some((x) => typeof x === "number" && Number.isFinite(x) && Math.abs(x) > FLOAT32_MAX)
      ? "an entry beyond the float32 range"
      : undefined
})

/**
 * A number that may be non-finite (NaN, ±Infinity), encoded as a JSON-safe string for those cases.
 *
 * @category models
 * @since 0.1.0
 */
export const AnyNumberState: Schema.Codec<number, number | string> = Schema.declare(
  (u: unknown): u is number | string => typeof u === "number" || typeof u === "string",
  { expected: "a number or a string" }
).pipe(
  Schema.decodeTo(
    Schema.Number,
    SchemaTransformation.transform<number, number | string>({
      decode: (x) => (typeof x === "number" ? x : Number(x)),
      encode: (x) => (Number.isFinite(x) ? x : String(x))
    })
  )
)

/**
 * One detector's verdict on one point of one series.
 *
 * @category models
 * @since 0.1.0
 */
export interface Scored {
  readonly point: MetricPoint
  readonly detector: string
  readonly verdict: Verdict.Verdict
}

/**
 * Which detectors run on a series. A list applies to every series; a function chooses per series key (an empty
 * list means the series is not watched).
 *
 * @category models
 * @since 0.1.0
 */
export type Selection = ReadonlyArray<Any> | ((key: SeriesKey) => ReadonlyArray<Any>)

/**
 * The state of the detect stage: the detector states of every series, keyed by series id.
 *
 * @category models
 * @since 0.1.0
 */
export interface DetectState {
  readonly series: Map<string, SeriesDetectors>
}

interface SeriesDetectors {
  readonly detectors: ReadonlyArray<Any>
  readonly steps: ReadonlyArray<Step<unknown, number>>
  // biome-ignore lint/suspicious/noExplicitAny: per-detector state
  readonly states: Array<any>
}

/**
 * Options of the detect stage.
 *
 * @category models
 * @since 0.1.0
 */
export interface DetectOptions {
  readonly detectors: Selection
  readonly decide?: Verdict.Decide
  /** Emit only the verdicts that fired (default false: every verdict, which the alert policy needs to resolve). */
  readonly onlyAnomalous?: boolean
  /**
   * A checkpointed state (JSON made by {@link snapshot}) for a detector of a series seen for the first time,
   * e.g. loaded from a `StateStore` at start-up. A checkpoint that no longer decodes (the detector's parameters
   * or version changed) is ignored and the detector starts fresh.
   */
  readonly restore?: (seriesId: string, detector: string) => string | undefined
  /** Called for each checkpoint from `restore` that does not decode, with why (so the caller can report it). */
  readonly onRestoreFailure?: (seriesId: string, detector: string, error: DetectorStateError) => void
}

/**
 * A snapshot of one detector of one series, as made by {@link DetectFn.checkpoint}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Checkpoint {
  readonly seriesId: string
  readonly detector: string
  readonly state: string
}

/**
 * The detect stage as a pure chunk-wise function with its state.
 *
 * @category models
 * @since 0.1.0
 */
export interface DetectFn {
  readonly state: DetectState
  readonly apply: (points: ReadonlyArray<MetricPoint>) => Array<Scored>
  /**
   * Snapshots of every series whose state changed since the last call (all series on the first call). With
   * `maxSeries`, of at most that many of them: the others stay changed for the next call, so a caller can take a
   * large checkpoint in slices (an empty result means there is nothing left).
   */
  readonly checkpoint: (maxSeries?: number) => Array<Checkpoint>
  /** Series whose state changed since they were last checkpointed. */
  readonly changed: () => number
  /** Detector states restored from checkpoints, and checkpoints that failed to decode. */
  readonly restored: () => { readonly ok: number; readonly failed: number }
}

/**
 * A pure, chunk-wise detect function with its own state: feed it arrays of points, get the verdicts. The stream
 * operator {@link detect}, the pipeline and `sentinel replay` all run this, so there is one implementation of
 * detection.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeDetectFn = (options: DetectOptions): DetectFn => {
  const state: DetectState = { series: new Map() }
  const select =
    typeof options.detectors === "function" ? options.detectors : () => options.detectors as ReadonlyArray<Any>
  const decide = options.decide ?? Verdict.threshold()
  const onlyAnomalous = options.onlyAnomalous ?? false
  const dirty = new Set<string>()
  const stepsOf = new WeakMap<ReadonlyArray<Any>, ReadonlyArray<Step<unknown, number>>>()
  let restoredOk = 0
  let restoredFailed = 0
  const initial = (seriesId: string, d: Any): unknown => {
    const json = options.restore?.(seriesId, stateKeyOf(d))
    if (json === undefined) return d.initial()
    const back = restore(d, json)
    if (Result.isSuccess(back)) {
      restoredOk++
      return back.success
    }
    restoredFailed++
    options.onRestoreFailure?.(seriesId, stateKeyOf(d), back.failure)
    return d.initial()
  }
  const apply = (points: ReadonlyArray<MetricPoint>): Array<Scored> => {
    const out: Array<Scored> = []
    for (let i = 0; i < points.length; i++) {
      const point = points[i]!
      const id = point.key.id
      let series = state.series.get(id)
      if (series === undefined) {
        const detectors = select(point.key)
        // the step functions of a detector list are made once and shared by every series that has it (a selection
        // returns the same list for many series): 4 closures per series were ~500 B each signal
        let steps = stepsOf.get(detectors)
        if (steps === undefined) stepsOf.set(detectors, (steps = detectors.map((d) => step(d, decide))))
        series = {
          detectors,
          steps,
          states: detectors.map((d) => initial(id, d))
        }
        state.series.set(id, series)
      }
      dirty.add(id)
      for (let d = 0; d < series.detectors.length; d++) {
        const [next, verdict] = series.steps[d]!(series.states[d], point.value, point.time)
        series.states[d] = next
        if (!onlyAnomalous || verdict.anomalous) out.push({ point, detector: series.detectors[d]!.name, verdict })
      }
    }
    return out
  }
  const checkpoint = (maxSeries = Number.POSITIVE_INFINITY): Array<Checkpoint> => {
    const out: Array<Checkpoint> = []
    let taken = 0
    for (const seriesId of dirty) {
      if (taken >= maxSeries) break
      taken++
      // deleting the current entry while iterating a Set is safe: iteration goes on with the next one
      dirty.delete(seriesId)
      const series = state.series.get(seriesId)
      if (series === undefined) continue
      for (let d = 0; d < series.detectors.length; d++) {
        const detector = series.detectors[d]!
        out.push({ seriesId, detector: stateKeyOf(detector), state: snapshot(detector, series.states[d]) })
      }
    }
    return out
  }
  return {
    state,
    apply,
    checkpoint,
    changed: () => dirty.size,
    restored: () => ({ ok: restoredOk, failed: restoredFailed })
  }
}

/**
 * The detect stage as a stream operator: metric points in, verdicts out, per-series order kept, work done per
 * chunk.
 *
 * @example
 * ```ts
 * import { Detector, Series } from "@llm-sentinel/core"
 * import { Stream } from "effect"
 * declare const zscore: Detector.Any
 * const points = Stream.make({ key: Series.makeKey("chat", "gpt-4o", "latency"), time: 0, value: 500 })
 * const verdicts = points.pipe(Detector.detect({ detectors: [zscore] }))
 * ```
 * @category combinators
 * @since 0.1.0
 */
export const detect: {
  (options: DetectOptions): <E, R>(self: Stream.Stream<MetricPoint, E, R>) => Stream.Stream<Scored, E, R>
  <E, R>(self: Stream.Stream<MetricPoint, E, R>, options: DetectOptions): Stream.Stream<Scored, E, R>
} = dual(
  2,
  <E, R>(self: Stream.Stream<MetricPoint, E, R>, options: DetectOptions): Stream.Stream<Scored, E, R> =>
    Stream.mapAccumArray(
      self,
      () => makeDetectFn(options),
      (fn, points) => [fn, fn.apply(points)]
    )
)
