#!/usr/bin/env node
// The `sentinel` executable. SIGTERM/SIGINT interrupt the running command, whose layers then shut down in order
// (see Serve.ts). A command stopped by SIGTERM after a clean shutdown exits 0 (the supervisor asked it to stop);
// SIGINT keeps the conventional 130.
import { setFlagsFromString } from "node:v8"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Console, Effect, Exit, Runtime } from "effect"
import * as Cli from "./Cli.ts"

// The V8 heap may grow to 1 + SENTINEL_HEAP_GROWTH_PERCENT/100 times what survived the last full collection
// before the next one (default 25; 0 keeps V8's own factor). V8's factor on a large machine lets a server with
// 100k series hold gigabytes of garbage (window aggregates live for one window, long enough to reach the old
// generation): `npm run bench:memory` measured RSS growing 406 MiB/min at 32k signals with it, 12–15 MiB/min at 25.
const heapGrowth = Number(process.env.SENTINEL_HEAP_GROWTH_PERCENT ?? 25)
if (Number.isInteger(heapGrowth) && heapGrowth > 0) setFlagsFromString(`--heap-growing-percent=${heapGrowth}`)

let terminated = false
process.once("SIGTERM", () => {
  terminated = true
})

// Expected failures (bad flags or configuration, an unreadable file, a data directory in use) are told in one
// line, without a stack trace, and exit 1; defects keep the full report.
let failed = false
const explain = (e: unknown): string => {
  const tagged = e as { readonly _tag?: unknown; readonly message?: unknown; readonly cause?: unknown }
  const tag = typeof tagged._tag === "string" ? tagged._tag : "Error"
  const cause = (tagged.cause ?? {}) as { code?: string; address?: string; port?: number; message?: string }
  if (tag === "ServeError" && cause.code === "EADDRINUSE") {
    return `sentinel: cannot listen on ${cause.address}:${cause.port}: the address is already in use (another sentinel, or another program, listens there); choose another --port or stop it`
  }
  if (tag === "ServeError" && cause.code === "EACCES") {
    return `sentinel: cannot listen on ${cause.address}:${cause.port}: permission denied (ports below 1024 need privileges); choose another --port`
  }
  const message =
    typeof tagged.message === "string" && tagged.message.length > 0
      ? tagged.message
      : typeof cause.message === "string" && cause.message.length > 0
        ? cause.message
        : String(e)
  return `sentinel: ${tag}: ${message}`
}

Cli.run(process.argv.slice(2)).pipe(
  Effect.catch((e) =>
    // the command line already printed the help and the error of a flag it could not read
    ((e as { readonly _tag?: unknown })._tag === "ShowHelp" ? Effect.void : Console.error(explain(e))).pipe(
      Effect.andThen(Effect.sync(() => void (failed = true)))
    )
  ),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({
    teardown: (exit, onExit) =>
      failed
        ? onExit(1)
        : terminated && Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
          ? onExit(0)
          : Runtime.defaultTeardown(exit, onExit)
  })
)
