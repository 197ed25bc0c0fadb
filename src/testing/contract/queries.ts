/**
 * The contract's queries: filters (comparisons, NULL, `in`, patterns,
 * `and` / `or` / `not`, arrays and jsonb), ordering, limits, `distinct`,
 * `count` and the aggregates, on the same five members.
 */
import { describe, expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Query from "../../Query.js"
import type * as Table from "../../Table.js"
import { Members } from "../Fixtures.js"
import { isParseError, member, members, repositories, type Test } from "./shared.js"

/**
 * Registers the queries part of the contract with the suite's `test`.
 *
 * @since 0.1.0
 * @category suites
 * @internal
 */
export const queries = (test: Test): void => {
  describe("queries", () => {
    const seed = Effect.gen(function*() {
      const { members: repo } = yield* repositories
      return yield* repo.insertMany([
        member(1, { name: "Ann", age: 30, score: 10, tags: ["admin", "ops"], profile: { city: "Oslo", plan: "pro" } }),
        member(2, { name: "bob", age: null, score: 20, tags: ["ops"], profile: { city: "Bergen" } }),
        member(3, { name: "Cid", age: 25, score: 30, tags: [], profile: { plan: "free" } }),
        member(4, { name: "100%_real", age: 40, score: 40, tags: ["dev"], profile: {} }),
        member(5, { name: "Dee", age: null, score: 50, tags: ["dev", "ops"], profile: { city: "Oslo" } })
      ])
    })
    const names = (rows: ReadonlyArray<{ readonly name: string }>) => rows.map((r) => r.name).sort()
    const where = (filter: Query.Filter<Table.Row<typeof Members>>) =>
      Effect.flatMap(repositories, ({ members: repo }) => repo.findMany(members.pipe(Query.where(filter))))

    test("equality, comparisons and between", () =>
      Effect.gen(function*() {
        yield* seed
        expect(names(yield* where({ name: "Ann" }))).toEqual(["Ann"])
        expect(names(yield* where({ age: Query.gt(25) }))).toEqual(["100%_real", "Ann"])
        expect(names(yield* where({ age: Query.gte(30) }))).toEqual(["100%_real", "Ann"])
        expect(names(yield* where({ age: Query.lt(30) }))).toEqual(["Cid"])
        expect(names(yield* where({ age: Query.lte(30) }))).toEqual(["Ann", "Cid"])
        expect(names(yield* where({ score: Query.between(20, 40) }))).toEqual(["100%_real", "Cid", "bob"])
      }))

    test("ne follows SQL: a NULL field matches neither eq nor ne", () =>
      Effect.gen(function*() {
        yield* seed
        expect(names(yield* where({ age: Query.ne(30) }))).toEqual(["100%_real", "Cid"])
        expect(names(yield* where(Query.not({ age: 30 })))).toEqual(["100%_real", "Cid"])
      }))

    test("null means IS NULL; isNull and isNotNull", () =>
      Effect.gen(function*() {
        yield* seed
        expect(names(yield* where({ age: null }))).toEqual(["Dee", "bob"])
        expect(names(yield* where({ age: Query.isNull() }))).toEqual(["Dee", "bob"])
        expect(names(yield* where({ age: Query.isNotNull() }))).toEqual(["100%_real", "Ann", "Cid"])
      }))

    test("in and notIn; an empty in matches nothing, an empty notIn everything", () =>
      Effect.gen(function*() {
        yield* seed
        expect(names(yield* where({ name: Query.in(["Ann", "Cid", "nobody"]) }))).toEqual(["Ann", "Cid"])
        expect(names(yield* where({ name: Query.notIn(["Ann", "Cid"]) }))).toEqual(["100%_real", "Dee", "bob"])
        expect(yield* where({ name: Query.in([]) })).toEqual([])
        expect((yield* where({ name: Query.notIn([]) })).length).toBe(5)
      }))

    test("like, ilike and startsWith, with wildcards in startsWith matched literally", () =>
      Effect.gen(function*() {
        yield* seed
        expect(names(yield* where({ name: Query.like("%e%") }))).toEqual(["100%_real", "Dee"])
        expect(names(yield* where({ name: Query.like("%ee") }))).toEqual(["Dee"])
        expect(names(yield* where({ name: Query.ilike("b%") }))).toEqual(["bob"])
        expect(names(yield* where({ name: Query.like("_ob") }))).toEqual(["bob"])
        expect(names(yield* where({ name: Query.startsWith("100%_") }))).toEqual(["100%_real"])
        expect(names(yield* where({ name: Query.startsWith("1_0") }))).toEqual([])
        expect(names(yield* where({ name: Query.startsWith("B", { caseInsensitive: true }) }))).toEqual(["bob"])
        expect(names(yield* where({ name: Query.like("100\\%\\_real") }))).toEqual(["100%_real"])
      }))

    test("and, or, not, and the empty cases", () =>
      Effect.gen(function*() {
        yield* seed
        expect(names(yield* where(Query.or({ name: "Ann" }, { age: Query.isNull() })))).toEqual(["Ann", "Dee", "bob"])
        expect(names(yield* where(Query.and({ score: Query.gt(15) }, { age: Query.isNotNull() })))).toEqual([
          "100%_real",
          "Cid"
        ])
        expect(names(yield* where(Query.not(Query.or({ name: "Ann" }, { name: "bob" }))))).toEqual([
          "100%_real",
          "Cid",
          "Dee"
        ])
        expect(yield* where(Query.or())).toEqual([])
        expect((yield* where(Query.and())).length).toBe(5)
      }))

    test("array contains and overlaps, and jsonb contains", () =>
      Effect.gen(function*() {
        yield* seed
        expect(names(yield* where({ tags: Query.contains(["ops"]) }))).toEqual(["Ann", "Dee", "bob"])
        expect(names(yield* where({ tags: Query.contains(["dev", "ops"]) }))).toEqual(["Dee"])
        expect(names(yield* where({ tags: Query.contains([]) }))).toEqual(["100%_real", "Ann", "Cid", "Dee", "bob"])
        expect(names(yield* where({ tags: Query.overlaps(["admin", "dev"]) }))).toEqual(["100%_real", "Ann", "Dee"])
        expect(yield* where({ tags: Query.overlaps([]) })).toEqual([])
        expect(names(yield* where({ profile: Query.jsonContains({ city: "Oslo" }) }))).toEqual(["Ann", "Dee"])
        expect(names(yield* where({ profile: Query.jsonContains({ city: "Oslo", plan: "pro" }) }))).toEqual(["Ann"])
        expect((yield* where({ profile: Query.jsonContains({}) })).length).toBe(5)
      }))

    test("values full of quotes and SQL are matched as data", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const nasty = `x' OR '1'='1'; DROP TABLE members; --`
        yield* repo.insert(member(9, { name: nasty }))
        yield* seed
        expect(names(yield* where({ name: nasty }))).toEqual([nasty])
        expect(yield* where({ name: "x" })).toEqual([])
        expect(yield* repo.count()).toBe(6)
      }))

    test("ordering with direction and NULLS FIRST / LAST", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        yield* seed
        const order = (q: Query.Query<Table.Row<typeof Members>>) => Effect.map(repo.findMany(q), (rows) => rows.map((r) => r.name))
        // Postgres's defaults: NULLs last ascending, first descending.
        expect(yield* order(members.pipe(Query.orderBy("age"), Query.orderBy("name")))).toEqual([
          "Cid",
          "Ann",
          "100%_real",
          "Dee",
          "bob"
        ])
        expect(yield* order(members.pipe(Query.orderBy("age", "desc"), Query.orderBy("name")))).toEqual([
          "Dee",
          "bob",
          "100%_real",
          "Ann",
          "Cid"
        ])
        expect(yield* order(members.pipe(Query.orderBy("age", "asc", { nulls: "first" }), Query.orderBy("name", "desc"))))
          .toEqual(["bob", "Dee", "Cid", "Ann", "100%_real"])
        expect(yield* order(members.pipe(Query.orderBy("age", "desc", { nulls: "last" }), Query.orderBy("name"))))
          .toEqual(["100%_real", "Ann", "Cid", "Dee", "bob"])
        // "C" collation: uppercase before lowercase, digits first.
        expect(yield* order(members.pipe(Query.orderBy("name")))).toEqual(["100%_real", "Ann", "Cid", "Dee", "bob"])
      }))

    test("limit, offset, findOne and exists", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        yield* seed
        const byScore = members.pipe(Query.orderBy("score", "desc"))
        expect((yield* repo.findMany(byScore.pipe(Query.limit(2)))).map((r) => r.score)).toEqual([50, 40])
        expect((yield* repo.findMany(byScore.pipe(Query.limit(2), Query.offset(2)))).map((r) => r.score)).toEqual([
          30,
          20
        ])
        expect((yield* repo.findMany(byScore.pipe(Query.offset(4)))).map((r) => r.score)).toEqual([10])
        expect(yield* repo.findMany(byScore.pipe(Query.limit(0)))).toEqual([])
        const top = yield* repo.findOne(byScore)
        expect(Option.map(top, (r) => r.score)).toEqual(Option.some(50))
        expect(yield* repo.findOne(members.pipe(Query.where({ name: "nobody" })))).toEqual(Option.none())
        expect(yield* repo.exists(members.pipe(Query.where({ name: "Ann" })))).toBe(true)
        expect(yield* repo.exists(members.pipe(Query.where({ name: "nobody" })))).toBe(false)
      }))

    test("distinct keeps the first row of each value by the query's ordering", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        yield* seed
        const firstPerAge = yield* repo.findMany(
          members.pipe(Query.distinct("age"), Query.orderBy("age"), Query.orderBy("score", "desc"))
        )
        expect(firstPerAge.map((r) => [r.age, r.name])).toEqual([[25, "Cid"], [30, "Ann"], [40, "100%_real"], [null, "Dee"]])
        expect(yield* repo.count(members.pipe(Query.distinct("age")))).toBe(4)
      }))

    test("count, and the aggregates sum, avg, min and max", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        yield* seed
        expect(yield* repo.count()).toBe(5)
        expect(yield* repo.count(members.pipe(Query.where({ age: Query.isNull() })))).toBe(2)
        expect(yield* repo.count(members.pipe(Query.orderBy("id"), Query.limit(3)))).toBe(3)
        expect(yield* repo.sum("score")).toEqual(Option.some(150))
        expect(yield* repo.avg("score")).toEqual(Option.some(30))
        expect(yield* repo.min("score", members.pipe(Query.where({ age: Query.isNotNull() })))).toEqual(Option.some(10))
        expect(yield* repo.max("age")).toEqual(Option.some(40))
        expect(yield* repo.avg("age")).toEqual(Option.some(95 / 3))
        expect(yield* repo.sum("score", members.pipe(Query.where({ name: "nobody" })))).toEqual(Option.none())
        expect(yield* repo.max("age", members.pipe(Query.where({ age: Query.isNull() })))).toEqual(Option.none())
        expect(yield* repo.sum("score", members.pipe(Query.orderBy("score", "desc"), Query.limit(2)))).toEqual(
          Option.some(90)
        )
      }))

    test("a filter value that fails the schema is a ParseError before any SQL", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const error = yield* Effect.flip(
          repo.findMany(members.pipe(Query.where({ age: "old" as unknown as number })))
        )
        expect(isParseError(error)).toBe(true)
      }))
  })
}
