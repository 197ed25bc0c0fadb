/**
 * postgres.js (the `postgres` package), as a user who picks it for speed
 * writes it: `sql` tagged templates, which it prepares by default (a named
 * statement per query text and connection), and its camelCase transform,
 * which names the columns once per statement rather than mapping each row.
 * Promise-based: the same code in both calling modes.
 */
import postgres from "postgres"
import { fromPromises } from "./from-promises.js"
import { attachMessages, balanceChanges } from "./shared.js"
import type { ImplementationModule, Message, User } from "./types.js"
import { POOL_SIZE } from "./types.js"

export const make: ImplementationModule["make"] = async (url) => {
  const sql = postgres(url, {
    max: POOL_SIZE,
    // Warm connections for the whole run, as pg's with idleTimeoutMillis 0:
    // no idle timeout (0 is none) and no recycling (by default every 30 to
    // 60 minutes).
    idle_timeout: 0,
    max_lifetime: null,
    // Parsing as pg's: int8 and numeric stay strings, timestamps become Dates
    // (postgres.js's defaults; only int2, int4, oid, float4 and float8 become
    // numbers). Nothing here reads an int8, but the choice is the same.
    transform: postgres.camel,
    onnotice: () => {}
  })
  await sql`select 1`

  return fromPromises({
    findById: async (id) => {
      const [user] = await sql<Array<User>>`select id, name, email, created_at from users where id = ${id}`
      if (user === undefined) throw new Error(`no user ${id}`)
      return user
    },
    recentMessages: (userId) =>
      sql<Array<Message>>`select id, user_id, role, content, content_length, created_at, deleted_at from messages
        where user_id = ${userId} and deleted_at is null
        order by created_at desc limit 20`,
    insertOne: async (message) => {
      const [stored] = await sql<Array<Message>>`insert into messages (user_id, role, content, content_length)
        values (${message.userId}, ${message.role}, ${message.content}, ${message.contentLength})
        returning id, user_id, role, content, content_length, created_at, deleted_at`
      return stored!
    },
    transfer: async (transfer) => {
      await sql.begin(async (tx) => {
        for (const { delta, id } of balanceChanges(transfer)) {
          await tx`update accounts set balance = balance + ${delta} where id = ${id}`
        }
      })
    },
    insertBatch: async (rows) => {
      // The insert helper: column names through the transform, one tuple of parameters per row.
      await sql`insert into messages ${sql(rows, "userId", "role", "content", "contentLength")}`
    },
    eagerLoad: async (userIds) => {
      const users = await sql<Array<User>>`select id, name, email, created_at from users
        where id = any(${userIds}::int[]) order by id`
      const messages = await sql<Array<Message>>`select id, user_id, role, content, content_length, created_at, deleted_at
        from messages
        where user_id = any(${userIds}::int[]) and deleted_at is null
        order by user_id, created_at desc`
      return attachMessages(users, messages)
    }
  }, () => sql.end({ timeout: 5 }))
}
