/**
 * Faults found by killing backends and restarting the server under load:
 * each test puts a real server in that state. The ones that stop or restart
 * a server use an embedded server of their own.
 */
import { afterAll, assert, beforeAll, describe, expect, it, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { execFileSync } from "node:child_process"
import * as Database from "../src/Database.js"
import * as DatabaseError from "../src/DatabaseError.js"
import * as Server from "./chaos/support/server.js"
import * as Admin from "./support/admin.js"
import * as TestDatabase from "./support/TestDatabase.js"
import { recordingTracer } from "./support/tracer.js"

// The typed error behind an SqlError from @effect/sql code.
const typed = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E | SqlError, R>) =>
  Effect.mapError(effect, (error) => error instanceof SqlError ? DatabaseError.fromSqlError(error) : error as E)

const count = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ n: number }>`select count(*)::int as n from ${sql(table)}`.pipe(Effect.map((rows) => rows[0]!.n)))

const poolIsClean = (url: string) =>
  Effect.gen(function*() {
    const stats = yield* Database.stats
    expect(stats.active).toBe(0)
    expect(stats.idle).toBe(stats.total)
    expect(yield* Admin.idleInTransaction(url)).toEqual([])
  })

// The accounts and transfers once transfer `id` (10 from account 1 to 2) committed on top of `before`.
const afterTransfer = (before: { readonly balances: ReadonlyArray<number>; readonly transfers: ReadonlyArray<number> }, id: number) => ({
  balances: [before.balances[0]! - 10, before.balances[1]! + 10],
  transfers: [...before.transfers, id].sort((a, b) => a - b)
})

const backendPid = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ pid: number }>`select pg_backend_pid() as pid`.pipe(Effect.map((rows) => rows[0]!.pid)))

// Ends the fiber's own backend from another connection, and waits until it is gone.
const terminateOwnBackend = (url: string) =>
  Effect.flatMap(backendPid, (pid) => Admin.query(url, "select pg_terminate_backend($1, 10000)", [pid]))

// Terminates a backend from another process while this one's event loop
// stays blocked: the backend's FATAL and the socket's close wait unread
// until the loop runs again.
const terminateWhileBlocked = (url: string, pid: number) =>
  execFileSync(process.execPath, [
    "-e",
    `const pg = require("pg")
     const client = new pg.Client({ connectionString: process.argv[1] })
     client.connect()
       .then(() => client.query("select pg_terminate_backend($1, 10000)", [Number(process.argv[2])]))
       .then(() => client.end())`,
    url,
    String(pid)
  ], { cwd: new URL("..", import.meta.url).pathname })

layer(TestDatabase.layer({ maxConnections: 4 }), { excludeTestServices: true })(
  "a backend terminated while its transaction sits idle before COMMIT",
  (it) => {
    it.effect("setup", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`create table accounts (id int primary key, balance int not null)`
        yield* sql`create table transfers (id int primary key)`
        yield* sql`insert into accounts values (1, 100), (2, 100)`
        expect(yield* count("accounts")).toBe(2)
      }))

    const transfer = (id: number, body: (attempt: number) => Effect.Effect<void, SqlError, SqlClient.SqlClient>) => {
      let attempts = 0
      const run = Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        attempts++
        yield* sql`update accounts set balance = balance - 10 where id = 1`
        yield* sql`update accounts set balance = balance + 10 where id = 2`
        yield* sql`insert into transfers values (${id})`
        yield* body(attempts)
      })
      return { run, attempts: () => attempts }
    }

    const state = Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const balances = yield* sql<{ balance: number }>`select balance from accounts order by id`
      const transfers = yield* sql<{ id: number }>`select id from transfers order by id`
      return { balances: balances.map((r) => r.balance), transfers: transfers.map((r) => r.id) }
    })

    // With retry: true, the first attempt fails and the second commits the
    // transfer, once; the pool is left clean.
    const committedOnSecondAttempt = (t: ReturnType<typeof transfer>, id: number, before: Effect.Effect.Success<typeof state>) =>
      Effect.gen(function*() {
        yield* typed(Database.transaction(t.run, { retry: true }))
        expect(t.attempts()).toBe(2)
        expect(yield* state).toEqual(afterTransfer(before, id))
        yield* poolIsClean(yield* TestDatabase.TestUrl)
      })

    it.effect("COMMIT is never sent, so with retry: true the body runs again and the transfer commits once", () =>
      Effect.gen(function*() {
        const url = yield* TestDatabase.TestUrl
        const before = yield* state
        const t = transfer(1, (attempt) =>
          // What idle_in_transaction_session_timeout or a failover does:
          // the body ends after its session is gone.
          attempt > 1 ? Effect.void : Effect.zipRight(terminateOwnBackend(url), Effect.sleep("200 millis")))
        yield* committedOnSecondAttempt(t, 1, before)
      }))

    it.effect("without retry it fails with a retryable ConnectionError that is not duringCommit, and nothing commits", () =>
      Effect.gen(function*() {
        const url = yield* TestDatabase.TestUrl
        const before = yield* state
        const t = transfer(2, () => Effect.zipRight(terminateOwnBackend(url), Effect.sleep("200 millis")))
        const error = yield* typed(Database.transaction(t.run)).pipe(Effect.flip)
        assert(error._tag === "ConnectionError")
        expect(error.reason).toBe("terminated")
        expect(error.duringCommit).toBe(false)
        // The session's own last words: the FATAL of pg_terminate_backend.
        expect(error.sqlState).toBe("57P01")
        expect(error.message).not.toContain("outcome is unknown")
        expect(DatabaseError.isRetryable(error)).toBe(true)
        expect(t.attempts()).toBe(1)
        expect(yield* state).toEqual(before)
        yield* poolIsClean(url)
      }))

    it.effect("with the event loop blocked from the termination to COMMIT, the transfer is still retried and commits once", () =>
      Effect.gen(function*() {
        const url = yield* TestDatabase.TestUrl
        const before = yield* state
        const t = transfer(3, (attempt) =>
          attempt > 1 ? Effect.void : Effect.flatMap(backendPid, (pid) =>
            // Blocks until the backend is gone; the body then ends and
            // COMMIT is due before the loop has read the socket.
            Effect.sync(() => void terminateWhileBlocked(url, pid))))
        yield* committedOnSecondAttempt(t, 3, before)
      }))

    it.effect("idle_in_transaction_session_timeout ends the session before COMMIT: a retryable ConnectionError with SQLSTATE 25P03, and with retry: true the transfer commits once", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const before = yield* state
        const timedOut = (attempt: number) =>
          attempt > 1 ? Effect.void : Effect.zipRight(
            sql`set local idle_in_transaction_session_timeout = 100`,
            Effect.sleep("400 millis")
          )
        const once = transfer(5, timedOut)
        const error = yield* typed(Database.transaction(once.run)).pipe(Effect.flip)
        assert(error._tag === "ConnectionError")
        expect({ reason: error.reason, sqlState: error.sqlState, duringCommit: error.duringCommit }).toEqual({
          reason: "terminated",
          sqlState: "25P03",
          duringCommit: false
        })
        expect(yield* state).toEqual(before)
        const retried = transfer(6, timedOut)
        yield* committedOnSecondAttempt(retried, 6, before)
      }))

    it.effect("a transfer that swallowed the connection's failure is retried too: its COMMIT is never sent", () =>
      Effect.gen(function*() {
        const url = yield* TestDatabase.TestUrl
        const sql = yield* SqlClient.SqlClient
        const before = yield* state
        const t = transfer(4, (attempt) =>
          attempt > 1 ? Effect.void : Effect.gen(function*() {
            yield* terminateOwnBackend(url)
            const lost = yield* Effect.either(typed(sql`select 1`))
            expect(lost._tag === "Left" && lost.left._tag).toBe("ConnectionError")
          }))
        yield* committedOnSecondAttempt(t, 4, before)
      }))

    it.effect("an interrupt that lands while COMMIT runs reports the fiber interrupted, though the transaction committed (its span says commit)", () =>
      Effect.gen(function*() {
        const url = yield* TestDatabase.TestUrl
        const sql = yield* SqlClient.SqlClient
        // A deferred constraint trigger holds COMMIT on the server for a while.
        yield* sql`create table slow_commits (id int primary key)`
        yield* sql`create function slow_commit() returns trigger language plpgsql as $$
          begin perform pg_sleep(0.5); return null; end $$`
        yield* sql`create constraint trigger slow_commit after insert on slow_commits
          deferrable initially deferred for each row execute function slow_commit()`
        const app = yield* sql<{ name: string }>`select current_setting('application_name') as name`
        const { spans, tracer } = recordingTracer()
        const fiber = yield* Effect.fork(
          Database.transaction(Effect.asVoid(sql`insert into slow_commits values (1)`)).pipe(Effect.withTracer(tracer))
        )
        yield* Admin.eventually(
          Admin.query<{ query: string }>(
            url,
            "select query from pg_stat_activity where application_name = $1 and state = 'active'",
            [app[0]!.name]
          ),
          (rows) => rows.some((row) => row.query === "COMMIT")
        )
        const exit = yield* Fiber.interrupt(fiber)
        expect(Exit.isInterrupted(exit)).toBe(true)
        expect(yield* count("slow_commits")).toBe(1)
        const transaction = spans.find((span) => span.name === "Database.transaction")
        expect(transaction?.attributes.get("db.transaction.outcome")).toBe("commit")
        yield* poolIsClean(url)
      }))

    it.effect("a statement outside a transaction whose connection breaks once it was sent has an unknown outcome: duringCommit, not retryable", () =>
      Effect.gen(function*() {
        const url = yield* TestDatabase.TestUrl
        const sql = yield* SqlClient.SqlClient
        yield* sql`create table one_shot (id int primary key)`
        const app = yield* sql<{ name: string }>`select current_setting('application_name') as name`
        // On its own, the statement is its own transaction: it commits when it ends.
        const fiber = yield* Effect.fork(typed(sql`insert into one_shot select 1 from pg_sleep(5)`))
        const running = yield* Admin.eventually(
          Admin.query<{ pid: number; query: string }>(
            url,
            "select pid, query from pg_stat_activity where application_name = $1 and state = 'active'",
            [app[0]!.name]
          ),
          (rows) => rows.some((row) => row.query.startsWith("insert into one_shot"))
        )
        const pid = running.find((row) => row.query.startsWith("insert into one_shot"))!.pid
        yield* Admin.query(url, "select pg_terminate_backend($1, 10000)", [pid])
        const exit = yield* Fiber.await(fiber)
        assert(Exit.isFailure(exit) && exit.cause._tag === "Fail")
        const error = exit.cause.error
        assert(error instanceof DatabaseError.ConnectionError)
        expect(error.reason).toBe("terminated")
        // Here the server had not committed it; the client cannot know that.
        expect(error.duringCommit).toBe(true)
        expect(DatabaseError.isRetryable(error)).toBe(false)
        expect(error.message).toContain("whether it took effect is unknown")
        expect(yield* count("one_shot")).toBe(0)
        yield* poolIsClean(url)
      }))
  }
)

describe("the server restarts", () => {
  let server: Server.RestartableServer
  beforeAll(async () => {
    server = await Server.start()
  })
  afterAll(() => server?.stop())

  const withDatabase = <A, E>(
    options: Omit<Database.Options, "url">,
    effect: Effect.Effect<A, E, Database.Database | SqlClient.SqlClient>
  ) => Effect.provide(effect, Database.layer({ ...options, url: server.url }))

  // Fills the pool with idle connections.
  const warm = (connections: number) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.forEach(Array.from({ length: connections }), () => sql`select pg_sleep(0.05)`, {
        concurrency: "unbounded",
        discard: true
      }))

  const setUp = (table: string) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.zipRight(sql`drop table if exists ${sql(table)}`, sql`create table ${sql(table)} (id int primary key)`))

  const ids = (table: string) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql<{ id: number }>`select id from ${sql(table)} order by id`.pipe(Effect.map((rows) => rows.map((r) => r.id))))

  const insertAll = (table: string, from: number, to: number) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.forEach(
        Array.from({ length: to - from + 1 }, (_, i) => from + i),
        (id) => typed(sql`insert into ${sql(table)} values (${id})`),
        { concurrency: "unbounded", discard: true }
      ))

  it.live("under an idle pool, every statement sent once the server is back succeeds", () =>
    withDatabase(
      { maxConnections: 4 },
      Effect.gen(function*() {
        yield* setUp("after_restart")
        yield* warm(4)
        expect((yield* Database.stats).idle).toBe(4)
        yield* Effect.promise(() => server.restart())
        yield* insertAll("after_restart", 1, 8)
        expect(yield* ids("after_restart")).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
      })
    ))

  it.live("with the event loop blocked across the restart, the statements the dead sessions never sent go to fresh ones", () =>
    withDatabase(
      { maxConnections: 4 },
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* setUp("blocked_restart")
        yield* warm(4)
        expect((yield* Database.stats).idle).toBe(4)
        // No await between the restart and the first insert: the pool still
        // holds the four dead sessions, and pg has not seen them close.
        yield* Effect.sync(() => server.restartBlocking())
        yield* typed(sql`insert into blocked_restart values (1)`)
        yield* insertAll("blocked_restart", 2, 8)
        expect(yield* ids("blocked_restart")).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
        const stats = yield* Database.stats
        expect(stats.active).toBe(0)
        expect(stats.idle).toBe(stats.total)
      })
    ))

  it.live("minConnections are open again within a second of the server's return", () =>
    withDatabase(
      { minConnections: 4, maxConnections: 6, applicationName: "effect-dal-test-min-refill" },
      Effect.gen(function*() {
        const sessions = Admin.query<{ n: number }>(
          server.url,
          "select count(*)::int as n from pg_stat_activity where application_name = 'effect-dal-test-min-refill'"
        ).pipe(Effect.map((rows) => rows[0]!.n))
        expect(yield* Database.stats).toMatchObject({ total: 4, idle: 4 })
        for (let round = 0; round < 2; round++) {
          yield* Effect.promise(() => server.restart({ downMillis: 300 }))
          const stats = yield* Admin.eventually(Database.stats, (s) => s.total === 4 && s.idle === 4, "1 second")
          expect(stats).toMatchObject({ total: 4, idle: 4, active: 0 })
          expect(yield* sessions).toBe(4)
        }
      })
    ))

  it.live("a server that is starting up (57P03) fails the start-up check with reason starting-up, which is retried", () =>
    Effect.gen(function*() {
      // Archive recovery with a slow restore_command keeps the postmaster in
      // its start-up state, refusing connections, for a second or more.
      yield* Effect.promise(() =>
        server.restart({
          signalFiles: ["recovery.signal"],
          settings: { restore_command: "sleep 0.5; false" },
          waitReady: false
        })
      )
      const error = yield* Admin.eventually(
        Effect.flip(Effect.scoped(Layer.build(Database.layer({ url: server.url })))),
        (e) => !(e._tag === "ConnectionError" && e.reason === "unreachable"),
        "20 seconds"
      )
      assert(error._tag === "ConnectionError")
      expect(error.reason).toBe("starting-up")
      expect(error.sqlState).toBe("57P03")
      expect(error.message).toContain("is starting up")
      expect(DatabaseError.isRetryable(error)).toBe(true)
      // The same start-up check with connectRetry waits for the server.
      const inRecovery = yield* withDatabase(
        { connectRetry: Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(200))) },
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ recovering: boolean }>`select pg_is_in_recovery() as recovering`)
      )
      expect(inRecovery.length).toBe(1)
      // Out of recovery before the next test restarts the server.
      yield* Admin.eventually(
        Admin.query<{ recovering: boolean }>(server.url, "select pg_is_in_recovery() as recovering"),
        (rows) => rows[0]?.recovering === false,
        "30 seconds"
      )
    }))
})
