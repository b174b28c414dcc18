// Generates docs/configuration.md, the reference of `sentinel serve --config FILE`, from the configuration's
// Schema (packages/server/src/Config.ts): every key with its type and constraints (from the Schema's JSON
// Schema) and its documentation (the JSDoc of the field where it is declared). `--check` fails when the
// committed reference is out of date, so CI catches a Schema change without a regenerated reference.
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Schema } from "effect"
import * as Config from "../packages/server/src/Config.ts"

const root = join(import.meta.dirname, "..")
const out = join(root, "docs", "configuration.md")

const docsOf = (file: string): Map<string, string> => {
  const text = readFileSync(join(root, file), "utf8")
  const docs = new Map<string, string>()
  for (const m of text.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*\n\s*(\w+):/g)) {
    const doc = m[1]!
      .split("\n")
      .map((l) => l.replace(/^\s*\*\s?/, "").trim())
      .filter((l) => l.length > 0 && !l.startsWith("@"))
      .join(" ")
    if (!docs.has(m[2]!)) docs.set(m[2]!, doc)
  }
  return docs
}
const own = docsOf("packages/server/src/Config.ts")
const adapters: Record<string, Map<string, string>> = {
  webhook: docsOf("packages/adapters/src/Webhook.ts"),
  slack: docsOf("packages/adapters/src/Slack.ts"),
  influxdb: docsOf("packages/adapters/src/Influx.ts"),
  nats: docsOf("packages/adapters/src/Nats.ts")
}

type Json = { readonly [k: string]: unknown }
const document = Schema.toJsonSchemaDocument(Config.Config) as unknown as {
  readonly definitions: Record<string, Json>
}
const deref = (s: Json): Json =>
  typeof s.$ref === "string" ? deref(document.definitions[s.$ref.split("/").pop()!] ?? {}) : s

const typeOf = (s0: Json): string => {
  const s = deref(s0)
  if (Array.isArray(s.anyOf)) {
    if (typeof s.description === "string") return s.description
    return (s.anyOf as Array<Json>).map(typeOf).join(" or ")
  }
  if (Array.isArray(s.enum)) return (s.enum as Array<unknown>).map((v) => `\`${JSON.stringify(v)}\``).join(", ")
  const limits: Array<string> = []
  if (typeof s.minimum === "number") limits.push(`≥ ${s.minimum}`)
  if (typeof s.exclusiveMinimum === "number") limits.push(`> ${s.exclusiveMinimum}`)
  if (typeof s.maximum === "number" && s.maximum < 9007199254740991) limits.push(`≤ ${s.maximum}`)
  if (typeof s.minLength === "number" && s.minLength > 0) limits.push("non-empty")
  if (typeof s.minItems === "number") limits.push(`at least ${s.minItems}`)
  if (s.type === "array")
    return `list of ${typeOf((s.items as Json) ?? {})}${limits.length ? ` (${limits.join(", ")})` : ""}`
  return `${String(s.type ?? "any")}${limits.length ? ` (${limits.join(", ")})` : ""}`
}

const rows: Array<string> = []
const walk = (s0: Json, path: string, docs: ReadonlyArray<Map<string, string>>, required: boolean): void => {
  const s = deref(s0)
  const key =
    path
      .split(/[.[\]]/)
      .filter((p) => p.length > 0 && p !== "]")
      .pop() ?? ""
  const doc = docs.map((d) => d.get(key)).find((d) => d !== undefined) ?? ""
  const variants = Array.isArray(s.anyOf) ? (s.anyOf as Array<Json>).map(deref) : []
  const tagged = variants.filter((v) => v.type === "object" && (v.properties as Json | undefined)?.type !== undefined)
  if (tagged.length > 0 && tagged.length === variants.length) {
    rows.push(`| \`${path}\` | one of the \`type\`s below${required ? ", required" : ""} | ${doc} |`)
    for (const v of tagged) {
      const t = ((deref((v.properties as Record<string, Json>).type!).enum as Array<string>) ?? [])[0] ?? "?"
      walkObject(v, `${path}{type=${t}}`, [...(adapters[t] === undefined ? [] : [adapters[t]]), own])
    }
    return
  }
  if (s.type === "object" && s.properties !== undefined) {
    if (path !== "") rows.push(`| \`${path}\` | object${required ? ", required" : ""} | ${doc} |`)
    walkObject(s, path, docs)
    return
  }
  if (s.type === "array" && deref((s.items as Json) ?? {}).type === "object") {
    rows.push(`| \`${path}\` | list${required ? ", required" : ""} | ${doc} |`)
    walk(s.items as Json, `${path}[]`, docs, false)
    return
  }
  if (s.type === "array" && Array.isArray(deref((s.items as Json) ?? {}).anyOf)) {
    rows.push(`| \`${path}\` | list${required ? ", required" : ""} | ${doc} |`)
    walk(s.items as Json, `${path}[]`, docs, false)
    return
  }
  rows.push(`| \`${path}\` | ${typeOf(s).replaceAll("|", "\\|")}${required ? ", required" : ""} | ${doc} |`)
}
const walkObject = (s: Json, path: string, docs: ReadonlyArray<Map<string, string>>): void => {
  const required = new Set((s.required as Array<string> | undefined) ?? [])
  for (const [k, v] of Object.entries((s.properties as Record<string, Json>) ?? {})) {
    if (k === "type" && path.includes("{type=")) continue
    walk(v, path === "" ? k : `${path}.${k}`, docs, required.has(k))
  }
}
walk(document.definitions.SentinelConfig!, "", [own], false)

const text = `<!-- generated by \`node scripts/config-reference.ts\` from packages/server/src/Config.ts: do not edit -->
# Configuration reference

\`sentinel serve --config FILE\` reads YAML (or JSON for \`.json\`). Precedence: the file, then \`SENTINEL_<SECTION>_<KEY>\`
environment variables (\`SENTINEL_SERVER_PORT=8080\`, \`SENTINEL_SERVER_TLS_CERT=…\`, values read as YAML scalars), then
flags. Unknown keys are errors; every error names its path (\`detectors[2].params.window\`), what was expected and the
value found. \`sentinel check-config\` prints the effective configuration with secrets redacted and exits 1 on any
problem. [sentinel.example.yaml](../sentinel.example.yaml) sets every section. \`{type=…}\` marks the keys of one
variant of a section chosen by its \`type\`; detector \`params\` are checked against the detector's own parameters
(see the detectors' reference).

| key | type | meaning |
|---|---|---|
${rows.join("\n")}
`

if (process.argv.includes("--check")) {
  let current = ""
  try {
    current = readFileSync(out, "utf8")
  } catch {}
  if (current !== text) {
    console.error("docs/configuration.md is out of date: run node scripts/config-reference.ts")
    process.exit(1)
  }
} else {
  writeFileSync(out, text)
  console.log(`wrote ${out} (${rows.length} keys)`)
}
