// A real HTTP receiver on 127.0.0.1 (port 0) for the webhook and Slack tests: it records every request with
// its raw bytes, checks signatures with its own HMAC code (not the adapter's), and answers from a script so it
// can fail on purpose: 5xx, 429 with Retry-After, or hang without answering.
import { createHmac, timingSafeEqual } from "node:crypto"
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect } from "effect"

export type Reply =
  | { readonly status: number; readonly headers?: Record<string, string>; readonly body?: string }
  | { readonly hang: true }

export interface Received {
  readonly at: number
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  /** The signature check done here: undefined without a secret. */
  readonly signatureOk: boolean | undefined
  readonly replied: number | "hang"
}

export interface Receiver {
  readonly url: string
  readonly received: Array<Received>
  /** Replies for the next requests, in order; after them every request gets `fallback`. */
  readonly script: (replies: ReadonlyArray<Reply>, fallback?: Reply) => void
}

const check = (secret: string, headers: IncomingHttpHeaders, body: Buffer): boolean => {
  const ts = headers["x-sentinel-timestamp"]
  const sig = headers["x-sentinel-signature"]
  if (typeof ts !== "string" || typeof sig !== "string") return false
  const mac = `v1=${createHmac("sha256", secret)
    .update(Buffer.concat([Buffer.from(`${ts}.`), body]))
    .digest("hex")}`
  const fresh = Math.abs(Date.now() / 1000 - Number(ts)) <= 300
  return fresh && sig.length === mac.length && timingSafeEqual(Buffer.from(sig), Buffer.from(mac))
}

/** Starts a receiver for the scope; hanging requests are destroyed when it closes. */
export const receiver = (secret?: string) =>
  Effect.acquireRelease(
    Effect.callback<{ receiver: Receiver; close: () => Promise<void> }>((resume) => {
      const received: Array<Received> = []
      let queue: Array<Reply> = []
      let fallback: Reply = { status: 204 }
      const hanging = new Set<ServerResponse>()
      const server = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          const body = Buffer.concat(chunks)
          const reply = queue.shift() ?? fallback
          received.push({
            at: Date.now(),
            path: req.url ?? "",
            headers: req.headers,
            body,
            signatureOk: secret === undefined ? undefined : check(secret, req.headers, body),
            replied: "hang" in reply ? "hang" : reply.status
          })
          if ("hang" in reply) {
            hanging.add(res)
            return
          }
          res.writeHead(reply.status, reply.headers).end(reply.body ?? "")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(
          Effect.succeed({
            receiver: {
              url: `http://127.0.0.1:${port}/hook`,
              received,
              script: (replies, fb) => {
                queue = [...replies]
                if (fb !== undefined) fallback = fb
              }
            },
            close: () =>
              new Promise<void>((done) => {
                for (const r of hanging) r.destroy()
                server.closeAllConnections()
                server.close(() => done())
              })
          })
        )
      })
    }),
    ({ close }) => Effect.promise(close)
  ).pipe(Effect.map(({ receiver }) => receiver))

/** A loopback port nothing listens on (taken from the OS, then released): connections to it are refused. */
export const closedPort = Effect.callback<number>((resume) => {
  const s = createServer()
  s.listen(0, "127.0.0.1", () => {
    const { port } = s.address() as AddressInfo
    s.close(() => resume(Effect.succeed(port)))
  })
})
