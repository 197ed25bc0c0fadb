/**
 * The contract's soft delete and hard delete: `delete`, `restore`,
 * `hardDelete` and `deleteMany`, and what reads see afterwards.
 */
import { describe, expect } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Query from "../../Query.js"
import type * as Table from "../../Table.js"
import { Notes } from "../Fixtures.js"
import { ids, member, members, repositories, type Test } from "./shared.js"

/**
 * Registers the soft-delete and hard-delete part of the contract with the suite's `test`.
 *
 * @since 0.1.0
 * @category suites
 * @internal
 */
export const softDelete = (test: Test): void => {
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
}
