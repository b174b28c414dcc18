/**
 * The ingest journal: an append-only log of accepted batches on local disk, so that nothing the HTTP ingest
 * accepted (answered 202) is lost when the process dies, even by `kill -9`, and nothing in it can stop the
 * server from starting again.
 *
 * **Format.** Segment files `journal/<first position, 16 digits>.journal`, a new one past `maxSegmentBytes`. Each
 * accepted batch is one line:
 *
 * ```text
 * <position> <crc32, 8 hex digits> <JSON array of the batch's records>\n
 * ```
 *
 * The CRC-32 covers `<position> ` and the JSON text, so every record is checked on replay. The records are the
 * request's own NDJSON lines (line endings normalised, never serialized again) or the JSON of the accepted events;
 * either way they are decoded again on replay, through the same decoding as live ingest. Lines are written with
 * one synchronous `write(2)` before the response is sent: once it returns the bytes are in the operating system's
 * page cache, which survives the death of the process (not a power loss or a kernel crash, unless `fsync` is on).
 *
 * **A torn write is not corruption.** A crash can only tear the line being written, so an incomplete line (no
 * `\n`) at the very end of the newest segment is a torn write: it is cut off at start-up, and logged. Anything else
 * that does not check (a bad checksum, a line that is not a record, a position that does not increase, an
 * incomplete line anywhere else) is corruption: the line is **quarantined** (sent to the dead-letter store with its
 * file and byte offset, as a rejected record whose payload is a preview of the bytes) and replay goes on with the
 * next line. Positions only grow: a quarantined tail's positions are not reused. A segment missing between two
 * others, or before the checkpoint's replay position, is reported with the file name it should have.
 *
 * **Disk budget.** The journal holds at most `maxBytes` (default 2 GiB); past it an append fails with reason
 * `Full` (ingest answers 507 with `Retry-After`) until checkpoints let whole segments be deleted.
 *
 * On start-up the server reads the position of the last pipeline checkpoint (`Pipeline.readPosition`) and replays
 * the journal from its `replayFrom`: the open windows of the checkpoint are rebuilt and everything after it is
 * processed again; points of windows fired before the checkpoint are dropped by the restored window clocks, and
 * anomalies carry deterministic ids, so the store holds each once.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { crc32 } from "node:zlib"
import { type Event, EventSource, Pipeline, SourceError, StateStore, type StoreError } from "@llm-sentinel/core"
import {
  type Cause,
  Context,
  type Duration,
  Effect,
  Exit,
  Layer,
  Option,
  Queue,
  Schedule,
  Schema,
  type Scope,
  Stream
} from "effect"

/**
 * A journal operation failed: `Full` when the disk budget is used up (retry once checkpoints free segments), `Io`
 * for the file system (disk full, permissions).
 *
 * @category errors
 * @since 0.1.0
 */
export class JournalError extends Schema.TaggedError<JournalError>("@llm-sentinel/server/JournalError")(
  "JournalError",
  {
    reason: Schema.Literals(["Full", "Io"]),
    message: Schema.String,
    cause: Schema.optionalKey(Schema.Defect())
  }
) {}

/**
 * One journaled batch, read back.
 *
 * @category models
 * @since 0.1.0
 */
export interface Entry {
  readonly _tag: "Entry"
  readonly position: number
  /** The batch's records as written: decode them again. */
  readonly records: ReadonlyArray<unknown>
  /** `journal <file> at byte <offset>`. */
  readonly origin: string
}

/**
 * Something in the journal that could not be replayed: a corrupt line, or a missing segment.
 *
 * @category models
 * @since 0.1.0
 */
export interface Damage {
  readonly _tag: "Damage"
  /** What is wrong, naming the file and byte offset (or the missing file). */
  readonly message: string
  /** `journal <file> at byte <offset>`. */
  readonly origin: string
  /** The first bytes of the damaged line, as text (at most 1 KiB), for whoever inspects the dead letter. */
  readonly preview: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The journal's directory. */
  readonly dir: string
  /** Size at which a new segment starts (default 64 MiB). */
  readonly maxSegmentBytes?: number
  /** The most the journal may hold on disk (default 2 GiB); past it appends fail with reason `Full`. */
  readonly maxBytes?: number
  /** `fsync` after every append: survives power loss, costs a disk flush per request (default false). */
  readonly fsync?: boolean
}

/**
 * The default disk budget of the journal: 2 GiB.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultMaxBytes = 2 * 1024 ** 3

/**
 * @category services
 * @since 0.1.0
 */
export class Journal extends Context.Service<
  Journal,
  {
    /** The position the next append gets. */
    readonly nextPosition: () => number
    /**
     * Appends a batch synchronously; returns its position. With `encoded` (the records' JSON array text, or
     * several JSON array texts that make one array together) the text is written as it is, instead of
     * serializing `events`.
     */
    readonly append: (
      events: ReadonlyArray<Event.TelemetryEvent>,
      encoded?: string | ReadonlyArray<string>
    ) => Effect.Effect<number, JournalError>
    /**
     * Every batch at or after `from`, in order (what was appended before the replay started), and whatever is
     * damaged on the way. Damage never ends the stream.
     */
    readonly replay: (from: number) => Stream.Stream<Entry | Damage, JournalError>
    /** Deletes the segments whose batches all come before `position`. Returns how many were deleted. */
    readonly truncateBefore: (position: number) => Effect.Effect<number, JournalError>
    /** Segment files and their total size, for `/metrics` and readiness. */
    readonly stats: () => { readonly segments: number; readonly bytes: number; readonly maxBytes: number }
  }
>()("@llm-sentinel/server/Journal") {}

const suffix = ".journal"
const segmentName = (first: number) => `${String(first).padStart(16, "0")}${suffix}`

const listSegments = (dir: string): Array<number> =>
  fs
    .readdirSync(dir)
    .filter((f) => /^\d{16}\.journal$/.test(f))
    .map((f) => Number(f.slice(0, 16)))
    .sort((a, b) => a - b)

const hex = (n: number) => n.toString(16).padStart(8, "0")

/** The bytes of one record line. */
export const encodeLine = (position: number, payload: string): Buffer => {
  const line = Buffer.allocUnsafe(lineLength(position, payload))
  encodeInto(line, position, payload)
  return line
}

const lineLength = (position: number, payload: string | ReadonlyArray<string>): number =>
  String(position).length +
  10 +
  (typeof payload === "string" ? Buffer.byteLength(payload) : payload.reduce((n, p) => n + Buffer.byteLength(p), 0)) +
  1

/**
 * Writes one record line at the start of `into` (at least `lineLength` bytes); returns its length. Several
 * JSON arrays are joined into one in place: each is written over the `]` of the one before, which becomes `,`.
 */
const encodeInto = (into: Buffer, position: number, payload: string | ReadonlyArray<string>): number => {
  const head = `${position} `
  const at = head.length + 9
  into.write(head, 0, "latin1")
  let end = at
  if (typeof payload === "string") end += into.write(payload, at, "utf8")
  else {
    for (let i = 0; i < payload.length; i++) {
      if (i > 0) end--
      const from = end
      end += into.write(payload[i]!, from, "utf8")
      if (i > 0) into[from] = 0x2c
    }
  }
  const sum = crc32(into.subarray(at, end), crc32(head))
  into.write(`${hex(sum)} `, head.length, "latin1")
  into[end] = 0x0a
  return end + 1
}

type Parsed =
  | { readonly ok: true; readonly position: number; readonly records: ReadonlyArray<unknown> }
  | { readonly ok: false; readonly reason: string }

const linePattern = /^(\d{1,16}) ([0-9a-f]{8}) /

/** Checks and parses one line (without its `\n`). */
const parseLine = (line: Buffer): Parsed => {
  const head = linePattern.exec(line.subarray(0, 32).toString("latin1"))
  if (head === null) return { ok: false, reason: "not a journal record (no position and checksum)" }
  const body = line.subarray(head[0].length)
  if (crc32(body, crc32(`${head[1]} `)) !== Number.parseInt(head[2]!, 16)) {
    return { ok: false, reason: "checksum mismatch" }
  }
  let records: unknown
  try {
    records = JSON.parse(body.toString("utf8"))
  } catch (e) {
    return { ok: false, reason: `checksum matches but the records are not JSON (${String(e)})` }
  }
  if (!Array.isArray(records)) return { ok: false, reason: "checksum matches but the records are not a JSON array" }
  return { ok: true, position: Number(head[1]), records }
}

const preview = (bytes: Buffer): string => bytes.subarray(0, 1024).toString("utf8")

/**
 * Reads a segment line by line (a line is found by its `\n` only; a `\r` is just a byte), yielding each line's
 * byte offset and bytes; a last line without `\n` is yielded with `complete: false`.
 */
async function* lines(
  file: string
): AsyncGenerator<{ readonly offset: number; readonly bytes: Buffer; readonly complete: boolean }> {
  const handle = await fs.promises.open(file, "r")
  try {
    let carry: Buffer = Buffer.alloc(0)
    let offset = 0
    const chunk = Buffer.allocUnsafe(1024 * 1024)
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null)
      if (bytesRead === 0) break
      let data =
        carry.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([carry, chunk.subarray(0, bytesRead)])
      let start = 0
      let nl = data.indexOf(0x0a)
      while (nl >= 0) {
        yield { offset, bytes: Buffer.from(data.subarray(start, nl)), complete: true }
        offset += nl + 1 - start
        start = nl + 1
        nl = data.indexOf(0x0a, start)
      }
      data = data.subarray(start)
      carry = Buffer.from(data)
    }
    if (carry.length > 0) yield { offset, bytes: carry, complete: false }
  } finally {
    await handle.close()
  }
}

/**
 * What start-up learns from the newest segment: the position after its last record, and the bytes to cut off (a
 * torn last write). Reads the whole segment, once.
 */
const recoverTail = (file: string, first: number): { readonly next: number; readonly cut: number | undefined } => {
  const buf = fs.readFileSync(file)
  let next = first
  let start = 0
  let nl = buf.indexOf(0x0a)
  while (nl >= 0) {
    const parsed = parseLine(buf.subarray(start, nl))
    // a damaged line may have held a position: count it as used, so no position is ever given out twice
    next = parsed.ok ? Math.max(next, parsed.position + 1) : next + 1
    start = nl + 1
    nl = buf.indexOf(0x0a, start)
  }
  return { next, cut: start < buf.length ? start : undefined }
}

const procStart = (pid: number): string | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // fields[0] is the state (Z: a zombie, dead but not reaped), fields[19] the start time since boot
    return fields[0] === "Z" ? "zombie" : fields[19]
  } catch {
    return undefined
  }
}

/** Whether the process that wrote a lock (`<pid> <start time>`) still runs: not a zombie, not a reused pid. */
const ownerAlive = (lockText: string): boolean => {
  const [pidText, started] = lockText.trim().split(" ")
  const pid = Number(pidText)
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false
  try {
    process.kill(pid, 0)
  } catch (e) {
    if ((e as { code?: string }).code !== "EPERM") return false
  }
  const now = procStart(pid)
  if (now === "zombie") return false
  return started === undefined || now === undefined || now === started
}

/**
 * Takes the journal's lock file (`LOCK`, holding the owner's pid and start time) for the layer's lifetime: two
 * processes appending to one journal would interleave positions. A lock left by a process that is gone (after
 * `kill -9`, even before it is reaped, or whose pid was reused) is taken over.
 */
const lock = (dir: string): Effect.Effect<void, JournalError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      const file = path.join(dir, "LOCK")
      fs.mkdirSync(dir, { recursive: true })
      const me = `${process.pid} ${procStart(process.pid) ?? ""}`.trim()
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          fs.writeFileSync(file, me, { flag: "wx" })
          return Effect.succeed(file)
        } catch (e) {
          if ((e as { code?: string }).code !== "EEXIST") {
            return Effect.fail(
              new JournalError({ reason: "Io", message: `cannot lock the journal in ${dir}: ${String(e)}` })
            )
          }
          const owner = fs.readFileSync(file, "utf8")
          if (ownerAlive(owner)) {
            return Effect.fail(
              new JournalError({
                reason: "Io",
                message: `the journal in ${dir} is in use by process ${owner.split(" ")[0]}: run one sentinel per data directory`
              })
            )
          }
          fs.rmSync(file, { force: true }) // left by a process that is gone: take it over
        }
      }
      return Effect.fail(new JournalError({ reason: "Io", message: `cannot lock the journal in ${dir}` }))
    }),
    (file) => Effect.sync(() => fs.rmSync(file, { force: true }))
  ).pipe(Effect.asVoid)

const wrap = <A>(message: string, f: () => A): Effect.Effect<A, JournalError> =>
  Effect.try({
    try: f,
    catch: (cause) =>
      cause instanceof JournalError
        ? cause
        : new JournalError({ reason: "Io", message: `${message}: ${String(cause)}`, cause })
  })

/**
 * Opens (or creates) a journal; the layer closes it. A torn last write is cut off and logged.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<Journal, JournalError> =>
  Layer.effect(
    Journal,
    Effect.gen(function* () {
      const maxSegmentBytes = options.maxSegmentBytes ?? 64 * 1024 * 1024
      const maxBytes = options.maxBytes ?? defaultMaxBytes
      const { dir } = options
      yield* lock(dir)
      const opened = yield* wrap(`cannot open the journal in ${dir}`, () => {
        fs.mkdirSync(dir, { recursive: true })
        const segments = listSegments(dir)
        const last = segments.at(-1)
        let next = 0
        let torn: string | undefined
        if (last !== undefined) {
          const file = path.join(dir, segmentName(last))
          const tail = recoverTail(file, last)
          next = tail.next
          if (tail.cut !== undefined) {
            const size = fs.statSync(file).size
            fs.truncateSync(file, tail.cut)
            torn = `cut a torn write of ${size - tail.cut} bytes at the end of ${segmentName(last)} (byte ${tail.cut}): the process died while writing it, before it was acknowledged`
          }
        }
        const current = last ?? 0
        const fd = fs.openSync(path.join(dir, segmentName(current)), "a")
        let bytes = 0
        for (const s of listSegments(dir)) bytes += fs.statSync(path.join(dir, segmentName(s))).size
        return { next, current, fd, size: fs.fstatSync(fd).size, bytes, torn }
      })
      let { next, current, fd, size, bytes } = opened
      if (opened.torn !== undefined) yield* Effect.logWarning(`journal: ${opened.torn}`)
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.closeSync(fd)))

      // one buffer for every line, reused: appends are synchronous, and fresh memory is slow to touch (a new
      // 200 KB buffer per request costs more than encoding into it)
      const scratch = Buffer.allocUnsafe(4 * 1024 * 1024)
      const append = (events: ReadonlyArray<Event.TelemetryEvent>, encoded?: string | ReadonlyArray<string>) =>
        wrap("cannot append to the journal", () => {
          const position = next
          const payload = encoded ?? JSON.stringify(events)
          const units = typeof payload === "string" ? payload.length : payload.reduce((n, p) => n + p.length, 0)
          // at most 3 bytes per UTF-16 unit: lines that surely fit use the scratch buffer, larger ones their own
          const into = 3 * units + 32 <= scratch.length ? scratch : Buffer.allocUnsafe(lineLength(position, payload))
          const line = into.subarray(0, encodeInto(into, position, payload))
          if (bytes + line.length > maxBytes) {
            throw new JournalError({
              reason: "Full",
              message: `the journal is full (${bytes} of ${maxBytes} bytes); it frees space as checkpoints let old segments go`
            })
          }
          if (size >= maxSegmentBytes) {
            fs.closeSync(fd)
            current = position
            fd = fs.openSync(path.join(dir, segmentName(current)), "a")
            size = 0
          }
          try {
            let written = 0
            while (written < line.length) written += fs.writeSync(fd, line, written)
            if (options.fsync === true) fs.fsyncSync(fd)
          } catch (e) {
            // a short write (disk full) must not leave half a record before the next one
            fs.ftruncateSync(fd, size)
            throw e
          }
          size += line.length
          bytes += line.length
          next = position + 1
          return position
        })

      const damage = (file: string, offset: number, message: string, bytes: Buffer): Damage => ({
        _tag: "Damage",
        message: `${file} at byte ${offset}: ${message}`,
        origin: `journal ${file} at byte ${offset}`,
        preview: preview(bytes)
      })

      // Reads one segment from `from`, checking every line; `state.expected` is the position the next record
      // should have, carried across segments to notice missing ones.
      const readSegment = (
        first: number,
        from: number,
        end: number,
        isLast: boolean,
        state: { expected: number; previous: number }
      ): Stream.Stream<Entry | Damage, JournalError> => {
        const name = segmentName(first)
        return Stream.fromAsyncIterable(
          lines(path.join(dir, name)),
          (cause) => new JournalError({ reason: "Io", message: `cannot read journal segment ${name}`, cause })
        ).pipe(
          Stream.map((line): ReadonlyArray<Entry | Damage> => {
            if (line.bytes.length === 0 && line.complete) return []
            if (!line.complete && !isLast) {
              return [damage(name, line.offset, "incomplete record in the middle of the journal", line.bytes)]
            }
            if (!line.complete) return [] // appended after the replay began: read by nobody yet
            const parsed = parseLine(line.bytes)
            if (!parsed.ok) return [damage(name, line.offset, parsed.reason, line.bytes)]
            if (parsed.position <= state.previous) {
              return [
                damage(
                  name,
                  line.offset,
                  `position ${parsed.position} does not increase (the record before had ${state.previous})`,
                  line.bytes
                )
              ]
            }
            if (parsed.position >= end) return []
            const out: Array<Entry | Damage> = []
            if (parsed.position > state.expected && parsed.position > from) {
              const lostFrom = Math.max(state.expected, from)
              const lost =
                parsed.position - 1 > lostFrom
                  ? `the batches at positions ${lostFrom}–${parsed.position - 1} are`
                  : `the batch at position ${lostFrom} is`
              out.push({
                _tag: "Damage",
                message: `${name} at byte ${line.offset}: ${lost} missing (lost to damage earlier in the journal)`,
                origin: `journal ${name} at byte ${line.offset}`,
                preview: ""
              })
            }
            state.previous = parsed.position
            state.expected = parsed.position + 1
            if (parsed.position >= from) {
              out.push({
                _tag: "Entry",
                position: parsed.position,
                records: parsed.records,
                origin: `journal ${name} at byte ${line.offset}`
              })
            }
            return out
          }),
          Stream.flattenIterable
        )
      }

      const replay = (from: number): Stream.Stream<Entry | Damage, JournalError> =>
        Stream.unwrap(
          wrap("cannot list the journal", () => {
            const end = next
            const segments = listSegments(dir)
            // a segment is needed if the next one starts after `from`
            const needed = segments.filter((_, i) => (segments[i + 1] ?? Number.POSITIVE_INFINITY) > from)
            const state = { expected: from, previous: -1 }
            const missing: Array<Damage> = []
            const first = needed[0]
            if (first !== undefined && first > from) {
              missing.push({
                _tag: "Damage",
                message: `journal segment ${segmentName(from)} is missing: the batches at positions ${from}–${first - 1} (from the checkpoint's replay position on) cannot be replayed`,
                origin: `journal ${segmentName(from)}`,
                preview: ""
              })
              state.expected = first
            }
            if (from > end) {
              missing.push({
                _tag: "Damage",
                message: `the checkpoint's replay position ${from} is past the end of the journal (${end}): the journal was truncated or replaced, nothing to replay`,
                origin: `journal ${dir}`,
                preview: ""
              })
              next = Math.max(next, from) // positions given out from now on stay above the checkpoint's
            }
            return Stream.concat(
              Stream.fromIterable(missing),
              Stream.fromIterable(needed).pipe(
                Stream.flatMap((s) => {
                  const gap: Array<Damage> =
                    s > state.expected && s !== first
                      ? [
                          {
                            _tag: "Damage",
                            message: `journal segment ${segmentName(state.expected)} is missing: the batches at positions ${state.expected}–${s - 1} cannot be replayed`,
                            origin: `journal ${segmentName(state.expected)}`,
                            preview: ""
                          }
                        ]
                      : []
                  if (gap.length > 0) state.expected = s
                  return Stream.concat(
                    Stream.fromIterable(gap),
                    readSegment(s, from, end, s === segments.at(-1), state)
                  )
                })
              )
            )
          })
        )

      const truncateBefore = (position: number) =>
        wrap("cannot truncate the journal", () => {
          const segments = listSegments(dir)
          let deleted = 0
          for (let i = 0; i + 1 < segments.length; i++) {
            const first = segments[i]!
            if (first === current || segments[i + 1]! > position) break
            const file = path.join(dir, segmentName(first))
            const freed = fs.statSync(file).size
            fs.rmSync(file)
            bytes -= freed
            deleted++
          }
          return deleted
        })

      const stats = () => ({ segments: listSegments(dir).length, bytes, maxBytes })

      return { nextPosition: () => next, append, replay, truncateBefore, stats }
    })
  )

/**
 * Turns damage found on replay into a dead letter: a rejected record whose payload is the preview of the bytes.
 *
 * @category constructors
 * @since 0.1.0
 */
export const deadLetterOf = (d: Damage): Event.Rejected => ({
  index: 0,
  errors: [{ path: "", message: `quarantined from the journal: ${d.message}` }],
  payload: d.preview,
  source: d.origin
})

/**
 * A journaled event source: the `EventSource` and `EventQueue` the server's ingest uses. Every batch offered is
 * appended to the journal before it is queued (so a 202 means "on disk"), and carries its journal position. At
 * start-up the source first replays the journal from the last checkpoint's `replayFrom` (see
 * `Pipeline.readPosition`), then serves live batches; damage found on the way is logged and sent to the
 * dead-letter sink with the batches. `onReplayed` runs once every replayed batch has been processed (readiness).
 * Every `truncateEvery` (default 10 s) it deletes the segments the last checkpoint no longer needs.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerSource = (
  options: {
    readonly capacity?: number
    readonly truncateEvery?: Duration.Input
    readonly onReplayed?: Effect.Effect<void>
  } = {}
): Layer.Layer<
  EventSource.EventSource | EventSource.EventQueue,
  StoreError.StoreError,
  Journal | StateStore.StateStore
> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const journal = yield* Journal
      const store = yield* StateStore.StateStore
      const checkpoint = yield* Pipeline.readPosition(store)
      const from = Option.match(checkpoint, { onNone: () => 0, onSome: (p) => p.replayFrom })
      const replayed = journal.nextPosition() - from
      if (replayed > 0) yield* Effect.logInfo(`replaying ${replayed} journaled batches from position ${from}`)
      const queue = yield* Queue.bounded<EventSource.SourceBatch, Cause.Done>(options.capacity ?? 1024)
      let damaged = 0
      const empty: EventSource.SourceBatch = { raw: [], events: [], ack: Effect.void }
      const replay = journal.replay(from).pipe(
        Stream.mapEffect(
          (e): Effect.Effect<EventSource.SourceBatch> =>
            e._tag === "Entry"
              ? Effect.succeed({ raw: e.records, events: [], ack: Effect.void, position: e.position, origin: e.origin })
              : Effect.as(Effect.sync(() => damaged++).pipe(Effect.andThen(Effect.logError(`journal: ${e.message}`))), {
                  raw: [],
                  events: [],
                  ack: Effect.void,
                  rejected: [deadLetterOf(e)]
                })
        ),
        Stream.catchCause((cause) =>
          // an unreadable segment (permissions, I/O error) ends the replay, not the server
          Stream.fromEffect(
            Effect.as(Effect.logError("journal: replay stopped early, the rest cannot be read", cause), empty)
          )
        ),
        Stream.concat(
          Stream.suspend(() =>
            Stream.succeed({
              ...empty,
              // runs after every replayed batch before it was processed: acks run in order
              ack: Effect.gen(function* () {
                if (damaged > 0) {
                  yield* Effect.logWarning(
                    `journal: replay done; ${damaged} damaged records or missing segments were quarantined to the dead letters`
                  )
                }
                if (options.onReplayed !== undefined) yield* options.onReplayed
              })
            })
          )
        )
      )
      yield* Pipeline.readPosition(store).pipe(
        Effect.flatMap(
          Option.match({ onNone: () => Effect.void, onSome: (p) => journal.truncateBefore(p.replayFrom) })
        ),
        Effect.catchCause((cause) => Effect.logWarning("journal truncation failed", cause)),
        Effect.repeat(Schedule.spaced(options.truncateEvery ?? "10 seconds")),
        Effect.forkScoped
      )
      // the encoded text is on disk now: the queued batch does not keep it alive
      const journaled = (
        { encoded, ...batch }: EventSource.SourceBatch,
        parts: ReadonlyArray<string> | undefined = undefined
      ) =>
        journal.append(batch.events, parts ?? encoded).pipe(
          Effect.map((position) => ({ ...batch, position })),
          Effect.mapError(
            (e) =>
              new SourceError.SourceError({
                adapter: "journal",
                reason: "Unavailable",
                message: e.message,
                cause: e
              })
          )
        )
      // Group commit: the batches offered with `tryOffer` while one event-loop turn runs (concurrent requests) are
      // journaled as one record and queued as one batch, so many small requests cost one write and one pass of
      // the pipeline, not one each. Each request still gets its answer only once the group is on disk.
      let group: Group | undefined
      const flush = () => {
        const g = group
        group = undefined
        if (g === undefined) return
        // append and queue in one synchronous step: no other fiber can fill the queue in between
        const outcome: Effect.Effect<boolean, SourceError.SourceError> = Queue.isFullUnsafe(queue)
          ? Effect.succeed(false)
          : Exit.match(Effect.runSyncExit(journaled(merge(g.batches), partsOf(g.batches))), {
              onSuccess: (b) => Effect.succeed(Queue.offerUnsafe(queue, b)),
              onFailure: (cause) => Effect.failCause(cause)
            })
        for (const resume of g.waiters) resume(outcome)
      }
      yield* Effect.addFinalizer(() => Effect.sync(flush))
      const grouped = (batch: EventSource.SourceBatch) =>
        Effect.callback<boolean, SourceError.SourceError>((resume) => {
          if (group !== undefined && group.events + batch.events.length > maxGroupEvents) flush()
          if (group === undefined) {
            group = { batches: [], waiters: [], events: 0 }
            setImmediate(flush)
          }
          group.batches.push(batch)
          group.waiters.push(resume)
          group.events += batch.events.length
        })
      return Context.make(EventSource.EventSource, { batches: Stream.concat(replay, Stream.fromQueue(queue)) }).pipe(
        Context.add(EventSource.EventQueue, {
          offer: (batch) =>
            Effect.sync(flush).pipe(
              Effect.andThen(journaled(batch)),
              Effect.flatMap((b) => Queue.offer(queue, b)),
              Effect.asVoid
            ),
          tryOffer: (batch) =>
            Effect.suspend(() =>
              // nothing waiting and full: refuse at once; otherwise the group decides when it is written
              group === undefined && Queue.isFullUnsafe(queue)
                ? Effect.succeed(false)
                : groupable(batch)
                  ? grouped(batch)
                  : Effect.sync(flush).pipe(
                      Effect.andThen(Effect.map(journaled(batch), (b) => Queue.offerUnsafe(queue, b)))
                    )
            ),
          size: Queue.size(queue),
          end: Effect.sync(flush).pipe(Effect.andThen(Queue.end(queue)), Effect.asVoid)
        })
      )
    })
  )

interface Group {
  readonly batches: Array<EventSource.SourceBatch>
  readonly waiters: Array<(outcome: Effect.Effect<boolean, SourceError.SourceError>) => void>
  events: number
}

/** The most events one group commit holds: a larger group is written and a new one started. */
const maxGroupEvents = 20_000

/** Batches of decoded events only (what HTTP ingest offers) can share a journal record and a pipeline batch. */
const groupable = (b: EventSource.SourceBatch): boolean =>
  b.raw.length === 0 &&
  b.rejected === undefined &&
  b.origin === undefined &&
  b.origins === undefined &&
  b.position === undefined

/** One batch of the batches of a group: their events in order and every ack (their records: {@link partsOf}). */
const merge = (batches: ReadonlyArray<EventSource.SourceBatch>): EventSource.SourceBatch => {
  if (batches.length === 1) return batches[0]!
  const events: Array<Event.TelemetryEvent> = []
  for (const b of batches) for (const e of b.events) events.push(e)
  return { raw: [], events, ack: Effect.forEach(batches, (b) => b.ack, { discard: true }) }
}

/** The records of a group as JSON arrays that the journal joins into one, when any batch holds its own text. */
const partsOf = (batches: ReadonlyArray<EventSource.SourceBatch>): ReadonlyArray<string> | undefined =>
  batches.length > 1 && batches.some((b) => b.encoded !== undefined)
    ? batches.filter((b) => b.events.length > 0).map((b) => b.encoded ?? JSON.stringify(b.events))
    : undefined
