/** Raw pg multi-row INSERTs of 1,000 rows each, in one transaction (all or nothing, as COPY is). */
import pg from "pg"
import { valuesOf } from "../impl/raw-pg.js"
import type { BulkLoader } from "./types.js"

const CHUNK = 1_000

export const multiRowInsert: BulkLoader = {
  name: "raw pg multi-row INSERT",
  make: async (url) => {
    const client = new pg.Client({ connectionString: url })
    client.on("error", () => {})
    await client.connect()
    return {
      load: async (rows) => {
        await client.query("begin")
        try {
          for (let i = 0; i < rows.length; i += CHUNK) {
            const { params, text } = valuesOf(rows.slice(i, i + CHUNK))
            await client.query(`insert into messages (user_id, role, content, content_length) values ${text}`, params)
          }
          await client.query("commit")
        } catch (error) {
          await client.query("rollback")
          throw error
        }
      },
      close: () => client.end()
    }
  }
}
