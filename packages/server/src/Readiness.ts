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
  readonly checks: Readonly<Record<string, boolean>>
}

/**
 * @category services
 * @since 0.1.0
 */
export class Readiness extends Context.Service<
  Readiness,
  {
    /** Adds (or replaces) a named check. */
    readonly register: (name: string, check: Effect.Effect<boolean>) => Effect.Effect<void>
    readonly report: Effect.Effect<Report>
  }
>()("@llm-sentinel/server/Readiness") {}

/**
 * A registry of checks, empty at first. With no checks registered the server is not ready.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Readiness> = Layer.sync(Readiness, () => {
  const checks = new Map<string, Effect.Effect<boolean>>()
  return {
    register: (name, check) => Effect.sync(() => void checks.set(name, check)),
    report: Effect.suspend(() =>
      Effect.map(
        Effect.forEach([...checks], ([name, check]) =>
          Effect.map(
            Effect.catchCause(check, () => Effect.succeed(false)),
            (ok) => [name, ok] as const
          )
        ),
        (results): Report => ({
          ready: results.length > 0 && results.every(([, ok]) => ok),
          checks: Object.fromEntries(results)
        })
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
