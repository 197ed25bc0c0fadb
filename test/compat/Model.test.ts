/**
 * What `@effect/sql`'s Model tests check (`Model.makeRepository` and
 * `Model.makeDataLoaders`: insert, insertVoid, update, findById, delete,
 * with and without name transforms), on PostgreSQL, on both layers; and that
 * a row read with `sql` under the name transforms has the field names of
 * effect-dal's repository for the same table.
 */
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as String from "effect/String"
import * as Database from "../../src/Database.js"
import * as Repository from "../../src/Repository.js"
import * as Table from "../../src/Table.js"
import * as TestDatabase from "../support/TestDatabase.js"
import { clientLayer, freshClient, onBoth } from "./flavours.js"

class Person extends Model.Class<Person>("Person")({
  id: Model.Generated(Schema.Int),
  name: Schema.String,
  age: Schema.Int
}) {}

class Member extends Model.Class<Member>("Member")({
  id: Model.Generated(Schema.Int),
  displayName: Schema.String,
  joinedYear: Schema.Int
}) {}

let tables = 0
const createPeople = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const tableName = `model_people_${++tables}`
  yield* sql`CREATE TABLE ${sql(tableName)} (id serial PRIMARY KEY, name text NOT NULL, age int NOT NULL)`
  return tableName
})

onBoth("Model.makeRepository and Model.makeDataLoaders", (flavour) => freshClient(flavour), (it) => {
  it.effect("insert returns the row with its generated id, and findById reads it back", () =>
    Effect.gen(function*() {
      const tableName = yield* createPeople
      const people = yield* Model.makeRepository(Person, { tableName, idColumn: "id", spanPrefix: "People" })
      const alice = yield* people.insert(Person.insert.make({ name: "Alice", age: 30 }))
      expect(alice).toEqual(new Person({ id: 1, name: "Alice", age: 30 }))
      expect(yield* people.findById(1)).toEqual(Option.some(alice))
      expect(yield* people.findById(2)).toEqual(Option.none())
    }))

  it.effect("insertVoid writes the row and returns nothing", () =>
    Effect.gen(function*() {
      const tableName = yield* createPeople
      const people = yield* Model.makeRepository(Person, { tableName, idColumn: "id", spanPrefix: "People" })
      expect(yield* people.insertVoid(Person.insert.make({ name: "Alice", age: 30 }))).toBeUndefined()
      const sql = yield* SqlClient.SqlClient
      expect(yield* sql`SELECT name, age FROM ${sql(tableName)}`).toEqual([{ name: "Alice", age: 30 }])
    }))

  it.effect("update returns the updated row, and delete removes it", () =>
    Effect.gen(function*() {
      const tableName = yield* createPeople
      const people = yield* Model.makeRepository(Person, { tableName, idColumn: "id", spanPrefix: "People" })
      const alice = yield* people.insert(Person.insert.make({ name: "Alice", age: 30 }))
      const bob = yield* people.update(Person.update.make({ ...alice, name: "Bob" }))
      expect(bob).toEqual(new Person({ id: alice.id, name: "Bob", age: 30 }))
      yield* people.delete(alice.id)
      expect(yield* people.findById(alice.id)).toEqual(Option.none())
    }))

  it.effect("data loaders batch concurrent inserts and lookups", () =>
    Effect.gen(function*() {
      const tableName = yield* createPeople
      const people = yield* Model.makeDataLoaders(Person, {
        tableName,
        idColumn: "id",
        spanPrefix: "People",
        window: "10 millis"
      })
      const [alice, john] = yield* Effect.all([
        people.insert(Person.insert.make({ name: "Alice", age: 30 })),
        people.insert(Person.insert.make({ name: "John", age: 40 }))
      ], { batching: true })
      expect([alice.name, john.name]).toEqual(["Alice", "John"])
      const found = yield* Effect.all([people.findById(alice.id), people.findById(john.id), people.findById(99)], {
        batching: true
      })
      expect(found.map(Option.map((person) => person.name))).toEqual([Option.some("Alice"), Option.some("John"), Option.none()])
    }).pipe(Effect.scoped))
})

onBoth(
  "Model.makeRepository with name transforms",
  (flavour) => freshClient(flavour, { transformQueryNames: String.camelToSnake, transformResultNames: String.snakeToCamel }),
  (it) => {
    it.effect("insert and update write camelCase fields to snake_case columns and read them back", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE members (id serial PRIMARY KEY, display_name text NOT NULL, joined_year int NOT NULL)`
        const members = yield* Model.makeRepository(Member, { tableName: "members", idColumn: "id", spanPrefix: "Members" })
        const ann = yield* members.insert(Member.insert.make({ displayName: "Ann", joinedYear: 2020 }))
        expect(ann).toEqual(new Member({ id: 1, displayName: "Ann", joinedYear: 2020 }))
        const renamed = yield* members.update(Member.update.make({ ...ann, displayName: "Anne" }))
        expect(renamed).toEqual(new Member({ id: 1, displayName: "Anne", joinedYear: 2020 }))
        expect(yield* sql`SELECT display_name FROM members`.withoutTransform).toEqual([{ display_name: "Anne" }])
      }))
  }
)

// effect-dal's repository for the same table: snake_case columns by default.
const Members = Table.make(Member, { name: "members", primaryKey: "id" })

// The flavour's SqlClient with the transforms, and a Database for the
// repository, on one fresh database (for PgClient.layer, two pools).
const clientAndRepository = (flavour: "PgClient.layer" | "Database.layer") =>
  Layer.unwrapEffect(Effect.map(TestDatabase.TestUrl, (url) => {
    const transforms = { transformQueryNames: Table.snakeCase, transformResultNames: String.snakeToCamel }
    return flavour === "Database.layer"
      ? Database.layer({ url, ...transforms })
      // The right-hand layer's SqlClient wins: PgClient's.
      : Layer.merge(Database.layer({ url }), clientLayer(flavour, url, transforms))
  })).pipe(Layer.provideMerge(TestDatabase.layerUrl))

onBoth("sql next to effect-dal repositories", clientAndRepository, (it) => {
  it.effect("a row read with sql has the field names of the repository's model", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE members (id serial PRIMARY KEY, display_name text NOT NULL, joined_year int NOT NULL)`
      const members = yield* Repository.make(Members)
      const written = yield* members.insert({ displayName: "Ann", joinedYear: 2020 })
      const [row] = yield* sql<Record<string, unknown>>`SELECT * FROM members`
      expect(Object.keys(row!).sort()).toEqual(Object.keys(Member.fields).sort())
      expect(row).toEqual({ ...written })
      // And what sql writes under the transforms, the repository reads.
      yield* sql`INSERT INTO members ${sql.insert({ displayName: "Bo", joinedYear: 2021 })}`
      expect((yield* members.findMany()).map((member) => member.displayName)).toEqual(["Ann", "Bo"])
    }))
})
