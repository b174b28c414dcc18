// Builds the reference docs from the JSDoc with TypeDoc: `npm run docs [-- --out DIR]` (default `.docs/api`).
//
// TypeDoc drives the TypeScript compiler's JavaScript API, which TypeScript 7 (the repository's, a native
// binary) does not have, and its peer range ends at 6.0.x. So TypeDoc and TypeScript 6.0.3 are installed from the
// npm registry into `.docs/tools` (gitignored, reused while the pins below hold), for the docs only; TypeScript 7
// stays the type checker (`npm run typecheck`), hence `skipErrorChecking`. Every `@example` is type-checked
// separately by scripts/examples.ts.
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"

const repo = resolve(import.meta.dirname, "..")
const pins = { typedoc: "0.28.20", typescript: "6.0.3" }

/** The entry points: each package's barrel, and the law suite. Their module names are the import paths. */
export const entryPoints: Record<string, string> = {
  "@llm-sentinel/core": "packages/core/src/index.ts",
  "@llm-sentinel/detectors": "packages/detectors/src/index.ts",
  "@llm-sentinel/detectors/testing": "packages/detectors/src/testing/index.ts",
  "@llm-sentinel/detectors/toolkit": "packages/detectors/src/toolkit/index.ts",
  "@llm-sentinel/adapters": "packages/adapters/src/index.ts",
  "@llm-sentinel/server": "packages/server/src/index.ts"
}

const fail = (message: string): never => {
  console.error(`docs: ${message}`)
  process.exit(1)
}
const run = (command: string, args: ReadonlyArray<string>, cwd: string): void => {
  const r = spawnSync(command, args, { cwd, stdio: "inherit" })
  if (r.error !== undefined) fail(`${command}: ${r.error.message}`)
  if (r.status !== 0) fail(`${command} ${args.join(" ")} exited ${r.status}`)
}

if (import.meta.main) {
  const args = process.argv.slice(2)
  const outIndex = args.indexOf("--out")
  const out = resolve(
    outIndex >= 0 ? (args[outIndex + 1] ?? fail("--out needs a directory")) : join(repo, ".docs", "api")
  )
  const tools = join(repo, ".docs", "tools")
  mkdirSync(tools, { recursive: true })
  // biome checks every file of the tree that its config does not exclude, gitignored or not: this keeps the
  // generated pages and the plugin out of `npm run lint` (biome.json could say "!.docs" instead)
  writeFileSync(join(repo, ".docs", "biome.json"), `${JSON.stringify({ root: false, files: { includes: ["!**"] } })}\n`)
  const installed = (name: string) => {
    const file = join(tools, "node_modules", name, "package.json")
    return existsSync(file) && (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version
  }
  if (installed("typedoc") !== pins.typedoc || installed("typescript") !== pins.typescript) {
    writeFileSync(
      join(tools, "package.json"),
      JSON.stringify({ name: "sentinel-docs-tools", private: true, type: "module", dependencies: pins }, null, 2)
    )
    run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--no-package-lock"], tools)
  }
  // TypeDoc names a module after its path (`core/src`); this plugin names it after its import path instead
  const plugin = join(tools, "module-names.mjs")
  const names = Object.fromEntries(
    Object.entries(entryPoints).map(([name, path]) => [
      path.replace(/^packages\//, "").replace(/\/index\.ts$/, ""),
      name
    ])
  )
  writeFileSync(
    plugin,
    `const names = ${JSON.stringify(names)}
export function load(app) {
  app.converter.on("resolveBegin", (context) => {
    for (const m of context.project.children ?? []) if (names[m.name] !== undefined) m.name = names[m.name]
  })
}
`
  )
  run(
    process.execPath,
    [
      join(tools, "node_modules", "typedoc", "bin", "typedoc"),
      "--tsconfig",
      join(repo, "tsconfig.json"),
      ...Object.values(entryPoints).flatMap((p) => ["--entryPoints", join(repo, p)]),
      "--plugin",
      plugin,
      "--name",
      "LLM-Sentinel",
      "--readme",
      join(repo, "docs", "README.md"),
      "--skipErrorChecking",
      "--excludePrivate",
      "--excludeInternal",
      "--validation.notExported",
      "false",
      "--validation.invalidLink",
      "false",
      "--out",
      out
    ],
    repo
  )
  if (!existsSync(join(out, "index.html"))) fail(`TypeDoc wrote no ${join(out, "index.html")}`)
  console.log(`docs: reference at ${out}/index.html`)
}
