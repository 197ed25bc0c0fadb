/**
 * Every program the README quotes runs here, on a fresh PostgreSQL
 * database, and its result is checked.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as Database from "../src/Database.js"
import * as Admin from "../test/support/admin.js"
import * as TestDatabase from "../test/support/TestDatabase.js"
import * as QuickStart from "../test/support/quickStart.js"
import { start, tsx } from "../examples/support/testing.js"
import * as Compatibility from "./snippets/compatibility.js"
import * as Errors from "./snippets/errors.js"
import * as Migrations from "./snippets/migrations.js"
import * as Promised from "./snippets/promise.js"
import * as Relations from "./snippets/relations.js"
import * as Repositories from "./snippets/repositories.js"
import * as Transactions from "./snippets/transactions.js"
import * as Untrusted from "./snippets/untrusted.js"

type Provided = Layer.Layer.Success<ReturnType<typeof Database.layer>>

const run = <A, E>(
  createTables: Effect.Effect<unknown, unknown, Provided>,
  program: Effect.Effect<A, E, Provided>,
  layer: (url: string) => Layer.Layer<Provided, unknown> = (url) => Database.layer({ url })
) =>
  Effect.scoped(Effect.gen(function*() {
    const url = yield* TestDatabase.url
    const context = yield* Layer.build(layer(url))
    yield* Effect.provide(createTables, context)
    return yield* Effect.provide(program, context)
  }))

describe("README snippets", () => {
  // The whole file is the program a user copies: it runs as one.
  it.scopedLive("a first program", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const child = yield* start(tsx, ["docs/snippets/quick-start.ts"], { DATABASE_URL: url })
      expect(yield* child.exit, child.output()).toEqual({ code: 0, signal: null })
      expect(child.output()).toBe(QuickStart.output)
      // The README shows what it prints.
      expect(fs.readFileSync(new URL("../README.md", import.meta.url), "utf8")).toContain(`\`\`\`text\n${QuickStart.output}\`\`\``)
    }))

  it.live("transactions", () =>
    Effect.gen(function*() {
      const result = yield* run(Transactions.createTables, Transactions.program)
      expect(result.total).toBe(200)
      expect(result.again).toEqual(Either.left("taken"))
      expect(result.locked).toBe("locked work done")
      expect(result.balances).toEqual([{ id: 1, balance: 85 }, { id: 2, balance: 115 }])
    }))

  it.live("errors", () =>
    Effect.gen(function*() {
      const result = yield* run(Errors.createTables, Errors.program)
      expect(result.first).toBe("welcome, account 1")
      expect(result.second).toBe("accounts_email_key: that email is taken")
      expect(result.rawTag).toBe("UniqueViolation")
      expect(result.retryable).toBe(false)
    }))

  it.live("migrations", () =>
    Effect.gen(function*() {
      const result = yield* run(Effect.void, Migrations.program)
      expect(result).toEqual({ applied: ["1_create_books", "2_add_title"], pending: 0, again: 0, undone: [2, 1] })
    }))

  it.live("name transforms and a pool you already have", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const result = yield* Compatibility.program(url)
      expect(result).toEqual({ rows: [{ id: 1, displayName: "Ann" }], one: [{ one_value: 1 }], poolEnded: true })
    }).pipe(Effect.scoped))

  it.live("untrusted input", () =>
    Effect.gen(function*() {
      const result = yield* run(Untrusted.createTables, Untrusted.program)
      expect(result).toEqual({
        office: ["pen"],
        cheapest: ["pen", "mug"],
        bad: "ParseError",
        refused: { part: "filter", field: "_tag" },
        left: 3
      })
    }))

  it.live("repositories and queries", () =>
    Effect.gen(function*() {
      const result = yield* run(Repositories.createTables, Repositories.program)
      expect(result).toMatchObject({
        byId: true,
        several: [true, false, true],
        follow: true,
        badKey: "ParseError",
        same: "hello-world",
        missing: "NotFound",
        top: ["effect-101", "sql-tips"],
        first: Option.some("effect-101"),
        stamped: "2030-01-01T00:00:00.000Z",
        picked: ["effect-101"],
        bestRated: ["effect-101", "hello-world", "sql-tips"],
        bestPerViews: ["hello-world", "sql-tips", "effect-101"],
        viaTag: 103,
        count: 98,
        any: true,
        pages: [20, 20],
        slugs: ["draft-2", "draft-3", "draft-4"],
        edited: "Hello, world",
        locked: 3,
        stale: "StaleVersion",
        retitled: 98,
        viewed: 12,
        upserted: [99, 5],
        untouched: 99,
        hidden: true,
        trash: ["hello-world"],
        restored: null,
        removed: 98,
        perTag: ["effect-101", "sql-tips"]
      })
      expect(result.totalViews).toEqual(Option.some(10 + 50 + 30 + 4950))
      expect(result.most).toEqual(Option.some(99))
    }))

  it.scopedLive("calling from promise code", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      yield* Admin.query(url, "create table notes (id serial primary key, body text not null)")
      const { addNote, close, getNote, listNotes } = Promised.handlers(url)
      const result = yield* Effect.promise(async () => {
        try {
          const first = await addNote("buy milk")
          await addNote("call Ann")
          const all = await listNotes()
          const missing = await getNote(404).then(() => "found", (error) => String(error))
          return { first: first.body, all: all.map((note) => note.body), missing }
        } finally {
          await close()
        }
      })
      expect(result.first).toBe("buy milk")
      expect(result.all).toEqual(["buy milk", "call Ann"])
      expect(result.missing).toContain("NotFound")
    }))

  // The default ("auto") and per level: the same answers.
  for (const [name, layer] of [["auto", undefined], ["perLevel", Relations.perLevel]] as const) {
    it.live(`relations (${name})`, () =>
      Effect.gen(function*() {
        const result = yield* run(Relations.createTables, Relations.program, layer)
        expect(result).toEqual({
          counts: [["Ann", 2], ["Bob", 0]],
          newest: [["hi 3", ["+1"]], ["hi 2", []]],
          author: "Ann",
          reacted: ["Ann"],
          silent: ["Bob"],
          bob: "Bob",
          byId: [["hi 3"], 0, [3, 0]]
        })
      }))
  }
})
