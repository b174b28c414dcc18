// End to end: the dashboard of the real `sentinel` binary with API keys configured, in headless Chromium. The
// page first gets 401s and asks for a key; a wrong key is refused; with a read key it shows the series, keeps the
// key in sessionStorage only (never in a URL), and opens the alert stream (when the server has it) with a
// stream token. A
// screenshot of the key form is kept in test/artifacts/dashboard-key.png (gitignored).
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { chromium } from "playwright-core"
import { killAll, root, start, stop } from "./sentinel.ts"

const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"
const readKey = "sntl_dashboard-read-key-0123456789"
const ingestKey = "sntl_collector-ingest-key-0123456789"
const sha = (s: string) => createHash("sha256").update(s).digest("hex")

afterAll(() => killAll())

describe("dashboard with API keys (headless Chromium)", () => {
  it("asks for a key, refuses a wrong one, then shows the series with a read key", async () => {
    assert.isTrue(existsSync(executablePath), `Chromium is missing at ${executablePath}: apt-get install -y chromium`)
    const dataDir = mkdtempSync(join(tmpdir(), "sentinel-e2e-dashboard-auth-"))
    const config = join(dataDir, "sentinel.json")
    writeFileSync(
      config,
      JSON.stringify({
        auth: {
          keys: [
            { name: "dashboard", scopes: ["read"], sha256: sha(readKey) },
            { name: "collector", scopes: ["ingest"], sha256: sha(ingestKey) }
          ]
        }
      })
    )
    const server = await start(dataDir, ["--config", config, "--window", "10 seconds", "--max-delay", "1 second"])
    const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu", "--no-first-run"] })
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 700 } })
      const urls: Array<string> = []
      page.on("request", (r) => urls.push(r.url()))
      const errors: Array<string> = []
      page.on("pageerror", (e) => errors.push(String(e)))
      assert.strictEqual((await page.goto(server.url))?.status(), 200)
      await page.locator("#login").waitFor({ state: "visible", timeout: 10_000 })
      mkdirSync(join(root, "test", "artifacts"), { recursive: true })
      await page.screenshot({ path: join(root, "test", "artifacts", "dashboard-key.png") })

      await page.fill("#key", "sntl_not-a-key-of-this-server-000")
      await page.click("#login button")
      await page.locator("#login-error", { hasText: "not valid" }).waitFor({ timeout: 10_000 })

      const now = Date.now()
      const events = Array.from({ length: 60 }, (_, i) => ({
        timestamp: now - 120_000 + i * 2000,
        service: "chat",
        model: "gpt-4o",
        latencyMs: 400 + (i % 5)
      }))
      const posted = await fetch(`${server.url}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${ingestKey}` },
        body: JSON.stringify(events)
      })
      assert.strictEqual(posted.status, 202)

      await page.fill("#key", readKey)
      await page.click("#login button")
      await page.locator("#login").waitFor({ state: "hidden", timeout: 10_000 })
      await page.locator('#series li[data-id="chat/gpt-4o/latency.p95"]').waitFor({ timeout: 20_000 })
      assert.strictEqual(await page.evaluate(() => sessionStorage.getItem("sentinel.apiKey")), readKey)
      assert.include(await page.locator("#curl").textContent(), "authorization: Bearer $SENTINEL_INGEST_KEY")
      // the alert stream (once the server has it) is opened with a stream token, never with the key
      for (const u of urls.filter((u) => u.includes("/v1/stream/alerts"))) assert.include(u, "?access_token=")
      for (const u of urls) assert.notInclude(u, readKey)
      assert.deepStrictEqual(errors, [])
    } finally {
      await browser.close()
      await stop(server)
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 60_000)
})
