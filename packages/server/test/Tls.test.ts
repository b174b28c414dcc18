import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { get as httpGet } from "node:http"
import { request as httpsRequest } from "node:https"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { AnomalyStore, EventSource } from "@llm-sentinel/core"
import { Mad } from "@llm-sentinel/detectors"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { HttpServer } from "effect/http"
import * as AlertLog from "../src/AlertLog.ts"
import * as DeadLetters from "../src/DeadLetters.ts"
import * as Http from "../src/Http.ts"
import * as Readiness from "../src/Readiness.ts"
import * as SeriesRegistry from "../src/SeriesRegistry.ts"
import * as Tls from "../src/Tls.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sentinel-tls-"))
const cert = path.join(dir, "cert.pem")
const key = path.join(dir, "key.pem")
const otherKey = path.join(dir, "other-key.pem")

// a self-signed certificate for localhost / 127.0.0.1, made by openssl for this run
const selfSigned = (certOut: string, keyOut: string) =>
  execFileSync(
    "openssl",
    [
      "req",
      ...["-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", keyOut, "-out", certOut, "-days", "1", "-subj", "/CN=localhost"],
      ...["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    ],
    { stdio: "ignore" }
  )

const apiKey = "tls-test-key-0123456789abcdef"

interface Reply {
  readonly status: number
  readonly body: string
  readonly protocol: string | undefined
}

const get = (port: number, p: string, headers: Record<string, string> = {}) =>
  new Promise<Reply>((resolve, reject) => {
    const req = httpsRequest(
      { host: "127.0.0.1", port, path: p, headers, ca: fs.readFileSync(cert), servername: "localhost" },
      (res) => {
        const protocol = (res.socket as import("node:tls").TLSSocket).getProtocol() ?? undefined
        let body = ""
        res.on("data", (c) => (body += c))
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            protocol
          })
        )
      }
    )
    req.on("error", reject)
    req.end()
  })

let port = 0
let scope: Scope.Closeable

beforeAll(async () => {
  selfSigned(cert, key)
  selfSigned(path.join(dir, "other-cert.pem"), otherKey)
  scope = Effect.runSync(Scope.make())
  const deps = Layer.mergeAll(
    AnomalyStore.layerMemory,
    EventSource.layerQueue({ capacity: 16 }),
    Readiness.layer,
    DeadLetters.layerMemory,
    SeriesRegistry.layer({ detectors: [Mad.make()] }),
    AlertLog.layerMemory
  )
  const context = await Effect.runPromise(
    Layer.buildWithScope(
      Http.layer({
        host: "127.0.0.1",
        port: 0,
        loopback: true,
        tls: { cert, key },
        keys: [{ name: "t", scopes: ["read"], sha256: createHash("sha256").update(apiKey).digest("hex") }]
      }).pipe(Layer.provide(deps)),
      scope
    )
  )
  const address = Context.get(context, HttpServer.HttpServer).address
  port = Number(/:(\d+)\/?$/.exec(HttpServer.formatAddress(address))?.[1])
})

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  fs.rmSync(dir, { recursive: true, force: true })
})

describe("TLS", () => {
  it("serves HTTPS with the configured certificate, keys checked over it", async () => {
    const health = await get(port, "/healthz")
    assert.strictEqual(health.status, 200)
    assert.match(health.protocol ?? "", /^TLSv1\.[23]$/)
    assert.strictEqual((await get(port, "/v1/anomalies")).status, 401)
    const ok = await get(port, "/v1/anomalies", { authorization: `Bearer ${apiKey}` })
    assert.strictEqual(ok.status, 200)
    assert.deepStrictEqual(JSON.parse(ok.body).items, [])
  })

  it("does not answer plain HTTP on the HTTPS port", async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = httpGet({ host: "127.0.0.1", port, path: "/healthz", timeout: 2000 }, (res) =>
        resolve(`status ${res.statusCode}`)
      )
      req.on("error", (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`))
      req.on("timeout", () => {
        req.destroy()
        resolve("timeout")
      })
    })
    assert.notStrictEqual(outcome, "status 200")
  })

  it("refuses a certificate the client does not trust", async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = httpsRequest({ host: "127.0.0.1", port, path: "/healthz" }, () => resolve("connected"))
      req.on("error", (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message))
      req.end()
    })
    assert.strictEqual(outcome, "DEPTH_ZERO_SELF_SIGNED_CERT")
  })

  it.effect("a missing file or a key of another certificate is a TlsError naming the files", () =>
    Effect.gen(function* () {
      const missing = yield* Effect.flip(Tls.serverFactory({ cert: path.join(dir, "nope.pem"), key }))
      assert.strictEqual(missing._tag, "TlsError")
      assert.include(missing.message, "cannot read the TLS certificate")
      assert.include(missing.message, "ENOENT")
      const mismatch = yield* Effect.flip(Tls.serverFactory({ cert, key: otherKey }))
      assert.include(mismatch.message, "cannot be used together")
      const notPem = yield* Effect.flip(Tls.serverFactory({ cert: path.join(dir, "cert.pem"), key: cert }))
      assert.strictEqual(notPem._tag, "TlsError")
    })
  )
})
