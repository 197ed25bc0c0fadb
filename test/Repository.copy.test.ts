/**
 * `insertManyDiscard` loads large batches with `COPY FROM STDIN`: the values
 * must arrive exactly as INSERT would store them, errors must be the same
 * typed errors, and a COPY must roll back, cancel and release its connection
 * like any other statement. Tables COPY cannot load the way INSERT does
 * (views, row-level security, rules) keep INSERT.
 */
import { assert, expect, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Database from "../src/Database.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Table from "../src/Table.js"
import * as Fixtures from "../src/testing/Fixtures.js"
import * as Admin from "./support/admin.js"
import { Reading, Readings, readingsDdl } from "./support/readings.js"
import * as TestDatabase from "./support/TestDatabase.js"

const ReadingsView = Table.make(Reading, { name: "readings_view", primaryKey: "id" })
const SlowReadings = Table.make(Reading, { name: "slow_readings", primaryKey: "id" })
const { Members } = Fixtures

const setup = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  for (const statement of Fixtures.ddl) yield* sql.unsafe(statement)
  yield* sql.unsafe(`
    ${readingsDdl()};
    create view readings_view as select * from readings;
    create table slow_readings (like readings including all);
    create table statement_log (query text not null);
    create function log_statement() returns trigger language plpgsql as $$
      begin insert into statement_log values (current_query()); return null; end $$;
    create trigger members_log after insert on members for each statement execute function log_statement();
    create trigger readings_log after insert on readings for each statement execute function log_statement();
    create function sleep_long() returns trigger language plpgsql as $$
      begin perform pg_sleep(30); return new; end $$;
    create trigger slow before insert on slow_readings for each row when (new.value = 3000) execute function sleep_long();
  `)
})

const fresh = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql`truncate members, settings, readings, slow_readings, statement_log restart identity`
)

const count = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<{ n: number }>`select count(*)::int as n from ${sql(table)}`, (rows) => rows[0]!.n))

/** The first word of each statement that inserted into a logged table. */
const loggedCommands = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ command: string }>`select upper(split_part(ltrim(query), ' ', 1)) as command from statement_log`,
    (rows) => rows.map((r) => r.command)
  ))

// Everything the COPY text format treats specially (tab, newline, carriage
// return, backslash, the \N null marker), plus SQL and array-literal syntax.
const hostile = [
  "tab\there",
  "new\nline",
  "carriage\rreturn",
  "\t\n\r",
  "back\\slash",
  "trailing\\",
  "\\N",
  "\\.",
  "\\x41",
  "it's \"quoted\"",
  "x'); drop table members; --",
  "{a,b}",
  "NULL",
  "",
  " padded ",
  "🦄 e\u0301 \u2028"
]

type MemberInsert = Table.Insert<typeof Members>
const memberRow = (i: number): MemberInsert => {
  const text = hostile[i % hostile.length]!
  return {
    email: `m${i}@example.com`,
    name: `${text}#${i}`,
    age: i % 3 === 0 ? null : i,
    score: i * 1.5,
    tags: i % 5 === 0 ? [] : [text, "plain", `${i}`],
    profile: i % 4 === 0 ? {} : { city: text, plan: `p${i}` }
  } as MemberInsert
}

layer(TestDatabase.layer({ maxConnections: 4 }).pipe(Layer.tap((context) => Effect.provide(setup, context))))(
  "insertManyDiscard with COPY FROM STDIN",
  (it) => {
    it.effect("6,000 rows with tabs, newlines, backslashes, NULLs, arrays and jsonb load with COPY and read back exactly", () =>
      Effect.gen(function*() {
        yield* fresh
        const members = yield* Repository.make(Members)
        const rows = Array.from({ length: 6_000 }, (_, i) => memberRow(i))
        yield* members.insertManyDiscard(rows)
        expect(yield* loggedCommands).toEqual(["COPY"])
        const stored = yield* members.findMany(Query.make(Members).pipe(Query.orderBy("id")))
        expect(stored.map((m) => ({ email: m.email, name: m.name, age: m.age, score: m.score, tags: m.tags, profile: m.profile })))
          .toEqual(rows.map((r) => ({ email: r.email, name: r.name, age: r.age, score: r.score, tags: r.tags, profile: r.profile })))
        // Defaults and managed fields were applied as on INSERT.
        expect(stored.every((m) => m.version === 1 && m.deletedAt === null)).toBe(true)
        // The same rows through INSERT (below the COPY threshold) store the same bytes.
        const sql = yield* SqlClient.SqlClient
        yield* sql`delete from members where id > 10`
        yield* sql`update members set email = 'copy-' || email`
        yield* members.insertManyDiscard(rows.slice(0, 10))
        expect(yield* loggedCommands).toEqual(["COPY", "INSERT"])
        const pairs = yield* sql<{ same: boolean }>`
          select a.name = b.name and a.tags = b.tags and a.profile = b.profile and a.age is not distinct from b.age
                 and a.score = b.score as same
          from members a join members b on a.email = 'copy-' || b.email`
        expect(pairs.map((p) => p.same)).toEqual(Array(10).fill(true))
      }))

    it.effect("a unique violation inside the COPY is a UniqueViolation naming the constraint, and no row is written", () =>
      Effect.gen(function*() {
        yield* fresh
        const members = yield* Repository.make(Members)
        const rows = Array.from({ length: 5_500 }, (_, i) => memberRow(i))
        rows[5_400] = { ...rows[5_400]!, email: rows[3]!.email }
        const error = yield* Effect.flip(members.insertManyDiscard(rows))
        assert(error._tag === "UniqueViolation")
        expect([error.constraint, error.table, error.sqlState]).toEqual(["members_email_key", "members", "23505"])
        // The message names the constraint, never the duplicated value.
        expect(error.message).not.toContain(rows[3]!.email)
        expect(yield* count("members")).toBe(0)
      }))

    it.effect("a COPY inside a transaction rolls back with it", () =>
      Effect.gen(function*() {
        yield* fresh
        const readings = yield* Repository.make(Readings)
        const rows = Array.from({ length: 5_000 }, (_, i) => ({ sensor: "s", value: i, unit: "u", takenAt: new Date(i) }))
        const exit = yield* Effect.exit(Database.transaction(Effect.zipRight(
          readings.insertManyDiscard(rows),
          Effect.fail("after the copy" as const)
        )))
        assert(Exit.isFailure(exit))
        expect(yield* loggedCommands).toEqual([])
        expect(yield* count("readings")).toBe(0)
        // And commits with it.
        yield* Database.transaction(readings.insertManyDiscard(rows))
        expect([yield* count("readings"), ...(yield* loggedCommands)]).toEqual([5_000, "COPY"])
      }))

    it.effect("a view keeps INSERT: 5,000 rows through a view load, where COPY would refuse the view", () =>
      Effect.gen(function*() {
        yield* fresh
        const view = yield* Repository.make(ReadingsView)
        yield* view.insertManyDiscard(Array.from({ length: 5_000 }, (_, i) => ({ sensor: "v", value: i, unit: "u", takenAt: new Date(i) })))
        expect(yield* loggedCommands).toEqual(["INSERT"])
        expect(yield* count("readings")).toBe(5_000)
      }))

    it.effect("interrupting a COPY cancels it on the server: no rows, nothing running, the connection back", () =>
      Effect.gen(function*() {
        yield* fresh
        // Watched from the test's own pool; the COPY runs on a pool of one.
        const sql = yield* SqlClient.SqlClient
        const copying = sql<{ n: number }>`
          select count(*)::int as n from pg_stat_activity
          where query like 'COPY "slow_readings"%' and state = 'active' and wait_event = 'PgSleep'`
        const url = yield* TestDatabase.TestUrl
        yield* Effect.gen(function*() {
          const slow = yield* Repository.make(SlowReadings)
          // Row 3,000 sleeps in a trigger: the COPY is still running when interrupted.
          const rows = Array.from({ length: 6_000 }, (_, i) => ({ sensor: "s", value: i, unit: "u", takenAt: new Date(i) }))
          const fiber = yield* Effect.fork(slow.insertManyDiscard(rows))
          yield* Admin.eventually(copying, (r) => r[0]!.n === 1, "20 seconds")
          yield* Fiber.interrupt(fiber)
          expect((yield* copying)[0]!.n).toBe(0)
          expect(yield* count("slow_readings").pipe(Effect.provideService(SqlClient.SqlClient, sql))).toBe(0)
          expect(yield* Database.stats).toMatchObject({ active: 0, total: 1, idle: 1 })
          // The connection works for the next statement.
          yield* slow.insertManyDiscard(rows.filter((r) => r.value !== 3000))
          expect(yield* count("slow_readings").pipe(Effect.provideService(SqlClient.SqlClient, sql))).toBe(5_999)
        }).pipe(Effect.provide(Database.layer({ url, maxConnections: 1 })), Effect.scoped)
      }))
  }
)
