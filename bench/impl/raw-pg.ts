/** The reference: a `pg.Pool`, hand-written SQL and hand-written row mapping. */
import pg from "pg"
import { fromPromises } from "./from-promises.js"
import { attachMessages, balanceChanges } from "./shared.js"
import type { ImplementationModule, Message, NewMessage, Role, User } from "./types.js"
import { POOL_SIZE } from "./types.js"

const USER_COLUMNS = "id, name, email, created_at"
const MESSAGE_COLUMNS = "id, user_id, role, content, content_length, created_at, deleted_at"

export interface UserRow {
  id: number
  name: string
  email: string
  created_at: Date
}

export interface MessageRow {
  id: string
  user_id: number
  role: Role
  content: string
  content_length: number
  created_at: Date
  deleted_at: Date | null
}

export const toUser = (row: UserRow): User => ({ id: row.id, name: row.name, email: row.email, createdAt: row.created_at })

export const toMessage = (row: MessageRow): Message => ({
  id: row.id,
  userId: row.user_id,
  role: row.role,
  content: row.content,
  contentLength: row.content_length,
  createdAt: row.created_at,
  deletedAt: row.deleted_at
})

/** `($1, $2, $3, $4), ($5, ...)` and the matching flat parameter list. */
export const valuesOf = (rows: ReadonlyArray<NewMessage>): { text: string; params: Array<unknown> } => {
  const tuples: Array<string> = []
  const params: Array<unknown> = []
  for (const row of rows) {
    const n = params.push(row.userId, row.role, row.content, row.contentLength)
    tuples.push(`($${n - 3}, $${n - 2}, $${n - 1}, $${n})`)
  }
  return { text: tuples.join(", "), params }
}

/** The statements, shared with the Effect floor control so that both send the same SQL. */
export const SQL = {
  findById: `select ${USER_COLUMNS} from users where id = $1`,
  recentMessages: `select ${MESSAGE_COLUMNS} from messages
         where user_id = $1 and deleted_at is null
         order by created_at desc limit 20`,
  insertOne: `insert into messages (user_id, role, content, content_length) values ($1, $2, $3, $4)
         returning ${MESSAGE_COLUMNS}`,
  debitOrCredit: "update accounts set balance = balance + $1 where id = $2",
  /** Followed by the tuples of {@link valuesOf}. */
  insertBatchPrefix: "insert into messages (user_id, role, content, content_length) values ",
  eagerUsers: `select ${USER_COLUMNS} from users where id = any($1::int[]) order by id`,
  eagerMessages: `select ${MESSAGE_COLUMNS} from messages
         where user_id = any($1::int[]) and deleted_at is null
         order by user_id, created_at desc`
} as const

export const make: ImplementationModule["make"] = async (url) => {
  // idleTimeoutMillis 0: keep warm connections between benchmark cells.
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE, idleTimeoutMillis: 0 })
  pool.on("error", () => {})
  await pool.query("select 1")

  return fromPromises({
    findById: async (id) => {
      const { rows } = await pool.query<UserRow>(SQL.findById, [id])
      const row = rows[0]
      if (row === undefined) throw new Error(`no user ${id}`)
      return toUser(row)
    },
    recentMessages: async (userId) => {
      const { rows } = await pool.query<MessageRow>(SQL.recentMessages, [userId])
      return rows.map(toMessage)
    },
    insertOne: async (message) => {
      const { rows } = await pool.query<MessageRow>(
        SQL.insertOne,
        [message.userId, message.role, message.content, message.contentLength]
      )
      return toMessage(rows[0]!)
    },
    transfer: async (transfer) => {
      const client = await pool.connect()
      try {
        await client.query("begin")
        for (const { delta, id } of balanceChanges(transfer)) {
          await client.query(SQL.debitOrCredit, [delta, id])
        }
        await client.query("commit")
        client.release()
      } catch (error) {
        // Closing the connection rolls back whatever state it was left in.
        client.release(true)
        throw error
      }
    },
    insertBatch: async (rows) => {
      const { params, text } = valuesOf(rows)
      await pool.query(SQL.insertBatchPrefix + text, params)
    },
    eagerLoad: async (userIds) => {
      const users = await pool.query<UserRow>(SQL.eagerUsers, [userIds])
      const messages = await pool.query<MessageRow>(SQL.eagerMessages, [userIds])
      return attachMessages(users.rows.map(toUser), messages.rows.map(toMessage))
    }
  }, () => pool.end())
}
