// Every `@example` in the packages' JSDoc and every ts block of the guides type-checks (scripts/examples.ts), so the
// reference docs and the guides cannot rot.
import { execFile } from "node:child_process"
import { join, resolve } from "node:path"
import { describe, expect, it } from "vitest"
import { examples, extract, guides } from "../../scripts/examples.ts"

const repo = resolve(import.meta.dirname, "..", "..")

describe("JSDoc examples", () => {
  it("are extracted from ts fences after @example only, at their source line", () => {
    const text = [
      "/**",
      " * Not an example:",
      " * ```ts",
      " * nope()",
      " * ```",
      " * @example",
      " * ```sh",
      " * sentinel serve",
      " * ```",
      " * @example",
      " * ```ts",
      ' * import { Window } from "@llm-sentinel/core"',
      " * Window.tumbling({ size: 1000 })",
      " * ```",
      " * @since 0.1.0",
      " */"
    ].join("\n")
    expect(extract("X.ts", text)).toEqual([
      {
        file: "X.ts",
        line: 12,
        code: 'import { Window } from "@llm-sentinel/core"\nWindow.tumbling({ size: 1000 })'
      }
    ])
  })

  it("are found across the packages", () => {
    const all = examples()
    expect(all.length).toBeGreaterThan(40)
    expect(new Set(all.map((e) => e.file.split("/")[1]))).toEqual(new Set(["core", "detectors", "adapters", "server"]))
    const inGuides = new Set(guides().map((e) => e.file))
    for (const guide of ["compose-a-pipeline", "swap-adapters", "write-a-detector", "backtest-with-replay"]) {
      expect(inGuides).toContain(`docs/${guide}.md`)
    }
  })

  it("type-check against the packages", async () => {
    const { code, output } = await new Promise<{ code: number; output: string }>((done) =>
      execFile(process.execPath, [join(repo, "scripts", "examples.ts")], { cwd: repo }, (e, stdout, stderr) =>
        done({ code: e === null ? 0 : typeof e.code === "number" ? e.code : 1, output: `${stdout}${stderr}` })
      )
    )
    expect(output, output).toMatch(/examples: \d+ examples in \d+ files type-check/)
    expect(code).toBe(0)
  }, 120_000)
})
