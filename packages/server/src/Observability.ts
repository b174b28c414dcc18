/**
 * Sentinel's own logs and traces (`observability:` of the configuration).
 *
 * - **Logs**: `logFormat: json` writes one JSON object per line (`timestamp`, `level`, `message`, `annotations`,
 *   `spans`, `fiberId`, `cause`, and `traceId`/`spanId` when the log was written inside a traced span), so a log
 *   line can be joined with its trace; `text` (the default) is Effect's human-readable format. `logLevel` is the
 *   lowest level written (default `info`).
 * - **Metrics**: with `otlp.endpoint`, every metric of `/metrics` is also exported over OTLP/HTTP (JSON) to
 *   `<endpoint>/v1/metrics` every 10 seconds.
 * - **Traces**: with `otlp.endpoint`, spans are exported over OTLP/HTTP (JSON) to `<endpoint>/v1/traces` by
 *   Effect's own OTLP exporter (`effect/observability`, batched, flushed at shutdown): one span per HTTP request
 *   (from the HTTP server), per ingest decode (`sentinel.ingest`), per detection batch
 *   (`sentinel.pipeline.detect`), per batch written to the sinks (`sentinel.pipeline.sinks`) and per write to a
 *   configured sink (`sentinel.sink.<type>`).
 *
 * Divergence from the brief's stack: `@effect/opentelemetry` is not used; Effect 4's built-in OTLP exporter sends
 * the same protocol without the OpenTelemetry SDK's dependencies.
 *
 * @since 0.2.0
 */
import { Context, Layer, Logger, Redacted, References, Tracer } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpMetrics, OtlpSerialization, OtlpTracer } from "effect/observability"
import type * as Config from "./Config.ts"

/**
 * A logger writing one JSON object per line to stdout, with the trace and span ids of the current span.
 *
 * @category constructors
 * @since 0.2.0
 */
export const jsonLogger: Logger.Logger<unknown, void> = Logger.make((options) => {
  const base = Logger.formatStructured.log(options)
  const span = Context.getOrUndefined(options.fiber.context, Tracer.ParentSpan)
  const line = span === undefined ? base : { ...base, traceId: span.traceId, spanId: span.spanId }
  globalThis.console.log(JSON.stringify(line))
})

const levels = {
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  error: "Error"
} as const

/**
 * The logger, log level and (when configured) OTLP trace exporter of a configuration.
 *
 * @category layers
 * @since 0.2.0
 */
export const layer = (config: typeof Config.Observability.Type | undefined): Layer.Layer<never> => {
  const logger = config?.logFormat === "json" ? Logger.layer([jsonLogger]) : Layer.empty
  const level = Layer.succeed(References.MinimumLogLevel, levels[config?.logLevel ?? "info"])
  const otlp = config?.otlp
  const base = otlp === undefined ? "" : otlp.endpoint.replace(/\/+$/, "")
  const common =
    otlp === undefined
      ? undefined
      : {
          resource: { serviceName: otlp.serviceName ?? "sentinel", serviceVersion: "0.2.0" },
          ...(otlp.headers === undefined
            ? {}
            : {
                headers: Object.fromEntries(Object.entries(otlp.headers).map(([k, v]) => [k, Redacted.value(v)]))
              })
        }
  const tracer =
    common === undefined
      ? Layer.empty
      : Layer.merge(
          OtlpTracer.layer({ ...common, url: `${base}/v1/traces`, exportInterval: "1 second" }),
          OtlpMetrics.layer({ ...common, url: `${base}/v1/metrics`, exportInterval: "10 seconds" })
        ).pipe(Layer.provide(OtlpSerialization.layerJson), Layer.provide(FetchHttpClient.layer), Layer.orDie)
  return Layer.mergeAll(logger, level, tracer) as Layer.Layer<never>
}
