/**
 * README: "Transactions".
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { Database } from "effect-dal"

export const createTables = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.zipRight(
    sql`create table accounts (id int primary key, balance int not null check (balance >= 0))`,
    sql`insert into accounts values (1, 100), (2, 100)`
  ))

// #region basic
const transfer = (from: number, to: number, amount: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`update accounts set balance = balance - ${amount} where id = ${from}`
    yield* sql`update accounts set balance = balance + ${amount} where id = ${to}`
  })

// COMMIT on success; ROLLBACK on failure, defect or interruption. With
// `retry: true`, serialization failures and deadlocks re-run the whole body.
const safeTransfer = transfer(1, 2, 10).pipe(Database.transaction({ isolation: "serializable", retry: true }))
// #endregion basic

// #region nested
// A nested transaction is a savepoint: its failure undoes only its own work.
// (Retries belong to the outermost transaction; a nested one cannot retry.)
const bestEffortAudit = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`insert into no_such_table values (1)`
}).pipe(Database.transaction(), Effect.ignore)

const transferWithAudit = Database.transaction(
  Effect.zipRight(transfer(1, 2, 10), bestEffortAudit),
  { retry: true }
)
// #endregion nested

// #region retry
// Your own retry policy: retryable errors only (serialization failures,
// deadlocks, a connection lost before COMMIT), at most 3 retries here.
const patient = transfer(2, 1, 5).pipe(
  Database.transaction({
    isolation: "serializable",
    retry: Schedule.exponential("20 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(3)))
  })
)
// #endregion retry

// #region options
const report = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`select sum(balance) as total from accounts`).pipe(
  // A consistent snapshot that never fails with a serialization error.
  Database.transaction({ isolation: "serializable", readOnly: true, deferrable: true })
)
// #endregion options

// #region recover
// Inside a transaction, a failed statement aborts the transaction; put a
// statement you expect to fail in a nested transaction to carry on.
const openAccount = (id: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`insert into accounts values (${id}, 0)`).pipe(
    Database.transaction(),
    Effect.mapError((error) => error._tag === "SqlError" ? "taken" as const : error)
  )
// #endregion recover

// #region session
// Session-level work (advisory locks, SET) on one pinned connection; its
// session state is reset before the connection goes back to the pool.
const exclusively = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`select pg_advisory_lock(42)`
    return yield* effect
  }).pipe(Database.withConnection)
// #endregion session

export const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* safeTransfer
  yield* transferWithAudit
  yield* patient
  const [{ total }] = (yield* report) as unknown as [{ total: string }]
  const again = yield* Effect.either(Database.transaction(Effect.zipRight(openAccount(3), openAccount(3))))
  const locked = yield* exclusively(Effect.succeed("locked work done"))
  const balances = yield* sql<{ id: number; balance: number }>`select id, balance from accounts order by id`
  return { total: Number(total), again, locked, balances }
})
