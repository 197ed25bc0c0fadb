/**
 * The chaos bank (see support/bank.ts) on an embedded server of its own. In
 * `npm test` it runs a few seconds; `npm run chaos` runs it for a minute
 * (CHAOS_SECONDS) and writes the figures to bench/results/chaos.md
 * (CHAOS_REPORT). CHAOS_SEED replays a plan; every run prints its seed.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as Bank from "./support/bank.js"
import * as Server from "./support/server.js"

const seconds = Number(process.env["CHAOS_SECONDS"] || 5)
const seed = Number(process.env["CHAOS_SEED"] || Date.now() % 1_000_000)
// One restart with the event loop running and one with it blocked, at least.
const restarts = Number(process.env["CHAOS_RESTARTS"] || Math.max(2, Math.floor(seconds / 5)))
const reportFile = process.env["CHAOS_REPORT"]

describe("the chaos bank", () => {
  let server: Server.RestartableServer
  beforeAll(async () => {
    server = await Server.start()
  })
  afterAll(() => server?.stop())

  it.live(
    `concurrent transfers with retry: true, while backends are terminated in every state and the server restarts ` +
      `immediately ${restarts + 1} times: money is conserved, every acknowledged transfer is in the ledger once, no ` +
      `failed one is, the pool recovers clean, and every failure is typed`,
    () =>
      Effect.gen(function*() {
        console.log(`chaos bank seed: ${seed} (replay with CHAOS_SEED=${seed})`)
        const report = yield* Bank.run(server, { seed, seconds, restarts })
        for (const line of Bank.describe(report)) console.log(line)
        if (reportFile !== undefined) {
          const version = yield* Effect.promise(() => Server.version(server))
          fs.writeFileSync(reportFile, Bank.markdown(report, version))
        }
        expect(report.violations).toEqual([])
        expect(report.outcomes.untyped).toBe(0)
        expect(report.unhandled).toBe(0)
        expect(report.outcomes.committed).toBeGreaterThan(0)
        expect(report.restarts).toEqual({
          immediate: Math.ceil(restarts / 2),
          blocking: Math.floor(restarts / 2),
          idlePool: 1
        })
        expect(Object.values(report.kills).reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
      }),
    (seconds + 120) * 1000
  )
})
