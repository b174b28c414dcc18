/**
 * HTTPS by configuration (`server.tls`): the certificate chain and private key are read from PEM files when the
 * server starts and checked as a pair (`tls.createSecureContext`), so a wrong path, a key that does not match
 * or a file that is not PEM stops `serve` with a message naming the file, before anything listens. For
 * deployments without a terminating proxy; TLS 1.2 is the lowest version accepted (Node's default).
 *
 * @since 0.2.0
 */
import * as fs from "node:fs"
import type * as Http from "node:http"
import * as https from "node:https"
import * as tls from "node:tls"
import { Effect, Schema } from "effect"

/**
 * Where the PEM files are.
 *
 * @category models
 * @since 0.2.0
 */
export interface Options {
  /** The certificate chain, PEM. */
  readonly cert: string
  /** The private key, PEM. */
  readonly key: string
}

/**
 * The TLS files could not be read or do not make a usable certificate and key.
 *
 * @category errors
 * @since 0.2.0
 */
export class TlsError extends Schema.TaggedError<TlsError>("@llm-sentinel/server/TlsError")("TlsError", {
  message: Schema.String
}) {}

const read = (what: string, file: string) =>
  Effect.try({
    try: () => fs.readFileSync(file),
    catch: (e) =>
      new TlsError({
        message: `cannot read the TLS ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`
      })
  })

/**
 * Reads and checks the certificate and key; gives the function that creates the HTTPS server (what
 * `NodeHttpServer.layer` calls).
 *
 * @category constructors
 * @since 0.2.0
 */
export const serverFactory = (options: Options): Effect.Effect<() => Http.Server, TlsError> =>
  Effect.gen(function* () {
    const cert = yield* read("certificate", options.cert)
    const key = yield* read("key", options.key)
    yield* Effect.try({
      try: () => tls.createSecureContext({ cert, key, minVersion: "TLSv1.2" }),
      catch: (e) =>
        new TlsError({
          message: `the TLS certificate ${options.cert} and key ${options.key} cannot be used together: ${(e as Error).message}`
        })
    })
    // an https.Server is the http.Server NodeHttpServer expects, over TLS sockets
    return () => https.createServer({ cert, key, minVersion: "TLSv1.2" }) as unknown as Http.Server
  })
