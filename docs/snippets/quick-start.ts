/**
 * README: "A first program". A model, its table, and a repository.
 */
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Database, Query, Repository, Table } from "effect-dal"

// #region model
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
// #endregion model

/** The table the program needs (created by a migration in a real app). */
export const createTables = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql`create table users (
    id serial primary key,
    email text not null unique,
    name text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
  )`)

// #region program
export const program = Effect.gen(function*() {
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
  return { renamed: renamed.name, found: found.map((u) => u.email), total: yield* users.count() }
})
// #endregion program

// #region run
// Run it: DATABASE_URL (or PGHOST, PGDATABASE, ...) names the server.
export const main = program.pipe(Effect.provide(Database.layerConfig()))
// #endregion run
