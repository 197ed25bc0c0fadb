/**
 * The contract's batched reads by key: concurrent `findById` / `getById`
 * calls collected by a batching `Effect.forEach` or `Effect.all` give each
 * caller its own answer (its row, `None`, `NotFound`), see the rows of
 * their transaction, and do the same with request batching off. How many
 * statements they cost is PostgreSQL's business (test/Batching.test.ts).
 */
import { assert, describe, expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Database from "../../Database.js"
import { member, repositories, type Test } from "./shared.js"

const batched = { concurrency: "unbounded", batching: true } as const

/**
 * Registers the batched-reads part of the contract with the suite's `test`.
 *
 * @since 0.1.0
 * @category suites
 * @internal
 */
export const batchedReads = (test: Test): void => {
  describe("batched reads by key", () => {
    test("each caller gets its own row; a missing or soft-deleted key gets None; a key given twice gets its row twice", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const [a, b, c] = yield* repo.insertMany([member(1), member(2), member(3)])
        yield* repo.delete(c!.id)
        const ids = [b!.id, a!.id, c!.id, a!.id + 1000, b!.id]
        const expected = [b!.email, a!.email, undefined, undefined, b!.email]
        const found = yield* Effect.forEach(ids, repo.findById, batched)
        expect(found.map((row) => Option.getOrUndefined(Option.map(row, (m) => m.email)))).toEqual(expected)
        const unbatched = yield* Effect.forEach(ids, repo.findById, batched).pipe(Effect.withRequestBatching(false))
        expect(unbatched.map((row) => Option.getOrUndefined(Option.map(row, (m) => m.email)))).toEqual(expected)
      }))

    test("getById fails only the callers whose key is missing, with NotFound naming their key", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const a = yield* repo.insert(member(1))
        const results = yield* Effect.forEach([a.id, 777_777, a.id], (id) => Effect.either(repo.getById(id)), batched)
        const [first, missing, again] = results
        assert(first?._tag === "Right" && again?._tag === "Right")
        expect([first.right.email, again.right.email]).toEqual([a.email, a.email])
        assert(missing?._tag === "Left" && missing.left._tag === "NotFound")
        expect(missing.left.key).toBe(777_777)
      }))

    test("composite keys are routed by their whole key", () =>
      Effect.gen(function*() {
        const { grants } = yield* repositories
        yield* grants.insertMany([
          { memberId: 1, resource: "a", role: "owner" },
          { memberId: 1, resource: "b", role: "reader" },
          { memberId: 2, resource: "a", role: "guest" }
        ])
        const keys = [
          { memberId: 2, resource: "a" },
          { memberId: 2, resource: "b" },
          { memberId: 1, resource: "b" },
          { memberId: 1, resource: "a" }
        ]
        const found = yield* Effect.all(keys.map((key) => grants.findById(key)), batched)
        expect(found.map((row) => Option.getOrUndefined(Option.map(row, (g) => g.role)))).toEqual([
          "guest",
          undefined,
          "reader",
          "owner"
        ])
      }))

    test("reads in a nested transaction see its uncommitted rows, and reads after its rollback do not", () =>
      Effect.gen(function*() {
        const { members: repo } = yield* repositories
        const a = yield* repo.insert(member(1))
        class Rollback {
          constructor(readonly found: ReadonlyArray<boolean>, readonly b: number) {}
        }
        const inside = yield* Database.transaction(Effect.gen(function*() {
          const b = yield* repo.insert(member(2))
          yield* repo.delete(a.id)
          const found = yield* Effect.forEach([a.id, b.id], repo.findById, batched)
          return yield* Effect.fail(new Rollback(found.map(Option.isSome), b.id))
        })).pipe(Effect.flip)
        assert(inside instanceof Rollback)
        expect(inside.found).toEqual([false, true])
        const after = yield* Effect.forEach([a.id, inside.b], repo.findById, batched)
        expect(after.map(Option.isSome)).toEqual([true, false])
      }))
  })
}
