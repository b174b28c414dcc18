import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { File } from "@llm-sentinel/adapters"
import { Effect, Stream } from "effect"

const dir = mkdtempSync(join(tmpdir(), "sentinel-file-"))
const write = (name: string, text: string | Uint8Array): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

describe("File", () => {
  it.effect("lines: CRLF, final line without newline, reads split across chunks", () =>
    Effect.gen(function* () {
      const path = write("lines.txt", "alpha\r\nbeta\n\ngamma delta\nlast")
      const got = yield* Stream.runCollect(File.lines(path, { chunkSize: 3 }))
      assert.deepStrictEqual(got, ["alpha", "beta", "", "gamma delta", "last"])
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("lines: multi-byte characters split between reads survive", () =>
    Effect.gen(function* () {
      const path = write("utf8.txt", "é→✓\n😀x\n")
      const got = yield* Stream.runCollect(File.lines(path, { chunkSize: 1 }))
      assert.deepStrictEqual(got, ["é→✓", "😀x"])
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("ndjson: parses each non-blank line, in order, in large chunks", () =>
    Effect.gen(function* () {
      const rows = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ i, s: `r${i}` }))
      const path = write("many.ndjson", `${rows.join("\n")}\n\n`)
      const chunks = yield* Stream.runCollect(Stream.chunks(File.ndjson(path)))
      const values = chunks.flat() as Array<{ i: number }>
      assert.strictEqual(values.length, 5000)
      assert.isTrue(values.every((v, i) => v.i === i))
      assert.isBelow(chunks.length, 5, "one chunk per read, not per line")
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("ndjson: a malformed line fails with its 1-based line number", () =>
    Effect.gen(function* () {
      const path = write("bad.ndjson", '{"a":1}\n\n{"a":\n')
      const error = yield* Effect.flip(Stream.runCollect(File.ndjson(path)))
      assert.strictEqual(error._tag, "FileError")
      assert.strictEqual(error.reason._tag, "MalformedLine")
      assert.strictEqual(error.reason._tag === "MalformedLine" ? error.reason.line : -1, 3)
      assert.isFalse(error.isRetryable)
      assert.include(error.message, "bad.ndjson:3:")
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("a missing file is a ReadFailed FileError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Stream.runCollect(File.lines(join(dir, "nope.txt"))))
      assert.strictEqual(error.reason._tag, "ReadFailed")
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it("parseCsvLine: RFC 4180 quoting within a line", () => {
    assert.deepStrictEqual(File.parseCsvLine("a,b,,c"), ["a", "b", "", "c"])
    assert.deepStrictEqual(File.parseCsvLine('a,"b,c",""""'), ["a", "b,c", '"'])
    assert.deepStrictEqual(File.parseCsvLine('"x",'), ["x", ""])
    assert.deepStrictEqual(File.parseCsvLine('"say ""hi""";2', ";"), ['say "hi"', "2"])
    assert.isString(File.parseCsvLine('a,"open'))
  })

  it.effect("csvRows: header included, blank lines skipped", () =>
    Effect.gen(function* () {
      const path = write("rows.csv", 'time,value\r\n1,"2.5"\n\n2,3\n')
      const got = yield* Stream.runCollect(File.csvRows(path))
      assert.deepStrictEqual(got, [
        ["time", "value"],
        ["1", "2.5"],
        ["2", "3"]
      ])
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.effect("csv: records keyed by header; a ragged row fails with its line", () =>
    Effect.gen(function* () {
      const ok = write("ok.csv", "time,value\n1,2\n3,4")
      assert.deepStrictEqual(yield* Stream.runCollect(File.csv(ok)), [
        { time: "1", value: "2" },
        { time: "3", value: "4" }
      ])
      const ragged = write("ragged.csv", "time,value\n1,2\n3\n")
      const error = yield* Effect.flip(Stream.runCollect(File.csv(ragged)))
      assert.include(error.message, "ragged.csv:3: expected 2 fields")
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )
})
