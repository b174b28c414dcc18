import { spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { type AddressInfo, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Serve from "../src/Serve.ts"

const bin = join(import.meta.dirname, "..", "src", "bin.ts")
const sentinel = (...args: ReadonlyArray<string>) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 30_000 })

describe("sentinel command line", () => {
  it("recognises loopback addresses", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) assert.isTrue(Serve.isLoopback(h), h)
    for (const h of ["0.0.0.0", "10.0.0.1", "::", "example.com", "127.0.0.1 ", " localhost", "127.0.0.256"]) {
      assert.isFalse(Serve.isLoopback(h), JSON.stringify(h))
    }
  })

  it("refuses a host with spaces instead of passing it as loopback", () => {
    const run = sentinel(
      "serve",
      "--host",
      "127.0.0.1 ",
      "--port",
      "0",
      "--data-dir",
      mkdtempSync(join(tmpdir(), "s-"))
    )
    assert.strictEqual(run.status, 1)
    assert.match(
      run.stderr,
      /^sentinel: ConfigError: invalid configuration:\n {2}server\.host: expected no spaces, got "127\.0\.0\.1 " \(from --host\)/
    )
  })

  it("says which address is in use, in one line and exit 1", async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve))
    const port = (blocker.address() as AddressInfo).port
    try {
      const run = spawnSync(
        process.execPath,
        [bin, "serve", "--port", String(port), "--data-dir", mkdtempSync(join(tmpdir(), "s-"))],
        { encoding: "utf8", timeout: 30_000 }
      )
      assert.strictEqual(run.status, 1)
      assert.include(run.stderr, `sentinel: cannot listen on 127.0.0.1:${port}: the address is already in use`)
      assert.notMatch(run.stderr, /\n\s+at /)
    } finally {
      blocker.close()
    }
  })

  it("refuses a non-loopback address without --allow-unauthenticated, in one line and exit 1", () => {
    const run = sentinel("serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", mkdtempSync(join(tmpdir(), "s-")))
    assert.strictEqual(run.status, 1)
    assert.match(run.stderr, /^sentinel: ServeConfigError: 0\.0\.0\.0 is not a loopback address/)
    assert.notMatch(run.stderr, /\n\s+at /) // no stack trace for an expected error
  })

  it("names the parameter of an invalid window", () => {
    const run = sentinel("serve", "--window", "0 seconds", "--data-dir", mkdtempSync(join(tmpdir(), "s-")))
    assert.strictEqual(run.status, 1)
    assert.match(run.stderr, /size must be a positive whole number of milliseconds, got 0 seconds/)
  })

  it("prints help and exits 0; a flag it cannot read is an error", () => {
    const help = sentinel("serve", "--help")
    assert.strictEqual(help.status, 0)
    assert.match(help.stdout, /--checkpoint-every/)
    const bad = sentinel("serve", "--port", "abc")
    assert.strictEqual(bad.status, 1)
    assert.match(bad.stdout + bad.stderr, /Invalid value for flag --port/)
  })

  it("check-config prints the effective configuration with secrets redacted, and exits 1 naming the path", () => {
    const dir = mkdtempSync(join(tmpdir(), "s-"))
    const file = join(dir, "sentinel.yaml")
    writeFileSync(
      file,
      "server:\n  port: 8123\nsinks:\n  - { type: webhook, url: 'http://127.0.0.1:9/x', secret: hush-hush }\n"
    )
    const ok = sentinel("check-config", "--config", file, "--window", "10 seconds")
    assert.strictEqual(ok.status, 0, ok.stderr)
    const printed = JSON.parse(ok.stdout)
    assert.strictEqual(printed.server.port, 8123)
    assert.strictEqual(printed.pipeline.window, "10000 millis")
    assert.strictEqual(printed.sinks[0].secret, "<redacted>")
    assert.notInclude(ok.stdout, "hush-hush")
    writeFileSync(file, "detectors:\n  - type: mad\n    params: { window: 0 }\n")
    const bad = sentinel("check-config", "--config", file)
    assert.strictEqual(bad.status, 1)
    assert.match(bad.stderr, /detectors\[0\]\.params\.window: expected a value greater than 0, got 0/)
  })

  it("serve applies auth.keys: a key whose environment variable is not set stops it, naming the variable", () => {
    const dir = mkdtempSync(join(tmpdir(), "s-"))
    const file = join(dir, "sentinel.json")
    writeFileSync(
      file,
      JSON.stringify({ auth: { keys: [{ name: "k", scopes: ["read"], env: "SENTINEL_TEST_UNSET_KEY" }] } })
    )
    const run = sentinel("serve", "--config", file, "--port", "0", "--data-dir", dir)
    assert.strictEqual(run.status, 1)
    assert.match(run.stderr, /the environment variable SENTINEL_TEST_UNSET_KEY is not set/)
  })
})
