/**
 * Round trips, counted on the wire: a TCP proxy between the pool and the
 * server (support/wireProxy.ts) counts the ReadyForQuery messages the
 * server sends, one at the end of every round trip. A transaction's BEGIN travels with its first
 * statement, so it costs no round trip of its own.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Database from "../src/Database.js"
import * as DatabaseError from "../src/DatabaseError.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Table from "../src/Table.js"
import * as Admin from "./support/admin.js"
import * as TestDatabase from "./support/TestDatabase.js"
import { type WireProxy, wireProxy } from "./support/wireProxy.js"

/** Runs `use` on a Database layer of one connection, through a counting proxy. */
const throughProxy = <A, E>(
  use: (proxy: WireProxy, url: string) => Effect.Effect<A, E, Database.Database | SqlClient.SqlClient>
) =>
  Effect.gen(function*() {
    const url = yield* TestDatabase.url
    const proxy = yield* wireProxy(url)
    const context = yield* Layer.build(Database.layer({ url: proxy.url, maxConnections: 1, minConnections: 1 }))
    yield* Effect.provide(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql`create table accounts (id int primary key, balance int not null)`),
      context
    )
    yield* Effect.provide(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql`insert into accounts values (1, 100), (2, 100)`),
      context
    )
    return yield* Effect.provide(use(proxy, url), context)
  }).pipe(Effect.scoped)

/** Round trips `effect` makes: ReadyForQuery messages before and after. */
const roundTrips = <A, E, R>(proxy: WireProxy, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const before = proxy.received("Z")
    const exit = yield* Effect.exit(effect)
    return { exit, trips: proxy.received("Z") - before }
  })

/** Round trips of a transaction whose body runs `update`, then fails so that it rolls back. */
const updateThenFail = <E>(proxy: WireProxy, update: Effect.Effect<unknown, E>) =>
  roundTrips(proxy, Database.transaction(Effect.zipRight(update, Effect.fail("changed my mind" as const))))

const balances = (url: string) =>
  Effect.map(
    Admin.query<{ id: number; balance: number }>(url, "select id, balance from accounts order by id"),
    (rows) => rows.map((r) => r.balance)
  )

class Account extends Model.Class<Account>("Account")({
  id: Schema.Number,
  balance: Schema.Number
}) {}
const Accounts = Table.make(Account, { name: "accounts", primaryKey: "id" })

describe("round trips", () => {
  it.live("a transfer of two UPDATEs takes three round trips: BEGIN rides with the first", () =>
    throughProxy((proxy, url) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const transfer = Database.transaction(Effect.gen(function*() {
          yield* sql`update accounts set balance = balance + ${-10} where id = ${1}`
          yield* sql`update accounts set balance = balance + ${10} where id = ${2}`
        }))
        const { exit, trips } = yield* roundTrips(proxy, transfer)
        assert(exit._tag === "Success", String(exit))
        expect(trips).toBe(3)
        expect(yield* balances(url)).toEqual([90, 110])
      })
    ))

  it.live("a transaction that runs no statement sends nothing, whether it succeeds or fails", () =>
    throughProxy((proxy) =>
      Effect.gen(function*() {
        const ok = yield* roundTrips(proxy, Database.transaction(Effect.succeed("nothing to do")))
        assert(ok.exit._tag === "Success")
        expect(ok.exit.value).toBe("nothing to do")
        expect(ok.trips).toBe(0)
        const failed = yield* roundTrips(proxy, Database.transaction(Effect.fail("no" as const)))
        assert(failed.exit._tag === "Failure")
        expect(failed.trips).toBe(0)
        // The session is idle and usable afterwards.
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ n: number }>`select count(*)::int as n from accounts where id > ${0}`
        expect(rows[0]!.n).toBe(2)
      })
    ))

  it.live("BEGIN with the first statement really opens the transaction: a later failure rolls that statement back", () =>
    throughProxy((proxy, url) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { exit, trips } = yield* updateThenFail(proxy, sql`update accounts set balance = ${0} where id = ${1}`)
        assert(exit._tag === "Failure")
        // BEGIN and UPDATE, then ROLLBACK.
        expect(trips).toBe(2)
        expect(yield* balances(url)).toEqual([100, 100])
      })
    ))

  it.live("a first statement that fails leaves the transaction aborted, as after a BEGIN of its own", () =>
    throughProxy((_proxy, url) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const error = yield* Database.transaction(Effect.gen(function*() {
          const duplicate = yield* Effect.either(sql`insert into accounts values (${1}, ${5})`)
          assert(duplicate._tag === "Left")
          // Had BEGIN not run, this would commit on its own.
          yield* Effect.either(sql`update accounts set balance = ${0} where id = ${2}`)
        })).pipe(Effect.flip)
        assert(error instanceof DatabaseError.TransactionAborted, `expected TransactionAborted, got ${String(error)}`)
        expect(error.failedSqlState).toBe("23505")
        expect(yield* balances(url)).toEqual([100, 100])
      })
    ))

  it.live("isolation and access modes hold for a first statement that carries BEGIN", () =>
    throughProxy(() =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const modes = yield* Database.transaction(
          sql<{ isolation: string; readOnly: string }>`
            select current_setting(${"transaction_isolation"}) as isolation,
                   current_setting(${"transaction_read_only"}) as "readOnly"`,
          { isolation: "serializable", readOnly: true }
        )
        expect(modes[0]).toEqual({ isolation: "serializable", readOnly: "on" })
      })
    ))

  it.live("a statement without parameters sends BEGIN first, in a round trip of its own", () =>
    throughProxy((proxy, url) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { exit, trips } = yield* updateThenFail(proxy, sql`update accounts set balance = 1 where id = 1`)
        assert(exit._tag === "Failure")
        // BEGIN, UPDATE, ROLLBACK.
        expect(trips).toBe(3)
        expect(yield* balances(url)).toEqual([100, 100])
      })
    ))

  it.live("a session killed before its first statement fails the transaction with ConnectionError, and nothing commits", () =>
    throughProxy((_proxy, url) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const pid = (yield* sql<{ pid: number }>`select pg_backend_pid() as pid`)[0]!.pid
        const error = yield* Database.transaction(Effect.gen(function*() {
          yield* Admin.query(url, "select pg_terminate_backend($1)", [pid])
          yield* Effect.either(sql`update accounts set balance = ${0} where id = ${1}`)
          yield* Effect.mapError(sql`update accounts set balance = ${0} where id = ${2}`, DatabaseError.fromSqlError)
        })).pipe(Effect.flip)
        expect(error._tag).toBe("ConnectionError")
        expect(yield* balances(url)).toEqual([100, 100])
        // The pool replaced the session.
        const rows = yield* sql<{ pid: number }>`select pg_backend_pid() as pid`
        expect(rows[0]!.pid).not.toBe(pid)
      })
    ))

  it.live("a repository's prepared statement carries BEGIN once it is prepared on the session; before, BEGIN goes alone", () =>
    throughProxy((proxy, url) =>
      Effect.gen(function*() {
        const accounts = yield* Repository.make(Accounts)
        const pay = (delta: number) =>
          Database.transaction(
            accounts.updateMany(Query.make(Accounts).pipe(Query.where({ id: 1 })), {
              balance: Repository.increment(delta)
            })
          )
        const first = yield* roundTrips(proxy, pay(-1))
        assert(first.exit._tag === "Success", String(first.exit))
        // BEGIN, then the statement's first use (parsed and run), then COMMIT.
        expect(first.trips).toBe(3)
        const second = yield* roundTrips(proxy, pay(-2))
        assert(second.exit._tag === "Success", String(second.exit))
        // BEGIN with the prepared statement, then COMMIT.
        expect(second.trips).toBe(2)
        expect(yield* balances(url)).toEqual([97, 100])
      })
    ))
})
