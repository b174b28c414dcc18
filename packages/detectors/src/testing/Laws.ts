/**
 * The laws every detector is checked against (River's `check_estimator`, for streaming anomaly detectors). Each
 * law is a fast-check property of a {@link Subject}; it throws a {@link LawViolation} saying where the detector
 * went wrong, and fast-check shrinks the generated series to a small counterexample.
 *
 * Universal laws: determinism, totality, noInputMutation, warmUp, quietOnConstant, snapshotRestore, boundedState,
 * chunkingInvariance. Claimed laws (run only when declared): shiftInvariance, scaleInvariance, sensitivity,
 * monotonic, adaptation.
 *
 * @since 0.1.0
 */
import { isDeepStrictEqual } from "node:util"
import { Detector, Series, type Verdict } from "@llm-sentinel/core"
import { Effect, Result, Stream } from "effect"
import * as fc from "fast-check"
import * as Arbitraries from "./Arbitraries.ts"
import type { InputMap } from "./Claims.ts"
import { firstDifference, sameAssessment, sameVerdict, show } from "./Equivalence.ts"
import { type Law, type LawName, LawViolation, type Subject } from "./Law.ts"

const fail = (message: string): never => {
  throw new LawViolation({ message })
}

const domainOf = <S, In>(s: Subject<S, In>): Arbitraries.Domain => (s.claims.positive === true ? "positive" : "real")

const timesOf = <S, In>(s: Subject<S, In>, n: number, from = 0): Array<number> =>
  Array.from({ length: n }, (_, i) => s.start + (from + i) * s.interval)

const showInput = (x: unknown): string =>
  typeof x === "number"
    ? String(x)
    : JSON.stringify(x, (_, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v))

const mapInputs = <In>(map: InputMap<In>, values: ReadonlyArray<number>): ReadonlyArray<In> => {
  const inputs = map(values)
  if (inputs.length !== values.length)
    fail(`the input map returned ${inputs.length} inputs for ${values.length} points: it must keep the length`)
  return inputs
}

/** Runs a detector from `state` (fresh by default) through `Detector.run`, times on the subject's grid. */
const runOn = <S, In>(
  s: Subject<S, In>,
  detector: Detector.Detector<S, In>,
  inputs: ReadonlyArray<In>,
  options: { readonly from?: number; readonly times?: ReadonlyArray<number>; readonly state?: S } = {}
): { readonly state: S; readonly verdicts: Array<Verdict.Verdict> } =>
  Detector.run(detector, inputs, {
    decide: s.decide,
    times: options.times ?? timesOf(s, inputs.length, options.from ?? 0),
    ...(options.state !== undefined ? { state: options.state } : {})
  })

const snapshotOf = <S, In>(detector: Detector.Detector<S, In>, state: S, when: string): string => {
  try {
    return Detector.snapshot(detector, state)
  } catch (e) {
    return fail(`Detector.snapshot threw ${when}: ${String(e)}`)
  }
}

const checkScores = (verdicts: ReadonlyArray<Verdict.Verdict>, inputs: ReadonlyArray<unknown>): void => {
  for (let i = 0; i < verdicts.length; i++) {
    const v = verdicts[i]!
    if (!Number.isFinite(v.score) || v.score < 0)
      fail(`score at point ${i} (input ${showInput(inputs[i])}) is ${v.score}: scores must be finite and >= 0`)
  }
}

const sameRuns = (
  what: string,
  a: ReadonlyArray<Verdict.Verdict>,
  b: ReadonlyArray<Verdict.Verdict>,
  offset = 0
): void => {
  const i = firstDifference(a, b)
  if (i < 0) return
  const va = a[i]
  const vb = b[i]
  fail(
    va === undefined || vb === undefined
      ? `${what}: ${a.length} verdicts vs ${b.length}`
      : `${what}: verdicts differ at point ${i + offset}: ${show(va)} vs ${show(vb)}`
  )
}

const eventful = <S, In>(s: Subject<S, In>, maxEvents = 3): fc.Arbitrary<Arbitraries.Scenario> =>
  Arbitraries.noise({ domain: domainOf(s), minLength: 0, maxLength: s.minSamples + s.length, maxEvents })

const wildOf = <S, In>(s: Subject<S, In>, domain = domainOf(s)): fc.Arbitrary<Arbitraries.Scenario> =>
  Arbitraries.wild({ domain, minLength: 0, maxLength: s.minSamples + s.length })

const always = (): boolean => true

/**
 * Two fresh instances, and one instance run twice, give identical verdicts and final states on the same input: no
 * randomness, no clock, no state outside the state (a module-level cache, an `initial()` that shares an object).
 *
 * @category testing
 * @since 0.1.0
 */
export const determinism: Law = {
  name: "determinism",
  description: "the same input gives the same verdicts and state, on fresh instances and on a reused one",
  applies: always,
  property: (s) =>
    fc.property(s.input, fc.oneof(eventful(s), wildOf(s)), (map, scenario) => {
      const first = s.make()
      const a = runOn(s, first, mapInputs(map, scenario.values))
      const b = runOn(s, s.make(), mapInputs(map, scenario.values))
      sameRuns("two fresh instances", a.verdicts, b.verdicts)
      const c = runOn(s, first, mapInputs(map, scenario.values))
      sameRuns("the same instance run twice", a.verdicts, c.verdicts)
      const sa = snapshotOf(first, a.state, "on the final state")
      if (sa !== snapshotOf(first, c.state, "on the final state"))
        fail("the same instance run twice ends in different states")
    })
}

/**
 * Never throws on finite input; every score is finite and >= 0; non-finite points (NaN, ±Infinity) interleaved
 * anywhere change nothing: the verdicts on the finite points and the final state equal those of the run without
 * them, and the non-finite points never fire.
 *
 * @category testing
 * @since 0.1.0
 */
export const totality: Law = {
  name: "totality",
  description: "no throw on finite input, finite non-negative scores, non-finite input ignored without effect",
  applies: always,
  property: (s) =>
    fc.property(
      s.input,
      fc.oneof(
        wildOf(s, "real"),
        eventful(s),
        Arbitraries.constant({ domain: "real", minLength: 0, maxLength: s.minSamples + s.length })
      ),
      fc.array(fc.tuple(fc.nat(), Arbitraries.nonFinite), { maxLength: 12 }),
      (map, scenario, inserts) => {
        const clean = scenario.values
        const n = clean.length
        const cleanInputs = mapInputs(map, clean)
        const at = inserts.map(([p, v]) => [p % (n + 1), v] as const).sort((x, y) => x[0] - y[0])
        const dirty: Array<unknown> = []
        const cleanPosition: Array<number> = []
        const poisoned: Array<number> = []
        let k = 0
        for (let i = 0; i <= n; i++) {
          while (k < at.length && at[k]![0] === i) {
            const poison = mapInputs(map, [...clean.slice(0, i), at[k]![1]])
            poisoned.push(dirty.length)
            dirty.push(poison[poison.length - 1])
            k++
          }
          if (i < n) {
            cleanPosition.push(dirty.length)
            dirty.push(cleanInputs[i])
          }
        }
        const dirtyTimes = timesOf(s, dirty.length)
        const cleanTimes = cleanPosition.map((j) => dirtyTimes[j]!)
        const detector = s.make()
        const step = Detector.step(detector, s.decide)
        const stepAll = (inputs: ReadonlyArray<unknown>, times: ReadonlyArray<number>) => {
          let state = detector.initial()
          const verdicts: Array<Verdict.Verdict> = []
          for (let i = 0; i < inputs.length; i++) {
            try {
              const [next, verdict] = step(state, inputs[i] as never, times[i]!)
              state = next
              verdicts.push(verdict)
            } catch (e) {
              fail(`threw at point ${i} (input ${showInput(inputs[i])}): ${String(e)}`)
            }
          }
          return { state, verdicts }
        }
        const plain = stepAll(cleanInputs, cleanTimes)
        checkScores(plain.verdicts, cleanInputs)
        const mixed = stepAll(dirty, dirtyTimes)
        checkScores(mixed.verdicts, dirty)
        for (const j of poisoned)
          if (mixed.verdicts[j]!.anomalous) fail(`the non-finite input ${showInput(dirty[j])} at point ${j} fired`)
        for (let i = 0; i < n; i++) {
          const a = plain.verdicts[i]!
          const b = mixed.verdicts[cleanPosition[i]!]!
          if (!sameVerdict(a, b))
            fail(
              `with non-finite points interleaved, the verdict on finite point ${i} changed: ${show(a)} without them, ${show(b)} with them`
            )
        }
        if (
          snapshotOf(detector, plain.state, "on the final state") !==
          snapshotOf(detector, mixed.state, "on the final state")
        )
          fail("non-finite points changed the final state")
      }
    )
}

/**
 * The points where the mutation laws call `score` on their own: about 64 spread over the series plus every point
 * that fires or first becomes ready (where a detector's special branches run), found by a preview run.
 * Snapshotting around every score call would cost a state encoding per point.
 */
const probedPoints = <S, In>(s: Subject<S, In>, inputs: ReadonlyArray<In>): ((i: number) => boolean) => {
  const preview = runOn(s, s.make(), inputs).verdicts
  const stride = Math.max(1, Math.ceil(preview.length / 64))
  return (i) => i % stride === 0 || preview[i]!.anomalous || (preview[i]!.ready && !(preview[i - 1]?.ready ?? false))
}

/**
 * Neither `score` nor stepping mutates the inputs (the array or the objects in it). Checked after every step, and
 * around `score` at about 64 points per series plus every point that fires or becomes ready.
 *
 * @category testing
 * @since 0.1.0
 */
export const noInputMutation: Law = {
  name: "noInputMutation",
  description: "score and step leave the inputs untouched",
  applies: always,
  property: (s) =>
    fc.property(s.input, fc.oneof(eventful(s), wildOf(s)), (map, scenario) => {
      const probed = probedPoints(s, mapInputs(map, scenario.values))
      const inputs = mapInputs(map, scenario.values)
      const copy = structuredClone(inputs)
      const detector = s.make()
      const step = Detector.step(detector, s.decide)
      const times = timesOf(s, inputs.length)
      let state = detector.initial()
      for (let i = 0; i < inputs.length; i++) {
        const input = inputs[i]!
        if (probed(i) && detector.accepts(input)) {
          detector.score(state, input, times[i]!)
          if (!isDeepStrictEqual(input, copy[i])) fail(`score mutated the input at point ${i}`)
        }
        state = step(state, input, times[i]!)[0]
        if (!isDeepStrictEqual(input, copy[i]))
          fail(`stepping mutated the input at point ${i}: ${showInput(copy[i])} became ${showInput(input)}`)
      }
      if (!isDeepStrictEqual(inputs, copy)) fail("the input array was mutated")
    })
}

/**
 * `score` does not mutate the state (its snapshot is the same before and after) and returns the same assessment
 * when called twice: scoring is a pure function of (state, input, time). (`learn` may update the state in place.)
 * Checked at about 64 points per series plus every point that fires or becomes ready.
 *
 * @category testing
 * @since 0.1.0
 */
export const noStateMutation: Law = {
  name: "noStateMutation",
  description: "score leaves the state untouched and is a function of (state, input, time)",
  applies: always,
  property: (s) =>
    fc.property(s.input, fc.oneof(eventful(s), wildOf(s)), (map, scenario) => {
      const inputs = mapInputs(map, scenario.values)
      const probed = probedPoints(s, inputs)
      const detector = s.make()
      const step = Detector.step(detector, s.decide)
      const times = timesOf(s, inputs.length)
      let state = detector.initial()
      for (let i = 0; i < inputs.length; i++) {
        const input = inputs[i]!
        const time = times[i]!
        if (probed(i) && detector.accepts(input)) {
          const before = snapshotOf(detector, state, `before score at point ${i}`)
          const first = detector.score(state, input, time)
          if (snapshotOf(detector, state, `after score at point ${i}`) !== before)
            fail(`score mutated the state at point ${i} (input ${showInput(input)})`)
          const second = detector.score(state, input, time)
          if (!sameAssessment(first, second))
            fail(`score is not a function of (state, input): two calls at point ${i} disagree`)
        }
        state = step(state, input, time)[0]
      }
    })
}

/**
 * Before `minSamples` points have been learned, no verdict is ready or fires, whatever the points are.
 *
 * @category testing
 * @since 0.1.0
 */
export const warmUp: Law = {
  name: "warmUp",
  description: "no verdict is ready or anomalous before minSamples points were learned",
  applies: always,
  property: (s) =>
    fc.property(s.input, fc.oneof(wildOf(s), eventful(s, 6)), (map, scenario) => {
      const inputs = mapInputs(map, scenario.values)
      const detector = s.make()
      const step = Detector.step(detector, s.decide)
      const times = timesOf(s, inputs.length)
      let state = detector.initial()
      let learned = 0
      for (let i = 0; i < inputs.length; i++) {
        const [next, v] = step(state, inputs[i]!, times[i]!)
        state = next
        if (learned < detector.minSamples && (v.anomalous || v.ready))
          fail(
            `point ${i} ${v.anomalous ? "fired" : "was ready"} after ${learned} learned points (minSamples ${detector.minSamples}): ${show(v)}`
          )
        if (detector.accepts(inputs[i]!) && (!v.anomalous || detector.learnAnomalies)) learned++
      }
    })
}

/**
 * A constant series never fires (after warm-up or before), and its scores are finite.
 *
 * @category testing
 * @since 0.1.0
 */
export const quietOnConstant: Law = {
  name: "quietOnConstant",
  description: "a constant series never fires",
  applies: always,
  property: (s) =>
    fc.property(
      s.input,
      Arbitraries.constantValue(domainOf(s)),
      fc.integer({ min: 1, max: s.length }),
      (map, c, extra) => {
        const inputs = mapInputs(map, new Array<number>(s.minSamples + extra).fill(c))
        const { verdicts } = runOn(s, s.make(), inputs)
        checkScores(verdicts, inputs)
        const i = verdicts.findIndex((v) => v.anomalous)
        if (i >= 0) fail(`point ${i} of the constant series ${c} fired: ${show(verdicts[i]!)}`)
      }
    )
}

/**
 * Snapshotting the state at any point (`Detector.snapshot`), taking it through JSON, restoring it on a fresh
 * instance (`Detector.restore`) and continuing gives the same verdicts and final state as the uninterrupted run;
 * the restored state encodes to the same snapshot.
 *
 * @category testing
 * @since 0.1.0
 */
export const snapshotRestore: Law = {
  name: "snapshotRestore",
  description: "snapshot, JSON round trip, restore and continue gives the uninterrupted verdicts",
  applies: always,
  property: (s) =>
    fc.property(
      s.input,
      fc.oneof(
        eventful(s),
        wildOf(s),
        Arbitraries.constant({ domain: domainOf(s), minLength: 0, maxLength: s.minSamples + s.length })
      ),
      fc.nat(),
      (map, scenario, cutSeed) => {
        const inputs = mapInputs(map, scenario.values)
        const cut = cutSeed % (inputs.length + 1)
        const whole = runOn(s, s.make(), inputs)
        const before = s.make()
        const prefix = runOn(s, before, inputs.slice(0, cut))
        const json = JSON.stringify(JSON.parse(snapshotOf(before, prefix.state, `after ${cut} points`)))
        const after = s.make()
        const restored = Detector.restore(after, json)
        if (Result.isFailure(restored))
          return fail(
            `the snapshot after ${cut} points does not restore: ${restored.failure.message}; snapshot: ${json}`
          )
        if (snapshotOf(after, restored.success, "on the restored state") !== json)
          fail(`the restored state after ${cut} points encodes differently from the snapshot ${json}`)
        const rest = runOn(s, after, inputs.slice(cut), { from: cut, state: restored.success })
        sameRuns(`restored after ${cut} points`, whole.verdicts.slice(cut), rest.verdicts, cut)
        if (
          snapshotOf(after, rest.state, "on the final state") !== snapshotOf(before, whole.state, "on the final state")
        )
          fail(`restored after ${cut} points, the final state differs from the uninterrupted run's`)
      }
    )
}

/** How much the snapshot may grow from N to 4N points without the detector declaring `maxStateBytes`. */
const growthFactor = 1.25
const growthSlack = 64

/**
 * The state does not grow with the stream: its snapshot is at most `maxStateBytes` long when declared, and
 * otherwise the snapshot after 4N points is at most 1.25 times (plus 64 characters) the one after N points, where
 * N is `minSamples` plus the law length (windows longer than N should be shortened in `testParams`).
 *
 * @category testing
 * @since 0.1.0
 */
export const boundedState: Law = {
  name: "boundedState",
  description: "the state snapshot does not grow with the stream length beyond the declared bound",
  applies: always,
  property: (s) => {
    const n = s.minSamples + s.length
    return fc.property(
      s.input,
      Arbitraries.noise({ domain: domainOf(s), minLength: 4 * n, maxLength: 4 * n }),
      (map, scenario) => {
        const inputs = mapInputs(map, scenario.values)
        const detector = s.make()
        const first = runOn(s, detector, inputs.slice(0, n))
        const short = snapshotOf(detector, first.state, `after ${n} points`).length
        const rest = runOn(s, detector, inputs.slice(n), { from: n, state: first.state })
        const long = snapshotOf(detector, rest.state, `after ${4 * n} points`).length
        const max = s.claims.maxStateBytes
        if (max !== undefined) {
          if (short > max) fail(`the snapshot after ${n} points is ${short} characters, more than maxStateBytes ${max}`)
          if (long > max)
            fail(`the snapshot after ${4 * n} points is ${long} characters, more than maxStateBytes ${max}`)
        } else if (long > short * growthFactor + growthSlack)
          fail(
            `the snapshot grew from ${short} characters after ${n} points to ${long} after ${4 * n}: declare maxStateBytes or bound the state`
          )
      }
    )
  }
}

const keyA = Series.makeKey("laws", "model", "a")
const keyB = Series.makeKey("laws", "model", "b")

/**
 * The stream operator `Detector.detect` over an Effect `Stream` cut into random chunks (`Stream.fromArrays`), with
 * two series interleaved at random, gives each series the verdicts of a one-shot `Detector.run` on it alone:
 * chunk boundaries do not matter and the series do not leak into each other through the detector instance.
 *
 * @category testing
 * @since 0.1.0
 */
export const chunkingInvariance: Law = {
  name: "chunkingInvariance",
  description: "Detector.detect over random chunks and two interleaved series equals one-shot Detector.run",
  applies: always,
  property: (s) =>
    fc.property(
      s.input,
      eventful(s),
      eventful(s),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 16 }),
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }),
      (map, a, b, pattern, sizes) => {
        const inA = mapInputs(map, a.values)
        const inB = mapInputs(map, b.values)
        const points: Array<Series.MetricPoint> = []
        let i = 0
        let j = 0
        for (let p = 0; i < inA.length || j < inB.length; p++) {
          const takeA = j >= inB.length || (i < inA.length && pattern[p % pattern.length]!)
          // Detector.detect hands `value` to the detector untouched, so non-number inputs ride in it as they are.
          if (takeA) points.push({ key: keyA, time: s.start + i * s.interval, value: inA[i++] as unknown as number })
          else points.push({ key: keyB, time: s.start + j * s.interval, value: inB[j++] as unknown as number })
        }
        const chunks: Array<Array<Series.MetricPoint>> = []
        for (let from = 0, c = 0; from < points.length; c++) {
          const size = sizes[c % sizes.length]!
          chunks.push(points.slice(from, from + size))
          from += size
        }
        const detector = s.make() as unknown as Detector.Any
        const scored = Effect.runSync(
          Stream.runCollect(
            Stream.fromArrays(...chunks).pipe(Detector.detect({ detectors: [detector], decide: s.decide }))
          )
        )
        const streamed = (key: Series.SeriesKey) =>
          scored.filter((x) => x.point.key.id === key.id).map((x) => x.verdict)
        sameRuns("series a: streamed vs one-shot", streamed(keyA), runOn(s, s.make(), inA).verdicts)
        sameRuns("series b: streamed vs one-shot", streamed(keyB), runOn(s, s.make(), inB).verdicts)
      }
    )
}

const verdictsOf = <S, In>(
  s: Subject<S, In>,
  map: InputMap<In>,
  values: ReadonlyArray<number>
): Array<Verdict.Verdict> => runOn(s, s.make(), mapInputs(map, values)).verdicts

/**
 * Compares the anomalous flags of two runs. A flip where both scores agree to 1e-9 (relative) is a score sitting on
 * the threshold, where float rounding decides: the runs legitimately diverge from there (one learns the point, the
 * other does not), so the comparison stops. A flip with scores that disagree is a violation.
 */
const sameFlags = (what: string, a: ReadonlyArray<Verdict.Verdict>, b: ReadonlyArray<Verdict.Verdict>): void => {
  for (let i = 0; i < a.length; i++) {
    const va = a[i]!
    const vb = b[i]!
    if (va.anomalous === vb.anomalous) continue
    if (Math.abs(va.score - vb.score) <= 1e-9 * Math.max(1, Math.abs(va.score), Math.abs(vb.score))) return
    fail(
      `point ${i} is ${va.anomalous ? "" : "not "}anomalous (score ${va.score}), but ${vb.anomalous ? "is" : "is not"} ${what} (score ${vb.score})`
    )
  }
}

/**
 * Adding a constant to every point leaves every anomalous flag unchanged (up to float rounding of a score that
 * sits exactly on the threshold).
 *
 * @category testing
 * @since 0.1.0
 */
export const shiftInvariance: Law = {
  name: "shiftInvariance",
  description: "adding a constant to every point leaves the anomalous flags unchanged",
  applies: (claims) => claims.shiftInvariant === true,
  property: (s) =>
    fc.property(
      s.input,
      eventful(s),
      fc.double({ min: domainOf(s) === "positive" ? 0 : -1e4, max: 1e4, noNaN: true }),
      (map, scenario, c) =>
        sameFlags(
          `after adding ${c}`,
          verdictsOf(s, map, scenario.values),
          verdictsOf(
            s,
            map,
            scenario.values.map((x) => x + c)
          )
        )
    )
}

/**
 * Multiplying every point by a positive constant (1e-3 to 1e3) leaves every anomalous flag unchanged (up to float
 * rounding of a score that sits exactly on the threshold).
 *
 * @category testing
 * @since 0.1.0
 */
export const scaleInvariance: Law = {
  name: "scaleInvariance",
  description: "multiplying every point by a positive constant leaves the anomalous flags unchanged",
  applies: (claims) => claims.scaleInvariant === true,
  property: (s) =>
    fc.property(s.input, eventful(s), fc.double({ min: -3, max: 3, noNaN: true }), (map, scenario, e) => {
      const k = 10 ** e
      sameFlags(
        `after multiplying by ${k}`,
        verdictsOf(s, map, scenario.values),
        verdictsOf(
          s,
          map,
          scenario.values.map((x) => x * k)
        )
      )
    })
}

const warmedUp = <S, In>(s: Subject<S, In>) =>
  fc.record({
    ls: Arbitraries.levelAndSigma(domainOf(s)),
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
    extra: fc.integer({ min: 50, max: Math.max(50, s.length) }),
    up: fc.boolean()
  })

/**
 * After warming up on stationary Gaussian noise (`minSamples` plus 50 or more points), a spike or step of the
 * claimed size (in noise standard deviations, in the claimed direction) fires within the claimed number of points
 * (default 5) of its start.
 *
 * @category testing
 * @since 0.1.0
 */
export const sensitivity: Law = {
  name: "sensitivity",
  description: "a spike or step of the claimed size after warm-up fires within a few points",
  applies: (claims) => claims.sensitivity !== undefined,
  property: (s) => {
    const claim = s.claims.sensitivity ?? { kind: "spike", size: 0 }
    const within = claim.within ?? 5
    const direction = claim.direction ?? "both"
    return fc.property(s.input, warmedUp(s), (map, w) => {
      const at = s.minSamples + w.extra
      const up = direction === "both" ? w.up : direction === "up"
      const delta = (up ? 1 : -1) * claim.size * w.ls.sigma
      const values = Arbitraries.render({
        level: w.ls.level,
        sigma: w.ls.sigma,
        length: at + within,
        seed: w.seed,
        events: []
      })
      if (claim.kind === "spike") values[at] = w.ls.level + delta
      else for (let i = at; i < values.length; i++) values[i]! += delta
      const { verdicts } = runOn(s, s.make(), mapInputs(map, values))
      if (!verdicts.slice(at).some((v) => v.anomalous))
        fail(
          `a ${up ? "+" : "-"}${claim.size}σ ${claim.kind} at point ${at} (level ${w.ls.level}, σ ${w.ls.sigma}) did not fire within ${within} points; scores ${verdicts
            .slice(at)
            .map((v) => (v.ready ? String(v.score) : `${v.score} (not ready)`))
            .join(", ")}`
        )
    })
  }
}

/**
 * After warming up on stationary noise, the score of a probe point does not decrease as the probe moves away from
 * the detector's expected value, on either side (a ladder of 0 to 24 σ in steps of σ/2).
 *
 * @category testing
 * @since 0.1.0
 */
export const monotonic: Law = {
  name: "monotonic",
  description: "the score does not decrease with the distance of a probe from the expected value",
  applies: (claims) => claims.monotonic === true,
  property: (s) =>
    fc.property(s.input, warmedUp(s), (map, w) => {
      const n = s.minSamples + w.extra
      const warm = Arbitraries.render({ level: w.ls.level, sigma: w.ls.sigma, length: n, seed: w.seed, events: [] })
      const detector = s.make()
      const { state } = runOn(s, detector, mapInputs(map, warm))
      const time = s.start + n * s.interval
      const probe = (x: number): Verdict.Assessment => {
        const inputs = mapInputs(map, [...warm, x])
        return detector.score(state, inputs[inputs.length - 1]!, time)
      }
      const expected = probe(w.ls.level).expected
      const center = Number.isFinite(expected) ? expected : w.ls.level
      for (const sign of [1, -1]) {
        let previous = Number.NEGATIVE_INFINITY
        for (let d = 0; d <= 24; d += 0.5) {
          const score = probe(center + sign * d * w.ls.sigma).score
          if (score < previous - 1e-9 * Math.max(1, Math.abs(previous)))
            fail(
              `the score fell from ${previous} to ${score} as the probe moved ${sign > 0 ? "above" : "below"} ${center} from ${d - 0.5}σ to ${d}σ (σ ${w.ls.sigma})`
            )
          previous = score
        }
      }
    })
}

/** Points after the claimed `within` over which an adapted detector must stay quiet. */
const QUIET = 100
/** Of those, how many may fire: the isolated false alarms any detector has on noise, not a change still firing. */
const QUIET_SLACK = 3

/**
 * After warming up on stationary Gaussian noise (`minSamples` plus 50 or more points), a lasting step of the claimed
 * size (in noise standard deviations, up or down) is the new normal within the claimed number of points: of the 100
 * points from `within` points after the step's start on, at most 3 fire (isolated false alarms of the noise). A
 * detector that never learns what it judged anomalous fails this law: after a lasting change it fires on and on.
 *
 * @category testing
 * @since 0.2.0
 */
export const adaptation: Law = {
  name: "adaptation",
  description: "after a lasting step of the claimed size, the detector is quiet again within the claimed points",
  applies: (claims) => claims.adapts !== undefined,
  property: (s) => {
    const claim = s.claims.adapts ?? { size: 0, within: 0 }
    return fc.property(s.input, warmedUp(s), (map, w) => {
      const at = s.minSamples + w.extra
      const delta = (w.up || domainOf(s) === "positive" ? 1 : -1) * claim.size * w.ls.sigma
      const values = Arbitraries.render({
        level: w.ls.level,
        sigma: w.ls.sigma,
        length: at + claim.within + QUIET,
        seed: w.seed,
        events: []
      })
      for (let i = at; i < values.length; i++) values[i]! += delta
      const { verdicts } = runOn(s, s.make(), mapInputs(map, values))
      const from = at + claim.within
      const fired = verdicts.slice(from).flatMap((v, i) => (v.anomalous ? [from + i] : []))
      if (fired.length > QUIET_SLACK) {
        const firedAt = fired[0]!
        fail(
          `after a lasting ${delta > 0 ? "+" : "-"}${claim.size}σ step at point ${at} (level ${w.ls.level}, σ ${w.ls.sigma}) it still fired on ${fired.length} of the ${QUIET} points from ${claim.within} points later (at most ${QUIET_SLACK} allowed), first at point ${firedAt}: ${show(verdicts[firedAt]!)}`
        )
      }
    })
  }
}

/**
 * Every law, by name.
 *
 * @category testing
 * @since 0.1.0
 */
export const laws: Readonly<Record<LawName, Law>> = {
  determinism,
  totality,
  noInputMutation,
  noStateMutation,
  warmUp,
  quietOnConstant,
  snapshotRestore,
  boundedState,
  chunkingInvariance,
  shiftInvariance,
  scaleInvariance,
  sensitivity,
  monotonic,
  adaptation
}
