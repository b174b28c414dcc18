import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { AnomalyStore, EventSource } from "@llm-sentinel/core"
import { Mad } from "@llm-sentinel/detectors"
import { Effect, Exit, Layer, Redacted, Scope } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import * as Admission from "../src/Admission.ts"
import * as AlertLog from "../src/AlertLog.ts"
import * as Auth from "../src/Auth.ts"
import * as Config from "../src/Config.ts"
import * as DeadLetters from "../src/DeadLetters.ts"
import * as Http from "../src/Http.ts"
import * as Readiness from "../src/Readiness.ts"
import * as SeriesRegistry from "../src/SeriesRegistry.ts"
import * as Serve from "../src/Serve.ts"

const sha = (s: string) => createHash("sha256").update(s).digest("hex")
const ingestKey = "ingest-key-0123456789abcdef"
const readKey = "read-key-0123456789abcdefgh"
const adminKey = "admin-key-0123456789abcdefg"
const keys: ReadonlyArray<typeof Config.ApiKey.Type> = [
  { name: "ci", scopes: ["ingest"], sha256: sha(ingestKey) },
  { name: "dashboard", scopes: ["read"], sha256: sha(readKey).toUpperCase() },
  { name: "ops", scopes: ["admin"], sha256: sha(adminKey) }
]

interface Reply {
  readonly status: number
  readonly headers: Headers
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are read as loose JSON in assertions
  readonly body: any
  readonly text: string
}

const makeApp = async (keyring: Auth.Keyring) => {
  const scope = Effect.runSync(Scope.make())
  const deps = await Effect.runPromise(
    Layer.buildWithScope(
      Layer.mergeAll(
        AnomalyStore.layerMemory,
        EventSource.layerQueue({ capacity: 16 }),
        Readiness.layer,
        Admission.layer(),
        DeadLetters.layerMemory,
        SeriesRegistry.layer({ detectors: [Mad.make()] }),
        AlertLog.layerMemory
      ),
      scope
    )
  )
  const { handler, dispose } = HttpRouter.toWebHandler(
    Http.routes({ auth: keyring }).pipe(
      Layer.provide(Layer.succeedContext(deps)),
      Layer.provide(HttpServer.layerServices)
    ),
    { disableLogger: true }
  )
  return {
    fetch: async (p: string, init: RequestInit & { key?: string } = {}): Promise<Reply> => {
      const headers = new Headers(init.headers)
      if (init.key !== undefined) headers.set("authorization", `Bearer ${init.key}`)
      const res = await handler(new Request(`http://sentinel.test${p}`, { ...init, headers }))
      const text = await res.text()
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {}
      return { status: res.status, headers: res.headers, body, text }
    },
    close: async () => {
      await dispose()
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}

const event = JSON.stringify({ timestamp: Date.now(), service: "chat", model: "gpt-4o", latencyMs: 420 })
const ingest = { method: "POST", body: event, headers: { "content-type": "application/json" } }

describe("Auth: keys", () => {
  it.effect("hash is the SHA-256 hex of the key, as sha256sum prints it", () =>
    Effect.sync(() => {
      assert.strictEqual(Auth.hash(Redacted.make("abc")), sha("abc"))
      const k = Auth.generate()
      assert.match(Redacted.value(k), /^sntl_[A-Za-z0-9_-]{43}$/)
      assert.strictEqual(String(k), "<redacted>")
    })
  )

  it.effect("verifies keys given as digests, files and environment variables", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sentinel-auth-"))
      fs.writeFileSync(path.join(dir, "key"), "file-key-0123456789abcdef\n")
      const ring = yield* Auth.load(
        [
          ...keys,
          { name: "from-file", scopes: ["read"], file: path.join(dir, "key") },
          { name: "from-env", scopes: ["ingest"], env: "TEST_SENTINEL_KEY" }
        ],
        { TEST_SENTINEL_KEY: "env-key-0123456789abcdefg" }
      )
      const name = (k: string) => ring.verify(Redacted.make(k))?.name
      assert.strictEqual(name(ingestKey), "ci")
      assert.strictEqual(name(readKey), "dashboard") // upper-case hex in the config
      assert.strictEqual(name("file-key-0123456789abcdef"), "from-file") // trailing newline ignored
      assert.strictEqual(name("env-key-0123456789abcdefg"), "from-env")
      assert.strictEqual(name("file-key-0123456789abcdef\n"), undefined)
      assert.strictEqual(name(""), undefined)
      assert.strictEqual(name(sha(ingestKey)), undefined) // the digest is not the key
      // a file or variable may hold the digest instead of the key (a Kubernetes Secret need not hold the key)
      const digests = yield* Auth.load([{ name: "d", scopes: ["read"], env: "D" }], { D: `sha256:${sha(adminKey)}\n` })
      assert.strictEqual(digests.verify(Redacted.make(adminKey))?.name, "d")
    })
  )

  it.effect("a key that cannot be loaded is an AuthError naming the key, never its value", () =>
    Effect.gen(function* () {
      const missingEnv = yield* Effect.flip(Auth.load([{ name: "a", scopes: ["read"], env: "NOPE_NOT_SET" }], {}))
      assert.strictEqual(missingEnv._tag, "AuthError")
      assert.include(missingEnv.message, "NOPE_NOT_SET is not set")
      const short = yield* Effect.flip(Auth.load([{ name: "b", scopes: ["read"], env: "K" }], { K: "short-secret" }))
      assert.include(short.message, "shorter than 16")
      assert.notInclude(short.message, "short-secret")
      const noFile = yield* Effect.flip(Auth.load([{ name: "c", scopes: ["read"], file: "/nonexistent/key" }]))
      assert.include(noFile.message, "cannot read the key file /nonexistent/key: ENOENT")
    })
  )

  it.effect("the config decodes keys and rejects an entry with two sources", () =>
    Effect.gen(function* () {
      const ok = yield* Config.decode({ auth: { keys: [{ name: "ci", scopes: ["ingest"], sha256: sha("x") }] } })
      assert.strictEqual(ok.auth?.keys?.[0]?.name, "ci")
      const bad = yield* Effect.flip(
        Config.decode({ auth: { keys: [{ name: "ci", scopes: ["ingest"], sha256: sha("x"), env: "K" }] } })
      )
      assert.include(bad.message, "exactly one of sha256, file, env")
      const twice = yield* Effect.flip(
        Config.decode({
          auth: {
            keys: [
              { name: "ci", scopes: ["ingest"], sha256: sha("x") },
              { name: "ci", scopes: ["read"], env: "K" }
            ]
          }
        })
      )
      assert.deepStrictEqual(twice.issues, [
        { path: "auth.keys[1].name", message: 'expected a unique name, got "ci" (also auth.keys[0])' }
      ])
    })
  )
})

describe("Auth: scopes per route", () => {
  it("required names the scope of every route", () => {
    const table: ReadonlyArray<readonly [string, string, Auth.Requirement]> = [
      ["GET", "/healthz", "open"],
      ["GET", "/readyz", "open"],
      ["GET", "/", "open"],
      ["GET", "/ui/abc/app.js", "open"],
      ["GET", "/openapi.json", "open"],
      ["GET", "/docs", "open"],
      ["OPTIONS", "/v1/events", "open"],
      ["POST", "/v1/events", "ingest"],
      ["POST", "/v1/traces", "ingest"],
      ["GET", "/v1/anomalies", "read"],
      ["GET", "/v1/alerts", "read"],
      ["GET", "/v1/series/chat%2Fgpt/points", "read"],
      ["GET", "/v1/stream/alerts", "read"],
      ["GET", "/metrics", "read"],
      ["POST", "/v1/stream/token", "read"],
      ["GET", "/v1/dead-letters", "admin"],
      ["POST", "/v1/admin/replay", "admin"],
      ["DELETE", "/v1/anomalies", "admin"],
      ["POST", "/v1/unknown", "admin"]
    ]
    for (const [method, p, scope] of table) assert.strictEqual(Auth.required(method, p), scope, `${method} ${p}`)
  })

  it("admin has every scope", () => {
    const admin = { name: "ops", scopes: ["admin"] } as const
    const read = { name: "dash", scopes: ["read"] } as const
    assert.isTrue(Auth.allows(admin, "ingest") && Auth.allows(admin, "read") && Auth.allows(admin, "admin"))
    assert.isTrue(Auth.allows(read, "read"))
    assert.isFalse(Auth.allows(read, "ingest") || Auth.allows(read, "admin"))
  })

  it("bearer reads the key of an Authorization header, case-insensitively", () => {
    assert.strictEqual(Redacted.value(Auth.bearer("Bearer abc")!), "abc")
    assert.strictEqual(Redacted.value(Auth.bearer("bearer  abc ")!), "abc")
    assert.strictEqual(Auth.bearer("Basic abc"), undefined)
    assert.strictEqual(Auth.bearer(undefined), undefined)
  })
})

describe("Auth: the HTTP layer", () => {
  it("401 without a key, with WWW-Authenticate and a problem document; open routes stay open", async () => {
    const app = await makeApp(await Effect.runPromise(Auth.load(keys)))
    try {
      const r = await app.fetch("/v1/anomalies")
      assert.strictEqual(r.status, 401)
      assert.strictEqual(r.headers.get("content-type"), "application/problem+json")
      assert.strictEqual(r.headers.get("www-authenticate"), 'Bearer realm="sentinel"')
      assert.strictEqual(r.body.code, "unauthorized")
      assert.strictEqual(r.body.type, "https://llm-sentinel.dev/problems/unauthorized")
      assert.include(r.body.detail, "scope read")
      assert.strictEqual((await app.fetch("/v1/events", ingest)).status, 401)
      assert.strictEqual((await app.fetch("/metrics")).status, 401)
      assert.strictEqual((await app.fetch("/healthz")).status, 200)
      assert.strictEqual((await app.fetch("/openapi.json")).status, 200)
      assert.strictEqual((await app.fetch("/")).status, 200)
    } finally {
      await app.close()
    }
  })

  it("401 for an unknown key, never echoing it", async () => {
    const app = await makeApp(await Effect.runPromise(Auth.load(keys)))
    try {
      const secret = "wrong-key-that-must-not-be-echoed"
      const r = await app.fetch("/v1/anomalies", { key: secret })
      assert.strictEqual(r.status, 401)
      assert.include(r.headers.get("www-authenticate") ?? "", 'error="invalid_token"')
      assert.notInclude(r.text, secret)
      assert.strictEqual((await app.fetch("/v1/anomalies", { headers: { authorization: "Basic eDp5" } })).status, 401)
    } finally {
      await app.close()
    }
  })

  it("each key reaches the routes of its scopes; another scope is a 403 naming it", async () => {
    const app = await makeApp(await Effect.runPromise(Auth.load(keys)))
    try {
      assert.strictEqual((await app.fetch("/v1/events", { ...ingest, key: ingestKey })).status, 202)
      const denied = await app.fetch("/v1/anomalies", { key: ingestKey })
      assert.strictEqual(denied.status, 403)
      assert.strictEqual(denied.headers.get("content-type"), "application/problem+json")
      assert.strictEqual(denied.body.code, "forbidden")
      assert.include(denied.body.detail, 'the API key "ci" lacks the scope read')
      assert.strictEqual((await app.fetch("/v1/anomalies", { key: readKey })).status, 200)
      assert.strictEqual((await app.fetch("/metrics", { key: readKey })).status, 200)
      assert.strictEqual((await app.fetch("/v1/events", { ...ingest, key: readKey })).status, 403)
      assert.strictEqual((await app.fetch("/v1/dead-letters", { key: readKey })).status, 403)
      assert.strictEqual((await app.fetch("/v1/dead-letters", { key: adminKey })).status, 200)
      assert.strictEqual((await app.fetch("/v1/events", { ...ingest, key: adminKey })).status, 202)
      assert.strictEqual((await app.fetch("/v1/anomalies", { key: adminKey })).status, 200)
      // an unknown route needs a key too, then is a 404
      assert.strictEqual((await app.fetch("/v1/nothing")).status, 401)
      assert.strictEqual((await app.fetch("/v1/nothing", { key: readKey })).status, 404)
    } finally {
      await app.close()
    }
  })

  it("a stream token opens GET /v1/stream/* only, and only while it is valid", async () => {
    const ring = await Effect.runPromise(Auth.load(keys))
    const app = await makeApp(ring)
    try {
      assert.strictEqual((await app.fetch("/v1/stream/token", { method: "POST" })).status, 401)
      assert.strictEqual((await app.fetch("/v1/stream/token", { method: "POST", key: ingestKey })).status, 403)
      const issued = await app.fetch("/v1/stream/token", { method: "POST", key: readKey })
      assert.strictEqual(issued.status, 200)
      assert.strictEqual(issued.headers.get("cache-control"), "no-store")
      assert.strictEqual(issued.body.expiresInSeconds, 60)
      const token: string = issued.body.token
      // the key check lets the request through to the stream route, whose own validation answers (400, not 401:
      // a valid position would open a stream that never ends)
      const through = await app.fetch(`/v1/stream/alerts?access_token=${token}&after=x`)
      assert.strictEqual(through.status, 400)
      assert.strictEqual(through.body.errors[0].path, "after")
      assert.strictEqual((await app.fetch(`/v1/anomalies?access_token=${token}`)).status, 401)
      assert.strictEqual((await app.fetch(`/v1/stream/alerts?access_token=${token}x`)).status, 401)
      assert.strictEqual((await app.fetch("/v1/stream/alerts?access_token=garbage")).status, 401)
      const [expiry, index, mac] = token.split(".") as [string, string, string]
      assert.strictEqual((await app.fetch(`/v1/stream/alerts?access_token=${expiry}.2.${mac}`)).status, 401)
      assert.isDefined(ring.verifyToken(`${expiry}.${index}.${mac}`, Date.now()))
      assert.isUndefined(ring.verifyToken(token, Date.now() + Auth.streamTokenTtlMs + 1))
      // a token of an ingest-only key does not open a stream
      const ingestToken = ring.issueToken(ring.keys[0]!, Date.now())
      assert.strictEqual((await app.fetch(`/v1/stream/alerts?access_token=${ingestToken}`)).status, 403)
    } finally {
      await app.close()
    }
  })

  it("a token from another process (another secret) is refused", async () => {
    const a = await Effect.runPromise(Auth.load(keys))
    const b = await Effect.runPromise(Auth.load(keys))
    const token = a.issueToken(a.keys[1]!, Date.now())
    assert.isDefined(a.verifyToken(token, Date.now()))
    assert.isUndefined(b.verifyToken(token, Date.now()))
  })
})

describe("Auth: serve and the CLI", () => {
  it.effect("serve applies keys, TLS and privacy (no longer refused) and still needs keys off loopback", () =>
    Effect.gen(function* () {
      const config = yield* Config.decode({
        server: { host: "0.0.0.0", tls: { cert: "c.pem", key: "k.pem" } },
        auth: { keys: [{ name: "ci", scopes: ["ingest"], sha256: sha("x") }] },
        privacy: { storeText: false }
      })
      const options = yield* Serve.fromConfig(config)
      assert.strictEqual(options.keys?.[0]?.name, "ci")
      assert.deepStrictEqual(options.tls, { cert: "c.pem", key: "k.pem" })
      const open = yield* Effect.flip(Serve.fromConfig(yield* Config.decode({ server: { host: "0.0.0.0" } })))
      assert.include(open.message, "no API keys are configured")
    })
  )

  it.effect("hash-key's config entry decodes and its digest verifies the key", () =>
    Effect.gen(function* () {
      const key = Auth.generate()
      const text = Auth.hashKeyText(key, { name: "ci", scopes: ["ingest", "read"], generated: true })
      assert.include(text, Redacted.value(key)) // shown once, as a comment
      const yaml = yield* Config.parse("x.yaml", text)
      const config = yield* Config.decode(yaml)
      const ring = yield* Auth.load(config.auth?.keys ?? [])
      assert.deepStrictEqual(ring.verify(key), { name: "ci", scopes: ["ingest", "read"] })
      assert.notInclude(Auth.hashKeyText(key, { name: "ci", scopes: ["read"], generated: false }), Redacted.value(key))
    })
  )
})
