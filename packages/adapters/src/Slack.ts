/**
 * The Slack alert sink: posts each alert event to a Slack incoming webhook as a Block Kit message saying what
 * fired, on which series, observed against expected, the severity, and a button to the dashboard.
 *
 * Incoming webhooks cannot reply in a thread or edit a message (they return no message `ts`), so a resolved
 * alert is a new "Resolved" message naming the same alert id and series. Delivery is the webhook sink's:
 * retries with backoff on 5xx/429/timeouts honouring Slack's `Retry-After`, a rate limit per webhook (Slack
 * allows about one message per second, the default here), and the dead-letter sink after the last try.
 *
 * Alert events carry the alert's reason text but not the observed and expected values; to show them as fields,
 * wrap the anomaly sink with {@link layerObserveAnomalies}, which remembers the latest anomaly of each series.
 *
 * @since 0.1.0
 */
import { type Alert, AlertSink, type Anomaly, AnomalySink } from "@llm-sentinel/core"
import { DeadLetterSink } from "@llm-sentinel/core/DeadLetterSink"
import { Context, Effect, Layer, Schema } from "effect"
import * as AlertJson from "./AlertJson.ts"
import type * as Counters from "./Counters.ts"
import * as Delivery from "./internal/delivery.ts"
import * as Http from "./internal/http.ts"
import { WebhookError } from "./Webhook.ts"

/**
 * The Slack sink's configuration. Unknown fields are errors ({@link decodeConfig}).
 *
 * @category models
 * @since 0.1.0
 */
export const Config = Schema.Struct({
  /** The incoming-webhook URL (`https://hooks.slack.com/services/…`); it is a credential, so it is redacted. */
  url: Schema.RedactedFromValue(Http.HttpUrl),
  /** The destination's name in metrics and logs (default `slack`). */
  name: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  /**
   * The dashboard link of each message. `{series}` and `{alert}` are replaced by the URL-encoded series id and
   * alert id, e.g. `http://127.0.0.1:7300/?series={series}`.
   */
  dashboardUrl: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  /** Time limit of one attempt (default 10 seconds). */
  timeout: Schema.optionalKey(Http.DurationInput),
  /** Attempts after the first (default 5). */
  retries: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100 }))),
  /** First backoff delay, doubled on each retry (default 500 millis). */
  retryBaseDelay: Schema.optionalKey(Http.DurationInput),
  /** Longest wait between attempts, also the cap on `Retry-After` (default 30 seconds). */
  retryMaxDelay: Schema.optionalKey(Http.DurationInput),
  /** Messages per second to this webhook (default 1, Slack's limit). */
  ratePerSecond: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThan(0))),
  /** Messages that may go at once after a quiet period (default 3). */
  burst: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)))
}).annotate({ identifier: "SlackConfig" })

/**
 * @category models
 * @since 0.1.0
 */
export type Config = typeof Config.Type

/**
 * Decodes a configuration: unknown fields are errors, every problem reported.
 *
 * @category constructors
 * @since 0.1.0
 */
export const decodeConfig = (input: unknown): Effect.Effect<Config, Schema.SchemaError> =>
  Schema.decodeUnknownEffect(Config)(input, Http.strict)

/**
 * The observed and expected values of a series' latest anomaly.
 *
 * @category models
 * @since 0.1.0
 */
export interface Observation {
  readonly observed: number | null
  readonly expected: number | null
  readonly lower: number | null
  readonly upper: number | null
}

/**
 * A Block Kit message (incoming-webhook body).
 *
 * @category models
 * @since 0.1.0
 */
export interface Message {
  readonly text: string
  readonly blocks: ReadonlyArray<Record<string, unknown>>
}

const mrkdwn = (s: string): string => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
const cut = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 1)}…`)
const num = (x: number | null): string =>
  x === null ? "–" : Math.abs(x) >= 10_000 ? x.toFixed(0) : String(Number(x.toPrecision(4)))
const icon = { critical: ":red_circle:", warning: ":large_orange_circle:", info: ":large_blue_circle:", none: "" }
const field = (title: string, value: string) => ({ type: "mrkdwn", text: cut(`*${title}*\n${value}`, 2000) })

/**
 * The dashboard link of an alert event, from a `dashboardUrl` template.
 *
 * @category combinators
 * @since 0.1.0
 */
export const dashboardLink = (template: string, event: Alert.AlertEvent): string =>
  template
    .replaceAll("{series}", event._tag === "storm" ? "" : encodeURIComponent(event.alert.series.id))
    .replaceAll("{alert}", event._tag === "storm" ? "" : encodeURIComponent(event.alert.id))

/**
 * The Block Kit message of an alert event.
 *
 * @category combinators
 * @since 0.1.0
 */
export const message = (
  event: Alert.AlertEvent,
  options: { readonly dashboardUrl?: string | undefined; readonly observation?: Observation | undefined } = {}
): Message => {
  const link =
    options.dashboardUrl === undefined
      ? []
      : [
          {
            type: "actions",
            elements: [
              {
                type: "button",
                text: { type: "plain_text", text: "Open dashboard" },
                url: dashboardLink(options.dashboardUrl, event)
              }
            ]
          }
        ]
  if (event._tag === "storm") {
    const text = `:warning: Alert storm: ${event.suppressed} new alerts suppressed since ${new Date(event.time).toISOString()}`
    return { text, blocks: [{ type: "section", text: { type: "mrkdwn", text } }, ...link] }
  }
  const a = event.alert
  const what = `${a.series.metric} on ${a.series.service} / ${a.series.model}`
  const title =
    event._tag === "resolved"
      ? `:white_check_mark: Resolved: ${what}`
      : `${icon[a.severity]} ${event._tag === "opened" ? "Alert" : "Escalated"} (${a.severity}): ${what}`
  const o = options.observation
  const fields = [
    field("Series", `\`${mrkdwn(a.series.id)}\``),
    field("Severity", a.severity),
    ...(o === undefined
      ? []
      : [
          field("Observed", num(o.observed)),
          field("Expected", `${num(o.expected)} (${num(o.lower)} – ${num(o.upper)})`)
        ]),
    field("Detectors", mrkdwn(a.detectors.join(", "))),
    field(
      event._tag === "resolved" ? "Open for" : "Since",
      event._tag === "resolved" && a.resolvedAt !== null
        ? `${Math.round((a.resolvedAt - a.openedAt) / 60_000)} min`
        : `<!date^${Math.floor(a.openedAt / 1000)}^{date_short_pretty} {time}|${new Date(a.openedAt).toISOString()}>`
    )
  ]
  return {
    text: cut(`${title}: ${a.reason}`, 3000),
    blocks: [
      { type: "header", text: { type: "plain_text", text: cut(title.replace(/^:[a-z_]+: /, ""), 150), emoji: true } },
      { type: "section", text: { type: "mrkdwn", text: cut(`${title}\n${mrkdwn(a.reason)}`, 3000) } },
      { type: "section", fields },
      ...link,
      {
        type: "context",
        elements: [{ type: "mrkdwn", text: `alert \`${a.id}\` · ${a.anomalies} anomalies` }]
      }
    ]
  }
}

/**
 * The Slack client.
 *
 * @category services
 * @since 0.1.0
 */
export class Slack extends Context.Service<
  Slack,
  {
    /** Posts one alert event, with retries; no dead-lettering (the `AlertSink` does that). */
    readonly send: (event: Alert.AlertEvent) => Effect.Effect<void, WebhookError>
    /** Remembers the observed and expected values of the anomalies, for the next messages of their series. */
    readonly observe: (anomalies: ReadonlyArray<Anomaly.Anomaly>) => Effect.Effect<void>
    /** `false` after an event had to be dead-lettered, until a delivery succeeds again. */
    readonly health: Effect.Effect<boolean>
    readonly counters: Counters.Counters
  }
>()("@llm-sentinel/adapters/Slack") {}

/**
 * The Slack client and an `AlertSink` posting to it. Needs a `DeadLetterSink` for what cannot be delivered.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (config: Config): Layer.Layer<Slack | AlertSink.AlertSink, WebhookError, DeadLetterSink> =>
  Layer.effectContext(
    Effect.gen(function* () {
      yield* Http.validate(Config, config).pipe(
        Effect.mapError((reason) => new WebhookError({ destination: config.name ?? "slack", reason }))
      )
      const deadLetters = yield* DeadLetterSink
      const o = Delivery.fromConfig({ name: "slack", ...config }, "slack", { rate: 1, burst: 3 })
      const d = Delivery.make(o)
      // bounded: the latest anomaly of at most 10k series, oldest forgotten first
      const seen = new Map<string, Observation>()
      const observe = (anomalies: ReadonlyArray<Anomaly.Anomaly>) =>
        Effect.sync(() => {
          for (const a of anomalies) {
            seen.delete(a.series.id)
            seen.set(a.series.id, { observed: a.observed, expected: a.expected, lower: a.lower, upper: a.upper })
            if (seen.size > 10_000) seen.delete(seen.keys().next().value!)
          }
        })
      const text = (event: Alert.AlertEvent) =>
        JSON.stringify(
          message(event, {
            dashboardUrl: config.dashboardUrl,
            observation: event._tag === "storm" ? undefined : seen.get(event.alert.series.id)
          })
        )
      const sink = Delivery.alertSink(d, o, text, AlertJson.deliveryId, deadLetters)
      return Context.make(AlertSink.AlertSink, sink).pipe(
        Context.add(Slack, {
          send: (event) => {
            const id = AlertJson.deliveryId(event)
            return d
              .send(new TextEncoder().encode(text(event)), id)
              .pipe(Effect.mapError((reason) => new WebhookError({ destination: o.name, reason })))
          },
          observe,
          health: d.health,
          counters: d.counters
        })
      )
    })
  )

/**
 * Wraps the `AnomalySink` below it so that Slack sees every anomaly written (for the observed and expected
 * fields of its messages) before the anomalies go on to that sink.
 *
 * @example
 * ```ts
 * import { Slack } from "@llm-sentinel/adapters"
 * import { AnomalySink, DeadLetterSink } from "@llm-sentinel/core"
 * import { Layer, Redacted } from "effect"
 * const slack = Slack.layer({ url: Redacted.make("https://hooks.slack.com/services/T/B/X") })
 *   .pipe(Layer.provide(DeadLetterSink.layerLog))
 * const sinks = Slack.layerObserveAnomalies.pipe(Layer.provideMerge(Layer.merge(slack, AnomalySink.layerLog)))
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layerObserveAnomalies: Layer.Layer<AnomalySink.AnomalySink, never, AnomalySink.AnomalySink | Slack> =
  Layer.effect(
    AnomalySink.AnomalySink,
    Effect.gen(function* () {
      const inner = yield* AnomalySink.AnomalySink
      const slack = yield* Slack
      return { write: (xs) => Effect.andThen(slack.observe(xs), inner.write(xs)) }
    })
  )
