/**
 * What the repository core and the transaction rules now do once for both
 * engines, checked on both: every operation's span carries the same
 * attributes (the stream's too), and the outermost transaction retries the
 * same errors, counting its attempts on its span.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Database from "../src/Database.js"
import * as DatabaseError from "../src/DatabaseError.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Fixtures from "../src/testing/Fixtures.js"
import * as TestDatabase from "./support/TestDatabase.js"
import { recordingTracer } from "./support/tracer.js"

const Members = Fixtures.Members

const engines: ReadonlyArray<readonly [string, "postgresql" | "memory", Layer.Layer<Database.Database | SqlClient.SqlClient>]> = [
  ["PostgreSQL", "postgresql", Layer.orDie(TestDatabase.layer())],
  // The in-memory database has no SqlClient; the tests use it only on PostgreSQL.
  ["in-memory", "memory", Database.layerMemory() as Layer.Layer<Database.Database | SqlClient.SqlClient>]
]

const serializationFailure = () =>
  new DatabaseError.SerializationFailure({ sqlState: "40001" })

for (const [name, system, databaseLayer] of engines) {
  describe(name, () => {
    layer(databaseLayer, { timeout: "60 seconds" })((it) => {
      it.effect("the stream's span carries the same db.* attributes as every other operation", () =>
        Effect.gen(function*() {
          if (system === "postgresql") {
            const sql = yield* SqlClient.SqlClient
            for (const statement of Fixtures.ddl) yield* sql.unsafe(statement)
          }
          const repo = yield* Repository.make(Members)
          yield* repo.insertMany([
            { email: "s1@example.com", name: "s1", age: null, score: 1, tags: [], profile: {} },
            { email: "s2@example.com", name: "s2", age: null, score: 2, tags: [], profile: {} }
          ])
          const { spans, tracer } = recordingTracer()
          const streamed = yield* Effect.withTracer(
            Stream.runCollect(repo.stream(Query.make(Members).pipe(Query.where({ name: Query.startsWith("s") })))),
            tracer
          )
          yield* Effect.withTracer(repo.findMany(Query.make(Members)), tracer)
          expect(streamed.length).toBe(2)
          const attributes = (operation: string) => {
            const span = spans.find((s) => s.name === `members.${operation}`)
            return span === undefined ? undefined : Object.fromEntries(span.attributes)
          }
          expect(attributes("stream")).toEqual({
            "db.system.name": system,
            "db.collection.name": "members",
            "db.operation.name": "stream"
          })
          expect(attributes("findMany")).toEqual({
            "db.system.name": system,
            "db.collection.name": "members",
            "db.operation.name": "findMany"
          })
        }))

      it.effect("a transaction retries an error whose cause is retryable (an SqlError wrapping a SerializationFailure)", () =>
        Effect.gen(function*() {
          let attempts = 0
          const { spans, tracer } = recordingTracer()
          const result = yield* Database.transaction(
            Effect.suspend(() => {
              attempts++
              return attempts < 3
                ? Effect.fail(new SqlError.SqlError({ cause: serializationFailure(), message: "wrapped" }))
                : Effect.succeed("done")
            }),
            { retry: Schedule.recurs(5) }
          ).pipe(Effect.withTracer(tracer))
          expect(result).toBe("done")
          expect(attempts).toBe(3)
          const span = spans.find((s) => s.name === "Database.transaction")
          expect(span?.attributes.get("db.system.name")).toBe(system)
          expect(span?.attributes.get("db.transaction.attempts")).toBe(3)
          expect(span?.attributes.get("db.transaction.outcome")).toBe("commit")
        }))

      it.effect("a transaction does not retry an error that is not retryable, nor one whose cause is not", () =>
        Effect.gen(function*() {
          let attempts = 0
          const error = yield* Database.transaction(
            Effect.suspend(() => {
              attempts++
              return Effect.fail(new SqlError.SqlError({ cause: new Error("not a database error"), message: "plain" }))
            }),
            { retry: Schedule.recurs(5) }
          ).pipe(Effect.flip)
          expect(error._tag).toBe("SqlError")
          expect(attempts).toBe(1)
        }))

      it.effect("a retrying transaction gives up when its schedule ends, with the last error", () =>
        Effect.gen(function*() {
          let attempts = 0
          const error = yield* Database.transaction(
            Effect.suspend(() => {
              attempts++
              return Effect.fail(serializationFailure())
            }),
            { retry: Schedule.recurs(2) }
          ).pipe(Effect.flip)
          expect(error._tag).toBe("SerializationFailure")
          expect(attempts).toBe(3)
        }))
    })
  })
}
