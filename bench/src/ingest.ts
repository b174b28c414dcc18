// HTTP ingest of the real `sentinel serve` over 127.0.0.1, beside a minimal `node:http` server that only parses
// (bench/src/ingest-baseline.ts), both measured in the same run by the same load generator. The ratio is the
// figure: absolute numbers move with the machine's load, and the load generator runs in this process, on the
// same (2-core, shared) machine as the server it measures.
//
// Each server runs as a child process; `sentinel serve` journals every accepted batch (a synchronous write per
// request, before the 202) and runs the full default pipeline, storing anomalies in a temporary data dir.
// N keep-alive connections each POST NDJSON bodies of 1000 events (~200 bytes each, 20 services × 10 models,
// event time increasing by 10 events per ms) back to back, after a warm-up; a 429 is counted and the
// connection waits for its Retry-After. Then the same with 1-event bodies, for the fixed cost per request.
//
//   npm run bench:ingest
//   npm run bench:ingest -- --connections 16 --seconds 20
//   npm run bench:ingest -- --cpu-prof          (writes a CPU profile of the sentinel into a temporary directory)

import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { Agent, request } from "node:http"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"

const { values: args } = parseArgs({
  options: {
    connections: { type: "string", default: "8" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    "small-seconds": { type: "string", default: "5" },
    "queue-capacity": { type: "string", default: "256" },
    "cpu-prof": { type: "boolean", default: false }
  }
})
const CONNECTIONS = Number(args.connections)
const SECONDS = Number(args.seconds)
const WARMUP = Number(args.warmup)
const SMALL_SECONDS = Number(args["small-seconds"])
const QUEUE_CAPACITY = Number(args["queue-capacity"])
const BATCH = 1000
const EVENTS_PER_MS = 10
const POOL = 4 * CONNECTIONS
const ROOT = fileURLToPath(new URL("../..", import.meta.url))

// ---- bodies: a pool of NDJSON bodies with distinct values; timestamps are rewritten in place before each POST
const rand = (() => {
  let a = 12345
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
})()
const T0 = Date.UTC(2026, 10, 26) // 13 digits, so every timestamp has a fixed width
const TS_WIDTH = String(T0).length

interface Body {
  readonly buf: Buffer
  /** Byte offset of each event's timestamp digits. */
  readonly at: Int32Array
}

const makeBody = (n: number): Body => {
  const lines: Array<string> = []
  const at = new Int32Array(n)
  let offset = 0
  for (let i = 0; i < n; i++) {
    const s = i % 20
    const m = Math.floor(i / 20) % 10
    const head = '{"timestamp":'
    const line = `${head}${T0},"service":"service-${s}","model":"model-${m}","provider":"openai","operation":"chat","latencyMs":${(400 + 200 * rand()).toFixed(2)},"ttftMs":${(100 + 50 * rand()).toFixed(2)},"inputTokens":${500 + Math.floor(500 * rand())},"outputTokens":${100 + Math.floor(300 * rand())},"costUsd":${(0.001 + 0.01 * rand()).toFixed(6)},"status":"${rand() < 0.01 ? "error" : "ok"}"}\n`
    at[i] = offset + head.length
    offset += line.length
    lines.push(line)
  }
  return { buf: Buffer.from(lines.join(""), "latin1"), at }
}

/** Bodies of `n` events, lent to one request at a time, stamped with the next `n` timestamps. */
const makePool = (n: number) => {
  const free = Array.from({ length: POOL }, () => makeBody(n))
  let next = 0 // event sequence number of this server: event time never goes back
  return {
    bytes: free[0]!.buf.length,
    take: (): Body => {
      const body = free.pop()!
      let last = -1
      let digits = ""
      for (let i = 0; i < n; i++) {
        const ts = T0 + Math.floor(next++ / EVENTS_PER_MS)
        if (ts !== last) {
          last = ts
          digits = String(ts)
        }
        body.buf.write(digits, body.at[i]!, TS_WIDTH, "latin1")
      }
      return body
    },
    give: (body: Body) => void free.push(body)
  }
}

// ---- child processes
const live = new Set<ChildProcess>()

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const address = s.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      s.close(() => resolve(port))
    })
  })

interface Server {
  readonly name: string
  readonly child: ChildProcess
  readonly port: number
  readonly log: () => string
}

const start = async (name: string, nodeArgs: ReadonlyArray<string>, port: number): Promise<Server> => {
  const child = spawn(process.execPath, nodeArgs, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
  live.add(child)
  let log = ""
  const keep = (d: Buffer) => void (log = (log + d.toString()).slice(-8000))
  child.stdout!.on("data", keep)
  child.stderr!.on("data", keep)
  let exited = false
  child.once("exit", () => {
    exited = true
    live.delete(child)
  })
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${name} exited before it was ready:\n${log}`)
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`)
      .then((r) => r.status === 200)
      .catch(() => false)
    if (ok) return { name, child, port, log: () => log }
    await sleep(100)
  }
  throw new Error(`${name} was not ready within 30 s:\n${log}`)
}

const stop = async (child: ChildProcess) => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  child.kill("SIGTERM")
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), 20_000)
  })
  const outcome = await Promise.race([exited, timeout])
  clearTimeout(timer)
  if (outcome === "timeout") {
    child.kill("SIGKILL")
    await exited
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const CLK_TCK = 100
/** User + system CPU time of a process, in ms (from /proc/<pid>/stat). */
const cpuMs = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK
}
const memMiB = (pid: number, key: "VmRSS" | "VmHWM"): number => {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return m === null ? Number.NaN : Number(m[1]) / 1024
}

const dirBytes = (dir: string): number => {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    total += entry.isDirectory() ? dirBytes(path) : statSync(path).size
  }
  return total
}

// ---- load generator
interface Response {
  readonly status: number
  readonly retryAfter: number
  readonly accepted: number
}

const post = (agent: Agent, port: number, body: Buffer) =>
  new Promise<Response>((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/v1/events",
        agent,
        headers: { "content-type": "application/x-ndjson", "content-length": body.length }
      },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("error", reject)
        res.on("end", () => {
          const status = res.statusCode ?? 0
          const retryAfter = Number(res.headers["retry-after"] ?? 1)
          let accepted = 0
          if (status === 202) accepted = (JSON.parse(Buffer.concat(chunks).toString()) as { accepted: number }).accepted
          resolve({ status, retryAfter: Number.isFinite(retryAfter) ? retryAfter : 1, accepted })
        })
      }
    )
    req.on("error", reject)
    req.end(body)
  })

interface Run {
  readonly seconds: number
  readonly requests: number
  readonly events: number
  readonly latencies: Float64Array
  readonly tooMany: number
  readonly other: number
  /** Events accepted over the whole run, warm-up and stragglers included (to compare with the server's counters). */
  readonly acceptedTotal: number
  readonly serverCpuMs: number
  readonly clientCpuMs: number
  readonly rssMiB: number
  readonly hwmMiB: number
}

const load = async (
  server: Server,
  pool: ReturnType<typeof makePool>,
  warmupS: number,
  seconds: number
): Promise<Run> => {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS })
  const pid = server.child.pid!
  const t0 = performance.now()
  const from = t0 + warmupS * 1000
  const until = from + seconds * 1000
  const latencies: Array<number> = []
  let requests = 0
  let events = 0
  let tooMany = 0
  let other = 0
  let acceptedTotal = 0
  let cpuFrom = 0
  let clientFrom = process.cpuUsage()
  const marks = sleep(warmupS * 1000).then(() => {
    cpuFrom = cpuMs(pid)
    clientFrom = process.cpuUsage()
  })
  const connection = async () => {
    while (performance.now() < until) {
      const body = pool.take()
      const t = performance.now()
      let res: Response
      try {
        res = await post(agent, server.port, body.buf)
      } finally {
        pool.give(body)
      }
      const done = performance.now()
      const counted = t >= from && done <= until
      acceptedTotal += res.accepted
      if (res.status === 202) {
        if (counted) {
          requests++
          events += res.accepted
          latencies.push(done - t)
        }
      } else if (res.status === 429) {
        if (counted) tooMany++
        await sleep(Math.min(res.retryAfter * 1000, Math.max(0, until - performance.now())))
      } else {
        if (counted) other++
        if (other === 1) console.error(`${server.name}: unexpected status ${res.status}`)
      }
    }
  }
  await Promise.all([...Array.from({ length: CONNECTIONS }, connection), marks])
  const serverCpuMs = cpuMs(pid) - cpuFrom
  const client = process.cpuUsage(clientFrom)
  agent.destroy()
  latencies.sort((a, b) => a - b)
  return {
    seconds,
    requests,
    events,
    latencies: Float64Array.from(latencies),
    tooMany,
    other,
    acceptedTotal,
    serverCpuMs,
    clientCpuMs: (client.user + client.system) / 1000,
    rssMiB: memMiB(pid, "VmRSS"),
    hwmMiB: memMiB(pid, "VmHWM")
  }
}

const quantile = (sorted: Float64Array, q: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

const metrics = async (port: number): Promise<Map<string, number>> => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const out = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (m !== null) out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[3]))
  }
  return out
}

// ---- formatting
const int = (x: number) => Math.round(x).toLocaleString("en-US")
const f1 = (x: number) => x.toFixed(1)
const pad = (s: string, w: number) => s.padStart(w)

const largeRow = (name: string, r: Run) =>
  [
    name.padEnd(9),
    pad(int(r.events / r.seconds), 10),
    pad(f1(r.requests / r.seconds), 8),
    pad(f1(quantile(r.latencies, 0.5)), 7),
    pad(f1(quantile(r.latencies, 0.99)), 7),
    pad(int(r.tooMany), 6),
    pad(int((r.serverCpuMs * 1e6) / Math.max(1, r.events)), 9),
    pad(`${int((r.serverCpuMs / (r.seconds * 1000)) * 100)}%`, 6),
    pad(`${int((r.clientCpuMs / (r.seconds * 1000)) * 100)}%`, 6),
    pad(f1(r.rssMiB), 8),
    pad(f1(r.hwmMiB), 8)
  ].join(" ")

const smallRow = (name: string, r: Run) =>
  [
    name.padEnd(9),
    pad(int(r.requests / r.seconds), 8),
    pad(f1((r.seconds * 1e6) / Math.max(1, r.requests)), 10),
    pad(f1((r.serverCpuMs * 1000) / Math.max(1, r.requests)), 10),
    pad(f1(quantile(r.latencies, 0.5)), 7),
    pad(f1(quantile(r.latencies, 0.99)), 7),
    pad(int(r.tooMany), 6),
    pad(`${int((r.serverCpuMs / (r.seconds * 1000)) * 100)}%`, 6),
    pad(`${int((r.clientCpuMs / (r.seconds * 1000)) * 100)}%`, 6)
  ].join(" ")

// ---- the runs
const dataDir = mkdtempSync(join(tmpdir(), "sentinel-ingest-"))
const onSignal = () => {
  for (const child of live) child.kill("SIGKILL")
  rmSync(dataDir, { recursive: true, force: true })
  process.exit(130)
}
process.once("SIGINT", onSignal)
process.once("SIGTERM", onSignal)

const results: Record<"baseline" | "sentinel", { large: Run; small: Run } | undefined> = {
  baseline: undefined,
  sentinel: undefined
}
let pipeline = ""
const began = performance.now()
try {
  const largePool = makePool(BATCH)
  console.log(
    `HTTP ingest over 127.0.0.1: ${CONNECTIONS} keep-alive connections, ${BATCH} events per POST (${f1(largePool.bytes / 1024)} KiB, ${Math.round(largePool.bytes / BATCH)} B/event), ${WARMUP} s warm-up + ${SECONDS} s; then 1-event POSTs for ${SMALL_SECONDS} s.`
  )
  console.log(
    `Node ${process.version}, ${(await import("node:os")).availableParallelism()} cores shared by the server and this load generator.\n`
  )

  // baseline: node:http, parse each NDJSON line, answer 202
  {
    const port = await freePort()
    const server = await start("baseline", [join(ROOT, "bench/src/ingest-baseline.ts"), "--port", String(port)], port)
    try {
      const large = await load(server, largePool, WARMUP, SECONDS)
      const small = await load(server, makePool(1), WARMUP, SMALL_SECONDS)
      results.baseline = { large, small }
    } finally {
      await stop(server.child)
    }
  }

  // sentinel serve: journal + full pipeline
  {
    const port = await freePort()
    const profDir = join(tmpdir(), `sentinel-ingest-prof-${process.pid}`)
    const nodeArgs = [
      ...(args["cpu-prof"] ? ["--cpu-prof", "--cpu-prof-dir", profDir] : []),
      join(ROOT, "packages/server/src/bin.ts"),
      "serve",
      "--port",
      String(port),
      "--data-dir",
      dataDir,
      "--queue-capacity",
      String(QUEUE_CAPACITY)
    ]
    const server = await start("sentinel", nodeArgs, port)
    const largePool2 = makePool(BATCH)
    try {
      const large = await load(server, largePool2, WARMUP, SECONDS)
      const atEnd = await metrics(port)
      const drainFrom = performance.now()
      let after = atEnd
      while (
        (after.get("sentinel_events_decoded_total") ?? 0) < large.acceptedTotal &&
        performance.now() - drainFrom < 15_000
      ) {
        await sleep(100)
        after = await metrics(port)
      }
      const drainS = (performance.now() - drainFrom) / 1000
      const journal = dirBytes(join(dataDir, "journal"))
      const small = await load(server, makePool(1), WARMUP, SMALL_SECONDS)
      results.sentinel = { large, small }
      const g = (m: Map<string, number>, k: string) => int(m.get(k) ?? Number.NaN)
      pipeline = [
        `sentinel pipeline after the ${BATCH}-event run: ${int(large.acceptedTotal)} events accepted (202, warm-up included);`,
        `  at the end of the load: received ${g(atEnd, "sentinel_events_received_total")}, decoded ${g(atEnd, "sentinel_events_decoded_total")}`,
        `  ${(after.get("sentinel_events_decoded_total") ?? 0) >= large.acceptedTotal ? "all decoded" : "NOT all decoded"} ${f1(drainS)} s later: decoded ${g(after, "sentinel_events_decoded_total")}, late points ${g(after, "sentinel_points_late_total")}, windows closed ${g(after, "sentinel_windows_closed_total")}, anomalies ${g(after, "sentinel_anomalies_total")}, dead letters ${g(after, "sentinel_events_dead_lettered_total")}`,
        `  journal on disk: ${f1(journal / 1024 / 1024)} MiB (${int(journal / Math.max(1, large.acceptedTotal))} B/event)`
      ].join("\n")
    } finally {
      await stop(server.child)
      if (server.child.exitCode !== 0) console.error(`sentinel exited with ${server.child.exitCode}:\n${server.log()}`)
      if (args["cpu-prof"]) console.log(`CPU profile of the sentinel: ${profDir}`)
    }
  }

  const b = results.baseline!
  const s = results.sentinel!
  console.log(`${BATCH}-event bodies (server CPU is user+system of the server process over the measured seconds):`)
  console.log(
    `${"server".padEnd(9)} ${pad("events/s", 10)} ${pad("req/s", 8)} ${pad("p50 ms", 7)} ${pad("p99 ms", 7)} ${pad("429", 6)} ${pad("CPU ns/ev", 9)} ${pad("server", 6)} ${pad("loadgen", 6)} ${pad("RSS MiB", 8)} ${pad("peak MiB", 8)}`
  )
  console.log(largeRow("baseline", b.large))
  console.log(largeRow("sentinel", s.large))
  console.log(
    `sentinel / baseline: events/s ${(s.large.events / b.large.events).toFixed(2)}, server CPU per event ${(s.large.serverCpuMs / s.large.events / (b.large.serverCpuMs / b.large.events)).toFixed(2)}×`
  )
  console.log(pipeline)
  console.log(`\n1-event bodies (fixed cost per request):`)
  console.log(
    `${"server".padEnd(9)} ${pad("req/s", 8)} ${pad("µs/req", 10)} ${pad("CPU µs/req", 10)} ${pad("p50 ms", 7)} ${pad("p99 ms", 7)} ${pad("429", 6)} ${pad("server", 6)} ${pad("loadgen", 6)}`
  )
  console.log(smallRow("baseline", b.small))
  console.log(smallRow("sentinel", s.small))
  console.log(
    `sentinel / baseline: µs per request ${(b.small.requests / s.small.requests).toFixed(2)}×, server CPU per request ${(s.small.serverCpuMs / s.small.requests / (b.small.serverCpuMs / b.small.requests)).toFixed(2)}×`
  )
  console.log(`\n(whole bench ${f1((performance.now() - began) / 1000)} s)`)
} finally {
  for (const child of live) await stop(child)
  rmSync(dataDir, { recursive: true, force: true })
}
