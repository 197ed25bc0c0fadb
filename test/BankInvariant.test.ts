import { expect, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Database from "../src/Database.js"
import * as Admin from "./support/admin.js"
import { seeded } from "./support/random.js"
import * as TestDatabase from "./support/TestDatabase.js"
import { recordingTracer } from "./support/tracer.js"

const ACCOUNTS = 20
const OPENING_BALANCE = 1_000
const TRANSFERS = 1_000


interface Transfer {
  readonly id: number
  readonly from: number
  readonly to: number
  readonly amount: number
  readonly fate: "normal" | "interrupted" | "fails"
  readonly interruptAfterMillis: number
}

const plan = (seed: number): Array<Transfer> => {
  const random = seeded(seed)
  return Array.from({ length: TRANSFERS }, (_, id) => {
    const from = 1 + Math.floor(random() * ACCOUNTS)
    const to = 1 + ((from + Math.floor(random() * (ACCOUNTS - 1))) % ACCOUNTS)
    const roll = random()
    return {
      id,
      from,
      to,
      amount: 1 + Math.floor(random() * 50),
      fate: roll < 0.1 ? "interrupted" : roll < 0.15 ? "fails" : "normal",
      interruptAfterMillis: Math.floor(random() * 15)
    }
  })
}

layer(TestDatabase.layer({ maxConnections: 10 }), { excludeTestServices: true })("the bank invariant", (it) => {
  it.effect(
    "1,000 concurrent SERIALIZABLE transfers, some interrupted or failing: money is conserved and the ledger holds exactly the reported successes",
    () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const url = yield* TestDatabase.TestUrl
        yield* sql`create table accounts (id int primary key, balance int not null)`
        yield* sql`create table ledger (transfer_id int primary key, from_id int not null, to_id int not null, amount int not null)`
        yield* sql`insert into accounts select g, ${OPENING_BALANCE} from generate_series(1, ${ACCOUNTS}) g`

        const seed = Number(process.env["BANK_SEED"] ?? Date.now() % 1_000_000)
        console.log(`bank invariant seed: ${seed} (replay with BANK_SEED=${seed})`)
        const transfers = plan(seed)

        const { spans, tracer } = recordingTracer()
        const transfer = (t: Transfer) =>
          Database.transaction(
            Effect.gen(function*() {
              yield* sql`select balance from accounts where id = ${t.from}`
              yield* sql`update accounts set balance = balance - ${t.amount} where id = ${t.from}`
              yield* sql`update accounts set balance = balance + ${t.amount} where id = ${t.to}`
              yield* sql`insert into ledger values (${t.id}, ${t.from}, ${t.to}, ${t.amount})`
              if (t.fate === "fails") return yield* Effect.fail("failed on purpose" as const)
            }),
            { isolation: "serializable", retry: true }
          ).pipe(Effect.withSpan("transfer", { attributes: { "transfer.id": t.id } }))

        const succeeded = new Set<number>()
        let interruptedBeforeEnd = 0
        let failedOnPurpose = 0
        let failedOtherwise = 0
        yield* Effect.forEach(
          transfers,
          (t) =>
            Effect.gen(function*() {
              if (t.fate === "interrupted") {
                const fiber = yield* Effect.fork(transfer(t))
                yield* Effect.sleep(`${t.interruptAfterMillis} millis`)
                const exit = yield* Fiber.interrupt(fiber)
                if (Exit.isSuccess(exit)) succeeded.add(t.id)
                else interruptedBeforeEnd++
                return
              }
              const exit = yield* Effect.exit(transfer(t))
              if (Exit.isSuccess(exit)) succeeded.add(t.id)
              else if (t.fate === "fails") failedOnPurpose++
              else failedOtherwise++
            }),
          { concurrency: 16, discard: true }
        ).pipe(Effect.withTracer(tracer))

        const [{ total }] = (yield* sql<{ total: number }>`select sum(balance)::int as total from accounts`) as [
          { total: number }
        ]
        expect(total).toBe(ACCOUNTS * OPENING_BALANCE)
        const ledger = (yield* sql<{ transfer_id: number }>`select transfer_id from ledger order by transfer_id`)
          .map((r) => r.transfer_id)
        // What each transaction itself reported: its span's outcome.
        const transferIdOf = new Map(spans.filter((span) => span.name === "transfer").map((span) =>
          [span.spanId, span.attributes.get("transfer.id") as number] as const
        ))
        const committed = new Set(
          spans.filter((span) =>
            span.name === "Database.transaction" && span.attributes.get("db.transaction.outcome") === "commit" &&
            span.parent._tag === "Some"
          ).map((span) => transferIdOf.get(span.parent._tag === "Some" ? span.parent.value.spanId : "")!)
        )
        // The ledger holds exactly the transactions that committed...
        expect(ledger).toEqual([...committed].sort((a, b) => a - b))
        // ...every transfer that reported success is among them...
        expect([...succeeded].filter((id) => !committed.has(id))).toEqual([])
        // ...and the only others are transfers interrupted while their COMMIT
        // was already on the wire, which no client can undo.
        const committedButInterrupted = ledger.filter((id) => !succeeded.has(id))
        expect(committedButInterrupted.filter((id) => transfers[id]!.fate !== "interrupted")).toEqual([])
        // Every account moved by exactly its ledger entries.
        const drift = yield* sql<{ id: number }>`
          select a.id from accounts a
          where a.balance <> ${OPENING_BALANCE}
            - coalesce((select sum(amount) from ledger where from_id = a.id), 0)
            + coalesce((select sum(amount) from ledger where to_id = a.id), 0)`
        expect(drift).toEqual([])
        expect(failedOnPurpose).toBeGreaterThan(0)
        expect(interruptedBeforeEnd).toBeGreaterThan(0)
        const stats = yield* Database.stats
        expect(stats.active).toBe(0)
        expect(stats.idle).toBe(stats.total)
        expect(yield* Admin.idleInTransaction(url)).toEqual([])
        console.log(
          `bank invariant: ${succeeded.size} succeeded, ${failedOnPurpose} failed on purpose, ` +
            `${interruptedBeforeEnd} interrupted (${committedButInterrupted.length} of them during COMMIT), ` +
            `${failedOtherwise} failed otherwise`
        )
      }),
    120_000
  )
})
