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
    const idleInTransaction = yield* Admin.query(
      url,
      "select pid from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'"
    )
    expect(idleInTransaction).toEqual([])
  })

const backendPid = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ pid: number }>`select pg_backend_pid() as pid`.pipe(Effect.map((rows) => rows[0]!.pid)))

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
