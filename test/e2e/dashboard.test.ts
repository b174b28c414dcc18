// End to end: the dashboard of the real `sentinel` binary in headless Chromium (Debian's `chromium`, driven by
// playwright-core through `executablePath`; the test fails, never skips, when the browser is missing). The page
// first shows the empty state with a curl example; then two services post 30 minutes of events into 10-second
// windows, `search` with a latency spike at minute 25. Without a reload the series appear, the spiked series
// gets an alert in the feed, and clicking it charts it with the anomaly marker. A screenshot is kept in
// test/artifacts/dashboard.png (gitignored).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { chromium } from "playwright-core"
import { killAll, mulberry32, postNdjson, root, start, stop } from "./sentinel.ts"

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0)
const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

afterAll(() => killAll())

describe("dashboard (headless Chromium)", () => {
  it("shows the empty state, then live series, the alert and the anomaly marker without a reload", async () => {
    assert.isTrue(existsSync(executablePath), `Chromium is missing at ${executablePath}: apt-get install -y chromium`)
    const dataDir = mkdtempSync(join(tmpdir(), "sentinel-e2e-dashboard-"))
    const server = await start(dataDir, [
      "--window",
      "10 seconds",
      "--max-delay",
      "5 seconds",
      "--idle-timeout",
      "10 minutes"
    ])
    const browser = await chromium.launch({
      executablePath,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
      const errors: Array<string> = []
      page.on("pageerror", (e) => errors.push(String(e)))
      page.on("console", (m) => {
        if (m.type() === "error" && !m.text().includes("404")) errors.push(m.text())
      })
      const res = await page.goto(server.url)
      assert.strictEqual(res?.status(), 200)
      assert.include(res?.headers()["content-security-policy"] ?? "", "script-src 'self'")
      await page.locator("#empty").waitFor({ state: "visible", timeout: 10_000 })
      assert.include(await page.locator("#curl").textContent(), `${server.url}/v1/events`)

      const random = mulberry32(7)
      const events: Array<Record<string, unknown>> = []
      for (let s = 0; s < 30 * 60; s++) {
        for (const service of ["chat", "search"]) {
          const spike = service === "search" && s >= 25 * 60 && s < 25 * 60 + 20
          events.push({
            timestamp: T0 + s * 1000,
            service,
            model: "gpt-4o",
            latencyMs: Math.round(spike ? 3000 + random() * 100 : 480 + random() * 40),
            inputTokens: 200,
            outputTokens: 300
          })
        }
      }
      await postNdjson(server.url, events)

      const id = "search/gpt-4o/latency.p95"
      // the series list and the alert feed update by themselves
      await page.locator(`#series li[data-id="${id}"]`).waitFor({ timeout: 20_000 })
      assert.isTrue(await page.locator("#empty").isHidden())
      await page.locator("#alerts li", { hasText: "search/gpt-4o/" }).first().waitFor({ timeout: 20_000 })

      // server-side filtering: only `search` series left
      await page.fill("#filters input[name=service]", "search")
      await page.locator('#series li:not([data-id^="search/"])').first().waitFor({ state: "detached", timeout: 10_000 })

      await page.click(`#series li[data-id="${id}"]`)
      await page.locator("#chart canvas").waitFor({ timeout: 10_000 })
      // the page's CSP forbids string evaluation, so the marker count is read from an attribute
      await page.locator('#chart[data-anomalies]:not([data-anomalies="0"])').waitFor({ timeout: 10_000 })
      assert.include(await page.locator("#chart-head").textContent(), id)

      mkdirSync(join(root, "test", "artifacts"), { recursive: true })
      await page.screenshot({ path: join(root, "test", "artifacts", "dashboard.png"), fullPage: true })
      assert.deepStrictEqual(errors, [])
    } finally {
      await browser.close()
      await stop(server)
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 60_000)
})
