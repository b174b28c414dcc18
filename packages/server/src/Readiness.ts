/**
 * Readiness: named checks (the store is open, the pipeline is running) that `GET /readyz` evaluates. Components
 * register their check when their layer is built, so readiness follows what the server actually started.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"

/**
 * The outcome of every check, and whether all passed.
 *
 * @category models
 * @since 0.1.0
 */
export interface Report {
  readonly ready: boolean
  /** The checks that decide readiness (store, pipeline, replay, source). */
  readonly checks: Readonly<Record<string, boolean>>
  /** Checks reported but not deciding readiness: each configured sink's health (`sink:<name>`). */
  readonly adapters: Readonly<Record<string, boolean>>
}

/**
 * Options of a check.
 *
 * @category models
 * @since 0.2.0
 */
export interface CheckOptions {
  /** Whether the check decides readiness (default `true`); `false` only reports it under `adapters`. */
  readonly decides?: boolean
}

/**
 * @category services
 * @since 0.1.0
 */
export class Readiness extends Context.Service<
  Readiness,
  {
    /** Adds (or replaces) a named check. */
    readonly register: (name: string, check: Effect.Effect<boolean>, options?: CheckOptions) => Effect.Effect<void>
    readonly report: Effect.Effect<Report>
  }
>()("@llm-sentinel/server/Readiness") {}

const checkTimeout = "2 seconds"

/**
 * A registry of checks, empty at first. With no checks registered the server is not ready.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Readiness> = Layer.sync(Readiness, () => {
  const checks = new Map<string, { readonly check: Effect.Effect<boolean>; readonly decides: boolean }>()
  return {
    register: (name, check, options) =>
      Effect.sync(() => void checks.set(name, { check, decides: options?.decides ?? true })),
    report: Effect.suspend(() =>
      Effect.map(
        Effect.forEach(
          [...checks],
          ([name, { check, decides }]) =>
            Effect.map(
              // a check that does not answer in time (a sink's server that hangs) counts as failed
              check.pipe(
                Effect.timeoutOption(checkTimeout),
                Effect.map((ok) => ok._tag === "Some" && ok.value),
                Effect.catchCause(() => Effect.succeed(false))
              ),
              (ok) => [name, ok, decides] as const
            ),
          { concurrency: "unbounded" }
        ),
        (results): Report => {
          const deciding = results.filter(([, , decides]) => decides)
          return {
            ready: deciding.length > 0 && deciding.every(([, ok]) => ok),
            checks: Object.fromEntries(deciding.map(([name, ok]) => [name, ok])),
            adapters: Object.fromEntries(results.filter(([, , d]) => !d).map(([name, ok]) => [name, ok]))
          }
        }
      )
    )
  }
})

/**
 * Registers a check as part of building a layer.
 *
 * @category layers
 * @since 0.1.0
 */
export const check = <E, R>(
  name: string,
  check: Effect.Effect<boolean, E, R>
): Layer.Layer<never, never, Readiness | R> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const readiness = yield* Readiness
      const context = yield* Effect.context<R>()
      yield* readiness.register(
        name,
        check.pipe(
          Effect.catchCause(() => Effect.succeed(false)),
          Effect.provideContext(context)
        )
      )
    })
  )
