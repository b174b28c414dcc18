import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Result, Schema } from "effect"
import {
  AlertSink,
  AnomalySink,
  DeadLetterSink,
  Detector,
  EventSource,
  Peers,
  Pipeline,
  Series,
  Verdict
} from "../src/index.ts"
import { events, T0 } from "./fixtures.ts"

const MINUTE = 60_000

// a minimal peer detector: how far the value is from the peers' median, in units of `unit`
const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const fromMedian = (unit: number) =>
  Detector.make<{ n: number }, Peers.Input>({
    name: "from-median",
    minSamples: 0,
    state: Schema.Struct({ n: Schema.Number }),
    initial: () => ({ n: 0 }),
    score: (_, input) => {
      const m = median(input.peers)
      return {
        score: Math.abs(input.value - m) / unit,
        expected: m,
        lower: m - 4 * unit,
        upper: m + 4 * unit,
        ready: true
      }
    },
    learn: (s) => ({ n: s.n + 1 }),
    accepts: (input) => typeof input === "object" && input !== null && Array.isArray(input.peers)
  })

const at = (service: string, time: number, value: number, model = "gpt-4o"): Series.MetricPoint => ({
  key: Series.makeKey(service, model, "latency.p95"),
  time,
  value
})

describe("Peers", () => {
  it("judges a group's points of one time against each other, once every member reported it", () => {
    const fn = Peers.makePeerFn({ detector: () => fromMedian(10), minPeers: 2, maxAgeMs: MINUTE })
    fn.apply([at("a", 0, 800), at("b", 0, 800), at("c", 0, 800), at("d", 0, 800)], true) // the members become known
    assert.deepStrictEqual(fn.apply([at("a", MINUTE, 800), at("b", MINUTE, 810), at("c", MINUTE, 790)]), [])
    const out = fn.apply([at("e", MINUTE, 5000, "other-model"), at("d", MINUTE, 1400)])
    assert.deepStrictEqual(
      out.map((s) => [s.point.key.service, s.detector, s.verdict.anomalous]),
      [
        ["a", "from-median", false],
        ["b", "from-median", false],
        ["c", "from-median", false],
        ["d", "from-median", true]
      ]
    )
    // a shift every peer shares is compared at the same time for all of them: not an anomaly
    const shared = fn.apply([at("a", 2 * MINUTE, 1600), at("b", 2 * MINUTE, 1610), at("c", 2 * MINUTE, 1590)])
    assert.deepStrictEqual(shared, [])
    assert.deepStrictEqual(
      fn.apply([at("d", 2 * MINUTE, 1605)]).map((s) => s.verdict.anomalous),
      [false, false, false, false]
    )
  })

  it("judges a time with the peers it has once a member is a slide further, or on flush", () => {
    const fn = Peers.makePeerFn({ detector: () => fromMedian(10), minPeers: 2, maxAgeMs: MINUTE, onlyAnomalous: true })
    const all = (time: number) => ["a", "b", "c", "d", "e"].map((service) => at(service, time, 800))
    fn.apply(all(0), true)
    fn.apply(all(MINUTE))
    // e goes quiet: minute 2 waits for it, until a member reports minute 4
    const minute2 = [at("a", 2 * MINUTE, 800), at("b", 2 * MINUTE, 800), at("c", 2 * MINUTE, 2000)]
    assert.deepStrictEqual(fn.apply([...minute2, at("d", 2 * MINUTE, 800)]), [])
    assert.deepStrictEqual(
      fn.apply([at("a", 4 * MINUTE, 800)]).map((s) => [s.point.key.service, s.point.time]),
      [["c", 2 * MINUTE]]
    )
    assert.deepStrictEqual(
      fn
        .apply([at("b", 4 * MINUTE, 800), at("d", 4 * MINUTE, 810), at("c", 4 * MINUTE, 3000)], true)
        .map((s) => s.point.key.service),
      ["c"]
    )
    assert.deepStrictEqual(Peers.byModel(Series.makeKey("a", "m", "x")), Peers.byModel(Series.makeKey("b", "m", "x")))
    assert.notStrictEqual(Peers.byModel(Series.makeKey("a", "m", "x")), Peers.byModel(Series.makeKey("a", "n", "x")))
  })

  it.effect("runs live in the pipeline: one service's latency off its peers is an anomaly of the peer stage", () =>
    Effect.gen(function* () {
      const input = events({
        seconds: 600,
        services: ["chat", "search", "summarize", "translate"],
        spike: (i, service) => (service === "search" && i >= 300 && i < 310 ? 3000 : undefined)
      })
      const config = Result.getOrThrow(
        Pipeline.makeConfig({
          detectors: [],
          peers: { detector: () => fromMedian(50), decide: Verdict.threshold({ warning: 4, critical: 6 }) },
          window: "10 seconds",
          maxDelay: "1 second",
          signals: ["latency.p95"]
        })
      )
      yield* Pipeline.make(config).run.pipe(Effect.provide(EventSource.layerFromIterable(input, { batchSize: 500 })))
      const anomalies = yield* AnomalySink.Memory.use((s) => s.written)
      assert.isAbove(anomalies.length, 0)
      for (const a of anomalies) {
        assert.strictEqual(a.series.service, "search")
        assert.strictEqual(a.detector, "from-median")
        assert.strictEqual(a.time, T0 + 300_000)
      }
    }).pipe(Effect.provide(Layer.mergeAll(AnomalySink.layerMemory, DeadLetterSink.layerMemory, AlertSink.layerMemory)))
  )
})
