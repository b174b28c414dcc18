import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Config from "../src/Config.ts"

const root = join(import.meta.dirname, "..", "..", "..")

describe("docs/configuration.md", () => {
  it("is the reference generated from the configuration's Schema, up to date", () => {
    const run = spawnSync(process.execPath, [join(root, "scripts", "config-reference.ts"), "--check"], {
      encoding: "utf8",
      timeout: 60_000
    })
    assert.strictEqual(run.status, 0, run.stderr)
    const text = readFileSync(join(root, "docs", "configuration.md"), "utf8")
    for (const section of Object.keys(Config.Config.fields)) assert.include(text, `| \`${section}\` |`)
    assert.include(text, "`sinks[]{type=webhook}.secret`")
  })
})
