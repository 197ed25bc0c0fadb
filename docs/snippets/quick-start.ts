/**
 * README: "A first program", whole: a user copies this file into an empty
 * project and runs it. A test runs it on a fresh database, and the package
 * test runs it compiled to JavaScript (ES module and CommonJS) from the
 * installed package.
 */
// #region program
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Database, Query, Repository, Table } from "effect-dal"

// A model, and the table that stores it.
class User extends Model.Class<User>("User")({
  id: Model.Generated(Schema.Number),
  email: Schema.String,
  name: Schema.String,
  createdAt: Model.DateTimeInsertFromDate,
  updatedAt: Model.DateTimeUpdateFromDate
}) {}

const Users = Table.make(User, {
  name: "users",
  primaryKey: "id",
  uniqueKeys: [["email"]],
  timestamps: { created: "createdAt", updated: "updatedAt" }
})

// The table's DDL; an application would run it as a migration.
const createTable = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql`create table users (
    id serial primary key,
    email text not null unique,
    name text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
  )`)

const program = Effect.gen(function*() {
  yield* createTable
  const users = yield* Repository.make(Users)

  const ada = yield* users.insert({ email: "ada@example.com", name: "Ada" })
  yield* users.insert({ email: "alan@example.com", name: "Alan" })

  const renamed = yield* users.update(ada.id, { name: "Ada Lovelace" })
  const found = yield* users.findMany(
    Query.make(Users).pipe(Query.where({ name: Query.startsWith("A") }), Query.orderBy("email"))
  )
  // Two writes that succeed or fail together.
  yield* Database.transaction(Effect.all([
    users.insert({ email: "grace@example.com", name: "Grace" }),
    users.update(ada.id, { name: "Countess of Lovelace" })
  ]))

  yield* Console.log(`renamed: ${renamed.name}`)
  yield* Console.log(`found: ${found.map((user) => user.email).join(", ")}`)
  yield* Console.log(`users: ${yield* users.count()}`)
})

// DATABASE_URL (or PGHOST, PGDATABASE, ...) names the server. The pool
// closes when the program ends.
Effect.runPromise(program.pipe(Effect.provide(Database.layerConfig())))
// #endregion program
