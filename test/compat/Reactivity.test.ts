/**
 * `sql.reactive` on both layers: queries run again when the program's
 * `Reactivity` invalidates their keys (`Reactivity.mutation`), and when an
 * effect-dal repository writes their table. Inside a transaction,
 * Database.layer invalidates after COMMIT, which upstream does not.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Database from "../../src/Database.js"
import * as DatabaseError from "../../src/DatabaseError.js"
import * as Repository from "../../src/Repository.js"
import * as Table from "../../src/Table.js"
import * as TestDatabase from "../support/TestDatabase.js"
import { clientLayer, type Flavour, keptDifference, onBoth } from "./flavours.js"

class Note extends Model.Class<Note>("Note")({
  id: Model.Generated(Schema.Number),
  body: Schema.String
}) {}
const Notes = Table.make(Note, { name: "notes", primaryKey: "id" })

// The flavour's client with the program's Reactivity.layer merged in, and
// a Database for repositories on the same database. Nothing provides a
// Reactivity to either layer: they share the program's because layers are
// memoized by reference within one build.
const withReactivity = (flavour: Flavour) =>
  Layer.unwrapEffect(Effect.map(TestDatabase.TestUrl, (url) =>
    Layer.mergeAll(
      Reactivity.layer,
      // The right-hand layer's SqlClient wins: the flavour's.
      flavour === "Database.layer" ? Database.layer({ url }) : Layer.merge(Database.layer({ url }), clientLayer(flavour, url))
    ))).pipe(Layer.provideMerge(TestDatabase.layerUrl))

let tables = 0
/** A new, empty table and a reactive count of its rows, keyed by the table's name. */
const reactiveCount = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const table = `reactive_${++tables}`
  yield* sql`CREATE TABLE ${sql(table)} (id serial PRIMARY KEY, body text)`
  const counts = sql.reactive(
    [table],
    Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(table)}`, (rows) => rows[0]!.n)
  )
  return { sql, table, counts }
})

/** The first `n` values of a stream, or what came within `within`. */
const firstValues = <A, E, R>(stream: Stream.Stream<A, E, R>, n: number, within: Duration.DurationInput = "5 seconds") =>
  stream.pipe(
    Stream.take(n),
    Stream.interruptWhen(Effect.sleep(within)),
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray),
    Effect.fork
  )

onBoth("sql.reactive", withReactivity, (it, flavour) => {
  it.effect("runs again when Reactivity.mutation on its key succeeds", () =>
    Effect.gen(function*() {
      const { counts, sql, table } = yield* reactiveCount
      const seen = yield* firstValues(counts, 2)
      yield* Effect.sleep("100 millis")
      yield* Reactivity.mutation(sql`INSERT INTO ${sql(table)} (body) VALUES ('a')`, [table])
      expect(yield* Fiber.join(seen)).toEqual([0, 1])
    }))

  it.effect("runs again when an effect-dal repository writes its table", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)`
      const notes = yield* Repository.make(Notes)
      const bodies = sql.reactive(["notes"], Effect.map(sql<{ body: string }>`SELECT body FROM notes ORDER BY id`, (rows) => rows.map((r) => r.body)))
      const seen = yield* firstValues(bodies, 3)
      yield* Effect.sleep("100 millis")
      yield* notes.insert({ body: "first" })
      yield* Effect.sleep("100 millis")
      yield* Database.transaction(notes.insertMany([{ body: "second" }, { body: "third" }]))
      expect(yield* Fiber.join(seen)).toEqual([[], ["first"], ["first", "second", "third"]])
    }))

  it.effect("a mutation inside a transaction is seen by the query once the transaction has committed", () =>
    Effect.gen(function*() {
      const { counts, sql, table } = yield* reactiveCount
      const seen = yield* firstValues(counts, 2)
      yield* Effect.sleep("100 millis")
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* Reactivity.mutation(sql`INSERT INTO ${sql(table)} (body) VALUES ('a')`, [table])
        // Time for a query run at the invalidation to finish before COMMIT.
        yield* Effect.sleep("300 millis")
      }))
      expect(yield* Fiber.join(seen)).toEqual(keptDifference(flavour, {
        reason: "upstream invalidates as soon as the mutation's effect succeeds, before COMMIT: the query runs " +
          "again, reads the old rows, and is not run again; effect-dal holds the invalidation until COMMIT",
        pgClient: [0, 0],
        database: [0, 1]
      }))
    }))

  it.effect("a mutation in a transaction that rolls back does not run the query again", () =>
    Effect.gen(function*() {
      const { counts, sql, table } = yield* reactiveCount
      const seen = yield* firstValues(counts, 2)
      yield* Effect.sleep("100 millis")
      yield* sql.withTransaction(Effect.zipRight(
        Reactivity.mutation(sql`INSERT INTO ${sql(table)} (body) VALUES ('rolled back')`, [table]),
        Effect.fail("roll back")
      )).pipe(Effect.ignore)
      yield* Effect.sleep("300 millis")
      yield* Reactivity.mutation(sql`INSERT INTO ${sql(table)} (body) VALUES ('kept')`, [table])
      expect(yield* Fiber.join(seen)).toEqual(keptDifference(flavour, {
        reason: "upstream invalidates before the transaction ends, so a rolled-back write runs the query " +
          "again for nothing; effect-dal drops the invalidations of a transaction that rolls back",
        pgClient: [0, 0],
        database: [0, 1]
      }))
    }))
})

// A Reactivity of the program's own making, provided to the client layer.
const ownReactivity = Layer.effect(Reactivity.Reactivity, Reactivity.make)
const withOwnReactivity = (flavour: Flavour) =>
  Layer.unwrapEffect(Effect.map(TestDatabase.TestUrl, (url) => clientLayer(flavour, url))).pipe(
    Layer.provideMerge(ownReactivity),
    Layer.provideMerge(TestDatabase.layerUrl)
  )

onBoth("sql.reactive with a Reactivity provided to the layer", withOwnReactivity, (it, flavour) => {
  it.effect("uses the provided Reactivity", () =>
    Effect.gen(function*() {
      const { counts, sql, table } = yield* reactiveCount
      const seen = yield* firstValues(counts, 2, "1 second")
      yield* Effect.sleep("100 millis")
      yield* Reactivity.mutation(sql`INSERT INTO ${sql(table)} (body) VALUES ('a')`, [table])
      expect(yield* Fiber.join(seen)).toEqual(keptDifference(flavour, {
        reason: "PgClient.layer always builds Reactivity.layer for itself, so another Reactivity given to it " +
          "is not the one sql.reactive listens to; Database.layer uses the one it is given",
        pgClient: [0],
        database: [0, 1]
      }))
    }))
})

// A Reactivity that records every key it is asked to invalidate, in order.
const recording = Effect.map(Reactivity.make, (base) => {
  const invalidated: Array<string> = []
  const service = Reactivity.Reactivity.of({
    ...base,
    unsafeInvalidate: (keys) => {
      invalidated.push(...(Array.isArray(keys) ? keys.map(String) : Object.keys(keys)))
      base.unsafeInvalidate(keys)
    }
  })
  return { invalidated, service }
})

describe("Database.layer's invalidations across retries and savepoints", () => {
  const withRecording = Effect.gen(function*() {
    const { invalidated, service } = yield* recording
    const url = yield* TestDatabase.TestUrl
    const context = yield* Layer.build(Database.layer({ url }).pipe(Layer.provide(Layer.succeed(Reactivity.Reactivity, service))))
    return { context, invalidated }
  })

  it.scoped("a retried transaction invalidates once, for the attempt that committed, and nothing before COMMIT", () =>
    Effect.gen(function*() {
      const { context, invalidated } = yield* withRecording
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)`
        const notes = yield* Repository.make(Notes)
        let attempts = 0
        const seenInside: Array<number> = []
        yield* Database.transaction(
          Effect.gen(function*() {
            attempts++
            yield* notes.insert({ body: `attempt ${attempts}` })
            // A savepoint's write waits for the outermost COMMIT as well.
            yield* Database.transaction(notes.insert({ body: `nested ${attempts}` }))
            seenInside.push(invalidated.length)
            if (attempts === 1) yield* Effect.fail(new DatabaseError.SerializationFailure({ sqlState: "40001" }))
          }),
          { retry: Schedule.recurs(2) }
        )
        expect(attempts).toBe(2)
        expect(seenInside).toEqual([0, 0])
        // Two writes of the second attempt; the first attempt's two were rolled back.
        expect(invalidated).toEqual(["notes", "notes"])
        expect((yield* notes.findMany()).map((n) => n.body)).toEqual(["attempt 2", "nested 2"])
      }).pipe(Effect.provide(context))
    }).pipe(Effect.provide(TestDatabase.layerUrl)))

  it.scoped("a transaction that fails after its retries invalidates nothing", () =>
    Effect.gen(function*() {
      const { context, invalidated } = yield* withRecording
      const exit = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)`
        const notes = yield* Repository.make(Notes)
        return yield* Database.transaction(
          Effect.zipRight(notes.insert({ body: "lost" }), Effect.fail(new DatabaseError.SerializationFailure({ sqlState: "40001" }))),
          { retry: Schedule.recurs(1) }
        )
      }).pipe(Effect.provide(context), Effect.exit)
      expect(exit._tag === "Failure" && Cause.failureOption(exit.cause).pipe(Option.map((e) => e._tag), Option.getOrNull)).toBe(
        "SerializationFailure"
      )
      expect(invalidated).toEqual([])
    }).pipe(Effect.provide(TestDatabase.layerUrl)))
})
