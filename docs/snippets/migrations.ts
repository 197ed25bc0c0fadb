/**
 * README: "Migrations".
 */
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Database, Migrator, Table } from "effect-dal"

class Book extends Model.Class<Book>("Book")({
  id: Model.Generated(Schema.Int),
  isbn: Schema.String,
  title: Schema.String
}) {}
const Books = Table.make(Book, { name: "books", primaryKey: "id", uniqueKeys: [["isbn"]] })

// #region records
const migrations = Migrator.fromRecords([
  {
    id: 1,
    name: "create_books",
    up: "CREATE TABLE books (id serial PRIMARY KEY, isbn text NOT NULL UNIQUE)",
    down: "DROP TABLE books"
  },
  {
    id: 2,
    name: "add_title",
    // An Effect works too; it runs in the migration's transaction.
    up: Effect.flatMap(SqlClient.SqlClient, (sql) => sql`ALTER TABLE books ADD COLUMN title text NOT NULL DEFAULT ''`),
    down: "ALTER TABLE books DROP COLUMN title"
  }
])

const migrate = Effect.gen(function*() {
  const applied = yield* Migrator.up({ source: migrations })
  const status = yield* Migrator.status({ source: migrations })
  // Fails with one SchemaMismatch listing every difference.
  yield* Database.verify([Books])
  return { applied: applied.map((m) => `${m.id}_${m.name}`), pending: status.pending.length }
})
// #endregion records

// #region errors
const guarded = Migrator.up({ source: migrations, lockTimeout: "30 seconds" }).pipe(
  Effect.catchTag("MigrationError", (e) =>
    e.reason === "lock-timeout"
      ? Effect.succeed([]) // another instance is migrating; it will finish the job
      : Effect.fail(e))
)
// #endregion errors

export const program = Effect.gen(function*() {
  const first = yield* migrate
  const again = yield* guarded
  const undone = yield* Migrator.down({ source: migrations, to: 0 })
  return { ...first, again: again.length, undone: undone.map((m) => m.id) }
})
