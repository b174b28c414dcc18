/**
 * The API reference page at `GET /docs`: plain HTML rendered by the server from the same OpenAPI document that
 * `GET /openapi.json` serves (every path, method, summary, description, parameter and response status), so it
 * works with no internet access and never drifts from the API. No script, no external asset.
 *
 * @since 0.1.0
 */
import { Effect, type Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { OpenApi } from "effect/http-api"
import * as Api from "./Api.ts"
import * as Problem from "./Problem.ts"

const escapeHtml = (s: string): string =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;")

const inline = (s: string): string => escapeHtml(s).replace(/`([^`]+)`/g, "<code>$1</code>")

interface Operation {
  readonly summary?: string
  readonly description?: string
  readonly parameters?: ReadonlyArray<{
    readonly name: string
    readonly in: string
    readonly description?: string
    readonly required?: boolean
  }>
  readonly responses?: Readonly<Record<string, { readonly description?: string }>>
}

/**
 * The reference page as HTML.
 *
 * @category constructors
 * @since 0.1.0
 */
export const render = (): string => {
  const spec = OpenApi.fromApi(Api.Api) as unknown as {
    readonly info: { readonly title: string; readonly version: string; readonly description?: string }
    readonly paths: Readonly<Record<string, Readonly<Record<string, Operation>>>>
  }
  const sections: Array<string> = []
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = (op.parameters ?? [])
        .map(
          (p) =>
            `<tr><td><code>${escapeHtml(p.name)}</code></td><td>${escapeHtml(p.in)}${p.required === true ? ", required" : ""}</td><td>${inline(p.description ?? "")}</td></tr>`
        )
        .join("")
      const responses = Object.entries(op.responses ?? {})
        .map(([status, r]) => `<li><code>${escapeHtml(status)}</code> ${inline(r.description ?? "")}</li>`)
        .join("")
      sections.push(`<section id="${escapeHtml(`${method}-${path}`)}">
<h2><span class="m">${escapeHtml(method.toUpperCase())}</span> <code>${escapeHtml(path)}</code></h2>
<p>${inline(op.summary ?? "")}</p>${op.description === undefined ? "" : `<p>${inline(op.description)}</p>`}
${params === "" ? "" : `<table><tr><th>Parameter</th><th>In</th><th>Description</th></tr>${params}</table>`}
<ul>${responses}</ul>
</section>`)
    }
  }
  const problems = Object.entries(Problem.codes)
    .map(([code, c]) => `<tr><td><code>${code}</code></td><td>${c.status}</td><td>${escapeHtml(c.title)}</td></tr>`)
    .join("")
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(spec.info.title)} API ${escapeHtml(spec.info.version)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:0 .2em}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}
.m{display:inline-block;min-width:4em;color:#fff;background:#2a6;padding:0 .3em;border-radius:3px;font-size:.8em}</style>
</head><body>
<h1>${escapeHtml(spec.info.title)} API <small>${escapeHtml(spec.info.version)}</small></h1>
<p>${inline(spec.info.description ?? "")}</p>
<p>Machine-readable: <a href="/openapi.json"><code>/openapi.json</code></a> (OpenAPI 3.1). Also served:
<code>POST /v1/events</code> (ingest), <code>POST /v1/traces</code> (OTLP/HTTP), <code>GET /metrics</code> (Prometheus).</p>
<h2 id="problems">Errors</h2>
<p>Every error is an RFC 9457 problem document (<code>application/problem+json</code>) with <code>type</code>
(<code>${Problem.typeBase}&lt;code&gt;</code>), <code>title</code>, <code>status</code>, <code>detail</code>,
<code>code</code>, and for validation errors <code>errors: [{ path, message }]</code>.</p>
<table><tr><th>code</th><th>status</th><th>title</th></tr>${problems}</table>
${sections.join("\n")}
</body></html>`
}

/**
 * The `GET /docs` route.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<never, never, HttpRouter.HttpRouter> = HttpRouter.use(
  Effect.fn(function* (router) {
    let page: string | undefined
    yield* router.add(
      "GET",
      "/docs",
      Effect.sync(() => HttpServerResponse.html((page ??= render())))
    )
  })
)
