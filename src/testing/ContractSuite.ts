/**
 * The repository contract: one suite of behaviours that every backend must
 * show, run against PostgreSQL and against the in-memory database, and
 * `suiteFor`, the part of it that applies to any table, for your own table
 * definitions. Each test runs in a transaction that is rolled back, so
 * tests never see each other's rows.
 *
 * @since 0.1.0
 */
import { assert, describe, expect, layer } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Database from "../Database.js"
import * as DatabaseError from "../DatabaseError.js"
import * as Query from "../Query.js"
import * as Repository from "../Repository.js"
import type * as Table from "../Table.js"
import { untrustedInput } from "./contract/untrustedInput.js"
import { Members, Notes, Settings } from "./Fixtures.js"

class Rollback {
  readonly _tag = "Rollback"
  constructor(readonly exit: unknown) {}
}

/**
 * Runs a test body in a transaction that is always rolled back, and gives
 * back the body's own outcome.
 *
 * @since 0.1.0
 * @category utils
 */
export const sandbox = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | Database.Database> =>
  Effect.flatMap(
    Effect.exit(Database.transaction(Effect.flatMap(Effect.exit(effect), (exit) => Effect.fail(new Rollback(exit))))),
    (outer) => {
      if (outer._tag === "Failure" && outer.cause._tag === "Fail" && outer.cause.error instanceof Rollback) {
        return outer.cause.error.exit as Effect.Effect<A, E>
      }
      return Effect.dieMessage(`the sandbox transaction ended unexpectedly: ${String(outer)}`)
    }
  )

type MemberInsert = Table.Insert<typeof Members>

const member = (n: number, overrides: Partial<MemberInsert> = {}): MemberInsert => ({
  email: `member${n}@example.com`,
  name: `Member ${n}`,
  age: n,
  score: n * 1.5,
  tags: [],
  profile: {},
  ...overrides
} as MemberInsert)

const repositories = Effect.all({
  members: Repository.make(Members),
  notes: Repository.make(Notes),
  settings: Repository.make(Settings)
})

const members = Query.make(Members)
const ids = (rows: ReadonlyArray<{ readonly id: number }>) => rows.map((r) => r.id)
const emails = (rows: ReadonlyArray<{ readonly email: string }>) => rows.map((r) => r.email)
const isParseError = (u: unknown) => ParseResult.isParseError(u)

/**
 * Runs the contract against a layer that provides a `Database` whose
 * fixture tables exist (see `Fixtures.ddl` for PostgreSQL).
 *
 * @since 0.1.0
 * @category suites
 */
export const suite = <E>(name: string, database: Layer.Layer<Database.Database, E>): void => {
  layer(database)(`repository contract: ${name}`, (it) => {
    const test = <A, E2>(title: string, body: () => Effect.Effect<A, E2, Database.Database>) =>
      it.effect(title, () => sandbox(body()))

    describe("reads by key", () => {
      test("findById finds a row and gives None for a missing key", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          const inserted = yield* repo.insert(member(1))
          const found = yield* repo.findById(inserted.id)
          assert(Option.isSome(found))
          expect(found.value.email).toBe("member1@example.com")
          expect(yield* repo.findById(inserted.id + 1000)).toEqual(Option.none())
        }))

      test("getById fails with NotFound naming the table and the key", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          const error = yield* Effect.flip(repo.getById(424242))
          assert(error._tag === "NotFound")
          expect(error.table).toBe("members")
          expect(error.key).toBe(424242)
        }))

      test("a key that fails the schema is a ParseError", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          const error = yield* Effect.flip(repo.findById("not a number" as unknown as number))
          expect(isParseError(error)).toBe(true)
        }))
    })

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

    describe("pagination and streams", () => {
      const seedMany = (n: number, age: (i: number) => number | null = (i) => i % 7) =>
        Effect.flatMap(repositories, ({ members: repo }) =>
          repo.insertMany(Array.from({ length: n }, (_, i) => member(i + 1, { age: age(i + 1) }))))

      const allPages = <A extends { readonly id: number }>(
        page: (after: string | undefined) => Effect.Effect<Repository.Page<A>, Repository.ReadError>
      ) =>
        Effect.gen(function*() {
          const seen: Array<A> = []
          let after: string | undefined = undefined
          let pages = 0
          while (true) {
            const result: Repository.Page<A> = yield* page(after)
            seen.push(...result.items)
            pages++
            if (Option.isNone(result.next)) break
            after = result.next.value
          }
          return { seen, pages }
        })

      test("paginate walks every row exactly once, in the query's order, with a nullable sort field", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          yield* seedMany(23, (i) => (i % 5 === 0 ? null : i % 4))
          const query = members.pipe(Query.orderBy("age", "desc"), Query.orderBy("name"))
          const { pages, seen } = yield* allPages((after) => repo.paginate(query, { limit: 5, after }))
          expect(pages).toBe(5)
          expect(ids(seen)).toEqual(ids(yield* repo.findMany(query.pipe(Query.orderBy("id")))))
          expect(new Set(ids(seen)).size).toBe(23)
        }))

      test("paginate is stable while rows are inserted", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          yield* seedMany(10)
          const query = members.pipe(Query.orderBy("email"))
          const first = yield* repo.paginate(query, { limit: 4 })
          assert(Option.isSome(first.next))
          // A row that sorts before the cursor, and one after it.
          yield* repo.insert(member(100, { email: "a-first@example.com" }))
          yield* repo.insert(member(101, { email: "zz-last@example.com" }))
          const rest = yield* allPages((after) => repo.paginate(query, { limit: 4, after: after ?? first.next.pipe(Option.getOrThrow) }))
          const walked = [...emails(first.items), ...emails(rest.seen)]
          expect(walked).not.toContain("a-first@example.com")
          expect(walked[walked.length - 1]).toBe("zz-last@example.com")
          expect(new Set(walked).size).toBe(walked.length)
          expect(walked.length).toBe(11)
        }))

      test("paginate over a distinct query returns each group once", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          yield* seedMany(20, (i) => i % 6)
          const query = members.pipe(Query.distinct("age"), Query.orderBy("age"), Query.orderBy("score", "desc"))
          const { seen } = yield* allPages((after) => repo.paginate(query, { limit: 2, after }))
          expect(seen.map((r) => r.age)).toEqual([0, 1, 2, 3, 4, 5])
          expect(ids(seen)).toEqual(ids(yield* repo.findMany(query)))
        }))

      test("a garbled cursor, or one from another ordering, is InvalidCursor", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          yield* seedMany(3)
          const error = yield* Effect.flip(repo.paginate(members, { limit: 2, after: "not-a-cursor" }))
          expect(error._tag).toBe("InvalidCursor")
          const page = yield* repo.paginate(members.pipe(Query.orderBy("name")), { limit: 2 })
          const other = yield* Effect.flip(
            repo.paginate(members.pipe(Query.orderBy("age")), { limit: 2, after: Option.getOrThrow(page.next) })
          )
          expect(other._tag).toBe("InvalidCursor")
        }))

      test("stream yields every row of the query in order; taking a few stops early", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          yield* seedMany(40)
          const query = members.pipe(Query.where({ age: Query.gte(3) }), Query.orderBy("id", "desc"))
          const streamed = yield* Stream.runCollect(repo.stream(query, { batchSize: 7 }))
          expect(ids([...streamed])).toEqual(ids(yield* repo.findMany(query)))
          const firstThree = yield* Stream.runCollect(Stream.take(repo.stream(query, { batchSize: 2 }), 3))
          expect([...firstThree].length).toBe(3)
          // The transaction is still usable after a stream stopped early.
          expect(yield* repo.count()).toBe(40)
        }))
    })

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

    describe("soft delete and hard delete", () => {
      test("delete soft-deletes: reads leave the row out unless the query asks for it", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          yield* TestClock.setTime(5_000)
          const [a, b] = yield* repo.insertMany([member(1), member(2)])
          yield* TestClock.setTime(6_000)
          yield* repo.delete(a!.id)
          expect(yield* repo.findById(a!.id)).toEqual(Option.none())
          expect(yield* repo.count()).toBe(1)
          expect(ids(yield* repo.findMany())).toEqual([b!.id])
          const everything = yield* repo.findMany(members.pipe(Query.withDeleted, Query.orderBy("id")))
          expect(ids(everything)).toEqual([a!.id, b!.id])
          const deleted = yield* repo.findMany(members.pipe(Query.onlyDeleted))
          expect(ids(deleted)).toEqual([a!.id])
          expect(deleted[0]!.deletedAt?.getTime()).toBe(6_000)
          expect(DateTime.toEpochMillis(deleted[0]!.updatedAt)).toBe(6_000)
          expect((yield* Effect.flip(repo.delete(a!.id)))._tag).toBe("NotFound")
          expect((yield* Effect.flip(repo.update(a!.id, { name: "x" })))._tag).toBe("NotFound")
        }))

      test("restore brings a soft-deleted row back; restoring a live row is NotFound", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          const a = yield* repo.insert(member(1))
          yield* repo.delete(a.id)
          const restored = yield* repo.restore(a.id)
          expect(restored.deletedAt).toBe(null)
          expect(Option.isSome(yield* repo.findById(a.id))).toBe(true)
          expect((yield* Effect.flip(repo.restore(a.id)))._tag).toBe("NotFound")
        }))

      test("hardDelete removes a row for good, deleted or not", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          const [a, b] = yield* repo.insertMany([member(1), member(2)])
          yield* repo.delete(a!.id)
          yield* repo.hardDelete(a!.id)
          yield* repo.hardDelete(b!.id)
          expect(yield* repo.count(members.pipe(Query.withDeleted))).toBe(0)
          expect((yield* Effect.flip(repo.hardDelete(a!.id)))._tag).toBe("NotFound")
          expect((yield* Effect.flip(repo.restore(a!.id)))._tag).toBe("NotFound")
        }))

      test("deleteMany soft-deletes the query's live rows; on a table without soft delete it deletes", () =>
        Effect.gen(function*() {
          const { members: repo, notes } = yield* repositories
          yield* repo.insertMany([member(1, { age: 1 }), member(2, { age: 2 }), member(3, { age: 3 })])
          expect(yield* repo.deleteMany(members.pipe(Query.where({ age: Query.lte(2) })))).toBe(2)
          expect(yield* repo.deleteMany(members.pipe(Query.where({ age: Query.lte(2) })))).toBe(0)
          expect(yield* repo.count()).toBe(1)
          expect(yield* repo.count(members.pipe(Query.onlyDeleted))).toBe(2)
          yield* notes.insertMany([1, 2, 3].map((n) => ({ memberId: n, body: `n${n}` } as Table.Insert<typeof Notes>)))
          expect(yield* notes.deleteMany(Query.make(Notes).pipe(Query.where({ memberId: Query.in([1, 3]) })))).toBe(2)
          expect(yield* notes.count()).toBe(1)
          const note = Option.getOrThrow(yield* notes.findOne())
          yield* notes.delete(note.id)
          expect((yield* Effect.flip(notes.delete(note.id)))._tag).toBe("NotFound")
        }))
    })

    describe("transactions", () => {
      test("after a failed statement the transaction is aborted; a nested transaction keeps it usable", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          yield* repo.insert(member(1))
          const inner = yield* Effect.flip(
            Database.transaction(Effect.gen(function*() {
              const duplicate = yield* Effect.flip(repo.insert(member(2, { email: "member1@example.com" })))
              expect(duplicate._tag).toBe("UniqueViolation")
              // Postgres refuses everything else until the transaction ends.
              return yield* repo.count()
            }))
          )
          assert(inner instanceof DatabaseError.TransactionAborted)
          expect(inner.failedSqlState).toBe("23505")
          expect(yield* repo.count()).toBe(1)
        }))

      test("repository writes inside a failed transaction are rolled back", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          yield* repo.insert(member(1))
          const outcome = yield* Database.transaction(Effect.gen(function*() {
            yield* repo.insert(member(2))
            yield* repo.update((yield* repo.findMany())[0]!.id, { name: "changed" })
            return yield* Effect.fail("abort" as const)
          })).pipe(Effect.either)
          expect(outcome).toEqual(Either.left("abort"))
          expect(yield* repo.count()).toBe(1)
          expect((yield* repo.findMany())[0]!.name).toBe("Member 1")
        }))

      test("a failing nested transaction keeps the sibling's rows", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          yield* Database.transaction(Effect.all([
            Database.transaction(repo.insert(member(1))),
            Database.transaction(Effect.zipRight(repo.insert(member(2)), Effect.fail("no"))).pipe(Effect.ignore),
            Database.transaction(repo.insert(member(3)))
          ], { concurrency: "unbounded" }))
          expect(emails(yield* repo.findMany(members.pipe(Query.orderBy("email"))))).toEqual([
            "member1@example.com",
            "member3@example.com"
          ])
        }))

      test("a body that swallowed a failed statement fails with TransactionAborted and keeps nothing", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          yield* repo.insert(member(1))
          const error = yield* Effect.flip(Database.transaction(Effect.gen(function*() {
            yield* repo.insert(member(2))
            yield* Effect.ignore(repo.insert(member(3, { email: "member1@example.com" })))
            return "done"
          })))
          assert(error._tag === "TransactionAborted")
          expect(error.failedSqlState).toBe("23505")
          expect(error.nested).toBe(true)
          expect(emails(yield* repo.findMany())).toEqual(["member1@example.com"])
        }))

      test("a failing transaction rolls back every table it wrote", () =>
        Effect.gen(function*() {
          const { members: repo, notes, settings } = yield* repositories
          const kept = yield* repo.insert(member(1))
          yield* settings.insert({ key: "kept", value: 1, label: "k", version: 1 } as Table.Insert<typeof Settings>)
          const outcome = yield* Effect.either(Database.transaction(Effect.gen(function*() {
            yield* repo.update(kept.id, { name: "changed" })
            yield* repo.insert(member(2))
            yield* repo.delete(kept.id)
            yield* notes.insert({ memberId: kept.id, body: "gone" } as Table.Insert<typeof Notes>)
            yield* settings.upsert({ key: "kept", value: 2, label: "x", version: 1 } as Table.Insert<typeof Settings>, {
              onConflict: ["key"]
            })
            yield* settings.delete("kept")
            return yield* Effect.fail("undo" as const)
          })))
          expect(outcome).toEqual(Either.left("undo"))
          const after = yield* repo.getById(kept.id)
          expect(after).toMatchObject({ name: "Member 1", version: 1, deletedAt: null })
          expect(yield* repo.count(members.pipe(Query.withDeleted))).toBe(1)
          expect(yield* notes.count()).toBe(0)
          expect((yield* settings.getById("kept")).value).toBe(1)
        }))

      test("a nested transaction cannot change the isolation level, read-only mode or retry", () =>
        Effect.gen(function*() {
          const { members: repo } = yield* repositories
          const isolation = yield* Effect.flip(Database.transaction(repo.count(), { isolation: "serializable" }))
          assert(isolation._tag === "NestedTransactionConflict")
          expect(isolation.option).toBe("isolation")
          const readOnly = yield* Effect.flip(Database.transaction(repo.count(), { readOnly: true }))
          assert(readOnly._tag === "NestedTransactionConflict")
          expect(readOnly.option).toBe("readOnly")
          const retry = yield* Effect.flip(Database.transaction(repo.count(), { retry: true }))
          assert(retry._tag === "NestedTransactionConflict")
          expect(retry.option).toBe("retry")
          expect(yield* repo.count()).toBe(0)
        }))
    })

    untrustedInput(test)

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
  })

  // Outside the sandbox: READ ONLY applies only to a whole transaction.
  layer(database)(`repository contract: ${name}, read-only transactions`, (it) => {
    it.effect("a write in a read-only transaction is ReadOnlyViolation, and reads still work", () =>
      Effect.gen(function*() {
        const { settings } = yield* repositories
        const error = yield* Effect.flip(Database.transaction(
          Effect.zipRight(
            settings.count(),
            settings.insert({ key: "ro", value: 1, label: "x", version: 1 } as Table.Insert<typeof Settings>)
          ),
          { readOnly: true }
        ))
        assert(error._tag === "ReadOnlyViolation")
        expect(error.sqlState).toBe("25006")
        const counted = yield* Database.transaction(settings.count(), { readOnly: true })
        expect(counted).toBe(0)
        expect(Option.isNone(yield* settings.findById("ro"))).toBe(true)
      }))
  })
}

// ---------------------------------------------------------------------------
// the contract on your own tables
// ---------------------------------------------------------------------------

/**
 * Options of {@link suiteFor}.
 *
 * @since 0.1.0
 * @category suites
 */
export interface SuiteForOptions<T extends Table.Table<any, any>, E = never> {
  /**
   * The database to run on. The table must exist there: for PostgreSQL,
   * create it while building the layer (text columns `COLLATE "C"`, the
   * collation the in-memory database implements).
   */
  readonly layer: Layer.Layer<Database.Database, E>
  /**
   * Makes the n-th row to insert (n = 0, 1, 2, ...). Rows must differ in the
   * primary key (when the insert sets it) and in every unique key. Leave
   * out timestamps, the version and the soft-delete field: the repository
   * fills them in. Default: rows from {@link SuiteForOptions.arbitrary}.
   */
  readonly makeRow?: ((n: number) => Table.Insert<T>) | undefined
  /**
   * Rows to insert, when there is no `makeRow`. Default
   * `Arbitrary.make(table.model.insert)`: annotate the model so that its
   * values fit the columns (`Schema.Int.pipe(Schema.between(0, 100))` for
   * an `integer`, `Schema.maxLength(n)` for a `varchar(n)`). NUL characters
   * are taken out of generated text: PostgreSQL text cannot hold them.
   */
  readonly arbitrary?: FastCheck.Arbitrary<Table.Insert<T>> | undefined
  /** The seed of generated rows, so that every run uses the same rows. Default 42. */
  readonly seed?: number | undefined
  /** How many rows the pagination test inserts. Default 12. */
  readonly rows?: number | undefined
  /**
   * The patch that the update tests apply to a stored row. Default: one
   * field (not a key, timestamp, version or soft-delete field) set to the
   * value another generated row has.
   */
  readonly patch?: ((row: Table.Row<T>) => Table.Patch<T>) | undefined
}

const unwrapOption = (value: unknown) => (Option.isOption(value) ? Option.getOrUndefined(value) : value)

const millisOf = (value: unknown): number | undefined => {
  const v = unwrapOption(value)
  if (DateTime.isDateTime(v)) return DateTime.toEpochMillis(v)
  if (v instanceof Date) return v.getTime()
  if (typeof v === "number") return v
  if (typeof v === "string") return Date.parse(v)
  return undefined
}

// PostgreSQL text cannot hold NUL, and UTF-8 cannot hold a lone surrogate.
const sanitize = (value: unknown): unknown => {
  if (typeof value === "string") {
    const text = value.replace(/\u0000/g, "")
    return (text as unknown as { toWellFormed(): string }).toWellFormed()
  }
  if (Array.isArray(value)) return value.map(sanitize)
  if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [sanitize(k), sanitize(v)]))
  }
  return value
}

const keyString = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}n` : v))
const sameValue = (a: unknown, b: unknown) => keyString(a) === keyString(b)

/**
 * Runs the contract's behaviours that hold for any table on your own table
 * definition. A row round-trips through the schema; `findById`, `getById`
 * and `NotFound`; `update` and `delete`; `count` and `exists`; ordering by
 * and filtering on the primary key; keyset pagination visits every row
 * once; a failing transaction (top-level or nested, a savepoint) rolls back
 * its own inserts and nothing else; soft delete and `restore`, the version
 * and `StaleVersion`, and timestamps from `Clock` when the table declares
 * them; and `UniqueViolation` with the constraint name for every unique
 * key. Run it on PostgreSQL and on `Database.layerMemory()` to know that
 * unit tests on the fake mean the same as on the database.
 *
 * @example
 * ContractSuite.suiteFor("in-memory", Users, { layer: Database.layerMemory() })
 * ContractSuite.suiteFor("PostgreSQL", Users, { layer: PostgresWithUsersTable })
 *
 * @since 0.1.0
 * @category suites
 */
export const suiteFor = <T extends Table.Table<any, any>, E = never>(
  name: string,
  table: T,
  options: SuiteForOptions<T, E>
): void => {
  type Row = Table.Row<T>
  type Insert = Table.Insert<T>
  const model = table.model as unknown as {
    readonly insert: Schema.Struct<Schema.Struct.Fields>
    readonly update: Schema.Struct<Schema.Struct.Fields>
  }
  // Field names as plain strings: the table's field types say nothing more
  // about a generic table.
  const meta = {
    created: table.timestamps.created as string | undefined,
    updated: table.timestamps.updated as string | undefined,
    version: table.version as string | undefined,
    softDelete: table.softDelete as string | undefined,
    columns: table.columns as Record<string, string>
  }
  const pk = table.primaryKey as string
  const insertFields = Object.keys(model.insert.fields)
  const managed = new Set(
    [meta.created, meta.updated, meta.version, meta.softDelete].filter((f): f is string => f !== undefined)
  )
  const declaredKeys: ReadonlyArray<{ readonly fields: ReadonlyArray<string>; readonly constraint: string }> = [
    ...(insertFields.includes(pk) ? [{ fields: [pk], constraint: table.primaryKeyConstraint }] : []),
    ...table.uniqueKeys.map((k) => ({ fields: k.fields as ReadonlyArray<string>, constraint: k.constraint }))
  ]
  const keyFields = new Set(declaredKeys.flatMap((k) => k.fields))
  const count = Math.max(options.rows ?? 12, 4)

  // The rows every test uses: made once, the same in every run.
  const clean = (row: unknown): Record<string, unknown> => {
    const out = { ...(row as Record<string, unknown>) }
    for (const field of managed) delete out[field]
    return out
  }
  const rows: ReadonlyArray<Record<string, unknown>> = options.makeRow !== undefined
    ? Array.from({ length: count }, (_, n) => clean(options.makeRow!(n)))
    : FastCheck.sample(
      FastCheck.uniqueArray(
        (options.arbitrary ?? (Arbitrary.make(model.insert) as unknown as FastCheck.Arbitrary<Insert>)).map((row) =>
          sanitize(clean(row)) as Record<string, unknown>
        ),
        {
          minLength: count,
          maxLength: count,
          comparator: (a, b) => declaredKeys.some((k) => k.fields.every((f) => sameValue(a[f], b[f])))
        }
      ),
      { seed: options.seed ?? 42, numRuns: 1 }
    )[0]!
  const row = (n: number) => rows[n]! as Insert

  // Values compared through the insert schema, so Date / DateTime / Option
  // representations do not matter, only what is stored.
  const insertEncoders = new Map(insertFields.map((f) => [
    f,
    Schema.encodeUnknownEither(Schema.Struct({ [f]: model.insert.fields[f]! }) as unknown as Schema.Schema<unknown, unknown>)
  ]))
  const stored = (field: string, value: unknown) => {
    const encoded = insertEncoders.get(field)!({ [field]: value })
    return Either.isRight(encoded) ? (encoded.right as Record<string, unknown>)[field] : encoded.left
  }
  const expectRowFits = (actual: Row, input: Record<string, unknown>) => {
    for (const field of insertFields) {
      if (managed.has(field) || input[field] === undefined) continue
      expect(stored(field, (actual as Record<string, unknown>)[field]), `field ${field}`).toEqual(stored(field, input[field]))
    }
  }

  const updateFields = Object.keys(model.update.fields)
  const patchField = updateFields.find((f) =>
    f !== pk && !managed.has(f) && !keyFields.has(f) && insertFields.includes(f) && !sameValue(rows[0]![f], rows[1]![f])
  )
  const makePatch = (current: Row): Record<string, unknown> | undefined =>
    options.patch !== undefined
      ? (options.patch(current) as Record<string, unknown>)
      : patchField === undefined
      ? undefined
      : { [patchField]: rows[1]![patchField] }
  const canPatch = options.patch !== undefined || patchField !== undefined

  const idOf = (r: Row) => (r as Record<string, unknown>)[pk] as Table.Id<T>
  const byKey = Query.make(table).pipe(Query.orderBy(pk as never))
  const repository = Repository.make(table)

  layer(options.layer)(`table contract: ${name}, table "${table.name}"`, (it) => {
    const test = <A, E2>(title: string, body: () => Effect.Effect<A, E2, Database.Database>) =>
      it.effect(title, () => sandbox(body()))

    test("insert returns the row as stored, and getById reads back the same row", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        for (const n of [0, 1, 2]) {
          const inserted = yield* repo.insert(row(n))
          expectRowFits(inserted, rows[n]!)
          expect(yield* repo.getById(idOf(inserted))).toEqual(inserted)
        }
        expect(yield* repo.count()).toBe(3)
      }))

    test("a missing key: findById gives None, getById fails with NotFound naming the table and the key", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        const inserted = yield* repo.insert(row(0))
        const id = idOf(inserted)
        yield* repo.hardDelete(id)
        expect(yield* repo.findById(id)).toEqual(Option.none())
        const error = yield* Effect.flip(repo.getById(id))
        assert(error._tag === "NotFound")
        expect(error.table).toBe(table.name)
        expect(error.key).toEqual(id)
      }))

    test("insertMany, findMany, count and exists agree on the rows", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        expect(yield* repo.exists()).toBe(false)
        const inserted = yield* repo.insertMany([0, 1, 2, 3].map(row))
        inserted.forEach((r, n) => expectRowFits(r, rows[n]!))
        expect(yield* repo.count()).toBe(4)
        expect(yield* repo.exists()).toBe(true)
        const found = yield* repo.findMany(byKey)
        expect(found.map(idOf)).toEqual(inserted.map(idOf).sort((a, b) => compareKeys(a, b)))
      }))

    test("paginate over the primary key visits every row exactly once", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        yield* repo.insertManyDiscard(rows as ReadonlyArray<Insert>)
        const seen: Array<unknown> = []
        let after: string | undefined = undefined
        let pages = 0
        while (true) {
          const page: Repository.Page<Row> = yield* repo.paginate(Query.make(table), { limit: 3, after })
          seen.push(...page.items.map(idOf))
          pages++
          if (Option.isNone(page.next)) break
          after = page.next.value
        }
        expect(pages).toBe(Math.ceil(count / 3))
        expect(seen).toEqual((yield* repo.findMany(byKey)).map(idOf))
        expect(new Set(seen.map(keyString)).size).toBe(count)
      }))

    if (canPatch) {
      test("update patches the row, returns it, and a missing key is NotFound", () =>
        Effect.gen(function*() {
          const repo = yield* repository
          const inserted = yield* repo.insert(row(0))
          const patch = makePatch(inserted)!
          const updated = yield* repo.update(idOf(inserted), patch as Table.Patch<T>)
          for (const field of Object.keys(patch)) {
            expect(stored(field, (updated as Record<string, unknown>)[field]), `field ${field}`).toEqual(stored(field, patch[field]))
          }
          expect(yield* repo.getById(idOf(inserted))).toEqual(updated)
          yield* repo.hardDelete(idOf(inserted))
          const missing = yield* Effect.flip(repo.update(idOf(inserted), patch as Table.Patch<T>))
          expect(missing._tag).toBe("NotFound")
        }))
    }

    test("delete takes the row out of every read; a second delete is NotFound", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        const [a, b] = yield* repo.insertMany([row(0), row(1)])
        yield* repo.delete(idOf(a!))
        expect(yield* repo.findById(idOf(a!))).toEqual(Option.none())
        expect((yield* repo.findMany()).map(idOf)).toEqual([idOf(b!)])
        expect(yield* repo.count()).toBe(1)
        const again = yield* Effect.flip(repo.delete(idOf(a!)))
        expect(again._tag).toBe("NotFound")
      }))

    if (meta.softDelete !== undefined) {
      test("delete soft-deletes: withDeleted and onlyDeleted still see the row, and restore brings it back", () =>
        Effect.gen(function*() {
          const repo = yield* repository
          const inserted = yield* repo.insert(row(0))
          yield* repo.delete(idOf(inserted))
          expect((yield* repo.findMany(Query.make(table).pipe(Query.withDeleted))).map(idOf)).toEqual([idOf(inserted)])
          expect((yield* repo.findMany(Query.make(table).pipe(Query.onlyDeleted))).map(idOf)).toEqual([idOf(inserted)])
          const restored = yield* repo.restore(idOf(inserted))
          expect(unwrapOption((restored as Record<string, unknown>)[meta.softDelete!]) ?? null).toBe(null)
          expect(yield* repo.count()).toBe(1)
          expect((yield* Effect.flip(repo.restore(idOf(inserted))))._tag).toBe("NotFound")
        }))
    }

    if (meta.version !== undefined) {
      test("every update increments the version; a stale expected version is StaleVersion", () =>
        Effect.gen(function*() {
          const repo = yield* repository
          const version = meta.version!
          const inserted = yield* repo.insert(row(0))
          expect((inserted as Record<string, unknown>)[version]).toBe(1)
          const patch = (makePatch(inserted) ?? {}) as Table.Patch<T>
          const updated = yield* repo.update(idOf(inserted), patch, { expectedVersion: 1 })
          expect((updated as Record<string, unknown>)[version]).toBe(2)
          const stale = yield* Effect.flip(repo.update(idOf(inserted), patch, { expectedVersion: 1 }))
          assert(stale._tag === "StaleVersion")
          expect(stale).toMatchObject({ table: table.name, expectedVersion: 1, actualVersion: 2 })
          const current = yield* repo.getById(idOf(inserted))
          expect((current as Record<string, unknown>)[version]).toBe(2)
        }))
    }

    if (meta.created !== undefined || meta.updated !== undefined) {
      test("timestamps come from Clock: created on insert, updated on every write", () =>
        Effect.gen(function*() {
          const repo = yield* repository
          const created = meta.created
          const updatedField = meta.updated
          const at = (r: Row, field: string | undefined) =>
            field === undefined ? undefined : millisOf((r as Record<string, unknown>)[field])
          yield* TestClock.setTime(Date.UTC(2031, 0, 2, 3, 4, 5))
          const inserted = yield* repo.insert(row(0))
          if (created !== undefined) expect(at(inserted, created)).toBe(Date.UTC(2031, 0, 2, 3, 4, 5))
          if (updatedField !== undefined) expect(at(inserted, updatedField)).toBe(Date.UTC(2031, 0, 2, 3, 4, 5))
          yield* TestClock.setTime(Date.UTC(2031, 0, 2, 3, 5, 0))
          const updated = yield* repo.update(idOf(inserted), (makePatch(inserted) ?? {}) as Table.Patch<T>)
          if (created !== undefined) expect(at(updated, created)).toBe(Date.UTC(2031, 0, 2, 3, 4, 5))
          if (updatedField !== undefined) expect(at(updated, updatedField)).toBe(Date.UTC(2031, 0, 2, 3, 5, 0))
        }))
    }

    test("orderBy the primary key sorts the rows; where on the primary key finds exactly the rows it names", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        const inserted = yield* repo.insertMany(rows as ReadonlyArray<Insert>)
        const sorted = inserted.map(idOf).sort((a, b) => compareKeys(a, b))
        const where = (filter: Record<string, unknown>) => Query.make(table).pipe(Query.where(filter as never))
        expect((yield* repo.findMany(byKey)).map(idOf)).toEqual(sorted)
        expect((yield* repo.findMany(Query.make(table).pipe(Query.orderBy(pk as never, "desc")))).map(idOf)).toEqual(
          [...sorted].reverse()
        )
        const pivot = sorted[Math.floor(count / 2)]!
        const exact = yield* repo.findMany(where({ [pk]: pivot }))
        expect(exact.map(idOf)).toEqual([pivot])
        expect(exact[0]).toEqual(yield* repo.getById(pivot))
        expect(yield* repo.count(where({ [pk]: Query.eq(pivot) }))).toBe(1)
        expect(yield* repo.count(where({ [pk]: Query.ne(pivot) }))).toBe(count - 1)
        expect((yield* repo.findMany(where({ [pk]: Query.in([sorted[0], sorted[count - 1]]) }).pipe(
          Query.orderBy(pk as never)
        ))).map(idOf)).toEqual([sorted[0], sorted[count - 1]])
        expect((yield* repo.findMany(where({ [pk]: Query.gt(pivot) }).pipe(Query.orderBy(pk as never)))).map(idOf))
          .toEqual(sorted.slice(Math.floor(count / 2) + 1))
        expect((yield* repo.findMany(byKey.pipe(Query.offset(1), Query.limit(2)))).map(idOf)).toEqual(sorted.slice(1, 3))
      }))

    test("a failing nested transaction (a savepoint) rolls back only its own insert; the outer insert survives", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        const { inner, outer } = yield* Database.transaction(Effect.gen(function*() {
          const outer = yield* repo.insert(row(0))
          let inner: Table.Id<T> | undefined
          const failed = yield* Effect.either(Database.transaction(Effect.gen(function*() {
            inner = idOf(yield* repo.insert(row(1)))
            return yield* Effect.fail("undo inner" as const)
          })))
          expect(failed).toEqual(Either.left("undo inner"))
          expect(yield* repo.count()).toBe(1)
          return { inner: inner!, outer }
        }))
        expect(yield* repo.count()).toBe(1)
        expect(yield* repo.getById(idOf(outer))).toEqual(outer)
        expect(yield* repo.findById(inner)).toEqual(Option.none())
        // The savepoint's rollback left the transaction usable: row 1 can go in now.
        yield* repo.insert(row(1))
        expect(yield* repo.count()).toBe(2)
      }))

    for (const key of declaredKeys) {
      test(`a duplicate (${key.fields.join(", ")}) is UniqueViolation "${key.constraint}"; nothing is written`, () =>
        Effect.gen(function*() {
          const repo = yield* repository
          const first = rows[0]!
          yield* repo.insert(row(0))
          const duplicate = { ...rows[1]!, ...Object.fromEntries(key.fields.map((f) => [f, first[f]])) }
          const error = yield* Effect.flip(Database.transaction(repo.insert(duplicate as Insert)))
          assert(error._tag === "UniqueViolation")
          expect(error.constraint).toBe(key.constraint)
          expect(error.table).toBe(table.name)
          expect(error.columns).toEqual(key.fields.map((f) => meta.columns[f]))
          expect(yield* repo.count(Query.make(table).pipe(Query.withDeleted))).toBe(1)
        }))
    }

    // Outside the sandbox, so that the transaction is a real top-level one;
    // it rolls back, so the tables stay as the sandboxed tests expect.
    it.effect("a failing top-level transaction leaves count() unchanged and its row absent", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        const before = yield* repo.count(Query.make(table).pipe(Query.withDeleted))
        let inside: Table.Id<T> | undefined
        const outcome = yield* Effect.either(Database.transaction(Effect.gen(function*() {
          inside = idOf(yield* repo.insert(row(0)))
          expect(yield* repo.count(Query.make(table).pipe(Query.withDeleted))).toBe(before + 1)
          return yield* Effect.fail("undo" as const)
        })))
        expect(outcome).toEqual(Either.left("undo"))
        expect(yield* repo.count(Query.make(table).pipe(Query.withDeleted))).toBe(before)
        expect(yield* repo.findById(inside!)).toEqual(Option.none())
      }))
  })
}

// Orders primary keys the way the database does for the common key types.
const compareKeys = (a: unknown, b: unknown): number =>
  (typeof a === "number" || typeof a === "bigint") && (typeof b === "number" || typeof b === "bigint")
    ? (a < b ? -1 : a > b ? 1 : 0)
    : typeof a === "string" && typeof b === "string"
    ? Buffer.compare(Buffer.from(a), Buffer.from(b))
    : 0
