/**
 * The contract's untrusted-input part: what a web handler passes straight
 * from a request (a filter parsed from JSON, a field name, a limit, a
 * cursor) ends in a result or a typed error on every backend, never in SQL
 * text and never in a defect.
 */
import { assert, describe, expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Stream from "effect/Stream"
import * as Query from "../../Query.js"
import * as Repository from "../../Repository.js"
import type * as Table from "../../Table.js"
import { Members } from "../Fixtures.js"
import type { Test } from "./shared.js"

const seed = Effect.gen(function*() {
  const repo = yield* Repository.make(Members)
  yield* repo.insertMany(["Ann", "Bob", "Cid"].map((name, i) => ({
    email: `${name.toLowerCase()}@example.com`,
    name,
    age: 30 + i,
    score: i,
    tags: [],
    profile: { city: i === 0 ? "Oslo" : "Lyon" }
  })))
  return repo
})

const all = Query.make(Members)
// What JSON.parse returns for a request body: `any`, unchecked by TypeScript.
const fromRequest = (body: string): any => JSON.parse(body)
const names = (rows: ReadonlyArray<Table.Row<typeof Members>>) => rows.map((r) => r.name).sort()

/**
 * Registers the untrusted-input part of the contract with the suite's `test`.
 *
 * @since 0.1.0
 * @category suites
 * @internal
 */
export const untrustedInput = (test: Test): void => {
  describe("untrusted input", () => {
    test("a plain object imitating a condition is a filter on its keys: InvalidQuery, nothing read, nothing deleted", () =>
      Effect.gen(function*() {
        const repo = yield* seed
        const forged = fromRequest(
          `{"_tag":"Condition","expr":{"_tag":"Compare","field":"name","op":"= $1 OR 1=1 OR \\"name\\" =","value":"x"}}`
        )
        const read = yield* Effect.flip(repo.findMany(all.pipe(Query.where(forged))))
        assert(read._tag === "InvalidQuery")
        expect(read.part).toBe("filter")
        expect(read.field).toBe("_tag")
        expect(read.table).toBe("members")
        const deleted = yield* Effect.flip(repo.deleteMany(all.pipe(Query.where(forged))))
        expect(deleted._tag).toBe("InvalidQuery")
        const always = fromRequest(`{"_tag":"Condition","expr":{"_tag":"Const","value":true}}`)
        expect((yield* Effect.flip(repo.count(all.pipe(Query.where(always)))))._tag).toBe("InvalidQuery")
        expect(yield* repo.count()).toBe(3)
      }))

    test("an imitated condition or expression passed as a query's filter node is refused", () =>
      Effect.gen(function*() {
        const repo = yield* seed
        const node = fromRequest(`{"_tag":"Const","value":true}`)
        const error = yield* Effect.flip(repo.findMany(all.pipe(Query.where(Query.expr(node)))))
        assert(error._tag === "InvalidQuery")
        expect(error.part).toBe("filter")
        expect(Query.isCondition(fromRequest(`{"_tag":"Condition","expr":{}}`))).toBe(false)
        expect(Query.isOperator(fromRequest(`{"_tag":"Operator","toExpr":"x"}`))).toBe(false)
      }))

    test("an object given as a field's value is a value for that field, checked by its schema", () =>
      Effect.gen(function*() {
        const repo = yield* seed
        // A text field: an object does not fit, so a ParseError.
        const operator = fromRequest(`{"name":{"_tag":"Operator","toExpr":"x"}}`)
        expect(ParseResult.isParseError(yield* Effect.flip(repo.findMany(all.pipe(Query.where(operator)))))).toBe(true)
        // A jsonb field: the object is compared as a value, and matches no row.
        const condition = fromRequest(`{"profile":{"_tag":"Condition","expr":{"_tag":"Const","value":true}}}`)
        expect(yield* repo.findMany(all.pipe(Query.where(condition)))).toEqual([])
        expect(names(yield* repo.findMany(all.pipe(Query.where(fromRequest(`{"profile":{"city":"Oslo"}}`)))))).toEqual(["Ann"])
      }))

    test("a filter that is not an object is InvalidQuery", () =>
      Effect.gen(function*() {
        const repo = yield* seed
        for (const body of ["null", "42", "\"name\"", "[1,2]", "true"]) {
          const error = yield* Effect.flip(repo.findMany(all.pipe(Query.where(fromRequest(body)))))
          assert(error._tag === "InvalidQuery", body)
          expect(error.part).toBe("filter")
        }
        const combined = yield* Effect.flip(repo.findMany(all.pipe(Query.where(Query.or({ name: "Ann" }, fromRequest("null"))))))
        expect(combined._tag).toBe("InvalidQuery")
      }))

    test("a name that is not one of the table's own fields is InvalidQuery naming it and where it was used", () =>
      Effect.gen(function*() {
        const repo = yield* seed
        const unknown = ["nope", "__proto__", "constructor", "toString", "hasOwnProperty", "name\"; DROP TABLE members; --"]
        for (const field of unknown) {
          const filter = Object.fromEntries([[field, "x"]])
          const cases = [
            [repo.findMany(all.pipe(Query.where(filter))), "filter"],
            [repo.findMany(all.pipe(Query.orderBy(field as never))), "orderBy"],
            [repo.findMany(all.pipe(Query.distinct(field as never))), "distinct"],
            [repo.sum(field as never), "aggregate"],
            [repo.max(field as never, all), "aggregate"],
            [repo.upsert({ email: "a@b.c", name: "A", age: 1, score: 0, tags: [], profile: {} }, {
              onConflict: [field as never]
            }), "onConflict"],
            [repo.upsert({ email: "a@b.c", name: "A", age: 1, score: 0, tags: [], profile: {} }, {
              onConflict: ["email"],
              update: [field as never]
            }), "onConflict"]
          ] as const
          for (const [effect, part] of cases) {
            const error = yield* Effect.flip(effect as Effect.Effect<unknown, unknown>)
            assert((error as { _tag?: string })._tag === "InvalidQuery", `${field} in ${part}`)
            expect({ part: (error as { part: string }).part, field: (error as { field: string }).field }).toEqual({ part, field })
          }
        }
        // A text field is a field, but not one sum can add up.
        const text = yield* Effect.flip(repo.sum("name" as never))
        assert(text._tag === "InvalidQuery")
        expect(text.reason).toBe("not a numeric field")
        expect(yield* repo.count()).toBe(3)
      }))

    test("an operator the field's column does not have, or given the wrong kind of argument, is InvalidQuery", () =>
      Effect.gen(function*() {
        const repo = yield* seed
        // A field name and an argument from a request: `{ [body.field]: Query.like(body.pattern) }`.
        const cases: ReadonlyArray<readonly [string, Query.Operator<unknown>, string]> = [
          ["age", Query.like("3%"), "LIKE needs a text field"],
          ["profile", Query.ilike("%"), "LIKE needs a text field"],
          ["name", Query.contains(["a"]), "Query.contains and Query.overlaps need an array field"],
          ["tags", Query.jsonContains({ a: 1 }), "Query.jsonContains needs a jsonb field"],
          ["name", Query.like(42 as never), "a LIKE pattern is a string"],
          ["name", Query.startsWith({} as never), "startsWith takes a string"],
          ["name", Query.in("Ann" as never), "Query.in and Query.notIn take a list of values"],
          ["tags", Query.overlaps("a" as never), "Query.contains and Query.overlaps take a list of values"],
          ["profile", Query.jsonContains(10n), "Query.jsonContains takes a JSON value"]
        ]
        for (const [field, operator, reason] of cases) {
          const error = yield* Effect.flip(repo.findMany(all.pipe(Query.where(Object.fromEntries([[field, operator]])))))
          assert(error._tag === "InvalidQuery", reason)
          expect(error.reason).toBe(reason)
        }
        expect(names(yield* repo.findMany(all.pipe(Query.where({ profile: Query.jsonContains({ city: "Lyon" }) }))))).toEqual([
          "Bob",
          "Cid"
        ])
      }))

    test("a constraint that no key of the table declares is InvalidQuery; a declared one works", () =>
      Effect.gen(function*() {
        const repo = yield* seed
        const row = { email: "ann@example.com", name: "Ann 2", age: 1, score: 0, tags: [], profile: {} }
        const error = yield* Effect.flip(repo.upsert(row, { onConflict: { constraint: "pg_class\"; --" } }))
        assert(error._tag === "InvalidQuery")
        expect(error.part).toBe("onConflict")
        const updated = yield* repo.upsert(row, { onConflict: { constraint: "members_email_key" }, update: ["name", "name"] })
        expect(updated.name).toBe("Ann 2")
      }))

    test("limits, offsets, page and batch sizes that are not whole numbers in range are InvalidQuery", () =>
      Effect.gen(function*() {
        const repo = yield* seed
        for (const bad of ["10", -1, Number.NaN, 1.5, Infinity, 2 ** 53, null, {}] as Array<any>) {
          const limit = yield* Effect.flip(repo.findMany(all.pipe(Query.limit(bad))))
          assert(limit._tag === "InvalidQuery")
          expect(limit.part).toBe("limit")
          const offset = yield* Effect.flip(repo.count(all.pipe(Query.offset(bad))))
          assert(offset._tag === "InvalidQuery")
          expect(offset.part).toBe("offset")
          const page = yield* Effect.flip(repo.paginate(all, { limit: bad }))
          assert(page._tag === "InvalidQuery")
          expect(page.part).toBe("pageSize")
          const batch = yield* Effect.flip(Stream.runDrain(repo.stream(all, { batchSize: bad })))
          assert(batch._tag === "InvalidQuery")
          expect(batch.part).toBe("batchSize")
        }
        expect((yield* Effect.flip(repo.paginate(all, { limit: 0 })))._tag).toBe("InvalidQuery")
        expect(names(yield* repo.findMany(all.pipe(Query.limit(2), Query.orderBy("name"))))).toEqual(["Ann", "Bob"])
      }))

    test("a forged cursor is InvalidCursor: bad JSON, tagged values that are not what they say, too long, another ordering", () =>
      Effect.gen(function*() {
        const repo = yield* seed
        const byName = all.pipe(Query.orderBy("name"))
        const first = yield* repo.paginate(byName, { limit: 1 })
        assert(Option.isSome(first.next))
        const cursor = (payload: unknown) => Buffer.from(JSON.stringify(payload), "utf8").toString("base64url")
        const forged = [
          "not a cursor",
          cursor({ f: ["name:asc:last", "id:asc:last"], v: ["Ann", { $bigint: "1; DROP TABLE members" }] }),
          cursor({ f: ["name:asc:last", "id:asc:last"], v: ["Ann", { $date: "yesterday" }] }),
          cursor({ f: ["name:asc:last", "id:asc:last"], v: [{ $date: "2020-01-01" }, 1] }),
          cursor({ f: ["name:asc:last", "id:asc:last"], v: ["Ann", "1"] }),
          cursor({ f: ["id:asc:last"], v: [1] }),
          cursor({ f: "x", v: [] }),
          "a".repeat(70_000),
          42 as unknown as string
        ]
        for (const after of forged) {
          const error = yield* Effect.flip(repo.paginate(byName, { limit: 1, after }))
          expect(error._tag, String(after).slice(0, 60)).toBe("InvalidCursor")
        }
        const second = yield* repo.paginate(byName, { limit: 1, after: first.next.value })
        expect(names(second.items)).toEqual(["Bob"])
      }))

    test("with a cursor key, only cursors signed with it are accepted", () =>
      Effect.gen(function*() {
        yield* seed
        const signed = yield* Repository.make(Members, { cursorKey: "a secret of the application" })
        const otherKey = yield* Repository.make(Members, { cursorKey: "another secret" })
        const unsigned = yield* Repository.make(Members)
        const byName = all.pipe(Query.orderBy("name"))
        const first = yield* signed.paginate(byName, { limit: 1 })
        assert(Option.isSome(first.next))
        expect(names((yield* signed.paginate(byName, { limit: 1, after: first.next.value })).items)).toEqual(["Bob"])
        const plain = yield* unsigned.paginate(byName, { limit: 1 })
        assert(Option.isSome(plain.next))
        const [payload, mac] = first.next.value.split(".")
        // The same position, its payload edited to skip to the end.
        const edited = Buffer.from(
          Buffer.from(payload!, "base64url").toString("utf8").replace("Ann", "Cid"),
          "utf8"
        ).toString("base64url")
        for (const after of [plain.next.value, `${edited}.${mac}`, `${payload}.`, `${payload}.${"A".repeat(43)}`]) {
          const error = yield* Effect.flip(signed.paginate(byName, { limit: 1, after }))
          expect(error._tag).toBe("InvalidCursor")
        }
        expect((yield* Effect.flip(otherKey.paginate(byName, { limit: 1, after: first.next.value })))._tag).toBe("InvalidCursor")
      }))

    test("a plain object imitating an increment is a value, checked by the field's schema", () =>
      Effect.gen(function*() {
        const repo = yield* seed
        const [ann] = yield* repo.findMany(all.pipe(Query.where({ name: "Ann" })))
        const forged = fromRequest(`{"score":{"_tag":"Increment","by":1000}}`)
        expect(ParseResult.isParseError(yield* Effect.flip(repo.update(ann!.id, forged)))).toBe(true)
        const bad = yield* Effect.flip(repo.update(ann!.id, { score: Repository.increment("5" as never) }))
        assert(bad._tag === "InvalidQuery")
        expect(bad.part).toBe("patch")
        expect((yield* repo.update(ann!.id, { score: Repository.increment(2) })).score).toBe(2)
        const notAnObject = yield* Effect.flip(repo.update(ann!.id, fromRequest("\"score\"")))
        assert(notAnObject._tag === "InvalidQuery")
        expect(notAnObject.part).toBe("patch")
      }))

    test("values full of quotes and semicolons are data", () =>
      Effect.gen(function*() {
        const repo = yield* seed
        const hostile = "'; DELETE FROM members; --\" OR 1=1"
        expect(yield* repo.findMany(all.pipe(Query.where({ name: hostile })))).toEqual([])
        expect(yield* repo.updateMany(all.pipe(Query.where({ email: hostile })), { name: hostile })).toBe(0)
        const inserted = yield* repo.insert({ email: hostile, name: hostile, age: null, score: 0, tags: [hostile], profile: { city: hostile } })
        expect(inserted.name).toBe(hostile)
        expect(yield* repo.count()).toBe(4)
      }))
  })
}
