/**
 * What programs on `@effect/sql-pg` rely on day to day: transactions and
 * nesting, `sql.reserve`, streams, `SqlSchema`, `PgMigrator` (migrations and
 * its schema dump), and the errors they catch. On both layers.
 */
import { NodeContext } from "@effect/platform-node"
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import * as SqlSchema from "@effect/sql/SqlSchema"
import { expect } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { createRequire } from "node:module"
import pg from "pg"
import * as DatabaseError from "../../src/DatabaseError.js"
import { freshClient, keptDifference, onBoth } from "./flavours.js"

const rowsOf = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<{ id: number }>`SELECT id FROM ${sql(table)} ORDER BY id`, (rows) => rows.map((r) => r.id)))

onBoth("transactions", (flavour) => freshClient(flavour), (it) => {
  it.effect("withTransaction commits when the body succeeds and rolls back when it fails", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE tx_basic (id int)`
      yield* sql.withTransaction(sql`INSERT INTO tx_basic VALUES (1)`)
      const failed = yield* sql.withTransaction(
        Effect.zipRight(sql`INSERT INTO tx_basic VALUES (2)`, Effect.fail("boom"))
      ).pipe(Effect.flip)
      expect(failed).toBe("boom")
      expect(yield* rowsOf("tx_basic")).toEqual([1])
    }))

  it.effect("a nested withTransaction that fails rolls back its own rows only", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE tx_nested (id int)`
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO tx_nested VALUES (1)`
        yield* sql.withTransaction(Effect.zipRight(sql`INSERT INTO tx_nested VALUES (2)`, Effect.fail("inner"))).pipe(
          Effect.ignore
        )
        yield* sql.withTransaction(sql`INSERT INTO tx_nested VALUES (3)`)
      }))
      expect(yield* rowsOf("tx_nested")).toEqual([1, 3])
    }))

  it.effect("three levels commit together, and a failing outer level undoes the inner ones", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE tx_deep (id int)`
      const levels = (failOuter: boolean) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO tx_deep VALUES (1)`
          yield* sql.withTransaction(Effect.zipRight(
            sql`INSERT INTO tx_deep VALUES (2)`,
            sql.withTransaction(sql`INSERT INTO tx_deep VALUES (3)`)
          ))
          if (failOuter) return yield* Effect.fail("outer")
        }))
      yield* Effect.ignore(levels(true))
      expect(yield* rowsOf("tx_deep")).toEqual([])
      yield* levels(false)
      expect(yield* rowsOf("tx_deep")).toEqual([1, 2, 3])
    }))

  it.effect("a stream inside withTransaction reads the transaction's own rows", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE tx_stream (id int)`
      const streamed = yield* sql.withTransaction(Effect.zipRight(
        sql`INSERT INTO tx_stream SELECT generate_series(1, 200)`,
        Stream.runCollect(sql<{ id: number }>`SELECT id FROM tx_stream ORDER BY id`.stream)
      ))
      expect(Chunk.toReadonlyArray(streamed).map((r) => r.id)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
    }))
})

onBoth("sql.reserve and streams", (flavour) => freshClient(flavour, { maxConnections: 2 }), (it) => {
  it.scoped("statements and streams of a reserved connection run on that connection", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const connection = yield* sql.reserve
      const [[pid]] = (yield* connection.executeValues("SELECT pg_backend_pid()", [])) as [[number]]
      // Session state set on the reserved connection is seen by its stream.
      yield* connection.executeRaw("SET application_name = 'compat-reserved'", [])
      const streamed = yield* Stream.runCollect(
        connection.executeStream("SELECT pg_backend_pid() AS pid, current_setting('application_name') AS app", [], undefined)
      )
      expect(Chunk.toReadonlyArray(streamed)).toEqual([{ pid, app: "compat-reserved" }])
    }))

  it.effect("a stream that stops early gives its connection back", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      for (let i = 0; i < 3; i++) {
        const first = yield* Stream.runCollect(Stream.take(sql`SELECT generate_series(1, 100000) AS n`.stream, 1))
        expect(Chunk.toReadonlyArray(first)).toEqual([{ n: 1 }])
      }
      // Three early-stopped streams on a pool of two: the connections came back.
      expect(yield* sql`SELECT 1 AS ok`.pipe(Effect.timeout("3 seconds"))).toEqual([{ ok: 1 }])
    }))
})

const Thing = Schema.Struct({ id: Schema.Number, label: Schema.String })

onBoth("SqlSchema", (flavour) => freshClient(flavour), (it) => {
  it.effect("findOne, findAll, single and void encode requests and decode rows", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE things (id int PRIMARY KEY, label text NOT NULL)`
      const insert = SqlSchema.void({
        Request: Thing,
        execute: (thing) => sql`INSERT INTO things ${sql.insert(thing)}`
      })
      const findOne = SqlSchema.findOne({
        Request: Schema.Number,
        Result: Thing,
        execute: (id) => sql`SELECT * FROM things WHERE id = ${id}`
      })
      const findAll = SqlSchema.findAll({
        Request: Schema.String,
        Result: Thing,
        execute: (prefix) => sql`SELECT * FROM things WHERE label LIKE ${prefix + "%"} ORDER BY id`
      })
      const single = SqlSchema.single({
        Request: Schema.Number,
        Result: Thing,
        execute: (id) => sql`SELECT * FROM things WHERE id = ${id}`
      })
      yield* insert({ id: 1, label: "apple" })
      yield* insert({ id: 2, label: "apricot" })
      expect(yield* findOne(1)).toEqual(Option.some({ id: 1, label: "apple" }))
      expect(yield* findOne(9)).toEqual(Option.none())
      expect(yield* findAll("ap")).toEqual([{ id: 1, label: "apple" }, { id: 2, label: "apricot" }])
      expect(yield* single(2)).toEqual({ id: 2, label: "apricot" })
      expect((yield* Effect.flip(single(9)))._tag).toBe("NoSuchElementException")
    }))
})

onBoth("errors", (flavour) => freshClient(flavour), (it, flavour) => {
  it.effect("a failed statement is an SqlError whose cause has the SQLSTATE in code, and the constraint and table", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE accounts (email text CONSTRAINT accounts_email_key UNIQUE)`
      yield* sql`INSERT INTO accounts VALUES ('a@example.com')`
      const error = yield* Effect.flip(sql`INSERT INTO accounts VALUES ('a@example.com')`)
      expect(error).toBeInstanceOf(SqlError.SqlError)
      const cause = error.cause as { code: string; constraint: string; table: string }
      expect([cause.code, cause.constraint, cause.table]).toEqual(["23505", "accounts_email_key", "accounts"])
    }))

  it.effect("the cause is pg's error on PgClient.layer, and a typed DatabaseError on Database.layer", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE people_errors (id int PRIMARY KEY)`
      yield* sql`INSERT INTO people_errors VALUES (1)`
      const error = yield* Effect.flip(sql`INSERT INTO people_errors VALUES (1)`)
      const typed = DatabaseError.fromSqlError(error)
      const seen = {
        pgError: error.cause instanceof pg.DatabaseError,
        typedTag: typed._tag,
        sqlState: "sqlState" in typed ? typed.sqlState : undefined
      }
      expect(seen).toEqual(keptDifference(flavour, {
        reason: "effect-dal classifies every error once, into a tagged DatabaseError that keeps the SQLSTATE, " +
          "constraint and table; fromSqlError reads it back, and knows nothing of other SqlErrors (XX000)",
        pgClient: { pgError: true, typedTag: "QueryError", sqlState: "XX000" },
        database: { pgError: false, typedTag: "UniqueViolation", sqlState: "23505" }
      }))
    }))
})

// A stand-in for pg_dump that connects with what PgMigrator gives it (the
// PG* variables it builds from PgClient.config) and prints the tables it
// finds: whatever version of pg_dump the machine has, the test shows that
// the dump can connect, and to which database.
const fakePgDump = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-dal-pg-dump-"))
  const pgEntry = createRequire(import.meta.url).resolve("pg")
  const script = `#!/usr/bin/env node
const pg = require(${JSON.stringify(pgEntry)})
// libpq's "prefer" tries TLS and falls back; node-postgres would insist on it.
const client = new pg.Client({ ssl: process.env.PGSSLMODE === "require" })
client.connect()
  .then(() => client.query("SELECT current_user AS who, current_database() AS db, string_agg(table_name, ',' ORDER BY table_name) AS tables FROM information_schema.tables WHERE table_schema = 'public'"))
  .then(({ rows: [row] }) => { console.log("connected as " + row.who + " to " + row.db + ": " + row.tables + " (" + process.argv.slice(2).join(" ") + ")"); return client.end() })
  .catch((error) => { console.error(error.message); process.exit(1) })
`
  fs.writeFileSync(path.join(dir, "pg_dump"), script, { mode: 0o755 })
  return dir
}

onBoth("PgMigrator", (flavour) => freshClient(flavour), (it) => {
  it.effect("runs each migration once, and its schema dump connects to the database with PgClient.config", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const schemaDirectory = fs.mkdtempSync(path.join(os.tmpdir(), "effect-dal-schema-"))
      const loader = PgMigrator.fromRecord({
        "1_create_widgets": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE widgets (id int)`),
        "2_add_name": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`ALTER TABLE widgets ADD COLUMN name text`)
      })
      const bin = fakePgDump()
      const path0 = process.env.PATH
      process.env.PATH = `${bin}${path.delimiter}${path0}`
      const first = yield* PgMigrator.run({ loader, schemaDirectory }).pipe(
        Effect.ensuring(Effect.sync(() => {
          process.env.PATH = path0
        }))
      )
      expect(first).toEqual([[1, "create_widgets"], [2, "add_name"]])
      expect(yield* PgMigrator.run({ loader })).toEqual([])
      const columns = yield* sql<{ column_name: string }>`
        SELECT column_name FROM information_schema.columns WHERE table_name = 'widgets' ORDER BY ordinal_position`
      expect(columns.map((c) => c.column_name)).toEqual(["id", "name"])
      const dump = fs.readFileSync(path.join(schemaDirectory, "_schema.sql"), "utf8")
      expect(dump).toContain(`connected as ${sql.config.username} to ${sql.config.database}: effect_sql_migrations,widgets (--schema-only`)
      expect(dump).toContain("--table=effect_sql_migrations")
    }).pipe(Effect.provide(NodeContext.layer)))
})
