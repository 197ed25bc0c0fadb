/**
 * LISTEN/NOTIFY: one fiber listens on a channel while another sends notifications, one of them in a transaction that rolls back.
 *
 *   npm run example -- listen-notify
 *
 * `Database.subscribe` runs LISTEN on a connection of its own and succeeds
 * once the server listens, so nothing sent after it is missed; the stream
 * ends (and UNLISTEN runs) when its scope closes. `Database.notify` sends
 * with `pg_notify`. A notification sent inside a transaction is delivered
 * when the transaction commits, and never if it rolls back.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Chunk from "effect/Chunk"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { Database } from "effect-dal"
import * as ExampleDatabase from "./support/database.js"

export const channel = "chat_events"

/** The last notification: the listener stops when it arrives. */
const done = "done"

/** Listens, notifies, and succeeds with what was sent and what was received. */
export const program = Effect.scoped(
  Effect.gen(function*() {
    const notifications = yield* Database.subscribe(channel)
    yield* Console.log(`listener: LISTEN ${channel}`)

    const listener = yield* Effect.fork(
      notifications.pipe(
        Stream.takeUntil((payload) => payload === done),
        Stream.tap((payload) => Console.log(`listener: received "${payload}"`)),
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray)
      )
    )

    const sent: Array<string> = []
    const send = (payload: string) =>
      Database.notify(channel, payload).pipe(
        Effect.zipRight(Effect.sync(() => sent.push(payload))),
        Effect.zipRight(Console.log(`notifier: sent     "${payload}"`))
      )

    const notifier = yield* Effect.fork(
      Effect.gen(function*() {
        yield* send("user 42 wrote a message")
        // Delivered at COMMIT, after everything else the transaction does.
        yield* Database.transaction(send("user 42's message was answered (sent in a transaction that commits)"))
        // Never delivered: the transaction rolls back.
        yield* Database.transaction(
          Effect.zipRight(
            send("user 7 wrote a message (sent in a transaction that rolls back)"),
            Effect.fail("the bot crashed before committing" as const)
          )
        ).pipe(Effect.catchAll((reason) => Console.log(`notifier: rolled back: ${reason}`)))
        yield* send(done)
      })
    )

    yield* Fiber.join(notifier)
    // A bound on the wait, so a lost notification fails the program instead of hanging it.
    const received = yield* Fiber.join(listener).pipe(
      Effect.timeoutFail({
        duration: "10 seconds",
        onTimeout: () => new Error(`"${done}" did not arrive within 10 seconds`)
      })
    )
    const missing = sent.filter((payload) => !received.includes(payload))
    yield* Console.log(
      `sent ${sent.length}, received ${received.length}; not delivered: ${missing.map((p) => `"${p}"`).join(", ")}`
    )
    return { sent, received }
  })
)

if (ExampleDatabase.isMain(import.meta)) {
  NodeRuntime.runMain(
    program.pipe(Effect.provide(ExampleDatabase.layer({ applicationName: "effect-dal-listen-example" })))
  )
}
