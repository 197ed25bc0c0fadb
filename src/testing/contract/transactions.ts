/**
 * The contract's transactions: aborted transactions, savepoints, rollback
 * across tables, options a nested transaction cannot change, and read-only
 * transactions.
 */
import { assert, describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Database from "../../Database.js"
import * as DatabaseError from "../../DatabaseError.js"
import * as Query from "../../Query.js"
import type * as Table from "../../Table.js"
import { Notes, Settings } from "../Fixtures.js"
import { emails, member, members, repositories, type Test } from "./shared.js"

/**
 * Registers the transactions part of the contract with the suite's `test`.
 *
 * @since 0.1.0
 * @category suites
 * @internal
 */
export const transactions = (test: Test): void => {
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
}

/**
 * Registers the contract's read-only transactions on a `database` layer of
 * their own, outside the sandbox.
 *
 * @since 0.1.0
 * @category suites
 * @internal
 */
export const readOnlyTransactions = <E>(name: string, database: Layer.Layer<Database.Database, E>): void => {
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
