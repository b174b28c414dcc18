// The real `sentinel` binary as a child process, for the end-to-end suites: start it on a data directory, wait
// until it is ready, read its metrics and memory, stop it with SIGTERM or kill it with SIGKILL.
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { createServer } from "node:net"
import { join } from "node:path"

export const root = join(import.meta.dirname, "..", "..")
const bin = join(root, "packages", "server", "src", "bin.ts")

/** A small seeded PRNG (uniform in [0, 1)), so generated load is the same on every run. */
export const mulberry32 = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

export interface Server {
  readonly child: ChildProcess
  readonly url: string
  readonly output: () => string
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const children: Array<ChildProcess> = []

/** Kills every server a suite started and left running (call from `afterAll`). */
export const killAll = () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL")
}

/** Starts `sentinel serve` on `dataDir` and waits until `/readyz` answers 200 (or `ready: false`, `/healthz`). */
export const start = async (
  dataDir: string,
  extra: ReadonlyArray<string> = [],
  options: { readonly ready?: boolean; readonly timeoutMs?: number } = {}
): Promise<Server> => {
  const port = await freePort()
  const child = spawn(process.execPath, [bin, "serve", "--port", String(port), "--data-dir", dataDir, ...extra], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.push(child)
  let output = ""
  child.stdout?.on("data", (d) => (output += d))
  child.stderr?.on("data", (d) => (output += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal }))
  )
  const url = `http://127.0.0.1:${port}`
  const path = options.ready === false ? "/healthz" : "/readyz"
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sentinel exited early (${child.exitCode}):\n${output}`)
    try {
      const res = await fetch(`${url}${path}`)
      if (res.status === 200) break
    } catch {}
    if (Date.now() > deadline) throw new Error(`sentinel did not answer ${path} in time:\n${output}`)
    await sleep(100)
  }
  return { child, url, output: () => output, exited }
}

/** SIGTERM, then the exit (SIGKILL and an error after 40 s). */
export const stop = async (server: Server) => {
  server.child.kill("SIGTERM")
  const result = await Promise.race([server.exited, sleep(40_000).then(() => undefined)])
  if (result === undefined) {
    server.child.kill("SIGKILL")
    throw new Error(`sentinel did not stop within 40 s of SIGTERM:\n${server.output()}`)
  }
  return result
}

/** SIGKILL, and the exit. */
export const kill = async (server: Server) => {
  server.child.kill("SIGKILL")
  return server.exited
}

/** The resident set size of the server process, in bytes (Linux). */
export const rss = (server: Server): number => {
  const status = readFileSync(`/proc/${server.child.pid}/status`, "utf8")
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)
  return kb === null ? 0 : Number(kb[1]) * 1024
}

/** One counter or gauge of `/metrics` (summed over its label sets). */
export const metric = async (server: Server, name: string): Promise<number> => {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  let sum = 0
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(" ") + 1))
  }
  return sum
}

/** Waits until `f` returns true (polling every 100 ms), or throws after `timeoutMs`. */
export const eventually = async (what: string, f: () => Promise<boolean>, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await f()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/** POSTs a body to `/v1/events`; the status, headers and parsed JSON body (or text). */
export const post = async (
  server: Server,
  body: string | Uint8Array,
  /** undefined: no Content-Type header (send the body as bytes: fetch labels a string text/plain). */
  contentType: string | undefined,
  headers: Record<string, string> = {}
) => {
  const started = performance.now()
  if (headers.host !== undefined) {
    // fetch does not let a caller set Host; node:http does
    const url = new URL(server.url)
    return await new Promise<{
      status: number
      headers: Headers
      text: string
      json: unknown
      ms: number
    }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: "/v1/events",
          method: "POST",
          headers: { ...(contentType === undefined ? {} : { "content-type": contentType }), ...headers }
        },
        (res) => {
          let text = ""
          res.setEncoding("utf8")
          res.on("data", (d) => (text += d))
          res.on("end", () => {
            let json: unknown
            try {
              json = JSON.parse(text)
            } catch {}
            const h = new Headers()
            for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v)
            resolve({ status: res.statusCode ?? 0, headers: h, text, json, ms: performance.now() - started })
          })
        }
      )
      req.on("error", reject)
      req.end(body)
    })
  }
  const res = await fetch(`${server.url}/v1/events`, {
    method: "POST",
    body,
    headers: { ...(contentType === undefined ? {} : { "content-type": contentType }), ...headers }
  })
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json, ms: performance.now() - started }
}

/**
 * POSTs events to `/v1/events` as NDJSON in bodies of `batch` events, waiting and retrying on 429, and fails on any
 * other status than 202.
 */
export const postNdjson = async (
  url: string,
  events: ReadonlyArray<Record<string, unknown>>,
  headers: Record<string, string> = {},
  batch = 2000
) => {
  for (let i = 0; i < events.length; i += batch) {
    const body = `${events
      .slice(i, i + batch)
      .map((e) => JSON.stringify(e))
      .join("\n")}\n`
    for (;;) {
      const res = await fetch(`${url}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/x-ndjson", ...headers },
        body
      })
      if (res.status === 429) {
        await sleep(200)
        continue
      }
      if (res.status !== 202) throw new Error(`POST /v1/events answered ${res.status}: ${await res.text()}`)
      break
    }
  }
}

/**
 * Thirty minutes of one event per second per service from `t0` (latency ~500 ms with noise), and a latency spike
 * (~3 s for 30 s) at minute 25 on the services in `spiked`.
 */
export const spikeWorkload = (options: {
  readonly t0: number
  readonly services: ReadonlyArray<string>
  readonly spiked: ReadonlyArray<string>
  readonly seed: number
  readonly model?: string
}): Array<Record<string, unknown>> => {
  const random = mulberry32(options.seed)
  const events: Array<Record<string, unknown>> = []
  for (let s = 0; s < 30 * 60; s++) {
    for (const service of options.services) {
      const spike = options.spiked.includes(service) && s >= 25 * 60 && s < 25 * 60 + 30
      events.push({
        timestamp: options.t0 + s * 1000,
        service,
        model: options.model ?? "gpt-4o",
        latencyMs: Math.round(spike ? 3000 + random() * 100 : 480 + random() * 40),
        inputTokens: 200,
        outputTokens: 300
      })
    }
  }
  return events
}
