/**
 * The contract's composite primary keys (the `grants` fixture, keyed by
 * member and resource): reads and writes by a key record, the key's
 * constraint in a unique violation, upserts on it, pagination's tie-break
 * on every key column, and key records that are not keys.
 */
import { assert, describe, expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Database from "../../Database.js"
import * as Query from "../../Query.js"
import type * as Table from "../../Table.js"
import { Grants } from "../Fixtures.js"
import { isParseError, repositories, type Test } from "./shared.js"

type GrantInsert = Table.Insert<typeof Grants>

const grant = (memberId: number, resource: string, role = "reader"): GrantInsert => ({ memberId, resource, role })

const keyOf = (row: { readonly memberId: number; readonly resource: string }) => ({
  memberId: row.memberId,
  resource: row.resource
})

const grants = Query.make(Grants)

/**
 * Registers the composite-key part of the contract with the suite's `test`.
 *
 * @since 0.1.0
 * @category suites
 * @internal
 */
export const compositeKeys = (test: Test): void => {
  describe("composite primary keys", () => {
    test("findById and getById take the key as a record of its fields", () =>
      Effect.gen(function*() {
        const { grants: repo } = yield* repositories
        yield* repo.insertMany([grant(1, "a", "owner"), grant(1, "b"), grant(2, "a")])
        const found = yield* repo.findById({ memberId: 1, resource: "a" })
        assert(Option.isSome(found))
        expect(found.value).toMatchObject({ memberId: 1, resource: "a", role: "owner", version: 1, revokedAt: null })
        expect((yield* repo.getById({ memberId: 2, resource: "a" })).role).toBe("reader")
        expect(yield* repo.findById({ memberId: 2, resource: "b" })).toEqual(Option.none())
        const missing = yield* Effect.flip(repo.getById({ memberId: 3, resource: "a" }))
        assert(missing._tag === "NotFound")
        expect(missing.table).toBe("grants")
        expect(missing.key).toEqual({ memberId: 3, resource: "a" })
      }))

    test("update, delete, restore and hardDelete touch only the row with the whole key", () =>
      Effect.gen(function*() {
        const { grants: repo } = yield* repositories
        yield* repo.insertMany([grant(1, "a"), grant(1, "b"), grant(2, "a")])
        const updated = yield* repo.update({ memberId: 1, resource: "a" }, { role: "editor" })
        expect(updated).toMatchObject({ memberId: 1, resource: "a", role: "editor", version: 2 })
        const stale = yield* Effect.flip(repo.update({ memberId: 1, resource: "a" }, { role: "x" }, { expectedVersion: 1 }))
        assert(stale._tag === "StaleVersion")
        expect(stale.key).toEqual({ memberId: 1, resource: "a" })
        expect(stale.actualVersion).toBe(2)
        yield* repo.delete({ memberId: 1, resource: "b" })
        const alive = yield* repo.findMany(grants.pipe(Query.orderBy("memberId"), Query.orderBy("resource")))
        expect(alive.map((g) => [g.memberId, g.resource, g.role])).toEqual([[1, "a", "editor"], [2, "a", "reader"]])
        expect((yield* Effect.flip(repo.delete({ memberId: 1, resource: "b" })))._tag).toBe("NotFound")
        expect((yield* repo.restore({ memberId: 1, resource: "b" })).revokedAt).toBe(null)
        yield* repo.hardDelete({ memberId: 2, resource: "a" })
        expect(yield* repo.count(grants.pipe(Query.withDeleted))).toBe(2)
        expect((yield* Effect.flip(repo.hardDelete({ memberId: 2, resource: "a" })))._tag).toBe("NotFound")
      }))

    test("a second row with the same key is a UniqueViolation naming <table>_pkey and every key column", () =>
      Effect.gen(function*() {
        const { grants: repo } = yield* repositories
        yield* repo.insert(grant(1, "a"))
        yield* repo.insert(grant(1, "b"))
        const error = yield* Effect.flip(Database.transaction(repo.insert(grant(1, "a", "other"))))
        assert(error._tag === "UniqueViolation")
        expect(error.constraint).toBe("grants_pkey")
        expect(error.table).toBe("grants")
        expect(error.columns).toEqual(["member_id", "resource"])
        expect(yield* repo.count()).toBe(2)
      }))

    test("upsert on the primary key's constraint or its fields updates the row with the whole key", () =>
      Effect.gen(function*() {
        const { grants: repo } = yield* repositories
        yield* repo.insertMany([grant(1, "a"), grant(1, "b")])
        const byConstraint = yield* repo.upsert(grant(1, "a", "owner"), { onConflict: { constraint: "grants_pkey" } })
        expect(byConstraint).toMatchObject({ memberId: 1, resource: "a", role: "owner", version: 2 })
        const byFields = yield* repo.upsert(grant(1, "b", "editor"), { onConflict: ["memberId", "resource"] })
        expect(byFields).toMatchObject({ memberId: 1, resource: "b", role: "editor", version: 2 })
        const inserted = yield* repo.upsert(grant(2, "a", "guest"), { onConflict: { constraint: "grants_pkey" } })
        expect(inserted).toMatchObject({ memberId: 2, resource: "a", role: "guest", version: 1 })
        expect(yield* repo.count()).toBe(3)
      }))

    test("an update may not change a key field", () =>
      Effect.gen(function*() {
        const { grants: repo } = yield* repositories
        yield* repo.insert(grant(1, "a"))
        const patch = { resource: "b" } as unknown as Table.Patch<typeof Grants>
        expect(isParseError(yield* Effect.flip(repo.update({ memberId: 1, resource: "a" }, patch)))).toBe(true)
        expect((yield* repo.getById({ memberId: 1, resource: "a" })).version).toBe(1)
      }))

    test("pagination breaks ties on every key column and visits each row once", () =>
      Effect.gen(function*() {
        const { grants: repo } = yield* repositories
        // Every row has the same role: only the key orders them.
        const rows = [grant(2, "b"), grant(1, "b"), grant(2, "a"), grant(1, "c"), grant(1, "a")]
        yield* repo.insertMany(rows)
        const seen: Array<string> = []
        let after: string | undefined
        for (let page = 0; page < 10; page++) {
          const result = yield* repo.paginate(grants.pipe(Query.orderBy("role")), { limit: 2, after })
          seen.push(...result.items.map((g) => `${g.memberId}${g.resource}`))
          if (Option.isNone(result.next)) break
          after = result.next.value
        }
        expect(seen).toEqual(["1a", "1b", "1c", "2a", "2b"])
      }))

    test("updateMany and deleteMany with a limit pick rows by the whole key", () =>
      Effect.gen(function*() {
        const { grants: repo } = yield* repositories
        yield* repo.insertMany([grant(1, "a"), grant(1, "b"), grant(2, "a"), grant(2, "b")])
        const first = grants.pipe(Query.where({ resource: "a" }), Query.orderBy("memberId", "desc"), Query.limit(1))
        expect(yield* repo.updateMany(first, { role: "picked" })).toBe(1)
        expect((yield* repo.getById({ memberId: 2, resource: "a" })).role).toBe("picked")
        expect((yield* repo.getById({ memberId: 1, resource: "a" })).role).toBe("reader")
        expect(yield* repo.deleteMany(grants.pipe(Query.orderBy("resource"), Query.orderBy("memberId"), Query.limit(3))))
          .toBe(3)
        const left = yield* repo.findMany()
        expect(left.map(keyOf)).toEqual([{ memberId: 2, resource: "b" }])
      }))

    test("a key record with a missing, extra or mistyped field, or no record at all, is a ParseError", () =>
      Effect.gen(function*() {
        const { grants: repo } = yield* repositories
        yield* repo.insert(grant(1, "a"))
        const bad: ReadonlyArray<unknown> = [
          { memberId: 1 },
          { memberId: 1, resource: "a", role: "reader" },
          { memberId: "1", resource: "a" },
          { memberId: 1, resource: null },
          JSON.parse(`{"memberId": 1, "resource": "a", "__proto__": {"x": 1}}`),
          1,
          "1,a",
          [1, "a"],
          null,
          undefined,
          {}
        ]
        for (const key of bad) {
          const id = key as Table.Id<typeof Grants>
          expect(isParseError(yield* Effect.flip(repo.findById(id))), `findById ${JSON.stringify(key)}`).toBe(true)
          expect(isParseError(yield* Effect.flip(repo.getById(id)))).toBe(true)
          expect(isParseError(yield* Effect.flip(repo.update(id, { role: "x" })))).toBe(true)
          expect(isParseError(yield* Effect.flip(repo.delete(id)))).toBe(true)
          expect(isParseError(yield* Effect.flip(repo.restore(id)))).toBe(true)
          expect(isParseError(yield* Effect.flip(repo.hardDelete(id)))).toBe(true)
        }
        // Nothing was written by any of them.
        expect(yield* repo.findMany()).toMatchObject([{ memberId: 1, resource: "a", role: "reader", version: 1 }])
      }))
  })
}
