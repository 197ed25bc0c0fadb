/**
 * Concurrent bank transfers, each a SERIALIZABLE transaction with the default retry: the total balance never changes.
 *
 *   npm run example -- bank-transfer [transfers] [concurrency]
 *
 * Each transfer reads two balances, checks the funds and writes both back:
 * a read-modify-write that loses money under READ COMMITTED when two
 * transfers touch the same account at once. Under SERIALIZABLE, PostgreSQL
 * fails one of them with a serialization failure (SQLSTATE 40001) instead,
 * and the retry policy runs the whole transaction again, with backoff
 * (`Database.defaultRetry`, what `retry: true` uses: at most 10 retries).
 * The example counts the attempts each transfer took and the errors that
 * were retried, and checks the total at the end.
 *
 * Its tables live in the schema `bank_example`, which it drops and creates
 * again on every run.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { Database, DatabaseError, Query, Repository, Table } from "effect-dal"
import * as ExampleDatabase from "./support/database.js"

class Account extends Model.Class<Account>("Account")({
  id: Model.GeneratedByApp(Schema.Int),
  owner: Schema.String,
  balance: Schema.Int
}) {}

const Accounts = Table.make(Account, { name: "accounts", schema: "bank_example", primaryKey: "id" })

/** The ledger: one row per transfer that committed, written by the attempt that committed. */
class Transfer extends Model.Class<Transfer>("Transfer")({
  /** The transfer's number in the plan. */
  id: Model.GeneratedByApp(Schema.Int),
  fromId: Schema.Int,
  toId: Schema.Int,
  amount: Schema.Int,
  attempt: Schema.Int
}) {}

const Transfers = Table.make(Transfer, { name: "transfers", schema: "bank_example", primaryKey: "id" })

/** A business rule, not a database error: it is not retried and it rolls the transfer back. */
class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  accountId: Schema.Int,
  balance: Schema.Int,
  amount: Schema.Int
}) {}

const createTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP SCHEMA IF EXISTS bank_example CASCADE`
  yield* sql`CREATE SCHEMA bank_example`
  yield* sql`
    CREATE TABLE bank_example.accounts (
      id integer PRIMARY KEY,
      owner text NOT NULL,
      balance integer NOT NULL CHECK (balance >= 0)
    )`
  yield* sql`
    CREATE TABLE bank_example.transfers (
      id integer PRIMARY KEY,
      from_id integer NOT NULL REFERENCES bank_example.accounts (id),
      to_id integer NOT NULL REFERENCES bank_example.accounts (id),
      amount integer NOT NULL CHECK (amount > 0),
      attempt integer NOT NULL
    )`
})

/** A small seeded random generator (mulberry32), so a run's plan can be repeated. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

export interface Options {
  /** How many transfers. Default 200. */
  readonly transfers?: number
  /** How many run at once; the pool should have as many connections. Default 8. */
  readonly concurrency?: number
  /** Seed of the transfer plan. Default 42. */
  readonly seed?: number
}

const owners = ["Ana", "Bruno", "Chen", "Dara", "Emeka"]
export const openingBalance = 1_000

/** What happened to one transfer, and after how many attempts. */
export interface Outcome {
  /** The transfer's number in the plan, and its row in the ledger when it committed. */
  readonly id: number
  readonly result: "committed" | "refused" | "gave up"
  readonly attempts: number
}

const number = (n: number) => n.toLocaleString("en-US")

/**
 * Sets up the accounts, runs the transfers and checks the total; succeeds
 * with each transfer's outcome, in plan order, and the retryable failures
 * by error tag.
 */
export const program = (options: Options = {}) =>
  Effect.gen(function*() {
    const transfers = options.transfers ?? 200
    const concurrency = options.concurrency ?? 8
    const next = random(options.seed ?? 42)

    yield* createTables
    const accounts = yield* Repository.make(Accounts)
    const ledger = yield* Repository.make(Transfers)
    yield* accounts.insertMany(
      owners.map((owner, i) => ({ id: i + 1, owner, balance: openingBalance }))
    )
    const total = accounts.sum("balance").pipe(Effect.map(Option.getOrElse(() => 0)))
    const totalBefore = yield* total
    yield* Console.log(`${owners.length} accounts with ${number(openingBalance)} each: total ${number(totalBefore)}`)

    // The default policy, observed: count the errors it is asked to retry.
    const failures = new Map<string, number>()
    const retry = Database.defaultRetry.pipe(
      Schedule.tapInput((error) =>
        Effect.sync(() => {
          const tag = (error as { readonly _tag?: string })._tag ?? String(error)
          failures.set(tag, (failures.get(tag) ?? 0) + 1)
        })
      )
    )

    const transfer = ({ amount, fromId, id, toId }: { id: number; fromId: number; toId: number; amount: number }) => {
      let attempts = 0
      // The body runs once per attempt: a retry starts again from the first read.
      const body = Effect.gen(function*() {
        attempts++
        const from = yield* accounts.getById(fromId)
        if (from.balance < amount) {
          return yield* new InsufficientFunds({ accountId: fromId, balance: from.balance, amount })
        }
        const to = yield* accounts.getById(toId)
        yield* accounts.update(fromId, { balance: from.balance - amount })
        yield* accounts.update(toId, { balance: to.balance + amount })
        yield* ledger.insert({ id, fromId, toId, amount, attempt: attempts })
      })
      return Database.transaction(body, { isolation: "serializable", retry }).pipe(
        Effect.as("committed" as const),
        Effect.catchTag("InsufficientFunds", () => Effect.succeed("refused" as const)),
        // Still failing after the last retry: the money stays where it was.
        Effect.catchIf(DatabaseError.isRetryable, () => Effect.succeed("gave up" as const)),
        Effect.map((result): Outcome => ({ id, result, attempts }))
      )
    }

    const plan = Array.from({ length: transfers }, (_, i) => {
      const fromId = 1 + Math.floor(next() * owners.length)
      const toId = 1 + ((fromId + Math.floor(next() * (owners.length - 1))) % owners.length)
      return { id: i + 1, fromId, toId, amount: 1 + Math.floor(next() * 400) }
    })
    yield* Console.log(
      `${number(transfers)} transfers of 1 to 400, ${concurrency} at a time, ` +
        `each SERIALIZABLE with the default retry`
    )
    const outcomes = yield* Effect.forEach(plan, transfer, { concurrency })

    const count = (result: Outcome["result"]) => outcomes.filter((o) => o.result === result).length
    const byAttempts = new Map<number, number>()
    for (const o of outcomes) byAttempts.set(o.attempts, (byAttempts.get(o.attempts) ?? 0) + 1)
    const retries = outcomes.reduce((sum, o) => sum + o.attempts - 1, 0)
    yield* Console.log(
      `  committed ${count("committed")}, refused for insufficient funds ${count("refused")}, ` +
        `gave up after the last retry ${count("gave up")}`
    )
    yield* Console.log(
      `  attempts per transfer: ${
        [...byAttempts.entries()].sort(([a], [b]) => a - b).map(([n, k]) => `${n} attempt${n === 1 ? "" : "s"} ×${k}`)
          .join(", ")
      }`
    )
    yield* Console.log(
      `  ${number(retries)} retries; retryable failures: ${
        [...failures.entries()].map(([tag, n]) => `${tag} ×${number(n)}`).join(", ") || "none"
      }`
    )

    const final = yield* accounts.findMany(Query.make(Accounts).pipe(Query.orderBy("id")))
    yield* Console.log(`balances: ${final.map((a) => `${a.owner} ${number(a.balance)}`).join(", ")}`)
    const moved = yield* ledger.sum("amount").pipe(Effect.map(Option.getOrElse(() => 0)))
    yield* Console.log(`ledger: ${yield* ledger.count()} transfers, ${number(moved)} moved in all`)
    const totalAfter = yield* total
    yield* Console.log(
      `total balance: ${number(totalBefore)} before, ${number(totalAfter)} after: ` +
        (totalAfter === totalBefore ? "unchanged" : "CHANGED")
    )
    return { outcomes, failures }
  })

if (ExampleDatabase.isMain(import.meta)) {
  const [transfers, concurrency] = process.argv.slice(2).map(Number)
  NodeRuntime.runMain(
    program({
      ...(transfers ? { transfers } : {}),
      ...(concurrency ? { concurrency } : {})
    }).pipe(
      Effect.provide(ExampleDatabase.layer({
        applicationName: "effect-dal-bank-example",
        maxConnections: Math.max(concurrency ?? 8, 1)
      }))
    )
  )
}
