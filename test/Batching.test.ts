/**
 * Reads by key batched the Effect way, counted on the wire: a proxy keeps
 * the text of every statement run (test/support/statementLog.ts).
 * Concurrent `findById` / `getById` calls of one repository, collected by
 * a batching `Effect.forEach` / `Effect.all`, are one statement per
 * transaction (or one on the pool); each caller gets its own row, `None`
 * or `NotFound`.
 */
import { assert, describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Database from "../src/Database.js"
import * as Repository from "../src/Repository.js"
import { Grants, Members } from "../src/testing/Fixtures.js"
import * as Fixtures from "../src/testing/Fixtures.js"
import * as Admin from "./support/admin.js"
import { type StatementLog, statementLog } from "./support/statementLog.js"
import * as TestDatabase from "./support/TestDatabase.js"

class Log extends Effect.Tag("test/Batching/Log")<Log, StatementLog>() {}

const postgres = Layer.unwrapScoped(Effect.gen(function*() {
  const url = yield* TestDatabase.url
  for (const statement of Fixtures.ddl) yield* Admin.query(url, statement)
  yield* Admin.query(
    url,
    `insert into members (email, name, age, score, created_at, updated_at)
     select 'm' || n || '@example.com', 'Member ' || n, n, n, now(), now() from generate_series(1, 5) n`
  )
  yield* Admin.query(url, "update members set deleted_at = now() where id = 5")
  yield* Admin.query(
    url,
    `insert into grants (member_id, resource, role) values (1, 'a', 'owner'), (1, 'b', 'reader'), (2, 'a', 'guest')`
  )
  const log = yield* statementLog(url)
  return Layer.merge(Database.layer({ url: log.url, maxConnections: 4 }), Layer.succeed(Log, log))
}))

/** The statements `effect` runs that read `table` (reads by key and batches), counted on the wire. */
const reads = <A, E, R>(table: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const log = yield* Log
    const before = log.runs().length
    const exit = yield* Effect.exit(effect)
    const texts = log.runs().slice(before).filter((text) => text.startsWith("SELECT") && text.includes(`FROM "${table}"`))
    return { exit, texts }
  })

const batched = { concurrency: "unbounded", batching: true } as const

layer(postgres, { timeout: 60_000 })("batched reads by key on PostgreSQL", (it) => {
  describe("findById", () => {
    it.effect("concurrent findById calls are one statement; each caller gets its row, a missing or deleted one None", () =>
      Effect.gen(function*() {
        const members = yield* Repository.make(Members)
        const ids = [3, 1, 404, 2, 3, 5]
        const { exit, texts } = yield* reads("members", Effect.forEach(ids, members.findById, batched))
        assert(exit._tag === "Success", String(exit))
        expect(exit.value.map(Option.map((m) => m.email))).toEqual([
          Option.some("m3@example.com"),
          Option.some("m1@example.com"),
          Option.none(),
          Option.some("m2@example.com"),
          Option.some("m3@example.com"),
          Option.none()
        ])
        expect(texts.length).toBe(1)
        expect(texts[0]).toContain("unnest(")
      }))

    it.effect("getById routes NotFound to the callers whose key is missing, and rows to the others", () =>
      Effect.gen(function*() {
        const members = yield* Repository.make(Members)
        const ids = [1, 999, 2, 5]
        const { exit, texts } = yield* reads(
          "members",
          Effect.forEach(ids, (id) => Effect.either(members.getById(id)), batched)
        )
        assert(exit._tag === "Success", String(exit))
        const [one, missing, two, deleted] = exit.value
        assert(one?._tag === "Right" && two?._tag === "Right")
        expect([one.right.id, two.right.id]).toEqual([1, 2])
        assert(missing?._tag === "Left" && missing.left._tag === "NotFound")
        expect(missing.left.key).toBe(999)
        assert(deleted?._tag === "Left" && deleted.left._tag === "NotFound")
        expect(deleted.left.key).toBe(5)
        expect(texts.length).toBe(1)
      }))

    it.effect("Effect.all of findById and getById calls is one statement", () =>
      Effect.gen(function*() {
        const members = yield* Repository.make(Members)
        const { exit, texts } = yield* reads(
          "members",
          Effect.all([members.findById(1), members.getById(2), members.findById(3)], batched)
        )
        assert(exit._tag === "Success", String(exit))
        expect([Option.getOrThrow(exit.value[0]).id, exit.value[1].id, Option.getOrThrow(exit.value[2]).id]).toEqual([1, 2, 3])
        expect(texts.length).toBe(1)
      }))

    it.effect("with request batching off, or without a batching forEach, each call is its own statement", () =>
      Effect.gen(function*() {
        const members = yield* Repository.make(Members)
        const off = yield* reads("members", Effect.forEach([1, 2, 3], members.findById, batched).pipe(Effect.withRequestBatching(false)))
        assert(off.exit._tag === "Success")
        expect(off.exit.value.map((m) => Option.getOrThrow(m).id)).toEqual([1, 2, 3])
        expect(off.texts.length).toBe(3)
        const plain = yield* reads("members", Effect.forEach([1, 2, 3], members.findById, { concurrency: "unbounded" }))
        assert(plain.exit._tag === "Success")
        expect(plain.exit.value.map((m) => Option.getOrThrow(m).id)).toEqual([1, 2, 3])
        expect(plain.texts.length).toBe(3)
        // A batch of one is the plain read by key.
        expect(plain.texts.every((text) => !text.includes("unnest("))).toBe(true)
      }))

    it.effect("composite keys are batched too", () =>
      Effect.gen(function*() {
        const grants = yield* Repository.make(Grants)
        const keys = [
          { memberId: 1, resource: "b" },
          { memberId: 2, resource: "b" },
          { memberId: 2, resource: "a" },
          { memberId: 1, resource: "a" }
        ]
        const { exit, texts } = yield* reads("grants", Effect.forEach(keys, grants.findById, batched))
        assert(exit._tag === "Success", String(exit))
        expect(exit.value.map(Option.map((g) => g.role))).toEqual([
          Option.some("reader"),
          Option.none(),
          Option.some("guest"),
          Option.some("owner")
        ])
        expect(texts.length).toBe(1)
      }))

    it.effect("a key that fails its schema fails its own caller before anything is sent; the others are read", () =>
      Effect.gen(function*() {
        const grants = yield* Repository.make(Grants)
        const keys: ReadonlyArray<unknown> = [{ memberId: 1, resource: "a" }, { memberId: 1 }, { memberId: 2, resource: "a", x: 1 }]
        const { exit, texts } = yield* reads(
          "grants",
          Effect.forEach(keys, (key) => Effect.either(grants.findById(key as never)), batched)
        )
        assert(exit._tag === "Success", String(exit))
        const [good, missingField, extraField] = exit.value
        assert(good?._tag === "Right")
        expect(Option.getOrThrow(good.right).role).toBe("owner")
        expect(missingField?._tag === "Left" && missingField.left._tag).toBe("ParseError")
        expect(extraField?._tag === "Left" && extraField.left._tag).toBe("ParseError")
        // Only the good key's read was sent, as a batch of one.
        expect(texts.length).toBe(1)
        expect(texts[0]).not.toContain("unnest(")
        const { texts: none } = yield* reads("grants", Effect.either(grants.findById({ memberId: "1", resource: "a" } as never)))
        expect(none).toEqual([])
      }))
  })

  describe("inside transactions", () => {
    it.effect("reads inside a transaction are one statement on its connection and see its uncommitted rows", () =>
      Effect.gen(function*() {
        const members = yield* Repository.make(Members)
        const { exit, texts } = yield* reads(
          "members",
          Database.transaction(Effect.gen(function*() {
            const inserted = yield* members.insert({
              email: "new@example.com",
              name: "New",
              age: null,
              score: 0,
              tags: [],
              profile: {}
            })
            yield* members.delete(1)
            const found = yield* Effect.forEach([inserted.id, 1, 2], members.findById, batched)
            return yield* Effect.fail({ rollback: found })
          }))
        )
        assert(exit._tag === "Failure")
        const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
        assert(failure !== undefined && "rollback" in failure)
        expect(failure.rollback.map(Option.map((m) => m.email))).toEqual([
          Option.some("new@example.com"),
          Option.none(),
          Option.some("m2@example.com")
        ])
        // The insert's RETURNING does not read by key: one batched SELECT.
        expect(texts.filter((text) => text.includes("unnest(")).length).toBe(1)
        // Rolled back: the pool sees member 1 again, and not the new one.
        expect(Option.isSome(yield* members.findById(1))).toBe(true)
      }))

    it.effect("reads from two transactions in one batch each run in their own transaction", () =>
      Effect.gen(function*() {
        const members = yield* Repository.make(Members)
        // Each transaction deletes a different member, then reads both.
        const inTransaction = (deleted: number) =>
          Database.transaction(Effect.gen(function*() {
            yield* members.delete(deleted)
            const found = yield* Effect.forEach([1, 2], members.findById, batched)
            return yield* Effect.fail({ rollback: found.map(Option.isSome) })
          })).pipe(Effect.catchAll((e) => Effect.succeed((e as { rollback: ReadonlyArray<boolean> }).rollback)))
        const { exit, texts } = yield* reads(
          "members",
          Effect.all([inTransaction(1), inTransaction(2), Effect.map(members.findById(1), Option.isSome)], batched)
        )
        assert(exit._tag === "Success", String(exit))
        expect(exit.value).toEqual([[false, true], [true, false], true])
        // One batch per transaction, and the pool's read of one key.
        expect(texts.filter((text) => text.includes("unnest(")).length).toBe(2)
      }))
  })
})
