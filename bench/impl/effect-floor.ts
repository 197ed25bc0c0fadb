/**
 * A control, run with `BENCH_CONTROLS=1`: raw pg's SQL and row mapping, with
 * each round trip wrapped in the thinnest Effect there is (`Effect.async`
 * around the driver's callback), run in each calling mode by `fromEffects`
 * as effect-dal is. No library on top. It shows what any API whose
 * statements are Effects pays on this stack before it does anything of its
 * own; effect-dal's distance to it, in the same mode, is effect-dal's own cost.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import pg from "pg"
import { fromEffects } from "./from-effects.js"
import { type MessageRow, SQL, toMessage, toUser, type UserRow, valuesOf } from "./raw-pg.js"
import { attachMessages, balanceChanges } from "./shared.js"
import type { ImplementationModule } from "./types.js"
import { POOL_SIZE } from "./types.js"

const query = <R extends pg.QueryResultRow>(on: pg.Pool | pg.PoolClient, text: string, values: Array<unknown> = []) =>
  Effect.async<pg.QueryResult<R>, Error>((resume) => {
    on.query<R>(text, values, (error, result) => resume(error ? Effect.fail(error) : Effect.succeed(result)))
  })

const connect = (pool: pg.Pool) =>
  Effect.async<pg.PoolClient, Error>((resume) => {
    pool.connect((error, client) => resume(error || client === undefined ? Effect.fail(error ?? new Error("no client")) : Effect.succeed(client)))
  })

export const make: ImplementationModule["make"] = async (url) => {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE, idleTimeoutMillis: 0 })
  pool.on("error", () => {})
  await pool.query("select 1")
  const runtime = ManagedRuntime.make(Layer.empty)
  const implementation = fromEffects(runtime, {
    findById: (id) =>
      Effect.flatMap(query<UserRow>(pool, SQL.findById, [id]), ({ rows }) =>
        rows[0] === undefined ? Effect.dieMessage(`no user ${id}`) : Effect.succeed(toUser(rows[0]))),
    recentMessages: (userId) =>
      Effect.map(
        query<MessageRow>(pool, SQL.recentMessages, [userId]),
        ({ rows }) => rows.map(toMessage)
      ),
    insertOne: (message) =>
      Effect.map(
        query<MessageRow>(pool, SQL.insertOne, [message.userId, message.role, message.content, message.contentLength]),
        ({ rows }) => toMessage(rows[0]!)
      ),
    transfer: (transfer) =>
      Effect.acquireUseRelease(
        connect(pool),
        (client) =>
          Effect.zipRight(
            query(client, "begin"),
            Effect.zipRight(
              Effect.forEach(
                balanceChanges(transfer),
                ({ delta, id }) => query(client, SQL.debitOrCredit, [delta, id]),
                { discard: true }
              ),
              Effect.asVoid(query(client, "commit"))
            )
          ),
        // Closing the connection rolls back whatever state it was left in.
        (client, exit) => Effect.sync(() => client.release(exit._tag === "Failure"))
      ),
    insertBatch: (rows) => {
      const { params, text } = valuesOf(rows)
      return Effect.asVoid(query(pool, SQL.insertBatchPrefix + text, params))
    },
    eagerLoad: (userIds) =>
      Effect.zipWith(
        Effect.map(query<UserRow>(pool, SQL.eagerUsers, [userIds]), ({ rows }) => rows.map(toUser)),
        Effect.map(query<MessageRow>(pool, SQL.eagerMessages, [userIds]), ({ rows }) => rows.map(toMessage)),
        attachMessages
      )
  })
  return {
    ...implementation,
    close: async () => {
      await implementation.close()
      await pool.end()
    }
  }
}
