/**
 * The dashboard at `GET /`: a page of plain ES modules (`packages/server/dashboard/`) and uPlot, all served by
 * Sentinel itself, so it works without internet access. The page only calls the query API (`/v1/series`,
 * `/v1/series/{id}/points`, `/v1/alerts`, `/v1/stream/alerts`); filtering and paging happen on the server.
 *
 * Assets are read once when the layer is built and served under `/ui/<version>/<file>`, where `version` is a hash
 * of every asset: they are cached for a year (`immutable`), while `/` itself is `no-cache` with an `ETag`, so a
 * new release is picked up on the next load. Every response carries a strict Content-Security-Policy (scripts,
 * styles and connections to this origin only, no inline script, no framing) and `nosniff`.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import { Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Problem from "./Problem.ts"

/**
 * The dashboard's assets could not be read (a broken installation).
 *
 * @category errors
 * @since 0.1.0
 */
export class DashboardError extends Schema.TaggedError<DashboardError>()("DashboardError", {
  path: Schema.String,
  message: Schema.String
}) {}

/**
 * The policy sent with every dashboard response.
 *
 * @category models
 * @since 0.1.0
 */
export const contentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/**
 * One served file.
 *
 * @category models
 * @since 0.1.0
 */
export interface Asset {
  readonly body: Uint8Array
  readonly contentType: string
  readonly etag: string
}

/**
 * Everything the dashboard serves.
 *
 * @category models
 * @since 0.1.0
 */
export interface Bundle {
  readonly version: string
  readonly index: Asset
  readonly assets: ReadonlyMap<string, Asset>
}

const types: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  html: "text/html; charset=utf-8"
}

const dir = fileURLToPath(new URL("../dashboard/", import.meta.url))
const require = createRequire(import.meta.url)

/** Served name → file on disk. */
const files = (): ReadonlyArray<readonly [string, string]> => [
  ["app.js", `${dir}app.js`],
  ["style.css", `${dir}style.css`],
  ["uplot.js", require.resolve("uplot/dist/uPlot.esm.js")],
  ["uplot.css", require.resolve("uplot/dist/uPlot.min.css")]
]

const asset = (body: Uint8Array, name: string): Asset => ({
  body,
  contentType: types[name.slice(name.lastIndexOf(".") + 1)] ?? "application/octet-stream",
  etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`
})

/**
 * Reads the assets and computes their version.
 *
 * @category constructors
 * @since 0.1.0
 */
export const load: Effect.Effect<Bundle, DashboardError> = Effect.try({
  try: () => {
    const assets = new Map<string, Asset>()
    const hash = createHash("sha256")
    for (const [name, path] of files()) {
      const body = readFileSync(path)
      hash.update(name).update(body)
      assets.set(name, asset(body, name))
    }
    const version = hash.digest("hex").slice(0, 12)
    const html = readFileSync(`${dir}index.html`, "utf8").replaceAll("{{version}}", version)
    return { version, index: asset(new TextEncoder().encode(html), "index.html"), assets }
  },
  catch: (e) => new DashboardError({ path: dir, message: `cannot read the dashboard's assets: ${String(e)}` })
})

const headers = (a: Asset, cache: string) => ({
  "content-type": a.contentType,
  "cache-control": cache,
  etag: a.etag,
  "content-security-policy": contentSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY"
})

const serve = (a: Asset, cache: string) =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
    request.headers["if-none-match"] === a.etag
      ? HttpServerResponse.setHeaders(HttpServerResponse.empty({ status: 304 }), headers(a, cache))
      : HttpServerResponse.uint8Array(a.body, { headers: headers(a, cache), contentType: a.contentType })
  )

/**
 * The routes `GET /` and `GET /ui/:version/:file`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<never, DashboardError, HttpRouter.HttpRouter> = Layer.unwrap(
  Effect.map(load, (bundle) =>
    Layer.mergeAll(
      HttpRouter.add("GET", "/", serve(bundle.index, "no-cache")),
      HttpRouter.add(
        "GET",
        "/ui/:version/:file",
        Effect.flatMap(HttpRouter.params, (params) => {
          const a = params.version === bundle.version ? bundle.assets.get(params.file ?? "") : undefined
          return a === undefined
            ? Effect.succeed(
                Problem.response(Problem.make({ status: 404, detail: `no dashboard asset ${params.file ?? ""}` }))
              )
            : serve(a, "public, max-age=31536000, immutable")
        })
      )
    )
  )
)
