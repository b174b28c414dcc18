/**
 * Where events come from. A source emits batches; each batch carries raw records to decode (`raw`), events
 * already validated at the edge (`events`, e.g. by the HTTP ingest, which must answer with the rejections), and
 * an `ack` that commits the batch's position. The pipeline calls `ack` in order, only after every sink
 * accepted what the batch produced, so sources such as Kafka or NATS commit nothing that could be lost.
 *
 * @since 0.1.0
 */
import { type Cause, Context, Effect, Layer, Queue, Stream } from "effect"
import type { Rejected, TelemetryEvent } from "./Event.ts"
import type { SourceError } from "./SourceError.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface SourceBatch {
  readonly raw: ReadonlyArray<unknown>
  readonly events: ReadonlyArray<TelemetryEvent>
  readonly ack: Effect.Effect<void>
  /**
   * The batch's position in a replayable source (a journal sequence number, an offset), increasing. With it,
   * checkpoints record where a restarted pipeline must replay from (see `Pipeline.Position`).
   */
  readonly position?: number
  /**
   * The position just after the batch (e.g. its last offset + 1), when positions are not one per batch: a
   * checkpoint with no window open replays from here. Without it, from `position + 1`.
   */
  readonly end?: number
  /**
   * The batch's records as a JSON array text, when the edge already holds it (e.g. the NDJSON lines an HTTP
   * request carried): a source that persists batches (a journal) can write it as it is instead of serializing
   * `events` again. Decoding it must give the batch's events.
   */
  readonly encoded?: string
  /**
   * Records the source could not even read (corrupt bytes in a log, a message that is not JSON), with what is
   * wrong and where: the pipeline sends them to the `DeadLetterSink` with the batch, so nothing a source held
   * disappears without a trace.
   */
  readonly rejected?: ReadonlyArray<Rejected>
  /** Where the batch's `raw` records came from (e.g. a journal file and byte offset), for their dead letters. */
  readonly origin?: string
  /**
   * Where each of `raw`'s records came from, index by index (e.g. `kafka events/3 offset 1207`), when a source
   * knows it per record: a record's dead letter names it instead of `origin`.
   */
  readonly origins?: ReadonlyArray<string>
}

/**
 * One partition of a partitioned source (a Kafka topic partition): the unit of state ownership. Its events are
 * processed by a pipeline of its own whose checkpoints live under `partition/<id>/` in the `StateStore`, so an
 * instance that is given the partition restores exactly the state of the series it holds.
 *
 * @category models
 * @since 0.1.0
 */
export interface Partition {
  /** A stable name, e.g. `events/3` (topic and partition). */
  readonly id: string
  /** The partition's batches, from where its last checkpoint must replay; ends when the partition is revoked. */
  readonly batches: Stream.Stream<SourceBatch, SourceError>
  /**
   * Called after each checkpoint of the partition was written (so after every sink accepted what came before
   * it): the source commits `replayFrom` as the partition's position (e.g. the consumer group's offset), so the
   * next owner resumes there.
   */
  readonly commit: (position: { readonly processed: number; readonly replayFrom: number }) => Effect.Effect<void>
  /** Called once the partition's pipeline drained and checkpointed after `batches` ended: it may be let go. */
  readonly released: Effect.Effect<void>
}

/**
 * A source whose events come in partitions that may be assigned to this instance and revoked from it while it
 * runs (a consumer group). `partitions` emits each partition when it is assigned.
 *
 * @category services
 * @since 0.1.0
 */
export class PartitionedSource extends Context.Service<
  PartitionedSource,
  {
    readonly partitions: Stream.Stream<Partition, SourceError>
  }
>()("@llm-sentinel/core/PartitionedSource") {}

/**
 * @category services
 * @since 0.1.0
 */
export class EventSource extends Context.Service<
  EventSource,
  {
    readonly batches: Stream.Stream<SourceBatch, SourceError>
  }
>()("@llm-sentinel/core/EventSource") {}

/**
 * A batch of raw records with nothing to acknowledge.
 *
 * @category constructors
 * @since 0.1.0
 */
export const rawBatch = (raw: ReadonlyArray<unknown>, ack: Effect.Effect<void> = Effect.void): SourceBatch => ({
  raw,
  events: [],
  ack
})

/**
 * A source over raw records, in batches of `batchSize` (tests, benchmarks, examples): an array, or any iterable
 * (a generator streams its records, pulled a batch at a time).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromIterable = (
  records: Iterable<unknown>,
  options: { readonly batchSize?: number } = {}
): Layer.Layer<EventSource> =>
  Layer.succeed(EventSource, {
    batches: Stream.fromIterable(
      records,
      Array.isArray(records) ? undefined : { chunkSize: options.batchSize ?? 1024 }
    ).pipe(
      Stream.rechunk(options.batchSize ?? 1024),
      Stream.mapArray((raw) => [rawBatch(raw)] as const)
    )
  })

/**
 * The handle of an in-memory queue source: what an in-process ingest (the HTTP server) offers events to.
 *
 * @category services
 * @since 0.1.0
 */
export class EventQueue extends Context.Service<
  EventQueue,
  {
    /**
     * Offers a batch, waiting while the queue is full (backpressure). Fails when the batch cannot be kept (e.g.
     * a journal out of disk budget): nothing was queued.
     */
    readonly offer: (batch: SourceBatch) => Effect.Effect<void, SourceError>
    /**
     * Offers a batch if there is room now; `false` means the pipeline is behind (answer 429). Fails when the
     * batch cannot be kept: nothing was queued.
     */
    readonly tryOffer: (batch: SourceBatch) => Effect.Effect<boolean, SourceError>
    /** Batches waiting in the queue. */
    readonly size: Effect.Effect<number>
    /** Ends the source: the pipeline drains what is queued, then completes. */
    readonly end: Effect.Effect<void>
  }
>()("@llm-sentinel/core/EventQueue") {}

/**
 * A bounded in-memory queue source of `capacity` batches, with its {@link EventQueue} handle.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerQueue = (options: { readonly capacity?: number } = {}): Layer.Layer<EventSource | EventQueue> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const queue = yield* Queue.bounded<SourceBatch, Cause.Done>(options.capacity ?? 64)
      return Context.make(EventSource, { batches: Stream.fromQueue(queue) }).pipe(
        Context.add(EventQueue, {
          offer: (batch) => Effect.asVoid(Queue.offer(queue, batch)),
          tryOffer: (batch) => Effect.sync(() => Queue.offerUnsafe(queue, batch)),
          size: Queue.size(queue),
          end: Effect.asVoid(Queue.end(queue))
        })
      )
    })
  )
