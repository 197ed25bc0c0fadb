/**
 * The in-memory database and PostgreSQL give the same answers: random
 * sequences of writes and queries on the fixture tables run on both, each
 * inside a transaction that is rolled back, and every result is compared.
 *
 * Reproduce a run with DIFFERENTIAL_SEED=<seed> (printed at the start and
 * in the failure, with the shrunk counterexample):
 *
 *   DIFFERENTIAL_SEED=123 npx vitest run test/Differential.test.ts
 *
 * DIFFERENTIAL_RUNS sets the number of sequences (default 1,000), and
 * OPERATOR_RUNS the number of operator batches (default 300).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Database from "../src/Database.js"
import * as DatabaseError from "../src/DatabaseError.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import type * as Table from "../src/Table.js"
import { sandbox } from "../src/testing/ContractSuite.js"
import * as Fixtures from "../src/testing/Fixtures.js"
import * as Relations from "../src/testing/contract/relations.js"
import { compare, compareText, jsonbContains, like } from "../src/internal/memory/values.js"
import * as TestDatabase from "./support/TestDatabase.js"

const RUNS = Number(process.env.DIFFERENTIAL_RUNS ?? 1000)
const SEED = process.env.DIFFERENTIAL_SEED === undefined
  ? Math.floor(Math.random() * 2 ** 31)
  : Number(process.env.DIFFERENTIAL_SEED)

const BASE_TIME = Date.UTC(2031, 4, 6, 7, 8, 9)

// ---------------------------------------------------------------------------
// operations, as plain data so that fast-check can print and shrink them
// ---------------------------------------------------------------------------

type MemberRow = {
  readonly email: string
  readonly name: string
  readonly age: number | null
  readonly score: number
  readonly tags: ReadonlyArray<string>
  readonly profile: { readonly city?: string; readonly plan?: string }
}

type Filter =
  | { readonly cmp: Query.Comparison; readonly field: string; readonly value: unknown }
  | { readonly between: string; readonly low: unknown; readonly high: unknown }
  | { readonly in: string; readonly values: ReadonlyArray<unknown>; readonly negated: boolean }
  | { readonly isNull: string; readonly negated: boolean }
  | { readonly like: string; readonly pattern: string; readonly caseInsensitive: boolean }
  | { readonly contains: ReadonlyArray<string> }
  | { readonly overlaps: ReadonlyArray<string> }
  | { readonly json: Record<string, unknown> }
  | { readonly and: ReadonlyArray<Filter> }
  | { readonly or: ReadonlyArray<Filter> }
  | { readonly not: Filter }

type Order = { readonly field: string; readonly direction: "asc" | "desc"; readonly nulls?: "first" | "last" }

type MemberQuery = {
  readonly where?: Filter
  readonly order: ReadonlyArray<Order>
  readonly distinct?: string
  readonly limit?: number
  readonly offset?: number
  readonly deleted: Query.Deleted
}

type SettingQuery = { readonly where?: Filter; readonly order: ReadonlyArray<Order>; readonly limit?: number }

type Op =
  | { readonly op: "insert"; readonly row: MemberRow; readonly savepoint: boolean }
  | { readonly op: "insertMany"; readonly rows: ReadonlyArray<MemberRow>; readonly savepoint: boolean }
  | {
    readonly op: "upsertMember"
    readonly row: MemberRow
    readonly update: Repository.ConflictUpdate<string>
    readonly savepoint: boolean
  }
  | {
    readonly op: "update"
    readonly ref: number
    readonly patch: Partial<MemberRow>
    readonly expectedVersion?: number
    readonly savepoint: boolean
  }
  | { readonly op: "updateMany"; readonly query: MemberQuery; readonly patch: Partial<MemberRow>; readonly savepoint: boolean }
  | { readonly op: "delete" | "hardDelete" | "restore"; readonly ref: number; readonly savepoint: boolean }
  | { readonly op: "deleteMany"; readonly query: MemberQuery; readonly savepoint: boolean }
  | { readonly op: "findById" | "getById"; readonly ref: number }
  | { readonly op: "findMany" | "findOne" | "count" | "exists"; readonly query: MemberQuery }
  | { readonly op: "aggregate"; readonly fn: "sum" | "avg" | "min" | "max"; readonly field: "age" | "score"; readonly query: MemberQuery }
  | { readonly op: "paginate"; readonly query: MemberQuery; readonly limit: number }
  | {
    readonly op: "upsertSetting"
    readonly key: string
    readonly value: number
    readonly label: string
    readonly update: Repository.ConflictUpdate<string>
    readonly byConstraint: boolean
    readonly savepoint: boolean
  }
  | { readonly op: "updateSetting"; readonly key: string; readonly value: number; readonly expectedVersion?: number; readonly savepoint: boolean }
  | { readonly op: "deleteSetting"; readonly key: string; readonly savepoint: boolean }
  | { readonly op: "settings"; readonly query: SettingQuery }
  | { readonly op: "tick"; readonly millis: number }
  | { readonly op: "nested"; readonly ops: ReadonlyArray<Op>; readonly rollback: boolean }

// ---------------------------------------------------------------------------
// generators
// ---------------------------------------------------------------------------

// Text that tells the "C" collation from others: case, digits,
// punctuation, accents (precomposed and combining), emoji (astral, so
// UTF-16 order differs from code point order), the private use area, and
// LIKE's own wildcard and escape characters.
const chars = [
  "a", "A", "b", "B", "z", "Z", "0", "1", "9", " ", "-", "_", "%", "\\", "'", "\"", ";",
  "é", "É", "e\u0301", "ß", "ø", "İ", "ı", "🦄", "😀", "\uE000", "\uFFFD", "ﬁ", "Ж", "ж"
]
const knownNames = ["Ann", "Émile", "émile", "Zoë", "ÉMILE", "Жанна", "İlke", "straße", "ﬁne", "🦄x"]
const text = fc.array(fc.constantFrom(...chars), { maxLength: 4 }).map((parts) => parts.join(""))
const names = fc.oneof(
  {
    weight: 15,
    arbitrary: fc.constantFrom(
      "Ann", "ann", "ANN", "bob", "Bob", "Émile", "émile", "Zoë", "zoe", "10", "9", "", "🦄", "\uE000", "\uFFFD", "ﬁ",
      "a_b", "a%b", "a\\b", ...knownNames
    )
  },
  { weight: 8, arbitrary: text },
  // Now and then a NUL, which Postgres text cannot hold: the same typed error on both.
  { weight: 1, arbitrary: fc.constant("nul\u0000") }
)
const emails = fc.constantFrom("a@x", "A@x", "b@x", "B@x", "é@x", "É@x", "🦄@x", "\uE000@x", "z@x", "0@x", "_@x", "%@x")
const ages = fc.option(fc.integer({ min: -2, max: 4 }), { nil: null, freq: 4 })
const scores = fc.integer({ min: -8, max: 8 }).map((n) => n / 2)
const tagValues = ["a", "B", "ops", "é", "🦄"]
const tags = fc.array(fc.constantFrom(...tagValues), { maxLength: 3 })
const profiles = fc.record(
  { city: fc.constantFrom("Oslo", "oslo", "Bergen"), plan: fc.constantFrom("pro", "free") },
  { requiredKeys: [] }
)
const memberRow: fc.Arbitrary<MemberRow> = fc.record({ email: emails, name: names, age: ages, score: scores, tags, profile: profiles })

const timestamps = fc.integer({ min: 0, max: 4 }).map((n) => BASE_TIME + n * 1000)
const comparisons = fc.constantFrom<Query.Comparison>("=", "<>", "<", "<=", ">", ">=")

// A LIKE pattern: literals, wildcards, and escaped characters (never a
// lone trailing backslash); or the start of a known name with its case
// changed in full Unicode, which tells ILIKE's ASCII-only folding under
// the "C" collation from a Unicode one.
const pattern = fc.oneof(
  fc.array(
    fc.oneof(
      fc.constantFrom(...chars.filter((c) => c !== "\\" && c !== "%" && c !== "_")),
      fc.constantFrom("%", "_", "\\%", "\\_", "\\\\", "\\a")
    ),
    { maxLength: 4 }
  ).map((parts) => parts.join("")),
  fc.record({
    name: fc.constantFrom(...knownNames),
    upper: fc.boolean(),
    length: fc.integer({ min: 1, max: 3 }),
    rest: fc.constantFrom("%", "", "_%", "%e")
  }).map(({ length, name, rest, upper }) => {
    const cased = upper ? name.toUpperCase() : name.toLowerCase()
    return Query.escapeLike(Array.from(cased).slice(0, length).join("")) + rest
  })
)

const likeFilter: fc.Arbitrary<Filter> = fc.record({
  like: fc.constantFrom("name", "email"),
  pattern,
  caseInsensitive: fc.boolean()
})

const leaf: fc.Arbitrary<Filter> = fc.oneof(
  fc.record({ cmp: comparisons, field: fc.constantFrom("name", "email"), value: fc.oneof(names, emails) }),
  fc.record({ cmp: comparisons, field: fc.constant("age"), value: ages }),
  fc.record({ cmp: comparisons, field: fc.constant("score"), value: scores }),
  fc.record({ cmp: comparisons, field: fc.constantFrom("createdAt", "updatedAt"), value: timestamps }),
  fc.record({ cmp: comparisons, field: fc.constant("version"), value: fc.integer({ min: 1, max: 3 }) }),
  // A value the schema refuses: a ParseError before any SQL, on both.
  fc.record({ cmp: comparisons, field: fc.constant("age"), value: fc.constant("old") }),
  fc.record({ between: fc.constant("age"), low: ages, high: ages }),
  fc.record({ between: fc.constant("score"), low: scores, high: scores }),
  fc.record({ between: fc.constant("name"), low: text, high: text }),
  fc.record({ in: fc.constant("age"), values: fc.array(ages, { maxLength: 3 }), negated: fc.boolean() }),
  fc.record({ in: fc.constant("name"), values: fc.array(names, { maxLength: 3 }), negated: fc.boolean() }),
  fc.record({ isNull: fc.constantFrom("age", "deletedAt"), negated: fc.boolean() }),
  likeFilter,
  fc.record({ contains: fc.array(fc.constantFrom(...tagValues), { maxLength: 2 }) }),
  fc.record({ overlaps: fc.array(fc.constantFrom(...tagValues), { maxLength: 2 }) }),
  fc.record({ json: profiles })
)

const filter: fc.Arbitrary<Filter> = fc.letrec<{ filter: Filter }>((tie) => ({
  filter: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.record({ and: fc.array(tie("filter"), { maxLength: 3 }) }),
    fc.record({ or: fc.array(tie("filter"), { maxLength: 3 }) }),
    fc.record({ not: tie("filter") })
  )
})).filter

const order = (fields: ReadonlyArray<string>) =>
  fc.record(
    { field: fc.constantFrom(...fields), direction: fc.constantFrom<"asc" | "desc">("asc", "desc"), nulls: fc.constantFrom<"first" | "last">("first", "last") },
    { requiredKeys: ["field", "direction"] }
  )

const memberQuery: fc.Arbitrary<MemberQuery> = fc.record(
  {
    where: fc.oneof({ weight: 2, arbitrary: leaf }, { weight: 1, arbitrary: filter }),
    order: fc.array(order(["name", "email", "age", "score", "createdAt", "updatedAt", "deletedAt", "version", "id"]), {
      maxLength: 2
    }),
    distinct: fc.constantFrom("age", "name", "score"),
    limit: fc.integer({ min: 0, max: 5 }),
    offset: fc.integer({ min: 0, max: 3 }),
    deleted: fc.oneof(
      { weight: 4, arbitrary: fc.constant<Query.Deleted>("exclude") },
      { weight: 2, arbitrary: fc.constant<Query.Deleted>("include") },
      { weight: 1, arbitrary: fc.constant<Query.Deleted>("only") }
    )
  },
  { requiredKeys: ["order", "deleted"] }
)

const settingQuery: fc.Arbitrary<SettingQuery> = fc.record(
  {
    where: fc.oneof(
      fc.record({ cmp: comparisons, field: fc.constantFrom("key", "label"), value: text }),
      fc.record({ cmp: comparisons, field: fc.constant("value"), value: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ like: fc.constantFrom("key", "label"), pattern, caseInsensitive: fc.boolean() })
    ),
    order: fc.array(order(["key", "value", "label", "version", "updatedAt"]), { maxLength: 2 }),
    limit: fc.integer({ min: 0, max: 4 })
  },
  { requiredKeys: ["order"] }
)

// Numeric fields are also patched with increments (NULL + n stays NULL).
const increments = fc.integer({ min: -5, max: 5 }).map(Repository.increment)
const patch: fc.Arbitrary<Partial<MemberRow>> = fc.record(
  {
    email: emails,
    name: names,
    age: fc.oneof(ages, increments as fc.Arbitrary<never>),
    score: fc.oneof(scores, increments as fc.Arbitrary<never>),
    tags,
    profile: profiles
  },
  { requiredKeys: [] }
)

// Most writes run in a savepoint, so that a failure does not abort the
// rest of the sequence; the others show the aborted-transaction rule.
const savepoint = fc.integer({ min: 0, max: 9 }).map((n) => n >= 2)
const ref = fc.integer({ min: -1, max: 8 })
const settingKeys = fc.constantFrom("a", "A", "b", "é", "🦄", "a b")
const conflictUpdate = (fields: ReadonlyArray<string>) =>
  fc.oneof(fc.constantFrom<Repository.ConflictUpdate<string>>("all", "nothing"), fc.subarray([...fields], { minLength: 1 }))

// Every row in a text order: the "C" collation, case and code points.
const sorted: fc.Arbitrary<Op> = fc.record({
  op: fc.constant("findMany" as const),
  query: fc.record({
    order: fc.tuple(order(["name", "email"])),
    deleted: fc.constant<Query.Deleted>("include")
  })
})

// Rows a LIKE or ILIKE pattern matches.
const matching: fc.Arbitrary<Op> = fc.record({
  op: fc.constant("findMany" as const),
  query: fc.record({
    where: likeFilter,
    order: fc.constant([{ field: "name", direction: "asc" as const }]),
    deleted: fc.constant<Query.Deleted>("include")
  })
})

const simpleOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: sorted },
  { weight: 2, arbitrary: matching },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("insert" as const), row: memberRow, savepoint }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("insertMany" as const), rows: fc.array(memberRow, { maxLength: 4 }), savepoint })
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("upsertMember" as const),
      row: memberRow,
      update: conflictUpdate(["name", "age", "score", "tags"]),
      savepoint
    })
  },
  {
    weight: 3,
    arbitrary: fc.record(
      { op: fc.constant("update" as const), ref, patch, expectedVersion: fc.integer({ min: 1, max: 3 }), savepoint },
      { requiredKeys: ["op", "ref", "patch", "savepoint"] }
    )
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("updateMany" as const), query: memberQuery, patch, savepoint }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom("delete" as const, "hardDelete" as const, "restore" as const), ref, savepoint }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("deleteMany" as const), query: memberQuery, savepoint }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom("findById" as const, "getById" as const), ref }) },
  {
    weight: 6,
    arbitrary: fc.record({ op: fc.constantFrom("findMany" as const, "findOne" as const, "count" as const, "exists" as const), query: memberQuery })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("aggregate" as const),
      fn: fc.constantFrom("sum" as const, "avg" as const, "min" as const, "max" as const),
      field: fc.constantFrom("age" as const, "score" as const),
      query: memberQuery
    })
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("paginate" as const), query: memberQuery, limit: fc.integer({ min: 1, max: 3 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("upsertSetting" as const),
      key: settingKeys,
      value: fc.integer({ min: 0, max: 4 }),
      label: text,
      update: conflictUpdate(["value", "label"]),
      byConstraint: fc.boolean(),
      savepoint
    })
  },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        op: fc.constant("updateSetting" as const),
        key: settingKeys,
        value: fc.integer({ min: 0, max: 4 }),
        expectedVersion: fc.integer({ min: 1, max: 3 }),
        savepoint
      },
      { requiredKeys: ["op", "key", "value", "savepoint"] }
    )
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("deleteSetting" as const), key: settingKeys, savepoint }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("settings" as const), query: settingQuery }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("tick" as const), millis: fc.constantFrom(1, 1000) }) }
)

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 12, arbitrary: simpleOp },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("nested" as const), ops: fc.array(simpleOp, { minLength: 1, maxLength: 4 }), rollback: fc.boolean() })
  }
)

// Every sequence starts from a few rows, so that queries have something to
// find; then come the random operations.
const sequence: fc.Arbitrary<ReadonlyArray<Op>> = fc.record({
  members: fc.uniqueArray(memberRow.filter((row) => !row.name.includes("\u0000")), {
    selector: (row) => row.email,
    minLength: 2,
    maxLength: 8
  }),
  settings: fc.uniqueArray(fc.record({ key: settingKeys, value: fc.integer({ min: 0, max: 4 }), label: text }), {
    selector: (row) => row.key,
    maxLength: 4
  }),
  ops: fc.array(op, { minLength: 1, maxLength: 10 })
}).map(({ members, ops, settings }): ReadonlyArray<Op> => [
  { op: "insertMany", rows: members, savepoint: true },
  ...settings.map((s): Op => ({ op: "upsertSetting", ...s, update: "all", byConstraint: false, savepoint: true })),
  ...ops
])

// ---------------------------------------------------------------------------
// running a sequence on one database
// ---------------------------------------------------------------------------

const timestampValue = (field: string, millis: number): unknown =>
  field === "deletedAt" ? new Date(millis) : DateTime.unsafeMake(millis)

// Built with Query's own operators: only they make expressions.
const operators: Record<Query.Comparison, (value: unknown) => Query.Operator<unknown>> = {
  "=": Query.eq,
  "<>": Query.ne,
  "<": Query.lt,
  "<=": Query.lte,
  ">": Query.gt,
  ">=": Query.gte
}
const on = (field: string, operator: Query.Operator<unknown>): Query.Expr => Query.toExpr({ [field]: operator })

const toExpr = (f: Filter): Query.Expr => {
  if ("cmp" in f) {
    const value = (f.field === "createdAt" || f.field === "updatedAt") && typeof f.value === "number"
      ? timestampValue(f.field, f.value)
      : f.value
    return on(f.field, operators[f.cmp](value))
  }
  if ("between" in f) return on(f.between, Query.between(f.low, f.high))
  if ("in" in f) return on(f.in, f.negated ? Query.notIn(f.values) : Query.in(f.values))
  if ("isNull" in f) return on(f.isNull, f.negated ? Query.isNotNull() : Query.isNull())
  if ("like" in f) return on(f.like, f.caseInsensitive ? Query.ilike(f.pattern) : Query.like(f.pattern))
  if ("contains" in f) return on("tags", Query.contains(f.contains))
  if ("overlaps" in f) return on("tags", Query.overlaps(f.overlaps))
  if ("json" in f) return on("profile", Query.jsonContains(f.json))
  if ("and" in f) return Query.toExpr(Query.and(...f.and.map((e) => Query.expr(toExpr(e)))))
  if ("or" in f) return Query.toExpr(Query.or(...f.or.map((e) => Query.expr(toExpr(e)))))
  return Query.toExpr(Query.not(Query.expr(toExpr(f.not))))
}

// Ties are ordered arbitrarily by Postgres, so every ordering ends with the
// primary key; a query without an ordering is compared as a set.
const memberQueryOf = (q: MemberQuery): Query.Query<Table.Row<typeof Fixtures.Members>> => {
  let query = Query.make(Fixtures.Members)
  if (q.where !== undefined) query = query.pipe(Query.where(Query.expr(toExpr(q.where))))
  const ordered = q.order.length > 0 || q.distinct !== undefined || q.limit !== undefined || q.offset !== undefined
  for (const o of q.order) query = Query.orderBy(query, o.field as never, o.direction, o.nulls === undefined ? undefined : { nulls: o.nulls })
  if (ordered) query = Query.orderBy(query, "id")
  if (q.distinct !== undefined) query = query.pipe(Query.distinct(q.distinct as never))
  if (q.limit !== undefined) query = Query.limit(query, q.limit)
  if (q.offset !== undefined) query = Query.offset(query, q.offset)
  if (q.deleted === "include") query = Query.withDeleted(query)
  if (q.deleted === "only") query = Query.onlyDeleted(query)
  return query
}

const settingQueryOf = (q: SettingQuery): Query.Query<Table.Row<typeof Fixtures.Settings>> => {
  let query = Query.make(Fixtures.Settings)
  if (q.where !== undefined) query = query.pipe(Query.where(Query.expr(toExpr(q.where))))
  for (const o of q.order) query = Query.orderBy(query, o.field as never, o.direction, o.nulls === undefined ? undefined : { nulls: o.nulls })
  query = Query.orderBy(query, "key")
  if (q.limit !== undefined) query = Query.limit(query, q.limit)
  return query
}

/** What one operation gave, with generated ids replaced by their order of appearance. */
type Outcome = unknown

const millisOf = (value: unknown) =>
  value === null ? null : value instanceof Date ? value.getTime() : DateTime.toEpochMillis(value as DateTime.Utc)

// A clock each sequence moves by hand, the same on both databases, so
// timestamps can be compared. (TestContext would do, but building it for
// every sequence costs more than running the sequence.)
const liveClock = Clock.make()
const manualClock = (now: { millis: number }): Clock.Clock => ({
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: () => now.millis,
  currentTimeMillis: Effect.sync(() => now.millis),
  unsafeCurrentTimeNanos: () => BigInt(now.millis) * 1_000_000n,
  currentTimeNanos: Effect.sync(() => BigInt(now.millis) * 1_000_000n),
  sleep: (duration) => liveClock.sleep(duration)
})

const repositories = Effect.all({ members: Repository.make(Fixtures.Members), settings: Repository.make(Fixtures.Settings) })
type Repositories = Effect.Effect.Success<typeof repositories>

const runSequence = (ops: ReadonlyArray<Op>, now: { millis: number }, { members, settings }: Repositories) =>
  Effect.gen(function*() {
    // Ids in the order this database handed them out: serial values differ
    // between the databases (sequences are never rolled back), their order does not.
    const seen: Array<number> = []
    const ordinal = (id: number) => {
      let index = seen.indexOf(id)
      if (index < 0) index = seen.push(id) - 1
      return `#${index}`
    }
    const idOf = (r: number) => (r < 0 || seen.length === 0 ? 987_654 : seen[r % seen.length]!)
    const member = (row: Table.Row<typeof Fixtures.Members>) => ({
      id: ordinal(row.id),
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
    const setting = (row: Table.Row<typeof Fixtures.Settings>) => ({
      ...row,
      createdAt: millisOf(row.createdAt),
      updatedAt: millisOf(row.updatedAt)
    })
    const asSet = (rows: ReadonlyArray<ReturnType<typeof member>>) =>
      [...rows].sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)))

    const outcome = <A, E, R>(effect: Effect.Effect<A, E, R>, show: (a: A) => unknown): Effect.Effect<Outcome, never, R> =>
      Effect.exit(effect).pipe(Effect.map((exit) => {
        if (Exit.isSuccess(exit)) return { ok: show(exit.value) }
        const failure = Cause.failureOption(exit.cause)
        if (Option.isNone(failure)) return { defect: Cause.pretty(exit.cause).split("\n")[0] }
        const error = failure.value as unknown
        if (ParseResult.isParseError(error)) return { error: "ParseError" }
        if (error instanceof DatabaseError.UniqueViolation) {
          return { error: error._tag, constraint: error.constraint, columns: error.columns, table: error.table }
        }
        if (error instanceof DatabaseError.NotFound) {
          const key = typeof error.key === "number" && error.key !== 987_654 ? ordinal(error.key) : error.key
          return { error: error._tag, table: error.table, key }
        }
        if (error instanceof DatabaseError.StaleVersion) {
          return { error: error._tag, expected: error.expectedVersion, actual: error.actualVersion }
        }
        if (error instanceof DatabaseError.TransactionAborted) {
          return { error: error._tag, failedSqlState: error.failedSqlState, nested: error.nested }
        }
        if (error instanceof DatabaseError.QueryError) return { error: error._tag, sqlState: error.sqlState }
        if (error instanceof DatabaseError.InvalidCursor) return { error: error._tag }
        if (typeof error === "string") return { error }
        return { error: String((error as { _tag?: unknown })._tag ?? error) }
      }))

    const inSavepoint = <A, E, R>(wrap: boolean, effect: Effect.Effect<A, E, R>) => (wrap ? Database.transaction(effect) : effect)

    const run = (o: Op): Effect.Effect<Outcome, never, Database.Database> => {
      switch (o.op) {
        case "insert":
          return outcome(inSavepoint(o.savepoint, members.insert(o.row as never)), member)
        case "insertMany":
          return outcome(inSavepoint(o.savepoint, members.insertMany(o.rows as never)), (rows) => rows.map(member))
        case "upsertMember":
          return outcome(
            inSavepoint(o.savepoint, members.upsert(o.row as never, { onConflict: ["email"], update: o.update as never })),
            member
          )
        case "update":
          return outcome(
            inSavepoint(o.savepoint, members.update(idOf(o.ref), o.patch as never, { expectedVersion: o.expectedVersion })),
            member
          )
        case "updateMany":
          return outcome(inSavepoint(o.savepoint, members.updateMany(memberQueryOf(o.query), o.patch as never)), (n) => n)
        case "delete":
          return outcome(inSavepoint(o.savepoint, members.delete(idOf(o.ref))), () => "deleted")
        case "hardDelete":
          return outcome(inSavepoint(o.savepoint, members.hardDelete(idOf(o.ref))), () => "deleted")
        case "restore":
          return outcome(inSavepoint(o.savepoint, members.restore(idOf(o.ref))), member)
        case "deleteMany":
          return outcome(inSavepoint(o.savepoint, members.deleteMany(memberQueryOf(o.query))), (n) => n)
        case "findById":
          return outcome(members.findById(idOf(o.ref)), Option.map(member))
        case "getById":
          return outcome(members.getById(idOf(o.ref)), member)
        case "findMany": {
          const query = memberQueryOf(o.query)
          return outcome(members.findMany(query), (rows) => query.order.length === 0 ? asSet(rows.map(member)) : rows.map(member))
        }
        case "findOne":
          return outcome(members.findOne(memberQueryOf({ ...o.query, order: o.query.order.length === 0 ? [{ field: "id", direction: "asc" }] : o.query.order })), Option.map(member))
        case "count":
          return outcome(members.count(memberQueryOf(o.query)), (n) => n)
        case "exists":
          return outcome(members.exists(memberQueryOf(o.query)), (b) => b)
        case "aggregate":
          return outcome(members[o.fn](o.field, memberQueryOf(o.query)), (value) =>
            // avg over integers is numeric on Postgres (rounded to about
            // 17 digits), a double division in memory: equal to 12 digits.
            Option.map(value, (v) => (o.fn === "avg" ? Number(v.toPrecision(12)) : v)))
        case "paginate": {
          const query = memberQueryOf(o.query)
          return outcome(
            Effect.gen(function*() {
              const pages: Array<ReadonlyArray<unknown>> = []
              let after: string | undefined = undefined
              while (pages.length < 30) {
                const page: Repository.Page<Table.Row<typeof Fixtures.Members>> = yield* members.paginate(query, { limit: o.limit, after })
                pages.push(page.items.map(member))
                if (Option.isNone(page.next)) break
                after = page.next.value
              }
              return pages
            }),
            (pages) => pages
          )
        }
        case "upsertSetting":
          return outcome(
            inSavepoint(
              o.savepoint,
              settings.upsert({ key: o.key, value: o.value, label: o.label, version: 1 } as never, {
                onConflict: o.byConstraint ? { constraint: "settings_pkey" } : ["key"],
                update: o.update as never
              })
            ),
            setting
          )
        case "updateSetting":
          return outcome(
            inSavepoint(o.savepoint, settings.update(o.key, { value: o.value }, { expectedVersion: o.expectedVersion })),
            setting
          )
        case "deleteSetting":
          return outcome(inSavepoint(o.savepoint, settings.delete(o.key)), () => "deleted")
        case "settings":
          return outcome(settings.findMany(settingQueryOf(o.query)), (rows) => rows.map(setting))
        case "tick":
          return Effect.sync(() => {
            now.millis += o.millis
            return { ok: "tick" }
          })
        case "nested": {
          const results: Array<Outcome> = []
          const body = Effect.gen(function*() {
            for (const inner of o.ops) results.push(yield* run(inner))
            if (o.rollback) return yield* Effect.fail("rolled back")
            return "committed"
          })
          return Effect.map(outcome(Database.transaction(body), (x) => x), (result) => ({ nested: results, result }))
        }
      }
    }

    const outcomes: Array<Outcome> = []
    for (const o of ops) outcomes.push(yield* run(o))
    return outcomes
  })

// ---------------------------------------------------------------------------
// relations: writes on authors, posts and comments, and reads with
// includes (has-many, belongs-to, nested, per-parent limits and offsets,
// soft-deleted related rows) and relation filters (some, none, every)
// ---------------------------------------------------------------------------

type RelFilter = { readonly field: "rank" | "title"; readonly cmp: Query.Comparison; readonly value: number | string }

type CommentsInclude = {
  readonly where?: RelFilter
  readonly direction: "asc" | "desc"
  readonly limit?: number
  readonly offset?: number
}

type PostsInclude = {
  readonly where?: RelFilter
  readonly withDeleted: boolean
  readonly order: { readonly field: "rank" | "title"; readonly direction: "asc" | "desc" }
  readonly limit?: number
  readonly offset?: number
  readonly comments: CommentsInclude | undefined
  readonly author: boolean
  // many-to-many through rel_post_labels (a composite primary key)
  readonly labels?: { readonly direction: "asc" | "desc"; readonly limit?: number }
}

type RelatedFilter = {
  readonly mode: Query.RelatedMode
  readonly where?: RelFilter
  readonly withDeleted: boolean
  // posts with comments matching this (a relation filter inside one)
  readonly comments?: { readonly mode: Query.RelatedMode; readonly where?: RelFilter }
}

// An author's other relations: its comments (a nullable foreign key on
// them) and its profile (has-one).
type AuthorRelated = { readonly via: "comments" | "profile"; readonly mode: Query.RelatedMode; readonly where?: RelFilter }

type RelOp =
  | { readonly op: "addPost"; readonly author: number; readonly title: string; readonly rank: number }
  // `author` null: an anonymous comment (its foreign key is NULL)
  | { readonly op: "addComment"; readonly post: number; readonly body: string; readonly rank: number; readonly author: number | null }
  | { readonly op: "setCommentAuthor"; readonly comment: number; readonly author: number | null }
  | { readonly op: "addProfile"; readonly author: number; readonly bio: string }
  | { readonly op: "linkLabel" | "unlinkLabel"; readonly post: number; readonly label: number }
  // Profiles and label links to start with, each table in one statement (duplicates left out).
  | {
    readonly op: "seedLinks"
    readonly profiles: ReadonlyArray<{ readonly author: number; readonly bio: string }>
    readonly labels: ReadonlyArray<{ readonly post: number; readonly label: number }>
  }
  | { readonly op: "deletePost" | "restorePost"; readonly post: number }
  | { readonly op: "deleteAuthor" | "restoreAuthor"; readonly author: number }
  | { readonly op: "dropComment"; readonly comment: number }
  | {
    readonly op: "authors"
    readonly deleted: "exclude" | "include"
    readonly related?: RelatedFilter
    readonly otherRelated?: AuthorRelated
    readonly posts: PostsInclude | undefined
    readonly profile: boolean
    readonly comments?: CommentsInclude
    readonly limit?: number
    // read by key with includes (getById) instead of findMany
    readonly byKey: number | undefined
  }
  | {
    readonly op: "comments"
    readonly where?: RelFilter
    readonly post?: { readonly withDeleted: boolean; readonly author: boolean }
    readonly related?: RelatedFilter
    // the comment's own author: a belongsTo over a nullable foreign key
    readonly author?: { readonly withDeleted: boolean }
    readonly byAuthor?: { readonly mode: Query.RelatedMode; readonly name?: string }
  }
  | { readonly op: "tick" }

const relTitles = fc.constantFrom("a", "B", "b", "é", "🦄", "")
const relRanks = fc.integer({ min: 0, max: 3 })
const relFilter: fc.Arbitrary<RelFilter> = fc.oneof(
  fc.record({ field: fc.constant("rank" as const), cmp: comparisons, value: relRanks }),
  fc.record({ field: fc.constant("title" as const), cmp: comparisons, value: relTitles })
)
const rankFilter: fc.Arbitrary<RelFilter> = fc.record({ field: fc.constant("rank" as const), cmp: comparisons, value: relRanks })
const modes = fc.constantFrom<Query.RelatedMode>("some", "none", "every")
const directions = fc.constantFrom<"asc" | "desc">("asc", "desc")
const perParent = { limit: fc.integer({ min: 0, max: 3 }), offset: fc.integer({ min: 0, max: 2 }) }

// Narrower on the second level, so that nested rows are often there.
const commentsInclude: fc.Arbitrary<CommentsInclude> = fc.record(
  { where: rankFilter, direction: directions, limit: fc.integer({ min: 1, max: 3 }), offset: fc.integer({ min: 0, max: 1 }) },
  { requiredKeys: ["direction"] }
)
const postsInclude: fc.Arbitrary<PostsInclude> = fc.record(
  {
    where: relFilter,
    withDeleted: fc.boolean(),
    order: fc.record({ field: fc.constantFrom<"rank" | "title">("rank", "title"), direction: directions }),
    ...perParent,
    comments: fc.option(commentsInclude, { nil: undefined, freq: 5 }),
    author: fc.boolean(),
    labels: fc.record({ direction: directions, limit: fc.integer({ min: 1, max: 2 }) }, { requiredKeys: ["direction"] })
  },
  { requiredKeys: ["withDeleted", "order", "comments", "author"] }
)
const authorRelated: fc.Arbitrary<AuthorRelated> = fc.record(
  { via: fc.constantFrom<"comments" | "profile">("comments", "profile"), mode: modes, where: rankFilter },
  { requiredKeys: ["via", "mode"] }
)
const authorNames = fc.constantFrom("Ann", "ann", "Bob", "Émile")
const relatedFilter = (where: fc.Arbitrary<RelFilter>): fc.Arbitrary<RelatedFilter> =>
  fc.record(
    {
      mode: modes,
      where,
      withDeleted: fc.boolean(),
      comments: fc.record({ mode: modes, where: rankFilter }, { requiredKeys: ["mode"] })
    },
    { requiredKeys: ["mode", "withDeleted"] }
  )
const relRef = fc.integer({ min: 0, max: 9 })
const nullableRef = fc.option(relRef, { nil: null, freq: 3 })

const relOp: fc.Arbitrary<RelOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant("addPost" as const), author: relRef, title: relTitles, rank: relRanks }) },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant("addComment" as const), post: relRef, body: relTitles, rank: relRanks, author: nullableRef })
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("setCommentAuthor" as const), comment: relRef, author: nullableRef }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("addProfile" as const), author: relRef, bio: relTitles }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom("linkLabel" as const, "unlinkLabel" as const), post: relRef, label: relRef }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom("deletePost" as const, "restorePost" as const), post: relRef }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom("deleteAuthor" as const, "restoreAuthor" as const), author: relRef }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("dropComment" as const), comment: relRef }) },
  {
    weight: 6,
    arbitrary: fc.record(
      {
        op: fc.constant("authors" as const),
        deleted: fc.constantFrom<"exclude" | "include">("exclude", "include"),
        related: relatedFilter(relFilter),
        otherRelated: authorRelated,
        posts: fc.option(postsInclude, { nil: undefined, freq: 6 }),
        profile: fc.boolean(),
        comments: commentsInclude,
        limit: fc.integer({ min: 1, max: 4 }),
        byKey: fc.option(relRef, { nil: undefined, freq: 4 })
      },
      { requiredKeys: ["op", "deleted", "posts", "profile", "byKey"] }
    )
  },
  {
    weight: 3,
    arbitrary: fc.record(
      {
        op: fc.constant("comments" as const),
        where: rankFilter,
        post: fc.record({ withDeleted: fc.boolean(), author: fc.boolean() }),
        related: relatedFilter(relFilter),
        author: fc.record({ withDeleted: fc.boolean() }),
        byAuthor: fc.record({ mode: modes, name: authorNames }, { requiredKeys: ["mode"] })
      },
      { requiredKeys: ["op"] }
    )
  },
  { weight: 1, arbitrary: fc.constant<RelOp>({ op: "tick" }) }
)

// A few authors, posts and comments (some soft-deleted), then the operations.
const relSequence = fc.record({
  authors: fc.array(authorNames, { minLength: 1, maxLength: 3 }),
  posts: fc.array(fc.record({ author: relRef, title: relTitles, rank: relRanks }), { minLength: 1, maxLength: 5 }),
  comments: fc.array(fc.record({ post: relRef, body: relTitles, rank: relRanks, author: nullableRef }), { minLength: 2, maxLength: 8 }),
  profiles: fc.array(fc.record({ author: relRef, bio: relTitles }), { maxLength: 2 }),
  labels: fc.array(fc.record({ post: relRef, label: relRef }), { maxLength: 4 }),
  deleted: fc.array(relRef, { maxLength: 2 }),
  ops: fc.array(relOp, { minLength: 1, maxLength: 6 })
}).map(({ authors, comments, deleted, labels, ops, posts, profiles }) => ({
  authors,
  ops: [
    ...posts.map((p): RelOp => ({ op: "addPost", ...p })),
    ...comments.map((c): RelOp => ({ op: "addComment", ...c })),
    { op: "seedLinks", profiles, labels } satisfies RelOp,
    ...deleted.map((post): RelOp => ({ op: "deletePost", post })),
    ...ops
  ]
}))

// The labels every sequence starts with (text keys, "C" order).
const labelIds = ["x", "Y", "y"]

// Query, untyped: the generated queries are built field by field at run time.
const Q: any = Query

const relRepositories = Effect.all({
  authors: Repository.make(Relations.Authors),
  posts: Repository.make(Relations.Posts),
  comments: Repository.make(Relations.CommentsWithPost),
  profiles: Repository.make(Relations.Profiles),
  labels: Repository.make(Relations.Labels),
  postLabels: Repository.make(Relations.PostLabels)
})
type RelRepositories = Effect.Effect.Success<typeof relRepositories>

const relWhere = (f: RelFilter | undefined) => (q: any): any =>
  f === undefined ? q : Q.where(q, { [f.field]: operators[f.cmp](f.value) } as never)

const runRelations = (
  seq: { readonly authors: ReadonlyArray<string>; readonly ops: ReadonlyArray<RelOp> },
  now: { millis: number },
  { authors, comments, labels, postLabels, posts, profiles }: RelRepositories
) =>
  Effect.gen(function*() {
    // Ids in the order this database handed them out, per table (see above).
    const ids = { authors: [] as Array<number>, posts: [] as Array<number>, comments: [] as Array<number> }
    const ord = (table: keyof typeof ids, id: number) => {
      let index = ids[table].indexOf(id)
      if (index < 0) index = ids[table].push(id) - 1
      return `#${index}`
    }
    const pick = (table: keyof typeof ids, r: number) => ids[table].length === 0 ? undefined : ids[table][r % ids[table].length]!
    const author = (a: any): unknown => ({
      id: ord("authors", a.id),
      name: a.name,
      deleted: a.deletedAt !== null,
      ...(a.posts === undefined ? {} : { posts: a.posts.map(post) }),
      ...(a.comments === undefined ? {} : { comments: a.comments.map(comment) }),
      ...(a.profile === undefined ? {} : { profile: a.profile === null ? null : profile(a.profile) })
    })
    const profile = (p: any): unknown => ({ author: ord("authors", p.authorId), bio: p.bio })
    const post = (p: any): unknown => ({
      id: ord("posts", p.id),
      author: ord("authors", p.authorId),
      title: p.title,
      rank: p.rank,
      deleted: p.deletedAt !== null,
      ...(p.comments === undefined ? {} : { comments: p.comments.map(comment) }),
      ...(p.author === undefined ? {} : { loadedAuthor: p.author === null ? null : author(p.author) }),
      ...(p.labels === undefined ? {} : { labels: p.labels.map((l: any) => [l.id, l.name]) })
    })
    const comment = (c: any): unknown => ({
      id: ord("comments", c.id),
      post: ord("posts", c.postId),
      author: c.authorId === null ? null : ord("authors", c.authorId),
      body: c.body,
      rank: c.rank,
      ...(c.post === undefined ? {} : { loadedPost: c.post === null ? null : post(c.post) }),
      ...(c.author === undefined ? {} : { loadedAuthor: c.author === null ? null : author(c.author) })
    })
    const outcome = <A, E, R>(effect: Effect.Effect<A, E, R>, show: (a: A) => unknown): Effect.Effect<Outcome, never, R> =>
      Effect.exit(effect).pipe(Effect.map((exit) => {
        if (Exit.isSuccess(exit)) return { ok: show(exit.value) }
        const failure = Cause.failureOption(exit.cause)
        if (Option.isNone(failure)) return { defect: Cause.pretty(exit.cause).split("\n")[0] }
        const error = failure.value as { _tag?: unknown; sqlState?: unknown }
        if (ParseResult.isParseError(error)) return { error: "ParseError" }
        return { error: String(error._tag ?? error), sqlState: error.sqlState }
      }))
    const skip: Effect.Effect<Outcome> = Effect.succeed({ ok: "skip" })
    // A relation filter over posts: an author's (has-many) or a comment's
    // post (belongs-to).
    const relatedPosts = (relation: "posts" | "post", f: RelatedFilter | undefined) => (q: any): any => {
      if (f === undefined) return q
      return Q.whereRelated(relation as never, f.mode, (p: any) => {
        let r = relWhere(f.where)(p)
        if (f.withDeleted) r = Q.withDeleted(r)
        if (f.comments !== undefined) {
          r = Q.whereRelated("comments" as never, f.comments.mode, relWhere(f.comments.where) as never)(r)
        }
        return r
      })(q)
    }
    // An author's comments (their foreign key is nullable) or profile (has-one).
    const otherRelated = (f: AuthorRelated | undefined) => (q: any): any =>
      f === undefined ? q : Q.whereRelated(f.via as never, f.mode, f.via === "comments" ? relWhere(f.where) as never : undefined)(q)
    // A comment's own author, through its nullable foreign key.
    const byAuthor = (f: { readonly mode: Query.RelatedMode; readonly name?: string } | undefined) => (q: any): any =>
      f === undefined
        ? q
        : Q.whereRelated("author" as never, f.mode, f.name === undefined ? undefined : (a: any) => Q.where(a, { name: f.name }))(q)
    const perParentOf = (q: any, i: { readonly limit?: number; readonly offset?: number }) => {
      let r = q
      if (i.offset !== undefined) r = Q.offset(r, i.offset)
      if (i.limit !== undefined) r = Q.limit(r, i.limit)
      return r
    }
    const includePosts = (i: PostsInclude | undefined) => (q: any): any => {
      if (i === undefined) return q
      return Q.include("posts" as never, (p: any) => {
        let r = relWhere(i.where)(p)
        if (i.withDeleted) r = Q.withDeleted(r)
        // A total order: ties broken on the key.
        r = Q.orderBy(Q.orderBy(r, i.order.field, i.order.direction), "id")
        r = perParentOf(r, i)
        if (i.comments !== undefined) {
          const c = i.comments
          r = Q.include("comments" as never, (cq: any) =>
            perParentOf(Q.orderBy(Q.orderBy(relWhere(c.where)(cq), "rank", c.direction), "id", c.direction), c))(r)
        }
        if (i.author) r = Q.include("author" as never, (a: any) => Q.withDeleted(a))(r)
        if (i.labels !== undefined) {
          const l = i.labels
          r = Q.include("labels" as never, (lq: any) => perParentOf(Q.orderBy(lq, "id", l.direction), l))(r)
        }
        return r
      })(q)
    }
    // Comments of each author, in a total order.
    const includeComments = (c: CommentsInclude | undefined) => (q: any): any =>
      c === undefined
        ? q
        : Q.include("comments" as never, (cq: any) =>
          perParentOf(Q.orderBy(Q.orderBy(relWhere(c.where)(cq), "rank", c.direction), "id", c.direction), c))(q)

    // A write on the row `r` picks (skipped while the table is empty), in
    // its own savepoint so that a failing one leaves the transaction usable.
    const onRow = (
      table: keyof typeof ids,
      r: number,
      write: (id: number) => Effect.Effect<Outcome, never, Database.Database>
    ): Effect.Effect<Outcome, never, Database.Database> => {
      const id = pick(table, r)
      return id === undefined ? skip : write(id)
    }
    const inSavepoint = <A, E, R>(effect: Effect.Effect<A, E, R>, show: (a: A) => unknown) =>
      outcome(Database.transaction(effect), show)
    const deleted = () => "deleted"
    const authorOrNull = (r: number | null) => r === null ? null : pick("authors", r) ?? null

    const run = (o: RelOp): Effect.Effect<Outcome, never, Database.Database> => {
      switch (o.op) {
        case "addPost":
          return onRow("authors", o.author, (a) => outcome(posts.insert({ authorId: a, title: o.title, rank: o.rank } as never), post))
        case "addComment":
          return onRow("posts", o.post, (p) =>
            outcome(comments.insert({ postId: p, authorId: authorOrNull(o.author), body: o.body, rank: o.rank } as never), comment))
        case "setCommentAuthor":
          return onRow("comments", o.comment, (c) => inSavepoint(comments.update(c, { authorId: authorOrNull(o.author) } as never), comment))
        // A second profile of an author is a unique violation.
        case "addProfile":
          return onRow("authors", o.author, (a) => inSavepoint(profiles.insert({ authorId: a, bio: o.bio } as never), profile))
        case "linkLabel":
        case "unlinkLabel":
          return onRow("posts", o.post, (p) => {
            const key = { postId: p, labelId: labelIds[o.label % labelIds.length]! }
            return o.op === "linkLabel"
              ? inSavepoint(postLabels.insert(key), (l: any) => [ord("posts", l.postId), l.labelId])
              : inSavepoint(postLabels.hardDelete(key), deleted)
          })
        case "deletePost":
          return onRow("posts", o.post, (p) => inSavepoint(posts.delete(p), deleted))
        case "restorePost":
          return onRow("posts", o.post, (p) => inSavepoint(posts.restore(p), post))
        case "deleteAuthor":
          return onRow("authors", o.author, (a) => inSavepoint(authors.delete(a), deleted))
        case "restoreAuthor":
          return onRow("authors", o.author, (a) => inSavepoint(authors.restore(a), author))
        case "seedLinks": {
          const byAuthor = new Map(o.profiles.flatMap((p) => {
            const a = pick("authors", p.author)
            return a === undefined ? [] : [[a, { authorId: a, bio: p.bio }] as const]
          }))
          const links = new Map(o.labels.flatMap((l) => {
            const p = pick("posts", l.post)
            const labelId = labelIds[l.label % labelIds.length]!
            return p === undefined ? [] : [[`${p}/${labelId}`, { postId: p, labelId }] as const]
          }))
          return outcome(
            Effect.all([profiles.insertMany([...byAuthor.values()] as never), postLabels.insertMany([...links.values()])]),
            ([ps, ls]) => [ps.map(profile), ls.map((l) => [ord("posts", l.postId), l.labelId])]
          )
        }
        case "dropComment":
          return onRow("comments", o.comment, (c) => inSavepoint(comments.hardDelete(c), deleted))
        case "authors": {
          const includes = (q: any): any => {
            let r = includeComments(o.comments)(includePosts(o.posts)(q))
            if (o.profile) r = Q.include("profile" as never)(r)
            return r
          }
          if (o.byKey !== undefined) {
            const a = pick("authors", o.byKey)
            if (a === undefined) return skip
            return outcome(authors.getById(a, includes), author)
          }
          let q: any = Q.orderBy(Q.orderBy(Query.make(Relations.Authors), "name"), "id")
          if (o.deleted === "include") q = Q.withDeleted(q)
          q = otherRelated(o.otherRelated)(relatedPosts("posts", o.related)(q))
          q = includes(q)
          if (o.limit !== undefined) q = Q.limit(q, o.limit)
          return outcome(authors.findMany(q), (rows: ReadonlyArray<unknown>) => rows.map(author))
        }
        case "comments": {
          let q: any = Q.orderBy(Q.orderBy(relWhere(o.where)(Query.make(Relations.CommentsWithPost)), "rank"), "id")
          q = byAuthor(o.byAuthor)(relatedPosts("post", o.related)(q))
          if (o.author !== undefined) {
            const withDeleted = o.author.withDeleted
            q = Q.include("author" as never, (a: any) => withDeleted ? Q.withDeleted(a) : a)(q)
          }
          if (o.post !== undefined) {
            const i = o.post
            q = Q.include("post" as never, (p: any) => {
              let r = i.withDeleted ? Q.withDeleted(p) : p
              if (i.author) r = Q.include("author" as never)(r)
              return r
            })(q)
          }
          return outcome(comments.findMany(q), (rows: ReadonlyArray<unknown>) => rows.map(comment))
        }
        case "tick":
          return Effect.sync(() => {
            now.millis += 1000
            return { ok: "tick" }
          })
      }
    }

    const outcomes: Array<Outcome> = []
    yield* Effect.orDie(labels.insertMany(labelIds.map((id) => ({ id, name: id.toUpperCase() }))))
    outcomes.push(yield* outcome(authors.insertMany(seq.authors.map((name) => ({ name })) as never), (rows: ReadonlyArray<unknown>) => rows.map(author)))
    for (const o of seq.ops) outcomes.push(yield* run(o))
    return outcomes
  })

// ---------------------------------------------------------------------------
// the property
// ---------------------------------------------------------------------------

const postgres = TestDatabase.layer().pipe(
  Layer.tap((context) =>
    Effect.forEach([...Fixtures.ddl, ...Relations.relationsDdl], (statement) => SqlClient.SqlClient.pipe(Effect.flatMap((sql) => sql.unsafe(statement)))).pipe(
      Effect.provide(context)
    )
  )
)

describe("differential: in-memory database vs PostgreSQL", () => {
  let pg: ManagedRuntime.ManagedRuntime<Database.Database | SqlClient.SqlClient, unknown>
  let memory: ManagedRuntime.ManagedRuntime<Database.Database, never>
  // Repositories are made once per database: making one builds its codec.
  let pgRepositories: Repositories
  let memoryRepositories: Repositories
  let pgRelations: RelRepositories
  let memoryRelations: RelRepositories
  beforeAll(async () => {
    pg = ManagedRuntime.make(postgres)
    memory = ManagedRuntime.make(Database.layerMemory())
    pgRepositories = await pg.runPromise(repositories)
    memoryRepositories = await memory.runPromise(repositories)
    pgRelations = await pg.runPromise(relRepositories)
    memoryRelations = await memory.runPromise(relRepositories)
  })
  afterAll(async () => {
    await pg?.dispose()
    await memory?.dispose()
  })

  // One sequence on both databases, each in a rolled-back transaction with
  // a clock of its own.
  const onBoth = async <Repos>(
    run: (now: { millis: number }, repos: Repos) => Effect.Effect<ReadonlyArray<Outcome>, never, Database.Database>,
    onPostgres: Repos,
    inMemory: Repos
  ) => {
    const program = (repos: Repos) =>
      Effect.suspend(() => {
        const now = { millis: BASE_TIME }
        return sandbox(run(now, repos)).pipe(Effect.withClock(manualClock(now)))
      })
    const expected = await pg.runPromise(program(onPostgres))
    const actual = await memory.runPromise(program(inMemory))
    return { expected, actual }
  }

  it(`gives the same results for ${RUNS} random sequences of operations (seed ${SEED})`, async () => {
    console.log(`differential test: seed ${SEED}, ${RUNS} sequences (DIFFERENTIAL_SEED=${SEED} replays this run)`)
    let runs = 0
    await fc.assert(
      fc.asyncProperty(sequence, async (ops) => {
        runs++
        const { actual, expected } = await onBoth((now, repos) => runSequence(ops, now, repos), pgRepositories, memoryRepositories)
        for (let i = 0; i < ops.length; i++) {
          // Deep equality with a readable report: the operation, then both answers.
          expect({ op: i, memory: actual[i] }, JSON.stringify(ops[i])).toEqual({ op: i, memory: expected[i] })
        }
      }),
      { numRuns: RUNS, seed: SEED }
    )
    expect(runs).toBeGreaterThanOrEqual(RUNS)
  }, 240_000)

  it(`gives the same results with relations: has-many, belongs-to (a nullable foreign key too), has-one and many-to-many includes, nested, per-parent limits, withDeleted, getById with includes, whereRelated (${RUNS} sequences, seed ${SEED})`, async () => {
    let runs = 0
    await fc.assert(
      fc.asyncProperty(relSequence, async (seq) => {
        runs++
        const { actual, expected } = await onBoth((now, repos) => runRelations(seq, now, repos), pgRelations, memoryRelations)
        expect({ op: -1, memory: actual[0] }, "insert authors").toEqual({ op: -1, memory: expected[0] })
        for (let i = 0; i < seq.ops.length; i++) {
          expect({ op: i, memory: actual[i + 1] }, JSON.stringify(seq.ops[i])).toEqual({ op: i, memory: expected[i + 1] })
        }
      }),
      { numRuns: RUNS, seed: SEED }
    )
    expect(runs).toBeGreaterThanOrEqual(RUNS)
  }, 240_000)

  // The value rules the fake is built on, checked operator by operator
  // against PostgreSQL's own, many cases per query.
  it(`agrees with PostgreSQL's operators: "C" text order, LIKE and ILIKE, jsonb containment and order (seed ${SEED})`, async () => {
    const json = fc.jsonValue({ maxDepth: 3 }).filter((v) => !JSON.stringify(v).includes("\\u0000"))
    const jsonObject = fc.dictionary(fc.oneof(fc.constantFrom("a", "b", "aa", "é"), fc.string({ maxLength: 3 })), json, {
      maxKeys: 3
    }).filter((v) => !JSON.stringify(v).includes("\\u0000"))
    // A value and a part of it: kept object keys and array elements, so
    // that containment holds often enough to be tested both ways.
    const part = (value: unknown): fc.Arbitrary<unknown> => {
      if (Array.isArray(value)) {
        return fc.subarray(value).chain((items) => (items.length === 0 ? fc.constant([]) : fc.tuple(...items.map(part))))
      }
      if (typeof value === "object" && value !== null) {
        return fc.subarray(Object.keys(value)).chain((keys) =>
          keys.length === 0
            ? fc.constant({})
            : fc.tuple(...keys.map((k) => part((value as Record<string, unknown>)[k]))).map((values) =>
              Object.fromEntries(keys.map((k, i) => [k, values[i]]))
            )
        )
      }
      return fc.oneof(fc.constant(value), json)
    }
    const cases = fc.record({
      texts: fc.array(fc.oneof(names, text), { maxLength: 12 }).map((xs) => xs.filter((x) => !x.includes("\u0000"))),
      likes: fc.array(
        fc.record({ value: fc.oneof(names, text), pattern, caseInsensitive: fc.boolean() }).filter((c) => !c.value.includes("\u0000")),
        { maxLength: 12 }
      ),
      jsons: fc.array(fc.oneof(fc.tuple(json, json), json.chain((a) => fc.tuple(fc.constant(a), part(a)))), { maxLength: 12 }),
      // jsonb objects (what a Schema.Struct field holds), in jsonb's btree order.
      objects: fc.array(
        fc.oneof(
          fc.tuple(jsonObject, jsonObject),
          jsonObject.chain((a) => fc.tuple(fc.constant(a), part(a)))
        ),
        { maxLength: 12 }
      )
    })
    await fc.assert(
      fc.asyncProperty(cases, async ({ jsons, likes, objects, texts }) => {
        const answer = await pg.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
          Effect.all({
            order: sql.unsafe<{ v: Array<string> | null }>(
              `select array_agg(t collate "C" order by t collate "C") as v from jsonb_array_elements_text($1::jsonb) as t`,
              [JSON.stringify(texts)]
            ),
            likes: sql.unsafe<{ v: boolean }>(
              `select case when (c->>'ci')::boolean then (c->>'v') collate "C" ilike (c->>'p') else (c->>'v') collate "C" like (c->>'p') end as v
               from jsonb_array_elements($1::jsonb) with ordinality as x(c, n) order by n`,
              [JSON.stringify(likes.map((c) => ({ v: c.value, p: c.pattern, ci: c.caseInsensitive })))]
            ),
            jsons: sql.unsafe<{ v: boolean }>(
              `select (c->0) @> (c->1) as v from jsonb_array_elements($1::jsonb) with ordinality as x(c, n) order by n`,
              [JSON.stringify(jsons)]
            ),
            objects: sql.unsafe<{ v: number }>(
              `select case when (c->0) < (c->1) then -1 when (c->0) > (c->1) then 1 else 0 end as v
               from jsonb_array_elements($1::jsonb) with ordinality as x(c, n) order by n`,
              [JSON.stringify(objects)]
            )
          })))
        expect([...texts].sort(compareText)).toEqual(answer.order[0]!.v ?? [])
        expect(likes.map((c) => like(c.value, c.pattern, c.caseInsensitive))).toEqual(answer.likes.map((r) => r.v))
        // jsonb normalises what it stores: compare the values Postgres would hold.
        const stored = (v: unknown) => JSON.parse(JSON.stringify(v))
        expect(jsons.map(([a, b]) => jsonbContains(stored(a), stored(b)))).toEqual(answer.jsons.map((r) => r.v))
        expect(objects.map(([a, b]) => Math.sign(compare(stored(a), stored(b))))).toEqual(answer.objects.map((r) => r.v))
      }),
      { numRuns: Number(process.env.OPERATOR_RUNS ?? 300), seed: SEED }
    )
  }, 120_000)
})

// The relation property again, short, with PostgreSQL loading every include
// tree in one statement (the default "auto" does so only without a
// belongsTo under many rows): the same answers as the in-memory database.
describe("differential: relations with includes in one statement on PostgreSQL", () => {
  const runs = Math.max(1, Math.floor(RUNS / 10))
  it(`gives the same results as the in-memory database (${runs} sequences, seed ${SEED})`, async () => {
    const pg = ManagedRuntime.make(
      TestDatabase.layer({ includeStrategy: "singleStatement" }).pipe(
        Layer.tap((context) =>
          Effect.forEach(Relations.relationsDdl, (statement) => SqlClient.SqlClient.pipe(Effect.flatMap((sql) => sql.unsafe(statement)))).pipe(
            Effect.provide(context)
          )
        )
      )
    )
    const memory = ManagedRuntime.make(Database.layerMemory())
    try {
      const pgRelations = await pg.runPromise(relRepositories)
      const memoryRelations = await memory.runPromise(relRepositories)
      let count = 0
      await fc.assert(
        fc.asyncProperty(relSequence, async (seq) => {
          count++
          const program = (repos: RelRepositories) =>
            Effect.suspend(() => {
              const now = { millis: BASE_TIME }
              return sandbox(runRelations(seq, now, repos)).pipe(Effect.withClock(manualClock(now)))
            })
          const expected = await pg.runPromise(program(pgRelations))
          const actual = await memory.runPromise(program(memoryRelations))
          expect(actual, JSON.stringify(seq.ops)).toEqual(expected)
        }),
        { numRuns: runs, seed: SEED }
      )
      expect(count).toBeGreaterThanOrEqual(runs)
    } finally {
      await pg.dispose()
      await memory.dispose()
    }
  }, 240_000)
})
