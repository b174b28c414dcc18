/**
 * Privacy at ingest: what of an event's text Sentinel keeps (the `privacy` section of the configuration). It is
 * applied where records are decoded, before the journal, Kafka, the pipeline or any sink sees them: in HTTP and
 * OTLP ingest ({@link Redactor.events}), and on every batch a source replays or consumes ({@link layerSource}:
 * the journal after a restart, so a journal written under another configuration is redacted the same way).
 *
 * - **Prompt and response text is dropped** unless `storeText` is true: a string attribute whose key names a
 *   prompt, a completion, messages or content ({@link isTextKey}: `gen_ai.prompt`, `gen_ai.completion.0.content`,
 *   `llm.input_messages.0.message.content`, `input.value`, `prompt`, `response`, …) is removed.
 * - **Attribute values and `errorType` are redacted** by patterns: the built-in `email`, `apiKey` (OpenAI,
 *   Anthropic, AWS, GitHub, Slack, Google keys, JWTs, bearer tokens, Sentinel's own keys) and `cardNumber` (13 to
 *   19 digits passing the Luhn check), all on by default, and any configured regular expressions; each match is
 *   replaced by `[redacted]` (configurable). A redacted value never grows past the length the event Schema
 *   allows, so a valid event stays valid (and decodes the same when the journal replays it).
 * - **Rejected records** (dead letters) are redacted whole ({@link Redactor.rejected}): every string and key of
 *   the payload and every error message (which may quote the value), since an invalid record may hold text
 *   anywhere.
 *
 * @since 0.2.0
 */
import { Event, EventSource } from "@llm-sentinel/core"
import { Clock, Effect, Layer, Stream } from "effect"
import type * as Config from "./Config.ts"

/**
 * The built-in patterns.
 *
 * @category models
 * @since 0.2.0
 */
export type Builtin = "email" | "apiKey" | "cardNumber"

const luhn = (digits: string): boolean => {
  let sum = 0
  let double = false
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48
    if (double) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
    double = !double
  }
  return sum % 10 === 0
}

/**
 * The source of each built-in pattern (JavaScript regular expressions, matched globally).
 *
 * @category models
 * @since 0.2.0
 */
export const builtins: Readonly<Record<Builtin, string>> = {
  // the look-behind starts a match at the beginning of a local part only (not again at each of its characters)
  email: String.raw`(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`,
  apiKey: [
    String.raw`\b(?:sk|pk|rk)[-_][A-Za-z0-9_-]{16,}`, // OpenAI, Anthropic (sk-ant-…), Stripe
    String.raw`\bsntl_[A-Za-z0-9_-]{20,}`, // Sentinel's own keys (sentinel hash-key)
    String.raw`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`, // AWS access key ids
    String.raw`\bgh[pousr]_[A-Za-z0-9]{30,}`, // GitHub tokens
    String.raw`\bxox[abprs]-[A-Za-z0-9-]{10,}`, // Slack tokens
    String.raw`\bAIza[0-9A-Za-z_-]{35}`, // Google API keys
    String.raw`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`, // JWTs
    String.raw`\b[Bb]earer\s+[A-Za-z0-9._~+/-]{16,}=*` // bearer tokens
  ].join("|"),
  cardNumber: String.raw`\b(?:\d[ -]?){12,18}\d\b`
}

/**
 * Attribute keys that carry prompt or response text: a key with one of these dot-separated segments
 * (`gen_ai.prompt.0.content`), or one of {@link textKeys} exactly.
 *
 * @category models
 * @since 0.2.0
 */
export const textSegments: ReadonlySet<string> = new Set([
  "prompt",
  "prompts",
  "completion",
  "completions",
  "content",
  "messages",
  "input_messages",
  "output_messages",
  "system_instructions",
  "instructions"
])

/**
 * Attribute keys, matched whole, that carry prompt or response text.
 *
 * @category models
 * @since 0.2.0
 */
export const textKeys: ReadonlySet<string> = new Set([
  "input",
  "output",
  "response",
  "query",
  "input.value",
  "output.value",
  "gen_ai.tool.call.arguments",
  "gen_ai.tool.call.result"
])

/**
 * Whether an attribute key names prompt or response text (case-insensitive).
 *
 * @category guards
 * @since 0.2.0
 */
export const isTextKey = (key: string): boolean => {
  const k = key.toLowerCase()
  if (textKeys.has(k)) return true
  for (const segment of k.split(".")) if (textSegments.has(segment)) return true
  return false
}

/**
 * Redacts what the configuration says. Every function returns its input itself when there is nothing to change.
 *
 * @category models
 * @since 0.2.0
 */
export interface Redactor {
  /** Whether text attributes are kept (`privacy.storeText`). */
  readonly storeText: boolean
  /** The names of the active patterns. */
  readonly patterns: ReadonlyArray<string>
  /** A string with every match replaced (no length cap). */
  readonly text: (s: string) => string
  /** A valid event: text attributes dropped, attribute values and `errorType` redacted. */
  readonly event: (event: Event.TelemetryEvent) => Event.TelemetryEvent
  /** Many events; the same array when none changed. */
  readonly events: (events: ReadonlyArray<Event.TelemetryEvent>) => {
    readonly events: ReadonlyArray<Event.TelemetryEvent>
    readonly changed: boolean
  }
  /** A rejected record: every string and key of its payload, and its error messages. */
  readonly rejected: (rejected: Event.Rejected) => Event.Rejected
}

const maxAttribute = 1024
const maxErrorType = 256

/**
 * The redactor of a `privacy` section (defaults: text dropped, the three built-in patterns, `[redacted]`). The
 * configured regular expressions were checked when the configuration was decoded; one that still does not
 * compile is reported by `Config.decode`, never here.
 *
 * @example
 * ```ts
 * import { Redaction } from "@llm-sentinel/server"
 * const r = Redaction.make({})
 * r.text("mail bob@example.com, key sk-abcdefghijklmnopqrstuv") // "mail [redacted], key [redacted]"
 * ```
 * @category constructors
 * @since 0.2.0
 */
export const make = (privacy: typeof Config.Privacy.Type = {}): Redactor => {
  const storeText = privacy.storeText === true
  const replacement = privacy.redact?.replacement ?? "[redacted]"
  const chosen = privacy.redact?.builtin ?? (["email", "apiKey", "cardNumber"] as const)
  const custom = privacy.redact?.patterns ?? []
  // the email pattern is the costly one (a greedy local part tried at every position): it only runs on strings
  // with an `@`; the other patterns run as one alternation, the card numbers with their Luhn check
  const email = chosen.includes("email") ? new RegExp(builtins.email, "g") : undefined
  const plain = [
    ...chosen.filter((b) => b !== "cardNumber" && b !== "email").map((b) => builtins[b]),
    ...custom.map((p) => `(?:${p.regex})`)
  ]
  const card = chosen.includes("cardNumber") ? new RegExp(builtins.cardNumber, "g") : undefined
  const others = plain.length === 0 ? undefined : new RegExp(plain.join("|"), "g")
  const names = [...chosen, ...custom.map((p) => p.name)]
  // `replace` with a global pattern starts at 0 and resets `lastIndex`: the patterns can be shared
  const text = (s: string): string => {
    let out = email !== undefined && s.includes("@") ? s.replace(email, replacement) : s
    if (others !== undefined) out = out.replace(others, replacement)
    return card === undefined ? out : out.replace(card, (m) => (luhn(m.replace(/[ -]/g, "")) ? replacement : m))
  }
  // attribute keys repeat from event to event: remember what they are (up to a bound, against key floods)
  const textKeyCache = new Map<string, boolean>()
  const textKey = (key: string): boolean => {
    let known = textKeyCache.get(key)
    if (known === undefined) {
      known = isTextKey(key)
      if (textKeyCache.size < 10_000) textKeyCache.set(key, known)
    }
    return known
  }
  const capped = (s: string, max: number): string => {
    const out = text(s)
    return out.length > max && s.length <= max ? out.slice(0, max) : out
  }
  const event = (e: Event.TelemetryEvent): Event.TelemetryEvent => {
    let attributes = e.attributes
    if (attributes !== undefined) {
      let copy: Record<string, string | number | boolean> | undefined
      for (const key in attributes) {
        const value = attributes[key]!
        if (typeof value !== "string") continue
        if (!storeText && textKey(key)) {
          copy ??= { ...attributes }
          delete copy[key]
          continue
        }
        const red = capped(value, maxAttribute)
        if (red !== value) {
          copy ??= { ...attributes }
          copy[key] = red
        }
      }
      if (copy !== undefined) attributes = copy
    }
    const errorType = e.errorType === undefined ? undefined : capped(e.errorType, maxErrorType)
    if (attributes === e.attributes && errorType === e.errorType) return e
    const out: { -readonly [K in keyof Event.TelemetryEvent]: Event.TelemetryEvent[K] } = { ...e }
    if (attributes !== undefined && Object.keys(attributes).length > 0) out.attributes = attributes
    else delete out.attributes
    if (errorType !== undefined) out.errorType = errorType
    return out
  }
  const events = (list: ReadonlyArray<Event.TelemetryEvent>) => {
    let out: Array<Event.TelemetryEvent> | undefined
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!
      if (e.attributes === undefined && e.errorType === undefined) continue
      const r = event(e)
      if (r !== e) {
        out ??= list.slice()
        out[i] = r
      }
    }
    return out === undefined ? { events: list, changed: false } : { events: out, changed: true }
  }
  const deep = (value: unknown, depth: number): unknown => {
    if (typeof value === "string") return text(value)
    if (typeof value !== "object" || value === null) return value
    if (depth > 64) return replacement
    if (Array.isArray(value)) return value.map((v) => deep(v, depth + 1))
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      if (!storeText && typeof v === "string" && isTextKey(k)) continue
      out[text(k)] = deep(v, depth + 1)
    }
    return out
  }
  const rejected = (r: Event.Rejected): Event.Rejected => ({
    ...r,
    payload: deep(r.payload, 0),
    errors: r.errors.map((e) => ({ path: text(e.path), message: text(e.message) }))
  })
  return { storeText, patterns: names, text, event, events, rejected }
}

/**
 * Decodes a source batch's raw records as the pipeline would (with `timeBounds` against the clock) and redacts
 * the events and the rejected records, so the pipeline receives no raw record: what it sends to sinks, dead
 * letters included, has been redacted. Events that arrive already decoded were decoded (and redacted) by the
 * HTTP or OTLP ingest; they are redacted again only when `all` is set.
 *
 * @category combinators
 * @since 0.2.0
 */
export const batch = (
  redactor: Redactor,
  source: EventSource.SourceBatch,
  now: number,
  options: { readonly timeBounds?: Event.TimeBounds; readonly all?: boolean } = {}
): EventSource.SourceBatch => {
  const given = options.all === true ? redactor.events(source.events).events : source.events
  const rejectedBefore = source.rejected?.map(redactor.rejected)
  if (source.raw.length === 0) {
    return given === source.events && rejectedBefore === undefined
      ? source
      : { ...source, events: given, ...(rejectedBefore === undefined ? {} : { rejected: rejectedBefore }) }
  }
  const decoded = Event.decodeBatch(
    source.raw,
    options.timeBounds === undefined ? {} : { time: { now, bounds: options.timeBounds } }
  )
  const events = redactor.events(decoded.events).events
  const rejected = [
    ...(rejectedBefore ?? []),
    ...decoded.rejected.map((r) => {
      const origin = source.origins?.[r.index] ?? source.origin
      return redactor.rejected(origin === undefined ? r : { ...r, source: origin })
    })
  ]
  const { origins: _origins, origin: _origin, ...rest } = source
  return {
    ...rest,
    raw: [],
    events: given.length === 0 ? events : [...given, ...events],
    ...(rejected.length === 0 ? {} : { rejected })
  }
}

/**
 * Wraps the `EventSource` of a layer so every batch it emits goes through {@link batch}. The layer's other
 * services (an `EventQueue`, …) are left as they are.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerSource =
  (redactor: Redactor, options: { readonly timeBounds?: Event.TimeBounds; readonly all?: boolean } = {}) =>
  <A, E, R>(self: Layer.Layer<A | EventSource.EventSource, E, R>): Layer.Layer<A | EventSource.EventSource, E, R> =>
    Layer.provideMerge(
      Layer.effect(
        EventSource.EventSource,
        Effect.map(EventSource.EventSource, (inner) =>
          EventSource.EventSource.of({
            batches: inner.batches.pipe(
              Stream.mapEffect((b) => Effect.map(Clock.currentTimeMillis, (now) => batch(redactor, b, now, options)))
            )
          })
        )
      ),
      self
    )

/**
 * Wraps the `PartitionedSource` of a layer (a Kafka consumer group) so every batch of every partition goes
 * through {@link batch}.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerPartitionedSource =
  (redactor: Redactor, options: { readonly timeBounds?: Event.TimeBounds; readonly all?: boolean } = {}) =>
  <A, E, R>(
    self: Layer.Layer<A | EventSource.PartitionedSource, E, R>
  ): Layer.Layer<A | EventSource.PartitionedSource, E, R> =>
    Layer.provideMerge(
      Layer.effect(
        EventSource.PartitionedSource,
        Effect.map(EventSource.PartitionedSource, (inner) =>
          EventSource.PartitionedSource.of({
            partitions: inner.partitions.pipe(
              Stream.map((partition) => ({
                ...partition,
                batches: partition.batches.pipe(
                  Stream.mapEffect((b) =>
                    Effect.map(Clock.currentTimeMillis, (now) => batch(redactor, b, now, options))
                  )
                )
              }))
            )
          })
        )
      ),
      self
    )
