/**
 * What only the in-memory database needs to show: its transactions (one at
 * a time, isolated from readers, rolled back on failure and interruption),
 * seeding, LISTEN/NOTIFY, and the defects it raises where it cannot answer
 * the way PostgreSQL would. Everything both databases share is in the
 * contract suite (test/Memory.contract.test.ts).
 */
import * as Model from "@effect/sql/Model"
import * as Statement from "@effect/sql/Statement"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Database from "../src/Database.js"
import * as DatabaseError from "../src/DatabaseError.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Table from "../src/Table.js"
import { Members, Notes, Settings } from "../src/testing/Fixtures.js"
import * as Relations from "../src/testing/contract/relations.js"

type MemberInsert = Table.Insert<typeof Members>
const member = (n: number, overrides: Partial<MemberInsert> = {}): MemberInsert =>
  ({
    email: `member${n}@example.com`,
    name: `Member ${n}`,
    age: n,
    score: n,
    tags: [],
    profile: {},
    ...overrides
  }) as MemberInsert

const members = Repository.make(Members)

/** The message of the defect an effect died with. */
const defect = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    assert(Exit.isFailure(exit), "expected the effect to die")
    const dies = Chunk.toReadonlyArray(Cause.defects(exit.cause))
    assert(dies.length === 1, `expected one defect, got ${Cause.pretty(exit.cause)}`)
    const error = dies[0]
    return error instanceof Error ? error.message : String(error)
  })

// A fiber is suspended when it waits (for a lock, a deferred); the loop
// only lets the scheduler run the other fibers first.
const suspended = (fiber: Fiber.RuntimeFiber<unknown, unknown>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100; i++) {
      const status = yield* Fiber.status(fiber)
      if (status._tag === "Suspended") return true
      yield* Effect.yieldNow()
    }
    return false
  })

describe("in-memory database: transactions", () => {
  it.effect("transactions run one at a time: the second starts after the first committed", () =>
    Effect.gen(function*() {
      const repo = yield* members
      const firstWrote = yield* Deferred.make<void>()
      const finishFirst = yield* Deferred.make<void>()
      const secondStarted = yield* Ref.make(false)
      const first = yield* Effect.fork(Database.transaction(Effect.gen(function*() {
        yield* repo.insert(member(1))
        yield* Deferred.succeed(firstWrote, undefined)
        yield* Deferred.await(finishFirst)
      })))
      yield* Deferred.await(firstWrote)
      const second = yield* Effect.fork(Database.transaction(Effect.gen(function*() {
        yield* Ref.set(secondStarted, true)
        return yield* repo.count()
      })))
      expect(yield* suspended(second)).toBe(true)
      expect(yield* Ref.get(secondStarted)).toBe(false)
      yield* Deferred.succeed(finishFirst, undefined)
      yield* Fiber.join(first)
      // The second transaction saw the first one's committed row.
      expect(yield* Fiber.join(second)).toBe(1)
    }).pipe(Effect.provide(Database.layerMemory())))

  it.effect("readers outside a transaction see none of its writes until it commits", () =>
    Effect.gen(function*() {
      const repo = yield* members
      const kept = yield* repo.insert(member(1))
      const wrote = yield* Deferred.make<void>()
      const commit = yield* Deferred.make<void>()
      const writer = yield* Effect.fork(Database.transaction(Effect.gen(function*() {
        yield* repo.insert(member(2))
        yield* repo.update(kept.id, { name: "renamed" })
        yield* Deferred.succeed(wrote, undefined)
        yield* Deferred.await(commit)
      })))
      yield* Deferred.await(wrote)
      expect(yield* repo.count()).toBe(1)
      expect((yield* repo.getById(kept.id)).name).toBe("Member 1")
      yield* Deferred.succeed(commit, undefined)
      yield* Fiber.join(writer)
      expect(yield* repo.count()).toBe(2)
      expect((yield* repo.getById(kept.id)).name).toBe("renamed")
    }).pipe(Effect.provide(Database.layerMemory())))

  it.effect("a write outside any transaction waits for the running transaction", () =>
    Effect.gen(function*() {
      const repo = yield* members
      const started = yield* Deferred.make<void>()
      const finish = yield* Deferred.make<void>()
      const transaction = yield* Effect.fork(Database.transaction(Effect.zipRight(
        Deferred.succeed(started, undefined),
        Deferred.await(finish)
      )))
      yield* Deferred.await(started)
      const outside = yield* Effect.fork(repo.insert(member(1)))
      expect(yield* suspended(outside)).toBe(true)
      yield* Deferred.succeed(finish, undefined)
      yield* Fiber.join(transaction)
      expect((yield* Fiber.join(outside)).email).toBe("member1@example.com")
    }).pipe(Effect.provide(Database.layerMemory())))

  it.effect("a failed transaction restores every table it wrote, row for row", () =>
    Effect.gen(function*() {
      const repo = yield* members
      const notes = yield* Repository.make(Notes)
      const settings = yield* Repository.make(Settings)
      const everything = Effect.all([
        repo.findMany(Query.make(Members).pipe(Query.withDeleted, Query.orderBy("id"))),
        notes.findMany(Query.make(Notes).pipe(Query.orderBy("body"))),
        settings.findMany(Query.make(Settings).pipe(Query.orderBy("key")))
      ])
      const before = yield* everything
      const error = yield* Effect.flip(Database.transaction(Effect.gen(function*() {
        const [a, b] = yield* repo.insertMany([member(10), member(11)])
        yield* repo.update(1, { name: "changed", tags: ["x"] })
        yield* repo.delete(2)
        yield* repo.hardDelete(a!.id)
        yield* repo.restore(3)
        yield* repo.updateMany(Query.make(Members), { score: 0 })
        yield* notes.deleteMany(Query.make(Notes))
        yield* settings.upsert({ key: "theme", value: 9, label: "dark", version: 1 } as Table.Insert<typeof Settings>, {
          onConflict: ["key"]
        })
        yield* Database.transaction(repo.update(b!.id, { name: "nested" }))
        return yield* Effect.fail("undo everything" as const)
      })))
      expect(error).toBe("undo everything")
      expect(yield* everything).toEqual(before)
    }).pipe(
      Effect.provide(Database.layerMemory({
        seed: [
          // Member 3 starts soft-deleted, so that restore has work to undo.
          Database.seed(Members, [member(1), member(2), member(3, { deletedAt: new Date(0) })]),
          Database.seed(Notes, [{ memberId: 1, body: "first" }, { memberId: 2, body: "second" }] as Array<
            Table.Insert<typeof Notes>
          >),
          Database.seed(Settings, [{ key: "theme", value: 1, label: "light", version: 1 }] as Array<
            Table.Insert<typeof Settings>
          >)
        ]
      }))
    ))

  it.effect("an interrupted transaction rolls back and lets the next one run", () =>
    Effect.gen(function*() {
      const repo = yield* members
      const wrote = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(Database.transaction(Effect.gen(function*() {
        yield* repo.insert(member(1))
        yield* Deferred.succeed(wrote, undefined)
        return yield* Effect.never
      })))
      yield* Deferred.await(wrote)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(yield* repo.count()).toBe(0)
      const next = yield* Database.transaction(repo.insert(member(2)))
      expect(next.email).toBe("member2@example.com")
      expect(yield* repo.count()).toBe(1)
    }).pipe(Effect.provide(Database.layerMemory())))

  it.effect("an interrupted savepoint undoes its own rows; its parent keeps the ones written before", () =>
    Effect.gen(function*() {
      const repo = yield* members
      const inner = yield* Deferred.make<void>()
      const result = yield* Database.transaction(Effect.gen(function*() {
        yield* repo.insert(member(1))
        const child = yield* Effect.fork(Database.transaction(Effect.gen(function*() {
          yield* repo.insert(member(2))
          yield* Deferred.succeed(inner, undefined)
          return yield* Effect.never
        })))
        yield* Deferred.await(inner)
        yield* Fiber.interrupt(child)
        return (yield* repo.findMany(Query.make(Members).pipe(Query.orderBy("id")))).map((r) => r.email)
      }))
      expect(result).toEqual(["member1@example.com"])
      expect(yield* repo.count()).toBe(1)
    }).pipe(Effect.provide(Database.layerMemory())))

  it.effect("retry runs the whole body again on a retryable failure, in a fresh transaction", () =>
    Effect.gen(function*() {
      const repo = yield* members
      const attempts = yield* Ref.make(0)
      const email = yield* Database.transaction(
        Effect.gen(function*() {
          const attempt = yield* Ref.updateAndGet(attempts, (n) => n + 1)
          const row = yield* repo.insert(member(attempt))
          if (attempt < 3) return yield* Effect.fail(new DatabaseError.SerializationFailure({ sqlState: "40001" }))
          return row.email
        }),
        { retry: Schedule.recurs(5) }
      )
      expect(yield* Ref.get(attempts)).toBe(3)
      expect(email).toBe("member3@example.com")
      // The rows of the failed attempts were rolled back.
      expect((yield* repo.findMany()).map((r) => r.email)).toEqual(["member3@example.com"])
    }).pipe(Effect.provide(Database.layerMemory())))

  it.effect("a fiber that outlives its transaction cannot write through it", () =>
    Effect.gen(function*() {
      const repo = yield* members
      const go = yield* Deferred.make<void>()
      const escaped = yield* Database.transaction(
        Effect.forkDaemon(Effect.zipRight(Deferred.await(go), repo.insert(member(1))))
      )
      yield* Deferred.succeed(go, undefined)
      const message = yield* defect(Fiber.join(escaped))
      expect(message).toMatch(/transaction that has already ended/)
      expect(yield* repo.count()).toBe(0)
    }).pipe(Effect.provide(Database.layerMemory())))
})

describe("in-memory database: seeding", () => {
  it.effect("starts with the seed rows, inserted like any insert: keys, defaults and timestamps from Clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2030, 5, 1))
      const program = Effect.gen(function*() {
        const repo = yield* members
        const notes = yield* Repository.make(Notes)
        const rows = yield* repo.findMany(Query.make(Members).pipe(Query.orderBy("id")))
        expect(rows.map((r) => [r.id, r.email, r.version])).toEqual([
          [1, "ann@example.com", 1],
          [2, "bob@example.com", 1]
        ])
        expect(DateTime.toEpochMillis(rows[0]!.createdAt)).toBe(Date.UTC(2030, 5, 1))
        const note = Option.getOrThrow(yield* notes.findOne())
        expect(note.pinned).toBe(false)
        expect(note.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
        // The next serial value follows the seeded ones.
        expect((yield* repo.insert(member(3))).id).toBe(3)
      })
      yield* program.pipe(Effect.provide(Database.layerMemory({
        seed: [
          Database.seed(Members, [
            member(1, { email: "ann@example.com", name: "Ann" }),
            member(2, { email: "bob@example.com", name: "Bob" })
          ]),
          Database.seed(Notes, [{ memberId: 1, body: "hello" } as Table.Insert<typeof Notes>])
        ]
      })))
    }))

  it.effect("every build of the layer is a new database", () =>
    Effect.gen(function*() {
      const count = Effect.flatMap(members, (repo) => repo.count())
      const layer = Database.layerMemory({ seed: [Database.seed(Members, [member(1)])] })
      const write = Effect.flatMap(members, (repo) => repo.insert(member(2)))
      yield* Effect.zipRight(write, count).pipe(Effect.provide(layer))
      expect(yield* count.pipe(Effect.provide(layer))).toBe(1)
    }))

  it.effect("seed rows that break a unique key are a defect that names the table", () =>
    Effect.gen(function*() {
      const message = yield* defect(
        Effect.provide(members, Database.layerMemory({ seed: [Database.seed(Members, [member(1), member(1)])] }))
      )
      expect(message).toMatch(/seed rows of table "members" were refused/)
      expect(message).toMatch(/members_email_key/)
    }))
})

describe("in-memory database: what it cannot do is a defect, never a wrong answer", () => {
  // A real @effect/sql statement; its compiler is all the fake looks at.
  const sql = Statement.make(Effect.dieMessage("no connection"), Statement.makeCompilerSqlite(), [], undefined)

  it.effect("raw SQL", () =>
    Effect.gen(function*() {
      const repo = yield* members
      const message = yield* defect(repo.raw(sql`select * from members where name = ${"Ann"}`))
      expect(message).toBe("not supported by the in-memory database: raw SQL (select * from members where name = ?)")
    }).pipe(Effect.provide(Database.layerMemory())))

  it.effect("upsert on a conflict target that the table definition does not declare", () =>
    Effect.gen(function*() {
      const repo = yield* members
      const message = yield* defect(repo.upsert(member(1), { onConflict: ["name"] }))
      expect(message).toMatch(/^not supported by the in-memory database: upsert onConflict \(name\)/)
      expect(yield* repo.count()).toBe(0)
    }).pipe(Effect.provide(Database.layerMemory())))

  class Flag extends Model.Class<Flag>("Flag")({
    id: Model.Generated(Schema.Number),
    enabled: Model.Generated(Schema.Boolean),
    label: Schema.String
  }) {}

  it.effect("a column that gets no value and has no default the fake knows of", () =>
    Effect.gen(function*() {
      const flags = yield* Repository.make(Table.make(Flag, { name: "flags", primaryKey: "id" }))
      const message = yield* defect(flags.insert({ label: "beta" }))
      expect(message).toMatch(/column "enabled" of table "flags" gets no value and has no known default/)
    }).pipe(Effect.provide(Database.layerMemory())))

  it.effect("declared generators and defaults fill the columns an insert leaves out", () =>
    Effect.gen(function*() {
      let next = 100
      const Flags = Table.make(Flag, {
        name: "flags",
        primaryKey: "id",
        generated: { id: () => next++ },
        defaults: { enabled: () => true }
      })
      const flags = yield* Repository.make(Flags)
      const rows = yield* flags.insertMany([{ label: "a" }, { label: "b" }])
      expect(rows.map((r) => [r.id, r.enabled, r.label])).toEqual([[100, true, "a"], [101, true, "b"]])
    }).pipe(Effect.provide(Database.layerMemory())))
})

describe("in-memory database: the rest of the Database service", () => {
  const take = (stream: Stream.Stream<string, DatabaseError.DatabaseError>, n: number) =>
    Effect.map(Stream.runCollect(Stream.take(stream, n)), Chunk.toReadonlyArray)

  it.scoped("notify delivers at commit, once per distinct payload, and never after a rollback", () =>
    Effect.gen(function*() {
      const messages = yield* Database.subscribe("orders")
      yield* Database.notify("orders", "outside")
      yield* Database.transaction(Effect.zipRight(Database.notify("orders", "rolled back"), Effect.fail("no"))).pipe(Effect.ignore)
      yield* Database.transaction(Effect.gen(function*() {
        yield* Database.notify("orders", "committed")
        yield* Database.notify("orders", "committed")
        yield* Database.notify("other", "elsewhere")
        yield* Database.transaction(Effect.zipRight(Database.notify("orders", "savepoint undone"), Effect.fail("no"))).pipe(
          Effect.ignore
        )
        yield* Database.transaction(Database.notify("orders", "savepoint kept"))
      }))
      yield* Database.notify("orders", "last")
      expect(yield* take(messages, 4)).toEqual(["outside", "committed", "savepoint kept", "last"])
    }).pipe(Effect.provide(Database.layerMemory())))

  it.effect("notify refuses what pg_notify refuses, with SQLSTATE 22023", () =>
    Effect.gen(function*() {
      const empty = yield* Effect.flip(Database.notify("", "x"))
      assert(empty._tag === "QueryError")
      expect(empty.sqlState).toBe("22023")
      const long = yield* Effect.flip(Database.notify("c", "x".repeat(8000)))
      assert(long._tag === "QueryError")
      expect(long.serverMessage).toBe("payload string too long")
      yield* Database.notify("c".repeat(63), "x".repeat(7999))
    }).pipe(Effect.provide(Database.layerMemory())))

  it.effect("ping, stats and withConnection", () =>
    Effect.gen(function*() {
      expect(Duration.toMillis(yield* Database.ping)).toBe(0)
      expect(yield* Database.stats).toEqual({ total: 0, idle: 0, active: 0, waiting: 0, max: 1 })
      const repo = yield* members
      expect((yield* Database.withConnection(repo.insert(member(1)))).id).toBe(1)
      expect(yield* repo.count()).toBe(1)
    }).pipe(Effect.provide(Database.layerMemory())))

  it.effect("deferConstraints: ALL changes nothing; a named constraint is not deferrable (42809), as on Postgres", () =>
    Effect.gen(function*() {
      const repo = yield* members
      yield* repo.insert(member(1))
      const all = yield* Effect.flip(Database.transaction(Effect.gen(function*() {
        yield* Database.deferConstraints()
        // Checked at once all the same, as for a NOT DEFERRABLE constraint.
        return yield* repo.insert(member(2, { email: "member1@example.com" }))
      })))
      expect(all._tag).toBe("UniqueViolation")
      const named = yield* Effect.flip(Database.transaction(Database.deferConstraints(["members_email_key"])))
      assert(named._tag === "QueryError")
      expect(named.sqlState).toBe("42809")
      expect(yield* defect(Database.deferConstraints())).toBe("Database.deferConstraints must run inside Database.transaction")
    }).pipe(Effect.provide(Database.layerMemory())))
})

describe("in-memory database: reads by key with includes outside a transaction", () => {
  it.effect("batched and single getById / findById load their includes, each caller its own", () =>
    Effect.gen(function*() {
      const authors = yield* Repository.make(Relations.Authors)
      const posts = yield* Repository.make(Relations.Posts)
      const [ann, bob] = yield* authors.insertMany([{ name: "Ann" }, { name: "Bob" }])
      yield* posts.insertMany([
        { authorId: ann!.id, title: "a2", rank: 2 },
        { authorId: ann!.id, title: "a1", rank: 1 },
        { authorId: bob!.id, title: "b1", rank: 1 }
      ])
      const byRank = (q: Query.Query<Table.Row<typeof Relations.Authors>, Table.RelationsOf<typeof Relations.Authors>>) =>
        q.pipe(Query.include("posts", (p) => p.pipe(Query.orderBy("rank"))))
      const single = yield* authors.getById(ann!.id, byRank)
      expect(single.posts.map((p) => p.title)).toEqual(["a1", "a2"])
      const batched = yield* Effect.forEach([bob!.id, ann!.id, 404], (id) => authors.findById(id, byRank), { batching: true })
      expect(batched.map((row) => Option.getOrUndefined(Option.map(row, (a) => a.posts.map((p) => p.title))))).toEqual([
        ["b1"],
        ["a1", "a2"],
        undefined
      ])
      const missing = yield* Effect.flip(authors.getById(404, byRank))
      assert(missing._tag === "NotFound")
      expect(missing.key).toBe(404)
    }).pipe(Effect.provide(Database.layerMemory())))
})
