/** `COPY FROM STDIN` in text format: the physical limit for loading rows. */
import pg from "pg"
import { from as copyFrom } from "pg-copy-streams"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import type { NewMessage } from "../impl/types.js"
import type { BulkLoader } from "./types.js"

/** Escapes a value for COPY's text format. */
const escape = (value: string): string => value.replace(/[\\\t\n\r]/g, (char) => ESCAPES[char]!)
const ESCAPES: Readonly<Record<string, string>> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" }

/** The rows as COPY text, a thousand lines per chunk to keep the stream's overhead low. */
export function* lines(rows: ReadonlyArray<NewMessage>): Generator<string> {
  for (let i = 0; i < rows.length; i += 1_000) {
    let chunk = ""
    for (const row of rows.slice(i, i + 1_000)) {
      chunk += `${row.userId}\t${escape(row.role)}\t${escape(row.content)}\t${row.contentLength}\n`
    }
    yield chunk
  }
}

export const copy: BulkLoader = {
  name: "COPY FROM STDIN",
  make: async (url) => {
    const client = new pg.Client({ connectionString: url })
    client.on("error", () => {})
    await client.connect()
    return {
      load: (rows) =>
        pipeline(
          Readable.from(lines(rows)),
          client.query(copyFrom("copy messages (user_id, role, content, content_length) from stdin"))
        ),
      close: () => client.end()
    }
  }
}
