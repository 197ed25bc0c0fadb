/**
 * What `@effect/sql`'s persisted-queue tests check, which `@effect/sql-pg`
 * runs on PostgreSQL: a value offered is taken once, a take that is
 * interrupted gives its value back, and a failed take is retried with the
 * attempt counted. On both layers, with the test clock as upstream uses it.
 */
import * as PersistedQueue from "@effect/experimental/PersistedQueue"
import * as SqlPersistedQueue from "@effect/sql/SqlPersistedQueue"
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import { freshClient, onBoth } from "./flavours.js"

const Item = Schema.Struct({ n: Schema.BigInt })

const queueLayer = (flavour: "PgClient.layer" | "Database.layer") =>
  PersistedQueue.layer.pipe(
    Layer.provide(SqlPersistedQueue.layerStore()),
    Layer.provideMerge(freshClient(flavour))
  )

onBoth("SqlPersistedQueue", queueLayer, (it) => {
  it.effect("a value offered is taken, decoded with the queue's schema", () =>
    Effect.gen(function*() {
      const queue = yield* PersistedQueue.make({ name: "compat-queue-a", schema: Item })
      yield* queue.offer({ n: 42n })
      const taken = yield* queue.take((value) => Effect.succeed(value.n))
      expect(taken).toBe(42n)
    }))

  it.effect("a take that is interrupted leaves its value for the next take", () =>
    Effect.gen(function*() {
      const queue = yield* PersistedQueue.make({ name: "compat-queue-b", schema: Item })
      yield* queue.offer({ n: 7n })
      const started = yield* Effect.makeLatch()
      const first = yield* queue.take(() => Effect.zipRight(started.open, Effect.never)).pipe(Effect.fork)
      const second = yield* queue.take((value) => Effect.succeed(value.n)).pipe(Effect.fork)
      yield* started.await
      // Real time for the second take to be really waiting.
      yield* TestClock.adjust("1 second")
      yield* Effect.sleep("1 second").pipe(TestServices.provideLive)
      expect(second.unsafePoll()).toBeNull()
      yield* Fiber.interrupt(first)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(second)).toBe(7n)
    }))

  it.effect("a take that fails is retried, and counts the attempt", () =>
    Effect.gen(function*() {
      const queue = yield* PersistedQueue.make({ name: "compat-queue-c", schema: Item })
      yield* queue.offer({ n: 3n })
      expect(yield* queue.take(() => Effect.fail("boom")).pipe(Effect.flip)).toBe("boom")
      const retried = yield* queue.take((value, { attempts }) => Effect.succeed({ n: value.n, attempts }))
      expect(retried).toEqual({ n: 3n, attempts: 1 })
    }))
}, { testServices: true })
