/**
 * What `@effect/sql-pg`'s own client tests check (statement helpers, name
 * transforms, JSON, streams, multi-statement queries, interruption on a
 * reserved connection, the config, LISTEN, a layer from an existing pool),
 * specified here in our own words and run on both layers.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, expect } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as String from "effect/String"
import pg from "pg"
import { parse as parseUrl } from "pg-connection-string"
import * as Database from "../../src/Database.js"
import * as TestDatabase from "../support/TestDatabase.js"
import { type Flavour, freshClient, keptDifference, onBoth } from "./flavours.js"

const camelSnake = { transformQueryNames: String.camelToSnake, transformResultNames: String.snakeToCamel }

onBoth("statement helpers", (flavour) => freshClient(flavour), (it) => {
  it.effect("sql.insert lists the columns and one placeholder per value, and the row is written", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* sql`CREATE TABLE people_insert (name text, age int)`
      const statement = sql`INSERT INTO people_insert ${sql.insert({ name: "Tim", age: 10 })}`
      expect(statement.compile()).toEqual([`INSERT INTO people_insert ("name","age") VALUES ($1,$2)`, ["Tim", 10]])
      yield* statement
      expect(yield* sql`SELECT name, age FROM people_insert`).toEqual([{ name: "Tim", age: 10 }])
    }))

  it.effect("sql.updateValues joins a VALUES list under an alias, with or without RETURNING", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* sql`CREATE TABLE people_values (id int, name text)`
      yield* sql`INSERT INTO people_values ${sql.insert([{ id: 1, name: "a" }, { id: 2, name: "b" }])}`
      const rows = [{ id: 1, name: "Tim" }, { id: 2, name: "John" }]
      const plain = sql`UPDATE people_values SET name = data.name FROM ${sql.updateValues(rows, "data")} WHERE people_values.id = data.id::int`
      expect(plain.compile()).toEqual([
        `UPDATE people_values SET name = data.name FROM (values ($1,$2),($3,$4)) AS data("id","name") WHERE people_values.id = data.id::int`,
        [1, "Tim", 2, "John"]
      ])
      const returning = sql`UPDATE people_values SET name = data.name FROM ${
        sql.updateValues([{ id: 1, name: "Ann" }], "data").returning("*")
      }`
      expect(returning.compile()[0]).toBe(
        `UPDATE people_values SET name = data.name FROM (values ($1,$2)) AS data("id","name") RETURNING *`
      )
      yield* plain
      expect(yield* sql`SELECT id, name FROM people_values ORDER BY id`).toEqual(rows)
    }))

  it.effect("sql.update sets the given columns, leaves out the omitted ones, and can return the rows", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* sql`CREATE TABLE people_update (name text, age int)`
      yield* sql`INSERT INTO people_update VALUES ('x', 1)`
      expect(sql`UPDATE people_update SET ${sql.update({ name: "Tim", age: 10 }, ["age"])}`.compile()).toEqual([
        `UPDATE people_update SET "name" = $1`,
        ["Tim"]
      ])
      const updated = yield* sql`UPDATE people_update SET ${sql.update({ name: "Tim" }).returning("*")}`
      expect(updated).toEqual([{ name: "Tim", age: 1 }])
    }))

  it.effect("sql.in takes a list, a column and a list, and an empty list matches nothing", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* sql`CREATE TABLE people_in (id int)`
      yield* sql`INSERT INTO people_in SELECT generate_series(1, 5)`
      expect(sql`SELECT * FROM ${sql("people_in")} WHERE id IN ${sql.in([1, 2, 3])}`.compile()).toEqual([
        `SELECT * FROM "people_in" WHERE id IN ($1,$2,$3)`,
        [1, 2, 3]
      ])
      const some = yield* sql<{ id: number }>`SELECT id FROM people_in WHERE ${sql.in("id", [2, 4, 9])} ORDER BY id`
      expect(some.map((r) => r.id)).toEqual([2, 4])
      const none = sql`SELECT id FROM people_in WHERE ${sql.in("id", [])}`
      expect(none.compile()).toEqual([`SELECT id FROM people_in WHERE 1=0`, []])
      expect(yield* none).toEqual([])
    }))

  it.effect("sql.and puts its conditions in parentheses, joined by AND", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const now = new Date()
      expect(sql`SELECT * FROM people WHERE ${sql.and([sql.in("name", ["Tim", "John"]), sql`created_at < ${now}`])}`.compile())
        .toEqual([`SELECT * FROM people WHERE ("name" IN ($1,$2) AND created_at < $3)`, ["Tim", "John", now]])
    }))

  it.effect("sql.json values go in as parameters of insert and updateValues, and come back as objects", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* sql`CREATE TABLE people_json (id int, doc jsonb)`
      const insert = sql`INSERT INTO people_json ${sql.insert({ id: 1, doc: sql.json({ a: 1 }) })}`
      expect(insert.compile()[0]).toBe(`INSERT INTO people_json ("id","doc") VALUES ($1,$2)`)
      expect(insert.compile()[1]).toHaveLength(2)
      yield* insert
      const update = sql`UPDATE people_json SET doc = data.doc::jsonb FROM ${
        sql.updateValues([{ id: 1, doc: sql.json({ b: [1, 2] }) }], "data")
      } WHERE people_json.id = data.id::int`
      expect(update.compile()[1]).toHaveLength(2)
      yield* update
      expect(yield* sql`SELECT doc FROM people_json`).toEqual([{ doc: { b: [1, 2] } }])
    }))

  it.effect("onDialect and onDialectOrElse pick pg", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const picked = sql.onDialect({
        sqlite: () => "sqlite",
        pg: () => "pg",
        mysql: () => "mysql",
        mssql: () => "mssql",
        clickhouse: () => "clickhouse"
      })
      expect(picked).toBe("pg")
      expect(sql.onDialectOrElse({ orElse: () => "other", pg: () => "pg" })).toBe("pg")
    }))

  it.effect("PgClient.makeCompiler with a name transform transforms and quotes identifiers", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const compiler = PgClient.makeCompiler(String.camelToSnake)
      expect(compiler.compile(sql`SELECT * FROM ${sql("peopleTest")}`, false)[0]).toBe(`SELECT * FROM "people_test"`)
    }))

  it.effect("an object parameter cast to jsonb comes back as the same object", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const rows = yield* sql<{ json: unknown }>`SELECT ${{ testValue: 123, nested: { a_b: [true, null] } }}::jsonb AS json`
      expect(rows).toEqual([{ json: { testValue: 123, nested: { a_b: [true, null] } } }])
    }))

  it.effect("a statement's stream yields its rows in order", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql`SELECT generate_series(1, 300) AS n`.stream.pipe(Stream.runCollect)
      expect(Chunk.size(rows)).toBe(300)
      expect(Chunk.toReadonlyArray(rows).slice(0, 3)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    }))

  it.effect("a query of several statements returns one list of rows per statement", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const result = yield* sql`
        CREATE TABLE test_multi (id text PRIMARY KEY, name text);
        INSERT INTO test_multi (id, name) VALUES ('id1', 'test1') RETURNING *;
        INSERT INTO test_multi (id, name) VALUES ('id2', 'test2') RETURNING *;
      `
      expect(result).toEqual([[], [{ id: "id1", name: "test1" }], [{ id: "id2", name: "test2" }]])
    }))

  it.scoped("a statement interrupted on a reserved connection is stopped, and the connection runs the next one", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const connection = yield* sql.reserve
      const slept = yield* connection.executeRaw("SELECT pg_sleep(1000)", []).pipe(Effect.timeoutOption("50 millis"))
      expect(Option.isNone(slept)).toBe(true)
      expect(yield* connection.executeValues("SELECT 1", [])).toEqual([[1]])
    }))

  it.effect("config shows the host, port, user, password and database of the URL", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const url = yield* TestDatabase.TestUrl
      const parsed = parseUrl(url)
      assert.isDefined(sql.config.url)
      expect(Redacted.value(sql.config.url)).toBe(url)
      expect(sql.config.host).toBe(parsed.host)
      expect(sql.config.port).toBe(Number(parsed.port))
      expect(sql.config.username).toBe(parsed.user)
      expect(sql.config.password === undefined ? undefined : Redacted.value(sql.config.password)).toBe(
        parsed.password || undefined
      )
      expect(sql.config.database).toBe(parsed.database)
    }))
})

onBoth("name transforms (camelCase fields, snake_case columns)", (flavour) => freshClient(flavour, camelSnake), (it) => {
  it.effect("sql.insert writes camelCase keys to snake_case columns", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* sql`CREATE TABLE people_t (first_name text, age int)`
      const statement = sql`INSERT INTO people_t ${sql.insert({ firstName: "Tim", age: 10 })}`
      expect(statement.compile()).toEqual([`INSERT INTO people_t ("first_name","age") VALUES ($1,$2)`, ["Tim", 10]])
      yield* statement
      expect(yield* sql`SELECT first_name FROM people_t`).toEqual([{ firstName: "Tim" }])
    }))

  it.effect("withoutTransforms writes and reads names as they are", () =>
    Effect.gen(function*() {
      const sql = (yield* PgClient.PgClient).withoutTransforms()
      yield* sql`CREATE TABLE people_raw (first_name text, age int)`
      const statement = sql`INSERT INTO people_raw ${sql.insert({ first_name: "Tim", age: 10 })}`
      expect(statement.compile()).toEqual([`INSERT INTO people_raw ("first_name","age") VALUES ($1,$2)`, ["Tim", 10]])
      yield* statement
      expect(yield* sql`SELECT first_name FROM people_raw`).toEqual([{ first_name: "Tim" }])
    }))

  it.effect("result names are transformed inside JSON values too, in transactions and streams alike", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const query = sql`SELECT 1 AS some_number, ${sql.json({ innerKey: { deepKey: 1 } })}::jsonb AS the_doc`
      const expected = [{ someNumber: 1, theDoc: { innerKey: { deepKey: 1 } } }]
      expect(yield* query).toEqual(expected)
      expect(yield* sql.withTransaction(query)).toEqual(expected)
      expect(Chunk.toReadonlyArray(yield* Stream.runCollect(query.stream))).toEqual(expected)
      // sql.json's keys went in as snake_case.
      expect(yield* sql`SELECT ${sql.json({ innerKey: 1 })}::jsonb::text AS doc`).toEqual([
        { doc: `{"inner_key": 1}` }
      ])
    }))

  it.scoped("a multi-statement query's rows are transformed statement by statement", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const result = yield* sql`SELECT 1 AS one_value; SELECT 2 AS two_value`
      expect(result).toEqual([[{ oneValue: 1 }], [{ twoValue: 2 }]])
    }))
})

onBoth(
  "transformJson: false",
  (flavour) => freshClient(flavour, { ...camelSnake, transformJson: false }),
  (it) => {
    it.effect("transforms column names but leaves the keys inside JSON values alone", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const rows = yield* sql`SELECT ${sql.json({ innerKey: { deep_key: 1 } })}::jsonb AS the_doc`
        expect(rows).toEqual([{ theDoc: { innerKey: { deep_key: 1 } } }])
      }))
  }
)

onBoth("LISTEN and NOTIFY", (flavour) => freshClient(flavour, { maxConnections: 1 }), (it, flavour) => {
  it.scoped("a listener holds no pooled connection, and pg_notify reaches it", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const received = yield* sql.listen("compat_channel").pipe(Stream.take(1), Stream.runCollect, Effect.forkScoped)
      yield* Effect.sleep("250 millis")
      // With one pooled connection, this query would wait for ever if LISTEN held it.
      expect(yield* sql<{ value: number }>`SELECT 1 AS value`.pipe(Effect.timeout("3 seconds"))).toEqual([{ value: 1 }])
      yield* sql`SELECT pg_notify(${"compat_channel"}, ${"payload"})`
      const payloads = yield* Fiber.join(received).pipe(Effect.timeout("3 seconds"))
      expect(Chunk.toReadonlyArray(payloads)).toEqual(["payload"])
    }))

  it.effect("sql.notify sends a notification", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const sent = yield* Effect.either(sql.notify("compat_notify", "hello"))
      expect(sent._tag).toBe(keptDifference(flavour, {
        reason: "@effect/sql-pg sends NOTIFY ch, $1, which PostgreSQL refuses (42601); effect-dal uses pg_notify",
        pgClient: "Left",
        database: "Right"
      }))
    }))
})

// A layer from a pool the program already has, with the transforms above.
const poolLayer = (flavour: Flavour, pool: pg.Pool): Layer.Layer<SqlClient.SqlClient | PgClient.PgClient, unknown> =>
  flavour === "PgClient.layer"
    ? PgClient.layerFromPool({ acquire: Effect.succeed(pool), ...camelSnake })
    : Database.layerFromPool({ acquire: Effect.succeed(pool), ...camelSnake })

const withPool = (flavour: Flavour) =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const url = yield* TestDatabase.TestUrl
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => new pg.Pool({ connectionString: url, max: 3 })),
      (pool) => Effect.promise(() => pool.end())
    )
    return poolLayer(flavour, pool)
  })).pipe(Layer.provideMerge(TestDatabase.layerUrl))

onBoth("a layer from an existing pg.Pool", withPool, (it, flavour) => {
  it.effect("runs statements with the transforms, and shows the pool's connection details in config", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const url = yield* TestDatabase.TestUrl
      const parsed = parseUrl(url)
      expect(sql`SELECT * FROM ${sql("peopleTest")}`.compile()[0]).toBe(`SELECT * FROM "people_test"`)
      expect(yield* sql`SELECT 1 AS some_value`).toEqual([{ someValue: 1 }])
      assert.isDefined(sql.config.url)
      expect(Redacted.value(sql.config.url)).toBe(url)
      expect(sql.config.host).toBe(parsed.host)
      expect(sql.config.port).toBe(Number(parsed.port))
      expect(sql.config.username).toBe(parsed.user)
      expect(sql.config.database).toBe(parsed.database)
    }))

  it.effect("the pool stays open when the layer closes, and keeps no effect-dal session behind", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const pool = new pg.Pool({ connectionString: url, max: 2 })
      yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(poolLayer(flavour, pool))
        const sql = Effect.runSync(Effect.provide(SqlClient.SqlClient, context))
        yield* sql.withTransaction(sql`SELECT 1`)
      }))
      const after = yield* Effect.promise(() => pool.query("SELECT 2 AS n"))
      expect(after.rows).toEqual([{ n: 2 }])
      expect(pool.idleCount).toBe(pool.totalCount)
      yield* Effect.promise(() => pool.end())
    }))
})
