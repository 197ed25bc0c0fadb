/**
 * The array literal effect-dal writes for a many-row insert is the text pg
 * itself would write for the same array (pg/lib/utils prepareValue), for
 * any values an encoded scalar column holds; anything else is left to pg.
 * And through PostgreSQL: rows with quotes, backslashes, braces, commas
 * and the word NULL come back as they went in.
 */
import * as Model from "@effect/sql/Model"
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { createRequire } from "node:module"
import * as Database from "../src/Database.js"
import { arrayLiteral, arrayParameter } from "../src/internal/postgres/arrayLiteral.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Table from "../src/Table.js"
import * as Fixtures from "../src/testing/Fixtures.js"
import { Settings } from "../src/testing/Fixtures.js"
import * as Admin from "./support/admin.js"
import { type StatementLog, statementLog } from "./support/statementLog.js"
import * as TestDatabase from "./support/TestDatabase.js"

const require = createRequire(import.meta.url)
const { prepareValue } = require("pg/lib/utils.js") as { prepareValue: (value: unknown) => unknown }

const scalar = FastCheck.oneof(
  FastCheck.string({ unit: "binary" }),
  FastCheck.constantFrom("", "\"", "\\", "\\\"", "{a,b}", "NULL", "a,b", " spaced ", "é€𝄞"),
  FastCheck.double(),
  FastCheck.integer(),
  FastCheck.boolean(),
  FastCheck.bigInt(),
  FastCheck.constant(null)
)

describe("arrayLiteral", () => {
  it("writes what pg writes for arrays of strings, numbers, booleans, bigints and nulls", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.array(scalar, { maxLength: 40 }), (values) => {
        expect(arrayLiteral(values)).toBe(prepareValue(values))
      }),
      { numRuns: 2_000, seed: 17 }
    )
    expect(arrayLiteral([])).toBe("{}")
    expect(arrayLiteral(["a\"b", "c\\d", null])).toBe("{\"a\\\"b\",\"c\\\\d\",NULL}")
  })

  it("leaves dates, buffers, objects and nested arrays to pg", () => {
    expect(arrayLiteral(["a", new Date(0)])).toBeUndefined()
    expect(arrayLiteral([Buffer.from("x")])).toBeUndefined()
    expect(arrayLiteral([{ a: 1 }])).toBeUndefined()
    expect(arrayLiteral([["a"]])).toBeUndefined()
  })

  it("as a parameter, is written only when pg binds it, to the text pg writes for the column", () => {
    let reads = 0
    const watched = new Proxy(["a\"b", "c"], {
      get: (target, key, receiver) => {
        if (key === "0") reads++
        return Reflect.get(target, key, receiver)
      }
    })
    const parameter = arrayParameter(watched)
    expect(reads).toBe(0)
    expect(prepareValue(parameter)).toBe("{\"a\\\"b\",\"c\"}")
    expect(reads).toBe(1)
    FastCheck.assert(
      FastCheck.property(FastCheck.array(scalar, { maxLength: 40 }), (values) => {
        expect(prepareValue(arrayParameter(values))).toBe(prepareValue(values))
      }),
      { numRuns: 500, seed: 23 }
    )
    const mixed = ["a", new Date(Date.UTC(2020, 0, 2, 3, 4, 5)), null]
    expect(prepareValue(arrayParameter(mixed))).toBe(prepareValue(mixed))
  })
})

class Log extends Effect.Tag("test/ArrayLiteral/Log")<Log, StatementLog>() {}

const postgres = Layer.unwrapScoped(Effect.gen(function*() {
  const url = yield* TestDatabase.url
  for (const statement of Fixtures.ddl) yield* Admin.query(url, statement)
  yield* Admin.query(url, "drop table if exists literal_notes")
  yield* Admin.query(url, "create table literal_notes (id int primary key, body text not null, note text default 'none')")
  const log = yield* statementLog(url)
  return Layer.merge(Database.layer({ url: log.url, maxConnections: 2 }), Layer.succeed(Log, log))
}))

class Note extends Model.Class<Note>("Note")({
  id: Schema.Number,
  body: Schema.String,
  note: Schema.optional(Schema.String)
}) {}
const Notes = Table.make(Note, { name: "literal_notes", primaryKey: "id" })

const awkward = ["quote \" inside", "back\\slash", "{braces}", "a,b", "NULL", "", " lead and trail ", "tab\tnew\nline", "é€𝄞"]

layer(postgres, { timeout: 60_000 })("many-row inserts through the literal, on PostgreSQL", (it) => {
  it.effect("awkward strings come back as they went in, in one unnest statement", () =>
    Effect.gen(function*() {
      const settings = yield* Repository.make(Settings)
      const log = yield* Log
      const rows = awkward.map((label, i) => ({ key: `k${i} ${label}`, value: i - 4, label }))
      const before = log.runs().length
      const inserted = yield* settings.insertMany(rows)
      const sent = log.runs().slice(before).filter((text) => text.startsWith("INSERT"))
      expect(sent.length).toBe(1)
      expect(sent[0]).toContain("unnest(")
      expect(inserted.map((s) => [s.key, s.value, s.label])).toEqual(rows.map((r) => [r.key, r.value, r.label]))
      const back = yield* settings.findMany(Query.make(Settings).pipe(Query.orderBy("value")))
      expect(back.map((s) => [s.key, s.value, s.label])).toEqual(rows.map((r) => [r.key, r.value, r.label]))
    }))

  it.effect("rows of different shapes go in one unnest statement per shape and come back in input order", () =>
    Effect.gen(function*() {
      const notes = yield* Repository.make(Notes)
      const log = yield* Log
      // Every third row leaves `note` out (the column default), the rest set it.
      const rows = Array.from({ length: 300 }, (_, i) => i % 3 === 0 ? { id: i, body: `b${i}` } : { id: i, body: `b${i}`, note: `n${i}` })
      const before = log.runs().length
      const inserted = yield* notes.insertMany(rows)
      const sent = log.runs().slice(before).filter((text) => text.startsWith("INSERT"))
      expect(sent.length).toBe(2)
      const expected = rows.map((r) => [r.id, r.body, "note" in r ? r.note : "none"])
      expect(inserted.map((n) => [n.id, n.body, n.note])).toEqual(expected)
      const back = yield* notes.findMany(Query.make(Notes).pipe(Query.orderBy("id")))
      expect(back.map((n) => [n.id, n.body, n.note])).toEqual(expected)
    }))
})
