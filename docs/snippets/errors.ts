/**
 * README: "Errors".
 */
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { DatabaseError, Repository, Table } from "effect-dal"

class Account extends Model.Class<Account>("Account")({
  id: Model.Generated(Schema.Number),
  email: Schema.String
}) {}
const Accounts = Table.make(Account, { name: "accounts", primaryKey: "id", uniqueKeys: [["email"]] })

export const createTables = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql`create table accounts (id serial primary key, email text not null unique)`)

// #region catchTag
const signUp = (email: string) =>
  Effect.gen(function*() {
    const accounts = yield* Repository.make(Accounts)
    return yield* accounts.insert({ email })
  }).pipe(
    Effect.map((account) => `welcome, account ${account.id}`),
    // Typed, with the constraint Postgres reported.
    Effect.catchTag("UniqueViolation", (e) => Effect.succeed(`${e.constraint}: that email is taken`))
  )
// #endregion catchTag

// #region retryable
const isWorthRetrying = (error: unknown) => DatabaseError.isRetryable(error)
// #endregion retryable

// #region sql
// Plain @effect/sql code keeps its SqlError; the typed error is its cause.
const rawInsert = (email: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`insert into accounts (email) values (${email})`).pipe(
    Effect.mapError(DatabaseError.fromSqlError)
  )
// #endregion sql

export const program = Effect.gen(function*() {
  const first = yield* signUp("ada@example.com")
  const second = yield* signUp("ada@example.com")
  const raw = yield* Effect.flip(rawInsert("ada@example.com"))
  return { first, second, rawTag: raw._tag, retryable: isWorthRetrying(raw) }
})
