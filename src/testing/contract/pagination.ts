/**
 * The contract's pagination and streams: keyset pages visit every row once,
 * also while rows are inserted, cursors are checked, and streams yield the
 * query's rows in order.
 */
import { assert, describe, expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Query from "../../Query.js"
import * as Repository from "../../Repository.js"
import { emails, ids, member, members, repositories, type Test } from "./shared.js"

/**
 * Registers the pagination-and-streams part of the contract with the suite's `test`.
 *
 * @since 0.1.0
 * @category suites
 * @internal
 */
export const pagination = (test: Test): void => {
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
}
