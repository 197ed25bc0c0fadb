/** Kysely's query builder with its PostgresDialect over a `pg.Pool`, and its CamelCasePlugin for row mapping. */
import { CamelCasePlugin, type Generated, Kysely, PostgresDialect } from "kysely"
import pg from "pg"
import { fromPromises } from "./from-promises.js"
import { attachMessages, balanceChanges } from "./shared.js"
import type { ImplementationModule, Role } from "./types.js"
import { POOL_SIZE } from "./types.js"

interface Schema {
  users: {
    id: number
    name: string
    email: string
    createdAt: Generated<Date>
  }
  messages: {
    id: Generated<string>
    userId: number
    role: Role
    content: string
    contentLength: number
    createdAt: Generated<Date>
    deletedAt: Date | null
  }
  accounts: {
    id: number
    // int8: written as a number, read back by pg as a string.
    balance: number | string
  }
}

const USER_COLUMNS = ["id", "name", "email", "createdAt"] as const
const MESSAGE_COLUMNS = ["id", "userId", "role", "content", "contentLength", "createdAt", "deletedAt"] as const

export const make: ImplementationModule["make"] = async (url) => {
  // idleTimeoutMillis 0: keep warm connections between benchmark cells.
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE, idleTimeoutMillis: 0 })
  pool.on("error", () => {})
  await pool.query("select 1")
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }), plugins: [new CamelCasePlugin()] })

  return fromPromises({
    findById: (id) => db.selectFrom("users").select(USER_COLUMNS).where("id", "=", id).executeTakeFirstOrThrow(),
    recentMessages: (userId) =>
      db.selectFrom("messages")
        .select(MESSAGE_COLUMNS)
        .where("userId", "=", userId)
        .where("deletedAt", "is", null)
        .orderBy("createdAt", "desc")
        .limit(20)
        .execute(),
    insertOne: (message) =>
      db.insertInto("messages").values(message).returning(MESSAGE_COLUMNS).executeTakeFirstOrThrow(),
    transfer: (transfer) =>
      db.transaction().execute(async (tx) => {
        for (const { delta, id } of balanceChanges(transfer)) {
          await tx.updateTable("accounts")
            .set((eb) => ({ balance: eb("balance", "+", delta) }))
            .where("id", "=", id)
            .execute()
        }
      }),
    insertBatch: async (rows) => {
      await db.insertInto("messages").values(rows).execute()
    },
    eagerLoad: async (userIds) => {
      const users = await db.selectFrom("users")
        .select(USER_COLUMNS)
        .where("id", "=", (eb) => eb.fn.any(eb.val(userIds)))
        .orderBy("id")
        .execute()
      const messages = await db.selectFrom("messages")
        .select(MESSAGE_COLUMNS)
        .where("userId", "=", (eb) => eb.fn.any(eb.val(userIds)))
        .where("deletedAt", "is", null)
        .orderBy("userId")
        .orderBy("createdAt", "desc")
        .execute()
      return attachMessages(users, messages)
    }
  }, () => db.destroy())
}
