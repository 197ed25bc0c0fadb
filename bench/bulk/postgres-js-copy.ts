/**
 * postgres.js's `COPY FROM STDIN`: the same text as the pg loader's
 * (`copy.ts`), written to the stream that `sql\`copy ...\`.writable()`
 * gives, which finishes when the server has the rows.
 */
import postgres from "postgres"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { lines } from "./copy.js"
import type { BulkLoader } from "./types.js"

export const postgresJsCopy: BulkLoader = {
  name: "postgres.js COPY FROM STDIN",
  make: async (url) => {
    const sql = postgres(url, { max: 1, idle_timeout: 0, max_lifetime: null, onnotice: () => {} })
    await sql`select 1`
    return {
      load: async (rows) => {
        const writable = await sql`copy messages (user_id, role, content, content_length) from stdin`.writable()
        await pipeline(Readable.from(lines(rows)), writable)
      },
      close: () => sql.end({ timeout: 5 })
    }
  }
}
