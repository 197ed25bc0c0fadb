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
import { withClient } from "../bench/db.js"
import { measureStream } from "../bench/stream.js"
import { controls, implementations as contenders } from "../bench/impl/index.js"
import type { Implementation, Input, OperationName, Output } from "../bench/impl/types.js"
import { BATCH_SIZE, EAGER_USERS, makeInputs, seedOf } from "../bench/inputs.js"
import { INITIAL_BALANCE, seed, smallSize } from "../bench/seed.js"
import * as TestDatabase from "./support/TestDatabase.js"

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const VISIBLE_PER_USER = smallSize.messagesPerUser - smallSize.deletedPerUser

// The controls too: their results must agree like everyone else's.
const implementations = [...contenders, ...controls]

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

  it("run drives a whole load and counts it", async () => {
    const inputs = makeInputs("insertOne", smallSize, seedOf("smoke", "run"), 3)
    for (const { implementation, name } of running) {
      const before = await messageCount()
      const done = await implementation.run("insertOne", { inputs, concurrency: 4, more: (started) => started < 10 })
      expect(done, name).toBe(10)
      expect(await messageCount(), name).toBe(before + 10)
    }
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
