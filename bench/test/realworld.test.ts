import { assert, describe, it } from "@effect/vitest"
import {
  alertStarts,
  baselineScores,
  EARLY_ROWS,
  LATE_ROWS,
  metricsOf,
  scoreSeries,
  startsAt,
  warmupRows
} from "../src/realworld.ts"

const MIN = 60_000
const grid = (n: number) => Float64Array.from({ length: n }, (_, i) => i * MIN)

describe("realworld event scoring", () => {
  it("an alert is a run of consecutive anomalous rows, placed at its first row", () => {
    assert.deepStrictEqual(alertStarts([0, 1, 1, 0, 1, 0, 0, 1]), [1, 4, 7])
    assert.deepStrictEqual(startsAt(Float64Array.of(Number.NaN, 5, 6, 1, 9), 5), [1, 4])
  })

  it("warm-up is 15% of the file, at most 750 rows", () => {
    assert.strictEqual(warmupRows(1000), 150)
    assert.strictEqual(warmupRows(20_000), 750)
  })

  it("a window is detected by an alert starting 5 rows before to 30 rows after it; others are false alarms", () => {
    const times = grid(2000)
    const windows = [[1000, 1010]] as const
    const at = (start: number) => scoreSeries({ times, windows }, [start], 300)
    assert.strictEqual(at(1000 - EARLY_ROWS).detected, 1)
    assert.strictEqual(at(1000 - EARLY_ROWS - 1).detected, 0)
    assert.strictEqual(at(1000 - EARLY_ROWS - 1).falseAlarms, 1)
    assert.strictEqual(at(1010 + LATE_ROWS).detected, 1)
    assert.strictEqual(at(1010 + LATE_ROWS + 1).falseAlarms, 1)
    // delay from the window's start, never negative
    assert.strictEqual(at(1003).delayMs, 3 * MIN)
    assert.strictEqual(at(998).delayMs, 0)
  })

  it("warm-up alerts and windows are not scored; a second alert in a window is not a false alarm", () => {
    const times = grid(2000)
    const c = scoreSeries(
      {
        times,
        windows: [
          [100, 110],
          [1000, 1010]
        ]
      },
      [50, 105, 1001, 1005, 1500],
      300
    )
    assert.strictEqual(c.windows, 1)
    assert.strictEqual(c.detected, 1)
    assert.strictEqual(c.falseAlarms, 1)
    const m = metricsOf(c)
    assert.strictEqual(m.recall, 1)
    assert.strictEqual(m.precision, 0.5)
    assert.closeTo(c.days, (1700 * MIN) / 86_400_000, 1e-9)
  })

  it("the baseline z-score learns every point: a lasting step fades", () => {
    const values = Float64Array.from({ length: 2000 }, (_, i) => (i % 2) + (i >= 1000 ? 50 : 0))
    const z = baselineScores(values)
    assert.isTrue(Number.isNaN(z[10]!))
    assert.isAbove(z[1000]!, 20)
    assert.isBelow(z[1400]!, 2)
  })
})
