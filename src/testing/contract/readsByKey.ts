/**
 * The contract's reads by key: `findById` and `getById` on a present and a
 * missing key, and a key that fails the schema.
 */
import { assert, describe, expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { isParseError, member, repositories, type Test } from "./shared.js"

/**
 * Registers the reads-by-key part of the contract with the suite's `test`.
 *
 * @since 0.1.0
 * @category suites
 * @internal
 */
export const readsByKey = (test: Test): void => {
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
}
