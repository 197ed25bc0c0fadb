/**
 * How `Repository.stream` talks to PostgreSQL, counted on the wire: a TCP
 * proxy between the pool and the server (support/wireProxy.ts) counts the
 * Parse and Execute messages the library sends. A stream whose LIMIT fits in one batch runs
 * findMany's prepared statement once; other streams read a cursor over that
 * prepared statement (parsed once per session), asking for the next batch
 * as one is handed over, never more than one batch ahead of the consumer.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Database from "../src/Database.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import { Readings, readingsDdl } from "./support/readings.js"
import * as TestDatabase from "./support/TestDatabase.js"
import { type WireProxy, wireProxy } from "./support/wireProxy.js"

/** Parse and Execute messages `effect` sends, and its result. */
const counted = <A, E, R>(proxy: WireProxy, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const parses = proxy.sent("P")
    const executes = proxy.sent("E")
    const value = yield* effect
    return { value, parses: proxy.sent("P") - parses, executes: proxy.sent("E") - executes }
  })

/** The sizes of the chunks a stream emits, and their rows' values. */
const chunksOf = <A extends { readonly value: number }, E, R>(stream: Stream.Stream<A, E, R>) =>
  Effect.map(
    Stream.runCollect(Stream.mapChunks(stream, (chunk) => Chunk.of(Chunk.toReadonlyArray(chunk).map((r) => r.value)))),
    (chunks) => Chunk.toReadonlyArray(chunks)
  )

/** Runs `use` on a Database layer through a counting proxy, over a `readings` table of `rows` rows (values 0…rows-1). */
const withReadings = <A, E>(
  rows: number,
  use: (proxy: WireProxy) => Effect.Effect<A, E, Database.Database | SqlClient.SqlClient>,
  options: Omit<Database.Options, "url"> = { maxConnections: 1 }
) =>
  Effect.gen(function*() {
    const url = yield* TestDatabase.url
    const proxy = yield* wireProxy(url)
    return yield* Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(readingsDdl())
      yield* sql`insert into readings (sensor, value, unit, taken_at)
        select 's', g, 'x', timestamptz '2026-01-01' from generate_series(0, ${rows - 1}) g`
      return yield* use(proxy)
    }).pipe(Effect.provide(Database.layer({ ...options, url: proxy.url })))
  }).pipe(Effect.scoped)

const byValue = Query.make(Readings).pipe(Query.orderBy("value"))
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

describe("stream on the wire", () => {
  it.live("a stream whose LIMIT fits in one batch runs findMany's prepared statement: one Execute, no Parse again", () =>
    withReadings(30, (proxy) =>
      Effect.gen(function*() {
        const readings = yield* Repository.make(Readings)
        const query = byValue.pipe(Query.limit(5))
        const found = yield* counted(proxy, readings.findMany(query))
        expect(found.value.map((r) => r.value)).toEqual(range(0, 5))
        expect(found.parses).toBe(1)
        const streamed = yield* counted(proxy, chunksOf(readings.stream(query, { batchSize: 5 })))
        expect(streamed.value).toEqual([range(0, 5)])
        expect(streamed.parses).toBe(0)
        expect(streamed.executes).toBe(1)
        // A LIMIT past the batch size reads the cursor, a batch at a time.
        const larger = yield* counted(proxy, chunksOf(readings.stream(byValue.pipe(Query.limit(12)), { batchSize: 5 })))
        expect(larger.value).toEqual([range(0, 5), range(5, 10), range(10, 12)])
        expect(larger.executes).toBe(3)
        // No rows: no chunk.
        const none = yield* chunksOf(readings.stream(byValue.pipe(Query.where({ value: -1 }), Query.limit(3)), { batchSize: 5 }))
        expect(none).toEqual([])
      })))

  it.live("a cursor's statement is prepared once per session, shared with findMany, and kept in pg_prepared_statements", () =>
    withReadings(25, (proxy) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const readings = yield* Repository.make(Readings)
        const firstRun = yield* counted(proxy, chunksOf(readings.stream(byValue, { batchSize: 10 })))
        expect(firstRun.value).toEqual([range(0, 10), range(10, 20), range(20, 25)])
        expect(firstRun.parses).toBe(1)
        // Each batch is one Execute: the first leaves with the Parse, the
        // next as the previous one is handed over.
        expect(firstRun.executes).toBe(3)
        const again = yield* counted(proxy, chunksOf(readings.stream(byValue, { batchSize: 10 })))
        expect(again.value).toEqual(firstRun.value)
        expect(again.parses).toBe(0)
        const found = yield* counted(proxy, readings.findMany(byValue))
        expect(found.value).toHaveLength(25)
        expect(found.parses).toBe(0)
        const prepared = yield* sql<{ statement: string }>`select statement from pg_prepared_statements`
        const reads = prepared.filter((p) => p.statement.includes(`FROM "readings"`) && p.statement.includes("ORDER BY"))
        expect(reads).toHaveLength(1)
        // A batch the server ends (CommandComplete) ends the stream: no read after it.
        const short = yield* counted(proxy, chunksOf(readings.stream(byValue, { batchSize: 100 })))
        expect(short.value).toEqual([range(0, 25)])
        expect(short.executes).toBe(1)
      })))

  it.live("a consumer that stops early leaves at most one batch asked for ahead of it, and the session clean", () =>
    withReadings(100, (proxy) =>
      Effect.gen(function*() {
        const readings = yield* Repository.make(Readings)
        const taken = yield* counted(proxy, Stream.runCollect(Stream.take(readings.stream(byValue, { batchSize: 10 }), 15)))
        expect(Chunk.toReadonlyArray(taken.value).map((r) => r.value)).toEqual(range(0, 15))
        // Batches 1 and 2 were consumed; batch 3 was asked for as batch 2 was handed over.
        expect(taken.executes).toBe(3)
        const stats = yield* Database.stats
        expect(stats.active).toBe(0)
        expect((yield* readings.findMany(byValue.pipe(Query.limit(2)))).map((r) => r.value)).toEqual([0, 1])
        // Batches that come exactly to the end: the last Execute finds no rows.
        const exact = yield* counted(proxy, chunksOf(readings.stream(byValue.pipe(Query.where({ value: Query.lt(20) })), { batchSize: 10 })))
        expect(exact.value).toEqual([range(0, 10), range(10, 20)])
        expect(exact.executes).toBe(3)
      })))

  it.live("a migration that changes a column's type under a prepared cursor statement is recovered on another session", () =>
    withReadings(12, () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const readings = yield* Repository.make(Readings)
        const both = Effect.all([
          chunksOf(readings.stream(byValue, { batchSize: 5 })),
          chunksOf(readings.stream(byValue, { batchSize: 5 }))
        ], { concurrency: 2 })
        // Prepare the statement on both pooled connections.
        const before = yield* both
        expect(before).toEqual([[range(0, 5), range(5, 10), range(10, 12)], [range(0, 5), range(5, 10), range(10, 12)]])
        yield* sql`alter table readings alter column value type numeric using value::numeric`
        const after = yield* both
        expect(after).toEqual(before)
        const one = yield* readings.findOne(byValue.pipe(Query.where({ value: 3 })))
        assert(Option.isSome(one))
        expect(one.value.value).toBe(3)
      }), { maxConnections: 2 }))
})
