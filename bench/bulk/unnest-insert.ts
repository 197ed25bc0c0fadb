/**
 * Raw pg INSERT ... SELECT FROM unnest(arrays): one parameter per column
 * whatever the row count, so no 65,535-parameter limit and one statement
 * for the whole load.
 */
import pg from "pg"
import type { BulkLoader } from "./types.js"

const loader = (name: string, returning: boolean): BulkLoader => ({
  name,
  make: async (url) => {
    const client = new pg.Client({ connectionString: url })
    client.on("error", () => {})
    await client.connect()
    return {
      load: async (rows) => {
        await client.query(
          `insert into messages (user_id, role, content, content_length)
           select * from unnest($1::int[], $2::text[], $3::text[], $4::int[])${returning ? " returning *" : ""}`,
          [
            rows.map((row) => row.userId),
            rows.map((row) => row.role),
            rows.map((row) => row.content),
            rows.map((row) => row.contentLength)
          ]
        )
      },
      close: () => client.end()
    }
  }
})

export const unnestInsert = loader("raw pg INSERT ... unnest", false)
/** The same, reading every stored row back: what `insertMany` does. */
export const unnestInsertReturning = loader("raw pg INSERT ... unnest RETURNING *", true)
