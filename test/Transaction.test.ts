import { assert, describe, expect, it, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlResolver from "@effect/sql/SqlResolver"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Database from "../src/Database.js"
import * as DatabaseError from "../src/DatabaseError.js"
import * as Admin from "./support/admin.js"
import * as TestDatabase from "./support/TestDatabase.js"
import { parentName, recordingTracer } from "./support/tracer.js"

const typed = <A, R>(effect: Effect.Effect<A, import("@effect/sql/SqlError").SqlError, R>) =>
  Effect.mapError(effect, DatabaseError.fromSqlError)

const count = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ n: number }>`select count(*)::int as n from ${sql(table)}`.pipe(Effect.map((rows) => rows[0]!.n)))

const poolIsIdle = Effect.gen(function*() {
  const stats = yield* Database.stats
  expect(stats.active).toBe(0)
  expect(stats.idle).toBe(stats.total)
})

layer(TestDatabase.layer({ maxConnections: 4 }), { excludeTestServices: true })("Database.transaction", (it) => {
  it.effect("setup", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`create table items (id int primary key, label text not null)`
      yield* sql`create table pairs (a int not null, b int not null)`
    }))

  it.effect("commits the body's writes", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from items`
      const result = yield* Database.transaction(Effect.gen(function*() {
        yield* sql`insert into items values (1, 'one')`
        yield* sql`insert into items values (2, 'two')`
        return "done"
      }))
      expect(result).toBe("done")
      expect(yield* count("items")).toBe(2)
      yield* poolIsIdle
    }))

  it.effect("rolls back when the body fails, and the failure is the body's", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from items`
      const error = yield* Database.transaction(Effect.gen(function*() {
        yield* sql`insert into items values (1, 'one')`
        return yield* Effect.fail("business rule broken" as const)
      })).pipe(Effect.flip)
      expect(error).toBe("business rule broken")
      expect(yield* count("items")).toBe(0)
      yield* poolIsIdle
    }))

  it.effect("rolls back when the body dies", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from items`
      const exit = yield* Effect.exit(Database.transaction(Effect.gen(function*() {
        yield* sql`insert into items values (1, 'one')`
        return yield* Effect.die(new Error("bug"))
      })))
      assert(Exit.isFailure(exit))
      expect(exit.cause._tag).toBe("Die")
      expect(yield* count("items")).toBe(0)
      yield* poolIsIdle
    }))

  it.effect("rolls back when the fiber is interrupted", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from items`
      const inserted = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(Database.transaction(Effect.gen(function*() {
        yield* sql`insert into items values (1, 'one')`
        yield* Deferred.succeed(inserted, undefined)
        return yield* Effect.never
      })))
      yield* Deferred.await(inserted)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(yield* count("items")).toBe(0)
      yield* poolIsIdle
    }))

  it.effect("each isolation level and mode is really set, checked with current_setting", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const settings = sql<{ isolation: string; read_only: string; deferrable: string }>`
        select current_setting('transaction_isolation') as isolation,
               current_setting('transaction_read_only') as read_only,
               current_setting('transaction_deferrable') as deferrable`.pipe(Effect.map((rows) => rows[0]))
      expect(yield* Database.transaction(settings, { isolation: "read committed" })).toMatchObject({
        isolation: "read committed"
      })
      expect(yield* Database.transaction(settings, { isolation: "repeatable read" })).toMatchObject({
        isolation: "repeatable read"
      })
      expect(yield* Database.transaction(settings, { isolation: "serializable" })).toMatchObject({
        isolation: "serializable",
        read_only: "off"
      })
      expect(yield* Database.transaction(settings, { isolation: "serializable", readOnly: true, deferrable: true }))
        .toEqual({ isolation: "serializable", read_only: "on", deferrable: "on" })
      expect(yield* Database.transaction(settings)).toEqual({
        isolation: "read committed",
        read_only: "off",
        deferrable: "off"
      })
    }))

  it.effect("a write in a read-only transaction fails with ReadOnlyViolation and writes nothing", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from items`
      const error = yield* Database.transaction(typed(sql`insert into items values (1, 'one')`), { readOnly: true })
        .pipe(Effect.flip)
      expect(error._tag).toBe("ReadOnlyViolation")
      expect((error as DatabaseError.ReadOnlyViolation).sqlState).toBe("25006")
      expect(yield* count("items")).toBe(0)
    }))

  it.effect("plain sql templates, SqlSchema and SqlResolver inside the body run on the transaction's connection", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const Txid = Schema.Struct({ txid: Schema.String })
      const viaSchema = SqlSchema.single({
        Request: Schema.Void,
        Result: Txid,
        execute: () => sql`select txid_current()::text as txid`
      })
      const resolver = yield* SqlResolver.ordered("Txid", {
        Request: Schema.Number,
        Result: Txid,
        execute: (ids) => sql`select txid_current()::text as txid from unnest(${ids}::int[])`
      })
      const ids = yield* Database.transaction(Effect.gen(function*() {
        const plain = (yield* sql<{ txid: string }>`select txid_current()::text as txid`)[0]!.txid
        const schema = (yield* viaSchema(undefined)).txid
        const resolved = yield* Effect.all([resolver.execute(1), resolver.execute(2)], { batching: true })
        return [plain, schema, ...resolved.map((r) => r.txid)]
      }))
      expect(new Set(ids).size).toBe(1)
      const outside = (yield* sql<{ txid: string }>`select txid_current()::text as txid`)[0]!.txid
      expect(outside).not.toBe(ids[0])
    }))

  it.effect("a nested transaction is a savepoint: its failure rolls back only its own work", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from items`
      yield* Database.transaction(Effect.gen(function*() {
        yield* sql`insert into items values (1, 'outer')`
        const inner = yield* Database.transaction(Effect.gen(function*() {
          yield* sql`insert into items values (2, 'inner')`
          return yield* Effect.fail("inner failed" as const)
        })).pipe(Effect.flip)
        expect(inner).toBe("inner failed")
        yield* sql`insert into items values (3, 'after')`
      }))
      const rows = yield* sql<{ id: number }>`select id from items order by id`
      expect(rows.map((r) => r.id)).toEqual([1, 3])
    }))

  it.effect("concurrent children take turns: exactly the succeeding children's rows remain", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from items`
      const child = (i: number) =>
        Database.transaction(Effect.gen(function*() {
          yield* sql`insert into items values (${i}, 'child')`
          yield* Effect.yieldNow()
          yield* sql`insert into items values (${i + 100}, 'child')`
          if (i % 2 === 1) return yield* Effect.fail(`child ${i} failed`)
          return i
        })).pipe(Effect.either)
      const results = yield* Database.transaction(
        Effect.all(Array.from({ length: 10 }, (_, i) => child(i)), { concurrency: "unbounded" })
      )
      expect(results.filter((r) => r._tag === "Right").length).toBe(5)
      const rows = yield* sql<{ id: number }>`select id from items order by id`
      expect(rows.map((r) => r.id)).toEqual([0, 2, 4, 6, 8, 100, 102, 104, 106, 108])
      yield* poolIsIdle
    }))

  it.effect("a statement of the parent waits while a child holds the connection", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from items`
      yield* Database.transaction(
        Effect.all([
          Database.transaction(Effect.gen(function*() {
            yield* sql`insert into items values (1, 'child')`
            yield* Effect.yieldNow()
            return yield* Effect.fail("child fails")
          })).pipe(Effect.ignore),
          sql`insert into items values (2, 'parent')`
        ], { concurrency: "unbounded" })
      )
      const rows = yield* sql<{ id: number }>`select id from items order by id`
      expect(rows.map((r) => r.id)).toEqual([2])
    }))

  it.effect("the SqlClient's own withTransaction has the same safe behaviour", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from items`
      const child = (i: number) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`insert into items values (${i}, 'child')`
          yield* Effect.yieldNow()
          if (i % 2 === 1) return yield* Effect.fail(`child ${i} failed`)
        })).pipe(Effect.either)
      yield* sql.withTransaction(Effect.all([0, 1, 2, 3].map(child), { concurrency: "unbounded" }))
      const rows = yield* sql<{ id: number }>`select id from items order by id`
      expect(rows.map((r) => r.id)).toEqual([0, 2])
    }))

  it.effect("a nested transaction asking for another isolation level fails before any SQL is sent", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from items`
      let ran = false
      const error = yield* Database.transaction(Effect.gen(function*() {
        yield* sql`insert into items values (1, 'outer')`
        return yield* Database.transaction(Effect.sync(() => (ran = true)), { isolation: "serializable" })
      })).pipe(Effect.flip)
      assert(error._tag === "NestedTransactionConflict")
      expect(error.option).toBe("isolation")
      expect(error.outer).toBe("read committed")
      expect(error.nested).toBe("serializable")
      expect(ran).toBe(false)
      // Caught, the conflict leaves the outer transaction usable: no SQL was sent.
      yield* Database.transaction(Effect.gen(function*() {
        yield* sql`insert into items values (2, 'outer')`
        yield* Database.transaction(Effect.void, { readOnly: true }).pipe(Effect.ignore)
        yield* sql`insert into items values (3, 'outer')`
      }))
      const rows = yield* sql<{ id: number }>`select id from items order by id`
      expect(rows.map((r) => r.id)).toEqual([2, 3])
    }))

  it.effect("a nested transaction with conflicting options sends nothing: the server's last statement is still the body's", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const url = yield* TestDatabase.TestUrl
      yield* sql`delete from items`
      // pg_stat_activity.query is the backend's most recent statement, and it
      // is updated before the client hears back; any SAVEPOINT, RELEASE or
      // ROLLBACK TO sent for the conflicting call would replace the marker.
      const conflicts = yield* Database.transaction(Effect.gen(function*() {
        const [{ pid }] = (yield* sql<{ pid: number }>`select pg_backend_pid() as pid, 'before the conflicts' as marker`) as [
          { pid: number }
        ]
        const options: Array<Database.TransactionOptions> = [
          { isolation: "serializable" },
          { readOnly: true },
          { deferrable: true },
          { retry: true }
        ]
        const conflicts: Array<string> = []
        for (const nested of options) {
          const error = yield* Database.transaction(sql`insert into items values (99, 'nested')`, nested).pipe(Effect.flip)
          assert(error._tag === "NestedTransactionConflict")
          conflicts.push(error.option)
          const [backend] = yield* Admin.query<{ state: string; query: string }>(
            url,
            "select state, query from pg_stat_activity where pid = $1",
            [pid]
          )
          expect(backend?.state).toBe("idle in transaction")
          expect(backend?.query).toContain("'before the conflicts' as marker")
        }
        yield* sql`insert into items values (1, 'outer')`
        return conflicts
      }))
      expect(conflicts).toEqual(["isolation", "readOnly", "deferrable", "retry"])
      const rows = yield* sql<{ id: number }>`select id from items order by id`
      expect(rows.map((r) => r.id)).toEqual([1])
    }))

  it.effect("a retry option on a nested transaction is a typed error; same options are fine", () =>
    Effect.gen(function*() {
      const error = yield* Database.transaction(
        Database.transaction(Effect.void, { retry: true })
      ).pipe(Effect.flip)
      assert(error._tag === "NestedTransactionConflict")
      expect(error.option).toBe("retry")
      const ok = yield* Database.transaction(
        Database.transaction(Effect.succeed("same"), { isolation: "serializable" }),
        { isolation: "serializable" }
      )
      expect(ok).toBe("same")
    }))

  it.effect("a swallowed statement error fails with TransactionAborted and writes nothing", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from items`
      const error = yield* Database.transaction(Effect.gen(function*() {
        yield* sql`insert into items values (1, 'one')`
        yield* sql`insert into items values (1, 'duplicate')`.pipe(Effect.ignore)
      })).pipe(Effect.flip)
      assert(error._tag === "TransactionAborted")
      expect(error.nested).toBe(false)
      expect(error.failedSqlState).toBe("23505")
      expect(yield* count("items")).toBe(0)
      yield* poolIsIdle
    }))

  it.effect("a swallowed error inside a nested transaction aborts just that savepoint", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from items`
      yield* Database.transaction(Effect.gen(function*() {
        yield* sql`insert into items values (1, 'kept')`
        const error = yield* Database.transaction(Effect.gen(function*() {
          yield* sql`insert into items values (2, 'lost')`
          yield* sql`insert into items values (1, 'duplicate')`.pipe(Effect.ignore)
        })).pipe(Effect.flip)
        assert(error._tag === "TransactionAborted")
        expect(error.nested).toBe(true)
        yield* sql`insert into items values (3, 'kept')`
      }))
      const rows = yield* sql<{ id: number }>`select id from items order by id`
      expect(rows.map((r) => r.id)).toEqual([1, 3])
    }))

  it.effect("through SqlClient.withTransaction, the swallowed error surfaces as an SqlError around TransactionAborted", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from items`
      const error = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`insert into items values (1, 'one')`
        yield* sql`insert into items values (1, 'duplicate')`.pipe(Effect.ignore)
      })).pipe(Effect.flip)
      expect(error._tag).toBe("SqlError")
      expect(DatabaseError.fromSqlError(error as never)._tag).toBe("TransactionAborted")
      expect(yield* count("items")).toBe(0)
    }))

  it.effect("a deferred unique violation at COMMIT is a UniqueViolation naming the constraint", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`create table slots (n int, constraint slots_n_key unique (n) deferrable initially deferred)`
      let bodyEnded = false
      const error = yield* Database.transaction(Effect.gen(function*() {
        yield* sql`insert into slots values (1)`
        yield* sql`insert into slots values (1)`
        bodyEnded = true
      })).pipe(Effect.flip)
      expect(bodyEnded).toBe(true)
      assert(error._tag === "UniqueViolation")
      expect(error.constraint).toBe("slots_n_key")
      expect(error.table).toBe("slots")
      expect(error.columns).toEqual(["n"])
      expect(yield* count("slots")).toBe(0)
      yield* poolIsIdle
    }))

  it.effect("deferConstraints defers a DEFERRABLE constraint; a foreign-key violation then fails at COMMIT", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`create table parents (id int primary key)`
      yield* sql`create table children (id int primary key, parent_id int constraint children_parent_fk references parents deferrable)`
      // Deferred: the child may come before its parent within the transaction.
      yield* Database.transaction(Effect.gen(function*() {
        yield* Database.deferConstraints()
        yield* sql`insert into children values (1, 10)`
        yield* sql`insert into parents values (10)`
      }))
      expect(yield* count("children")).toBe(1)
      let bodyEnded = false
      const error = yield* Database.transaction(Effect.gen(function*() {
        yield* Database.deferConstraints(["children_parent_fk"])
        yield* sql`insert into children values (2, 99)`
        bodyEnded = true
      })).pipe(Effect.flip)
      expect(bodyEnded).toBe(true)
      assert(error._tag === "ForeignKeyViolation")
      expect(error.constraint).toBe("children_parent_fk")
      expect(error.referencedTable).toBe("parents")
      expect(yield* count("children")).toBe(1)
    }))

  it.effect("the transaction's span records isolation, attempts and outcome", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      let attempts = 0
      yield* Database.transaction(
        Effect.suspend(() =>
          ++attempts < 3 ? Effect.fail(new DatabaseError.SerializationFailure({ sqlState: "40001" })) : Effect.void
        ),
        { isolation: "serializable", retry: true }
      ).pipe(Effect.withTracer(tracer))
      const span = spans.find((s) => s.name === "Database.transaction")
      assert(span !== undefined)
      expect(span.attributes.get("db.transaction.isolation")).toBe("serializable")
      expect(span.attributes.get("db.transaction.attempts")).toBe(3)
      expect(span.attributes.get("db.transaction.outcome")).toBe("commit")
    }))

  it.effect("a nested transaction's span records its outcome: release, or rollback to its savepoint", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { spans, tracer } = recordingTracer()
      yield* Database.transaction(Effect.gen(function*() {
        yield* Database.transaction(sql`select 1`).pipe(Effect.withSpan("released child"))
        yield* Database.transaction(Effect.fail("child fails")).pipe(Effect.ignore, Effect.withSpan("rolled-back child"))
      })).pipe(Effect.withTracer(tracer))
      const savepoints = spans.filter((s) => s.name === "Database.transaction" && s.attributes.get("db.transaction.depth") === 1)
      expect(savepoints.map((s) => [parentName(s), s.attributes.get("db.transaction.outcome")])).toEqual([
        ["released child", "release"],
        ["rolled-back child", "rollback"]
      ])
      const top = spans.find((s) => s.name === "Database.transaction" && s.attributes.get("db.transaction.depth") === 0)
      expect(top?.attributes.get("db.transaction.outcome")).toBe("commit")
    }))
})

layer(TestDatabase.layer({ maxConnections: 6 }), { excludeTestServices: true })("serialization failures and retries", (it) => {
  it.effect("setup", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`create table marks (class int not null, value int not null)`
      yield* sql`create table doctors (name text primary key, on_call boolean not null)`
    }))

  // A and B each read what the other writes (a read/write dependency
  // cycle). A commits only after B's insert, so both conflicts exist before
  // anyone commits; when A has committed, Postgres fails B at COMMIT (40001).
  const writeSkew = (retry: boolean) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from marks`
      yield* sql`insert into marks values (1, 10), (2, 20)`
      const aRead = yield* Deferred.make<void>()
      const bInserted = yield* Deferred.make<void>()
      const aCommitted = yield* Deferred.make<void>()
      let bAttempts = 0
      let bBodyEnded = 0
      const a = Database.transaction(Effect.gen(function*() {
        yield* sql`select sum(value) from marks where class = 1`
        yield* Deferred.succeed(aRead, undefined)
        yield* Deferred.await(bInserted)
        yield* sql`insert into marks values (2, 1)`
      }), { isolation: "serializable" }).pipe(Effect.ensuring(Deferred.succeed(aCommitted, undefined)))
      const b = Database.transaction(Effect.gen(function*() {
        bAttempts++
        yield* sql`select sum(value) from marks where class = 2`
        yield* Deferred.await(aRead)
        yield* sql`insert into marks values (1, 2)`
        yield* Deferred.succeed(bInserted, undefined)
        yield* Deferred.await(aCommitted)
        bBodyEnded++
      }), { isolation: "serializable", retry })
      const [resultA, resultB] = yield* Effect.all([Effect.either(a), Effect.either(b)], { concurrency: "unbounded" })
      return { resultA, resultB, bAttempts, bBodyEnded }
    })

  it.effect("a serialization failure at COMMIT is a typed SerializationFailure, not a defect", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { bAttempts, bBodyEnded, resultA, resultB } = yield* writeSkew(false)
      expect(resultA._tag).toBe("Right")
      assert(resultB._tag === "Left")
      expect(resultB.left._tag).toBe("SerializationFailure")
      expect(DatabaseError.isRetryable(resultB.left)).toBe(true)
      // The body ran to its end: the failure came from COMMIT.
      expect(bBodyEnded).toBe(1)
      expect(bAttempts).toBe(1)
      const rows = yield* sql<{ class: number; value: number }>`select class, value from marks order by class, value`
      expect(rows).toEqual([{ class: 1, value: 10 }, { class: 2, value: 1 }, { class: 2, value: 20 }])
    }))

  it.effect("the default retry policy runs the whole body again and succeeds", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { bAttempts, resultA, resultB } = yield* writeSkew(true)
      expect(resultA._tag).toBe("Right")
      expect(resultB._tag).toBe("Right")
      expect(bAttempts).toBe(2)
      const rows = yield* sql<{ class: number; value: number }>`select class, value from marks order by class, value`
      expect(rows).toEqual([
        { class: 1, value: 2 },
        { class: 1, value: 10 },
        { class: 2, value: 1 },
        { class: 2, value: 20 }
      ])
    }))

  it.effect("write skew under SERIALIZABLE with retry keeps one doctor on call", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`delete from doctors`
      yield* sql`insert into doctors values ('alice', true), ('bob', true)`
      const bothRead = yield* Deferred.make<void>()
      let reads = 0
      const goOffCall = (name: string) =>
        Database.transaction(Effect.gen(function*() {
          const [{ n }] = (yield* sql<{ n: number }>`select count(*)::int as n from doctors where on_call`) as [{ n: number }]
          if (++reads === 2) yield* Deferred.succeed(bothRead, undefined)
          yield* Deferred.await(bothRead)
          if (n < 2) return yield* Effect.fail({ _tag: "LastDoctorOnCall" as const, name })
          yield* sql`update doctors set on_call = false where name = ${name}`
        }), { isolation: "serializable", retry: true })
      const results = yield* Effect.all([Effect.either(goOffCall("alice")), Effect.either(goOffCall("bob"))], {
        concurrency: "unbounded"
      })
      const rows = yield* sql<{ name: string }>`select name from doctors where on_call`
      expect(rows.length).toBe(1)
      expect(results.filter((r) => r._tag === "Right").length).toBe(1)
      const refused = results.find((r) => r._tag === "Left")
      assert(refused?._tag === "Left")
      expect(refused.left).toMatchObject({ _tag: "LastDoctorOnCall" })
    }))

  it.effect("a nested transaction never retries on its own: the outermost re-runs the whole body", () =>
    Effect.gen(function*() {
      let outer = 0
      let inner = 0
      yield* Database.transaction(Effect.gen(function*() {
        outer++
        yield* Database.transaction(Effect.suspend(() => {
          inner++
          return inner < 3 ? Effect.fail(new DatabaseError.DeadlockDetected({ sqlState: "40P01" })) : Effect.void
        }))
      }), { retry: true })
      expect({ outer, inner }).toEqual({ outer: 3, inner: 3 })
    }))

  it.effect("a connection lost before COMMIT is retried: the second attempt commits the row once", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const url = yield* TestDatabase.TestUrl
      yield* sql`create table if not exists once (id int primary key)`
      yield* sql`delete from once`
      let attempts = 0
      const pids: Array<number> = []
      yield* Database.transaction(Effect.gen(function*() {
        attempts++
        yield* sql`insert into once values (1)`
        const [{ pid }] = (yield* sql<{ pid: number }>`select pg_backend_pid() as pid`) as [{ pid: number }]
        pids.push(pid)
        if (attempts === 1) {
          // The timeout makes pg_terminate_backend wait until the backend is gone.
          yield* Admin.query(url, "select pg_terminate_backend($1, 10000)", [pid])
        }
        yield* sql`select 1`
      }), { retry: true })
      expect(attempts).toBe(2)
      expect(pids[1]).not.toBe(pids[0])
      expect(yield* count("once")).toBe(1)
      yield* poolIsIdle
    }))

  it.effect("a connection lost during COMMIT is a ConnectionError marked duringCommit, and never retried", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const url = yield* TestDatabase.TestUrl
      // A deferred constraint trigger runs at COMMIT: it holds COMMIT on the
      // server long enough to terminate the backend while COMMIT is in flight.
      yield* sql`create table if not exists slow_commit (id int)`
      yield* sql`delete from slow_commit`
      yield* sql`create or replace function slow_commit_check() returns trigger language plpgsql as $$
        begin perform pg_sleep(30); return null; end $$`
      yield* sql`drop trigger if exists slow_commit_check on slow_commit`
      yield* sql`create constraint trigger slow_commit_check after insert on slow_commit
        deferrable initially deferred for each row execute function slow_commit_check()`
      const backend = yield* Deferred.make<number>()
      let attempts = 0
      const fiber = yield* Effect.fork(Database.transaction(Effect.gen(function*() {
        attempts++
        yield* sql`insert into slow_commit values (1)`
        const [{ pid }] = (yield* sql<{ pid: number }>`select pg_backend_pid() as pid`) as [{ pid: number }]
        yield* Deferred.succeed(backend, pid)
      }), { retry: true }))
      const pid = yield* Deferred.await(backend)
      yield* Admin.eventually(
        Admin.query<{ query: string; state: string }>(url, "select query, state from pg_stat_activity where pid = $1", [pid]),
        (rows) => rows[0]?.state === "active" && rows[0].query === "COMMIT"
      )
      yield* Admin.query(url, "select pg_terminate_backend($1, 10000)", [pid])
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert(error._tag === "ConnectionError")
      expect(error.reason).toBe("terminated")
      expect(error.duringCommit).toBe(true)
      expect(DatabaseError.isRetryable(error)).toBe(false)
      expect(attempts).toBe(1)
      // The server never finished COMMIT, but only the server can say so.
      expect(yield* count("slow_commit")).toBe(0)
      yield* poolIsIdle
    }))

  it.effect("errors that are not retryable are not retried", () =>
    Effect.gen(function*() {
      let attempts = 0
      const error = yield* Database.transaction(
        Effect.suspend(() => {
          attempts++
          return Effect.fail(new DatabaseError.UniqueViolation({
            sqlState: "23505",
            constraint: "c",
            table: "t",
            columns: []
          }))
        }),
        { retry: true }
      ).pipe(Effect.flip)
      expect(error._tag).toBe("UniqueViolation")
      expect(attempts).toBe(1)
    }))
})

layer(TestDatabase.layer({ maxConnections: 1 }), { excludeTestServices: true })("interruption with a pool of one connection", (it) => {
  it.effect("a timeout cancels the running statement on the server, rolls back and returns the connection", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const url = yield* TestDatabase.TestUrl
      yield* sql`create table if not exists log (n int)`
      yield* sql`delete from log`
      // An unrelated statement in another session must not be touched.
      const bystander = yield* Effect.fork(
        Admin.query<{ ok: string }>(url, "select 'bystander' as ok from pg_sleep(1)")
      )
      const timedOut = yield* Database.transaction(Effect.gen(function*() {
        yield* sql`insert into log values (1)`
        yield* sql`select pg_sleep(30)`
      })).pipe(Effect.timeout("300 millis"), Effect.flip)
      expect(timedOut._tag).toBe("TimeoutException")
      const running = yield* Admin.query(url, "select pid from pg_stat_activity where query like 'select pg_sleep(30)%'")
      expect(running).toEqual([])
      expect(yield* Database.stats).toMatchObject({ total: 1, idle: 1, active: 0 })
      expect(yield* count("log")).toBe(0)
      expect(yield* Fiber.join(bystander)).toEqual([{ ok: "bystander" }])
    }))

  it.effect("interrupting a statement never cancels the next statement on the same connection", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [{ pid }] = (yield* sql<{ pid: number }>`select pg_backend_pid() as pid`) as [{ pid: number }]
      for (let round = 0; round < 20; round++) {
        const slow = yield* Effect.fork(sql`select pg_sleep(30)`)
        // The next caller queues for the only connection.
        const next = yield* Effect.fork(sql<{ pid: number; ok: number }>`select pg_backend_pid() as pid, 1 as ok from pg_sleep(0.05)`)
        yield* Effect.sleep(`${5 + (round % 5) * 3} millis`)
        yield* Fiber.interrupt(slow)
        expect(yield* Fiber.join(next)).toEqual([{ pid, ok: 1 }])
      }
      expect(yield* Database.stats).toMatchObject({ total: 1, idle: 1 })
    }))

  it.effect("a fiber interrupted while waiting for the connection leaves nothing behind", () =>
    Effect.gen(function*() {
      const holder = yield* Effect.fork(Database.transaction(Effect.sleep("300 millis")))
      yield* Admin.eventually(Database.stats, (s) => s.active === 1)
      const waiter = yield* Effect.fork(Database.ping)
      yield* Admin.eventually(Database.stats, (s) => s.waiting === 1)
      yield* Fiber.interrupt(waiter)
      expect((yield* Database.stats).waiting).toBe(0)
      yield* Fiber.join(holder)
      yield* Database.ping
      expect(yield* Database.stats).toMatchObject({ total: 1, idle: 1, active: 0, waiting: 0 })
    }))
})

describe("Database.withConnection", () => {
  // Leaves every kind of session state behind, and returns the backend's pid.
  const dirtySession = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`set statement_timeout = '1234ms'`
    yield* sql`set search_path = pg_catalog`
    yield* sql`select pg_advisory_lock(4242)`
    yield* sql`listen some_channel`
    yield* sql`create temp table scratch (n int)`
    const [row] = yield* sql<{ pid: number; timeout: string }>`
      select pg_backend_pid() as pid, current_setting('statement_timeout') as timeout`
    expect(row!.timeout).toBe("1234ms")
    return row!.pid
  })

  // The next borrower of the pool's only connection: the same backend, with
  // none of dirtySession's state.
  const expectCleanSession = (url: string, pid: number) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const after = (yield* sql<
        { pid: number; timeout: string; search_path: string; channels: number; temp: boolean }
      >`
        select pg_backend_pid() as pid,
               current_setting('statement_timeout') as timeout,
               current_setting('search_path') as search_path,
               (select count(*)::int from pg_listening_channels()) as channels,
               to_regclass('pg_temp.scratch') is not null as temp`)[0]!
      expect(after).toEqual({
        pid,
        timeout: "0",
        search_path: "\"$user\", public",
        channels: 0,
        temp: false
      })
      const locks = yield* Admin.query(
        url,
        "select 1 from pg_locks where locktype = 'advisory' and objid = 4242 and granted"
      )
      expect(locks).toEqual([])
    })

  const withPoolOfOne = <A, E>(
    test: (url: string) => Effect.Effect<A, E, SqlClient.SqlClient | Database.Database>
  ) =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      return yield* Effect.provide(test(url), Database.layer({ url, maxConnections: 1 }))
    }).pipe(Effect.scoped)

  it.live("session state does not leak to the next borrower", () =>
    withPoolOfOne((url) =>
      Effect.gen(function*() {
        const pid = yield* Database.withConnection(dirtySession)
        yield* expectCleanSession(url, pid)
      })
    ))

  it.live("after withConnection the fiber is back on the pool: the next withConnection pins and resets a session of its own", () =>
    withPoolOfOne((url) =>
      Effect.gen(function*() {
        const first = yield* Database.withConnection(dirtySession)
        // Were the first session still in the fiber's context, this one
        // would run on it as a nested call, and nothing would reset it.
        const second = yield* Database.withConnection(dirtySession)
        expect(second).toBe(first)
        yield* expectCleanSession(url, second)
      })
    ))

  it.live("session state does not leak after the body fails", () =>
    withPoolOfOne((url) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        let pid = 0
        const error = yield* Database.withConnection(Effect.gen(function*() {
          pid = yield* dirtySession
          yield* sql`select 1 / 0`
        })).pipe(Effect.flip)
        expect(DatabaseError.fromSqlError(error as never)).toMatchObject({ _tag: "QueryError", sqlState: "22012" })
        yield* expectCleanSession(url, pid)
      })
    ))

  it.live("session state does not leak after the body is interrupted during a statement", () =>
    withPoolOfOne((url) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const dirty = yield* Deferred.make<number>()
        const fiber = yield* Effect.fork(Database.withConnection(Effect.gen(function*() {
          yield* Deferred.succeed(dirty, yield* dirtySession)
          yield* sql`select pg_sleep(30)`
        })))
        const pid = yield* Deferred.await(dirty)
        yield* Admin.eventually(
          Admin.query<{ query: string; state: string }>(url, "select query, state from pg_stat_activity where pid = $1", [pid]),
          (rows) => rows[0]?.state === "active" && rows[0].query.includes("pg_sleep(30)")
        )
        const exit = yield* Fiber.interrupt(fiber)
        expect(Exit.isInterrupted(exit)).toBe(true)
        yield* expectCleanSession(url, pid)
      })
    ))

  it.live("statements inside withConnection all run on one session", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const pids = yield* Effect.scoped(
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          return yield* Database.withConnection(
            Effect.all(
              Array.from({ length: 5 }, () => sql<{ pid: number }>`select pg_backend_pid() as pid`),
              { concurrency: "unbounded" }
            )
          )
        }).pipe(Effect.provide(Database.layer({ url, maxConnections: 4 })))
      )
      expect(new Set(pids.map((rows) => rows[0]!.pid)).size).toBe(1)
    }).pipe(Effect.scoped))
})
