/**
 * The catalog of shipped detectors: every module of this package that exports a detector `name` and a `make`
 * constructor, found by walking the package's barrel. Configuration (`sentinel replay --detector`), the
 * benchmarks and tooling look detectors up here instead of keeping their own lists.
 *
 * @since 0.1.0
 */
import type { Detector } from "@llm-sentinel/core"
import type { Schema } from "effect"
import * as Detectors from "./index.ts"

/**
 * What every detector module exports.
 *
 * @category models
 * @since 0.1.0
 */
export interface Module {
  readonly name: string
  // biome-ignore lint/suspicious/noExplicitAny: modules differ in parameter, state and input types
  readonly make: (params?: any) => Detector.Detector<any, any>
  readonly ParamsSchema?: Schema.Codec<unknown, unknown>
  readonly defaults?: Readonly<Record<string, unknown>>
}

const isModule = (m: unknown): m is Module =>
  typeof m === "object" &&
  m !== null &&
  typeof (m as Module).name === "string" &&
  typeof (m as Module).make === "function"

/**
 * Every shipped detector module, in the barrel's (alphabetical) order.
 *
 * @category constructors
 * @since 0.1.0
 */
export const modules = (): ReadonlyArray<Module> => Object.values(Detectors as Record<string, unknown>).filter(isModule)

/**
 * The module of the detector called `name` (`"zscore"`, `"mad"`, …), if there is one.
 *
 * @category constructors
 * @since 0.1.0
 */
export const byName = (name: string): Module | undefined => modules().find((m) => m.name === name)
