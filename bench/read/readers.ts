/**
 * The readers the "read N rows" group compares. Each reads the first `n`
 * rows of `wide_rows` by key and returns how many it got; each runs in a
 * worker process of its own (read/worker.ts).
 */
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import { Database, Query, Repository } from "effect-dal"
import pg from "pg"
import postgres from "postgres"
import { numberTypes, READ_SQL, toWide, type WideRowRaw, WideRows } from "./table.js"

export interface Reader {
  readonly read: (n: number) => Promise<number>
  readonly close: () => Promise<void>
}

export interface ReaderRegistration {
  readonly name: string
  readonly make: (url: string) => Promise<Reader>
}

const pool = async (url: string) => {
  // A pool of one: the reads are one after the other.
  const p = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 0, types: numberTypes(pg.types) })
  p.on("error", () => {})
  await p.query("select 1")
  return p
}

const rawPg: ReaderRegistration["make"] = async (url) => {
  const p = await pool(url)
  return {
    read: async (n) => {
      const { rows } = await p.query<WideRowRaw>(READ_SQL, [n])
      return rows.map(toWide).length
    },
    close: () => p.end()
  }
}

const postgresJs: ReaderRegistration["make"] = async (url) => {
  const sql = postgres(url, {
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    transform: postgres.camel,
    // int8 and numeric as numbers, as the others parse them.
    types: { number: { to: 0, from: [20, 1700], serialize: String, parse: Number } },
    onnotice: () => {}
  })
  await sql`select 1`
  return {
    read: async (n) =>
      (await sql`select id, name, email, visits, amount, active, created_at, data from wide_rows order by id limit ${n}`)
        .length,
    close: () => sql.end({ timeout: 5 })
  }
}

// pg's read as a bare Effect.async, in a runtime of its own.
const effectRead = async (url: string) => {
  const p = await pool(url)
  const runtime = ManagedRuntime.make(Layer.empty)
  const query = (n: number) =>
    Effect.async<pg.QueryResult<WideRowRaw>, Error>((resume) => {
      p.query<WideRowRaw>(READ_SQL, [n], (error, result) => resume(error ? Effect.fail(error) : Effect.succeed(result)))
    })
  const close = async () => {
    await runtime.dispose()
    await p.end()
  }
  return { runtime, query, close }
}

/** The thinnest Effect there is around pg's read: what any Effect API pays on this stack. */
const effectFloor: ReaderRegistration["make"] = async (url) => {
  const { close, query, runtime } = await effectRead(url)
  return { read: (n) => runtime.runPromise(Effect.map(query(n), ({ rows }) => rows.map(toWide).length)), close }
}

/**
 * The thinnest Effect stream over the Effect floor's read: its rows written
 * as one chunk on the stream's channel, consumed as effect-dal's stream is.
 * What any Effect 3 stream pays on this stack before a data layer adds
 * anything. The cheapest form measured (CPU per 1-row call, one process,
 * no database): this 292 µs, `Stream.fromEffect` and `mapConcat` 301 µs,
 * `Stream.fromIterableEffect` 476 µs, against 10 µs for the read's effect.
 */
const streamFloor: ReaderRegistration["make"] = async (url) => {
  const { close, query, runtime } = await effectRead(url)
  return {
    read: (n) => {
      let rows = 0
      return runtime.runPromise(
        Stream.fromChannel(Channel.flatMap(Channel.fromEffect(query(n)), ({ rows }) => Channel.write(Chunk.unsafeFromArray(rows.map(toWide))))).pipe(
          Stream.runForEachChunk((chunk) => Effect.sync(() => void (rows += chunk.length))),
          Effect.map(() => rows)
        )
      )
    },
    close
  }
}

/**
 * `stream` reads the first n rows with a LIMIT, as the others do: a LIMIT
 * that fits in one batch is one statement. `stream (cursor)` reads the same
 * rows by a key range, without a LIMIT, so that every size reads a cursor.
 */
const effectDal = (how: "findMany" | "stream" | "cursor"): ReaderRegistration["make"] => async (url) => {
  const runtime = ManagedRuntime.make(Database.layer({ url, maxConnections: 1, idleTimeout: 0 }))
  const wide = await runtime.runPromise(Repository.make(WideRows))
  const query = how === "cursor"
    ? (n: number) => Query.make(WideRows).pipe(Query.where({ id: Query.lte(n) }), Query.orderBy("id"))
    : (n: number) => Query.make(WideRows).pipe(Query.orderBy("id"), Query.limit(n))
  const read = how === "findMany"
    ? (n: number) => runtime.runPromise(Effect.map(wide.findMany(query(n)), (rows) => rows.length))
    : (n: number) => {
      let rows = 0
      return runtime.runPromise(
        wide.stream(query(n), { batchSize: 1_000 }).pipe(
          Stream.runForEachChunk((chunk) => Effect.sync(() => void (rows += chunk.length))),
          Effect.map(() => rows)
        )
      )
    }
  return { read, close: () => runtime.dispose() }
}

/** The first is the reference every ratio is relative to. */
export const readers: ReadonlyArray<ReaderRegistration> = [
  { name: "raw pg", make: rawPg },
  { name: "postgres.js", make: postgresJs },
  { name: "Effect floor", make: effectFloor },
  { name: "effect-dal findMany", make: effectDal("findMany") },
  { name: "effect-dal stream", make: effectDal("stream") },
  { name: "effect-dal stream (cursor)", make: effectDal("cursor") },
  { name: "Stream floor", make: streamFloor }
]
