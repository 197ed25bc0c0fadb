/**
 * The chat-history schema, as migrations run by `@effect/sql-pg`'s
 * `PgMigrator` on the same pool as everything else (the `Database` layer
 * also provides `SqlClient` and `PgClient`). Each migration runs once; the
 * applied ones are recorded in `effect_sql_migrations`.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export const migrations = {
  "1_create_users": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE TABLE users (
        id bigint PRIMARY KEY,
        name text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`),

  "2_create_user_settings": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE TABLE user_settings (
        user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        max_history_messages integer NOT NULL CHECK (max_history_messages BETWEEN 1 AND 1000),
        system_prompt text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`),

  "3_create_messages": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`
      CREATE TABLE messages (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        role text NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content text NOT NULL,
        content_length integer NOT NULL GENERATED ALWAYS AS (char_length(content)) STORED,
        arrival bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
        created_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
      )`
    // Serves the history query: one user's messages that are not deleted,
    // newest first. (Postgres reads the user's live rows from it and sorts
    // that handful; a partial index "(user_id, created_at DESC) WHERE
    // deleted_at IS NULL" would also spare the sort.)
    yield* sql`
      CREATE INDEX messages_user_history_idx
        ON messages (user_id, deleted_at, created_at)`
  })
}

/**
 * Runs the migrations that have not run yet; succeeds with the ones it ran.
 * `PgMigrator.run` asks for a FileSystem, Path and CommandExecutor (it can
 * dump the schema with pg_dump); `NodeContext.layer` has them.
 */
export const migrate = PgMigrator.run({ loader: PgMigrator.fromRecord(migrations) }).pipe(
  Effect.provide(NodeContext.layer)
)
