/**
 * The contract's writes: `insert` and `insertMany`, unique violations,
 * `update` and `updateMany`, optimistic locking, `increment` and `upsert`.
 */
import { assert, describe, expect } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as Database from "../../Database.js"
import * as Query from "../../Query.js"
import * as Repository from "../../Repository.js"
import type * as Table from "../../Table.js"
import { Notes, Settings } from "../Fixtures.js"
import { emails, isParseError, member, members, repositories, type Test } from "./shared.js"

/**
 * Registers the writes part of the contract with the suite's `test`.
 *
 * @since 0.1.0
 * @category suites
 * @internal
 */
export const writes = (test: Test): void => {
  describe("writes", () => {
    test("insert returns the row as stored, with generated key, defaults and timestamps from Clock", () =>
      Effect.gen(function*() {
        const { members: repo, notes } = yield* repositories
        yield* TestClock.setTime(Date.UTC(2030, 0, 2, 3, 4, 5))
        const stored = yield* repo.insert(member(1))
        expect(stored.id).toBeGreaterThan(0)
        expect(stored.version).toBe(1)
        expect(stored.deletedAt).toBe(null)
        expect(DateTime.toEpochMillis(stored.createdAt)).toBe(Date.UTC(2030, 0, 2, 3, 4, 5))
        expect(DateTime.toEpochMillis(stored.updatedAt)).toBe(Date.UTC(2030, 0, 2, 3, 4, 5))
        const note = yield* notes.insert({ memberId: stored.id, body: "hello" } as Table.Insert<typeof Notes>)
        expect(note.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
        expect(note.pinned).toBe(false)
        expect(DateTime.toEpochMillis(note.createdAt)).toBe(Date.UTC(2030, 0, 2, 3, 4, 5))
      }))

    test("input that fails the schema is a ParseError and writes nothing", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const error = yield* Effect.flip(repo.insert(member(1, { age: "old" as unknown as number })))
        expect(isParseError(error)).toBe(true)
        const many = yield* Effect.flip(
          repo.insertMany([member(2), member(3, { score: "lots" as unknown as number }), member(4)])
        )
        expect(isParseError(many)).toBe(true)
        expect(yield* repo.count()).toBe(0)
      }))

    test("strings with quotes, backslashes, ;, --, $1 and emoji come back byte for byte", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const strings = [
          `it's "quoted"`,
          "back\\slash \\\\ and \\'",
          "semi; colon -- comment /* block */",
          "$1 $2 ${x} ?",
          "emoji 🦄👩‍👩‍👧 and accents é ñ ß",
          "tab\tnew\nline\r\n",
          "{\"a\":[1,2]}",
          "  padded  "
        ]
        const stored = yield* repo.insertMany(strings.map((name, i) => member(i, { name, tags: [name, "ok"] })))
        for (const [i, row] of stored.entries()) {
          const found = yield* repo.getById(row.id)
          expect(found.name).toBe(strings[i])
          expect(found.tags).toEqual([strings[i], "ok"])
        }
      }))

    test("a NUL character, which Postgres text cannot hold, is a ParseError naming the field; the transaction goes on", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const error = yield* Effect.flip(repo.insert(member(1, { name: "nul\u0000byte" })))
        assert(isParseError(error))
        expect(error.message.split("\n")[0]).toBe(`["name"]`)
        expect(error.message).toContain("NUL")
        // No statement reached the server, so the sandbox transaction is not aborted.
        expect(yield* repo.count()).toBe(0)
        yield* repo.insert(member(2))
        expect(yield* repo.count()).toBe(1)
      }))

    test("insertMany returns rows in input order; an empty list is a no-op", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        expect(yield* repo.insertMany([])).toEqual([])
        yield* repo.insertManyDiscard([])
        const rows = yield* repo.insertMany(Array.from({ length: 30 }, (_, i) => member(i)))
        expect(emails(rows)).toEqual(Array.from({ length: 30 }, (_, i) => `member${i}@example.com`))
        yield* repo.insertManyDiscard(Array.from({ length: 10 }, (_, i) => member(100 + i)))
        expect(yield* repo.count()).toBe(40)
      }))

    test("a unique violation is UniqueViolation with the constraint Postgres names; nothing else is written", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        yield* repo.insert(member(1))
        const error = yield* Effect.flip(Database.transaction(repo.insert(member(2, { email: "member1@example.com" }))))
        assert(error._tag === "UniqueViolation")
        expect(error.constraint).toBe("members_email_key")
        expect(error.table).toBe("members")
        expect(error.columns).toEqual(["email"])
        const batch = yield* Effect.flip(Database.transaction(repo.insertMany([member(3), member(1)])))
        expect(batch._tag).toBe("UniqueViolation")
        expect(yield* repo.count()).toBe(1)
        const key = yield* Effect.flip(Effect.flatMap(repositories, ({ settings }) =>
          Effect.zipRight(
            settings.insert({ key: "a", value: 1, label: "x", version: 1 } as Table.Insert<typeof Settings>),
            Database.transaction(
              settings.insert({ key: "a", value: 2, label: "y", version: 1 } as Table.Insert<typeof Settings>)
            )
          )))
        assert(key._tag === "UniqueViolation")
        expect(key.constraint).toBe("settings_pkey")
        expect(key.columns).toEqual(["key"])
      }))

    test("update patches fields, bumps the version and the updated timestamp, and returns the row", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        yield* TestClock.setTime(1_000_000)
        const stored = yield* repo.insert(member(1))
        yield* TestClock.setTime(2_000_000)
        const updated = yield* repo.update(stored.id, { name: "Renamed", age: null })
        expect(updated).toMatchObject({ id: stored.id, name: "Renamed", age: null, email: stored.email, version: 2 })
        expect(DateTime.toEpochMillis(updated.createdAt)).toBe(1_000_000)
        expect(DateTime.toEpochMillis(updated.updatedAt)).toBe(2_000_000)
        expect((yield* repo.getById(stored.id)).name).toBe("Renamed")
      }))

    test("update of a missing row is NotFound; a bad patch is a ParseError", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const missing = yield* Effect.flip(repo.update(999_999, { name: "x" }))
        expect(missing._tag).toBe("NotFound")
        const stored = yield* repo.insert(member(1))
        const bad = yield* Effect.flip(repo.update(stored.id, { score: "high" as unknown as number }))
        expect(isParseError(bad)).toBe(true)
        const unknownField = yield* Effect.flip(repo.update(stored.id, { nope: 1 } as never))
        expect(isParseError(unknownField)).toBe(true)
        expect((yield* repo.getById(stored.id)).version).toBe(1)
      }))

    test("a patch that sets the version or the primary key is a ParseError and changes nothing", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const stored = yield* repo.insert(member(1))
        const version = yield* Effect.flip(repo.update(stored.id, { name: "x", version: 7 }))
        assert(isParseError(version))
        expect(version.message).toContain(`"version" is the version field of table "members"`)
        const key = yield* Effect.flip(repo.update(stored.id, { name: "x", id: stored.id + 1 } as never))
        assert(isParseError(key))
        expect(key.message).toContain(`"id" is the primary key of table "members"`)
        const many = yield* Effect.flip(repo.updateMany(members, { version: 1 }))
        expect(isParseError(many)).toBe(true)
        expect(yield* repo.getById(stored.id)).toMatchObject({ id: stored.id, name: stored.name, version: 1 })
      }))

    test("optimistic locking: the expected version must match; a mismatch is StaleVersion", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const stored = yield* repo.insert(member(1))
        const first = yield* repo.update(stored.id, { name: "one" }, { expectedVersion: 1 })
        expect(first.version).toBe(2)
        const stale = yield* Effect.flip(repo.update(stored.id, { name: "two" }, { expectedVersion: 1 }))
        assert(stale._tag === "StaleVersion")
        expect(stale).toMatchObject({ table: "members", key: stored.id, expectedVersion: 1, actualVersion: 2 })
        expect((yield* repo.getById(stored.id)).name).toBe("one")
        const gone = yield* Effect.flip(repo.update(424242, { name: "x" }, { expectedVersion: 1 }))
        expect(gone._tag).toBe("NotFound")
      }))

    test("increment adds to a numeric field in the database, also under concurrent updates", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const stored = yield* repo.insert(member(1, { score: 10, age: null }))
        const raised = yield* repo.update(stored.id, { score: Repository.increment(2.5), name: "raised" })
        expect(raised).toMatchObject({ score: 12.5, name: "raised", version: 2 })
        // NULL plus anything stays NULL, as in SQL.
        expect((yield* repo.update(stored.id, { age: Repository.increment(1) })).age).toBe(null)
        yield* Effect.all(
          Array.from({ length: 10 }, () => Database.transaction(repo.update(stored.id, { score: Repository.increment(-1) }))),
          { concurrency: "unbounded" }
        )
        expect((yield* repo.getById(stored.id)).score).toBe(2.5)
        yield* repo.insertMany([member(2, { score: 1 }), member(3, { score: 2 })])
        const bumped = yield* repo.updateMany(members.pipe(Query.where({ score: Query.lt(5) })), {
          score: Repository.increment(100)
        })
        expect(bumped).toBe(3)
        expect((yield* repo.findMany(members.pipe(Query.orderBy("email")))).map((r) => r.score)).toEqual([
          102.5,
          101,
          102
        ])
      }))

    test("updateMany patches the query's rows and returns how many", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        yield* repo.insertMany([member(1, { age: 10 }), member(2, { age: 20 }), member(3, { age: 30 })])
        const changed = yield* repo.updateMany(members.pipe(Query.where({ age: Query.gte(20) })), { score: 99 })
        expect(changed).toBe(2)
        expect(yield* repo.count(members.pipe(Query.where({ score: 99 })))).toBe(2)
        const limited = yield* repo.updateMany(members.pipe(Query.orderBy("age"), Query.limit(1)), { name: "youngest" })
        expect(limited).toBe(1)
        expect((yield* repo.findMany(members.pipe(Query.where({ name: "youngest" })))).map((r) => r.age)).toEqual([10])
        expect((yield* repo.findMany(members.pipe(Query.where({ score: 99 })))).every((r) => r.version === 2)).toBe(true)
      }))

    test("upsert updates all columns, the listed ones, or nothing", () =>
      Effect.gen(function*() {
        const { settings } = yield* repositories
        const put = (value: number, label: string) =>
          ({ key: "theme", value, label, version: 1 } as Table.Insert<typeof Settings>)
        yield* TestClock.setTime(1_000)
        const created = yield* settings.upsert(put(1, "first"), { onConflict: ["key"] })
        expect(created).toMatchObject({ key: "theme", value: 1, label: "first", version: 1 })
        yield* TestClock.setTime(2_000)
        const all = yield* settings.upsert(put(2, "second"), { onConflict: ["key"], update: "all" })
        expect(all).toMatchObject({ value: 2, label: "second", version: 2 })
        expect(DateTime.toEpochMillis(all.createdAt)).toBe(1_000)
        expect(DateTime.toEpochMillis(all.updatedAt)).toBe(2_000)
        const listed = yield* settings.upsert(put(3, "third"), { onConflict: ["key"], update: ["value"] })
        expect(listed).toMatchObject({ value: 3, label: "second", version: 3 })
        const kept = yield* settings.upsert(put(4, "fourth"), { onConflict: ["key"], update: "nothing" })
        expect(kept).toMatchObject({ value: 3, label: "second", version: 3 })
        const byConstraint = yield* settings.upsert(put(5, "fifth"), { onConflict: { constraint: "settings_pkey" } })
        expect(byConstraint).toMatchObject({ value: 5, label: "fifth", version: 4 })
        expect(yield* settings.count()).toBe(1)
      }))
  })
}
