/**
 * The defects of plain `@effect/sql` / `@effect/sql-pg` (measured on 0.52 /
 * 0.53, listed in DESIGN.md) side by side with effect-dal. Each scenario
 * runs on both; the plain result documents the defect, the effect-dal
 * result is the fix. If an upstream release fixes one, its "plain" assertion
 * fails and the README's comparison table must be updated.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import * as Model from "@effect/sql/Model"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Database from "../src/Database.js"
import * as DatabaseError from "../src/DatabaseError.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Table from "../src/Table.js"
import * as Admin from "./support/admin.js"
import * as TestDatabase from "./support/TestDatabase.js"

type Flavour = "plain" | "effect-dal"

const clientLayer = (
  flavour: Flavour,
  url: string,
  options: { max?: number; app?: string } = {}
): Layer.Layer<SqlClient.SqlClient | PgClient.PgClient, unknown> =>
  flavour === "plain"
    ? PgClient.layer({
      url: Redacted.make(url),
      ...(options.max === undefined ? {} : { maxConnections: options.max }),
      ...(options.app === undefined ? {} : { applicationName: options.app })
    })
    : Database.layer({
      url,
      ...(options.max === undefined ? {} : { maxConnections: options.max }),
      ...(options.app === undefined ? {} : { applicationName: options.app })
    })

const onBoth = <A, E>(
  scenario: (
    flavour: Flavour
  ) => Effect.Effect<A, E, SqlClient.SqlClient | PgClient.PgClient | TestDatabase.TestUrl | Database.Database>
) =>
  Effect.gen(function*() {
    const results = {} as Record<Flavour, A>
    for (const flavour of ["plain", "effect-dal"] as const) {
      results[flavour] = yield* Effect.scoped(Effect.gen(function*() {
        const url = yield* TestDatabase.url
        const context = yield* Layer.build(clientLayer(flavour, url))
        // Only the effect-dal scenarios ask for Database; plain's layer has none.
        return yield* (scenario(flavour) as Effect.Effect<A, E, SqlClient.SqlClient | PgClient.PgClient | TestDatabase.TestUrl>)
          .pipe(Effect.provide(context), Effect.provideService(TestDatabase.TestUrl, url))
      }))
    }
    return results
  })

describe("defects of plain @effect/sql that effect-dal fixes", () => {
  it.live("concurrent nested withTransaction: plain loses the sibling's rows (shared savepoint name)", () =>
    Effect.gen(function*() {
      const results = yield* onBoth(() =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`create table t (id int)`
          const child = (i: number) =>
            sql.withTransaction(Effect.gen(function*() {
              yield* sql`insert into t values (${i})`
              yield* Effect.sleep("20 millis")
              if (i === 1) return yield* Effect.fail("child 1 fails")
            })).pipe(Effect.ignore)
          yield* sql.withTransaction(Effect.all([child(0), child(1)], { concurrency: "unbounded" }))
          return (yield* sql<{ id: number }>`select id from t order by id`).map((r) => r.id)
        })
      )
      expect(results.plain).not.toEqual([0])
      expect(results["effect-dal"]).toEqual([0])
    }))

  it.live("a swallowed statement error: plain reports success with nothing written", () =>
    Effect.gen(function*() {
      const results = yield* onBoth(() =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`create table t (id int primary key)`
          const outcome = yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql`insert into t values (1)`
            yield* sql`insert into t values (1)`.pipe(Effect.ignore)
          })).pipe(Effect.either)
          const rows = yield* sql<{ n: number }>`select count(*)::int as n from t`
          return {
            outcome: outcome._tag === "Right" ? "success" : DatabaseError.fromSqlError(outcome.left)._tag,
            rows: rows[0]!.n
          }
        })
      )
      expect(results.plain).toEqual({ outcome: "success", rows: 0 })
      expect(results["effect-dal"]).toEqual({ outcome: "TransactionAborted", rows: 0 })
    }))

  it.live("an error raised by COMMIT: plain turns it into a defect that Effect.retry never sees", () =>
    Effect.gen(function*() {
      const results = yield* onBoth(() =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`create table t (n int, constraint t_n_key unique (n) deferrable initially deferred)`
          const exit = yield* Effect.exit(sql.withTransaction(sql`insert into t values (1), (1)`))
          assert(Exit.isFailure(exit))
          const failure = Cause.failureOption(exit.cause)
          return failure._tag === "Some"
            ? `failure ${DatabaseError.fromSqlError(failure.value)._tag}`
            : Cause.isDie(exit.cause) ? "defect" : "other"
        })
      )
      expect(results.plain).toBe("defect")
      expect(results["effect-dal"]).toBe("failure UniqueViolation")
    }))

  it.live("SqlError carries no SQLSTATE or constraint: plain keeps them only on the driver's cause", () =>
    Effect.gen(function*() {
      const results = yield* onBoth(() =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`create table t (id int constraint t_pkey primary key)`
          yield* sql`insert into t values (1)`
          const error = yield* Effect.flip(sql`insert into t values (1)`)
          const typed = DatabaseError.fromSqlError(error)
          return { tag: typed._tag, constraint: "constraint" in typed ? typed.constraint : undefined }
        })
      )
      expect(results.plain).toEqual({ tag: "QueryError", constraint: undefined })
      expect(results["effect-dal"]).toEqual({ tag: "UniqueViolation", constraint: "t_pkey" })
    }))

  it.live("an isolation level for a nested transaction: plain sends it and fails with 25001; effect-dal refuses it typed", () =>
    Effect.gen(function*() {
      const results = yield* onBoth((flavour) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const isolation = sql<{ isolation: string }>`select current_setting('transaction_isolation') as isolation`.pipe(
            Effect.map((rows) => rows[0]!.isolation)
          )
          if (flavour === "plain") {
            // Plain withTransaction takes no options: SET TRANSACTION is the only way.
            const top = yield* sql.withTransaction(
              Effect.zipRight(sql`set transaction isolation level serializable`, isolation)
            )
            const error = yield* sql.withTransaction(
              sql.withTransaction(sql`set transaction isolation level serializable`)
            ).pipe(Effect.flip)
            return { top, nested: (error.cause as { code?: string }).code }
          }
          const top = yield* Database.transaction(isolation, { isolation: "serializable" })
          const error = yield* Database.transaction(
            Database.transaction(isolation, { isolation: "serializable" })
          ).pipe(Effect.flip)
          return { top, nested: error._tag }
        })
      )
      expect(results.plain).toEqual({ top: "serializable", nested: "25001" })
      expect(results["effect-dal"]).toEqual({ top: "serializable", nested: "NestedTransactionConflict" })
    }))

  it.live("sql.notify: plain sends NOTIFY ch, $1 and fails with 42601", () =>
    Effect.gen(function*() {
      const results = yield* onBoth(() =>
        Effect.gen(function*() {
          const pg = yield* PgClient.PgClient
          const outcome = yield* Effect.either(pg.notify("channel", "payload"))
          return outcome._tag === "Right" ? "sent" : "failed"
        })
      )
      expect(results.plain).toBe("failed")
      expect(results["effect-dal"]).toBe("sent")
    }))

  it.live("interrupting a long statement with a full pool: plain leaves it running on the server", () =>
    Effect.gen(function*() {
      const results = {} as Record<Flavour, number>
      for (const flavour of ["plain", "effect-dal"] as const) {
        results[flavour] = yield* Effect.scoped(Effect.gen(function*() {
          const url = yield* TestDatabase.url
          const app = Admin.appName(`interrupt-${flavour}`)
          const context = yield* Layer.build(clientLayer(flavour, url, { max: 1, app }))
          const sql = yield* Effect.provide(SqlClient.SqlClient, context)
          const fiber = yield* Effect.fork(sql`select pg_sleep(20)`)
          yield* Admin.eventually(Admin.sessions(url, app), (rows) => rows.some((r) => r.state === "active"))
          yield* Fiber.interrupt(fiber)
          const running = yield* Admin.sessions(url, app)
          // Clean up what plain left behind before the database is dropped.
          yield* Admin.query(url, "select pg_cancel_backend(pid) from pg_stat_activity where application_name = $1", [app])
          return running.filter((r) => r.state === "active" && r.query.includes("pg_sleep")).length
        }))
      }
      expect(results.plain).toBe(1)
      expect(results["effect-dal"]).toBe(0)
    }))

  it.live("closing the pool with a statement in flight: plain returns while it keeps running", () =>
    Effect.gen(function*() {
      const results = {} as Record<Flavour, number>
      for (const flavour of ["plain", "effect-dal"] as const) {
        results[flavour] = yield* Effect.scoped(Effect.gen(function*() {
          const url = yield* TestDatabase.url
          const app = Admin.appName(`close-${flavour}`)
          const scope = yield* Scope.make()
          const context = yield* Layer.buildWithScope(clientLayer(flavour, url, { app }), scope)
          const sql = yield* Effect.provide(SqlClient.SqlClient, context)
          yield* Effect.forkDaemon(sql`select pg_sleep(20)`)
          yield* Admin.eventually(Admin.sessions(url, app), (rows) => rows.some((r) => r.state === "active"))
          yield* Scope.close(scope, Exit.void)
          const running = yield* Admin.sessions(url, app)
          yield* Admin.query(url, "select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1", [app])
          return running.filter((r) => r.state === "active" && r.query.includes("pg_sleep")).length
        }))
      }
      expect(results.plain).toBe(1)
      expect(results["effect-dal"]).toBe(0)
    }))

  class Post extends Model.Class<Post>("Post")({
    id: Model.Generated(Schema.Number),
    title: Schema.String,
    createdAt: Model.DateTimeInsert
  }) {}
  // Column names as the fields are, since plain makeRepository uses field names.
  const Posts = Table.make(Post, { name: "posts", primaryKey: "id", naming: "same", timestamps: { created: "createdAt" } })
  const createPosts = Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`create table posts (id serial primary key, title text unique not null, "createdAt" timestamptz not null)`)

  it.live("Model.DateTimeInsert (string form): plain makeRepository writes the row, then fails to decode it", () =>
    Effect.gen(function*() {
      const results = yield* onBoth((flavour) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* createPosts
          const inserted = flavour === "plain"
            ? yield* Effect.exit(Effect.flatMap(
              Model.makeRepository(Post, { tableName: "posts", spanPrefix: "Posts", idColumn: "id" }),
              (repo) => repo.insert(Post.insert.make({ title: "hello" }))
            ))
            : yield* Effect.exit(Effect.flatMap(Repository.make(Posts), (repo) => repo.insert({ title: "hello" })))
          const rows = (yield* sql<{ n: number }>`select count(*)::int as n from posts`)[0]!.n
          return { outcome: Exit.isSuccess(inserted) ? "decoded" : Cause.isDie(inserted.cause) ? "defect" : "failure", rows }
        })
      )
      expect(results.plain).toEqual({ outcome: "defect", rows: 1 })
      expect(results["effect-dal"]).toEqual({ outcome: "decoded", rows: 1 })
    }))

  it.live("an empty OR: plain sql.or([]) is TRUE and matches every row; Query.or() matches none", () =>
    Effect.gen(function*() {
      const results = yield* onBoth((flavour) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* createPosts
          yield* sql`insert into posts (title, "createdAt") values ('a', now()), ('b', now())`
          if (flavour === "plain") {
            return (yield* sql<{ n: number }>`select count(*)::int as n from posts where ${sql.or([])}`)[0]!.n
          }
          const repo = yield* Repository.make(Posts)
          return yield* repo.count(Query.make(Posts).pipe(Query.where(Query.or())))
        })
      )
      expect(results.plain).toBe(2)
      expect(results["effect-dal"]).toBe(0)
    }))

  it.live("a duplicate insert: plain makeRepository makes it a defect; effect-dal a typed UniqueViolation", () =>
    Effect.gen(function*() {
      const results = yield* onBoth((flavour) =>
        Effect.gen(function*() {
          yield* createPosts
          if (flavour === "plain") {
            const repo = yield* Model.makeRepository(Post, { tableName: "posts", spanPrefix: "Posts", idColumn: "id" })
            const insert = Effect.ignore(repo.insert(Post.insert.make({ title: "same" })))
            const exit = yield* Effect.exit(Effect.zipRight(insert, repo.insert(Post.insert.make({ title: "same" }))))
            return Exit.isFailure(exit) && Cause.isDie(exit.cause) ? "defect" : "other"
          }
          const repo = yield* Repository.make(Posts)
          yield* repo.insert({ title: "same" })
          const error = yield* Effect.flip(repo.insert({ title: "same" }))
          return `failure ${error._tag}`
        })
      )
      expect(results.plain).toBe("defect")
      expect(results["effect-dal"]).toBe("failure UniqueViolation")
    }))
})
