// The alert log compliance suite (test/compliance/alertlog.ts) in memory and on the embedded SQLite store;
// test/integration/postgres.test.ts runs the same suite on PostgreSQL.
import { Layer } from "effect"
import { alertLogCompliance } from "../../../test/compliance/alertlog.ts"
import * as AlertLog from "../src/AlertLog.ts"
import * as EmbeddedStore from "../src/EmbeddedStore.ts"

alertLogCompliance("memory", () => AlertLog.layerMemory)
alertLogCompliance("embedded (SQLite)", () =>
  AlertLog.layerEmbedded.pipe(Layer.provide(EmbeddedStore.layer({ path: ":memory:" })))
)
