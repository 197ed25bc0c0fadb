import { assert, describe, expect, it, layer } from "@effect/vitest"
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Database from "../src/Database.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Table from "../src/Table.js"
import * as Fixtures from "../src/testing/Fixtures.js"
import * as Admin from "./support/admin.js"
import { Reading, Readings, readingsDdl } from "./support/readings.js"
import * as TestDatabase from "./support/TestDatabase.js"
import { parentName, recordingTracer } from "./support/tracer.js"


// Five insert columns including an array: unnest would flatten it, so bulk
// inserts take the multi-row VALUES path, in chunks under 65,535 parameters
// (13,107 rows of five).
class Tagged extends Model.Class<Tagged>("Tagged")({
  id: Model.Generated(Schema.Number),
  a: Schema.String,
  b: Schema.Number,
  c: Schema.Boolean,
  d: Schema.String,
  labels: Schema.Array(Schema.String)
}) {}
const TaggedTable = Table.make(Tagged, { name: "tagged", primaryKey: "id" })

const setup = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  for (const statement of Fixtures.ddl) yield* sql.unsafe(statement)
  yield* sql.unsafe(readingsDdl())
  yield* sql`create table tagged (id serial primary key, a text not null, b integer not null check (b >= 0), c boolean not null, d text not null, labels text[] not null)`
})

const withSetup = (options: Omit<Database.Options, "url"> = {}) =>
  TestDatabase.layer(options).pipe(Layer.tap((context) => Effect.provide(setup, context)))

const count = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<{ n: number }>`select count(*)::int as n from ${sql(table)}`, (rows) => rows[0]!.n))

// Runs on a pool of one connection, so pg_prepared_statements (which is per
// session) shows every statement the effect prepared.
const onOneConnection = <A, E>(effect: Effect.Effect<A, E, Database.Database | SqlClient.SqlClient>) =>
  Effect.flatMap(TestDatabase.TestUrl, (url) =>
    effect.pipe(Effect.provide(Database.layer({ url, maxConnections: 1 })), Effect.scoped))

const preparedInserts = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ statement: string }>`select statement from pg_prepared_statements where statement like ${`INSERT INTO "${table}"%`}`,
      (rows) => rows.map((r) => r.statement)
    ))

layer(withSetup({ maxConnections: 4 }), { excludeTestServices: true })("repositories on PostgreSQL", (it) => {
  it.effect("insertMany of 50,000 rows of five columns goes through unnest in one statement", () =>
    Effect.gen(function*() {
      const readings = yield* Repository.make(Readings)
      const rows = Array.from({ length: 50_000 }, (_, i) => ({
        sensor: `s${i % 97}`,
        value: i / 10,
        unit: i % 2 ? "°C" : "kPa",
        takenAt: new Date(Date.UTC(2026, 0, 1) + i * 1000)
      }))
      const inserted = yield* readings.insertMany(rows)
      expect(inserted.length).toBe(50_000)
      expect(inserted[49_999]!.value).toBe(4999.9)
      expect(yield* count("readings")).toBe(50_000)
      yield* readings.insertManyDiscard(rows.slice(0, 1_000))
      expect(yield* count("readings")).toBe(51_000)
    }))

  it.effect("insertMany of 50,000 rows of five columns with an array column is chunked as multi-row VALUES of 13,107 rows, all or nothing", () =>
    onOneConnection(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const tagged = yield* Repository.make(TaggedTable)
      const rows = Array.from({ length: 50_000 }, (_, i) => ({
        a: `a${i}`,
        b: i,
        c: i % 2 === 0,
        d: `d${i % 13}`,
        labels: [`l${i % 5}`, `m${i % 3}`]
      }))
      const inserted = yield* tagged.insertMany(rows)
      expect(inserted.map((r) => ({ a: r.a, b: r.b, c: r.c, d: r.d, labels: r.labels }))).toEqual(rows)
      expect(inserted.every((r, i) => i === 0 || r.id > inserted[i - 1]!.id)).toBe(true)
      expect(yield* count("tagged")).toBe(50_000)
      const stored = yield* sql<{ a: string; b: number; c: boolean; d: string; labels: Array<string> }>`
        select a, b, c, d, labels from tagged order by id`
      expect(stored).toEqual(rows)
      // The statements it prepared: no unnest, 65,535 / 5 = 13,107 rows per
      // statement, 3 full chunks and the remaining 10,679 rows.
      const statements = yield* preparedInserts("tagged")
      expect(statements.some((text) => text.includes("unnest"))).toBe(false)
      const tuples = statements.map((text) => text.split("), (").length).sort((x, y) => y - x)
      expect(tuples).toEqual([13_107, 10_679])
      expect(statements.some((text) => text.includes("$65535)"))).toBe(true)
      // A failure in the last chunk (a check constraint) leaves none of the chunks behind.
      const broken = [...rows.slice(0, 30_000), { a: "bad", b: -1, c: true, d: "", labels: [] }]
      const error = yield* Effect.flip(tagged.insertMany(broken))
      expect(error._tag).toBe("CheckViolation")
      expect(yield* count("tagged")).toBe(50_000)
    })))

  it.effect("a stream that stops early releases its connection and ends its statement", () =>
    Effect.gen(function*() {
      const readings = yield* Repository.make(Readings)
      const url = yield* TestDatabase.TestUrl
      yield* readings.insertManyDiscard(Array.from({ length: 5_000 }, (_, i) => ({
        sensor: "early",
        value: i,
        unit: "x",
        takenAt: new Date(0)
      })))
      const firstFive = yield* Stream.runCollect(
        Stream.take(
          readings.stream(Query.make(Readings).pipe(Query.where({ sensor: "early" }), Query.orderBy("id")), { batchSize: 100 }),
          5
        )
      )
      expect([...firstFive].map((r) => r.value)).toEqual([0, 1, 2, 3, 4])
      const stats = yield* Database.stats
      expect(stats.active).toBe(0)
      expect(stats.idle).toBe(stats.total)
      const open = yield* Admin.query(
        url,
        "select 1 from pg_stat_activity where datname = current_database() and state = 'active' and query like 'SELECT % FROM \"readings\"%'"
      )
      expect(open).toEqual([])
      // Interrupting the consumer releases it too.
      const fiber = yield* Effect.fork(Stream.runDrain(
        readings.stream(Query.make(Readings), { batchSize: 10 }).pipe(Stream.tap(() => Effect.sleep("5 millis")))
      ))
      yield* Admin.eventually(Database.stats, (s) => s.active === 1)
      yield* Fiber.interrupt(fiber)
      expect((yield* Database.stats).active).toBe(0)
    }))

  it.effect("pagination stays exact while other fibers insert rows before and after the cursor", () =>
    Effect.gen(function*() {
      const readings = yield* Repository.make(Readings)
      const start = Date.UTC(2026, 5, 1)
      const minute = 60_000
      // Two rows per instant, so the primary key has to break ties.
      const original = yield* readings.insertMany(Array.from({ length: 300 }, (_, i) => ({
        sensor: "page",
        value: i,
        unit: "x",
        takenAt: new Date(start + Math.floor(i / 2) * minute)
      })))
      const query = Query.make(Readings).pipe(Query.where({ sensor: "page" }), Query.orderBy("takenAt", "desc"))
      // The order paginate walks: takenAt descending, then id ascending.
      const queryOrder = (a: Reading, b: Reading) => b.takenAt.getTime() - a.takenAt.getTime() || a.id - b.id
      const expected = [...original].sort(queryOrder).map((r) => r.id)
      // Rows that sort anywhere among the originals: newer than all of them
      // (before every cursor), older than all, between two, or tied with one.
      let written = 0
      const interloper = () => {
        const n = ++written
        const slot = (n * 7) % 150
        const takenAt = [start + 1_000 * minute + n, start - 1_000 * minute - n, start + slot * minute + 30_000, start + slot * minute][n % 4]!
        return { sensor: "page", value: -n, unit: "x", takenAt: new Date(takenAt) }
      }
      const writer = yield* Effect.fork(Effect.forever(
        readings.insert(interloper()).pipe(Effect.zipRight(Effect.sleep("1 millis")))
      ))
      const seen: Array<Reading> = []
      let pages = 0
      let after: string | undefined
      do {
        const page: Repository.Page<Reading> = yield* readings.paginate(query, { limit: 17, after })
        seen.push(...page.items)
        after = Option.getOrUndefined(page.next)
        pages++
        // Between every two pages another fiber writes rows on both sides of
        // the cursor, so an OFFSET paginator would repeat originals here.
        yield* Fiber.join(yield* Effect.fork(readings.insertMany(Array.from({ length: 8 }, interloper))))
      } while (after !== undefined)
      yield* Fiber.interrupt(writer)
      expect(pages).toBeGreaterThanOrEqual(18)
      expect(seen.filter((r) => r.value >= 0).map((r) => r.id)).toEqual(expected)
      // Rows written during the walk may show up (those past the cursor), but
      // no row shows up twice and the whole walk is in the query's order.
      expect(new Set(seen.map((r) => r.id)).size).toBe(seen.length)
      expect(seen.map((r) => r.id)).toEqual([...seen].sort(queryOrder).map((r) => r.id))
      // Rows sorting before the cursor really were written while paging.
      const newest = yield* readings.count(query.pipe(Query.where({ takenAt: Query.gt(new Date(start + 1_000 * minute)) })))
      expect(newest).toBeGreaterThanOrEqual(pages * 2)
    }))

  it.effect("raw runs your SQL (a CTE with a window function) and decodes rows with the model", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const readings = yield* Repository.make(Readings)
      yield* readings.insertMany([
        { sensor: "raw-a", value: 1, unit: "x", takenAt: new Date(1_000) },
        { sensor: "raw-a", value: 2, unit: "x", takenAt: new Date(2_000) },
        { sensor: "raw-b", value: 3, unit: "x", takenAt: new Date(1_500) }
      ])
      const latest = yield* readings.raw(sql`
        with ranked as (
          select *, row_number() over (partition by sensor order by taken_at desc) as rank
          from readings where sensor like ${"raw-%"}
        )
        select * from ranked where rank = 1 order by sensor`)
      expect(latest.map((r) => [r.sensor, r.value])).toEqual([["raw-a", 2], ["raw-b", 3]])
      expect(latest[0]).toBeInstanceOf(Reading)
      expect(latest[0]!.takenAt).toEqual(new Date(2_000))
    }))

  it.effect("a row that does not fit the model is a defect naming the table and the column, not the value", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`create table loose (id serial primary key, sensor text, value double precision not null, unit text not null, taken_at timestamptz not null)`
      yield* sql`insert into loose (sensor, value, unit, taken_at) values (null, 1, 'secret-unit', now())`
      const Loose = Table.make(Reading, { name: "loose", primaryKey: "id" })
      const loose = yield* Repository.make(Loose)
      const exit = yield* Effect.exit(loose.findMany())
      assert(Exit.isFailure(exit))
      const defect = Cause.dieOption(exit.cause)
      assert(Option.isSome(defect))
      const message = (defect.value as Error).message
      expect(message).toContain(`table "loose"`)
      expect(message).toContain(`column "sensor"`)
      expect(message).toContain("got null")
      expect(message).not.toContain("secret-unit")
    }))

  it.effect("rows of literal, boolean and nullable columns decode as the schema does, and a stray literal is still a defect", () =>
    Effect.gen(function*() {
      class Shape extends Model.Class<Shape>("Shape")({
        id: Model.Generated(Schema.Number),
        role: Schema.Literal("system", "user"),
        level: Schema.Literal(1, 2),
        flag: Schema.Boolean,
        n: Schema.Number,
        note: Schema.NullOr(Schema.String),
        at: Schema.NullOr(Schema.DateFromSelf)
      }) {}
      const sql = yield* SqlClient.SqlClient
      yield* sql`create table shapes (id serial primary key, role text not null, level int not null, flag boolean not null, n int not null, note text, at timestamptz)`
      yield* sql`insert into shapes (role, level, flag, n, note, at) values
        ('system', 1, true, 2147483647, 'it''s; "quoted"', '2026-01-02T03:04:05.678Z'),
        ('user', 2, false, -5, null, null)`
      const shapes = yield* Repository.make(Table.make(Shape, { name: "shapes", primaryKey: "id" }))
      const rows = yield* shapes.findMany(Query.make(Table.make(Shape, { name: "shapes", primaryKey: "id" })).pipe(Query.orderBy("id")))
      const expected = [
        { id: 1, role: "system", level: 1, flag: true, n: 2147483647, note: `it's; "quoted"`, at: new Date("2026-01-02T03:04:05.678Z") },
        { id: 2, role: "user", level: 2, flag: false, n: -5, note: null, at: null }
      ].map((row) => Schema.decodeUnknownSync(Shape)(row))
      expect(rows).toEqual(expected)
      for (const row of rows) expect(row).toBeInstanceOf(Shape)
      // The first row a repository reads goes the general way; later rows
      // are checked inline. Each stray value comes after a row that passes,
      // in a fresh repository, and must still be a defect naming its column.
      yield* sql`alter table shapes alter column flag drop not null, alter column n drop not null`
      for (
        const [column, stray] of [
          ["role", sql`update shapes set role = 'admin' where id = 2`],
          ["level", sql`update shapes set level = 3 where id = 2`],
          ["flag", sql`update shapes set flag = null where id = 2`],
          ["n", sql`update shapes set n = null where id = 2`]
        ] as const
      ) {
        yield* sql`update shapes set role = 'user', level = 2, flag = false, n = -5 where id = 2`
        yield* stray
        const fresh = yield* Repository.make(Table.make(Shape, { name: "shapes", primaryKey: "id" }))
        const byId = Query.make(Table.make(Shape, { name: "shapes", primaryKey: "id" })).pipe(Query.orderBy("id"))
        // findMany builds rows from their values as they arrive; a stream
        // decodes rows keyed by field. Each path has its own inline checks.
        const reads: ReadonlyArray<Effect.Effect<unknown, unknown>> = [fresh.findMany(byId), Stream.runCollect(fresh.stream(byId))]
        for (const read of reads) {
          const exit = yield* Effect.exit(read)
          assert(Exit.isFailure(exit))
          const defect = Cause.dieOption(exit.cause)
          assert(Option.isSome(defect))
          expect((defect.value as Error).message).toContain(`column "${column}"`)
        }
      }
    }))

  it.effect("rows decode into the model class, with its getters and its own instance fields", () =>
    Effect.gen(function*() {
      class Rich extends Model.Class<Rich>("Rich")({
        id: Model.Generated(Schema.Number),
        sensor: Schema.String,
        value: Schema.Number,
        unit: Schema.String,
        takenAt: Schema.DateFromSelf
      }) {
        readonly kind = "reading"
        get label() {
          return `${this.sensor}: ${this.value} ${this.unit}`
        }
      }
      class Plain extends Model.Class<Plain>("Plain")({
        id: Model.Generated(Schema.Number),
        sensor: Schema.String,
        value: Schema.Number,
        unit: Schema.String,
        takenAt: Schema.DateFromSelf
      }) {
        get label() {
          return `${this.sensor}=${this.value}`
        }
      }
      const RichTable = Table.make(Rich, { name: "readings", primaryKey: "id" })
      const PlainTable = Table.make(Plain, { name: "readings", primaryKey: "id" })
      const rich = yield* Repository.make(RichTable)
      const plain = yield* Repository.make(PlainTable)
      yield* rich.insertMany([1, 2, 3].map((v) => ({ sensor: "class", value: v, unit: "K", takenAt: new Date(0) })))
      const richRows = yield* rich.findMany(
        Query.make(RichTable).pipe(Query.where({ sensor: "class" }), Query.orderBy("value"))
      )
      expect(richRows.map((r) => [r.kind, r.label, r instanceof Rich])).toEqual([
        ["reading", "class: 1 K", true],
        ["reading", "class: 2 K", true],
        ["reading", "class: 3 K", true]
      ])
      const plainRows = yield* plain.findMany(
        Query.make(PlainTable).pipe(Query.where({ sensor: "class" }), Query.orderBy("value"))
      )
      expect(plainRows.map((r) => [r.label, r instanceof Plain, Object.keys(r).sort()])).toEqual(
        [1, 2, 3].map((v) => [`class=${v}`, true, ["id", "sensor", "takenAt", "unit", "value"]])
      )
    }))

  it.effect("every operation has a span named <table>.<operation>", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const readings = yield* Repository.make(Readings)
      yield* Effect.gen(function*() {
        const row = yield* readings.insert({ sensor: "span", value: 1, unit: "x", takenAt: new Date(0) })
        yield* readings.findById(row.id)
        yield* readings.count()
        yield* Database.transaction(readings.update(row.id, { value: 2 }))
      }).pipe(Effect.withTracer(tracer))
      const names = spans.map((s) => s.name)
      expect(names).toEqual(
        expect.arrayContaining(["readings.insert", "readings.findById", "readings.count", "readings.update", "Database.transaction"])
      )
      const update = spans.find((s) => s.name === "readings.update")!
      expect(update.attributes.get("db.collection.name")).toBe("readings")
      expect(update.attributes.get("db.operation.name")).toBe("update")
      expect(parentName(update)).toBe("Database.transaction")
    }))

  it.effect("a repository can live behind a Context.Tag or an Effect.Service", () =>
    Effect.gen(function*() {
      class ReadingStore extends Context.Tag("test/ReadingStore")<ReadingStore, Repository.Repository<typeof Readings>>() {
        static layer = Layer.effect(ReadingStore, Repository.make(Readings))
      }
      class ReadingService extends Effect.Service<ReadingService>()("test/ReadingService", {
        effect: Effect.gen(function*() {
          const repository = yield* Repository.make(Readings)
          return {
            record: (sensor: string, value: number) =>
              repository.insert({ sensor, value, unit: "x", takenAt: new Date(0) }),
            total: (sensor: string) =>
              Effect.map(repository.sum("value", Query.make(Readings).pipe(Query.where({ sensor }))), Option.getOrElse(() => 0))
          }
        })
      }) {}
      const total = yield* Effect.gen(function*() {
        const store = yield* ReadingStore
        const service = yield* ReadingService
        yield* store.insert({ sensor: "svc", value: 1.5, unit: "x", takenAt: new Date(0) })
        yield* service.record("svc", 2.5)
        return yield* service.total("svc")
      }).pipe(Effect.provide(Layer.merge(ReadingStore.layer, ReadingService.Default)))
      expect(total).toBe(4)
    }))
})

describe("prepared statements", () => {
  it.live("repository statements are prepared once per connection, and the cache per connection is bounded", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      yield* Effect.gen(function*() {
        yield* setup
        const sql = yield* SqlClient.SqlClient
        const readings = yield* Repository.make(Readings)
        const row = yield* readings.insert({ sensor: "p", value: 1, unit: "x", takenAt: new Date(0) })
        for (let i = 0; i < 3; i++) yield* readings.findById(row.id)
        const prepared = (yield* sql<{ n: number }>`select count(*)::int as n from pg_prepared_statements`)[0]!.n
        expect(prepared).toBe(2)
        // More distinct statements than the cache holds: the oldest are deallocated.
        for (let limit = 1; limit <= 6; limit++) {
          yield* readings.findMany(Query.make(Readings).pipe(Query.where({ value: Query.gte(limit) })))
          yield* readings.count(Query.make(Readings).pipe(Query.where({ unit: Query.in(["x"]) }), Query.where({ sensor: `s${limit}` })))
        }
        yield* readings.findMany(Query.make(Readings).pipe(Query.where({ sensor: Query.startsWith("p") })))
        const after = (yield* sql<{ n: number }>`select count(*)::int as n from pg_prepared_statements`)[0]!.n
        expect(after).toBeLessThanOrEqual(3)
      }).pipe(Effect.provide(Database.layer({ url, maxConnections: 1, statementCacheSize: 3 })))
    }).pipe(Effect.scoped))

  it.live("the statement cache evicts the least recently used statement", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      yield* Effect.gen(function*() {
        yield* setup
        const sql = yield* SqlClient.SqlClient
        const readings = yield* Repository.make(Readings)
        const prepared = () =>
          Effect.map(sql<{ statement: string }>`select statement from pg_prepared_statements`, (rows) =>
            new Set(rows.map((r) => r.statement)))
        const a = readings.findMany(Query.make(Readings).pipe(Query.where({ value: Query.gte(1) })))
        const b = readings.count(Query.make(Readings).pipe(Query.where({ unit: "x" })))
        const c = readings.findMany(Query.make(Readings).pipe(Query.where({ sensor: Query.startsWith("p") })))
        const d = readings.exists(Query.make(Readings).pipe(Query.where({ value: Query.lt(0) })))
        yield* a
        const afterA = yield* prepared()
        yield* b
        const textOfB = [...(yield* prepared())].filter((t) => !afterA.has(t))
        expect(textOfB).toHaveLength(1)
        yield* c
        const full = yield* prepared()
        expect(full.size).toBe(3)
        // A is used again, so B is now the least recently used.
        yield* a
        yield* d
        const after = yield* prepared()
        expect(after.size).toBe(3)
        expect(after.has(textOfB[0]!)).toBe(false)
        expect([...full].filter((t) => t !== textOfB[0]).every((t) => after.has(t))).toBe(true)
      }).pipe(Effect.provide(Database.layer({ url, maxConnections: 1, statementCacheSize: 3 })))
    }).pipe(Effect.scoped))

  it.live("a migration that changes a column's type under a prepared statement is recovered transparently", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      yield* Effect.gen(function*() {
        yield* setup
        const sql = yield* SqlClient.SqlClient
        const readings = yield* Repository.make(Readings)
        const row = yield* readings.insert({ sensor: "m", value: 1, unit: "x", takenAt: new Date(0) })
        // Prepare the statement on both pooled connections.
        yield* Effect.all([readings.findById(row.id), readings.findById(row.id)], { concurrency: 2 })
        yield* sql`alter table readings alter column value type numeric using value::numeric`
        const again = yield* Effect.all([readings.findById(row.id), readings.findById(row.id)], { concurrency: 2 })
        expect(again.map((r) => Option.map(r, (x) => x.value))).toEqual([Option.some(1), Option.some(1)])
      }).pipe(Effect.provide(Database.layer({ url, maxConnections: 2 })))
    }).pipe(Effect.scoped))
})

describe("streaming a million rows", () => {
  it.live("keeps heap growth under 64 MB", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      yield* Effect.gen(function*() {
        yield* setup
        const sql = yield* SqlClient.SqlClient
        yield* sql`insert into readings (sensor, value, unit, taken_at)
          select 'bulk-' || (g % 100), g, 'unit', now() from generate_series(1, 1000000) g`
        const readings = yield* Repository.make(Readings)
        // Heap still in use after a full GC: what the stream retains, not
        // garbage that has not been collected yet.
        const gc = (globalThis as { gc?: () => void }).gc
        assert(gc !== undefined, "run with --expose-gc (vitest.config.ts sets it)")
        gc()
        const baseline = process.memoryUsage().heapUsed
        let peak = baseline
        let rows = 0
        let sum = 0
        yield* readings.stream(Query.make(Readings), { batchSize: 2_000 }).pipe(
          Stream.runForEach((reading) =>
            Effect.sync(() => {
              rows++
              sum += reading.value
              if (rows % 100_000 === 0) {
                gc()
                peak = Math.max(peak, process.memoryUsage().heapUsed)
              }
            })
          )
        )
        expect(rows).toBe(1_000_000)
        expect(sum).toBe(500_000_500_000)
        const growthMb = (peak - baseline) / 1024 / 1024
        console.log(`streaming 1,000,000 rows: heap growth ${growthMb.toFixed(1)} MB`)
        expect(growthMb).toBeLessThan(64)
      }).pipe(Effect.provide(Database.layer({ url })))
    }).pipe(Effect.scoped), 300_000)
})
