/**
 * Repository behaviours on PostgreSQL at their edges: the unnest bulk path
 * with hostile strings, a span for every operation, timestamps under
 * TestClock through bulk writes, soft delete in every read, and bad input
 * that must not reach the database.
 */
import { assert, expect, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Model from "@effect/sql/Model"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Database from "../src/Database.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Table from "../src/Table.js"
import * as Fixtures from "../src/testing/Fixtures.js"
import { Readings, readingsDdl } from "./support/readings.js"
import * as TestDatabase from "./support/TestDatabase.js"
import { recordingTracer } from "./support/tracer.js"

const { Members, Settings } = Fixtures

type MemberInsert = Table.Insert<typeof Members>
const member = (name: string, overrides: Partial<MemberInsert> = {}): MemberInsert => ({
  email: `${name}@example.com`,
  name,
  age: null,
  score: 0,
  tags: [],
  profile: {},
  ...overrides
} as MemberInsert)

// A field an insert may leave out, so that single-row inserts of one
// repository differ in their columns.
class Label extends Model.Class<Label>("Label")({
  id: Model.Generated(Schema.Number),
  text: Schema.String,
  color: Schema.optional(Schema.String)
}) {}
const Labels = Table.make(Label, { name: "labels", primaryKey: "id" })

const setup = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  for (const statement of Fixtures.ddl) yield* sql.unsafe(statement)
  yield* sql.unsafe(readingsDdl())
  yield* sql.unsafe(`create table labels (id serial primary key, text text not null, color text not null default 'grey')`)
})

const fresh = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`truncate members, settings, readings restart identity`)

const count = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<{ n: number }>`select count(*)::int as n from ${sql(table)}`, (rows) => rows[0]!.n))

// Runs on a pool of one connection, so pg_prepared_statements (which is per
// session) shows every statement the effect prepared.
const onOneConnection = <A, E>(effect: Effect.Effect<A, E, Database.Database | SqlClient.SqlClient>) =>
  Effect.flatMap(TestDatabase.TestUrl, (url) => effect.pipe(Effect.provide(Database.layer({ url, maxConnections: 1 })), Effect.scoped))

const names = (rows: ReadonlyArray<{ readonly name: string }>) => rows.map((r) => r.name)

// Quotes, backslashes, statement separators, comments, placeholders, array
// literal syntax and emoji: everything that would break SQL or an array
// literal built by hand.
const hostile = [
  "it's",
  "''",
  "\"double\"",
  "back\\slash",
  "\\\\",
  "trailing\\",
  "\\N",
  "a;b",
  "x'); drop table readings; --",
  "-- comment",
  "/* block */",
  "$1",
  "$1::text $2",
  "NULL",
  "null",
  "{a,b}",
  "\"{}\"",
  "(1,2)",
  " padded ",
  "",
  "\t\n\r",
  "🦄",
  "👩‍👩‍👧 family",
  "e\u0301 \u2028 \uFEFF"
]

layer(TestDatabase.layer({ maxConnections: 4 }).pipe(Layer.tap((context) => Effect.provide(setup, context))))(
  "repository edges on PostgreSQL",
  (it) => {
    it.effect("hostile strings go through the unnest bulk path and come back byte for byte", () =>
      onOneConnection(Effect.gen(function*() {
        yield* fresh
        const sql = yield* SqlClient.SqlClient
        const readings = yield* Repository.make(Readings)
        const rows = hostile.map((s, i) => ({ sensor: s, value: i, unit: [...s].reverse().join(""), takenAt: new Date(i) }))
        const inserted = yield* readings.insertMany(rows)
        expect(inserted.map((r) => [r.sensor, r.unit])).toEqual(rows.map((r) => [r.sensor, r.unit]))
        yield* readings.insertManyDiscard(rows.map((r) => ({ ...r, value: r.value + 1_000 })))
        // The bulk statements were unnest, not multi-row VALUES.
        const statements = (yield* sql<{ statement: string }>`
          select statement from pg_prepared_statements where statement like 'INSERT INTO "readings"%'`).map((r) => r.statement)
        expect(statements.length).toBe(2)
        expect(statements.every((text) => text.includes("unnest($1::text[], $2::double precision[]"))).toBe(true)
        // The bytes the server holds, compared with the UTF-8 of each input.
        const stored = yield* sql<{ value: number; sensor: string; unit: string }>`
          select value, encode(convert_to(sensor, 'UTF8'), 'hex') as sensor, encode(convert_to(unit, 'UTF8'), 'hex') as unit
          from readings order by value`
        const hex = (s: string) => Buffer.from(s, "utf8").toString("hex")
        const expected = rows.map((r) => ({ value: r.value, sensor: hex(r.sensor), unit: hex(r.unit) }))
        expect(stored).toEqual([...expected, ...expected.map((r) => ({ ...r, value: r.value + 1_000 }))])
        // And read back through the repository.
        const read = yield* readings.findMany(Query.make(Readings).pipe(Query.orderBy("value")))
        expect(read.map((r) => r.sensor)).toEqual([...hostile, ...hostile])
        for (const s of hostile) {
          expect((yield* readings.findMany(Query.make(Readings).pipe(Query.where({ sensor: s })))).length).toBe(2)
        }
      })))

    it.effect("single-row inserts that leave out different columns each get their own statement", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const labels = yield* Repository.make(Labels)
        const inputs = [
          { text: "a" },
          { text: "b", color: "red" },
          { text: "c" },
          { text: "d", color: "it's; drop table labels; --" },
          { text: "e" }
        ]
        const inserted = []
        for (const input of inputs) inserted.push(yield* labels.insert(input))
        const expected = [["a", "grey"], ["b", "red"], ["c", "grey"], ["d", "it's; drop table labels; --"], ["e", "grey"]]
        expect(inserted.map((r) => [r.text, r.color])).toEqual(expected)
        const stored = yield* sql<{ text: string; color: string }>`select text, color from labels order by id`
        expect(stored.map((r) => [r.text, r.color])).toEqual(expected)
      }))

    it.effect("every repository operation has a span named <table>.<operation>", () =>
      Effect.gen(function*() {
        yield* fresh
        const sql = yield* SqlClient.SqlClient
        const repo = yield* Repository.make(Members)
        const [a, b, c] = yield* repo.insertMany([member("a", { score: 1 }), member("b", { score: 2 }), member("c", { score: 3 })])
        const all = Query.make(Members)
        const operations: { readonly [K in Exclude<keyof typeof repo, "table">]: Effect.Effect<unknown, unknown> } = {
          findById: repo.findById(a!.id),
          getById: repo.getById(a!.id),
          findOne: repo.findOne(all),
          findMany: repo.findMany(all),
          count: repo.count(all),
          exists: repo.exists(all),
          sum: repo.sum("score", all),
          avg: repo.avg("score", all),
          min: repo.min("score", all),
          max: repo.max("score", all),
          paginate: repo.paginate(all, { limit: 2 }),
          stream: Stream.runCollect(repo.stream(all)),
          insert: repo.insert(member("d")),
          insertMany: repo.insertMany([member("e"), member("f")]),
          insertManyDiscard: repo.insertManyDiscard([member("g")]),
          upsert: repo.upsert(member("a", { score: 10 }), { onConflict: ["email"] }),
          update: repo.update(a!.id, { age: 1 }),
          updateMany: repo.updateMany(all.pipe(Query.where({ name: "b" })), { age: 2 }),
          delete: repo.delete(b!.id),
          deleteMany: repo.deleteMany(all.pipe(Query.where({ name: "c" }))),
          restore: repo.restore(b!.id),
          hardDelete: repo.hardDelete(c!.id),
          raw: repo.raw(sql`select * from members order by id`)
        }
        // A new operation on the repository must be added here.
        expect(Object.keys(operations).sort()).toEqual(Object.keys(repo).filter((k) => k !== "table").sort())
        for (const [operation, effect] of Object.entries(operations)) {
          const { spans, tracer } = recordingTracer()
          yield* Effect.withTracer(effect, tracer)
          const span = spans.find((s) => s.name === `members.${operation}`)
          assert(span !== undefined, `no span members.${operation} among ${spans.map((s) => s.name).join(", ")}`)
          expect([operation, span.attributes.get("db.collection.name"), span.attributes.get("db.operation.name")])
            .toEqual([operation, "members", operation])
          expect([operation, span.status._tag]).toEqual([operation, "Ended"])
        }
        // The writes above really ran.
        expect(yield* count("members")).toBe(6)
      }))

    it.effect("updateMany, deleteMany and restore stamp the updated column with the TestClock time", () =>
      Effect.gen(function*() {
        yield* fresh
        const sql = yield* SqlClient.SqlClient
        const repo = yield* Repository.make(Members)
        const withDeleted = Query.make(Members).pipe(Query.withDeleted, Query.orderBy("id"))
        const stamps = Effect.map(repo.findMany(withDeleted), (rows) =>
          rows.map((r) => [
            r.name,
            DateTime.toEpochMillis(r.updatedAt),
            r.deletedAt === null ? null : r.deletedAt.getTime(),
            r.version
          ]))
        // The server's own values, not only what the repository decodes.
        const serverStamps = Effect.map(
          sql<{ name: string; updated: number; deleted: number | null }>`
            select name, (extract(epoch from updated_at) * 1000)::float8 as updated,
                   (extract(epoch from deleted_at) * 1000)::float8 as deleted
            from members order by id`,
          (rows) => rows.map((r) => [r.name, r.updated, r.deleted])
        )
        yield* TestClock.setTime(1_000_000)
        const [, , c] = yield* repo.insertMany([member("a"), member("b"), member("c"), member("d")])
        yield* TestClock.setTime(2_000_000)
        expect(yield* repo.updateMany(Query.make(Members).pipe(Query.where({ name: Query.in(["a", "b"]) })), { age: 5 })).toBe(2)
        expect(yield* stamps).toEqual([
          ["a", 2_000_000, null, 2],
          ["b", 2_000_000, null, 2],
          ["c", 1_000_000, null, 1],
          ["d", 1_000_000, null, 1]
        ])
        yield* TestClock.setTime(3_000_000)
        expect(yield* repo.deleteMany(Query.make(Members).pipe(Query.where({ name: Query.in(["b", "c"]) })))).toBe(2)
        yield* TestClock.setTime(3_500_000)
        // Rows already deleted keep their marks.
        expect(yield* repo.deleteMany(Query.make(Members).pipe(Query.where({ name: "c" })))).toBe(0)
        expect(yield* serverStamps).toEqual([
          ["a", 2_000_000, null],
          ["b", 3_000_000, 3_000_000],
          ["c", 3_000_000, 3_000_000],
          ["d", 1_000_000, null]
        ])
        yield* TestClock.setTime(4_000_000)
        const restored = yield* repo.restore(c!.id)
        expect([restored.name, DateTime.toEpochMillis(restored.updatedAt), restored.deletedAt]).toEqual(["c", 4_000_000, null])
        expect(yield* serverStamps).toEqual([
          ["a", 2_000_000, null],
          ["b", 3_000_000, 3_000_000],
          ["c", 4_000_000, null],
          ["d", 1_000_000, null]
        ])
      }))

    it.effect("soft-deleted rows are left out of stream, paginate, exists, findOne, the aggregates and updateMany", () =>
      Effect.gen(function*() {
        yield* fresh
        const repo = yield* Repository.make(Members)
        const all = Query.make(Members)
        // The deleted rows hold the extremes, so any aggregate that saw them would differ.
        yield* repo.insertMany([
          member("a", { score: 1, age: 10 }),
          member("big", { score: 1_000, age: 10 }),
          member("b", { score: 2, age: 10 }),
          member("small", { score: -1_000, age: 10 }),
          member("c", { score: 6, age: 10 })
        ])
        expect(yield* repo.deleteMany(all.pipe(Query.where({ name: Query.in(["big", "small"]) })))).toBe(2)
        const byId = all.pipe(Query.orderBy("id"))
        const streamed = yield* Stream.runCollect(repo.stream(byId, { batchSize: 2 }))
        expect(names(Chunk.toReadonlyArray(streamed))).toEqual(["a", "b", "c"])
        const paged: Array<string> = []
        let after: string | undefined
        do {
          const page: Repository.Page<Table.Row<typeof Members>> = yield* repo.paginate(byId, { limit: 1, after })
          paged.push(...names(page.items))
          after = Option.getOrUndefined(page.next)
        } while (after !== undefined)
        expect(paged).toEqual(["a", "b", "c"])
        expect(yield* repo.exists(all.pipe(Query.where({ name: "big" })))).toBe(false)
        expect(yield* repo.exists(all.pipe(Query.where({ name: "big" }), Query.withDeleted))).toBe(true)
        expect(Option.map(yield* repo.findOne(all.pipe(Query.orderBy("score", "desc"))), (r) => r.name)).toEqual(Option.some("c"))
        expect(Option.map(yield* repo.findOne(all.pipe(Query.orderBy("score"))), (r) => r.name)).toEqual(Option.some("a"))
        expect(yield* repo.findOne(all.pipe(Query.where({ name: "small" })))).toEqual(Option.none())
        expect(yield* repo.count()).toBe(3)
        expect(yield* repo.sum("score")).toEqual(Option.some(9))
        expect(yield* repo.avg("score")).toEqual(Option.some(3))
        expect(yield* repo.min("score")).toEqual(Option.some(1))
        expect(yield* repo.max("score")).toEqual(Option.some(6))
        expect(yield* repo.max("score", all.pipe(Query.where({ name: "big" })))).toEqual(Option.none())
        expect(yield* repo.sum("score", all.pipe(Query.withDeleted))).toEqual(Option.some(9))
        // updateMany over everything touches the three live rows only.
        expect(yield* repo.updateMany(all, { age: 99 })).toBe(3)
        const ages = yield* repo.findMany(all.pipe(Query.withDeleted, Query.orderBy("id")))
        expect(ages.map((r) => [r.name, r.age, r.version])).toEqual([
          ["a", 99, 2],
          ["big", 10, 1],
          ["b", 99, 2],
          ["small", 10, 1],
          ["c", 99, 2]
        ])
      }))

    it.effect("startsWith matches % and backslashes in the prefix literally", () =>
      Effect.gen(function*() {
        yield* fresh
        const repo = yield* Repository.make(Members)
        yield* repo.insertMany(["1%", "1%x", "1x", "10", "1", "a\\b", "a\\bc", "ab", "a\\", "a\\\\b", "A\\B"].map((n, i) =>
          member(n, { email: `m${i}@example.com` })
        ))
        const starting = (prefix: string, options?: { readonly caseInsensitive?: boolean }) =>
          Effect.map(
            repo.findMany(Query.make(Members).pipe(Query.where({ name: Query.startsWith(prefix, options) }), Query.orderBy("id"))),
            names
          )
        expect(yield* starting("1%")).toEqual(["1%", "1%x"])
        expect(yield* starting("1")).toEqual(["1%", "1%x", "1x", "10", "1"])
        expect(yield* starting("a\\b")).toEqual(["a\\b", "a\\bc"])
        expect(yield* starting("a\\")).toEqual(["a\\b", "a\\bc", "a\\", "a\\\\b"])
        expect(yield* starting("a\\\\")).toEqual(["a\\\\b"])
        expect(yield* starting("a\\b", { caseInsensitive: true })).toEqual(["a\\b", "a\\bc", "A\\B"])
        expect(yield* repo.count(Query.make(Members).pipe(Query.where({ name: Query.startsWith("%") })))).toBe(0)
      }))

    it.effect("upsert and insertManyDiscard with a value that fails the schema are a ParseError and write nothing", () =>
      Effect.gen(function*() {
        yield* fresh
        const members = yield* Repository.make(Members)
        const settings = yield* Repository.make(Settings)
        const setting = (key: string, value: unknown) =>
          ({ key, value, label: "l", version: 1 }) as unknown as Table.Insert<typeof Settings>
        const upsertError = yield* Effect.flip(settings.upsert(setting("theme", "not a number"), { onConflict: ["key"] }))
        expect(upsertError).toBeInstanceOf(ParseResult.ParseError)
        expect(upsertError._tag).toBe("ParseError")
        expect(yield* count("settings")).toBe(0)
        // On a conflict too: the stored row keeps its value.
        yield* settings.upsert(setting("theme", 1), { onConflict: ["key"] })
        const conflictError = yield* Effect.flip(settings.upsert(setting("theme", null), { onConflict: ["key"], update: "all" }))
        expect(conflictError._tag).toBe("ParseError")
        expect((yield* settings.getById("theme")).value).toBe(1)
        // One bad row among good ones: none is written.
        const rows = [member("a"), member("b", { score: "high" as unknown as number }), member("c")]
        const bulkError = yield* Effect.flip(members.insertManyDiscard(rows))
        expect(bulkError._tag).toBe("ParseError")
        expect(yield* count("members")).toBe(0)
        // No SQL was sent: the surrounding transaction is still usable.
        const committed = yield* Database.transaction(Effect.gen(function*() {
          const failed = yield* Effect.flip(members.insertManyDiscard(rows))
          expect(failed._tag).toBe("ParseError")
          const failedUpsert = yield* Effect.flip(settings.upsert(setting("other", "x"), { onConflict: ["key"] }))
          expect(failedUpsert._tag).toBe("ParseError")
          yield* members.insertManyDiscard([member("d")])
          return yield* members.count()
        }))
        expect(committed).toBe(1)
        expect(yield* count("members")).toBe(1)
        expect(yield* count("settings")).toBe(1)
      }))

    it.effect("a NUL character in a written value is a ParseError naming the field, and the transaction goes on", () =>
      Effect.gen(function*() {
        yield* fresh
        const members = yield* Repository.make(Members)
        const readings = yield* Repository.make(Readings)
        const settings = yield* Repository.make(Settings)
        const fieldOf = (error: { readonly _tag: string; readonly message: string }) => {
          expect(error._tag).toBe("ParseError")
          expect(error.message).toContain("NUL")
          expect(error.message).not.toContain("secret")
          return error.message.split("\n")[0]
        }
        const committed = yield* Database.transaction(Effect.gen(function*() {
          const stored = yield* members.insert(member("kept", { score: 1 }))
          const failures = [
            yield* Effect.flip(members.insert(member("a", { name: "secret\u0000" }))),
            yield* Effect.flip(members.insertMany([member("b"), member("c", { tags: ["ok", "secret\u0000"] })])),
            yield* Effect.flip(members.insertManyDiscard([member("d", { profile: { city: "secret\u0000" } })])),
            yield* Effect.flip(readings.insertMany([{ sensor: "secret\u0000", value: 1, unit: "x", takenAt: new Date(0) }])),
            yield* Effect.flip(settings.upsert(
              { key: "k\u0000", value: 1, label: "l", version: 1 } as Table.Insert<typeof Settings>,
              { onConflict: ["key"] }
            )),
            yield* Effect.flip(members.update(stored.id, { name: "secret\u0000" })),
            yield* Effect.flip(members.updateMany(Query.make(Members), { tags: ["secret\u0000"] }))
          ]
          expect(failures.map(fieldOf)).toEqual(['["name"]', '["tags"]', '["profile"]', '["sensor"]', '["key"]', '["name"]', '["tags"]'])
          // No statement failed on the server, so the transaction still commits.
          yield* members.update(stored.id, { score: 2 })
          return yield* members.findMany()
        }))
        expect(committed.map((r) => [r.name, r.score, r.tags])).toEqual([["kept", 2, []]])
        expect([yield* count("members"), yield* count("readings"), yield* count("settings")]).toEqual([1, 0, 0])
      }))
  }
)
