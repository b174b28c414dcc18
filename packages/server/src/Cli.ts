/**
 * The `sentinel` command line: `sentinel serve` (the server), `sentinel check-config` (validate and print the
 * configuration), `sentinel migrate` (PostgreSQL migrations) and `sentinel replay`
 * (backtests on a file), `sentinel hash-key` (make an API key and its config entry), with
 * `--help` on every command.
 *
 * @since 0.1.0
 */
import { Command } from "effect/cli"
import * as Auth from "./Auth.ts"
import * as CheckConfig from "./CheckConfig.ts"
import * as Replay from "./Replay.ts"
import * as Serve from "./Serve.ts"

/**
 * The root command with its subcommands.
 *
 * @category constructors
 * @since 0.1.0
 */
export const command = Command.make("sentinel").pipe(
  Command.withDescription("LLM-Sentinel: streaming anomaly detection on LLM telemetry"),
  Command.withSubcommands([Serve.command, CheckConfig.command, Serve.migrateCommand, Replay.command, Auth.command])
)

/**
 * Runs the command line on `argv` (without the program name).
 *
 * @category constructors
 * @since 0.1.0
 */
export const run = Command.runWith(command, { version: "0.1.0" })
