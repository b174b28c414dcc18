import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Queue, Result, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Series, Watermark, Window } from "../src/index.ts"

const key = Series.makeKey("chat", "gpt-4o", "latency")
const other = Series.makeKey("chat", "gpt-4o-mini", "latency")
const pt = (time: number, value = 1, k = key): Series.MetricPoint => ({ key: k, time, value })
const wm = (o: Parameters<typeof Watermark.bounded>[0]) => Result.getOrThrow(Watermark.bounded(o))
const win = (r: Result.Result<Window.Window, Window.InvalidWindow>) => Result.getOrThrow(r)

describe("Window constructors", () => {
  it("reject invalid parameters with a typed error naming the parameter", () => {
    const bad = Window.sliding({ size: "1 minute", slide: "7 seconds" })
    assert.ok(Result.isFailure(bad))
    if (Result.isFailure(bad)) {
      assert.strictEqual(bad.failure._tag, "InvalidWindow")
      assert.strictEqual(bad.failure.parameter, "slide")
      assert.match(bad.failure.message, /must divide size/)
    }
    assert.ok(Result.isFailure(Window.tumbling({ size: 0 })))
    assert.ok(Result.isFailure(Window.sliding({ size: "10 seconds", slide: "20 seconds" })))
    assert.ok(Result.isFailure(Window.session({ gap: -5 })))
    assert.ok(Result.isFailure(Watermark.bounded({ maxDelay: -1 })))
    assert.ok(Result.isSuccess(Window.sliding({ size: "1 minute", slide: "15 seconds" })))
  })
})

describe("tumbling windows", () => {
  it("are half-open [start, end) and close when the watermark passes the end", () => {
    const w = Window.makeWindower({ window: win(Window.tumbling({ size: 10 })), watermark: wm({ maxDelay: 0 }) })
    let out = w.points([pt(0, 1), pt(9, 2), pt(10, 3)], 0)
    assert.strictEqual(out.windows.length, 1)
    assert.deepStrictEqual([out.windows[0]!.start, out.windows[0]!.end], [0, 10])
    assert.strictEqual(out.windows[0]!.summary.count, 2)
    assert.strictEqual(out.windows[0]!.summary.sum, 3)
    out = w.points([pt(19, 4)], 0)
    assert.strictEqual(out.windows.length, 0)
    out = w.points([pt(20, 5)], 0)
    assert.deepStrictEqual(
      out.windows.map((x) => [x.start, x.summary.count, x.summary.sum]),
      [[10, 2, 7]]
    )
  })

  it("hold windows open for maxDelay, so out-of-order points within it are on time", () => {
    const w = Window.makeWindower({ window: win(Window.tumbling({ size: 10 })), watermark: wm({ maxDelay: 5 }) })
    assert.strictEqual(w.points([pt(3), pt(12)], 0).windows.length, 0)
    assert.strictEqual(w.points([pt(8)], 0).late.length, 0) // watermark is 7: on time
    const out = w.points([pt(15)], 0) // watermark 10: [0,10) closes with 2 points
    assert.deepStrictEqual(
      out.windows.map((x) => x.summary.count),
      [2]
    )
  })

  it("count late points, send them to the side output, and re-fire within allowedLateness", () => {
    const w = Window.makeWindower({
      window: win(Window.tumbling({ size: 10 })),
      watermark: wm({ maxDelay: 0, allowedLateness: 10 })
    })
    w.points([pt(1), pt(25)], 0) // watermark 25: [0,10) and [10,20) fired
    let out = w.points([pt(18, 7)], 0) // within lateness (>= 15): [10,20) fires again, revision 1
    assert.deepStrictEqual(
      out.windows.map((x) => [x.start, x.revision, x.summary.count]),
      [[10, 1, 1]]
    )
    out = w.points([pt(4)], 0) // older than watermark - lateness = 15: late
    assert.strictEqual(out.late.length, 1)
    assert.strictEqual(w.counters().late, 1)
  })

  it("emit empty windows when a series goes idle, by processing time", () => {
    const w = Window.makeWindower({
      window: win(Window.tumbling({ size: 1000 })),
      watermark: wm({ maxDelay: 0, idleTimeout: 5000, expireAfter: 20_000 })
    })
    w.points([pt(0), pt(500), pt(1500)], 0)
    assert.strictEqual(w.tick(4000).windows.length, 0) // not idle yet
    const idle = w.tick(5000) // idle: watermark advances by 5 s of processing time
    assert.deepStrictEqual(
      idle.windows.map((x) => [x.start, x.summary.count, x.closedBy]),
      [
        [1000, 1, "idle"],
        [2000, 0, "idle"],
        [3000, 0, "idle"],
        [4000, 0, "idle"],
        [5000, 0, "idle"]
      ]
    )
    w.tick(20_000)
    assert.strictEqual(w.counters().activeSeries, 0)
    assert.strictEqual(w.counters().expired, 1)
  })

  it("keep series apart", () => {
    const w = Window.makeWindower({ window: win(Window.tumbling({ size: 10 })), watermark: wm({ maxDelay: 0 }) })
    const out = w.points([pt(1, 1), pt(2, 5, other), pt(11, 1), pt(30, 1, other)], 0)
    assert.deepStrictEqual(
      out.windows.map((x) => [x.key.id, x.start]),
      [
        [key.id, 0],
        [other.id, 0],
        [other.id, 10],
        [other.id, 20]
      ]
    )
  })
})

describe("window clocks and replay positions", () => {
  it("accepts a point older than the watermark while its window is still open", () => {
    const w = Window.makeWindower({ window: win(Window.tumbling({ size: 60 })), watermark: wm({ maxDelay: 0 }) })
    w.points([pt(10), pt(55)], 0) // watermark 55, [0, 60) open
    assert.strictEqual(w.points([pt(20)], 0).late.length, 0)
    assert.deepStrictEqual(
      w.points([pt(61)], 0).windows.map((x) => x.summary.count),
      [3]
    )
    assert.strictEqual(w.points([pt(30)], 0).late.length, 1) // [0, 60) has fired
  })

  it("openPositions yields each series' oldest open position, one series per step", () => {
    const size = win(Window.tumbling({ size: 10 }))
    const w = Window.makeWindower({ window: size, watermark: wm({ maxDelay: 0 }) })
    w.points([pt(1, 1), pt(12, 1)], 0, 7) // key: [0, 10) fired, [10, 20) open from position 7
    w.points([pt(3, 1, other)], 0, 5) // other: [0, 10) open from position 5
    w.points([pt(14, 1)], 0, 9)
    assert.deepStrictEqual([...{ [Symbol.iterator]: () => w.openPositions() }].sort(), [5, 7])
    assert.strictEqual(w.oldestOpenPosition(), 5)
    const sessions = Window.makeWindower({ window: win(Window.session({ gap: 5 })), watermark: wm({ maxDelay: 0 }) })
    sessions.points([pt(1, 1), pt(2, 1, other)], 0, 3)
    sessions.points([pt(30, 1)], 0, 4) // key: the session at 1 closed, one open from position 4
    assert.deepStrictEqual([...{ [Symbol.iterator]: () => sessions.openPositions() }].sort(), [3, 4])
  })

  it("resumes from a checkpointed clock: replayed points of fired windows are dropped, open ones rebuilt", () => {
    const size = win(Window.tumbling({ size: 10 }))
    const first = Window.makeWindower({ window: size, watermark: wm({ maxDelay: 0 }) })
    first.points([pt(1, 1), pt(5, 1)], 0, 100)
    first.points([pt(12, 2)], 0, 101) // fires [0, 10)
    first.points([pt(15, 2)], 0, 102)
    assert.strictEqual(first.oldestOpenPosition(), 101) // [10, 20) holds points from position 101 on
    const clocks = new Map(first.clocks())
    assert.deepStrictEqual(first.clocks(), []) // nothing moved since
    // a new instance restores the clock and replays from position 101 (re-sending batch 100 is harmless too)
    const second = Window.makeWindower({
      window: size,
      watermark: wm({ maxDelay: 0 }),
      restore: (id) => clocks.get(id)
    })
    const replay = second.points([pt(1, 1), pt(5, 1), pt(12, 2), pt(15, 2)], 0)
    assert.strictEqual(replay.windows.length, 0)
    assert.strictEqual(replay.late.length, 2) // the points of [0, 10), already fired before the restart
    const next = second.points([pt(21, 0)], 0)
    assert.deepStrictEqual(
      next.windows.map((x) => [x.start, x.summary.sum]),
      [[10, 4]]
    )
  })
})

describe("sliding windows", () => {
  it("are merged from panes: each point is counted in size/slide windows", () => {
    const w = Window.makeWindower({
      window: win(Window.sliding({ size: 30, slide: 10 })),
      watermark: wm({ maxDelay: 0 })
    })
    const out = w.points([pt(5, 1), pt(15, 2), pt(25, 3), pt(35, 4), pt(70, 0)], 0)
    const byStart = out.windows.map((x) => [x.start, x.end, x.summary.sum])
    assert.deepStrictEqual(byStart.slice(0, 4), [
      [-20, 10, 1],
      [-10, 20, 3],
      [0, 30, 6],
      [10, 40, 9]
    ])
  })
})

describe("session windows", () => {
  it("merge points closer than the gap and close gap after the last point", () => {
    const w = Window.makeWindower({ window: win(Window.session({ gap: 10 })), watermark: wm({ maxDelay: 0 }) })
    let out = w.points([pt(0, 1), pt(5, 1), pt(12, 1)], 0)
    assert.strictEqual(out.windows.length, 0)
    out = w.points([pt(40, 1)], 0)
    assert.deepStrictEqual(
      out.windows.map((x) => [x.start, x.end, x.summary.count]),
      [[0, 22, 3]]
    )
    assert.deepStrictEqual(
      w.flush().windows.map((x) => [x.start, x.end, x.closedBy]),
      [[40, 50, "flush"]]
    )
  })
  it("bridge two sessions with a point that falls between them", () => {
    const w = Window.makeWindower({ window: win(Window.session({ gap: 10 })), watermark: wm({ maxDelay: 100 }) })
    w.points([pt(0), pt(15)], 0)
    w.points([pt(8)], 0)
    assert.deepStrictEqual(
      w.flush().windows.map((x) => [x.start, x.summary.count]),
      [[0, 3]]
    )
  })
})

describe("Window.aggregate operator", () => {
  it.effect("closes idle windows when TestClock advances, and flushes at the end", () =>
    Effect.gen(function* () {
      const queue = yield* Queue.unbounded<Series.MetricPoint, import("effect").Cause.Done>()
      const seen: Array<Window.WindowResult> = []
      const fiber = yield* Stream.fromQueue(queue).pipe(
        Window.aggregate({
          window: win(Window.tumbling({ size: "10 seconds" })),
          watermark: wm({ maxDelay: "1 second", idleTimeout: "5 seconds" })
        }),
        Stream.runForEach((w) => Effect.sync(() => seen.push(w))),
        Effect.forkChild
      )
      yield* Queue.offerAll(queue, [pt(0, 100), pt(4000, 200)])
      yield* TestClock.adjust("3 seconds")
      assert.strictEqual(seen.length, 0)
      yield* TestClock.adjust("10 seconds") // idle for ≥ 5 s: [0, 10 s) closes by processing time
      assert.deepStrictEqual(
        seen.map((w) => [w.start, w.summary.count, w.closedBy]),
        [[0, 2, "idle"]]
      )
      yield* Queue.offerAll(queue, [pt(31_000, 1)])
      yield* Queue.end(queue)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(seen.at(-1)!.start, 30_000)
      assert.strictEqual(seen.at(-1)!.closedBy, "flush")
    })
  )
})

describe("bounded work per point, whatever the timestamps", () => {
  const MIN = 60_000
  const T = Date.UTC(2026, 10, 26)

  it("a jump of a year emits at most maxEmptyWindows empty windows, then jumps and counts the rest", () => {
    const w = Window.makeWindower({
      window: win(Window.tumbling({ size: MIN })),
      watermark: wm({ maxDelay: 0 }),
      maxEmptyWindows: 3
    })
    w.points([pt(T), pt(T + 10)], 0)
    const started = performance.now()
    const out = w.points([pt(T + 365 * 24 * 60 * MIN), pt(T + 365 * 24 * 60 * MIN + 2 * MIN)], 0)
    assert.isBelow(performance.now() - started, 100)
    // the first window (2 points), 3 empty ones, then the year's first window with its point, then one empty
    assert.deepStrictEqual(
      out.windows.map((x) => [x.start - T, x.summary.count]),
      [
        [0, 2],
        [MIN, 0],
        [2 * MIN, 0],
        [3 * MIN, 0],
        [365 * 24 * 60 * MIN, 1],
        [365 * 24 * 60 * MIN + MIN, 0]
      ]
    )
    const c = w.counters()
    assert.strictEqual(c.windowsSkipped, 365 * 24 * 60 - 4)
    assert.strictEqual(c.windowsClosed, 6)
  })

  it("sliding windows skip the same way and never lose a window that holds points", () => {
    const w = Window.makeWindower({
      window: win(Window.sliding({ size: 4 * MIN, slide: MIN })),
      watermark: wm({ maxDelay: 0 }),
      maxEmptyWindows: 2
    })
    w.points([pt(T)], 0)
    const out = w.points([pt(T + 1000 * MIN), pt(T + 1001 * MIN), pt(T + 2000 * MIN)], 0)
    const nonEmpty = out.windows.filter((x) => x.summary.count > 0).map((x) => (x.start - T) / MIN)
    // every window containing T or T + 1000 min or T + 1001 min fired once
    assert.deepStrictEqual(nonEmpty, [-3, -2, -1, 0, 997, 998, 999, 1000, 1001])
    assert.isBelow(out.windows.length, 20)
  })

  it("timestamps past the valid-date range are counted and dropped, not looped over", () => {
    const w = Window.makeWindower({ window: win(Window.tumbling({ size: MIN })), watermark: wm({ maxDelay: 0 }) })
    w.points([pt(T)], 0)
    const out = w.points([pt(1e22), pt(Number.MAX_VALUE), pt(-1e300)], 0)
    assert.deepStrictEqual(out.windows, [])
    assert.strictEqual(w.counters().invalidTime, 3)
    const s = Window.makeWindower({ window: win(Window.session({ gap: MIN })) })
    s.points([pt(1e22)], 0)
    assert.strictEqual(s.counters().invalidTime, 1)
  })

  it("a long silence closed by processing time emits maxEmptyWindows, then skips", () => {
    const w = Window.makeWindower({
      window: win(Window.tumbling({ size: MIN })),
      watermark: wm({ maxDelay: 0, idleTimeout: "1 second", expireAfter: "30 days" }),
      maxEmptyWindows: 5
    })
    w.points([pt(T)], 0)
    let emitted = 0
    for (let now = 0; now < 24 * 60 * MIN; now += 10_000) emitted += w.tick(now).windows.length
    assert.strictEqual(emitted, 6) // the window with the point, then 5 empty ones
    assert.isAbove(w.counters().windowsSkipped, 24 * 60 - 10)
  })
})
