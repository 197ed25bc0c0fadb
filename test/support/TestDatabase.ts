/**
 * A fresh database for a test file, copied from the run's template and
 * dropped afterwards, so files can run in parallel without seeing each
 * other's rows.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { inject } from "vitest"
import * as Database from "../../src/Database.js"
import * as PostgresServer from "../../src/testing/PostgresServer.js"

/** The URL of the test file's database, for admin connections that bypass the library. */
export class TestUrl extends Context.Tag("test/TestUrl")<TestUrl, string>() {}

/** The URL of a new database, dropped when the scope closes. */
export const url: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    const name = PostgresServer.uniqueName("effect_dal_test")
    const url = await PostgresServer.createDatabase(inject("serverUrl"), name, inject("templateDatabase"))
    return { url, name }
  }),
  ({ name }) => Effect.promise(() => PostgresServer.dropDatabase(inject("serverUrl"), name))
).pipe(Effect.map(({ url }) => url))

/** A fresh database's URL as a layer. */
export const layerUrl: Layer.Layer<TestUrl> = Layer.scoped(TestUrl, url)

/** A Database layer (with SqlClient and PgClient) on a fresh database, plus its TestUrl. */
export const layer = (options: Omit<Database.Options, "url"> = {}) =>
  Layer.unwrapEffect(Effect.map(TestUrl, (url) => Database.layer({ ...options, url }))).pipe(
    Layer.provideMerge(layerUrl)
  )

/** The server's URL (its `postgres` database). */
export const serverUrl = (): string => inject("serverUrl")
