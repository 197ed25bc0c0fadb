/**
 * Smoke test of the benchmark's implementations: on a small seed, every
 * implementation runs every operation with the same input, in-process, and
 * must return the same result and make the same change in the database.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { bulkLoaders } from "../bench/bulk/index.js"
import { CONCURRENCIES, OPERATIONS } from "../bench/config.js"
import { withClient } from "../bench/db.js"
import { measureStream } from "../bench/stream.js"
import { controls, implementations as contenders, strategyColumns } from "../bench/impl/index.js"
import { CALLING_MODES, type Implementation, type Input, type OperationName, type Output } from "../bench/impl/types.js"
import { BATCH_SIZE, EAGER_USERS, makeInputs, seedOf } from "../bench/inputs.js"
import { renderMarkdown } from "../bench/report.js"
import type { Memory, ModeResults, Results } from "../bench/results.js"
import { INITIAL_BALANCE, seed, smallSize } from "../bench/seed.js"
import { evaluate } from "../bench/targets.js"
import * as TestDatabase from "./support/TestDatabase.js"

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const VISIBLE_PER_USER = smallSize.messagesPerUser - smallSize.deletedPerUser

// The controls and effect-dal's include strategy columns too: their results must agree like everyone else's.
const implementations = [...contenders, ...strategyColumns, ...controls]

const scope = Effect.runSync(Scope.make())
let url = ""
const running: Array<{ readonly name: string; readonly implementation: Implementation }> = []

beforeAll(async () => {
  url = await Effect.runPromise(Scope.extend(TestDatabase.url, scope))
  await seed(url, smallSize)
  for (const { load, name } of implementations) {
    const { make } = await load()
    running.push({ name, implementation: await make(url) })
  }
})

afterAll(async () => {
  await Promise.all(running.map(({ implementation }) => implementation.close()))
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

/** An input as the benchmark generates them. */
const inputOf = <K extends OperationName>(op: K): Input<K> => makeInputs(op, smallSize, seedOf("smoke", op), 1)[0]!

/** The results of every implementation, one after the other so that writes do not interleave. */
const callAll = async <K extends OperationName>(op: K, input: Input<K>): Promise<Array<Output<K>>> => {
  const results: Array<Output<K>> = []
  for (const { implementation } of running) results.push(await implementation.call(op, input))
  return results
}

const expectAllEqual = <A>(results: ReadonlyArray<A>) => {
  for (const [i, result] of results.entries()) {
    expect(result, `${running[i]!.name} differs from ${running[0]!.name}`).toEqual(results[0])
  }
}

const queryNumber = (sql: string, params: ReadonlyArray<unknown> = []): Promise<number> =>
  withClient(url, async (client) => Number((await client.query<{ n: string }>(sql, [...params])).rows[0]!.n))

const messageCount = () => queryNumber("select count(*) as n from messages")
const balance = (id: number) => queryNumber("select balance as n from accounts where id = $1", [id])

const expectNewestFirst = (messages: ReadonlyArray<{ readonly createdAt: Date }>) => {
  const times = messages.map((message) => message.createdAt.getTime())
  expect(times).toEqual([...times].sort((a, b) => b - a))
  expect(new Set(times).size).toBe(times.length)
}

describe("benchmark implementations", () => {
  it("all implementations are running", () => {
    expect(running.map(({ name }) => name)).toEqual(implementations.map(({ name }) => name))
    expect(running.length).toBeGreaterThanOrEqual(3)
  })

  it("findById", async () => {
    const id = inputOf("findById")
    const results = await callAll("findById", id)
    expect(results[0]).toEqual({ id, name: `User ${id}`, email: `user${id}@example.com`, createdAt: expect.any(Date) })
    expectAllEqual(results)
  })

  it("recentMessages", async () => {
    const userId = inputOf("recentMessages")
    const results = await callAll("recentMessages", userId)
    const messages = results[0]!
    expect(messages).toHaveLength(VISIBLE_PER_USER)
    for (const message of messages) {
      expect(message).toMatchObject({ userId, deletedAt: null })
      expect(message.id).toMatch(UUID)
    }
    expectNewestFirst(messages)
    expectAllEqual(results)
  })

  it("eagerLoad", async () => {
    const userIds = inputOf("eagerLoad")
    expect(userIds).toHaveLength(Math.min(EAGER_USERS, smallSize.users))
    const results = await callAll("eagerLoad", userIds)
    const users = results[0]!
    expect(users.map((user) => user.id)).toEqual([...userIds].sort((a, b) => a - b))
    for (const user of users) {
      expect(user.messages).toHaveLength(VISIBLE_PER_USER)
      for (const message of user.messages) expect(message).toMatchObject({ userId: user.id, deletedAt: null })
      expectNewestFirst(user.messages)
    }
    expectAllEqual(results)
  })

  it("insertOne", async () => {
    const message = inputOf("insertOne")
    const before = await messageCount()
    const results = await callAll("insertOne", message)
    expect(await messageCount()).toBe(before + running.length)
    for (const { createdAt, id, ...stored } of results) {
      expect(stored).toEqual({ ...message, deletedAt: null })
      expect(id).toMatch(UUID)
      expect(createdAt).toBeInstanceOf(Date)
    }
    expect(new Set(results.map(({ id }) => id)).size).toBe(running.length)
  })

  it("transfer", async () => {
    const transfer = inputOf("transfer")
    expect(transfer.from).not.toBe(transfer.to)
    for (const { implementation, name } of running) {
      const from = await balance(transfer.from)
      const to = await balance(transfer.to)
      expect(await implementation.call("transfer", transfer), name).toBeUndefined()
      expect(await balance(transfer.from), name).toBe(from - transfer.amount)
      expect(await balance(transfer.to), name).toBe(to + transfer.amount)
    }
    expect(await queryNumber("select sum(balance) as n from accounts")).toBe(INITIAL_BALANCE * smallSize.accounts)
  })

  it("insertBatch", async () => {
    const rows = inputOf("insertBatch")
    expect(rows).toHaveLength(BATCH_SIZE)
    for (const { implementation, name } of running) {
      const before = await messageCount()
      expect(await implementation.call("insertBatch", rows), name).toBeUndefined()
      expect(await messageCount(), name).toBe(before + BATCH_SIZE)
    }
  })

  it.each(CALLING_MODES)("run drives a whole load in %s mode and counts it", async (mode) => {
    const inputs = makeInputs("insertOne", smallSize, seedOf("smoke", "run", mode), 3)
    for (const { implementation, name } of running) {
      const before = await messageCount()
      const done = await implementation.run("insertOne", { inputs, concurrency: 4, more: (started) => started < 10 }, mode)
      expect(done, name).toBe(10)
      expect(await messageCount(), name).toBe(before + 10)
    }
  })

  it.each(CALLING_MODES)("a failing operation fails a load in %s mode", async (mode) => {
    const missing = smallSize.users + 1
    for (const { implementation, name } of running) {
      let started = 0
      const load = implementation.run("findById", { inputs: [missing], concurrency: 2, more: () => started++ < 100 }, mode)
      await expect(load, name).rejects.toBeDefined()
      // The other worker stops too: far fewer than the 100 operations the load allowed.
      expect(started, name).toBeLessThan(10)
    }
  })

  it("Effect-based implementations run differently in the two calling modes, promise-based ones the same", () => {
    const effectBased = running.filter(({ implementation }) => !implementation.sameInBothModes).map(({ name }) => name)
    expect(effectBased).toEqual(["@effect/sql", "effect-dal", "effect-dal (per level)", "effect-dal (single statement)", "Effect floor"])
  })
})

describe("bulk loaders", () => {
  it("every loader inserts every row, with its content intact", async () => {
    // Quotes, tabs, backslashes and newlines: what COPY's text format and the
    // array literals must escape.
    const rows = inputOf("insertBatch").map((row, i) =>
      i % 2 === 0 ? { ...row, content: `it's\t "a"\n\\;\ttab\nline ${i}` } : row
    )
    for (const loader of bulkLoaders) {
      await withClient(url, (client) => client.query("delete from messages where content_length = -1"))
      const marked = rows.map((row) => ({ ...row, contentLength: -1 }))
      const connection = await loader.make(url)
      try {
        await connection.load(marked)
      } finally {
        await connection.close()
      }
      const stored = await withClient(url, (client) =>
        client.query<{ content: string; role: string; user_id: number }>(
          "select user_id, role, content from messages where content_length = -1"
        ))
      expect(stored.rows.length, loader.name).toBe(rows.length)
      expect(stored.rows.map(({ content, role, user_id }) => `${user_id}|${role}|${content}`).sort(), loader.name).toEqual(
        rows.map(({ content, role, userId }) => `${userId}|${role}|${content}`).sort()
      )
    }
  })
})

describe("stream measurement", () => {
  it("reads every row through each reader and reports a heap figure", async () => {
    const results = await measureStream(url, { rows: 5_000 })
    expect(results.map(({ name }) => name)).toEqual(["raw pg-cursor", "postgres.js cursor", "effect-dal stream"])
    for (const result of results) {
      expect(result.rows, result.name).toBe(5_000)
      expect(Number.isFinite(result.heapGrowthMb), result.name).toBe(true)
    }
  })
})

describe("report", () => {
  /**
   * One calling mode's figures: raw pg at 1,000 operations per second and
   * 100 µs per operation in every cell, each other implementation at its
   * throughput and CPU factor, and `slowest` in one cell if given.
   */
  const modeOf = (
    mode: ModeResults["mode"],
    implementations: ReadonlyArray<{
      readonly name: string
      readonly throughput: number
      readonly cpu: number
      readonly memory: Memory
      readonly slowest?: number
    }>
  ): ModeResults => ({
    mode,
    implementations: implementations.map(({ name }) => name),
    rows: OPERATIONS.flatMap((op) =>
      CONCURRENCIES.map((concurrency) => ({
        op: op.name,
        concurrency,
        measurements: implementations.map(({ cpu, slowest, throughput }) => ({
          opsPerSec: 1_000 * (slowest !== undefined && op.name === "insertOne" && concurrency === 32 ? slowest : throughput),
          cpuMicrosPerOp: 100 * cpu
        }))
      }))
    ),
    memory: implementations.map(({ memory }) => memory)
  })

  const rawPg = { name: "raw pg", throughput: 1, cpu: 1, memory: { connectedMb: 50, peakMb: 150 } }
  const postgresJs = { name: "postgres.js", throughput: 1.08, cpu: 0.9, memory: { connectedMb: 55, peakMb: 140 } }
  const effectSql = { name: "@effect/sql", throughput: 0.7, cpu: 1.8, memory: { connectedMb: 85, peakMb: 200 } }
  const control = { name: "raw pg, Effect loaded", throughput: 1, cpu: 1, memory: { connectedMb: 90, peakMb: 200 } }

  const results = (withControl: boolean): Results => ({
    modes: [
      modeOf("program", [
        rawPg,
        postgresJs,
        effectSql,
        // 1.15× throughput; peak 210 MB (1.05× the control's), growth 110 MB (1.10× raw pg's).
        { name: "effect-dal", throughput: 1.15, cpu: 1.1, memory: { connectedMb: 100, peakMb: 210 } },
        ...(withControl ? [control] : [])
      ]),
      modeOf("promise", [
        rawPg,
        postgresJs,
        { ...effectSql, throughput: 0.6, memory: { connectedMb: 85, peakMb: 260 } },
        // 0.86× throughput, 0.5× in one cell; peak 290 MB (1.45×), growth 190 MB (1.90×).
        { name: "effect-dal", throughput: 0.86, cpu: 1.6, slowest: 0.5, memory: { connectedMb: 100, peakMb: 290 } },
        ...(withControl ? [control] : [])
      ])
    ],
    sameInBothModes: ["raw pg", "postgres.js", ...(withControl ? [control.name] : [])],
    bulk: [{ name: "COPY FROM STDIN", rows: 100_000, ms: 1_000 }],
    stream: [{ name: "raw pg-cursor", rows: 1_000_000, ms: 6_000, heapGrowthMb: 1 }],
    machine: { date: "2026-01-01T00:00:00.000Z", node: "v20", cpus: "2 CPUs", postgres: "18", server: "embedded", method: "test" }
  })

  it("in each calling mode, says which of effect-dal's targets the run met", () => {
    const [program, promise] = results(true).modes.map((mode) => evaluate(mode)!.map(({ measured, met }) => ({ measured, met })))
    expect(program).toEqual([
      { measured: "1.15×", met: true },
      { measured: "1.15× against 1.08×", met: true },
      { measured: "lowest 1.15× (findById ×1)", met: true },
      { measured: "1.10×", met: true },
      { measured: "1.05×", met: true },
      { measured: "1.10×", met: true }
    ])
    expect(promise).toEqual([
      { measured: expect.stringMatching(/^0\.\d\d×$/), met: false },
      { measured: expect.stringMatching(/ against 1\.08×$/), met: false },
      { measured: "lowest 0.50× (insertOne ×32)", met: false },
      { measured: "1.60×", met: false },
      { measured: "1.45×", met: false },
      { measured: "1.90×", met: false }
    ])
  })

  it("reports the peak RSS target as not measured when the control did not run", () => {
    const outcome = evaluate(results(false).modes[0]!)!.find(({ target }) => target.startsWith("peak RSS"))
    expect(outcome).toEqual({ target: expect.any(String), measured: expect.stringContaining("BENCH_CONTROLS=1"), met: undefined })
  })

  it("shows each calling mode's tables, postgres.js and the control measured once and shown in both", () => {
    const markdown = renderMarkdown(results(true))
    expect(markdown).toContain("## Targets (effect-dal, each calling mode, figures from this run)")
    expect(markdown).toContain("| peak RSS at most 1.10× \"raw pg, Effect loaded\" | 1.05×: met | 1.45×: **not met** |")
    const program = markdown.indexOf('## Calling mode "program"')
    const promise = markdown.indexOf('## Calling mode "promise"')
    expect(program).toBeGreaterThan(0)
    expect(promise).toBeGreaterThan(program)
    // In each mode: throughput, client CPU and memory, every ratio to raw pg.
    for (const section of [markdown.slice(program, promise), markdown.slice(promise)]) {
      expect(section).toContain("### Throughput (operations per second; ratio to raw pg, higher is better)")
      expect(section).toContain("### Client CPU (µs of user + system CPU per operation; ratio to raw pg, lower is better)")
      expect(section).toContain("| implementation | connected, MB | peak, MB | peak ratio to raw pg | growth, MB | growth ratio to raw pg | peak ratio to raw pg, Effect loaded |")
    }
    expect(markdown).toContain("raw pg, postgres.js and raw pg, Effect loaded run the same code in both")
  })

  it("puts first the client CPU table that the README's comparison row quotes, as docs/readme.test.ts reads it", () => {
    const markdown = renderMarkdown(results(true))
    const cpu = markdown.slice(markdown.indexOf("# Client CPU ("))
    const header = /^\| operation \| concurrency \| (.*) \|$/m.exec(cpu)?.[1]?.split(" | ")
    const means = /^\| \*\*geometric mean of ratios\*\* \|  \| (.*) \|$/m.exec(cpu)?.[1]
      ?.split(" | ").map((cell) => /^\*\*([\d.]+)×\*\*$/.exec(cell)?.[1])
    expect(header).toEqual(["raw pg", "postgres.js", "@effect/sql", "effect-dal", "raw pg, Effect loaded"])
    expect(means).toEqual(["1.00", "0.90", "1.80", "1.10", "1.00"])
  })
})

describe("the read N rows group", () => {
  it("every reader reads the same rows of the eight-column table, and the report checks issue 22's targets", async () => {
    const { readers } = await import("../bench/read/readers.js")
    const { seedReadTable } = await import("../bench/read/table.js")
    const { renderRead, readTargets } = await import("../bench/read/report.js")
    await withClient(url, (client) => seedReadTable(client, 2_000))
    for (const registration of readers) {
      const reader = await registration.make(url)
      try {
        for (const n of [1, 100, 2_000]) expect(await reader.read(n), registration.name).toBe(n)
      } finally {
        await reader.close()
      }
    }
    const cell = (reader: string, rows: number, cpu: number) => ({
      reader,
      rows,
      calls: 1,
      cpuMicrosPerCall: cpu * rows,
      wallMicrosPerCall: cpu * rows * 2,
      bytesPerRow: 1_500
    })
    const sizes = [1, 100, 1_000, 10_000, 50_000]
    const names = readers.map((r) => r.name)
    const run = sizes.flatMap((rows) => names.map((name, i) => cell(name, rows, 1 + i / 10)))
    const result = { sizes, readers: names, runs: [run, run, run] }
    const markdown = renderRead(result)
    expect(markdown).toContain("## Read N rows")
    expect(markdown).toContain("### Client CPU per row (µs)")
    expect(readTargets(result).map((t) => t.target)).toEqual(expect.arrayContaining([
      "findMany CPU/row ≤ 1.30× raw pg at 10,000 rows",
      "stream fixed cost ≤ 0.5 ms per call (wall, 1-row stream, LIMIT 1)",
      "stream fixed cost ≤ 0.5 ms per call (wall, 1-row stream, no LIMIT: a cursor)",
      "stream CPU/row ≤ 1.30× findMany at 10,000 rows",
      "stream (cursor) CPU/row ≤ 1.30× findMany at 10,000 rows"
    ]))
    // The stream's fixed cost is shown next to what any Effect stream over the same read costs.
    const fixed = readTargets(result).filter((t) => t.target.startsWith("stream fixed cost")).map((t) => t.measured)
    expect(fixed).toHaveLength(2)
    for (const measured of fixed) expect(measured).toMatch(/^[\d.]+ ms \(Stream floor [\d.]+ ms\)$/)
  })
})
