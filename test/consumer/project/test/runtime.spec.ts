// The consumer test runs this project's tests once per Node version and names the one it expects.
import { expect, it } from "vitest"

it("runs on the Node the consumer test asked for", () => {
  expect(process.version).toBe(process.env.SENTINEL_CONSUMER_NODE)
})
