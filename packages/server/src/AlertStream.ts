/**
 * `GET /v1/stream/alerts`: alert events as server-sent events, as they are recorded (opened, escalated, resolved,
 * storm), from the {@link AlertLog}.
 *
 * Each event is `id: <seq>`, `event: alert`, `data: <AlertEvent JSON>` (the same JSON as webhooks and Kafka carry).
 * A client that reconnects sends `Last-Event-ID` (browsers' `EventSource` does it by itself) and gets every event
 * recorded after that sequence number first, then the live ones, none twice; `?after=<seq>` does the same for
 * clients that cannot set headers (`after=0`: the whole history). Without either, the stream starts with what is
 * recorded from now on. A comment line every 15 seconds keeps proxies from closing an idle stream.
 *
 * A client that reads too slowly loses the oldest unread live events (the server never buffers without bound) and
 * can catch up with `Last-Event-ID`.
 *
 * @since 0.2.0
 */
import { AlertJson } from "@llm-sentinel/adapters"
import { type Duration, Effect, type Layer, Option, Stream } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as AlertLog from "./AlertLog.ts"
import * as Problem from "./Problem.ts"

/**
 * The path of the stream.
 *
 * @category models
 * @since 0.2.0
 */
export const path = "/v1/stream/alerts"

const encoder = new TextEncoder()

/**
 * One recorded event as an SSE message.
 *
 * @category constructors
 * @since 0.2.0
 */
export const encode = (r: AlertLog.Recorded): string =>
  `id: ${r.seq}\nevent: alert\ndata: ${AlertJson.encode(r.event)}\n\n`

const page = 500

/**
 * The stream's bytes: the events after `from` (when given), then the live ones, without duplicates, and a
 * keep-alive comment every `heartbeat`.
 *
 * @category constructors
 * @since 0.2.0
 */
export const events = (
  log: AlertLog.AlertLog["Service"],
  from: Option.Option<number>,
  heartbeat: Duration.Input = "15 seconds"
): Stream.Stream<Uint8Array> =>
  Stream.unwrap(
    Effect.gen(function* () {
      // subscribe before reading the backlog, so nothing recorded in between is missed
      const live = yield* log.subscribe
      let last = Option.getOrElse(from, () => -1)
      const backlog: Stream.Stream<string> = Option.isNone(from)
        ? Stream.empty
        : Stream.paginate(last, (seq) =>
            log.after(seq, page).pipe(
              Effect.map((rs) => {
                const next = rs.length === page ? Option.some(rs[rs.length - 1]!.seq) : Option.none<number>()
                return [rs, next] as const
              })
            )
          ).pipe(
            Stream.map((r) => {
              last = r.seq
              return encode(r)
            }),
            Stream.catch((e) => Stream.make(`: the alert log could not be read (${e.message})\n\n`))
          )
      const fresh = Stream.fromSubscription(live).pipe(
        Stream.filter((r) => r.seq > last),
        Stream.map((r) => {
          last = r.seq
          return encode(r)
        })
      )
      const keepalive = Stream.tick(heartbeat).pipe(
        Stream.drop(1),
        Stream.map(() => ": keepalive\n\n")
      )
      return Stream.make("retry: 3000\n\n").pipe(
        Stream.concat(backlog),
        Stream.concat(Stream.merge(fresh, keepalive)),
        Stream.map((s) => encoder.encode(s))
      )
    })
  )

const badRequest = (path: string, message: string) =>
  Problem.response(Problem.validation("invalid alert stream position", [{ path, message }]))

/**
 * The route.
 *
 * @category layers
 * @since 0.2.0
 */
export const layer: Layer.Layer<never, never, HttpRouter.HttpRouter | AlertLog.AlertLog> = HttpRouter.use(
  Effect.fn(function* (router) {
    const log = yield* AlertLog.AlertLog
    yield* router.add(
      "GET",
      path,
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const header = request.headers["last-event-id"]
        const search = request.url.indexOf("?")
        const query = new URLSearchParams(search < 0 ? "" : request.url.slice(search + 1))
        for (const name of query.keys()) {
          // access_token: the short-lived stream token of clients that cannot send Authorization (see Auth)
          if (name !== "after" && name !== "access_token") return badRequest(name, "unknown parameter (known: after)")
        }
        const fromHeader = header !== undefined && header !== ""
        const raw = fromHeader ? header : (query.get("after") ?? undefined)
        if (raw !== undefined && !/^\d{1,15}$/.test(raw)) {
          return badRequest(
            fromHeader ? "Last-Event-ID" : "after",
            `expected a sequence number (the id of an event received), got ${JSON.stringify(raw.slice(0, 40))}`
          )
        }
        const from = raw === undefined ? Option.none<number>() : Option.some(Number(raw))
        return HttpServerResponse.stream(events(log, from), {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-store", "x-accel-buffering": "no" }
        })
      })
    )
  })
)
