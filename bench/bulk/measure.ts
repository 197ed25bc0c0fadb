/**
 * Times each bulk loader on an empty messages table in a database of its
 * own, repetitions interleaved. The table has no foreign key: its per-row
 * check is server work, the same for every loader, that would hide the
 * differences between them.
 */
import { performance } from "node:perf_hooks"
import { withClient } from "../db.js"
import { makeInputs, seedOf } from "../inputs.js"
import { benchSize, createSeededDatabase, type SeedSize } from "../seed.js"
import { median } from "../stats.js"
import { bulkLoaders } from "./index.js"
import type { BulkConnection } from "./types.js"

export interface BulkResult {
  readonly name: string
  readonly rows: number
  /** Median over the repetitions. */
  readonly ms: number
}

const EMPTY: SeedSize = { users: 0, messagesPerUser: 0, deletedPerUser: 0, accounts: 0 }

export const measureBulk = async (
  serverUrl: string,
  options: { readonly rows: number; readonly repetitions: number }
): Promise<Array<BulkResult>> => {
  const database = await createSeededDatabase(serverUrl, EMPTY)
  try {
    await withClient(database.url, (client) => client.query("alter table messages drop constraint messages_user_id_fkey"))
    const rows = makeInputs("insertOne", benchSize, seedOf("bulk"), options.rows)
    const loaders: Array<{ readonly name: string; readonly connection: BulkConnection; readonly times: Array<number> }> = []
    try {
      for (const { make, name } of bulkLoaders) loaders.push({ name, connection: await make(database.url), times: [] })
      for (let repetition = 0; repetition < options.repetitions; repetition++) {
        for (const { connection, name, times } of loaders) {
          await withClient(database.url, (client) => client.query("truncate messages"))
          const start = performance.now()
          await connection.load(rows)
          times.push(performance.now() - start)
          console.error(`bulk load, ${name}: ${Math.round(times.at(-1)!)} ms`)
        }
      }
      return loaders.map(({ name, times }) => ({ name, rows: rows.length, ms: median(times) }))
    } finally {
      await Promise.all(loaders.map(({ connection }) => connection.close()))
    }
  } finally {
    await database.drop()
  }
}
