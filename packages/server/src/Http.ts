/**
 * The HTTP server of `sentinel serve`: the API (`Api.ts`), ingest (`Ingest.ts`), Prometheus metrics at
 * `GET /metrics` (the pipeline's `sentinel_*_total` counters), and RFC 9457 problem documents for every error
 * (`Problem.ts`: an unknown route is a 404, a known path with another method a 405 with `Allow`, unexpected
 * failures a 500, never an empty body), on `node:http`.
 *
 * Browser safety ({@link layerGuard}): a request that carries an `Origin` other than the server's own is refused
 * (403) unless the origin is configured (`corsOrigins`, then answered with CORS headers), so a web page a
 * developer visits cannot post to or read a local instance; and on a loopback address the `Host` header must
 * name a loopback host (or one of `allowedHosts`), which defeats DNS rebinding.
 *
 * Security (`Auth.ts`, `Tls.ts`, `Redaction.ts`): with `keys`, every route that is not open needs an API key with
 * the route's scope (401/403 problem documents otherwise); with `tls`, the server speaks HTTPS; ingest redacts
 * events as `privacy` says (by default: prompt and response text dropped, emails, API keys and card numbers
 * redacted) before they are journaled.
 *
 * Requests are not logged one by one (the default request logger costs more than the framework, see
 * PERFORMANCE.md); unexpected failures are logged.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Cause, type Duration, Effect, Layer } from "effect"
import { HttpRouter, HttpServerError, HttpServerRequest } from "effect/http"
import { HttpApi } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import * as Admission from "./Admission.ts"
import * as AlertStream from "./AlertStream.ts"
import * as Api from "./Api.ts"
import * as Auth from "./Auth.ts"
import type * as Config from "./Config.ts"
import * as Dashboard from "./Dashboard.ts"
import * as Docs from "./Docs.ts"
import * as Ingest from "./Ingest.ts"
import * as OtlpIngest from "./OtlpIngest.ts"
import * as Problem from "./Problem.ts"
import * as Redaction from "./Redaction.ts"
import * as Tls from "./Tls.ts"

/**
 * Options of the HTTP server.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options extends Ingest.Options, GuardOptions {
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  /** How long shutdown waits for requests in flight (default 10 s). */
  readonly shutdownTimeout?: Duration.Input
  /** Events and body bytes in flight (see `Admission`). */
  readonly admission?: Partial<Admission.Limits>
  /** API keys (`auth.keys`); without any, every route is open (`Serve.fromConfig` allows that on loopback only). */
  readonly keys?: ReadonlyArray<typeof Config.ApiKey.Type>
  /** Serve HTTPS with these PEM files (`server.tls`). */
  readonly tls?: Tls.Options
  /** What ingest keeps of an event's text (`privacy`; default: `Redaction.make()`'s). */
  readonly privacy?: typeof Config.Privacy.Type
}

/**
 * What {@link layerGuard} lets through.
 *
 * @category models
 * @since 0.1.0
 */
export interface GuardOptions {
  /** Whether the server is bound to a loopback address: then `Host` must name a loopback host. */
  readonly loopback?: boolean
  /** More `Host` names to accept on loopback (e.g. the name a local reverse proxy forwards), without port. */
  readonly allowedHosts?: ReadonlyArray<string>
  /** Origins (`https://dash.example.com`) whose pages may call the API; they get CORS headers. */
  readonly corsOrigins?: ReadonlyArray<string>
}

const hostName = (host: string): string => {
  const h = host.trim().toLowerCase()
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1)
  const colon = h.lastIndexOf(":")
  return colon >= 0 && h.indexOf(":") === colon ? h.slice(0, colon) : h
}

const loopbackName = (name: string): boolean =>
  name === "localhost" || name === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)

/**
 * Whether a `Host` header passes the guard: always off loopback; on loopback, a loopback name or one of
 * `allowedHosts` (port ignored).
 *
 * @category guards
 * @since 0.1.0
 */
export const isAllowedHost = (host: string, options: GuardOptions): boolean => {
  if (options.loopback !== true) return true
  const name = hostName(host)
  return loopbackName(name) || (options.allowedHosts ?? []).some((h) => h.toLowerCase() === name)
}

const forbidden = (message: string) => Problem.forbidden(message)

/**
 * Refuses cross-origin requests from origins not configured, and (on loopback) `Host` headers that do not name
 * this machine. Requests without `Origin` (curl, SDKs, servers) pass; same-origin requests pass.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerGuard = (options: GuardOptions): Layer.Layer<never, never, HttpRouter.HttpRouter> => {
  const origins = new Set(options.corsOrigins ?? [])
  return HttpRouter.middleware(
    (effect) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        const host = request.headers.host
        if (host !== undefined && !isAllowedHost(host, options)) {
          return Effect.succeed(
            forbidden(
              `Host ${JSON.stringify(host.slice(0, 100))} is not a name of this server, which listens on loopback only (a DNS-rebinding guard); add it with --allowed-host if a local proxy forwards it`
            )
          )
        }
        const origin = request.headers.origin
        if (origin !== undefined && !origins.has(origin)) {
          const same = host !== undefined && (origin === `http://${host}` || origin === `https://${host}`)
          if (!same) {
            return Effect.succeed(
              forbidden(
                `cross-origin requests from ${JSON.stringify(origin.slice(0, 100))} are refused; allow an origin with --cors-origin`
              )
            )
          }
        }
        return effect
      }),
    { global: true }
  )
}

const notFound = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
  const path = request.url.split("?")[0] ?? ""
  const allowed = methodsOf(path)
  if (allowed.length > 0 && !allowed.includes(request.method)) {
    return Problem.response(
      Problem.make({
        status: 405,
        code: "method-not-allowed",
        detail: `${request.method} is not allowed on ${path} (allowed: ${allowed.join(", ")})`,
        instance: path
      }),
      { allow: allowed.join(", ") }
    )
  }
  return Problem.response(
    Problem.make({ status: 404, code: "not-found", detail: `no route for ${request.method} ${path}`, instance: path })
  )
})

const plainRoutes: ReadonlyArray<readonly [string, RegExp]> = [
  ["POST", /^\/v1\/events$/],
  ["POST", /^\/v1\/traces$/],
  ["GET", /^\/metrics$/],
  ["GET", /^\/v1\/stream\/alerts$/],
  ["GET", /^\/openapi\.json$/],
  ["GET", /^\/docs$/]
]

let apiRoutes: ReadonlyArray<readonly [string, RegExp]> | undefined
const routeTable = (): ReadonlyArray<readonly [string, RegExp]> => {
  if (apiRoutes === undefined) {
    const out: Array<readonly [string, RegExp]> = []
    HttpApi.reflect(Api.Api, {
      onGroup: () => {},
      onEndpoint: ({ endpoint }) => {
        const pattern = endpoint.path.replace(/[.]/g, "\\.").replace(/:[A-Za-z0-9_]+/g, "[^/]+")
        out.push([endpoint.method, new RegExp(`^${pattern}$`)])
      }
    })
    apiRoutes = [...out, ...plainRoutes]
  }
  return apiRoutes
}

/**
 * The methods the server answers on a path (empty: no such path), for 405 answers with `Allow`.
 *
 * @category guards
 * @since 0.1.0
 */
export const methodsOf = (path: string): ReadonlyArray<string> => [
  ...new Set(routeTable().flatMap(([method, re]) => (re.test(path) ? [method] : [])))
]

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
        Problem.response(Problem.make({ status: 500, code: "internal", detail: "internal server error" }))
      )
    }),
  { global: true }
)

/**
 * Every route: the API with its OpenAPI document, ingest, and JSON errors, behind the guard. Requires the
 * `AnomalyStore`, the `EventQueue`, `Admission` and `Readiness` (and the platform services a server or
 * `HttpServer.layerServices` provides).
 *
 * @category layers
 * @since 0.1.0
 */
export const routes = (options: Ingest.Options & GuardOptions & { readonly auth?: Auth.Keyring } = {}) =>
  Layer.mergeAll(
    Api.layer,
    AlertStream.layer,
    Docs.layer,
    Dashboard.layer,
    Ingest.layer(options),
    OtlpIngest.layer(options),
    PrometheusMetrics.layerHttp({ path: "/metrics" }),
    layerErrors,
    layerGuard(options),
    options.auth === undefined ? Layer.empty : Auth.layer(options.auth),
    (options.corsOrigins ?? []).length > 0
      ? HttpRouter.cors({
          allowedOrigins: options.corsOrigins,
          allowedMethods: ["GET", "POST", "OPTIONS"],
          allowedHeaders: ["content-type", "authorization"],
          maxAge: 600
        })
      : Layer.empty,
    HttpRouter.add("*", "*", notFound)
  )

/**
 * The server on `host:port`, closed gracefully (requests in flight finish) when the layer is released.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const auth = (options.keys ?? []).length > 0 ? yield* Auth.load(options.keys ?? []) : undefined
      const server = options.tls === undefined ? createServer : yield* Tls.serverFactory(options.tls)
      const redactor = Redaction.make(options.privacy)
      return HttpRouter.serve(
        routes({ ...options, redactor, ...(auth === undefined ? {} : { auth }) }).pipe(
          Layer.provide(Admission.layer(options.admission))
        ),
        { disableLogger: true, disableListenLog: true }
      ).pipe(
        Layer.provideMerge(
          NodeHttpServer.layer(server, {
            host: options.host,
            port: options.port,
            gracefulShutdownTimeout: options.shutdownTimeout ?? "10 seconds"
          })
        )
      )
    })
  )
