/**
 * The ingest journal: an append-only log of accepted events on local disk, so that nothing the HTTP ingest
 * accepted (answered 202) is lost when the process dies, even by `kill -9`.
 *
 * Each accepted batch is written as one NDJSON line `{"p":<position>,"e":[events…]}` (decoded events) or
 * `{"p":<position>,"r":[records…]}` (the accepted records as the client sent them, written from the request's own
 * text so nothing is serialized again; decoded again on replay) with a synchronous
 * `write(2)` before the response is sent: once it returns the bytes are in the operating system's page cache,
 * which survives the death of the process (not a power loss or a kernel crash, unless `fsync` is on). Lines go to
 * segment files `journal/<first position>.ndjson`, a new one past `maxSegmentBytes`.
 *
 * On start-up the server reads the position of the last pipeline checkpoint (`Pipeline.readPosition`) and
 * replays the journal from its `replayFrom`: the open windows of the checkpoint are rebuilt and everything after
 * it is processed again; points of windows fired before the checkpoint are dropped by the restored window clocks,
 * and anomalies carry deterministic ids, so the store holds each once. Segments wholly before the last
 * checkpoint's `replayFrom` are deleted.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as readline from "node:readline"
import { type Event, EventSource, Pipeline, type SinkError, StateStore } from "@llm-sentinel/core"
import {
  type Cause,
  Context,
  type Duration,
  Effect,
  Layer,
  Option,
  Queue,
  Schedule,
  Schema,
  type Scope,
  Stream
} from "effect"

/**
 * A journal operation failed (disk full, permissions).
 *
 * @category errors
 * @since 0.1.0
 */
export class JournalError extends Schema.TaggedError<JournalError>("@llm-sentinel/server/JournalError")(
  "JournalError",
  { message: Schema.String, cause: Schema.optionalKey(Schema.Defect()) }
) {}

/**
 * One journaled batch.
 *
 * @category models
 * @since 0.1.0
 */
export interface Entry {
  readonly position: number
  /** Decoded events (written from `events`). */
  readonly events: ReadonlyArray<Event.TelemetryEvent>
  /** Records as received (written from a batch's `encoded` text): decode them again. */
  readonly raw: ReadonlyArray<unknown>
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
  /** `fsync` after every append: survives power loss, costs a disk flush per request (default false). */
  readonly fsync?: boolean
}

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
     * Appends a batch synchronously; returns its position. With `encoded` (the records' JSON array text) the text
     * is written as it is, instead of serializing `events`.
     */
    readonly append: (
      events: ReadonlyArray<Event.TelemetryEvent>,
      encoded?: string
    ) => Effect.Effect<number, JournalError>
    /** Every batch at or after `from`, in order (what was appended before the replay started). */
    readonly replay: (from: number) => Stream.Stream<Entry, JournalError>
    /** Deletes the segments whose batches all come before `position`. Returns how many were deleted. */
    readonly truncateBefore: (position: number) => Effect.Effect<number, JournalError>
    /** Segment files and their total size, for `/metrics` and readiness. */
    readonly stats: () => { readonly segments: number; readonly bytes: number }
  }
>()("@llm-sentinel/server/Journal") {}

const segmentName = (first: number) => `${String(first).padStart(16, "0")}.ndjson`
const segmentFirst = (name: string) => Number(name.slice(0, name.indexOf(".")))

const listSegments = (dir: string): Array<number> =>
  fs
    .readdirSync(dir)
    .filter((f) => /^\d{16}\.ndjson$/.test(f))
    .map(segmentFirst)
    .sort((a, b) => a - b)

/**
 * Finds the last complete batch of a segment and cuts off a torn last line left by a crash in the middle of a
 * write. Returns the position after that batch. Reads the whole segment: once, at start-up.
 */
const recoverTail = (file: string, first: number): number => {
  const buf = fs.readFileSync(file)
  let keep = buf.lastIndexOf(0x0a) + 1
  let next = first
  while (keep > 0) {
    const start = buf.lastIndexOf(0x0a, keep - 2) + 1
    try {
      next = (JSON.parse(buf.subarray(start, keep - 1).toString("utf8")) as { p: number }).p + 1
      break
    } catch {
      keep = start
    }
  }
  if (keep < buf.length) fs.truncateSync(file, keep)
  return next
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as { code?: string }).code === "EPERM"
  }
}

/**
 * Takes the journal's lock file (`LOCK`, holding the owner's pid) for the layer's lifetime: two processes
 * appending to one journal would interleave positions. A lock left by a dead process (after `kill -9`) is
 * taken over.
 */
const lock = (dir: string): Effect.Effect<void, JournalError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      const file = path.join(dir, "LOCK")
      fs.mkdirSync(dir, { recursive: true })
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          fs.writeFileSync(file, String(process.pid), { flag: "wx" })
          return Effect.succeed(file)
        } catch (e) {
          if ((e as { code?: string }).code !== "EEXIST") {
            return Effect.fail(new JournalError({ message: `cannot lock the journal in ${dir}: ${String(e)}` }))
          }
          const owner = Number(fs.readFileSync(file, "utf8"))
          if (Number.isInteger(owner) && owner !== process.pid && alive(owner)) {
            return Effect.fail(
              new JournalError({
                message: `the journal in ${dir} is in use by process ${owner}: run one sentinel per data directory`
              })
            )
          }
          fs.rmSync(file, { force: true }) // left by a process that died: take it over
        }
      }
      return Effect.fail(new JournalError({ message: `cannot lock the journal in ${dir}` }))
    }),
    (file) => Effect.sync(() => fs.rmSync(file, { force: true }))
  ).pipe(Effect.asVoid)

const wrap = <A>(message: string, f: () => A): Effect.Effect<A, JournalError> =>
  Effect.try({ try: f, catch: (cause) => new JournalError({ message: `${message}: ${String(cause)}`, cause }) })

/**
 * Opens (or creates) a journal; the layer closes it.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<Journal, JournalError> =>
  Layer.effect(
    Journal,
    Effect.gen(function* () {
      const maxSegmentBytes = options.maxSegmentBytes ?? 64 * 1024 * 1024
      const { dir } = options
      yield* lock(dir)
      const opened = yield* wrap(`cannot open the journal in ${dir}`, () => {
        fs.mkdirSync(dir, { recursive: true })
        const segments = listSegments(dir)
        const last = segments.at(-1)
        const next = last === undefined ? 0 : recoverTail(path.join(dir, segmentName(last)), last)
        const current = last ?? 0
        const file = path.join(dir, segmentName(current))
        const fd = fs.openSync(file, "a")
        return { next, current, fd, size: fs.fstatSync(fd).size }
      })
      let { next, current, fd, size } = opened
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.closeSync(fd)))

      const append = (events: ReadonlyArray<Event.TelemetryEvent>, encoded?: string) =>
        wrap("cannot append to the journal", () => {
          const position = next
          if (size >= maxSegmentBytes) {
            fs.closeSync(fd)
            current = position
            fd = fs.openSync(path.join(dir, segmentName(current)), "a")
            size = 0
          }
          const line = Buffer.from(
            encoded === undefined
              ? `{"p":${position},"e":${JSON.stringify(events)}}\n`
              : `{"p":${position},"r":${encoded}}\n`
          )
          let written = 0
          while (written < line.length) written += fs.writeSync(fd, line, written)
          if (options.fsync === true) fs.fsyncSync(fd)
          size += line.length
          next = position + 1
          return position
        })

      const readSegment = (first: number, from: number): Stream.Stream<Entry, JournalError> =>
        Stream.fromAsyncIterable(
          readline.createInterface({
            input: fs.createReadStream(path.join(dir, segmentName(first))),
            crlfDelay: Number.POSITIVE_INFINITY
          }),
          (cause) => new JournalError({ message: `cannot read segment ${segmentName(first)}`, cause })
        ).pipe(
          Stream.filter((line) => line.length > 0),
          Stream.map((line) => {
            const entry = JSON.parse(line) as {
              p: number
              e?: ReadonlyArray<Event.TelemetryEvent>
              r?: ReadonlyArray<unknown>
            }
            return { position: entry.p, events: entry.e ?? [], raw: entry.r ?? [] }
          }),
          Stream.filter((entry) => entry.position >= from)
        )

      const replay = (from: number): Stream.Stream<Entry, JournalError> =>
        Stream.unwrap(
          wrap("cannot list the journal", () => {
            const end = next
            const segments = listSegments(dir)
            // a segment is needed if the next one starts after `from`
            const needed = segments.filter((_, i) => (segments[i + 1] ?? Number.POSITIVE_INFINITY) > from)
            return Stream.fromIterable(needed).pipe(
              Stream.flatMap((first) => readSegment(first, from)),
              Stream.takeWhile((entry) => entry.position < end)
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
            fs.rmSync(path.join(dir, segmentName(first)))
            deleted++
          }
          return deleted
        })

      const stats = () => {
        const segments = listSegments(dir)
        let bytes = 0
        for (const s of segments) bytes += fs.statSync(path.join(dir, segmentName(s))).size
        return { segments: segments.length, bytes }
      }

      return { nextPosition: () => next, append, replay, truncateBefore, stats }
    })
  )

/**
 * A journaled event source: the `EventSource` and `EventQueue` the server's ingest uses. Every batch offered is
 * appended to the journal before it is queued (so a 202 means "on disk"), and carries its journal position. At
 * start-up the source first replays the journal from the last checkpoint's `replayFrom` (see
 * `Pipeline.readPosition`), then serves live batches. Every `truncateEvery` (default 10 s) it deletes the
 * segments the last checkpoint no longer needs.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerSource = (
  options: { readonly capacity?: number; readonly truncateEvery?: Duration.Input } = {}
): Layer.Layer<
  EventSource.EventSource | EventSource.EventQueue,
  SinkError.SinkError,
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
      const queue = yield* Queue.bounded<EventSource.SourceBatch, Cause.Done>(options.capacity ?? 64)
      const replay = journal.replay(from).pipe(
        Stream.map(
          (e): EventSource.SourceBatch => ({ raw: e.raw, events: e.events, ack: Effect.void, position: e.position })
        ),
        Stream.orDie
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
      const journaled = ({ encoded, ...batch }: EventSource.SourceBatch) =>
        Effect.map(journal.append(batch.events, encoded), (position) => ({ ...batch, position }))
      return Context.make(EventSource.EventSource, { batches: Stream.concat(replay, Stream.fromQueue(queue)) }).pipe(
        Context.add(EventSource.EventQueue, {
          offer: (batch) =>
            journaled(batch).pipe(
              Effect.flatMap((b) => Queue.offer(queue, b)),
              Effect.asVoid,
              Effect.orDie
            ),
          tryOffer: (batch) =>
            Effect.suspend(() =>
              Queue.isFullUnsafe(queue)
                ? Effect.succeed(false)
                : // append and queue in one synchronous step: no other fiber can fill the queue in between
                  Effect.map(journaled(batch), (b) => Queue.offerUnsafe(queue, b))
            ).pipe(Effect.orDie),
          size: Queue.size(queue),
          end: Effect.asVoid(Queue.end(queue))
        })
      )
    })
  )
