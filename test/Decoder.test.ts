/**
 * The row decoder (src/internal/decoder.ts): one function per table and
 * read shape that checks and converts each field inline and builds the
 * model instance. It must give what decoding with the model's schema gives,
 * and a row that does not fit stays a defect naming the table and column.
 */
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, expect, it, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Database from "../src/Database.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Table from "../src/Table.js"
import { makeCodec } from "../src/internal/codec.js"
import * as TestDatabase from "./support/TestDatabase.js"

class Wide extends Model.Class<Wide>("Wide")({
  id: Schema.Number,
  name: Schema.String,
  visits: Schema.Number,
  amount: Schema.Number,
  active: Schema.Boolean,
  createdAt: Model.DateTimeInsertFromDate,
  data: Schema.Struct({ plan: Schema.Literal("free", "pro"), score: Schema.Number, tags: Schema.Array(Schema.String) }),
  note: Schema.NullOr(Schema.String)
}) {}
const Wides = Table.make(Wide, { name: "wide_decoded", primaryKey: "id" })

const at = new Date("2026-01-02T03:04:05.678Z")
// As pg hands them over: int8 and numeric as strings, timestamptz as Date, jsonb parsed.
const pgValues = (overrides: Partial<Record<number, unknown>> = {}): Array<unknown> => {
  const values: Array<unknown> = ["42", "n", 7, "12.50", true, at, { plan: "pro", score: 3, tags: ["a"] }, null]
  for (const [i, v] of Object.entries(overrides)) values[Number(i)] = v
  return values
}
const expected = (note: string | null = null) =>
  Schema.decodeUnknownSync(Wide)({
    id: 42,
    name: "n",
    visits: 7,
    amount: 12.5,
    active: true,
    createdAt: at,
    data: { plan: "pro", score: 3, tags: ["a"] },
    note
  })
const keyed = (values: ReadonlyArray<unknown>) => Object.fromEntries(Wides.fields.map((f, i) => [f, values[i]]))

const failureOf = (f: () => unknown): string => {
  try {
    f()
  } catch (error) {
    return (error as Error).message
  }
  throw new Error("decoded a row that does not fit the model")
}

describe("the row decoder", () => {
  it("converts int8 and numeric strings, decodes the DateTime and checks the jsonb struct, into the model's class", () => {
    const codec = makeCodec(Wides)
    for (const decode of [codec.decodeValues, (v: ReadonlyArray<unknown>) => codec.decodeRow(keyed(v))]) {
      const row = decode(pgValues()) as Wide
      expect(row).toBeInstanceOf(Wide)
      expect(row).toEqual(expected())
      assert(DateTime.isDateTime(row.createdAt))
      expect(DateTime.toEpochMillis(row.createdAt)).toBe(at.getTime())
      expect(decode(pgValues({ 7: "a note" }))).toEqual(expected("a note"))
    }
  })

  it("keeps converting after a row that needed no conversion, and the other way round", () => {
    const codec = makeCodec(Wides)
    expect(codec.decodeValues(pgValues({ 0: 42, 3: 12.5 }))).toEqual(expected())
    expect(codec.decodeValues(pgValues())).toEqual(expected())
    expect(codec.decodeValues(pgValues({ 0: 42, 3: 12.5 }))).toEqual(expected())
  })

  it("a value that does not fit is a defect naming the table and the column, never the value", () => {
    const codec = makeCodec(Wides)
    const cases: ReadonlyArray<readonly [Partial<Record<number, unknown>>, string, string]> = [
      // Beyond 2^53 an int8 cannot become a number exactly: it stays a string.
      [{ 0: "9007199254740993" }, `column "id"`, "got a string"],
      [{ 1: null }, `column "name"`, "got null"],
      [{ 3: "secret-amount" }, `column "amount"`, "got a string"],
      [{ 5: new Date(Number.NaN) }, `column "created_at"`, ""],
      [{ 5: "2026-01-02" }, `column "created_at"`, ""],
      [{ 6: { plan: "gold", score: 1, tags: [] } }, `column "data"`, "plan"],
      [{ 6: { plan: "pro", tags: [] } }, `column "data"`, "score"],
      [{ 6: ["secret-array"] }, `column "data"`, ""],
      [{ 7: 5 }, `column "note"`, "got a number"]
    ]
    for (const [override, column, detail] of cases) {
      for (const decode of [codec.decodeValues, (v: ReadonlyArray<unknown>) => codec.decodeRow(keyed(v))]) {
        const message = failureOf(() => decode(pgValues(override)))
        expect(message).toContain(`table "wide_decoded"`)
        expect(message).toContain(column)
        expect(message).toContain(detail)
        expect(message).not.toContain("secret")
      }
      // A good row still decodes after a bad one.
      expect(codec.decodeValues(pgValues())).toEqual(expected())
    }
  })

  it("leaves properties of a jsonb object the struct does not name as they are", () => {
    const codec = makeCodec(Wides)
    const row = codec.decodeValues(pgValues({ 6: { plan: "free", score: 1, tags: [], extra: 1 } })) as Wide
    expect(row.data).toEqual({ plan: "free", score: 1, tags: [], extra: 1 })
  })

  it("builds a class with instance fields of its own through its constructor", () => {
    class Rich extends Model.Class<Rich>("Rich")({ id: Schema.Number, at: Model.DateTimeInsertFromDate }) {
      readonly kind = "rich"
      get double() {
        return this.id * 2
      }
    }
    const codec = makeCodec(Table.make(Rich, { name: "rich", primaryKey: "id" }))
    const row = codec.decodeValues(["21", at]) as Rich
    expect(row).toBeInstanceOf(Rich)
    expect(row.kind).toBe("rich")
    expect(row.double).toBe(42)
    assert(DateTime.isDateTime(row.at))
  })

  it("decodes a field whose property signature transforms (optionalWith) through its one-field struct", () => {
    class Opt extends Model.Class<Opt>("Opt")({
      id: Schema.Number,
      label: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => "none" })
    }) {}
    const codec = makeCodec(Table.make(Opt, { name: "opt", primaryKey: "id" }))
    expect(codec.decodeValues([1, "x"])).toEqual(Schema.decodeUnknownSync(Opt)({ id: 1, label: "x" }))
    expect(codec.decodeValues([1, null])).toEqual(Schema.decodeUnknownSync(Opt)({ id: 1, label: null }))
  })
})

const ddl = `create table wide_decoded (id bigint primary key, name text, visits integer not null, amount numeric(12,2) not null,
  active boolean not null, created_at timestamptz not null, data jsonb not null, note text)`

const values = (n: number) => ({
  id: n,
  name: `n${n}`,
  visits: n,
  amount: n + 0.25,
  active: n % 2 === 0,
  createdAt: Model.Override(DateTime.unsafeMake(at.getTime() + n)),
  data: { plan: "pro" as const, score: n, tags: ["a", "b"] },
  note: n % 3 === 0 ? null : `note ${n}`
})

// The same reads on both engines: findMany, stream outside and inside a
// transaction, findById.
const reads = Effect.gen(function*() {
  const wides = yield* Repository.make(Wides)
  yield* wides.insertMany([1, 2, 3, 4, 5].map(values))
  const byId = Query.make(Wides).pipe(Query.orderBy("id"))
  const found = yield* wides.findMany(byId)
  const streamed = Chunk.toReadonlyArray(yield* Stream.runCollect(wides.stream(byId, { batchSize: 2 })))
  const inTransaction = yield* Database.transaction(Stream.runCollect(wides.stream(byId, { batchSize: 2 })))
  const one = yield* wides.findById(3)
  const expectedRows = [1, 2, 3, 4, 5].map((n) => Schema.decodeUnknownSync(Wide)({ ...values(n), createdAt: new Date(at.getTime() + n) } as unknown))
  expect(found).toEqual(expectedRows)
  expect(streamed).toEqual(expectedRows)
  expect(Chunk.toReadonlyArray(inTransaction)).toEqual(expectedRows)
  expect(Option.getOrThrow(one)).toEqual(expectedRows[2])
  for (const row of [...found, ...streamed]) expect(row).toBeInstanceOf(Wide)
})

describe("decoded reads in memory", () => {
  it.effect("findMany, stream and findById give the model's values", () =>
    reads.pipe(Effect.provide(Database.layerMemory())))
})

layer(TestDatabase.layer({ maxConnections: 2 }), { excludeTestServices: true })("decoded reads on PostgreSQL", (it) => {
  it.effect("findMany, stream and findById give the model's values", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(ddl)
      yield* reads
    }))

  it.effect("a row that does not fit is the same defect through findMany and stream, outside and inside a transaction", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const wides = yield* Repository.make(Wides)
      const byId = Query.make(Wides).pipe(Query.orderBy("id"))
      for (
        const [column, stray] of [
          ["id", sql`insert into wide_decoded values (9007199254740993, 'n', 1, 1, true, now(), '{"plan":"pro","score":1,"tags":[]}', null)`],
          ["name", sql`insert into wide_decoded values (100, null, 1, 1, true, now(), '{"plan":"pro","score":1,"tags":[]}', null)`],
          ["data", sql`insert into wide_decoded values (100, 'n', 1, 1, true, now(), '{"plan":"secret-plan","score":1,"tags":[]}', null)`]
        ] as const
      ) {
        yield* sql`delete from wide_decoded where id > 5`
        yield* stray
        const attempts: ReadonlyArray<Effect.Effect<unknown, unknown, Database.Database>> = [
          wides.findMany(byId),
          Stream.runCollect(wides.stream(byId, { batchSize: 2 })),
          Database.transaction(Stream.runCollect(wides.stream(byId, { batchSize: 2 })))
        ]
        for (const attempt of attempts) {
          const exit = yield* Effect.exit(attempt)
          assert(Exit.isFailure(exit))
          const defect = Cause.dieOption(exit.cause)
          assert(Option.isSome(defect))
          const message = (defect.value as Error).message
          expect(message).toContain(`table "wide_decoded"`)
          expect(message).toContain(`column "${column}"`)
          expect(message).not.toContain("secret")
        }
      }
      yield* sql`delete from wide_decoded where id > 5`
    }))
})
