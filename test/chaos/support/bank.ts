/**
 * The chaos bank: many concurrent transfers between accounts, each a
 * SERIALIZABLE transaction with `retry: true`, half through repositories and
 * half through `SqlClient`, while backends are terminated at random in every
 * state and the server is stopped immediately and restarted mid-load. Then
 * it checks what must hold whatever happened, and counts what did happen.
 *
 * Everything random comes from one seed: the transfers (who pays whom, how
 * much, which API, how long each thinks) and the faults (when, which state,
 * which backend, how long the server stays down). Timing still varies from
 * run to run, so a seed replays the same plan, not the same interleaving.
 */
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import pg from "pg"
import * as Database from "../../../src/Database.js"
import * as DatabaseError from "../../../src/DatabaseError.js"
import * as Repository from "../../../src/Repository.js"
import * as Table from "../../../src/Table.js"
import { seeded } from "../../support/random.js"
import type { RestartableServer } from "./server.js"

/** What a run does. */
export interface Options {
  readonly seed: number
  /** How long new transfers start; the ones running then still finish. */
  readonly seconds: number
  /** How many times the server is stopped immediately and started again. */
  readonly restarts: number
  readonly accounts?: number
  readonly workers?: number
  readonly minConnections?: number
  readonly maxConnections?: number
}

/** The backend states the chaos terminates backends in, by turns. */
export const states = ["idle", "active", "idle in transaction", "idle in transaction (aborted)"] as const

/** How one transfer ended, as its caller saw it. */
export type Outcome =
  /** Success reported: it must be in the ledger. */
  | { readonly kind: "committed"; readonly attempts: number }
  /** Refused by the business rule (insufficient funds): rolled back. */
  | { readonly kind: "refused"; readonly attempts: number }
  /** Swallowed a failed statement on purpose: TransactionAborted, rolled back. */
  | { readonly kind: "aborted"; readonly attempts: number }
  /** A typed DatabaseError after the retry policy gave up: rolled back. */
  | { readonly kind: "failed"; readonly attempts: number; readonly error: string }
  /** ConnectionError duringCommit: whether it committed is for the ledger to say. */
  | { readonly kind: "unknown"; readonly attempts: number }
  /** A defect, an interruption or an error without a tag: never allowed. */
  | { readonly kind: "untyped"; readonly attempts: number; readonly error: string }

/** What a run did and what its checks found. */
export interface Report {
  readonly seed: number
  readonly seconds: number
  readonly workers: number
  readonly transfers: number
  readonly outcomes: Readonly<Record<Outcome["kind"], number>>
  readonly committedAfterRetries: number
  readonly retries: number
  readonly maxAttempts: number
  readonly failures: Readonly<Record<string, number>>
  readonly unknownCommitted: number
  readonly unknownRolledBack: number
  readonly kills: Readonly<Record<(typeof states)[number], number>>
  readonly restarts: { readonly immediate: number; readonly blocking: number; readonly idlePool: number }
  readonly unhandled: number
  /** Every check that failed, in words; empty when all held. */
  readonly violations: ReadonlyArray<string>
}

class Account extends Model.Class<Account>("Account")({
  id: Model.GeneratedByApp(Schema.Int),
  owner: Schema.String,
  balance: Schema.Int
}) {}

const Accounts = Table.make(Account, { name: "accounts", primaryKey: "id" })

class Transfer extends Model.Class<Transfer>("Transfer")({
  id: Model.GeneratedByApp(Schema.Int),
  fromId: Schema.Int,
  toId: Schema.Int,
  amount: Schema.Int,
  attempt: Schema.Int
}) {}

const Transfers = Table.make(Transfer, { name: "transfers", primaryKey: "id" })

class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  accountId: Schema.Int
}) {}

const OPENING_BALANCE = 1_000

interface Planned {
  readonly id: number
  readonly from: number
  readonly to: number
  readonly amount: number
  readonly via: "repository" | "sql"
  /** Runs a 10 ms statement first, so that active backends exist to terminate. */
  readonly slow: boolean
  /** Idle in transaction this long between its reads and its writes. */
  readonly thinkMillis: number
  /** Swallows a failed statement and ends idle in an aborted transaction. */
  readonly swallows: boolean
}

const planner = (seed: number, accounts: number) => {
  const next = seeded(seed)
  let id = 0
  return (): Planned => {
    const from = 1 + Math.floor(next() * accounts)
    return {
      id: ++id,
      from,
      to: 1 + ((from + Math.floor(next() * (accounts - 1))) % accounts),
      amount: 1 + Math.floor(next() * 200),
      via: next() < 0.5 ? "repository" : "sql",
      slow: next() < 0.2,
      thinkMillis: next() < 0.5 ? 0 : 1 + Math.floor(next() * 5),
      swallows: next() < 0.08
    }
  }
}

const createTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`drop table if exists transfers, accounts`
  yield* sql`create table accounts (id int primary key, owner text not null, balance int not null check (balance >= 0))`
  yield* sql`create table transfers (
    id int primary key,
    from_id int not null references accounts,
    to_id int not null references accounts,
    amount int not null check (amount > 0),
    attempt int not null
  )`
})

/**
 * One transfer, with its body written against repositories or against
 * `sql`. The ledger row carries the attempt that wrote it.
 */
const makeTransfer = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const accounts = yield* Repository.make(Accounts)
  const ledger = yield* Repository.make(Transfers)
  return (t: Planned) => Effect.gen(function*() {
    let attempts = 0
    const think = t.thinkMillis > 0 ? Effect.sleep(t.thinkMillis) : Effect.void
    const viaRepository = Effect.gen(function*() {
      const from = yield* accounts.getById(t.from)
      if (from.balance < t.amount) return yield* new InsufficientFunds({ accountId: t.from })
      yield* think
      const to = yield* accounts.getById(t.to)
      yield* accounts.update(t.from, { balance: from.balance - t.amount })
      yield* accounts.update(t.to, { balance: to.balance + t.amount })
      yield* ledger.insert({ id: t.id, fromId: t.from, toId: t.to, amount: t.amount, attempt: attempts })
      // An account that exists already: UniqueViolation, swallowed.
      if (t.swallows) yield* Effect.either(accounts.insert({ id: t.from, owner: "again", balance: 0 }))
    })
    const viaSql = Effect.gen(function*() {
      const [from] = yield* sql<{ balance: number }>`select balance from accounts where id = ${t.from}`
      if (from!.balance < t.amount) return yield* new InsufficientFunds({ accountId: t.from })
      yield* think
      yield* sql`update accounts set balance = balance - ${t.amount} where id = ${t.from}`
      yield* sql`update accounts set balance = balance + ${t.amount} where id = ${t.to}`
      yield* sql`insert into transfers (id, from_id, to_id, amount, attempt)
        values (${t.id}, ${t.from}, ${t.to}, ${t.amount}, ${attempts})`
      if (t.swallows) yield* Effect.either(sql`insert into accounts values (${t.from}, 'again', 0)`)
    })
    const body = Effect.gen(function*() {
      attempts++
      if (t.slow) yield* sql`select pg_sleep(0.01)`
      yield* (t.via === "repository" ? viaRepository : viaSql)
      // Idle in an aborted transaction for a while before COMMIT.
      if (t.swallows) yield* Effect.sleep(10)
    })
    const exit = yield* Effect.exit(Database.transaction(body, { isolation: "serializable", retry: true }))
    return outcomeOf(exit, t, attempts)
  })
})

const tagOf = (error: DatabaseError.DatabaseError) =>
  error._tag === "ConnectionError" ? `ConnectionError(${error.reason})` : error._tag

const outcomeOf = (exit: Exit.Exit<unknown, unknown>, t: Planned, attempts: number): Outcome => {
  if (Exit.isSuccess(exit)) return { kind: "committed", attempts }
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure) || Cause.isDie(exit.cause)) {
    return { kind: "untyped", attempts, error: Cause.pretty(exit.cause) }
  }
  let error = failure.value
  // @effect/sql code raises SqlError; the typed error is its cause.
  if (error instanceof SqlError) error = error.cause
  if (error instanceof InsufficientFunds) return { kind: "refused", attempts }
  if (!DatabaseError.isDatabaseError(error)) return { kind: "untyped", attempts, error: String(error) }
  if (error._tag === "ConnectionError" && error.duringCommit) return { kind: "unknown", attempts }
  if (error._tag === "TransactionAborted" && t.swallows && error.failedSqlState === "23505") {
    return { kind: "aborted", attempts }
  }
  return { kind: "failed", attempts, error: tagOf(error) }
}

// The chaos's own connection, outside the pool under test; opened again
// after a restart, and quiet while the server is down.
const adminConnection = (url: string) => {
  let client: pg.Client | undefined
  const query = async <A>(text: string, values: ReadonlyArray<unknown> = []): Promise<Array<A>> => {
    try {
      if (client === undefined) {
        const fresh = new pg.Client({ connectionString: url, application_name: "effect-dal-chaos-admin" })
        fresh.on("error", () => {})
        client = fresh
        await fresh.connect()
      }
      return (await client.query(text, values as Array<unknown>)).rows as Array<A>
    } catch {
      const broken = client
      client = undefined
      await broken?.end().catch(() => {})
      return []
    }
  }
  return { query, end: async () => void (await client?.end().catch(() => {})) }
}

const count = <K extends string>(keys: ReadonlyArray<K>) =>
  Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>

/** Runs the bank under chaos on `server` and checks it; the report says what broke. */
export const run = (server: RestartableServer, options: Options): Effect.Effect<Report> =>
  Effect.gen(function*() {
    const accounts = options.accounts ?? 20
    const workers = options.workers ?? 16
    const minConnections = options.minConnections ?? 4
    const maxConnections = options.maxConnections ?? 10
    const applicationName = `effect-dal-chaos-${process.pid}`
    const nextTransfer = planner(options.seed, accounts)
    const chaosRandom = seeded(options.seed ^ 0x5bd1e995)
    const admin = adminConnection(server.url)

    let unhandled = 0
    const onUnhandled = () => void unhandled++
    process.on("unhandledRejection", onUnhandled)
    process.on("uncaughtException", onUnhandled)

    const outcomes = new Map<number, Outcome>()
    const kills = count(states)
    const restarts = { immediate: 0, blocking: 0, idlePool: 0 }
    const violations: Array<string> = []

    const database = Database.layer({ url: server.url, minConnections, maxConnections, applicationName })
    yield* Effect.gen(function*() {
      yield* createTables
      const sql = yield* SqlClient.SqlClient
      yield* sql`insert into accounts select g, 'owner ' || g, ${OPENING_BALANCE} from generate_series(1, ${accounts}) g`

      const transfer = yield* makeTransfer
      const startedAt = Date.now()
      const deadline = startedAt + options.seconds * 1000
      const worker = Effect.gen(function*() {
        while (Date.now() < deadline) {
          const t = nextTransfer()
          outcomes.set(t.id, yield* transfer(t))
        }
      })

      // Restarts at evenly spaced moments, each moved by up to a tenth of
      // the spacing; odd ones block the event loop across the restart.
      const spacing = options.seconds * 1000 / (options.restarts + 1)
      const restartAt = Array.from(
        { length: options.restarts },
        (_, i) => startedAt + spacing * (i + 1) + (chaosRandom() - 0.5) * spacing / 5
      )
      const chaos = Effect.gen(function*() {
        let turn = 0
        while (Date.now() < deadline) {
          yield* Effect.sleep(20 + Math.floor(chaosRandom() * 60))
          if (restartAt.length > 0 && Date.now() >= restartAt[0]!) {
            restartAt.shift()
            const downMillis = Math.floor(chaosRandom() * 800)
            if ((restarts.immediate + restarts.blocking) % 2 === 1) {
              yield* Effect.sync(() => server.restartBlocking({ downMillis }))
              restarts.blocking++
            } else {
              yield* Effect.promise(() => server.restart({ downMillis }))
              restarts.immediate++
            }
            continue
          }
          const state = states[turn++ % states.length]!
          const backends = yield* Effect.promise(() =>
            admin.query<{ pid: number }>(
              "select pid from pg_stat_activity where application_name = $1 and state = $2",
              [applicationName, state]
            )
          )
          if (backends.length === 0) continue
          const pid = backends[Math.floor(chaosRandom() * backends.length)]!.pid
          const [terminated] = yield* Effect.promise(() =>
            admin.query<{ ok: boolean }>("select pg_terminate_backend($1) as ok", [pid])
          )
          if (terminated?.ok) kills[state]++
        }
      })
      const chaosFiber = yield* Effect.fork(chaos)
      yield* Effect.all(Array.from({ length: workers }, () => worker), { concurrency: "unbounded", discard: true })
      yield* Fiber.join(chaosFiber)

      // One more restart, under the idle pool and with the event loop
      // blocked across it: the first statement must not be lost to the
      // pool's dead sessions, and minConnections must come back.
      yield* Effect.sync(() => server.restartBlocking())
      restarts.idlePool++
      const ping = yield* Effect.either(Database.ping)
      if (ping._tag === "Left") {
        violations.push(`the first statement after a restart under the idle pool failed: ${ping.left.message}`)
      }

      // The pool recovers on its own: minConnections open, every connection
      // idle, none left inside a transaction on the server.
      const clean = yield* eventually(
        Effect.gen(function*() {
          const stats = yield* Database.stats
          const sessions = yield* Effect.promise(() =>
            admin.query<{ state: string | null }>(
              "select state from pg_stat_activity where application_name = $1",
              [applicationName]
            )
          )
          return { stats, sessions }
        }),
        ({ sessions, stats }) =>
          stats.active === 0 && stats.waiting === 0 && stats.idle === stats.total && stats.total >= minConnections &&
          sessions.length === stats.total && sessions.every((s) => s.state === "idle"),
        10_000
      )
      if (!clean.held) {
        violations.push(`the pool is not clean: ${JSON.stringify(clean.value.stats)}, server sessions ${
          JSON.stringify(clean.value.sessions.map((s) => s.state))
        }`)
      }
    }).pipe(Effect.provide(database), Effect.orDie)

    // The checks read the database directly, not through the library.
    const ledger = yield* Effect.promise(() =>
      admin.query<{ id: number; from_id: number; to_id: number; amount: number }>(
        "select id, from_id, to_id, amount from transfers"
      )
    )
    const balances = yield* Effect.promise(() =>
      admin.query<{ id: number; balance: number }>("select id, balance from accounts order by id")
    )
    yield* Effect.promise(() => admin.end())
    process.off("unhandledRejection", onUnhandled)
    process.off("uncaughtException", onUnhandled)

    if (balances.length !== accounts) violations.push(`${balances.length} accounts instead of ${accounts}`)
    const total = balances.reduce((sum, a) => sum + a.balance, 0)
    if (total !== accounts * OPENING_BALANCE) {
      violations.push(`money is not conserved: ${total} instead of ${accounts * OPENING_BALANCE}`)
    }
    const inLedger = new Map<number, number>()
    for (const row of ledger) inLedger.set(row.id, (inLedger.get(row.id) ?? 0) + 1)
    for (const [id, outcome] of outcomes) {
      const times = inLedger.get(id) ?? 0
      if (outcome.kind === "committed" && times !== 1) violations.push(`transfer ${id} was acknowledged but is in the ledger ${times} times`)
      if (outcome.kind !== "committed" && outcome.kind !== "unknown" && times > 0) {
        violations.push(`transfer ${id} reported ${outcome.kind} but committed`)
      }
    }
    for (const id of inLedger.keys()) {
      if (!outcomes.has(id)) violations.push(`transfer ${id} is in the ledger but was never run`)
    }
    const moved = new Map<number, number>()
    for (const row of ledger) {
      moved.set(row.from_id, (moved.get(row.from_id) ?? 0) - row.amount)
      moved.set(row.to_id, (moved.get(row.to_id) ?? 0) + row.amount)
    }
    for (const account of balances) {
      const expected = OPENING_BALANCE + (moved.get(account.id) ?? 0)
      if (account.balance !== expected) {
        violations.push(`account ${account.id} holds ${account.balance}, its ledger entries say ${expected}`)
      }
    }
    const all = [...outcomes.values()]
    for (const outcome of all) {
      if (outcome.kind === "untyped") violations.push(`an untyped failure: ${outcome.error}`)
    }
    if (unhandled > 0) violations.push(`${unhandled} unhandled rejections or uncaught exceptions`)

    const kinds = count(["committed", "refused", "aborted", "failed", "unknown", "untyped"] as const)
    const failures: Record<string, number> = {}
    for (const outcome of all) {
      kinds[outcome.kind]++
      if (outcome.kind === "failed") failures[outcome.error] = (failures[outcome.error] ?? 0) + 1
    }
    const unknown = [...outcomes].filter(([, o]) => o.kind === "unknown").map(([id]) => id)
    return {
      seed: options.seed,
      seconds: options.seconds,
      workers,
      transfers: outcomes.size,
      outcomes: kinds,
      committedAfterRetries: all.filter((o) => o.kind === "committed" && o.attempts > 1).length,
      retries: all.reduce((sum, o) => sum + Math.max(0, o.attempts - 1), 0),
      maxAttempts: all.reduce((max, o) => Math.max(max, o.attempts), 0),
      failures,
      unknownCommitted: unknown.filter((id) => inLedger.has(id)).length,
      unknownRolledBack: unknown.filter((id) => !inLedger.has(id)).length,
      kills,
      restarts,
      unhandled,
      violations
    }
  })

const eventually = <A, E, R>(check: Effect.Effect<A, E, R>, holds: (a: A) => boolean, millis: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (true) {
      const value = yield* check
      if (holds(value) || Date.now() > deadline) return { held: holds(value), value }
      yield* Effect.sleep(50)
    }
  })

/** The report as the lines a run prints. */
export const describe = (report: Report): Array<string> => {
  const o = report.outcomes
  const list = (entries: Record<string, number>) =>
    Object.entries(entries).map(([k, n]) => `${k} ${n}`).join(", ") || "none"
  return [
    `chaos bank: seed ${report.seed} (replay with CHAOS_SEED=${report.seed}), ${report.seconds} s of new transfers, ` +
    `${report.workers} workers`,
    `  transfers ${report.transfers}: committed ${o.committed} (${report.committedAfterRetries} after retries), ` +
    `refused ${o.refused}, aborted on purpose ${o.aborted}, failed ${o.failed} (${list(report.failures)}), ` +
    `outcome unknown ${o.unknown} (committed ${report.unknownCommitted}, rolled back ${report.unknownRolledBack}), ` +
    `untyped ${o.untyped}`,
    `  retries ${report.retries}, most attempts of one transfer ${report.maxAttempts}`,
    `  backends terminated: ${list(report.kills)}; restarts: ${report.restarts.immediate} immediate, ` +
    `${report.restarts.blocking} immediate with the event loop blocked, ${report.restarts.idlePool} more under the idle ` +
    `pool at the end`,
    `  unhandled rejections ${report.unhandled}; checks: ${
      report.violations.length === 0 ? "all held" : report.violations.join("; ")
    }`
  ]
}

/** The report as a Markdown page, for `bench/results/chaos.md`. */
export const markdown = (report: Report, server: string): string => {
  const o = report.outcomes
  const rows: Array<[string, string | number]> = [
    ["transfers started", report.transfers],
    ["committed (acknowledged)", o.committed],
    ["… of them after one or more retries", report.committedAfterRetries],
    ["refused (insufficient funds)", o.refused],
    ["aborted on purpose (a swallowed statement error, TransactionAborted)", o.aborted],
    ["failed after the retry policy gave up", `${o.failed}${o.failed > 0 ? ` (${Object.entries(report.failures).map(([k, n]) => `${k} ${n}`).join(", ")})` : ""}`],
    ["outcome unknown (ConnectionError duringCommit)", `${o.unknown} (committed ${report.unknownCommitted}, rolled back ${report.unknownRolledBack})`],
    ["untyped failures (defects, untagged errors)", o.untyped],
    ["retries in all; most attempts of one transfer", `${report.retries}; ${report.maxAttempts}`],
    ...states.map((state): [string, number] => [`backends terminated while ${state}`, report.kills[state]]),
    ["immediate stops and restarts (event loop running)", report.restarts.immediate],
    ["immediate stops and restarts (event loop blocked across them)", report.restarts.blocking],
    ["… and one more at the end under the idle pool, event loop blocked", report.restarts.idlePool],
    ["unhandled rejections", report.unhandled]
  ]
  return [
    `- Date: ${new Date().toISOString()}`,
    `- Node ${process.version}, ${server}`,
    `- \`CHAOS_SEED=${report.seed} CHAOS_SECONDS=${report.seconds} npm run chaos\`: ${report.workers} workers, ` +
    `SERIALIZABLE transfers with \`retry: true\`, half through repositories and half through \`SqlClient\``,
    `- Checks: ${report.violations.length === 0 ? "all held" : report.violations.join("; ")}`,
    "",
    "| outcome | count |",
    "| --- | ---: |",
    ...rows.map(([label, value]) => `| ${label} | ${value} |`),
    ""
  ].join("\n")
}
