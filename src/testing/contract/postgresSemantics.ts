/**
 * The contract's PostgreSQL semantics that the in-memory database follows:
 * collation, jsonb order, LIKE, NUL, NULL comparisons, timestamps as text and
 * serial values.
 */
import { assert, describe, expect } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as TestClock from "effect/TestClock"
import * as Database from "../../Database.js"
import * as Query from "../../Query.js"
import type * as Table from "../../Table.js"
import { Members, Notes } from "../Fixtures.js"
import { member, members, repositories, type Test } from "./shared.js"

/**
 * Registers the PostgreSQL-semantics part of the contract with the suite's `test`.
 *
 * @since 0.1.0
 * @category suites
 * @internal
 */
export const postgresSemantics = (test: Test): void => {
  describe("PostgreSQL's semantics that the in-memory database follows", () => {
    test("text sorts by code point (the \"C\" collation): digits, upper case, lower case, accents, private use, emoji", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const names = ["🦄", "\uE000", "é", "É", "z", "Z", "10", "9", "a b", "ab", ""]
        yield* repo.insertMany(names.map((name, i) => member(i, { name })))
        const sorted = yield* repo.findMany(members.pipe(Query.orderBy("name")))
        expect(sorted.map((r) => r.name)).toEqual(["", "10", "9", "Z", "a b", "ab", "z", "É", "é", "\uE000", "🦄"])
        const below = yield* repo.findMany(members.pipe(Query.where({ name: Query.lt("é") }), Query.orderBy("name")))
        expect(below.map((r) => r.name)).toEqual(["", "10", "9", "Z", "a b", "ab", "z", "É"])
      }))

    test("a jsonb field orders as jsonb does: fewer keys first, then key by key, values by kind", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const profiles = [{ city: "Oslo", plan: "pro" }, { city: "Bergen" }, {}, { plan: "free" }, { city: "Oslo" }]
        yield* repo.insertMany(profiles.map((profile, i) => member(i, { name: `m${i}`, profile })))
        const sorted = yield* repo.findMany(members.pipe(Query.orderBy("profile"), Query.orderBy("id")))
        // {} < {"city": ...} < {"plan": ...} (one key: "city" < "plan") < two keys.
        expect(sorted.map((r) => r.name)).toEqual(["m2", "m1", "m4", "m3", "m0"])
        const distinct = yield* repo.findMany(members.pipe(Query.distinct("profile"), Query.orderBy("name")))
        expect(distinct.map((r) => r.name)).toEqual(["m2", "m1", "m4", "m3", "m0"])
      }))

    test("ilike folds ASCII letters only, and _ matches one character, an emoji too", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        yield* repo.insertMany(["Émile", "émile", "EMILE", "🦄x", "ab"].map((name, i) => member(i, { name })))
        const names = (filter: Query.Filter<Table.Row<typeof Members>>) =>
          Effect.map(repo.findMany(members.pipe(Query.where(filter), Query.orderBy("name"))), (rows) => rows.map((r) => r.name))
        expect(yield* names({ name: Query.ilike("émile") })).toEqual(["émile"])
        expect(yield* names({ name: Query.ilike("%MILE") })).toEqual(["EMILE", "Émile", "émile"])
        expect(yield* names({ name: Query.like("_x") })).toEqual(["🦄x"])
        expect(yield* names({ name: Query.like("__") })).toEqual(["ab", "🦄x"])
      }))

    test("a LIKE pattern that ends with the escape character is QueryError 22025 once a row reaches it", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        yield* repo.insert(member(1, { name: "abc" }))
        const error = yield* Effect.flip(
          Database.transaction(repo.findMany(members.pipe(Query.where({ name: Query.like("a\\") }))))
        )
        assert(error._tag === "QueryError")
        expect(error.sqlState).toBe("22025")
        expect(yield* repo.count()).toBe(1)
      }))

    test("a NUL in a filter value is QueryError 22021, and it aborts the transaction", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        yield* repo.insert(member(1))
        const error = yield* Effect.flip(Database.transaction(Effect.gen(function*() {
          const failed = yield* Effect.either(repo.findMany(members.pipe(Query.where({ name: "a\u0000" }))))
          assert(Either.isLeft(failed) && failed.left._tag === "QueryError")
          expect(failed.left.sqlState).toBe("22021")
          return yield* repo.count()
        })))
        assert(error._tag === "TransactionAborted")
        expect(error.failedSqlState).toBe("22021")
      }))

    test("NULL compares as unknown: not, notIn and between leave NULL rows out", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        yield* repo.insertMany([member(1, { age: 1 }), member(2, { age: null }), member(3, { age: 3 })])
        const ages = (filter: Query.Filter<Table.Row<typeof Members>>) =>
          Effect.map(repo.findMany(members.pipe(Query.where(filter), Query.orderBy("id"))), (rows) => rows.map((r) => r.age))
        expect(yield* ages(Query.not({ age: Query.between(0, 2) }))).toEqual([3])
        expect(yield* ages({ age: Query.notIn([1]) })).toEqual([3])
        expect(yield* ages({ age: Query.notIn([1, null]) })).toEqual([])
        expect(yield* ages({ age: Query.in([1, null]) })).toEqual([1])
        expect(yield* ages(Query.not({ age: Query.in([1, null]) }))).toEqual([])
        expect(yield* ages({ age: Query.eq(null) })).toEqual([])
        expect(yield* ages(Query.or({ age: Query.gt(2) }, Query.not({ age: Query.eq(1) })))).toEqual([3])
      }))

    test("timestamps the model writes as ISO text compare and sort as timestamps", () =>
      Effect.gen(function*() {
        const { notes } = yield* repositories
        for (const [i, millis] of [Date.UTC(2030, 0, 1), Date.UTC(1999, 11, 31, 23, 59, 59, 999), Date.UTC(2030, 0, 1, 0, 0, 0, 1)].entries()) {
          yield* TestClock.setTime(millis)
          yield* notes.insert({ memberId: i, body: `note ${i}` } as Table.Insert<typeof Notes>)
        }
        const byTime = yield* notes.findMany(Query.make(Notes).pipe(Query.orderBy("createdAt", "desc")))
        expect(byTime.map((n) => n.body)).toEqual(["note 2", "note 0", "note 1"])
        const after = yield* notes.findMany(
          Query.make(Notes).pipe(Query.where({ createdAt: Query.gte(DateTime.unsafeMake(Date.UTC(2030, 0, 1))) }), Query.orderBy("body"))
        )
        expect(after.map((n) => n.body)).toEqual(["note 0", "note 2"])
        expect(DateTime.toEpochMillis(after[1]!.createdAt)).toBe(Date.UTC(2030, 0, 1, 0, 0, 0, 1))
      }))

    test("a serial value is used up by a failed insert, and never reused", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const first = yield* repo.insert(member(1))
        yield* Effect.flip(Database.transaction(repo.insert(member(2, { email: "member1@example.com" }))))
        const next = yield* repo.insert(member(3))
        expect(next.id).toBe(first.id + 2)
      }))
  })
}
