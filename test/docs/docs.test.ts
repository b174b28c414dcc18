// The reference docs build (scripts/docs.ts: TypeDoc over every package's barrel and the law suite), with one
// page per module named after its import path.
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll, expect, it } from "vitest"

const repo = resolve(import.meta.dirname, "..", "..")
const out = mkdtempSync(join(tmpdir(), "sentinel-docs-"))
afterAll(() => rmSync(out, { recursive: true, force: true }))

it("npm run docs builds the reference from the JSDoc", async () => {
  const { code, output } = await new Promise<{ code: number; output: string }>((done) =>
    execFile(
      process.execPath,
      [join(repo, "scripts", "docs.ts"), "--out", out],
      { cwd: repo, timeout: 170_000, maxBuffer: 64 * 1024 * 1024 },
      (e, stdout, stderr) =>
        done({ code: e === null ? 0 : typeof e.code === "number" ? e.code : 1, output: `${stdout}${stderr}` })
    )
  )
  expect(code, output).toBe(0)
  expect(readFileSync(join(out, "index.html"), "utf8")).toMatch(/Write and law-test a detector/)
  for (const page of [
    "_llm-sentinel_core.Pipeline.html",
    "_llm-sentinel_detectors.ZScore.html",
    "_llm-sentinel_detectors_testing.html",
    "_llm-sentinel_adapters.File.html",
    "_llm-sentinel_server.Replay.html"
  ]) {
    expect(existsSync(join(out, "modules", page)), page).toBe(true)
  }
  expect(readFileSync(join(out, "modules", "_llm-sentinel_core.Pipeline.html"), "utf8")).toMatch(/makeConfig/)
}, 180_000)
