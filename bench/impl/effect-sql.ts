/**
 * Plain `@effect/sql`: the `sql` template on `@effect/sql-pg`'s PgClient, with
 * its snake_case <-> camelCase name transforms doing the row mapping.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { camelToSnake, snakeToCamel } from "effect/String"
import { fromEffects } from "./from-effects.js"
import { attachMessages, balanceChanges } from "./shared.js"
import type { ImplementationModule, Message, User } from "./types.js"
import { POOL_SIZE } from "./types.js"

export const make: ImplementationModule["make"] = async (url) => {
  const runtime = ManagedRuntime.make(PgClient.layer({
    url: Redacted.make(url),
    maxConnections: POOL_SIZE,
    // Keeps warm connections between benchmark cells. PgClient forwards
    // idleTimeout to pg only when it is truthy, so the number 0 would mean
    // pg's default of 10 seconds; Duration.zero reaches pg as 0, "never".
    idleTimeout: Duration.zero,
    transformResultNames: snakeToCamel,
    transformQueryNames: camelToSnake
  }))
  // Built once, as a repository service would be in a layer.
  const sql = await runtime.runPromise(SqlClient.SqlClient)
  const userColumns = sql.literal("id, name, email, created_at")
  const messageColumns = sql.literal("id, user_id, role, content, content_length, created_at, deleted_at")

  return fromEffects(runtime, {
    findById: (id) => Effect.head(sql<User>`select ${userColumns} from users where id = ${id}`),
    recentMessages: (userId) =>
      sql<Message>`select ${messageColumns} from messages
        where user_id = ${userId} and deleted_at is null
        order by created_at desc limit 20`,
    insertOne: (message) =>
      Effect.head(sql<Message>`insert into messages ${sql.insert(message)} returning ${messageColumns}`),
    transfer: (transfer) =>
      sql.withTransaction(Effect.forEach(
        balanceChanges(transfer),
        ({ delta, id }) => sql`update accounts set balance = balance + ${delta} where id = ${id}`,
        { discard: true }
      )),
    insertBatch: (rows) => Effect.asVoid(sql`insert into messages ${sql.insert(rows)}`),
    eagerLoad: (userIds) =>
      Effect.zipWith(
        sql<User>`select ${userColumns} from users where id = any(${userIds}::int[]) order by id`,
        sql<Message>`select ${messageColumns} from messages
          where user_id = any(${userIds}::int[]) and deleted_at is null
          order by user_id, created_at desc`,
        attachMessages
      )
  })
}
