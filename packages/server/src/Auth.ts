/**
 * API keys: `Authorization: Bearer <key>` on every request that is not open, checked against the keys of
 * `auth.keys`, each with scopes `ingest`, `read` and `admin` (admin may do everything).
 *
 * Keys are configured as their SHA-256 (`sha256: <64 hex digits>`, made by `sentinel hash-key`), or read at
 * start-up from a file or an environment variable holding the key itself or its digest as `sha256:<hex>` (so a
 * Kubernetes Secret can hold the digest rather than the key). Only SHA-256 digests are kept in
 * memory; a presented key is hashed and compared with every configured digest with `crypto.timingSafeEqual`
 * (no early exit), so the time taken says nothing about which key, or how much of one, matched. Keys never
 * appear in logs, errors or problem documents (they are `Redacted` from the moment they are read).
 *
 * Scopes per route ({@link required}):
 * | route | scope |
 * |---|---|
 * | `GET /healthz`, `GET /readyz`, `OPTIONS *` (CORS preflight) | open (probes, and preflights cannot carry keys) |
 * | `GET /`, `GET /ui/*`, `GET /docs`, `GET /openapi.json` | open (the dashboard's page and assets and the API description hold no data; the dashboard asks for a key) |
 * | `POST /v1/events`, `POST /v1/traces` | `ingest` |
 * | `GET /v1/dead-letters`, anything under `/v1/admin/` | `admin` (dead letters hold the payloads of rejected records) |
 * | every other `GET` (`/v1/anomalies`, `/v1/alerts`, `/v1/series…`, `/v1/detectors`, `/v1/stream/*`, `/metrics`) and `POST /v1/stream/token` | `read` |
 * | anything else | `admin` (deny by default: a route added later is closed until it is given a scope) |
 *
 * A missing or unknown key is a **401** problem document with `WWW-Authenticate: Bearer`; a key without the
 * scope is a **403** naming the scope needed. Both are counted in `sentinel_auth_failures_total{reason}`.
 *
 * **Streams.** A browser's `EventSource` cannot send `Authorization`, so `POST /v1/stream/token` (with a `read`
 * key) issues a stream token: `<expiry>.<key index>.<HMAC-SHA256>` under a secret drawn at start-up, valid for
 * 60 seconds, and accepted only as `?access_token=` on `GET /v1/stream/*` (checked when the stream is opened; an
 * open stream is not cut when the token expires). Tokens die with the process.
 *
 * @since 0.2.0
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import * as fs from "node:fs"
import { Clock, Console, Effect, Layer, Metric, Redacted, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import type * as Config from "./Config.ts"
import * as Problem from "./Problem.ts"

/**
 * A scope of an API key.
 *
 * @category models
 * @since 0.2.0
 */
export type Scope = typeof Config.Scope.Type

/**
 * What a route needs: a scope, or nothing (`open`).
 *
 * @category models
 * @since 0.2.0
 */
export type Requirement = Scope | "open"

/**
 * A configured key, as the server knows it after start-up: its name and scopes (never the key).
 *
 * @category models
 * @since 0.2.0
 */
export interface Key {
  readonly name: string
  readonly scopes: ReadonlyArray<Scope>
}

/**
 * A key of `auth.keys` could not be loaded (a missing file or environment variable, an empty or short key).
 *
 * @category errors
 * @since 0.2.0
 */
export class AuthError extends Schema.TaggedError<AuthError>("@llm-sentinel/server/AuthError")("AuthError", {
  key: Schema.String,
  message: Schema.String
}) {}

/**
 * The fewest characters a key read from a file or the environment may have.
 *
 * @category models
 * @since 0.2.0
 */
export const minKeyLength = 16

/**
 * How long a stream token is valid, in milliseconds.
 *
 * @category models
 * @since 0.2.0
 */
export const streamTokenTtlMs = 60_000

const digestOf = (key: string): Buffer => createHash("sha256").update(key, "utf8").digest()

/**
 * The SHA-256 of a key, as 64 lowercase hex digits: what `auth.keys[].sha256` holds.
 *
 * @category constructors
 * @since 0.2.0
 */
export const hash = (key: Redacted.Redacted<string>): string => digestOf(Redacted.value(key)).toString("hex")

/**
 * A new random key: `sntl_` and 32 random bytes in base64url (256 bits, so an unsalted SHA-256 is a sound way to
 * store it).
 *
 * @category constructors
 * @since 0.2.0
 */
export const generate = (): Redacted.Redacted<string> => Redacted.make(`sntl_${randomBytes(32).toString("base64url")}`)

/**
 * The keys of a configuration, loaded: checks presented keys and stream tokens.
 *
 * @category models
 * @since 0.2.0
 */
export interface Keyring {
  readonly keys: ReadonlyArray<Key>
  /** The key a presented secret is, compared in constant time with every configured digest. */
  readonly verify: (presented: Redacted.Redacted<string>) => Key | undefined
  /** A stream token for `key` (one of `keys`), valid {@link streamTokenTtlMs} from `now`. */
  readonly issueToken: (key: Key, now: number) => string
  /** The key a stream token was issued to, if it is authentic and not expired at `now`. */
  readonly verifyToken: (token: string, now: number) => Key | undefined
}

const stripNewline = (s: string): string => s.replace(/\r?\n$/, "")

const secretOf = (
  k: typeof Config.ApiKey.Type,
  env: Readonly<Record<string, string | undefined>>
): Effect.Effect<Buffer, AuthError> => {
  if (k.sha256 !== undefined) return Effect.succeed(Buffer.from(k.sha256.toLowerCase(), "hex"))
  const checked = (value: string, where: string) =>
    /^sha256:[0-9a-fA-F]{64}$/.test(value)
      ? Effect.succeed(Buffer.from(value.slice(7).toLowerCase(), "hex"))
      : value.length >= minKeyLength
        ? Effect.succeed(digestOf(value))
        : Effect.fail(
            new AuthError({
              key: k.name,
              message: `the key in ${where} is ${value.length === 0 ? "empty" : `shorter than ${minKeyLength} characters`} (make one with sentinel hash-key)`
            })
          )
  if (k.file !== undefined) {
    const file = k.file
    return Effect.try({
      try: () => stripNewline(fs.readFileSync(file, "utf8")),
      catch: (e) =>
        new AuthError({
          key: k.name,
          message: `cannot read the key file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`
        })
    }).pipe(Effect.flatMap((value) => checked(value, `file ${file}`)))
  }
  const name = k.env ?? ""
  const value = env[name]
  if (value === undefined) {
    return Effect.fail(new AuthError({ key: k.name, message: `the environment variable ${name} is not set` }))
  }
  return checked(stripNewline(value), `environment variable ${name}`)
}

/**
 * Loads the keys of `auth.keys`: digests as configured, files and environment variables read now.
 *
 * @category constructors
 * @since 0.2.0
 */
export const load = (
  keys: ReadonlyArray<typeof Config.ApiKey.Type>,
  env: Readonly<Record<string, string | undefined>> = process.env
): Effect.Effect<Keyring, AuthError> =>
  Effect.map(
    Effect.forEach(keys, (k) => secretOf(k, env)),
    (digests) => {
      const list: ReadonlyArray<Key> = keys.map((k) => ({ name: k.name, scopes: [...k.scopes] }))
      const tokenSecret = randomBytes(32)
      const mac = (payload: string) => createHmac("sha256", tokenSecret).update(payload).digest()
      const verify = (presented: Redacted.Redacted<string>): Key | undefined => {
        const d = digestOf(Redacted.value(presented))
        let found: Key | undefined
        // every digest is compared, whatever matched before: no early exit
        for (let i = 0; i < digests.length; i++) {
          if (timingSafeEqual(d, digests[i]!) && found === undefined) found = list[i]
        }
        return found
      }
      const issueToken = (key: Key, now: number): string => {
        const index = list.indexOf(key)
        const payload = `${(now + streamTokenTtlMs).toString(36)}.${index}`
        return `${payload}.${mac(payload).toString("base64url")}`
      }
      const verifyToken = (token: string, now: number): Key | undefined => {
        const parts = token.split(".")
        if (parts.length !== 3) return undefined
        const [expiry, index, signature] = parts as [string, string, string]
        const given = Buffer.from(signature, "base64url")
        const expected = mac(`${expiry}.${index}`)
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
        if (!(Number.parseInt(expiry, 36) > now)) return undefined
        return list[Number(index)]
      }
      return { keys: list, verify, issueToken, verifyToken }
    }
  )

/**
 * The scope a request needs (see the table in this module's documentation).
 *
 * @category guards
 * @since 0.2.0
 */
export const required = (method: string, path: string): Requirement => {
  const m = method.toUpperCase()
  if (m === "OPTIONS") return "open"
  const read = m === "GET" || m === "HEAD"
  if (read && (path === "/healthz" || path === "/readyz")) return "open"
  if (read && (path === "/" || path.startsWith("/ui/") || path === "/docs" || path === "/openapi.json")) return "open"
  if (m === "POST" && (path === "/v1/events" || path === "/v1/traces")) return "ingest"
  if (path === "/v1/dead-letters" || path.startsWith("/v1/dead-letters/") || path.startsWith("/v1/admin/")) {
    return "admin"
  }
  if (read) return "read"
  if (m === "POST" && path === streamTokenPath) return "read"
  return "admin"
}

/**
 * Whether a key has a scope (`admin` has every scope).
 *
 * @category guards
 * @since 0.2.0
 */
export const allows = (key: Key, scope: Scope): boolean => key.scopes.includes(scope) || key.scopes.includes("admin")

/**
 * The key of an `Authorization: Bearer <key>` header (`undefined` for no header or another scheme).
 *
 * @category constructors
 * @since 0.2.0
 */
export const bearer = (header: string | undefined): Redacted.Redacted<string> | undefined => {
  if (header === undefined) return undefined
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header)
  return match === null ? undefined : Redacted.make(match[1]!)
}

/**
 * Where the dashboard asks for a stream token.
 *
 * @category models
 * @since 0.2.0
 */
export const streamTokenPath = "/v1/stream/token"

const failures = Metric.counter("sentinel_auth_failures_total", {
  description: "requests refused for a missing, unknown or insufficient API key",
  incremental: true
})

const unauthorized = (reason: "missing" | "invalid", detail: string) =>
  Effect.as(
    Metric.update(Metric.withAttributes(failures, { reason }), 1),
    Problem.response(Problem.make({ status: 401, code: "unauthorized", detail }), {
      "www-authenticate":
        reason === "missing" ? 'Bearer realm="sentinel"' : 'Bearer realm="sentinel", error="invalid_token"'
    })
  )

const forbidden = (key: Key, scope: Scope) =>
  Effect.as(
    Metric.update(Metric.withAttributes(failures, { reason: "scope" }), 1),
    Problem.response(
      Problem.make({
        status: 403,
        code: "forbidden",
        detail: `the API key ${JSON.stringify(key.name)} lacks the scope ${scope} this request needs (it has ${key.scopes.join(", ")})`
      }),
      { "www-authenticate": `Bearer realm="sentinel", error="insufficient_scope", scope="${scope}"` }
    )
  )

const pathOf = (url: string): string => {
  const q = url.indexOf("?")
  return q < 0 ? url : url.slice(0, q)
}

const tokenOf = (url: string): string | undefined => {
  const q = url.indexOf("?")
  return q < 0 ? undefined : (new URLSearchParams(url.slice(q + 1)).get("access_token") ?? undefined)
}

/**
 * The key a request authenticates with: its `Authorization: Bearer` key, or (on `GET /v1/stream/*` only) a
 * stream token in `?access_token=`. `undefined` when it sends neither; `"invalid"` when what it sends is not valid.
 *
 * @category constructors
 * @since 0.2.0
 */
export const authenticate = (
  keyring: Keyring,
  request: { readonly method: string; readonly url: string; readonly headers: Readonly<Record<string, string>> },
  now: number
): Key | "invalid" | undefined => {
  const header = request.headers.authorization
  if (header !== undefined) return keyring.verify(bearer(header) ?? Redacted.make("")) ?? "invalid"
  const path = pathOf(request.url)
  if (request.method === "GET" && path.startsWith("/v1/stream/")) {
    const token = tokenOf(request.url)
    if (token !== undefined) return keyring.verifyToken(token, now) ?? "invalid"
  }
  return undefined
}

/**
 * The key check in front of every route ({@link required} decides what a request needs), and
 * `POST /v1/stream/token`.
 *
 * @category layers
 * @since 0.2.0
 */
export const layer = (keyring: Keyring): Layer.Layer<never, never, HttpRouter.HttpRouter> =>
  Layer.mergeAll(
    HttpRouter.middleware(
      (effect) =>
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
          const scope = required(request.method, pathOf(request.url))
          if (scope === "open") return effect
          return Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const key = authenticate(keyring, request, now)
            if (key === undefined) {
              return unauthorized(
                "missing",
                `this request needs an API key with the scope ${scope}: send Authorization: Bearer <key>`
              )
            }
            if (key === "invalid") return unauthorized("invalid", "the API key or stream token is not valid")
            if (!allows(key, scope)) return forbidden(key, scope)
            return effect
          })
        }),
      { global: true }
    ),
    HttpRouter.add(
      "POST",
      streamTokenPath,
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const now = yield* Clock.currentTimeMillis
        // the middleware let the request through: it carries a key with the read scope
        const key = keyring.verify(bearer(request.headers.authorization) ?? Redacted.make(""))
        if (key === undefined) return yield* unauthorized("invalid", "the API key is not valid")
        return HttpServerResponse.jsonUnsafe(
          { token: keyring.issueToken(key, now), expiresInSeconds: streamTokenTtlMs / 1000 },
          { headers: { "cache-control": "no-store" } }
        )
      })
    )
  )

/**
 * What `sentinel hash-key` prints for a key: the configuration entry (YAML) holding its SHA-256, and the key
 * itself only when it was generated here.
 *
 * @category constructors
 * @since 0.2.0
 */
export const hashKeyText = (
  key: Redacted.Redacted<string>,
  options: { readonly name: string; readonly scopes: ReadonlyArray<Scope>; readonly generated: boolean }
): string =>
  [
    ...(options.generated
      ? [
          `# the new key (shown once, stored nowhere; give it to the client as Authorization: Bearer <key>):`,
          `#   ${Redacted.value(key)}`
        ]
      : []),
    "auth:",
    "  keys:",
    `    - name: ${JSON.stringify(options.name)}`,
    `      scopes: [${options.scopes.join(", ")}]`,
    `      sha256: ${hash(key)}`
  ].join("\n")

const scopeNames: ReadonlyArray<Scope> = ["ingest", "read", "admin"]

/**
 * The `hash-key` subcommand: makes a new key (or hashes one read from standard input with `--stdin`) and prints
 * the `auth.keys` entry with its SHA-256.
 *
 * @example
 * ```sh
 * sentinel hash-key --name ci --scopes ingest        # a new key and its config entry
 * printf %s "$KEY" | sentinel hash-key --stdin --name dashboard --scopes read
 * ```
 * @category constructors
 * @since 0.2.0
 */
export const command = Command.make(
  "hash-key",
  {
    stdin: Flag.Boolean("stdin").pipe(
      Flag.withDescription("Hash the key read from standard input (trailing newline ignored) instead of making one"),
      Flag.withDefault(false)
    ),
    name: Flag.String("name").pipe(Flag.withDescription("The key's name, as logs show it"), Flag.withDefault("key")),
    scopes: Flag.String("scopes").pipe(
      Flag.withDescription("Comma-separated scopes: ingest, read, admin"),
      Flag.withDefault("ingest")
    )
  },
  Effect.fn(function* (flags) {
    const scopes = flags.scopes.split(",").map((s) => s.trim())
    const unknown = scopes.filter((s) => !scopeNames.includes(s as Scope))
    if (unknown.length > 0 || scopes.length === 0) {
      return yield* new AuthError({
        key: flags.name,
        message: `expected scopes among ingest, read, admin, got ${JSON.stringify(flags.scopes)}`
      })
    }
    const key = flags.stdin
      ? yield* Effect.try({
          try: () => Redacted.make(stripNewline(fs.readFileSync(0, "utf8"))),
          catch: (e) => new AuthError({ key: flags.name, message: `cannot read standard input: ${String(e)}` })
        })
      : generate()
    if (Redacted.value(key).length < minKeyLength) {
      return yield* new AuthError({
        key: flags.name,
        message: `the key is shorter than ${minKeyLength} characters; let hash-key make one`
      })
    }
    yield* Console.log(
      hashKeyText(key, { name: flags.name, scopes: scopes as ReadonlyArray<Scope>, generated: !flags.stdin })
    )
  })
).pipe(
  Command.withDescription(
    "Make an API key (or hash one from standard input with --stdin) and print its auth.keys entry with the SHA-256"
  )
)
