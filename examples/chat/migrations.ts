/**
 * The chat-history schema, as migrations in `./migrations/` run by
 * effect-dal's `Migrator` on the same pool as everything else: each in its
 * own transaction, under an advisory lock, recorded with a checksum in
 * `effect_sql_migrations`. The same directory works with the command line:
 *
 *   npx effect-dal migrate status --dir examples/chat/migrations
 */
import * as Effect from "effect/Effect"
import { Database, Migrator } from "effect-dal"
import { fileURLToPath } from "node:url"
import { Messages, Users, UserSettingsTable } from "./model.js"

/** The migrations directory, next to this file. */
export const directory = fileURLToPath(new URL("./migrations", import.meta.url))

/**
 * Runs the migrations that have not run yet, then checks that the table
 * definitions match what they made; succeeds with the ones it ran.
 */
export const migrate = Effect.gen(function*() {
  const applied = yield* Migrator.up({ source: Migrator.fromDirectory(directory) })
  yield* Database.verify([Users, UserSettingsTable, Messages])
  return applied
})
