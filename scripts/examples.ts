// Type-checks every `@example` in the packages' JSDoc and every ```ts block of the guides in docs/:
// `node scripts/examples.ts` (run by test/docs).
//
// Each fenced block after an `@example` tag becomes one module in a temporary directory whose node_modules
// links to the repository's, so `@llm-sentinel/*` resolves to the workspace packages exactly as for the examples
// in examples/. The repository's tsconfig (strict) checks them all in one program; an error is reported at the
// example's line in the source file. Exits 1 on any error, or when no example was found.
import { spawnSync } from "node:child_process"
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join, relative, resolve } from "node:path"

const repo = resolve(import.meta.dirname, "..")

/** An example: its code, the source file and the line of the source where its code starts. */
export interface Example {
  readonly file: string
  readonly line: number
  readonly code: string
}

/** Every fenced code block that follows an `@example` tag inside a JSDoc comment of `text`. */
export const extract = (file: string, text: string): Array<Example> => {
  const out: Array<Example> = []
  const lines = text.split("\n")
  let inDoc = false
  let afterTag = false
  let block: Array<string> | undefined
  let typescript = true
  let start = 0
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? ""
    if (!inDoc) {
      if (/^\s*\/\*\*/.test(raw)) inDoc = true
      else continue
    }
    const line = raw.replace(/^\s*\/?\*\*?\s?/, "")
    if (block !== undefined) {
      if (/^\s*```\s*$/.test(line)) {
        if (typescript) out.push({ file, line: start + 1, code: block.join("\n") })
        block = undefined
        afterTag = false
      } else block.push(line)
    } else if (/^\s*@example\b/.test(line)) afterTag = true
    else if (afterTag && /^\s*```\w*\s*$/.test(line)) {
      // a shell or JSON example is kept out, but its fence still has to be skipped
      typescript = /^\s*```(ts|typescript)?\s*$/.test(line)
      block = []
      start = i + 1
    } else if (afterTag && /^\s*@\w+/.test(line)) afterTag = false
    if (/\*\//.test(raw) && block === undefined) {
      inDoc = false
      afterTag = false
    }
  }
  return out
}

const walk = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? walk(p) : p.endsWith(".ts") ? [p] : []
  })

/** Every example in the packages' sources. */
export const examples = (): Array<Example> =>
  readdirSync(join(repo, "packages"))
    .flatMap((pkg) => walk(join(repo, "packages", pkg, "src")))
    .sort()
    .flatMap((f) => extract(relative(repo, f), readFileSync(f, "utf8")))

/**
 * Every ```ts block of a Markdown guide. A block whose first line is `// file: Name.ts` is written under that name,
 * so a later block of the same guide can import it (`./Name.js`).
 */
export const guideBlocks = (file: string, text: string): Array<Example> => {
  const out: Array<Example> = []
  const lines = text.split("\n")
  let block: Array<string> | undefined
  let typescript = false
  let start = 0
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ""
    if (block === undefined) {
      const fence = /^```(\w*)\s*$/.exec(line)
      if (fence !== null) {
        typescript = fence[1] === "ts" || fence[1] === "typescript"
        block = []
        start = i + 1
      }
    } else if (/^```\s*$/.test(line)) {
      if (typescript) out.push({ file, line: start + 1, code: block.join("\n") })
      block = undefined
    } else block.push(line)
  }
  return out
}

/** Every example in the guides (docs/*.md). */
export const guides = (): Array<Example> =>
  readdirSync(join(repo, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .flatMap((f) => guideBlocks(`docs/${f}`, readFileSync(join(repo, "docs", f), "utf8")))

if (import.meta.main) {
  const all = [...examples(), ...guides()]
  if (all.length === 0) {
    console.error("examples: no @example found")
    process.exit(1)
  }
  const work = mkdtempSync(join(tmpdir(), "sentinel-examples-"))
  symlinkSync(join(repo, "node_modules"), join(work, "node_modules"))
  mkdirSync(join(work, "examples"))
  writeFileSync(
    join(work, "package.json"),
    JSON.stringify({ name: "sentinel-examples", private: true, type: "module" })
  )
  const names = all.map((e, i) => {
    const named = /^\/\/ file: ([A-Za-z0-9]+\.ts)$/.exec(e.code.split("\n")[0] ?? "")?.[1]
    const dir = e.file.startsWith("docs/") ? `examples/${e.file.replace(/[^A-Za-z0-9]+/g, "_")}` : "examples"
    mkdirSync(join(work, dir), { recursive: true })
    const name = `${dir}/${named ?? `${String(i).padStart(3, "0")}_${e.file.replace(/[^A-Za-z0-9]+/g, "_")}.ts`}`
    // `export {}` keeps each example a module of its own (its top-level names do not clash with the others')
    writeFileSync(join(work, name), `${e.code}\nexport {}\n`)
    return name
  })
  writeFileSync(
    join(work, "tsconfig.json"),
    JSON.stringify({ extends: join(repo, "tsconfig.json"), include: ["examples/**/*.ts"], exclude: [] })
  )
  const r = spawnSync(process.execPath, [join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", work], {
    cwd: work,
    encoding: "utf8"
  })
  const byName = new Map(names.map((n, i) => [n, all[i] as Example]))
  const report = `${r.stdout}${r.stderr}`.replace(
    /(^|\n)(examples\/[^(\n]*\.ts)\((\d+),(\d+)\)/g,
    (m, nl: string, n: string, line: string, col: string) => {
      const e = byName.get(n)
      return e === undefined ? m : `${nl}${e.file}:${e.line + Number(line) - 1}:${col} (example)`
    }
  )
  rmSync(work, { recursive: true, force: true })
  if (r.status !== 0) {
    console.error(report.trim())
    console.error(`examples: ${names.length} examples, type errors above`)
    process.exit(1)
  }
  console.log(`examples: ${names.length} examples in ${new Set(all.map((e) => e.file)).size} files type-check`)
}
