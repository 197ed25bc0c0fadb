/**
 * Decoded reads parse timestamptz by position (src/internal/postgres/parsers.ts)
 * instead of through pg's regular expressions. The value must be the Date
 * pg's own parser gives, for every text PostgreSQL prints and every other
 * text too, and a parser the program registers itself must be kept.
 */
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import pg from "pg"
import * as Database from "../src/Database.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Table from "../src/Table.js"
import { parseTimestamptz, rowParsers } from "../src/internal/postgres/parsers.js"
import * as TestDatabase from "./support/TestDatabase.js"

const pgParser = pg.types.getTypeParser(1184, "text")

// A Date by its time (NaN for an invalid one), anything else as it is.
const comparable = (value: unknown): unknown => value instanceof Date ? { time: value.getTime() } : value

const pad = (n: number, width = 2) => String(Math.abs(n)).padStart(width, "0")

// The text PostgreSQL prints for an instant (milliseconds and the
// microseconds past them) in a zone `offset` seconds east
// of UTC: the local time, the fraction without trailing zeros, and the
// offset as ±HH, ±HH:MM or ±HH:MM:SS.
const printed = (epochMillis: number, extraMicros: number, offset: number): string => {
  const local = new Date(epochMillis + offset * 1000)
  const micros = (((epochMillis % 1000) + 1000) % 1000) * 1000 + extraMicros
  const fraction = micros === 0 ? "" : `.${pad(micros, 6).replace(/0+$/, "")}`
  const a = Math.abs(offset)
  const zone = `${offset < 0 ? "-" : "+"}${pad(Math.floor(a / 3600))}${
    a % 3600 === 0 ? "" : `:${pad(Math.floor(a % 3600 / 60))}${a % 60 === 0 ? "" : `:${pad(a % 60)}`}`
  }`
  return `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())} ${
    pad(local.getUTCHours())
  }:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}${fraction}${zone}`
}

describe("parseTimestamptz", () => {
  it("gives pg's Date for any instant PostgreSQL prints, in any zone", () => {
    const year100 = Date.UTC(100, 0, 2)
    const year9999 = Date.UTC(9999, 11, 30)
    FastCheck.assert(
      FastCheck.property(
        FastCheck.integer({ min: year100, max: year9999 }),
        FastCheck.integer({ min: 0, max: 999 }),
        FastCheck.oneof(
          FastCheck.integer({ min: -15, max: 15 }).map((h) => h * 3600),
          FastCheck.integer({ min: -15 * 60, max: 15 * 60 }).map((m) => m * 60),
          FastCheck.integer({ min: -15 * 3600, max: 15 * 3600 })
        ),
        (millis, micros, offset) => {
          const text = printed(millis, micros, offset)
          const ours = parseTimestamptz(text)
          expect(comparable(ours), text).toEqual(comparable(pgParser(text)))
          expect((ours as Date).getTime(), text).toBe(millis)
        }
      ),
      { numRuns: 2_000, seed: 22 }
    )
  })

  it("gives pg's value for text it does not read by position", () => {
    const texts = [
      "infinity",
      "-infinity",
      "0044-03-15 12:00:00+00 BC",
      "0050-06-01 00:00:00+00",
      "0099-12-31 23:59:59.999+00",
      "12000-01-01 00:00:00+00",
      "2024-01-02 03:04:05.1234567+00",
      "2024-01-02 03:04:05.+00",
      "2024-01-02 03:04:05",
      "2024-01-02 03:04:05+5",
      "2024-01-02 03:04:05+05:3",
      "2024-01-02 03:04:05+05:30:1",
      "2024-01-02 03:04:05+05:30:15x",
      "2024-01-02 03:04:05Z",
      "2024-13-45 25:61:61+00",
      "2O24-01-02 03:04:05+00",
      "2024-01-02 03:04:05.12a+00",
      "2024-01-02 03:04:05+0a",
      "Tue Jan 02 03:04:05 2024 UTC",
      "2024-01-02",
      "",
      "garbage; drop table x"
    ]
    for (const text of texts) expect(comparable(parseTimestamptz(text)), text).toEqual(comparable(pgParser(text)))
  })

  it("replaces pg's timestamptz parser only (not timestamp's, the same function), and keeps one the program registered", () => {
    const fields = [1184, 25, 20, 1114].map((dataTypeID) => ({ dataTypeID, format: "text" as const }))
    const parsers = rowParsers(undefined, fields)
    expect(parsers[0]).toBe(parseTimestamptz)
    expect(parsers.slice(1)).toEqual([25, 20, 1114].map((oid) => pg.types.getTypeParser(oid, "text")))
    const own = (raw: string) => `own ${raw}`
    pg.types.setTypeParser(1184, own)
    try {
      expect(rowParsers(undefined, fields)[0]).toBe(own)
    } finally {
      pg.types.setTypeParser(1184, pgParser)
    }
    expect(rowParsers(undefined, fields)[0]).toBe(parseTimestamptz)
  })
})

class Moment extends Model.Class<Moment>("Moment")({
  id: Schema.Number,
  at: Schema.Unknown
}) {}
const Moments = Table.make(Moment, { name: "moments", primaryKey: "id" })

const stored = [
  "2024-01-02 03:04:05.123456+00",
  "1850-06-01 12:00:00 Europe/Amsterdam",
  "1900-01-01 00:00:00 Asia/Kolkata",
  "0044-03-15 12:00:00+00 BC",
  "0050-06-01 00:00:00+00",
  "infinity",
  "-infinity",
  "2000-02-29 23:59:59.999999+00",
  "1969-12-31 23:59:59.5+00",
  "12000-01-01 00:00:00+00",
  null
]

layer(TestDatabase.layer({ maxConnections: 2 }), { excludeTestServices: true })("timestamptz on PostgreSQL", (it) => {
  it.scoped("findMany and stream read what pg's parser reads, in every session TimeZone", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const url = yield* TestDatabase.TestUrl
      yield* sql`create table moments (id int primary key, at timestamptz)`
      for (const [i, text] of stored.entries()) yield* sql`insert into moments values (${i}, ${text}::timestamptz)`
      const moments = yield* Repository.make(Moments)
      const byId = Query.make(Moments).pipe(Query.orderBy("id"))
      const client = new pg.Client({ connectionString: url })
      yield* Effect.promise(() => client.connect())
      yield* Effect.addFinalizer(() => Effect.promise(() => client.end()))
      for (const zone of ["UTC", "Asia/Kolkata", "America/St_Johns", "Europe/Amsterdam", "Pacific/Chatham"]) {
        yield* Effect.promise(() => client.query(`set timezone = '${zone}'`))
        const expected = (yield* Effect.promise(() => client.query("select id, at from moments order by id"))).rows
          .map((row) => ({ id: row.id, at: comparable(row.at) }))
        expect(expected.length).toBe(stored.length)
        const [found, streamed] = yield* Database.transaction(Effect.gen(function*() {
          yield* sql`select set_config('TimeZone', ${zone}, true)`
          const found = yield* moments.findMany(byId)
          const streamed = yield* Stream.runCollect(moments.stream(byId, { batchSize: 4 }))
          return [found, Chunk.toReadonlyArray(streamed)] as const
        }))
        for (const rows of [found, streamed]) {
          expect(rows.map((row) => ({ id: row.id, at: comparable(row.at) })), zone).toEqual(expected)
        }
      }
      // The zones print other offsets, so the texts differed; the instants did not.
      const printedInChatham = (yield* Effect.promise(() => client.query("select at::text as t from moments where id = 0"))).rows[0].t
      expect(printedInChatham).toBe("2024-01-02 16:49:05.123456+13:45")
    }))
})
