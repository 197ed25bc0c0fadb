import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Database } from "effect-dal"
import * as Admin from "../test/support/admin.js"
import * as TestDatabase from "../test/support/TestDatabase.js"
import { openingBalance, program } from "./bank-transfer.js"
import { captureLog } from "./support/testing.js"

const concurrency = 8

describe("bank-transfer", () => {
  it.scopedLive("concurrent SERIALIZABLE transfers with retry keep the total, and the ledger holds exactly the committed ones", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const { lines, value: { failures, outcomes } } = yield* captureLog(program({ transfers: 120, concurrency }))

      expect(yield* Admin.query(url, "select sum(balance)::int as total from bank_example.accounts")).toEqual([
        { total: 5 * openingBalance }
      ])
      expect(lines).toContain("total balance: 5,000 before, 5,000 after: unchanged")

      // One ledger row per committed transfer, written by the attempt that
      // committed: the rows of the attempts that were retried are gone.
      const ledger = yield* Admin.query<{ id: number; attempt: number }>(
        url,
        "select id, attempt from bank_example.transfers order by id"
      )
      expect(ledger).toEqual(
        outcomes.filter((o) => o.result === "committed").map((o) => ({ id: o.id, attempt: o.attempts }))
      )
      // Every account moved by exactly its ledger entries.
      const drift = yield* Admin.query(
        url,
        `select a.id from bank_example.accounts a
         where a.balance <> ${openingBalance}
           - coalesce((select sum(amount) from bank_example.transfers where from_id = a.id), 0)
           + coalesce((select sum(amount) from bank_example.transfers where to_id = a.id), 0)`
      )
      expect(drift).toEqual([])

      // Eight at a time over five accounts: some transfers conflicted and were run again.
      const retries = outcomes.reduce((sum, o) => sum + o.attempts - 1, 0)
      expect(retries).toBeGreaterThan(0)
      const count = (result: string) => outcomes.filter((o) => o.result === result).length
      // Every retryable failure was retried, except the last one of a transfer that gave up.
      expect([...failures.values()].reduce((a, b) => a + b, 0)).toBe(retries + count("gave up"))
      expect([...failures.keys()].every((tag) => ["SerializationFailure", "DeadlockDetected"].includes(tag))).toBe(true)
      const tally = [...failures.entries()].map(([tag, n]) => `${tag} ×${n.toLocaleString("en-US")}`).join(", ")
      expect(lines).toContain(`  ${retries.toLocaleString("en-US")} retries; retryable failures: ${tally}`)
      expect(lines).toContain(
        `  committed ${count("committed")}, refused for insufficient funds ${count("refused")}, ` +
          `gave up after the last retry ${count("gave up")}`
      )
      expect(outcomes.map((o) => o.id)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1))

      const pool = yield* Database.stats
      expect(pool.active).toBe(0)
    }).pipe(Effect.provide(TestDatabase.layer({ maxConnections: concurrency }))))
})
