// The store compliance suite (test/compliance/stores.ts) on the in-memory stores: the same behaviour as the
// embedded SQLite store (packages/server/test/StoreCompliance.test.ts) and PostgreSQL (test/integration/postgres.test.ts).
import { Layer } from "effect"
import { storeCompliance } from "../../../test/compliance/stores.ts"
import * as AnomalyStore from "../src/AnomalyStore.ts"
import * as StateStore from "../src/StateStore.ts"

storeCompliance("memory", () => Layer.merge(AnomalyStore.layerMemory, StateStore.layerMemory))
