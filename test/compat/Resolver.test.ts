/**
 * What `@effect/sql`'s SqlResolver tests check (batching into one
 * statement, result-length checks, grouping, lookups by id, raw rows), on a
 * PostgreSQL table, on both layers.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import * as SqlResolver from "@effect/sql/SqlResolver"
import { assert, expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { freshClient, onBoth } from "./flavours.js"

const Person = Schema.Struct({ id: Schema.Number, name: Schema.String })

let tables = 0
/** A new table of 100 people, `name1` to `name100`, and its name. */
const seeded = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const table = `resolver_people_${++tables}`
  yield* sql`CREATE TABLE ${sql(table)} (id serial PRIMARY KEY, name text NOT NULL)`
  yield* sql`INSERT INTO ${sql(table)} (name) SELECT 'name' || n FROM generate_series(1, 100) AS n`
  return { sql, table }
})

onBoth("SqlResolver", (flavour) => freshClient(flavour), (it) => {
  it.effect("ordered: concurrent requests go out as one INSERT, and each gets its own row back", () =>
    Effect.gen(function*() {
      const { sql, table } = yield* seeded
      const batches: Array<ReadonlyArray<string>> = []
      const Insert = yield* SqlResolver.ordered("Insert", {
        Request: Schema.String,
        Result: Person,
        execute: (names) => {
          batches.push(names)
          return sql`INSERT INTO ${sql(table)} ${sql.insert(names.map((name) => ({ name })))} RETURNING *`
        }
      })
      const inserted = yield* Effect.all({ one: Insert.execute("one"), two: Insert.execute("two") }, { batching: true })
      expect(inserted).toEqual({ one: { id: 101, name: "one" }, two: { id: 102, name: "two" } })
      expect(batches).toEqual([["one", "two"]])
    }))

  it.effect("ordered: fewer rows than requests fails the batch with ResultLengthMismatch", () =>
    Effect.gen(function*() {
      const { sql, table } = yield* seeded
      const batches: Array<ReadonlyArray<number>> = []
      const Select = yield* SqlResolver.ordered("Select", {
        Request: Schema.Number,
        Result: Person,
        execute: (ids) => {
          batches.push(ids)
          return sql`SELECT * FROM ${sql(table)} WHERE id IN ${sql.in(ids)} ORDER BY id`
        }
      })
      const error = yield* Effect.all([1, 2, 3, 101].map((id) => Select.execute(id)), { batching: true }).pipe(Effect.flip)
      assert(error instanceof SqlError.ResultLengthMismatch)
      expect([error.expected, error.actual]).toEqual([4, 3])
      expect(batches).toEqual([[1, 2, 3, 101]])
    }))

  it.effect("grouped: each request gets every row of its group, or none", () =>
    Effect.gen(function*() {
      const { sql, table } = yield* seeded
      const FindByName = yield* SqlResolver.grouped("FindByName", {
        Request: Schema.String,
        RequestGroupKey: (name) => name,
        Result: Person,
        ResultGroupKey: (person) => person.name,
        execute: (names) => sql`SELECT * FROM ${sql(table)} WHERE name IN ${sql.in(names)} ORDER BY id`
      })
      yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ name: "name1" })}`
      const found = yield* Effect.all({
        one: FindByName.execute("name1"),
        two: FindByName.execute("name2"),
        none: FindByName.execute("name0")
      }, { batching: true })
      expect(found).toEqual({
        one: [{ id: 1, name: "name1" }, { id: 101, name: "name1" }],
        two: [{ id: 2, name: "name2" }],
        none: []
      })
    }))

  it.effect("grouped: the group key can be read from the raw row", () =>
    Effect.gen(function*() {
      const { sql, table } = yield* seeded
      const FindByName = yield* SqlResolver.grouped("FindByNameRaw", {
        Request: Schema.String,
        RequestGroupKey: (name) => name,
        Result: Person,
        ResultGroupKey: (_, row: any) => row.name as string,
        execute: (names) => sql`SELECT * FROM ${sql(table)} WHERE name IN ${sql.in(names)} ORDER BY id`
      })
      const found = yield* Effect.all([FindByName.execute("name3"), FindByName.execute("name0")], { batching: true })
      expect(found).toEqual([[{ id: 3, name: "name3" }], []])
    }))

  it.effect("findById: one statement for all ids, Some for a row and None for a missing id", () =>
    Effect.gen(function*() {
      const { sql, table } = yield* seeded
      const batches: Array<ReadonlyArray<number>> = []
      const FindById = yield* SqlResolver.findById("FindById", {
        Id: Schema.Number,
        Result: Person,
        ResultId: (person) => person.id,
        execute: (ids) => {
          batches.push(ids)
          return sql`SELECT * FROM ${sql(table)} WHERE id IN ${sql.in(ids)}`
        }
      })
      const found = yield* Effect.all([FindById.execute(1), FindById.execute(2), FindById.execute(101)], {
        batching: true
      })
      expect(found).toEqual([Option.some({ id: 1, name: "name1" }), Option.some({ id: 2, name: "name2" }), Option.none()])
      expect(batches).toEqual([[1, 2, 101]])
    }))

  it.effect("findById: the id can be read from the raw row", () =>
    Effect.gen(function*() {
      const { sql, table } = yield* seeded
      const FindById = yield* SqlResolver.findById("FindByIdRaw", {
        Id: Schema.Number,
        Result: Person,
        ResultId: (_, row: any) => row.id as number,
        execute: (ids) => sql`SELECT * FROM ${sql(table)} WHERE id IN ${sql.in(ids)}`
      })
      const found = yield* Effect.all([FindById.execute(5), FindById.execute(500)], { batching: true })
      expect(found).toEqual([Option.some({ id: 5, name: "name5" }), Option.none()])
    }))

  it.effect("a resolver inside withTransaction runs on the transaction's connection", () =>
    Effect.gen(function*() {
      const { sql, table } = yield* seeded
      const FindById = yield* SqlResolver.findById("FindByIdInTransaction", {
        Id: Schema.Number,
        Result: Person,
        ResultId: (person) => person.id,
        execute: (ids) => sql`SELECT * FROM ${sql(table)} WHERE id IN ${sql.in(ids)}`
      })
      let seen: Option.Option<unknown> = Option.none()
      const failure = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ name: "uncommitted" })}`
        seen = yield* FindById.execute(101)
        return yield* Effect.fail("roll back")
      })).pipe(Effect.flip)
      expect(failure).toBe("roll back")
      expect(seen).toEqual(Option.some({ id: 101, name: "uncommitted" }))
      expect(yield* FindById.execute(101)).toEqual(Option.none())
    }))
})
