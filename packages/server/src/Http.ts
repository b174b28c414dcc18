/**
 * The HTTP server of `sentinel serve`: the API (`Api.ts`), ingest (`Ingest.ts`), Prometheus metrics at
 * `GET /metrics` (the pipeline's `sentinel_*_total` counters), JSON errors for everything else
 * (unknown routes are a JSON 404, unexpected failures a JSON 500, never an empty body), on `node:http`.
 *
 * Requests are not logged one by one (the default request logger costs more than the framework, see
 * PERFORMANCE.md); unexpected failures are logged.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Cause, Effect, Layer } from "effect"
import { HttpRouter, HttpServerError, HttpServerRequest, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import * as Api from "./Api.ts"
import * as Ingest from "./Ingest.ts"

/**
 * Options of the HTTP server.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options extends Ingest.Options {
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  /** How long shutdown waits for requests in flight (default 10 s). */
  readonly shutdownTimeoutMs?: number
}

const notFound = Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
  HttpServerResponse.jsonUnsafe(
    { _tag: "NotFound", message: `no route for ${request.method} ${request.url.split("?")[0]}` },
    { status: 404 }
  )
)

const isRouteNotFound = (e: unknown): boolean =>
  HttpServerError.isHttpServerError(e) && e.reason._tag === "RouteNotFound"

/**
 * Turns whatever a handler failed with into a JSON response: an unknown route is a 404, anything else a 500
 * (logged). Interruptions (a client that went away, shutdown) are left alone.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerErrors: Layer.Layer<never, never, HttpRouter.HttpRouter> = HttpRouter.middleware(
  (effect) =>
    Effect.catchCause(effect, (cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
      const failure = cause.reasons.find((r) => r._tag === "Fail")
      if (failure !== undefined && failure._tag === "Fail" && isRouteNotFound(failure.error)) return notFound
      return Effect.as(
        Effect.logError("request failed", cause),
        HttpServerResponse.jsonUnsafe(
          { _tag: "InternalServerError", message: "internal server error" },
          {
            status: 500
          }
        )
      )
    }),
  { global: true }
)

/**
 * Every route: the API with its OpenAPI document, ingest, and JSON errors. Requires the `AnomalyStore`, the
 * `EventQueue` and `Readiness` (and the platform services a server or `HttpServer.layerServices` provides).
 *
 * @category layers
 * @since 0.1.0
 */
export const routes = (options: Ingest.Options = {}) =>
  Layer.mergeAll(
    Api.layer,
    Ingest.layer(options),
    PrometheusMetrics.layerHttp({ path: "/metrics" }),
    layerErrors,
    HttpRouter.add("*", "*", notFound)
  )

/**
 * The server on `host:port`, closed gracefully (requests in flight finish) when the layer is released.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options) =>
  HttpRouter.serve(routes(options), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(
      NodeHttpServer.layer(createServer, {
        host: options.host,
        port: options.port,
        gracefulShutdownTimeout: `${options.shutdownTimeoutMs ?? 10_000} millis`
      })
    )
  )
