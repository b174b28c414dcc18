#!/usr/bin/env node
// The `sentinel` executable. SIGTERM/SIGINT interrupt the running command, whose layers then shut down in order
// (see Serve.ts). A command stopped by SIGTERM after a clean shutdown exits 0 (the supervisor asked it to stop);
// SIGINT keeps the conventional 130.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Effect, Exit, Runtime } from "effect"
import * as Cli from "./Cli.ts"

let terminated = false
process.once("SIGTERM", () => {
  terminated = true
})

Cli.run(process.argv.slice(2)).pipe(
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({
    teardown: (exit, onExit) =>
      terminated && Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
        ? onExit(0)
        : Runtime.defaultTeardown(exit, onExit)
  })
)
