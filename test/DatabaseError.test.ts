import { assert, expect, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import pg from "pg"
import * as Database from "../src/Database.js"
import * as DatabaseError from "../src/DatabaseError.js"
import * as Admin from "./support/admin.js"
import * as TestDatabase from "./support/TestDatabase.js"

const typed = <A, R>(effect: Effect.Effect<A, SqlError, R>) => Effect.mapError(effect, DatabaseError.fromSqlError)

const SECRET = "secret.person@example.com"

layer(TestDatabase.layer({ maxConnections: 4 }), { excludeTestServices: true })("errors from real Postgres errors", (it) => {
  it.effect("setup", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`create table accounts (
        id int primary key,
        email text not null constraint accounts_email_key unique,
        tenant int not null default 1,
        balance int not null constraint accounts_balance_check check (balance >= 0)
      )`
      yield* sql`create unique index accounts_tenant_lower_email on accounts (tenant, lower(email))`
      yield* sql`create table orders (id int primary key, account_id int constraint orders_account_fk references accounts)`
      yield* sql`create table bookings (room int, during tsrange, constraint bookings_no_overlap exclude using gist (during with &&))`
      yield* sql`insert into accounts values (1, ${SECRET}, 1, 100), (2, 'b@example.com', 1, 100)`
    }))

  it.effect("23505 is UniqueViolation with constraint, table and columns; the value stays out of the message", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const error = yield* typed(sql`insert into accounts values (3, ${SECRET}, 2, 0)`).pipe(Effect.flip)
      assert(error._tag === "UniqueViolation")
      expect(error).toMatchObject({ sqlState: "23505", constraint: "accounts_email_key", table: "accounts", columns: ["email"] })
      expect(error.message).toBe(`unique constraint "accounts_email_key" (email) on table "accounts" violated`)
      expect(error.message).not.toContain(SECRET)
      expect(error.detail).toContain(SECRET)
      expect(Schema.is(DatabaseError.ConstraintViolation)(error)).toBe(true)
      expect(DatabaseError.isConstraintViolation(error)).toBe(true)
    }))

  it.effect("an expression index reports its expression as the column", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const error = yield* typed(sql`insert into accounts values (3, ${SECRET.toUpperCase()}, 1, 0)`).pipe(Effect.flip)
      assert(error._tag === "UniqueViolation")
      expect(error.constraint).toBe("accounts_tenant_lower_email")
      expect(error.columns).toEqual(["tenant", "lower(email)"])
    }))

  it.effect("23503 is ForeignKeyViolation with the referenced table", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const error = yield* typed(sql`insert into orders values (1, 999)`).pipe(Effect.flip)
      assert(error._tag === "ForeignKeyViolation")
      expect(error).toMatchObject({
        sqlState: "23503",
        constraint: "orders_account_fk",
        table: "orders",
        referencedTable: "accounts"
      })
    }))

  it.effect("23514 is CheckViolation", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const error = yield* typed(sql`update accounts set balance = -5 where id = 1`).pipe(Effect.flip)
      assert(error._tag === "CheckViolation")
      expect(error).toMatchObject({ sqlState: "23514", constraint: "accounts_balance_check", table: "accounts" })
      expect(error.message).toBe(`check constraint "accounts_balance_check" on table "accounts" violated`)
    }))

  it.effect("23502 is NotNullViolation naming the column", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const error = yield* typed(sql`insert into accounts (id, email, balance) values (4, null, 1)`).pipe(Effect.flip)
      assert(error._tag === "NotNullViolation")
      expect(error).toMatchObject({ sqlState: "23502", table: "accounts", column: "email" })
      expect(error.message).toBe(`column "email" on table "accounts" may not be null`)
    }))

  it.effect("23P01 is ExclusionViolation", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`insert into bookings values (1, '[2026-01-01 10:00, 2026-01-01 12:00)')`
      const error = yield* typed(sql`insert into bookings values (2, '[2026-01-01 11:00, 2026-01-01 13:00)')`)
        .pipe(Effect.flip)
      assert(error._tag === "ExclusionViolation")
      expect(error).toMatchObject({ sqlState: "23P01", constraint: "bookings_no_overlap", table: "bookings" })
    }))

  it.effect("constraint violations are taken apart with catchTag", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const outcome = yield* typed(sql`insert into accounts values (5, ${SECRET}, 1, 0)`).pipe(
        Effect.as("inserted"),
        Effect.catchTag("UniqueViolation", (e) => Effect.succeed(`taken: ${e.constraint}`))
      )
      expect(outcome).toBe("taken: accounts_email_key")
    }))

  it.effect("40P01 is DeadlockDetected, and retryable", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const firstLocked = yield* Deferred.make<void>()
      const secondLocked = yield* Deferred.make<void>()
      const lockInOrder = (first: number, second: number, mine: Deferred.Deferred<void>, theirs: Deferred.Deferred<void>) =>
        Database.transaction(Effect.gen(function*() {
          yield* typed(sql`update accounts set balance = balance where id = ${first}`)
          yield* Deferred.succeed(mine, undefined)
          yield* Deferred.await(theirs)
          yield* typed(sql`update accounts set balance = balance where id = ${second}`)
        }))
      const results = yield* Effect.all([
        Effect.either(lockInOrder(1, 2, firstLocked, secondLocked)),
        Effect.either(lockInOrder(2, 1, secondLocked, firstLocked))
      ], { concurrency: "unbounded" })
      const failures = results.filter((r) => r._tag === "Left")
      expect(failures.length).toBe(1)
      const error = failures[0]!.left
      expect(error._tag).toBe("DeadlockDetected")
      expect(DatabaseError.isRetryable(error)).toBe(true)
    }))

  it.effect("57014 from a cancel request is QueryCanceled; from statement_timeout it is StatementTimeout", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const url = yield* TestDatabase.TestUrl
      const sleeping = yield* Effect.fork(typed(sql`select pg_sleep(10)`))
      yield* Admin.eventually(
        Admin.query(url, "select pid from pg_stat_activity where query like 'select pg_sleep(10)%' and state = 'active'"),
        (rows) => rows.length === 1
      )
      yield* Admin.query(url, "select pg_cancel_backend(pid) from pg_stat_activity where query like 'select pg_sleep(10)%'")
      const canceled = yield* Effect.flip(Fiber.join(sleeping))
      expect(canceled._tag).toBe("QueryCanceled")
      expect((canceled as DatabaseError.QueryCanceled).sqlState).toBe("57014")
      const timedOut = yield* Database.transaction(Effect.gen(function*() {
        yield* typed(sql`set local statement_timeout = '50ms'`)
        yield* typed(sql`select pg_sleep(5)`)
      })).pipe(Effect.flip)
      expect(timedOut._tag).toBe("StatementTimeout")
    }))

  it.effect("a terminated backend is ConnectionError reason terminated (57P01)", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const url = yield* TestDatabase.TestUrl
      const sleeping = yield* Effect.fork(typed(sql`select pg_sleep(10.5)`))
      yield* Admin.eventually(
        Admin.query(url, "select pid from pg_stat_activity where query like 'select pg_sleep(10.5)%' and state = 'active'"),
        (rows) => rows.length === 1
      )
      yield* Admin.query(url, "select pg_terminate_backend(pid) from pg_stat_activity where query like 'select pg_sleep(10.5)%'")
      const error = yield* Effect.flip(Fiber.join(sleeping))
      assert(error._tag === "ConnectionError")
      expect(error.reason).toBe("terminated")
      expect(error.sqlState).toBe("57P01")
      // The terminated session never reaches the next caller.
      for (let i = 0; i < 4; i++) expect((yield* typed(sql<{ ok: number }>`select 1 as ok`))[0]!.ok).toBe(1)
    }))

  it.effect("a role over its connection limit is ConnectionError reason too-many-connections (53300)", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      // Superusers ignore connection limits, so the test needs its own role;
      // roles belong to the whole server, hence the unique name and the drop.
      const role = `effect_dal_limited_${process.pid}_${Date.now()}`
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Effect.acquireRelease(
          Admin.query(url, `create role ${role} login password 'limited' connection limit 1`),
          () => Admin.query(url, `drop role if exists ${role}`)
        )
        const limited = new URL(url)
        limited.username = role
        limited.password = "limited"
        yield* Effect.acquireRelease(
          Effect.promise(async () => {
            const client = new pg.Client({ connectionString: limited.toString() })
            client.on("error", () => {})
            await client.connect()
            return client
          }),
          (client) => Effect.promise(() => client.end())
        )
        const error = yield* Effect.flip(Layer.build(Database.layer({ url: limited.toString(), maxConnections: 1 })))
        assert(error._tag === "ConnectionError")
        expect(error.reason).toBe("too-many-connections")
        expect(error.sqlState).toBe("53300")
        expect(error.database).toBe(limited.pathname.slice(1))
        expect(DatabaseError.isRetryable(error)).toBe(true)
      }))
      expect(yield* Admin.query(url, "select 1 from pg_roles where rolname = $1", [role])).toEqual([])
    }))

  it.effect("08P01 (a message the server cannot read) is ConnectionError reason protocol, not retryable", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // node-postgres writes the text as a C string, so the server finds
      // bytes after its end: "invalid message format".
      const error = yield* typed(sql.unsafe("select 1\u0000 and what follows")).pipe(Effect.flip)
      assert(error._tag === "ConnectionError", String(error))
      expect(error.reason).toBe("protocol")
      expect(error.sqlState).toBe("08P01")
      expect(error.cause).toBe("invalid message format")
      expect(error.message).toMatch(/^PostgreSQL at .+ reported a protocol violation: invalid message format$/)
      expect(DatabaseError.isRetryable(error)).toBe(false)
      // The session is not trusted again; the next statements get a fresh one.
      for (let i = 0; i < 4; i++) expect((yield* typed(sql<{ ok: number }>`select 1 as ok`))[0]!.ok).toBe(1)
    }))

  it.effect("a missing table is QueryError keeping SQLSTATE, server message and SQL text", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const error = yield* typed(sql`select * from no_such_table`).pipe(Effect.flip)
      assert(error._tag === "QueryError", String(error))
      expect(error.sqlState).toBe("42P01")
      expect(error.serverMessage).toBe(`relation "no_such_table" does not exist`)
      expect(error.sql).toBe("select * from no_such_table")
      expect(error.message).toBe(`relation "no_such_table" does not exist (SQLSTATE 42P01 undefined_table)`)
    }))

  it.effect("a data exception keeps the quoted value out of the message", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const error = yield* typed(sql`select ${"not-a-number-" + SECRET}::int`).pipe(Effect.flip)
      assert(error._tag === "QueryError")
      expect(error.sqlState).toBe("22P02")
      expect(error.message).toBe("data exception (SQLSTATE 22P02 invalid_text_representation)")
      expect(error.serverMessage).toContain(SECRET)
    }))

  it.effect("isRetryable holds for serialization failures, deadlocks and connections lost before COMMIT only", () =>
    Effect.sync(() => {
      const target = { host: "h", port: 1, database: "d" }
      expect(DatabaseError.isRetryable(new DatabaseError.SerializationFailure({ sqlState: "40001" }))).toBe(true)
      expect(DatabaseError.isRetryable(new DatabaseError.DeadlockDetected({ sqlState: "40P01" }))).toBe(true)
      expect(DatabaseError.isRetryable(new DatabaseError.ConnectionError({ reason: "terminated", ...target }))).toBe(true)
      expect(DatabaseError.isRetryable(
        new DatabaseError.ConnectionError({ reason: "terminated", ...target, duringCommit: true })
      )).toBe(false)
      expect(DatabaseError.isRetryable(new DatabaseError.ConnectionError({ reason: "authentication", ...target })))
        .toBe(false)
      // The same certificates and the same bytes meet the same refusal on every attempt.
      expect(DatabaseError.isRetryable(new DatabaseError.ConnectionError({ reason: "tls", ...target }))).toBe(false)
      expect(DatabaseError.isRetryable(new DatabaseError.ConnectionError({ reason: "protocol", ...target }))).toBe(false)
      expect(DatabaseError.isRetryable(new DatabaseError.TransactionAborted({ nested: false, failedSqlState: "40001" })))
        .toBe(true)
      expect(DatabaseError.isRetryable(new DatabaseError.TransactionAborted({ nested: false, failedSqlState: "23505" })))
        .toBe(false)
      expect(DatabaseError.isRetryable(
        new DatabaseError.UniqueViolation({ sqlState: "23505", constraint: "c", table: "t", columns: [] })
      )).toBe(false)
      expect(DatabaseError.isRetryable(new DatabaseError.PoolTimeout({ waitedMillis: 1, maxConnections: 1 }))).toBe(false)
      expect(DatabaseError.isRetryable("not an error")).toBe(false)
    }))
})

// The Bind message counts parameters in an Int16. Without the check,
// node-postgres would send the count modulo 65,536 and the server would
// answer 08P01, breaking the session and any transaction on it.
layer(TestDatabase.layer({ maxConnections: 1 }), { excludeTestServices: true })("statements over PostgreSQL's parameter limit", (it) => {
  // Three parameters a row: 21,845 rows are exactly 65,535 parameters.
  const rows = (count: number, batch: number, firstId: number) =>
    Array.from({ length: count }, (_, i) => ({ id: firstId + i, label: `row ${firstId + i}`, batch }))
  const countBatch = (batch: number) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) => typed(sql<{ n: number }>`select count(*)::int as n from batch_rows where batch = ${batch}`))
      .pipe(Effect.map((result) => result[0]!.n))
  const TOO_MANY = "the statement has 65538 parameters, but PostgreSQL accepts at most 65535 in one statement; nothing was sent"

  it.effect("setup", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`create table batch_rows (id int primary key, label text not null, batch int not null)`
    }))

  it.effect("a statement with 65,535 parameters, the most PostgreSQL accepts, runs", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* typed(sql`insert into batch_rows ${sql.insert(rows(21_845, 1, 0))}`)
      expect(yield* countBatch(1)).toBe(21_845)
    }))

  it.effect("a statement with more parameters fails with QueryError 54000 and never reaches the server", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const url = yield* TestDatabase.TestUrl
      const backend = () => Effect.map(typed(sql<{ pid: number }>`select pg_backend_pid() as pid`), (r) => r[0]!.pid)
      const pid = yield* backend()
      const error = yield* typed(sql`insert into batch_rows ${sql.insert(rows(21_846, 2, 100_000))}`).pipe(Effect.flip)
      assert(error._tag === "QueryError", String(error))
      expect(error.sqlState).toBe("54000")
      expect(error.serverMessage).toBe(TOO_MANY)
      expect(error.message).toBe(`${TOO_MANY} (SQLSTATE 54000 program_limit_exceeded)`)
      // The text is long; its two ends say it is the whole statement.
      expect(error.sql.slice(0, 65)).toBe(`insert into batch_rows ("id","label","batch") VALUES ($1,$2,$3),(`)
      expect(error.sql.slice(-23)).toBe(",($65536,$65537,$65538)")
      expect(DatabaseError.isRetryable(error)).toBe(false)
      // The server's last statement on the session is still the one before,
      // and the session itself (the pool's only one) was kept.
      const activity = yield* Admin.query<{ query: string }>(url, "select query from pg_stat_activity where pid = $1", [pid])
      expect(activity).toEqual([{ query: "select pg_backend_pid() as pid" }])
      expect(yield* backend()).toBe(pid)
      expect(yield* countBatch(2)).toBe(0)
    }))

  it.effect("inside a transaction it fails alone: nothing was sent, so the transaction goes on and commits", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const tooMany = typed(sql`insert into batch_rows ${sql.insert(rows(21_846, 3, 200_000))}`).pipe(Effect.flip)
      const failures = yield* sql.withTransaction(Effect.gen(function*() {
        // First, while BEGIN still waits to go out with the first statement.
        const first = yield* tooMany
        yield* typed(sql`insert into batch_rows ${sql.insert(rows(1, 3, 300_000))}`)
        const second = yield* tooMany
        yield* typed(sql`insert into batch_rows ${sql.insert(rows(1, 3, 300_001))}`)
        return [first, second]
      }))
      for (const error of failures) {
        assert(error._tag === "QueryError", String(error))
        expect(error.sqlState).toBe("54000")
        expect(error.serverMessage).toBe(TOO_MANY)
      }
      expect(yield* countBatch(3)).toBe(2)
    }))

  it.effect("a stream of a statement over the limit fails the same way, in a transaction or not", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const ids = Array.from({ length: 70_000 }, (_, i) => i)
      const tooMany = Stream.runCollect(sql`select id from batch_rows where id in ${sql.in(ids)}`.stream).pipe(
        Effect.mapError(DatabaseError.fromSqlError),
        Effect.flip
      )
      // Outside a transaction the stream is a cursor on a connection of its
      // own; inside one it is a DECLARE on the transaction's connection.
      const outside = yield* tooMany
      const inside = yield* sql.withTransaction(Effect.gen(function*() {
        const error = yield* tooMany
        yield* typed(sql`insert into batch_rows ${sql.insert(rows(1, 4, 400_000))}`)
        return error
      }))
      for (const error of [outside, inside]) {
        assert(error._tag === "QueryError", String(error))
        expect(error.sqlState).toBe("54000")
        expect(error.serverMessage).toBe(
          "the statement has 70000 parameters, but PostgreSQL accepts at most 65535 in one statement; nothing was sent"
        )
      }
      expect(yield* countBatch(4)).toBe(1)
      expect(yield* countBatch(1)).toBe(21_845)
    }))
})
