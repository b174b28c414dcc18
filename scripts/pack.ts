// Builds the publishable packages and packs them: `npm run pack [-- --out DIR] [-- --keep]`.
//
// Inside the repository Node runs the `.ts` sources directly; what is published must be JavaScript with `.d.ts`,
// because Node refuses to strip types under node_modules. For each of core, detectors, adapters and server (in the
// order of their imports) this copies `src/` into a staging directory, compiles it there with the repository's
// TypeScript (JavaScript, declarations and source maps into `dist/`, relative `.ts` imports rewritten to `.js`),
// writes the published package.json (exports with `types` and `import` conditions, `./internal/*` closed, `files`,
// peer dependencies, the one workspace version) and runs `npm pack`. Tarballs go to `.pack/` (or `--out DIR`).
//
// The staging directory has its own node_modules: links to the repository's third-party packages, and the
// `@llm-sentinel/*` packages staged before. So detectors is compiled against core's published `.d.ts` and exports
// map, exactly as a consumer sees them, not against core's sources.
import { spawnSync } from "node:child_process"
import {
  chmodSync,
  cpSync,
  existsSync,
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

/** The published packages, each after the ones it imports. */
export const packages = ["core", "detectors", "adapters", "server"] as const

/** What one sentence on the registry says about each package. */
const descriptions: Record<(typeof packages)[number], string> = {
  core: "LLM-Sentinel core: telemetry event schema, series, windows, aggregates, the Detector contract, alert policy and the Pipeline, as Effect streams and services.",
  detectors:
    "LLM-Sentinel detectors: streaming anomaly detectors as pure state machines, and the law suite (/testing) to property-test your own.",
  adapters:
    "LLM-Sentinel adapters: sources and sinks (file, webhook, Slack, NATS, InfluxDB, PostgreSQL, OTLP) as Effect layers.",
  server: "LLM-Sentinel server: the `sentinel` CLI (serve, replay), HTTP and OTLP ingest, query API and embedded store."
}

/**
 * Dependencies a consumer must share one copy of, so they are peers: Effect (services, schemas, streams cross every
 * package boundary), core (its service tags, error classes and schemas are what every other package trades in)
 * and fast-check (the law suite's arbitraries are fast-check values a user's properties combine with their own).
 */
const peers: Record<(typeof packages)[number], ReadonlyArray<string>> = {
  core: ["effect"],
  detectors: ["effect", "@llm-sentinel/core", "fast-check"],
  adapters: ["effect", "@llm-sentinel/core"],
  server: ["effect", "@llm-sentinel/core"]
}

type Exports = Record<string, string | null>
interface SourceManifest {
  readonly name: string
  readonly version: string
  readonly license?: string
  readonly engines?: Record<string, string>
  readonly exports: Exports
  readonly dependencies?: Record<string, string>
  readonly bin?: Record<string, string>
}

const repo = resolve(import.meta.dirname, "..")
const readJson = <A>(file: string): A => JSON.parse(readFileSync(file, "utf8")) as A
const fail = (message: string): never => {
  console.error(`pack: ${message}`)
  process.exit(1)
}
const run = (command: string, args: ReadonlyArray<string>, cwd: string): string => {
  const r = spawnSync(command, args, { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })
  if (r.error !== undefined) fail(`${command} ${args.join(" ")}: ${r.error.message}`)
  if (r.status !== 0) fail(`${command} ${args.join(" ")} (in ${cwd}) exited ${r.status}\n${r.stdout}${r.stderr}`)
  return r.stdout
}

/** `./src/X.ts` → `./dist/X.js` (or `.d.ts`); `./src/*.ts` → `./dist/*.js`. */
const built = (target: string, ext: ".js" | ".d.ts"): string => {
  if (!target.startsWith("./src/") || !target.endsWith(".ts")) fail(`unexpected export target ${target}`)
  return `./dist/${target.slice("./src/".length, -".ts".length)}${ext}`
}

/** The published package.json of one package. */
export const manifest = (pkg: (typeof packages)[number], source: SourceManifest, version: string) => {
  const exports: Record<string, { types: string; import: string } | string | null> = {}
  for (const [key, target] of Object.entries(source.exports)) {
    exports[key] = target === null ? null : { types: built(target, ".d.ts"), import: built(target, ".js") }
  }
  exports["./package.json"] = "./package.json"
  const dependencies: Record<string, string> = {}
  const peerDependencies: Record<string, string> = {}
  for (const [name, range] of Object.entries(source.dependencies ?? {})) {
    const own = name.startsWith("@llm-sentinel/")
    if (own && range !== version)
      fail(`${source.name} depends on ${name}@${range}, the workspace version is ${version}`)
    if (peers[pkg].includes(name)) peerDependencies[name] = own ? version : `^${range}`
    else dependencies[name] = range
  }
  for (const name of peers[pkg]) if (peerDependencies[name] === undefined) fail(`${source.name} lacks ${name}`)
  const main = source.exports["."]
  if (typeof main !== "string") fail(`${source.name} has no "." export`)
  return {
    name: source.name,
    version,
    description: descriptions[pkg],
    license: source.license ?? "MIT",
    type: "module",
    engines: source.engines ?? readJson<SourceManifest>(join(repo, "package.json")).engines,
    main: built(main as string, ".js"),
    types: built(main as string, ".d.ts"),
    exports,
    ...(source.bin === undefined
      ? {}
      : { bin: Object.fromEntries(Object.entries(source.bin).map(([k, v]) => [k, built(v, ".js")])) }),
    // the sources beside the build, for the source and declaration maps (go to definition, stack traces)
    // and the server's dashboard assets, which dist/Dashboard.js reads from ../dashboard/
    files: existsSync(join(repo, "packages", pkg, "dashboard")) ? ["dist", "src", "dashboard"] : ["dist", "src"],
    ...(Object.keys(dependencies).length === 0 ? {} : { dependencies }),
    peerDependencies
  }
}

/** Every file under a directory, relative to it. */
const walk = (dir: string, base = dir): Array<string> =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? walk(p, base) : [relative(base, p)]
  })

// Declarations keep the `.ts` specifiers of the sources (rewriteRelativeImportExtensions rewrites JavaScript
// only). `.ts` → `.js` keeps every column, so the declaration maps stay right.
const rewriteDeclaration = (text: string): string =>
  text
    .split("\n")
    .map((line) =>
      /^\s*(import|export)\b/.test(line) || line.includes('import("')
        ? line.replace(/(["'])(\.\.?\/[^"']*)\.ts\1/g, "$1$2.js$1")
        : line
    )
    .join("\n")

/** Bare specifiers a built file imports (static, dynamic and re-exports). */
const importsOf = (js: string): Array<string> =>
  [...js.matchAll(/(?:^|\n)\s*(?:import|export)\b[^"';]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)]
    .map((m) => m[1] ?? m[2] ?? "")
    .filter((s) => s !== "" && !s.startsWith(".") && !s.startsWith("node:"))
    .map((s) => (s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : (s.split("/")[0] ?? s)))

if (import.meta.main) {
  const args = process.argv.slice(2)
  const outIndex = args.indexOf("--out")
  const out = resolve(outIndex >= 0 ? (args[outIndex + 1] ?? fail("--out needs a directory")) : join(repo, ".pack"))
  const keep = args.includes("--keep")
  const started = performance.now()

  const sources = Object.fromEntries(
    packages.map((p) => [p, readJson<SourceManifest>(join(repo, "packages", p, "package.json"))])
  ) as Record<(typeof packages)[number], SourceManifest>
  const versions = new Set(packages.map((p) => sources[p].version))
  if (versions.size !== 1) fail(`the packages must share one version, found ${[...versions].join(", ")}`)
  const version = [...versions][0] as string

  const work = mkdtempSync(join(tmpdir(), "sentinel-pack-"))
  const modules = join(work, "node_modules")
  mkdirSync(join(modules, "@llm-sentinel"), { recursive: true })
  for (const entry of readdirSync(join(repo, "node_modules"))) {
    if (entry === "@llm-sentinel" || entry.startsWith(".")) continue
    symlinkSync(join(repo, "node_modules", entry), join(modules, entry))
  }
  const tsc = join(repo, "node_modules", "typescript", "bin", "tsc")
  mkdirSync(out, { recursive: true })
  for (const f of readdirSync(out)) if (/^llm-sentinel-.*\.tgz$/.test(f)) rmSync(join(out, f))

  const tarballs: Array<string> = []
  for (const pkg of packages) {
    const source = sources[pkg]
    const stage = join(work, pkg)
    cpSync(join(repo, "packages", pkg, "src"), join(stage, "src"), {
      recursive: true,
      filter: (f) => !/\.test\.ts$/.test(f)
    })
    const dashboard = join(repo, "packages", pkg, "dashboard")
    if (existsSync(dashboard)) cpSync(dashboard, join(stage, "dashboard"), { recursive: true })
    const readme = join(repo, "packages", pkg, "README.md")
    if (existsSync(readme)) cpSync(readme, join(stage, "README.md"))
    cpSync(join(repo, "LICENSE"), join(stage, "LICENSE"))
    writeFileSync(
      join(stage, "tsconfig.json"),
      JSON.stringify(
        {
          extends: join(repo, "tsconfig.json"),
          compilerOptions: {
            noEmit: false,
            declaration: true,
            declarationMap: true,
            sourceMap: true,
            rootDir: "src",
            outDir: "dist"
          },
          include: ["src/**/*.ts"],
          exclude: []
        },
        null,
        2
      )
    )
    const published = manifest(pkg, source, version)
    writeFileSync(join(stage, "package.json"), `${JSON.stringify(published, null, 2)}\n`)
    run(process.execPath, [tsc, "-p", join(stage, "tsconfig.json")], stage)

    const dist = join(stage, "dist")
    const files = walk(dist)
    const undeclared = new Set<string>()
    const declared = new Set([...Object.keys(published.dependencies ?? {}), ...Object.keys(published.peerDependencies)])
    for (const f of files) {
      const p = join(dist, f)
      if (f.endsWith(".d.ts")) writeFileSync(p, rewriteDeclaration(readFileSync(p, "utf8")))
      if (f.endsWith(".js")) {
        const js = readFileSync(p, "utf8")
        if (/^\s*(import|export)\b[^\n]*["']\.\.?\/[^"']*\.ts["']/m.test(js))
          fail(`${pkg}/dist/${f} still imports a .ts file`)
        for (const dep of importsOf(js)) if (dep !== published.name && !declared.has(dep)) undeclared.add(dep)
      }
    }
    if (undeclared.size > 0) fail(`${source.name} imports undeclared packages: ${[...undeclared].join(", ")}`)
    for (const bin of Object.values(published.bin ?? {})) {
      const p = join(stage, bin)
      if (!readFileSync(p, "utf8").startsWith("#!/usr/bin/env node\n")) fail(`${bin} has no node shebang`)
      chmodSync(p, 0o755)
    }
    symlinkSync(stage, join(modules, "@llm-sentinel", pkg))

    const [packed] = JSON.parse(
      run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", out], stage)
    ) as Array<{ filename: string; files: Array<{ path: string }> }>
    if (packed === undefined) fail(`npm pack printed nothing for ${pkg}`)
    const inside = (packed as { files: Array<{ path: string }> }).files.map((f) => f.path)
    const stray = inside.filter((f) => /(^|\/)test\/|\.test\.|tsconfig/.test(f))
    if (stray.length > 0) fail(`${pkg}'s tarball holds ${stray.join(", ")}`)
    const tarball = join(out, (packed as { filename: string }).filename.replace(/^@/, "").replace("/", "-"))
    if (!existsSync(tarball)) fail(`npm pack did not write ${tarball}`)
    tarballs.push(tarball)
    console.log(`${relative(process.cwd(), tarball)}  (${inside.length} files)`)
  }
  if (keep) console.log(`staging kept in ${work}`)
  else rmSync(work, { recursive: true, force: true })
  console.log(`packed ${tarballs.length} packages at ${version} in ${Math.round(performance.now() - started)} ms`)
}
