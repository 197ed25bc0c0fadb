import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import * as Admin from "./support/admin.js"
import * as TestDatabase from "./support/TestDatabase.js"

const root = path.resolve(import.meta.dirname, "..")

// No PG* variables and no colours from the environment running the tests.
const baseEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !/^(PG|DATABASE_URL$|FORCE_COLOR$|npm_)/.test(name))
) as Record<string, string>

interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** `effect-dal <args>` as a process, the way a deploy script runs it. */
const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.promise(() =>
    new Promise<Result>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", "src/bin/effect-dal.ts", ...args], {
        cwd: root,
        env: { ...baseEnv, NO_COLOR: "1", ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (chunk) => (stdout += String(chunk)))
      child.stderr.on("data", (chunk) => (stderr += String(chunk)))
      child.on("close", (code) => resolve({ code, stdout, stderr }))
    })
  )

const directory = (files: Record<string, string>): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      fs.mkdirSync(path.join(root, ".tmp"), { recursive: true })
      const dir = fs.mkdtempSync(path.join(root, ".tmp", "cli-"))
      for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text)
      return dir
    }),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

const files = {
  "0001_create_users.up.sql": "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL);",
  "0001_create_users.down.sql": "DROP TABLE users;",
  "0002_add_name.up.sql": "ALTER TABLE users ADD COLUMN name text;",
  "0002_add_name.down.sql": "ALTER TABLE users DROP COLUMN name;"
}

const historyIds = (url: string) =>
  Effect.map(
    Admin.query<{ id: number }>(url, "select migration_id as id from effect_sql_migrations order by 1"),
    (rows) => rows.map((r) => r.id)
  )

describe("effect-dal command line", () => {
  it.effect("--help works for every command and exits with 0", () =>
    Effect.gen(function*() {
      for (
        const command of [[], ["migrate"], ["migrate", "up"], ["migrate", "down"], ["migrate", "redo"], ["migrate", "status"], [
          "migrate",
          "create"
        ], ["check"]]
      ) {
        const result = yield* cli([...command, "--help"])
        expect(result.code, result.stdout + result.stderr).toBe(0)
        expect(result.stdout).toContain("USAGE")
      }
      const top = yield* cli(["--help"])
      for (const command of ["migrate up", "migrate down", "migrate redo", "migrate status", "migrate create", "check --tables"]) {
        expect(top.stdout).toContain(command)
      }
    }))

  it.scoped("status, up, status again and down: output a person can read, exit code 0", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const dir = yield* directory(files)
      const env = { DATABASE_URL: url }
      const before = yield* cli(["migrate", "status", "--dir", dir], env)
      expect(before.code, before.stderr).toBe(0)
      const lines = before.stdout.trim().split("\n")
      expect(lines[0]).toMatch(/^ID\s+NAME\s+STATE\s+APPLIED AT\s+DURATION\s+NOTE$/)
      expect(lines[1]).toMatch(/^0001\s+create_users\s+pending$/)
      expect(lines[2]).toMatch(/^0002\s+add_name\s+pending$/)
      expect(lines.at(-1)).toBe("0 applied, 2 pending")

      const up = yield* cli(["migrate", "up", "--dir", dir], env)
      expect(up.code, up.stderr).toBe(0)
      expect(up.stdout).toMatch(/^applied 0001_create_users \(\d+ ms\)\napplied 0002_add_name \(\d+ ms\)\n$/)
      expect(yield* historyIds(url)).toEqual([1, 2])

      const after = yield* cli(["migrate", "status", "--dir", dir], env)
      expect(after.stdout).toMatch(/\n0001\s+create_users\s+applied\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+\d+ ms\n/)
      expect(after.stdout.trim().split("\n").at(-1)).toBe("2 applied, 0 pending")

      const again = yield* cli(["migrate", "up", "--dir", dir], env)
      expect([again.code, again.stdout]).toEqual([0, "nothing to apply: the database is up to date\n"])

      const down = yield* cli(["migrate", "down", "--dir", dir, "--steps", "2"], env)
      expect(down.code, down.stderr).toBe(0)
      expect(down.stdout).toMatch(/^reverted 0002_add_name \(\d+ ms\)\nreverted 0001_create_users \(\d+ ms\)\n$/)
      expect(yield* historyIds(url)).toEqual([])
    }))

  it.scoped("--dry-run prints the SQL and runs nothing", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const dir = yield* directory(files)
      const result = yield* cli(["migrate", "up", "--dir", dir, "--dry-run"], { DATABASE_URL: url })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toBe(
        "-- up 0001_create_users (in a transaction)\n" + files["0001_create_users.up.sql"] + "\n" +
          "-- up 0002_add_name (in a transaction)\n" + files["0002_add_name.up.sql"] + "\n"
      )
      expect(yield* Admin.query(url, "select to_regclass('effect_sql_migrations')::text as t")).toEqual([{ t: null }])
    }))

  it.scoped("usage and configuration errors exit with 2", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const dir = yield* directory(files)
      expect((yield* cli(["migrate", "up", "--no-such-option"], { DATABASE_URL: url })).code).toBe(2)
      expect((yield* cli(["migrate", "sideways"], { DATABASE_URL: url })).code).toBe(2)
      expect((yield* cli(["migrate", "up", "--to", "three"], { DATABASE_URL: url })).code).toBe(2)
      const both = yield* cli(["migrate", "down", "--dir", dir, "--steps", "1", "--to", "0"], { DATABASE_URL: url })
      expect([both.code, both.stderr]).toEqual([2, "error: give --steps or --to, not both\n"])
      const badName = yield* cli(["migrate", "create", "--dir", dir, "x'; drop table users; --"])
      expect(badName.code).toBe(2)
      expect(badName.stderr).toContain("is not a migration name")
      // Neither DATABASE_URL nor PGHOST/PGDATABASE: the configuration is missing.
      const unconfigured = yield* cli(["migrate", "status", "--dir", dir])
      expect(unconfigured.code).toBe(2)
      expect(unconfigured.stderr).toContain("configuration")
      const badUrl = yield* cli(["migrate", "status", "--dir", dir], { DATABASE_URL: "mysql://x" })
      expect(badUrl.code).toBe(2)
      expect(badUrl.stderr).toContain("DATABASE_URL")
    }))

  it.scoped("a failing migration exits with 1 and names the migration and its SQLSTATE", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const dir = yield* directory({ ...files, "0003_broken.up.sql": "SELECT 1 / 0;" })
      const result = yield* cli(["migrate", "up", "--dir", dir], { DATABASE_URL: url })
      expect(result.code).toBe(1)
      expect(result.stdout).toMatch(/applied 0002_add_name/)
      expect(result.stderr).toBe(
        "error: migration 3_broken: failed (SQLSTATE 22012): up failed; it was rolled back and the migration is still pending\n"
      )
      expect(yield* historyIds(url)).toEqual([1, 2])
      // A directory with a bad file name fails before anything runs.
      const bad = yield* directory({ "1-oops.sql": "select 1" })
      expect((yield* cli(["migrate", "up", "--dir", bad], { DATABASE_URL: url })).code).toBe(1)
    }))

  it.scoped("a lock held by another runner past --lock-timeout exits with 3", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const dir = yield* directory(files)
      yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const client = new pg.Client({ connectionString: url })
          client.on("error", () => {})
          await client.connect()
          await client.query("select pg_advisory_lock($1::int4, hashtext($2::text))", [0x4d494752, "effect_sql_migrations"])
          return client
        }),
        (client) => Effect.promise(() => client.end())
      )
      const result = yield* cli(["migrate", "up", "--dir", dir, "--lock-timeout", "1"], { DATABASE_URL: url })
      expect(result.code).toBe(3)
      expect(result.stderr).toContain("lock-timeout")
      expect(yield* Admin.query(url, "select to_regclass('users')::text as t")).toEqual([{ t: null }])
    }))

  it.scoped("create --from writes a first migration that, applied, makes check pass; check lists differences with 1", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const dir = path.join(yield* directory({}), "migrations")
      const env = { DATABASE_URL: url }
      const created = yield* cli(["migrate", "create", "init", "--dir", dir, "--from", "src/testing/Fixtures.ts"])
      expect(created.code, created.stderr).toBe(0)
      expect(fs.readdirSync(dir).sort()).toEqual(["0001_init.down.sql", "0001_init.up.sql"])
      const up = fs.readFileSync(path.join(dir, "0001_init.up.sql"), "utf8")
      expect(up).toContain(`CREATE TABLE "members" (`)
      expect(up).toContain(`CONSTRAINT "members_email_key" UNIQUE ("email")`)
      expect(up).toContain(`CONSTRAINT "grants_pkey" PRIMARY KEY ("member_id", "resource")`)

      const failing = yield* cli(["check", "--tables", "src/testing/Fixtures.ts"], env)
      expect(failing.code).toBe(1)
      expect(failing.stderr).toContain("4 difference(s)")
      expect(failing.stderr).toContain("members: missing-table")

      expect((yield* cli(["migrate", "up", "--dir", dir], env)).code).toBe(0)
      const passing = yield* cli(["check", "--tables", "src/testing/Fixtures.ts"], env)
      expect([passing.code, passing.stdout]).toEqual([0, "ok: 4 table(s) match the database\n"])

      // The next migration gets the next id; without --from its files are empty templates.
      const next = yield* cli(["migrate", "create", "add_index", "--dir", dir])
      expect(next.code, next.stderr).toBe(0)
      expect(fs.readdirSync(dir).sort()).toContain("0002_add_index.up.sql")
      expect((yield* cli(["check", "--tables", "no/such/module.ts"], env)).code).toBe(2)
    }))
})
