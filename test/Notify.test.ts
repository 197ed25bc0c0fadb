import { expect, layer } from "@effect/vitest"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Database from "../src/Database.js"
import * as TestDatabase from "./support/TestDatabase.js"

const take = <E, R>(stream: Stream.Stream<string, E, R>, n: number) =>
  Stream.runCollect(Stream.take(stream, n)).pipe(Effect.map(Chunk.toReadonlyArray), Effect.timeout("5 seconds"))

layer(TestDatabase.layer(), { excludeTestServices: true })("LISTEN/NOTIFY", (it) => {
  it.scoped("a notification round-trips from notify to a subscribed stream", () =>
    Effect.gen(function*() {
      const messages = yield* Database.subscribe("orders")
      yield* Database.notify("orders", "order 1 created")
      expect(yield* take(messages, 1)).toEqual(["order 1 created"])
    }))

  it.scoped("channel names and payloads full of quotes, semicolons and emoji arrive intact", () =>
    Effect.gen(function*() {
      const channel = `Weird "Chan"; drop table x; --`
      const payloads = [`it's "quoted"; DROP TABLE users; --`, "emoji 🦄 and NUL-free unicode ✓", ""]
      const messages = yield* Database.subscribe(channel)
      for (const payload of payloads) yield* Database.notify(channel, payload)
      expect(yield* take(messages, 3)).toEqual(payloads)
    }))

  it.scoped("a notification inside a transaction is delivered at COMMIT and not at all on ROLLBACK", () =>
    Effect.gen(function*() {
      const messages = yield* Database.subscribe("tx")
      yield* Database.transaction(Effect.zipRight(Database.notify("tx", "rolled back"), Effect.fail("abort"))).pipe(
        Effect.ignore
      )
      yield* Database.transaction(Database.notify("tx", "committed"))
      expect(yield* take(messages, 1)).toEqual(["committed"])
    }))

  it.scoped("every subscriber of a channel gets the notification, and one leaving does not stop the others", () =>
    Effect.gen(function*() {
      const first = yield* Effect.fork(Effect.scoped(Effect.flatMap(Database.subscribe("fanout"), (s) => take(s, 1))))
      const second = yield* Database.subscribe("fanout")
      yield* Effect.sleep("50 millis")
      yield* Database.notify("fanout", "one")
      expect(yield* Fiber.join(first)).toEqual(["one"])
      yield* Database.notify("fanout", "two")
      expect(yield* take(second, 2)).toEqual(["one", "two"])
    }))

  it.effect("Database.listen is a stream that starts listening when it runs", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(take(Database.listen("plain"), 1))
      // No way to know when LISTEN ran from outside: notify until it arrives.
      const sender = yield* Effect.fork(Effect.forever(Effect.zipRight(Database.notify("plain", "hello"), Effect.sleep("20 millis"))))
      expect(yield* Fiber.join(fiber)).toEqual(["hello"])
      yield* Fiber.interrupt(sender)
    }))

  it.scoped("PgClient.notify and PgClient.listen from the same layer work (pg_notify, not NOTIFY $1)", () =>
    Effect.gen(function*() {
      const pg = yield* PgClient.PgClient
      const fiber = yield* Effect.fork(take(pg.listen("compat"), 1))
      const sender = yield* Effect.fork(Effect.forever(Effect.zipRight(pg.notify("compat", "via PgClient"), Effect.sleep("20 millis"))))
      expect(yield* Fiber.join(fiber)).toEqual(["via PgClient"])
      yield* Fiber.interrupt(sender)
    }))
})
