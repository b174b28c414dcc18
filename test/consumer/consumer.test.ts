// The packages as a user gets them: `scripts/pack.ts` builds and packs every package, then a fresh project in a
// temporary directory outside the repository (its own package.json, a plain tsconfig without
// `allowImportingTsExtensions`, nothing linked) installs the tarballs and, from the npm registry, Effect, fast-check,
// vitest, TypeScript and the lowest Node the packages declare. There it type-checks and runs, on Node 24 and on
// that lowest Node: the README's compose example, a whole pipeline over an NDJSON file with a custom sink layer,
// a user detector's law tests under vitest (and one built from /toolkit, and a broken detector the installed law
// suite must catch), and the `sentinel` bin. A registry that cannot be reached or an install that fails fails this test: it never skips.
import { type ExecFileException, execFile } from "node:child_process"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, dirname, join, relative, resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const repo = resolve(import.meta.dirname, "..", "..")
const fixtures = join(import.meta.dirname, "project")
const readJson = (file: string): Record<string, Record<string, string>> =>
  JSON.parse(readFileSync(join(repo, file), "utf8")) as Record<string, Record<string, string>>

const root = readJson("package.json")
const core = readJson("packages/core/package.json")
const server = readJson("packages/server/package.json")
const pin = (deps: Record<string, string> | undefined, name: string): string => {
  const v = deps?.[name]
  if (v === undefined) throw new Error(`the repository does not pin ${name}`)
  return v
}
// The lowest Node the packages declare: ">=22.19" → 22.19.0.
const engine = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(core.engines?.node ?? "")
if (engine === null) throw new Error(`unexpected engines.node in packages/core: ${core.engines?.node}`)
const lowestNode = `${engine[1]}.${engine[2] ?? 0}.${engine[3] ?? 0}`

let dir = ""
let installed = false
const packages = ["core", "detectors", "adapters", "server"]

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}
/** Runs a command in the consumer project with a clean environment: no vitest or npm variables of ours. */
const sh = (
  file: string,
  args: ReadonlyArray<string>,
  options: { readonly node: string; readonly env?: Record<string, string>; readonly timeout?: number }
): Promise<Ran> => {
  const env: Record<string, string> = {
    PATH: [dirname(options.node), ...(process.env.PATH ?? "").split(delimiter)].join(delimiter),
    HOME: process.env.HOME ?? tmpdir(),
    // what reaching the registry needs on this machine: its CA certificates (a TLS-inspecting proxy), proxies,
    // and a registry or cache chosen by the environment; nothing else of ours
    ...Object.fromEntries(
      Object.entries(process.env).filter(
        (e): e is [string, string] =>
          e[1] !== undefined &&
          /^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|HTTPS?_PROXY|NO_PROXY|npm_config_(cache|registry|proxy|https_proxy|noproxy|cafile|strict_ssl))$/i.test(
            e[0]
          )
      )
    ),
    ...(process.env.CI !== undefined ? { CI: process.env.CI } : {}),
    ...options.env
  }
  return new Promise((done) =>
    execFile(
      file,
      args,
      { cwd: dir, env, timeout: options.timeout ?? 120_000, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
      (error: ExecFileException | null, stdout: string, stderr: string) =>
        done({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    )
  )
}
const ok = (r: Ran, what: string): Ran => {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`)
  return r
}

/** NDJSON telemetry: 20 minutes of one call per second, a 10-second p95 spike at minute 12, one invalid record. */
const events = (): string => {
  const t0 = Date.parse("2026-11-26T09:00:00Z")
  const lines = Array.from({ length: 1200 }, (_, i) =>
    JSON.stringify({
      timestamp: new Date(t0 + i * 1000).toISOString(),
      service: "search",
      model: "gpt-4o-mini",
      latencyMs: i >= 720 && i < 730 ? 4000 : 400 + ((i * 37) % 50)
    })
  )
  lines.splice(600, 0, JSON.stringify({ service: "search", latencyMs: -1 }))
  return `${lines.join("\n")}\n`
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sentinel-consumer-"))
  if (!relative(repo, dir).startsWith("..")) throw new Error(`${dir} is inside the repository`)
  const tarballs = join(dir, "tarballs")
  ok(
    await sh(process.execPath, [join(repo, "scripts", "pack.ts"), "--out", tarballs], { node: process.execPath }),
    "pack"
  )
  const tgz = (pkg: string) => {
    const f = readdirSync(tarballs).find((t) => t.startsWith(`llm-sentinel-${pkg}-`) && t.endsWith(".tgz"))
    if (f === undefined) throw new Error(`no tarball for ${pkg} in ${tarballs}`)
    return `file:../tarballs/${f}`
  }
  const project = join(dir, "app")
  mkdirSync(project)
  dir = project
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify(
      {
        name: "sentinel-consumer",
        private: true,
        type: "module",
        dependencies: {
          ...Object.fromEntries(packages.map((p) => [`@llm-sentinel/${p}`, tgz(p)])),
          effect: pin(core.dependencies, "effect"),
          "@effect/platform-node": pin(server.dependencies, "@effect/platform-node")
        },
        devDependencies: {
          "fast-check": pin(root.devDependencies, "fast-check"),
          vitest: pin(root.devDependencies, "vitest"),
          typescript: pin(root.devDependencies, "typescript"),
          "@types/node": pin(root.devDependencies, "@types/node"),
          node: lowestNode
        },
        allowScripts: { node: true, protobufjs: false }
      },
      null,
      2
    )
  )
  // a plain tsconfig as `tsc --init` users have it: no allowImportingTsExtensions, nothing pointing at our sources
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify(
      {
        compilerOptions: {
          target: "es2024",
          lib: ["es2024"],
          module: "nodenext",
          moduleResolution: "nodenext",
          types: ["node"],
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          verbatimModuleSyntax: true,
          skipLibCheck: true,
          rootDir: ".",
          outDir: "dist"
        },
        include: ["src/**/*.ts", "test/**/*.ts"]
      },
      null,
      2
    )
  )
  // the README's example and the custom detector as they are in examples/; a user's imports end in `.js`
  const copy = (from: string, to: string, rewrite: (s: string) => string = (s) => s) => {
    mkdirSync(dirname(join(dir, to)), { recursive: true })
    writeFileSync(join(dir, to), rewrite(readFileSync(join(repo, from), "utf8")))
  }
  copy("examples/compose-pipeline/main.ts", "src/compose.ts")
  copy("examples/custom-detector/TokenBudget.ts", "src/TokenBudget.ts")
  copy("examples/custom-detector/TokenBudget.test.ts", "test/TokenBudget.spec.ts", (s) =>
    s.replace('from "./TokenBudget.ts"', 'from "../src/TokenBudget.js"')
  )
  cpSync(fixtures, dir, { recursive: true })
  writeFileSync(join(dir, "events.ndjson"), events())

  const install = await sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], {
    node: process.execPath,
    timeout: 240_000
  })
  ok(install, "npm install (tarballs, and Effect, vitest, TypeScript, Node from the npm registry)")
  installed = true
}, 300_000)

afterAll(() => {
  if (dir !== "" && !process.env.SENTINEL_KEEP_CONSUMER) rmSync(dirname(dir), { recursive: true, force: true })
})

describe("the packed packages, installed in a fresh project outside the repository", () => {
  it("hold built JavaScript with declarations, no sources to strip and no tests", () => {
    expect(installed).toBe(true)
    for (const p of packages) {
      const at = join(dir, "node_modules", "@llm-sentinel", p)
      expect(existsSync(join(at, "dist", "index.js")), `${p}/dist/index.js`).toBe(true)
      expect(existsSync(join(at, "dist", "index.d.ts")), `${p}/dist/index.d.ts`).toBe(true)
      expect(existsSync(join(at, "test")), `${p} ships test/`).toBe(false)
      const manifest = JSON.parse(readFileSync(join(at, "package.json"), "utf8")) as {
        version: string
        exports: Record<string, unknown>
        peerDependencies: Record<string, string>
      }
      expect(manifest.version).toBe(core.version)
      expect(manifest.exports["./internal/*"]).toBeNull()
      expect(manifest.peerDependencies.effect).toBeDefined()
    }
    // a symlink would mean the project reaches into the repository
    expect(relative(repo, join(dir, "node_modules", "@llm-sentinel", "core")).startsWith("..")).toBe(true)
  })

  it("type-check with a plain tsconfig, and the shipped declarations have no errors of their own", async () => {
    const tsc = join(dir, "node_modules", "typescript", "bin", "tsc")
    ok(await sh(process.execPath, [tsc, "-p", "."], { node: process.execPath }), "tsc -p .")
    // without skipLibCheck the other libraries' declarations have errors of their own (effect's crypto modules
    // need the DOM lib, @datadog/sketches-js's protobuf types): ours must have none
    const strict = await sh(process.execPath, [tsc, "-p", ".", "--noEmit", "--skipLibCheck", "false"], {
      node: process.execPath
    })
    const ours = strict.stdout.split("\n").filter((l) => l.includes("@llm-sentinel/"))
    expect(ours).toEqual([])
  }, 120_000)

  const runtimes = [
    { label: `Node 24 (${process.version})`, node: () => process.execPath, version: process.version },
    {
      label: `Node ${lowestNode}, the lowest the packages declare`,
      node: () => join(dir, "node_modules", "node", "bin", "node"),
      version: `v${lowestNode}`
    }
  ]
  it("runs on Node 24 itself", () => expect(process.version).toMatch(/^v24\./))

  describe.each(runtimes)("on $label", ({ node, version }) => {
    it("is that Node", async () => {
      const r = ok(await sh(node(), ["--version"], { node: node() }), "node --version")
      expect(r.stdout.trim()).toBe(version)
    })

    it("runs the README's compose example (examples/compose-pipeline)", async () => {
      const r = ok(await sh(node(), ["dist/src/compose.js"], { node: node() }), "compose example")
      expect(r.stdout.trim().split("\n")).toEqual([
        expect.stringMatching(/^2026-11-26T09:12:00\.000Z search\/gpt-4o-mini\/latency\.p95: z=/)
      ])
      expect(r.stderr).toMatch(/dead letter: .*latencyMs/)
    })

    it("runs a whole pipeline over an NDJSON file with a custom sink layer", async () => {
      const out = `anomalies-${version}.ndjson`
      const r = ok(
        await sh(node(), ["dist/src/filePipeline.js", "events.ndjson", out], { node: node() }),
        "file pipeline"
      )
      const summary = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "") as {
        stats: { received: number; decoded: number; deadLettered: number; anomalies: number }
        deadLetters: Array<Array<{ path: string }>>
        alerts: Array<string>
      }
      expect(summary.stats).toMatchObject({ received: 1201, decoded: 1200, deadLettered: 1, anomalies: 1 })
      expect(summary.deadLetters[0]?.map((e) => e.path)).toContain("latencyMs")
      expect(summary.alerts).toEqual(["opened", "resolved"])
      const written = readFileSync(join(dir, out), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { series: { id: string }; time: number; detector: string })
      expect(written.map((a) => [a.series.id, new Date(a.time).toISOString(), a.detector])).toEqual([
        ["search/gpt-4o-mini/latency.p95", "2026-11-26T09:12:00.000Z", "zscore"]
      ])
    })

    it("runs a user detector's law tests under vitest, and the law suite catches a broken one", async () => {
      const report = `vitest-${version}.json`
      const r = await sh(
        node(),
        [
          join(dir, "node_modules", "vitest", "vitest.mjs"),
          "run",
          "--dir",
          "test",
          "--reporter=json",
          `--outputFile=${report}`
        ],
        { node: node(), env: { SENTINEL_CONSUMER_NODE: version }, timeout: 180_000 }
      )
      ok(r, "vitest run in the consumer")
      const results = JSON.parse(readFileSync(join(dir, report), "utf8")) as {
        numFailedTests: number
        numPassedTests: number
        testResults: Array<{ name: string; assertionResults: Array<{ title: string; status: string }> }>
      }
      const passed = results.testResults.flatMap((f) =>
        f.assertionResults.filter((a) => a.status === "passed").map((a) => a.title)
      )
      expect(results.numFailedTests).toBe(0)
      for (const law of [
        "determinism",
        "snapshotRestore",
        "sensitivity",
        "adaptation",
        "boundedState",
        "scaleInvariance"
      ]) {
        expect(passed).toContain(`token-budget:${law}`)
      }
      for (const law of ["determinism", "totality", "snapshotRestore", "sensitivity", "shiftInvariance"]) {
        expect(passed).toContain(`median-jump:${law}`) // the toolkit's user detector
      }
      expect(passed).toContain("catches a detector that cannot see the spike it claims, and passes the laws it keeps")
      expect(passed).toContain("runs on the Node the consumer test asked for")
      // only the project's own tests ran: none of ours came with the packages
      expect(results.testResults.map((f) => relative(dir, f.name)).sort()).toEqual([
        "test/MedianJump.spec.ts",
        "test/TokenBudget.spec.ts",
        "test/caught.spec.ts",
        "test/runtime.spec.ts"
      ])
    }, 200_000)

    it("runs the sentinel bin, and keeps internal modules closed", async () => {
      const help = ok(await sh(node(), ["node_modules/.bin/sentinel", "--help"], { node: node() }), "sentinel --help")
      expect(help.stdout).toMatch(/serve/)
      expect(help.stdout).toMatch(/replay/)
      const internal = await sh(
        node(),
        ["--input-type=module", "-e", 'await import("@llm-sentinel/core/internal/isoTime")'],
        {
          node: node()
        }
      )
      expect(internal.code).not.toBe(0)
      expect(internal.stderr).toMatch(/ERR_PACKAGE_PATH_NOT_EXPORTED/)
    })
  })
})
