// A user's median detector built from the installed toolkit (`@llm-sentinel/detectors/toolkit`: a rolling sorted
// window, a quantile and a robust scale), checked by the installed law suite.
import { Detector } from "@llm-sentinel/core"
import { runLaws } from "@llm-sentinel/detectors/testing"
import {
  makeWindow,
  quantile,
  robustScale,
  type SortedWindow,
  WindowSchema,
  windowPush
} from "@llm-sentinel/detectors/toolkit"
import { describe, it } from "vitest"

const medianJump = (params: { readonly window?: number } = {}) =>
  Detector.make<SortedWindow>({
    name: "median-jump",
    params,
    minSamples: 20,
    state: WindowSchema,
    initial: () => makeWindow(params.window ?? 64),
    score: (w, x) => {
      if (w.count === 0) return { score: 0, expected: x, lower: x, upper: x, ready: false }
      const median = quantile(w.sorted, w.count, 0.5)
      const scale = robustScale(w.sorted, w.count, median, 1e-3)
      return {
        score: Math.abs(x - median) / scale,
        expected: median,
        lower: median - 4 * scale,
        upper: median + 4 * scale,
        ready: w.count >= 20
      }
    },
    learn: (w, x) => {
      windowPush(w, x)
      return w
    }
  })

describe("median-jump laws", () =>
  runLaws(it, medianJump, {
    shiftInvariant: true,
    scaleInvariant: true,
    sensitivity: { kind: "spike", size: 8 },
    testParams: { window: 32 }
  }))
