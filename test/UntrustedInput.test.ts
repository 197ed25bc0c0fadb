/**
 * Input from a request never becomes SQL, and never a defect. Random
 * untrusted input (arbitrary JSON, objects imitating the library's own
 * tags and operators, prototype keys, strings full of SQL, bad numbers,
 * forged cursors) is fed to every repository function that takes a filter,
 * a field name, a limit, an offset, a page or batch size, an upsert target
 * or a cursor, on PostgreSQL and on the in-memory database. Each call ends
 * in a result or a typed error, never a defect; both databases answer the
 * same; no statement text sent to PostgreSQL (read off the wire by a proxy)
 * holds any of the input's text; and a sentinel table survives.
 *
 * Reproduce a run with UNTRUSTED_SEED=<seed> (printed at the start);
 * UNTRUSTED_RUNS sets the number of calls (default 400).
 */
import * as Model from "@effect/sql/Model"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Database from "../src/Database.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Table from "../src/Table.js"
import { sandbox } from "../src/testing/ContractSuite.js"
import * as Fixtures from "../src/testing/Fixtures.js"
import * as Admin from "./support/admin.js"
import { statementLog } from "./support/statementLog.js"
import { type Outcome, outcomeOf } from "./support/outcome.js"
import * as TestDatabase from "./support/TestDatabase.js"

const SEED = Number(process.env.UNTRUSTED_SEED ?? Math.floor(Math.random() * 2 ** 31))
const RUNS = Number(process.env.UNTRUSTED_RUNS ?? 400)
const BASE_TIME = Date.UTC(2026, 0, 1)

// Every string of the input that could be mistaken for SQL carries this
// mark; effect-dal's own statements never hold it.
const MARK = "\u2620"

// The contract suite's members table, with its integer columns declared
// Schema.Int: a number that fits the model then fits the column, as the
// README advises (the in-memory database does not know column types).
class Person extends Model.Class<Person>("Person")({
  id: Model.Generated(Schema.Int),
  email: Schema.String,
  name: Schema.String,
  age: Schema.NullOr(Schema.Int),
  score: Schema.Number,
  tags: Schema.Array(Schema.String),
  profile: Schema.Struct({ city: Schema.optional(Schema.String), plan: Schema.optional(Schema.String) }),
  version: Schema.Int,
  deletedAt: Schema.NullOr(Schema.DateFromSelf),
  createdAt: Model.DateTimeInsertFromDate,
  updatedAt: Model.DateTimeUpdateFromDate
}) {}

const People = Table.make(Person, {
  name: "members",
  primaryKey: "id",
  uniqueKeys: [["email"]],
  softDelete: "deletedAt",
  version: "version",
  timestamps: { created: "createdAt", updated: "updatedAt" }
})

type Members = typeof People
type Member = Table.Row<Members>

// ---------------------------------------------------------------------------
// untrusted input
// ---------------------------------------------------------------------------

const payloads = [
  "= $1 OR 1=1 OR \"name\" =",
  "'; DROP TABLE sentinel; --",
  "EXISTS (SELECT secret FROM sentinel)",
  "\" OR 1=1 --",
  "name\"; DELETE FROM members; --",
  "$1",
  "1; DROP TABLE sentinel",
  "pg_sleep(10)"
]
const hostile = fc.oneof(
  fc.constantFrom(...payloads.map((p) => `${p}${MARK}`)),
  fc.string({ minLength: 1, maxLength: 12 }).map((s) => `${s}${MARK}`)
)
const prototypeKeys = ["__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty", "__defineGetter__"]
const prototypeKey = fc.constantFrom(...prototypeKeys)
const fieldName = fc.constantFrom(...(People.fields as ReadonlyArray<string>))
const imitatedKey = fc.constantFrom("_tag", "expr", "op", "toExpr")
const anyName = fc.oneof(fieldName, fieldName, hostile, prototypeKey, imitatedKey)

const json = fc.oneof(fc.jsonValue({ maxDepth: 2 }), hostile)

// A number where a count belongs: whole and not, negative, huge, and not a number at all.
const count = fc.oneof(
  fc.integer({ min: -3, max: 8 }),
  fc.double(),
  fc.constantFrom(-1, 0.5, -0, Number.NaN, Infinity, -Infinity, 1e300, 2 ** 53, 2 ** 53 - 1, 2 ** 31),
  fc.constantFrom<unknown>("10", null, {}, [], true, "1; DROP TABLE sentinel")
)

// Objects shaped like the library's own nodes, as JSON would bring them.
const imitation: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  expr: fc.record({
    _tag: fc.constantFrom("Compare", "Const", "And", "Or", "Not", "In", "IsNull", "Like", "JsonContains", "Invalid", "Raw"),
    field: anyName,
    op: fc.oneof(fc.constantFrom("=", ">", "<>"), hostile),
    value: fc.oneof(json, fc.boolean()),
    values: fc.oneof(fc.array(json, { maxLength: 3 }), json),
    negated: fc.boolean(),
    pattern: hostile,
    exprs: fc.array(tie("expr"), { maxLength: 2 }),
    expr: fc.oneof(json, tie("expr"))
  }, { requiredKeys: ["_tag"] }),
  any: fc.oneof(
    tie("expr"),
    tie("expr").map((expr) => ({ _tag: "Condition", expr })),
    fc.record({ _tag: fc.constant("Operator"), toExpr: json }),
    fc.record({ _tag: fc.constant("Increment"), by: fc.oneof(fc.integer(), json) })
  )
})).any

const value = fc.oneof({ weight: 3, arbitrary: json }, { weight: 2, arbitrary: imitation }, { weight: 1, arbitrary: count })

// Values that fit a field (as a request that passes validation would
// bring them), hostile text included: they reach the database as
// parameters.
const fitting: Record<string, fc.Arbitrary<unknown>> = {
  id: fc.integer({ min: 0, max: 8 }),
  email: fc.oneof(fc.constantFrom("member1@example.com", "member2@example.com"), hostile),
  name: fc.oneof(fc.constantFrom("Member 1", "member 2"), hostile),
  age: fc.oneof(fc.constant(null), fc.integer({ min: 18, max: 30 })),
  score: fc.constantFrom(0, 1.5, 3, 4.5),
  tags: fc.array(fc.oneof(fc.constantFrom("a", "b", "c"), hostile), { maxLength: 2 }),
  profile: fc.oneof(fc.constant({}), fc.record({ city: fc.oneof(fc.constantFrom("Lyon", "Oslo"), hostile) })),
  version: fc.integer({ min: 0, max: 3 }),
  deletedAt: fc.constant(null)
}
const fittingEntry = fc.constantFrom(...Object.keys(fitting)).chain((field) =>
  fitting[field]!.map((v) => [field, v] as const)
)

// As JSON.parse makes them: "__proto__" is an own key like any other.
const object = (keys: fc.Arbitrary<string>, values: fc.Arbitrary<unknown>) =>
  fc.array(fc.oneof(fittingEntry, fittingEntry, fc.tuple(keys, values)), { maxLength: 3 }).map((entries) =>
    Object.fromEntries(entries)
  )

// Query's own operators, given a request's field name and arguments
// (`{ [body.field]: Query.like(body.pattern) }`): an operator on a field
// whose column has no such operator, or with arguments of the wrong kind,
// is refused on both databases alike.
const operators = [
  "eq", "ne", "lt", "gte", "between", "in", "notIn", "isNull", "isNotNull",
  "like", "ilike", "startsWith", "contains", "overlaps", "jsonContains"
] as const
const operatorArgument = fc.oneof(json, fc.array(fc.oneof(json, fittingEntry.map(([, v]) => v)), { maxLength: 2 }), fittingEntry.map(([, v]) => v))
const operatorFilter = fc.tuple(fc.oneof(fieldName, fieldName, anyName), fc.constantFrom(...operators), operatorArgument, operatorArgument)
  .map(([field, op, a, b]) => {
    const make = Query as unknown as Record<string, (...args: Array<unknown>) => Query.Operator<unknown>>
    const operator = op === "between"
      ? Query.between(a, b)
      : op === "startsWith"
      ? Query.startsWith(a as string, { caseInsensitive: b as boolean })
      : make[op]!(a)
    return Object.fromEntries([[field, operator]])
  })

const filter = fc.oneof(
  { weight: 8, arbitrary: object(anyName, value) },
  { weight: 4, arbitrary: operatorFilter },
  { weight: 2, arbitrary: imitation },
  { weight: 1, arbitrary: fc.oneof(json, fc.constant(undefined)) }
)

const cursor = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.base64String({ maxLength: 60 }),
  fc.constantFrom<unknown>(undefined, null, 42, {}, "a".repeat(70_000)),
  // Well-formed payloads with forged values, for the default ordering by id.
  fc.record({
    f: fc.oneof(fc.constant(["id:asc:last"]), fc.array(fc.oneof(hostile, fc.constant("id:asc:last")), { maxLength: 2 })),
    v: fc.array(
      fc.oneof(
        json,
        fc.constantFrom<unknown>(
          { $bigint: "1; DROP TABLE sentinel" },
          { $bigint: "12345678901234567890" },
          { $date: "not a date" },
          { $date: 42 },
          { $bigint: "1", __proto__: { $date: "x" } }
        ),
        fc.integer({ min: -2, max: 30 })
      ),
      { maxLength: 2 }
    )
  }).map((payload) => Buffer.from(JSON.stringify(payload), "utf8").toString("base64url"))
)

interface QueryInput {
  readonly filter: unknown
  readonly order?: { readonly field: unknown; readonly direction: unknown; readonly nulls: unknown } | undefined
  readonly distinct?: unknown
  readonly limit?: unknown
  readonly offset?: unknown
}

const countOrNot = fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 }), count)

// A request that passed validation: known fields, fitting values (hostile
// text among them), sane counts. It reaches the database.
const validQuery: fc.Arbitrary<QueryInput> = fc.record({
  filter: fc.array(fittingEntry, { maxLength: 2 }).map((entries) => Object.fromEntries(entries)),
  order: fc.option(
    fc.record({
      field: fc.constantFrom("id", "email", "name", "age", "score", "tags", "profile", "version"),
      direction: fc.constantFrom("asc", "desc"),
      nulls: fc.constantFrom("first", "last", undefined)
    }),
    { nil: undefined }
  ),
  distinct: fc.option(fc.constantFrom("age", "profile", "name"), { nil: undefined, freq: 4 }),
  limit: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
  offset: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined })
}, { requiredKeys: ["filter"] })

const hostileQuery: fc.Arbitrary<QueryInput> = fc.record({
  filter,
  order: fc.option(
    fc.record({
      field: fc.oneof(fieldName, anyName),
      direction: fc.oneof(fc.constantFrom("asc", "desc", undefined), hostile),
      nulls: fc.oneof(fc.constantFrom("first", "last", undefined), hostile)
    }),
    { nil: undefined }
  ),
  distinct: fc.option(fc.oneof(fieldName, anyName), { nil: undefined, freq: 4 }),
  limit: fc.option(countOrNot, { nil: undefined }),
  offset: fc.option(countOrNot, { nil: undefined })
}, { requiredKeys: ["filter"] })

const queryInput = fc.oneof(validQuery, hostileQuery)

const patch = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.array(fittingEntry.filter(([field]) => field !== "id" && field !== "version"), { minLength: 1, maxLength: 2 })
      .map((entries) => Object.fromEntries(entries))
  },
  { weight: 4, arbitrary: object(anyName, value) },
  { weight: 1, arbitrary: json }
)

const insertRow = fc.record({
  email: fc.oneof(fc.constantFrom("member1@example.com", "new@example.com"), hostile),
  name: fc.oneof(hostile, fc.string()),
  age: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 120 })),
  score: fc.integer({ min: 0, max: 100 }),
  tags: fc.array(fc.oneof(hostile, fc.string()), { maxLength: 2 }),
  profile: fc.record({ city: hostile }, { requiredKeys: [] })
})

type Op =
  | { readonly op: "findMany" | "findOne" | "count" | "exists" | "deleteMany"; readonly query: QueryInput }
  | { readonly op: "aggregate"; readonly fn: "sum" | "avg" | "min" | "max"; readonly field: unknown; readonly query: QueryInput }
  | { readonly op: "paginate"; readonly query: QueryInput; readonly pageSize: unknown; readonly after: unknown }
  | { readonly op: "stream"; readonly query: QueryInput; readonly batchSize: unknown }
  | { readonly op: "updateMany"; readonly query: QueryInput; readonly patch: unknown }
  | { readonly op: "update"; readonly id: unknown; readonly patch: unknown; readonly expectedVersion: unknown }
  | { readonly op: "upsert"; readonly row: unknown; readonly onConflict: unknown; readonly update: unknown }

const op = fc.oneof(
  fc.record({ op: fc.constantFrom("findMany", "findOne", "count", "exists", "deleteMany"), query: queryInput }),
  fc.record({
    op: fc.constant("aggregate"),
    fn: fc.constantFrom("sum", "avg", "min", "max"),
    field: fc.oneof(fc.constantFrom("age", "score", "version"), anyName),
    query: queryInput
  }),
  fc.record({
    op: fc.constant("paginate"),
    query: queryInput,
    pageSize: fc.oneof(fc.integer({ min: 1, max: 4 }), count),
    after: fc.oneof(fc.constant(undefined), cursor)
  }),
  fc.record({ op: fc.constant("stream"), query: queryInput, batchSize: fc.oneof(fc.constant(undefined), countOrNot) }),
  fc.record({ op: fc.constant("updateMany"), query: queryInput, patch }),
  fc.record({
    op: fc.constant("update"),
    id: fc.oneof(fc.integer({ min: 0, max: 6 }), json),
    patch,
    expectedVersion: fc.oneof(fc.constant(undefined), count)
  }),
  fc.record({
    op: fc.constant("upsert"),
    row: fc.oneof({ weight: 4, arbitrary: insertRow }, { weight: 1, arbitrary: json }),
    onConflict: fc.oneof(
      fc.constantFrom<unknown>(["email"], ["id"], { constraint: "members_email_key" }, { constraint: "members_pkey" }),
      fc.array(fc.oneof(hostile, prototypeKey), { minLength: 1, maxLength: 2 }),
      fc.record({ constraint: fc.oneof(hostile, prototypeKey) }),
      json
    ),
    update: fc.oneof(fc.constantFrom<unknown>(undefined, "all", "nothing", ["name"]), fc.array(anyName, { maxLength: 2 }), hostile)
  })
) as fc.Arbitrary<Op>

// ---------------------------------------------------------------------------
// running one call
// ---------------------------------------------------------------------------

const buildQuery = (input: QueryInput): Query.Query<Member> => {
  let query = Query.make(People).pipe(Query.where(input.filter as never))
  if (input.order !== undefined) {
    query = Query.orderBy(query, input.order.field as never, input.order.direction as never, { nulls: input.order.nulls as never })
  }
  // Ties are ordered arbitrarily by PostgreSQL: the key ends every ordering.
  query = Query.orderBy(query, "id")
  if (input.distinct !== undefined) query = query.pipe(Query.distinct(input.distinct as never))
  if (input.limit !== undefined) query = Query.limit(query, input.limit as never)
  if (input.offset !== undefined) query = Query.offset(query, input.offset as never)
  return query
}

const millisOf = (value: unknown) =>
  value === null ? null : value instanceof Date ? value.getTime() : DateTime.toEpochMillis(value as DateTime.Utc)

// Rows seeded before the run keep their ids on both databases; ids handed
// out during a call differ (Postgres never rolls a sequence back).
const SEEDED = 6
const shown = (row: Member) => ({
  id: row.id <= SEEDED ? row.id : "new",
  email: row.email,
  name: row.name,
  age: row.age,
  score: row.score,
  tags: row.tags,
  profile: row.profile,
  version: row.version,
  deletedAt: millisOf(row.deletedAt),
  createdAt: millisOf(row.createdAt),
  updatedAt: millisOf(row.updatedAt)
})


const call = (members: Repository.Repository<Members>, o: Op): Effect.Effect<Outcome, never, Database.Database> =>
  Effect.suspend(() => {
    const rows = (list: ReadonlyArray<Member>) => list.map(shown)
    switch (o.op) {
      case "findMany":
        return outcomeOf(members.findMany(buildQuery(o.query)), rows)
      case "findOne":
        return outcomeOf(members.findOne(buildQuery(o.query)), Option.map(shown))
      case "count":
        return outcomeOf(members.count(buildQuery(o.query)), (n) => n)
      case "exists":
        return outcomeOf(members.exists(buildQuery(o.query)), (b) => b)
      case "deleteMany":
        return outcomeOf(members.deleteMany(buildQuery(o.query)), (n) => n)
      case "aggregate":
        return outcomeOf(members[o.fn](o.field as never, buildQuery(o.query)), (n) => n)
      case "paginate":
        return outcomeOf(
          members.paginate(buildQuery(o.query), { limit: o.pageSize as never, after: o.after as never }),
          (page) => ({ items: rows(page.items), next: page.next })
        )
      case "stream":
        return outcomeOf(
          Stream.runCollect(members.stream(buildQuery(o.query), { batchSize: o.batchSize as never })),
          (chunk) => rows(Chunk.toReadonlyArray(chunk))
        )
      case "updateMany":
        return outcomeOf(members.updateMany(buildQuery(o.query), o.patch as never), (n) => n)
      case "update":
        return outcomeOf(members.update(o.id as never, o.patch as never, { expectedVersion: o.expectedVersion as never }), shown)
      case "upsert":
        return outcomeOf(
          members.upsert(o.row as never, { onConflict: o.onConflict as never, update: o.update as never }),
          shown
        )
    }
  })

// A clock that stands still, the same on both databases.
const liveClock = Clock.make()
const fixedClock: Clock.Clock = {
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: () => BASE_TIME,
  currentTimeMillis: Effect.succeed(BASE_TIME),
  unsafeCurrentTimeNanos: () => BigInt(BASE_TIME) * 1_000_000n,
  currentTimeNanos: Effect.succeed(BigInt(BASE_TIME) * 1_000_000n),
  sleep: (duration) => liveClock.sleep(duration)
}

const seedRows: ReadonlyArray<Table.Insert<Members>> = Array.from({ length: SEEDED }, (_, i) => ({
  email: `member${i + 1}@example.com`,
  name: i % 2 === 0 ? `Member ${i + 1}` : `member ${i + 1}`,
  age: i === 3 ? null : 20 + i,
  score: i * 1.5,
  tags: i % 2 === 0 ? ["a"] : ["b", "c"],
  profile: i === 0 ? {} : { city: i % 2 === 0 ? "Lyon" : "Oslo" }
}))

const seed = Effect.gen(function*() {
  const members = yield* Repository.make(People)
  yield* members.insertMany(seedRows)
  // One soft-deleted row, so visibility is part of every answer.
  yield* members.delete(SEEDED)
  return members
}).pipe(Effect.withClock(fixedClock))

/** Every string anywhere in the input, keys included. */
const stringsOf = (input: unknown, out: Array<string> = []): Array<string> => {
  if (typeof input === "string") out.push(input)
  else if (Array.isArray(input)) for (const item of input) stringsOf(item, out)
  else if (typeof input === "object" && input !== null) {
    for (const key of Object.keys(input)) {
      out.push(key)
      stringsOf((input as Record<string, unknown>)[key], out)
    }
  }
  return out
}

describe("untrusted input", () => {
  let url: string
  let statements: () => ReadonlyArray<string>
  let pg: ManagedRuntime.ManagedRuntime<Database.Database, unknown>
  let memory: ManagedRuntime.ManagedRuntime<Database.Database, never>
  let pgMembers: Repository.Repository<Members>
  let memoryMembers: Repository.Repository<Members>

  beforeAll(async () => {
    // The database and the proxy live as long as the suite.
    const layer = Layer.unwrapScoped(Effect.gen(function*() {
      url = yield* TestDatabase.url
      for (const statement of Fixtures.ddl) yield* Admin.query(url, statement)
      yield* Admin.query(url, "create table sentinel (id integer primary key, secret text not null)")
      yield* Admin.query(url, "insert into sentinel values (1, 'still here')")
      const log = yield* statementLog(url)
      statements = log.statements
      return Database.layer({ url: log.url, maxConnections: 2 })
    }))
    pg = ManagedRuntime.make(layer)
    memory = ManagedRuntime.make(Database.layerMemory())
    pgMembers = await pg.runPromise(seed)
    memoryMembers = await memory.runPromise(seed)
  }, 60_000)
  afterAll(async () => {
    await pg?.dispose()
    await memory?.dispose()
  })

  const onBoth = async (o: Op) => {
    const program = (members: Repository.Repository<Members>) =>
      sandbox(call(members, o)).pipe(Effect.withClock(fixedClock))
    const before = statements().length
    const expected = await pg.runPromise(program(pgMembers))
    const sent = statements().slice(before)
    const actual = await memory.runPromise(program(memoryMembers))
    return { expected, actual, sent }
  }

  it(`ends every call in a result or a typed error, the same on both databases, with no input in any statement (seed ${SEED})`, async () => {
    console.log(`untrusted input: seed ${SEED}, ${RUNS} calls (UNTRUSTED_SEED=${SEED} replays this run)`)
    const outcomes = new Map<string, number>()
    await fc.assert(
      fc.asyncProperty(op, async (o) => {
        const { actual, expected, sent } = await onBoth(o)
        expect("defect" in expected ? expected.defect : undefined, "a defect on PostgreSQL").toBeUndefined()
        expect("defect" in actual ? actual.defect : undefined, "a defect on the in-memory database").toBeUndefined()
        expect({ memory: actual }, "the in-memory database answers as PostgreSQL does").toEqual({ memory: expected })
        // No statement holds any of the input's marked strings, nor a
        // prototype key; fields and columns are the table definition's own.
        const marked = sent.filter((text) => text.includes(MARK))
        expect(marked).toEqual([])
        for (const text of stringsOf(o)) {
          if (text.includes(MARK) || prototypeKeys.includes(text)) {
            expect(sent.some((statement) => statement.includes(text)), text).toBe(false)
          }
        }
        const kind = "error" in expected ? `${o.op}: ${JSON.stringify(expected.error)}` : `${o.op}: ok`
        outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1)
      }),
      { numRuns: RUNS, seed: SEED }
    )
    console.log([...outcomes].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${n}\t${k}`).join("\n"))
    // The input reached the database, not only the checks: many calls succeeded.
    const succeeded = [...outcomes].filter(([kind]) => kind.endsWith(": ok")).reduce((n, [, c]) => n + c, 0)
    expect(succeeded).toBeGreaterThan(RUNS / 10)
    const sentinel = await Effect.runPromise(Admin.query<{ id: number; secret: string }>(url, "select * from sentinel"))
    expect(sentinel).toEqual([{ id: 1, secret: "still here" }])
    const counts = await Effect.runPromise(Admin.query<{ n: string }>(url, "select count(*) as n from members"))
    expect(Number(counts[0]!.n)).toBe(SEEDED)
  }, 240_000)
})
