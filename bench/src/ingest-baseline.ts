// The floor for `bench:ingest`: a minimal `node:http` server that reads the body chunk by chunk, JSON-parses each
// NDJSON line as it arrives and answers 202 `{ accepted: n }`. No validation, no journal, no pipeline.
// GET /readyz answers 200 so the bench waits for it as it does for `sentinel serve`.
//
//   node bench/src/ingest-baseline.ts --port 7399

import { createServer } from "node:http"
import { parseArgs } from "node:util"

const { values: args } = parseArgs({ options: { port: { type: "string", default: "0" } } })

const server = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/readyz") {
    res.writeHead(200, { "content-type": "application/json" })
    res.end('{"status":"ready"}')
    return
  }
  if (req.method !== "POST" || req.url !== "/v1/events") {
    res.writeHead(404, { "content-type": "application/json" })
    res.end('{"_tag":"NotFound"}')
    return
  }
  const decoder = new TextDecoder("utf-8")
  let carry = ""
  let accepted = 0
  let rejected = 0
  const onLine = (line: string) => {
    if (line.length === 0) return
    try {
      JSON.parse(line)
      accepted++
    } catch {
      rejected++
    }
  }
  const split = (text: string) => {
    let start = 0
    let nl = text.indexOf("\n")
    while (nl >= 0) {
      onLine(text.slice(start, nl))
      start = nl + 1
      nl = text.indexOf("\n", start)
    }
    carry = text.slice(start)
  }
  req.on("data", (chunk: Buffer) => split(carry + decoder.decode(chunk, { stream: true })))
  req.on("end", () => {
    split(carry + decoder.decode())
    onLine(carry)
    const body = JSON.stringify({ accepted, rejectedCount: rejected })
    res.writeHead(202, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
    res.end(body)
  })
})

server.listen(Number(args.port), "127.0.0.1", () => {
  const address = server.address()
  console.log(`baseline listening on ${typeof address === "object" && address !== null ? address.port : address}`)
})
const stop = () => {
  server.close(() => process.exit(0))
  server.closeIdleConnections()
}
process.once("SIGTERM", stop)
process.once("SIGINT", stop)
