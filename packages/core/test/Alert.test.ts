import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { Alert, type Detector, Series, Verdict } from "../src/index.ts"

const key = Series.makeKey("chat", "gpt-4o", "latency.p95")
const decide = Verdict.threshold({ warning: 4, critical: 6 })
const at = (time: number, score: number, k = key): Detector.Scored => ({
  point: { key: k, time, value: score },
  detector: "zscore",
  verdict: decide({ score, expected: 0, lower: -4, upper: 4, ready: true }, score)
})
const kinds = (events: ReadonlyArray<Alert.AlertEvent>) => events.map((e) => e._tag)

describe("Alert policy", () => {
  it("opens once, dedups, escalates, resolves after resolveAfter normal points", () => {
    const policy = Alert.makeAlertFn(Result.getOrThrow(Alert.policy({ resolveAfter: 2, cooldown: 0 })))
    const out = policy.apply([at(0, 1), at(1, 5), at(2, 4.5), at(3, 7), at(4, 1), at(5, 1), at(6, 1)])
    assert.deepStrictEqual(kinds(out), ["opened", "escalated", "resolved"])
    const resolved = out[2]!
    assert.ok(resolved._tag === "resolved" && resolved.alert.anomalies === 3 && resolved.alert.severity === "critical")
    assert.strictEqual(policy.counters().deduplicated, 2)
  })

  it("ignores anomalies below the severity floor", () => {
    const policy = Alert.makeAlertFn(Result.getOrThrow(Alert.policy({ minSeverity: "critical" })))
    assert.deepStrictEqual(policy.apply([at(0, 5), at(1, 5.5)]), [])
    assert.strictEqual(policy.counters().belowFloor, 2)
  })

  it("suppresses new alerts during the cooldown and counts them", () => {
    const policy = Alert.makeAlertFn(Result.getOrThrow(Alert.policy({ resolveAfter: 1, cooldown: 100 })))
    const out = policy.apply([at(0, 5), at(1, 0), at(50, 5), at(200, 5)])
    assert.deepStrictEqual(kinds(out), ["opened", "resolved", "opened"])
    assert.strictEqual(policy.counters().suppressedByCooldown, 1)
  })

  it("caps alert storms and reports how many it suppressed", () => {
    const policy = Alert.makeAlertFn(Result.getOrThrow(Alert.policy({ stormCap: 2, stormWindow: 1000 })))
    const keys = Array.from({ length: 5 }, (_, i) => Series.makeKey(`svc${i}`, "m", "latency.p95"))
    const out = policy.apply([...keys.map((k, i) => at(i, 5, k)), at(2000, 5, Series.makeKey("late", "m", "x"))])
    assert.deepStrictEqual(kinds(out), ["opened", "opened", "storm", "opened"])
    const storm = out[2]!
    assert.ok(storm._tag === "storm" && storm.suppressed === 3)
    assert.strictEqual(policy.counters().suppressedByStorm, 3)
  })

  it("gives replays the same alert ids", () => {
    const run = () => Alert.makeAlertFn().apply([at(0, 5), at(1, 0)])
    assert.deepStrictEqual(run(), run())
  })

  it("continues from a snapshot: an open alert is not opened again and still resolves", () => {
    const first = Alert.makeAlertFn(Result.getOrThrow(Alert.policy({ resolveAfter: 2, cooldown: 100 })))
    assert.deepStrictEqual(kinds(first.apply([at(0, 5), at(1, 5)])), ["opened"])
    const json = first.snapshot()
    const second = Alert.makeAlertFn(Result.getOrThrow(Alert.policy({ resolveAfter: 2, cooldown: 100 })))
    assert.isTrue(second.restore(json))
    assert.deepStrictEqual(
      second.open().map((a) => a.id),
      first.open().map((a) => a.id)
    )
    const out = second.apply([at(2, 7), at(3, 0), at(4, 0), at(50, 5)])
    assert.deepStrictEqual(kinds(out), ["escalated", "resolved"]) // the one at 50 falls in the cooldown
    assert.strictEqual(second.counters().suppressedByCooldown, 1)
    assert.isFalse(Alert.makeAlertFn().restore("not json"))
  })

  it("invalid policy options are a typed error naming the option, not a silent default", () => {
    for (const [options, parameter] of [
      [{ cooldown: -1 }, "cooldown"],
      [{ cooldown: "soon" as never }, "cooldown"],
      [{ stormWindow: 0 }, "stormWindow"],
      [{ stormWindow: Number.POSITIVE_INFINITY }, "stormWindow"],
      [{ resolveAfter: 0 }, "resolveAfter"],
      [{ stormCap: 1.5 }, "stormCap"]
    ] as const) {
      const result = Alert.policy(options)
      assert.ok(Result.isFailure(result), parameter)
      if (Result.isFailure(result)) {
        assert.strictEqual(result.failure._tag, "InvalidPolicy")
        assert.strictEqual(result.failure.parameter, parameter)
      }
    }
    const ok = Result.getOrThrow(Alert.policy({ cooldown: "2 minutes", stormWindow: "30 seconds" }))
    assert.strictEqual(ok.cooldownMs, 120_000)
    assert.strictEqual(ok.stormWindowMs, 30_000)
  })
})
