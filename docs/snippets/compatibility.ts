/**
 * README: "Configuration" (name transforms, a pool you already have).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as String from "effect/String"
import pg from "pg"
import { Database, Table } from "effect-dal"

const transformed = (url: string) =>
  // #region transforms
  Database.layer({ url, transformQueryNames: Table.snakeCase, transformResultNames: String.snakeToCamel })
// #endregion transforms

const borrowed = (url: string) => {
  // #region fromPool
  const pool = new pg.Pool({ connectionString: url, max: 20 })
  const DatabaseLive = Database.layerFromPool({
    // Effect.succeed(pool) leaves the pool open when the layer closes.
    acquire: Effect.acquireRelease(Effect.succeed(pool), (pool) => Effect.promise(() => pool.end()))
  })
  // #endregion fromPool
  return { pool, DatabaseLive }
}

/** What the two layers do on a database at `url`. */
export const program = (url: string) =>
  Effect.gen(function*() {
    const rows = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.gen(function*() {
        yield* sql`create table members (id serial primary key, display_name text not null)`
        yield* sql`insert into members ${sql.insert({ displayName: "Ann" })}`
        return yield* sql`select * from members`
      })).pipe(Effect.provide(transformed(url)))
    const { DatabaseLive, pool } = borrowed(url)
    const one = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`select 1 as one_value`).pipe(
      Effect.provide(Layer.fresh(DatabaseLive))
    )
    return { rows, one, poolEnded: pool.ended }
  })
