// The store compliance suite (test/compliance/stores.ts) on the embedded SQLite store; test/integration/postgres.test.ts runs the same suite on PostgreSQL.
import { storeCompliance } from "../../../test/compliance/stores.ts"
import * as EmbeddedStore from "../src/EmbeddedStore.ts"

storeCompliance("embedded (SQLite)", () => EmbeddedStore.layer({ path: ":memory:" }))
