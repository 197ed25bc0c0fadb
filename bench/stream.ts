/**
 * Streams every row of a large messages table, through a raw pg-cursor,
 * postgres.js's `.cursor()` and this project's `Repository.stream`, and records the heap
 * each one holds on to. The figure is the heap still in use after a full GC,
 * sampled twenty times over the run, minus the heap before the stream started: what
 * the stream retains, not garbage that has not been collected yet.
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import { Database, Query, Repository } from "effect-dal"
import { performance } from "node:perf_hooks"
import Cursor from "pg-cursor"
import postgres from "postgres"
import { withClient } from "./db.js"
import { Messages } from "./impl/effect-dal.js"
import { createSeededDatabase, type SeedSize } from "./seed.js"

export interface StreamResult {
  readonly name: string
  readonly rows: number
  readonly ms: number
  /** Largest retained heap growth over the run, in MB. */
  readonly heapGrowthMb: number
}

const EMPTY: SeedSize = { users: 0, messagesPerUser: 0, deletedPerUser: 0, accounts: 0 }
const BATCH = 1_000

const gc = (): void => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error("the stream measurement needs node --expose-gc (npm run bench sets it)")
  collect()
}

/** Runs `consume`, which calls `seen` once per row, and measures it. */
const measure = async (
  name: string,
  expected: number,
  consume: (seen: () => void) => Promise<void>
): Promise<StreamResult> => {
  const sampleEvery = Math.max(1, Math.floor(expected / 20))
  gc()
  const baseline = process.memoryUsage().heapUsed
  let peak = baseline
  let rows = 0
  const start = performance.now()
  await consume(() => {
    rows++
    if (rows % sampleEvery === 0) {
      gc()
      peak = Math.max(peak, process.memoryUsage().heapUsed)
    }
  })
  const ms = performance.now() - start
  console.error(`stream, ${name}: ${rows} rows in ${Math.round(ms)} ms`)
  return { name, rows, ms, heapGrowthMb: (peak - baseline) / 1024 / 1024 }
}

const rawCursor = (url: string) => (seen: () => void) =>
  withClient(url, async (client) => {
    await client.query("begin")
    const cursor = client.query(new Cursor("select * from messages order by id"))
    for (;;) {
      const batch = await cursor.read(BATCH)
      if (batch.length === 0) break
      for (let i = 0; i < batch.length; i++) seen()
    }
    await cursor.close()
    await client.query("commit")
  })

// A portal read 1,000 rows per Execute, each batch awaited before the next is asked for.
const postgresJsCursor = (url: string) => async (seen: () => void) => {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    for await (const batch of sql`select * from messages order by id`.cursor(BATCH)) {
      for (let i = 0; i < batch.length; i++) seen()
    }
  } finally {
    await sql.end({ timeout: 5 })
  }
}

const effectDal = (url: string) => async (seen: () => void) => {
  const runtime = ManagedRuntime.make(Database.layer({ url, maxConnections: 1 }))
  try {
    await runtime.runPromise(Effect.flatMap(Repository.make(Messages), (messages) =>
      messages.stream(Query.make(Messages).pipe(Query.orderBy("id")), { batchSize: BATCH }).pipe(
        // Chunk by chunk, as the raw reader counts a batch in a loop; a
        // per-row Effect would measure Effect, not the stream.
        Stream.runForEachChunk((chunk) =>
          Effect.sync(() => {
            for (let i = 0; i < chunk.length; i++) seen()
          })
        )
      )))
  } finally {
    await runtime.dispose()
  }
}

export const measureStream = async (serverUrl: string, options: { readonly rows: number }): Promise<Array<StreamResult>> => {
  const database = await createSeededDatabase(serverUrl, EMPTY)
  try {
    await withClient(database.url, async (client) => {
      await client.query("alter table messages drop constraint messages_user_id_fkey")
      await client.query(
        `insert into messages (user_id, role, content, content_length)
         select g % 10000, 'user', repeat('x', 100 + g % 50), 100 + g % 50 from generate_series(1, $1::int) g`,
        [options.rows]
      )
      await client.query("vacuum analyze messages")
    })
    return [
      await measure("raw pg-cursor", options.rows, rawCursor(database.url)),
      await measure("postgres.js cursor", options.rows, postgresJsCursor(database.url)),
      await measure("effect-dal stream", options.rows, effectDal(database.url))
    ]
  } finally {
    await database.drop()
  }
}
