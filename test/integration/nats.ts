// The NATS server the machine runs (JetStream on 127.0.0.1:4222), for the NATS tests: a stream with unique
// names per test run, deleted afterwards. A missing server fails the test (it never skips).
import { randomBytes } from "node:crypto"
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"

export const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222"

export interface TestStream {
  readonly nc: NatsConnection
  readonly jsm: JetStreamManager
  readonly name: string
  readonly subject: string
  readonly publish: (payloads: ReadonlyArray<string>) => Effect.Effect<void, Error>
  readonly messages: Effect.Effect<number, Error>
  readonly consumer: (
    durable: string
  ) => Effect.Effect<{ pending: number; ackPending: number; delivered: number }, Error>
}

/** A connection and a fresh stream `SENTINEL_TEST_<hex>` on `sentinel.test.<hex>.>` for the scope. */
export const testStream = (options: { readonly create?: boolean } = {}) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async (): Promise<TestStream> => {
        const nc = await connect({ servers: natsUrl, timeout: 3000 })
        const jsm = await jetstreamManager(nc)
        const id = randomBytes(4).toString("hex")
        const name = `SENTINEL_TEST_${id}`
        const subject = `sentinel.test.${id}`
        if (options.create !== false) await jsm.streams.add({ name, subjects: [`${subject}.>`] })
        const js = jetstream(nc)
        const enc = new TextEncoder()
        return {
          nc,
          jsm,
          name,
          subject,
          publish: (payloads) =>
            Effect.tryPromise({
              try: async () => {
                for (let i = 0; i < payloads.length; i += 200) {
                  await Promise.all(
                    payloads.slice(i, i + 200).map((p) => js.publish(`${subject}.events`, enc.encode(p)))
                  )
                }
              },
              catch: (e) => e as Error
            }),
          messages: Effect.tryPromise({
            try: async () => (await jsm.streams.info(name)).state.messages,
            catch: (e) => e as Error
          }),
          consumer: (durable) =>
            Effect.tryPromise({
              try: async () => {
                const ci = await jsm.consumers.info(name, durable)
                return { pending: ci.num_pending, ackPending: ci.num_ack_pending, delivered: ci.delivered.stream_seq }
              },
              catch: (e) => e as Error
            })
        }
      },
      catch: (e) =>
        new Error(
          `NATS with JetStream at ${natsUrl} did not answer (scripts/services.sh status): ${(e as Error).message}`
        )
    }),
    (t) =>
      Effect.promise(async () => {
        await t.jsm.streams.delete(t.name).catch(() => undefined)
        await t.nc.close()
      })
  )
