import { describe, expect, it } from "@effect/vitest"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import * as SqlMigrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import * as DatabaseError from "../src/DatabaseError.js"
import { splitStatements } from "../src/internal/migrator/source.js"
import * as Migrator from "../src/Migrator.js"
import * as Admin from "./support/admin.js"
import * as TestDatabase from "./support/TestDatabase.js"

const root = path.resolve(import.meta.dirname, "..")
const fixtures = path.join(import.meta.dirname, "fixtures/migrations")

/**
 * A directory of migration files under the repository's `.tmp/` (so that a
 * module in it resolves `effect` from the repository), removed with the scope.
 */
const directory = (files: Record<string, string>): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      fs.mkdirSync(path.join(root, ".tmp"), { recursive: true })
      const dir = fs.mkdtempSync(path.join(root, ".tmp", "migrations-"))
      for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text)
      return dir
    }),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

const history = (url: string, table = "effect_sql_migrations") =>
  Admin.query<{ migration_id: number; name: string; checksum: string | null; duration_ms: number | null }>(
    url,
    `select migration_id, name, checksum, duration_ms from ${pg.escapeIdentifier(table)} order by migration_id`
  )

const tableExists = (url: string, name: string) =>
  Effect.map(Admin.query<{ oid: string | null }>(url, "select to_regclass($1)::text as oid", [name]), (rows) => rows[0]?.oid !== null)

const migrationError = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flip(effect).pipe(
    Effect.map((error) => {
      expect(error).toBeInstanceOf(DatabaseError.MigrationError)
      return error as unknown as DatabaseError.MigrationError
    })
  )

const sha256 = (text: string) => Migrator.migrations(Migrator.fromRecords([{ id: 1, name: "x", up: text }])).pipe(
  Effect.map((list) => list[0]!.checksum)
)

const simple = {
  "0001_create_users.up.sql": "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL);",
  "0001_create_users.down.sql": "DROP TABLE users;",
  "0002_add_name.up.sql": "ALTER TABLE users ADD COLUMN name text;",
  "0002_add_name.down.sql": "ALTER TABLE users DROP COLUMN name;",
  "0003_create_posts.up.sql": "CREATE TABLE posts (id serial PRIMARY KEY, user_id int REFERENCES users);",
  "0003_create_posts.down.sql": "DROP TABLE posts;"
}

describe("Migrator", () => {
  it.scoped("up applies every pending migration in id order and records each with its checksum and duration", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const source = Migrator.fromDirectory(yield* directory(simple))
      const reported: Array<number> = []
      const applied = yield* Migrator.up({ source, onMigration: (m) => Effect.sync(() => void reported.push(m.id)) })
      expect(reported).toEqual([1, 2, 3])
      expect(applied.map((m) => [m.id, m.name, m.direction, m.transaction])).toEqual([
        [1, "create_users", "up", true],
        [2, "add_name", "up", true],
        [3, "create_posts", "up", true]
      ])
      const rows = yield* history(url)
      expect(rows.map((r) => [r.migration_id, r.name])).toEqual([[1, "create_users"], [2, "add_name"], [3, "create_posts"]])
      expect(rows[0]!.checksum).toBe(yield* sha256(simple["0001_create_users.up.sql"]))
      expect(rows.every((r) => typeof r.duration_ms === "number" && r.duration_ms >= 0)).toBe(true)
      expect(yield* tableExists(url, "posts")).toBe(true)

      const status = yield* Migrator.status({ source })
      expect(status.pending).toEqual([])
      expect(status.applied.map((m) => m.id)).toEqual([1, 2, 3])
      expect(status.applied.every((m) => Option.isSome(m.appliedAt) && Option.isSome(m.duration))).toBe(true)

      // A second run finds nothing to do.
      expect(yield* Migrator.up({ source })).toEqual([])
      expect(yield* history(url)).toHaveLength(3)
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("status lists pending migrations without creating the history table", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const status = yield* Migrator.status({ source: Migrator.fromDirectory(yield* directory(simple)) })
      expect(status.pending.map((m) => [m.id, m.name, m.state, Option.isNone(m.appliedAt)])).toEqual([
        [1, "create_users", "pending", true],
        [2, "add_name", "pending", true],
        [3, "create_posts", "pending", true]
      ])
      expect(yield* tableExists(url, "effect_sql_migrations")).toBe(false)
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("up to a target stops there; down by steps and to a target undoes newest first; redo runs down and up", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const source = Migrator.fromDirectory(yield* directory(simple))
      expect((yield* Migrator.up({ source, to: 2 })).map((m) => m.id)).toEqual([1, 2])
      expect(yield* tableExists(url, "posts")).toBe(false)
      expect((yield* Migrator.up({ source })).map((m) => m.id)).toEqual([3])

      const undone = yield* Migrator.down({ source, steps: 2 })
      expect(undone.map((m) => [m.id, m.direction])).toEqual([[3, "down"], [2, "down"]])
      expect((yield* history(url)).map((r) => r.migration_id)).toEqual([1])
      expect(yield* Admin.query(url, "select column_name from information_schema.columns where table_name = 'users' order by 1"))
        .toEqual([{ column_name: "email" }, { column_name: "id" }])

      yield* Migrator.up({ source })
      const redone = yield* Migrator.redo({ source })
      expect(redone.map((m) => [m.id, m.direction])).toEqual([[3, "down"], [3, "up"]])
      expect((yield* history(url)).map((r) => r.migration_id)).toEqual([1, 2, 3])

      expect((yield* Migrator.down({ source, to: 0 })).map((m) => m.id)).toEqual([3, 2, 1])
      expect(yield* history(url)).toEqual([])
      expect(yield* tableExists(url, "users")).toBe(false)
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("an unknown target is an unknown-target error and changes nothing", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const source = Migrator.fromDirectory(yield* directory(simple))
      expect((yield* migrationError(Migrator.up({ source, to: 7 }))).reason).toBe("unknown-target")
      expect(yield* tableExists(url, "users")).toBe(false)
      yield* Migrator.up({ source })
      expect((yield* migrationError(Migrator.down({ source, to: 99 }))).reason).toBe("unknown-target")
      expect((yield* migrationError(Migrator.down({ source, steps: 0 }))).reason).toBe("unknown-target")
      expect(yield* history(url)).toHaveLength(3)
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("SQL files, a module and a no-transaction file (CREATE INDEX CONCURRENTLY) run, each side effect once", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const source = Migrator.fromDirectory(fixtures)
      const applied = yield* Migrator.up({ source })
      expect(applied.map((m) => [m.id, m.transaction, Option.isSome(m.sql)])).toEqual([
        [1, true, true],
        [2, true, false],
        [3, false, true]
      ])
      expect(yield* Admin.query(url, "select name from items order by id")).toEqual([{ name: "first" }, { name: "second" }])
      expect(yield* Admin.query(url, "select migration from side_effects order by 1")).toEqual([
        { migration: "0002_seed_items" },
        { migration: "0003_index_items; with a semicolon" }
      ])
      expect(yield* Admin.query(url, "select indexname from pg_indexes where indexname = 'items_name_index'")).toHaveLength(1)

      expect((yield* Migrator.down({ source, steps: 2 })).map((m) => [m.id, m.transaction])).toEqual([[3, false], [2, true]])
      expect(yield* Admin.query(url, "select indexname from pg_indexes where indexname = 'items_name_index'")).toEqual([])
      expect(yield* Admin.query(url, "select count(*)::int as n from items")).toEqual([{ n: 0 }])
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("the same CREATE INDEX CONCURRENTLY without the marker fails with SQLSTATE 25001 and stays pending", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const source = Migrator.fromDirectory(
        yield* directory({
          "0001_t.up.sql": "CREATE TABLE t (x int);",
          "0002_index.up.sql": "CREATE INDEX CONCURRENTLY t_x ON t (x);"
        })
      )
      const error = yield* migrationError(Migrator.up({ source }))
      expect([error.reason, error.migrationId, error.migrationName, error.sqlState]).toEqual(["failed", 2, "index", "25001"])
      expect((yield* history(url)).map((r) => r.migration_id)).toEqual([1])
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("a failing migration rolls back its own statements, stays pending, and names itself and its SQLSTATE", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const source = Migrator.fromDirectory(
        yield* directory({
          "0001_ok.up.sql": "CREATE TABLE ok (x int);",
          "0002_broken.up.sql": "CREATE TABLE half (x int);\nINSERT INTO half VALUES (1 / 0);",
          "0003_later.up.sql": "CREATE TABLE later (x int);"
        })
      )
      const error = yield* migrationError(Migrator.up({ source }))
      expect([error.reason, error.migrationId, error.migrationName, error.sqlState]).toEqual(["failed", 2, "broken", "22012"])
      expect(error.message).toContain("migration 2_broken")
      expect(error.message).toContain("still pending")
      expect(yield* tableExists(url, "ok")).toBe(true)
      expect(yield* tableExists(url, "half")).toBe(false)
      expect(yield* tableExists(url, "later")).toBe(false)
      const status = yield* Migrator.status({ source })
      expect(status.pending.map((m) => m.id)).toEqual([2, 3])
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("an applied migration edited afterwards is a checksum-mismatch error naming it; status flags it", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const dir = yield* directory(simple)
      const source = Migrator.fromDirectory(dir)
      yield* Migrator.up({ source, to: 2 })
      fs.writeFileSync(path.join(dir, "0002_add_name.up.sql"), "ALTER TABLE users ADD COLUMN full_name text;")
      const error = yield* migrationError(Migrator.up({ source }))
      expect([error.reason, error.migrationId, error.migrationName]).toEqual(["checksum-mismatch", 2, "add_name"])
      expect(yield* tableExists(url, "posts")).toBe(false)
      expect((yield* migrationError(Migrator.down({ source }))).reason).toBe("checksum-mismatch")
      const status = yield* Migrator.status({ source })
      expect(status.migrations.map((m) => [m.id, m.changed])).toEqual([[1, false], [2, true], [3, false]])
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("a pending migration older than the last applied one is out-of-order unless allowOutOfOrder", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const dir = yield* directory({ "0001_a.up.sql": "CREATE TABLE a (x int);", "0003_c.up.sql": "CREATE TABLE c (x int);" })
      const source = Migrator.fromDirectory(dir)
      yield* Migrator.up({ source })
      fs.writeFileSync(path.join(dir, "0002_b.up.sql"), "CREATE TABLE b (x int);")
      const error = yield* migrationError(Migrator.up({ source }))
      expect([error.reason, error.migrationId, error.migrationName]).toEqual(["out-of-order", 2, "b"])
      expect((yield* Migrator.status({ source })).pending.map((m) => [m.id, m.outOfOrder])).toEqual([[2, true]])
      expect((yield* Migrator.up({ source, allowOutOfOrder: true })).map((m) => m.id)).toEqual([2])
      expect((yield* history(url)).map((r) => r.migration_id)).toEqual([1, 2, 3])
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("down of a migration without a down step fails with no-down before anything runs", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const source = Migrator.fromDirectory(
        yield* directory({
          "0001_a.up.sql": "CREATE TABLE a (x int);",
          "0002_b.up.sql": "CREATE TABLE b (x int);",
          "0002_b.down.sql": "DROP TABLE b;"
        })
      )
      yield* Migrator.up({ source })
      const error = yield* migrationError(Migrator.down({ source, steps: 2 }))
      expect([error.reason, error.migrationId, error.migrationName]).toEqual(["no-down", 1, "a"])
      // 2 has a down step, but nothing ran: it is still applied.
      expect((yield* history(url)).map((r) => r.migration_id)).toEqual([1, 2])
      expect(yield* tableExists(url, "b")).toBe(true)
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("a dry run returns the SQL it would run and changes nothing", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const source = Migrator.fromDirectory(yield* directory(simple))
      const plan = yield* Migrator.up({ source, dryRun: true })
      expect(plan.map((m) => [m.id, Option.getOrUndefined(m.sql), Option.isNone(m.duration)])).toEqual([
        [1, simple["0001_create_users.up.sql"], true],
        [2, simple["0002_add_name.up.sql"], true],
        [3, simple["0003_create_posts.up.sql"], true]
      ])
      expect(yield* tableExists(url, "effect_sql_migrations")).toBe(false)
      yield* Migrator.up({ source })
      const downPlan = yield* Migrator.down({ source, dryRun: true })
      expect(downPlan.map((m) => [m.id, m.direction, Option.getOrUndefined(m.sql)])).toEqual([
        [3, "down", "DROP TABLE posts;"]
      ])
      expect(yield* history(url)).toHaveLength(3)
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("records in code: SQL text and Effects, with a history table whose name needs quoting", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const table = `my "migrations"; DROP TABLE x`
      const source = Migrator.fromRecords([
        { id: 1, name: "create_notes", up: "CREATE TABLE notes (body text)", down: "DROP TABLE notes" },
        {
          id: 2,
          name: "seed_notes",
          up: Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO notes VALUES (${"it's; a note"})`),
          down: Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DELETE FROM notes`)
        }
      ])
      yield* Migrator.up({ source, table })
      expect(yield* Admin.query(url, "select body from notes")).toEqual([{ body: "it's; a note" }])
      const rows = yield* history(url, table)
      expect(rows.map((r) => [r.migration_id, r.checksum === null])).toEqual([[1, false], [2, true]])
      yield* Migrator.down({ source, table, to: 0 })
      expect(yield* history(url, table)).toEqual([])
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scopedLive("another runner holding the lock past lockTimeout is a lock-timeout error, and nothing is applied", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const holder = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const client = new pg.Client({ connectionString: url })
          client.on("error", () => {})
          await client.connect()
          await client.query("select pg_advisory_lock($1::int4, hashtext($2::text))", [0x4d494752, "effect_sql_migrations"])
          return client
        }),
        (client) => Effect.promise(() => client.end())
      )
      const source = Migrator.fromDirectory(yield* directory(simple))
      const error = yield* migrationError(Migrator.up({ source, lockTimeout: "300 millis" }))
      expect(error.reason).toBe("lock-timeout")
      expect(yield* tableExists(url, "users")).toBe(false)
      // Once the holder lets go, the next run goes ahead.
      yield* Effect.promise(() => holder.query("select pg_advisory_unlock_all()"))
      expect(yield* Migrator.up({ source, lockTimeout: "10 seconds" })).toHaveLength(3)
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("two processes started at once apply each migration exactly once", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const runner = () =>
        new Promise<{ code: number | null; output: string }>((resolve) => {
          const child = spawn(process.execPath, ["--import", "tsx", "test/support/migrateProcess.ts", fixtures], {
            cwd: root,
            env: { ...process.env, DATABASE_URL: url },
            stdio: ["ignore", "pipe", "pipe"]
          })
          let output = ""
          child.stdout.on("data", (chunk) => (output += String(chunk)))
          child.stderr.on("data", (chunk) => (output += String(chunk)))
          child.on("close", (code) => resolve({ code, output }))
        })
      const results = yield* Effect.promise(() => Promise.all([runner(), runner()]))
      for (const result of results) expect(result.code, result.output).toBe(0)
      const applied = results.flatMap((r) => (JSON.parse(r.output.trim().split("\n").at(-1)!) as { applied: Array<number> }).applied)
      expect(applied.sort()).toEqual([1, 2, 3])
      expect((yield* history(url)).map((r) => r.migration_id)).toEqual([1, 2, 3])
      expect(yield* Admin.query(url, "select migration, count(*)::int as n from side_effects group by 1 order by 1")).toEqual([
        { migration: "0002_seed_items", n: 1 },
        { migration: "0003_index_items; with a semicolon", n: 1 }
      ])
      expect(yield* Admin.query(url, "select count(*)::int as n from items")).toEqual([{ n: 2 }])
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("a PgMigrator history is adopted: its migrations count as applied, and only new ones run", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      yield* PgMigrator.run({
        loader: SqlMigrator.fromRecord({
          "1_create_users": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL)`),
          "2_add_name": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`ALTER TABLE users ADD COLUMN name text`)
        })
      }).pipe(Effect.provide(NodeContext.layer))
      expect(yield* Admin.query(url, "select migration_id, name from effect_sql_migrations order by 1")).toEqual([
        { migration_id: 1, name: "create_users" },
        { migration_id: 2, name: "add_name" }
      ])

      const source = Migrator.fromDirectory(yield* directory(simple))
      const status = yield* Migrator.status({ source })
      expect(status.migrations.map((m) => [m.id, m.state, Option.isSome(m.appliedAt), Option.isNone(m.duration)])).toEqual([
        [1, "applied", true, true],
        [2, "applied", true, true],
        [3, "pending", false, true]
      ])
      expect((yield* Migrator.up({ source })).map((m) => m.id)).toEqual([3])
      const rows = yield* history(url)
      // The adopted rows get their checksums, so later edits are caught too.
      expect(rows.map((r) => r.checksum === null)).toEqual([false, false, false])
      expect(rows[1]!.checksum).toBe(yield* sha256(simple["0002_add_name.up.sql"]))
      // PgMigrator still works on the table afterwards.
      yield* PgMigrator.run({
        loader: SqlMigrator.fromRecord({
          "4_more": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE more (x int)`)
        })
      }).pipe(Effect.provide(NodeContext.layer))
      expect((yield* history(url)).map((r) => r.migration_id)).toEqual([1, 2, 3, 4])
    }).pipe(Effect.provide(TestDatabase.layer())))
})

describe("Migrator sources refuse bad input before anything runs", () => {
  const reasonOf = (source: Migrator.MigrationSource) =>
    Effect.map(Effect.flip(Migrator.migrations(source)), (error) => [error._tag, error.reason, error.detail] as const)

  it.scoped("a file name that is not NNNN_name.up.sql", () =>
    Effect.gen(function*() {
      for (const bad of ["create_users.sql", "0001-create.up.sql", "0001_drop;table.up.sql", "0001_it's.up.sql", "0001_.up.sql", "0001_x.sql"]) {
        const [tag, reason, detail] = yield* reasonOf(Migrator.fromDirectory(yield* directory({ [bad]: "select 1" })))
        expect([tag, reason]).toEqual(["MigrationError", "invalid-source"])
        expect(detail).toContain("is not a migration file name")
      }
    }))

  it.scoped("files that are not migrations are ignored: README, hidden files, PgMigrator's _schema.sql", () =>
    Effect.gen(function*() {
      const list = yield* Migrator.migrations(Migrator.fromDirectory(
        yield* directory({ "README.md": "#", ".hidden.sql": "", "_schema.sql": "", "0001_a.up.sql": "select 1" })
      ))
      expect(list.map((m) => [m.id, m.name])).toEqual([[1, "a"]])
    }))

  it.scoped("duplicate ids, two up files, a down file without its up file, an id out of range", () =>
    Effect.gen(function*() {
      const cases: Array<[Record<string, string>, string]> = [
        [{ "0001_a.up.sql": "", "1_b.up.sql": "" }, "id 1 is used twice"],
        [{ "0001_a.up.sql": "", "0001_a.js": "" }, "more than one up file"],
        [{ "0001_a.down.sql": "" }, "has no 1_a.up.sql"],
        [{ "9999999999_a.up.sql": "" }, "whole number from 1"],
        [{ "0000_a.up.sql": "" }, "whole number from 1"]
      ]
      for (const [files, message] of cases) {
        const [, reason, detail] = yield* reasonOf(Migrator.fromDirectory(yield* directory(files)))
        expect(reason).toBe("invalid-source")
        expect(detail).toContain(message)
      }
    }))

  it.effect("records with bad names or duplicate ids", () =>
    Effect.gen(function*() {
      const bad = ["x'; DROP TABLE users; --", "a b", "", "-leading"]
      for (const name of bad) {
        expect((yield* reasonOf(Migrator.fromRecords([{ id: 1, name, up: "select 1" }])))[1]).toBe("invalid-source")
      }
      expect((yield* reasonOf(Migrator.fromRecords([{ id: 1.5, name: "a", up: "select 1" }])))[1]).toBe("invalid-source")
      const [, reason, detail] = yield* reasonOf(
        Migrator.fromRecords([{ id: 1, name: "a", up: "select 1" }, { id: 1, name: "b", up: "select 1" }])
      )
      expect(reason).toBe("invalid-source")
      expect(detail).toContain("id 1 is used twice")
    }))

  it.scoped("a module without an up Effect is invalid-source when it is about to run, and nothing runs", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const source = Migrator.fromDirectory(
        yield* directory({ "0001_a.up.sql": "CREATE TABLE a (x int);", "0002_b.mjs": "export const up = 42\n" })
      )
      const error = yield* migrationError(Migrator.up({ source }))
      expect([error.reason, error.migrationId]).toEqual(["invalid-source", 2])
      expect(yield* tableExists(url, "a")).toBe(false)
    }).pipe(Effect.provide(TestDatabase.layer())))
})

describe("the statements of a no-transaction file", () => {
  it("are split at top-level semicolons only: not in strings, identifiers, dollar quotes or comments", () => {
    const text = [
      "-- effect-dal: no-transaction",
      "CREATE INDEX CONCURRENTLY \"a;b\" ON t (x);",
      "INSERT INTO t (s) VALUES ('it''s; fine'), (E'back\\'slash; too');",
      "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;",
      "/* a; /* nested; */ comment; */ SELECT a$b FROM t;",
      "-- only a comment; here",
      ""
    ].join("\n")
    expect(splitStatements(text).map((s) => s.trim())).toEqual([
      "-- effect-dal: no-transaction\nCREATE INDEX CONCURRENTLY \"a;b\" ON t (x)",
      "INSERT INTO t (s) VALUES ('it''s; fine'), (E'back\\'slash; too')",
      "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
      "/* a; /* nested; */ comment; */ SELECT a$b FROM t"
    ])
  })
})
