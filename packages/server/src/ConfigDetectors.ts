/**
 * The detectors of a configuration (`detectors:` rules) as a `Detector.Selection`: each signal runs the rules
 * whose `metric` matches it, each rule a detector of the catalog with its parameters, optionally calibrated.
 *
 * A detector configured with parameters checkpoints under its name and a fingerprint of those parameters
 * (`mad@3f2a…`), so changing one detector's parameters restarts that detector only: the others find their
 * checkpoints under unchanged keys and keep their state. A rule without parameters checkpoints under the plain
 * name, as the built-in defaults do.
 *
 * @since 0.2.0
 */
import { createHash } from "node:crypto"
import type { Detector, Series } from "@llm-sentinel/core"
import { Calibrated, Catalog } from "@llm-sentinel/detectors"
import type * as Config from "./Config.ts"

const canonical = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(canonical)
    : typeof v === "object" && v !== null
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, canonical((v as Record<string, unknown>)[k])])
        )
      : v

/**
 * A short, stable fingerprint of parameters: the first 12 hex digits of the SHA-256 of their canonical JSON
 * (keys sorted), so `{ a: 1, b: 2 }` and `{ b: 2, a: 1 }` agree.
 *
 * @category constructors
 * @since 0.2.0
 */
export const fingerprint = (params: unknown): string =>
  createHash("sha256")
    .update(JSON.stringify(canonical(params)) ?? "null")
    .digest("hex")
    .slice(0, 12)

/**
 * Whether a rule's `metric` matches a signal: `*` (or absent), the signal's name, or a prefix of it up to a dot
 * (`latency` matches `latency.p95`).
 *
 * @category guards
 * @since 0.2.0
 */
export const matches = (rule: Config.DetectorRule, signal: string): boolean => {
  const m = rule.metric ?? "*"
  return m === "*" || m === signal || signal.startsWith(`${m}.`)
}

/**
 * A fresh detector of a rule (the configuration must have been decoded by `Config.decode`, which checks the
 * type and parameters).
 *
 * @category constructors
 * @since 0.2.0
 */
export const build = (rule: Config.DetectorRule): Detector.Any => {
  const module = Catalog.byName(rule.type)
  if (module === undefined) throw new Error(`unknown detector ${rule.type}`) // decode rejected it already
  const params = rule.params ?? {}
  const inner = module.make(params) as Detector.Any
  const detector = rule.calibrated === true ? (Calibrated.make({ detector: inner }) as Detector.Any) : inner
  const configured = Object.keys(params).length > 0 || rule.calibrated === true
  if (!configured) return detector
  const stateKey = `${detector.name}@${fingerprint({ params, calibrated: rule.calibrated === true })}`
  return Object.assign(Object.create(Object.getPrototypeOf(detector)), detector, { stateKey })
}

/**
 * The selection of a list of rules: every series gets the detectors of the rules matching its metric (none: the
 * series is not watched). The detectors are built once per metric and shared by its series (their per-series state
 * is their `State`; a detector per series would cost tens of kilobytes of closures and Schemas at every series).
 *
 * @example
 * ```ts
 * import { ConfigDetectors } from "@llm-sentinel/server"
 * const select = ConfigDetectors.selection([{ metric: "latency", type: "mad", params: { window: 64 } }])
 * ```
 * @category constructors
 * @since 0.2.0
 */
export const selection = (
  rules: ReadonlyArray<Config.DetectorRule>
): ((key: Series.SeriesKey) => ReadonlyArray<Detector.Any>) => {
  const byMetric = new Map<string, ReadonlyArray<Detector.Any>>()
  return (key) => {
    let found = byMetric.get(key.metric)
    if (found === undefined) byMetric.set(key.metric, (found = rules.filter((r) => matches(r, key.metric)).map(build)))
    return found
  }
}
