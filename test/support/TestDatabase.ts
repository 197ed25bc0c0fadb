/**
 * A fresh database for a test file, copied from the run's template and
 * dropped afterwards, so files can run in parallel without seeing each
 * other's rows.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { inject } from "vitest"
import * as Database from "../../src/Database.js"
import * as PostgresServer from "../../src/testing/PostgresServer.js"

/** The URL of a new database, dropped when the scope closes. */
export const url: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => {
    const name = PostgresServer.uniqueName("effect_dal_test")
    return PostgresServer.createDatabase(inject("serverUrl"), name, inject("templateDatabase")).then((url) => ({
      url,
      name
    }))
  }),
  ({ name }) => Effect.promise(() => PostgresServer.dropDatabase(inject("serverUrl"), name))
).pipe(Effect.map(({ url }) => url))

/** A Database layer (with SqlClient and PgClient) on a fresh database. */
export const layer = (options: Omit<Database.Options, "url"> = {}) =>
  Layer.unwrapScoped(Effect.map(url, (url) => Database.layer({ ...options, url })))

/** The server URL, for tests that need an admin connection. */
export const serverUrl = () => inject("serverUrl")
