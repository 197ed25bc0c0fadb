/**
 * Hostile strings as values: generated strings full of quotes, backslashes,
 * NUL, unpaired surrogates, LIKE wildcards, SQL fragments and very long
 * runs are written (text, text[] and jsonb columns), read back, and used as
 * the argument of every filter operator, on PostgreSQL and on the in-memory
 * database. Each string must round-trip (as node-postgres sends it: an
 * unpaired surrogate becomes U+FFFD), both databases must give the same
 * answer to every query, and a sentinel table must survive.
 *
 * FUZZ_STRINGS sets how many strings (default 1,000 in `npm test`; `npm run
 * fuzz` runs 10,000), FUZZ_SEED replays a
 * run (the seed is printed).
 */
import * as Model from "@effect/sql/Model"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import * as Database from "../src/Database.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Table from "../src/Table.js"
import { sandbox } from "../src/testing/ContractSuite.js"
import * as Admin from "./support/admin.js"
import { outcomeOf } from "./support/outcome.js"
import * as TestDatabase from "./support/TestDatabase.js"

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))
const STRINGS = Number(process.env.FUZZ_STRINGS ?? 1_000)
const BATCH = 100

class FuzzRow extends Model.Class<FuzzRow>("FuzzRow")({
  key: Schema.String,
  body: Schema.String,
  tags: Schema.Array(Schema.String),
  doc: Schema.Struct({ k: Schema.String })
}) {}
const FuzzRows = Table.make(FuzzRow, { name: "fuzz_rows", primaryKey: "key" })
type Row = Table.Row<typeof FuzzRows>

const ddl = [
  `create table fuzz_rows (key text collate "C" primary key, body text collate "C" not null, tags text[] collate "C" not null, doc jsonb not null)`,
  "create table sentinel (id integer primary key, secret text not null)",
  "insert into sentinel values (1, 'still here')"
]

// ---------------------------------------------------------------------------
// the strings
// ---------------------------------------------------------------------------

const pieces = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("'", "''", "\"", "\\", "\\\\", "%", "_", "\\%", "\\_", ";", "--", "/*", "*/", "$1", "$$", "\u0000", "\uD800", "\uDFFF", "\uDBFF\uDC00", "é", "É", "🦄", "\uE000", " ", "\t", "\n", "\r\n") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "'; DROP TABLE sentinel; --",
      "\" OR 1=1 --",
      "E'\\x41'",
      ") OR (1=1",
      "\\'",
      "U&'\\0041'",
      "$tag$ x $tag$",
      "null",
      "NULL"
    )
  },
  { weight: 4, arbitrary: fc.string({ maxLength: 6 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 4 }) }
)
const text = fc.oneof(
  { weight: 20, arbitrary: fc.array(pieces, { maxLength: 6 }).map((parts) => parts.join("")) },
  // Very long values: repeated pieces, up to 20,000 characters.
  { weight: 1, arbitrary: fc.tuple(pieces, fc.integer({ min: 1_000, max: 5_000 })).map(([p, n]) => p.repeat(n).slice(0, 20_000)) }
)

const operators = [
  "eq", "ne", "lt", "lte", "gt", "gte", "between", "in", "notIn", "like", "ilike", "startsWith",
  "contains", "overlaps", "jsonContains"
] as const
type Operator = typeof operators[number]

const filterFor = (operator: Operator, s: string, other: string): Query.Filter<Row> => {
  switch (operator) {
    case "eq":
    case "ne":
    case "lt":
    case "lte":
    case "gt":
    case "gte":
      return { body: Query[operator](s) }
    case "between":
      return { body: Query.between(s, other) }
    case "in":
      return { body: Query.in([s, other]) }
    case "notIn":
      return { body: Query.notIn([s, other]) }
    case "like":
      return { body: Query.like(s) }
    case "ilike":
      return { body: Query.ilike(s) }
    case "startsWith":
      return { body: Query.startsWith(s) }
    case "contains":
      return { tags: Query.contains([s]) }
    case "overlaps":
      return { tags: Query.overlaps([s, other]) }
    case "jsonContains":
      return { doc: Query.jsonContains({ k: s }) }
  }
}

// What node-postgres sends for a string: UTF-8, with unpaired surrogates as U+FFFD.
const asSent = (s: string) => Buffer.from(s, "utf8").toString("utf8")
// In jsonb, node-postgres sends JSON.stringify's escape (\ud800), which the
// server refuses (22P02): such strings are stored in jsonb as sent in text.
const hasLoneSurrogate = (s: string) => asSent(s) !== s
const forJson = (s: string) => (hasLoneSurrogate(s) ? asSent(s) : s)


const keys = (rows: ReadonlyArray<Row>) => rows.map((r) => r.key).sort()

/** Writes a batch, reads it back, and runs one operator query per string; every answer is kept. */
const runBatch = (strings: ReadonlyArray<string>, offset: number) =>
  Effect.gen(function*() {
    const repo = yield* Repository.make(FuzzRows)
    const outcomes: Array<unknown> = []
    const storable = strings.map((s, i) => ({ s, key: `r${String(offset + i).padStart(6, "0")}` }))
      .filter(({ s }) => !s.includes("\u0000"))
    const inserted = yield* repo.insertMany(storable.map(({ key, s }) => ({ key, body: s, tags: [s], doc: { k: forJson(s) } })))
    // Round trip: what was written is what is read, as sent.
    const read = yield* repo.findMany(Query.make(FuzzRows).pipe(Query.orderBy("key")))
    outcomes.push({ inserted: inserted.length, read: read.length })
    for (let i = 0; i < storable.length; i++) {
      const expected = asSent(storable[i]!.s)
      const row = read[i]!
      if (row.key !== storable[i]!.key || row.body !== expected || row.tags[0] !== expected || row.doc.k !== expected) {
        outcomes.push({ roundTrip: storable[i]!.key })
      }
    }
    // A NUL cannot be stored: a ParseError naming the field, nothing written.
    for (const s of strings.filter((x) => x.includes("\u0000")).slice(0, 3)) {
      outcomes.push(yield* outcomeOf(repo.insert({ key: "nul", body: s, tags: [], doc: { k: "" } }), () => "written"))
    }
    // An unpaired surrogate in jsonb is refused by the server; in a
    // savepoint, so the batch goes on.
    for (const s of strings.filter(hasLoneSurrogate).slice(0, 3)) {
      outcomes.push(yield* outcomeOf(Database.transaction(repo.insert({ key: "lone", body: "", tags: [], doc: { k: s } })), () => "written"))
    }
    for (let i = 0; i < strings.length; i++) {
      const operator = operators[(offset + i) % operators.length]!
      const filter = filterFor(operator, strings[i]!, strings[(i + 1) % strings.length]!)
      // Each query in a savepoint: one the server refuses (a NUL, a LIKE
      // pattern ending in the escape character) aborts only itself.
      outcomes.push({
        operator,
        argument: JSON.stringify(strings[i]).slice(0, 200),
        answer: yield* outcomeOf(Database.transaction(repo.findMany(Query.make(FuzzRows).pipe(Query.where(filter)))), keys)
      })
    }
    return outcomes
  })

describe("input fuzz", () => {
  let url: string
  let pg: ManagedRuntime.ManagedRuntime<Database.Database, unknown>
  let memory: ManagedRuntime.ManagedRuntime<Database.Database, never>
  beforeAll(async () => {
    const layer = Layer.unwrapScoped(Effect.gen(function*() {
      url = yield* TestDatabase.url
      for (const statement of ddl) yield* Admin.query(url, statement)
      return Database.layer({ url, maxConnections: 2 })
    }))
    pg = ManagedRuntime.make(layer)
    memory = ManagedRuntime.make(Database.layerMemory())
  }, 60_000)
  afterAll(async () => {
    await pg?.dispose()
    await memory?.dispose()
  })

  it(`${STRINGS} hostile strings round-trip and give the same answer to every operator on both databases (seed ${SEED})`, async () => {
    console.log(`input fuzz: seed ${SEED}, ${STRINGS} strings (FUZZ_SEED=${SEED} replays this run)`)
    const strings = fc.sample(text, { numRuns: STRINGS, seed: SEED })
    const tally = new Map<string, number>()
    for (let offset = 0; offset < strings.length; offset += BATCH) {
      const batch = strings.slice(offset, offset + BATCH)
      const program = sandbox(runBatch(batch, offset))
      const expected = await pg.runPromise(program)
      const actual = await memory.runPromise(program)
      for (let i = 0; i < expected.length; i++) {
        const pgAnswer = expected[i] as { defect?: string; roundTrip?: string; operator?: string; answer?: { defect?: string } }
        expect(pgAnswer.defect ?? pgAnswer.answer?.defect, "a defect on PostgreSQL").toBeUndefined()
        expect(pgAnswer.roundTrip, "a string that did not round-trip").toBeUndefined()
        expect({ memory: actual[i] }, `batch at ${offset}, outcome ${i}: ${JSON.stringify(batch).slice(0, 200)}`)
          .toEqual({ memory: expected[i] })
        if (pgAnswer.operator !== undefined) {
          const kind = `${pgAnswer.operator}: ${"ok" in (pgAnswer.answer as object) ? "rows" : JSON.stringify(pgAnswer.answer)}`
          tally.set(kind, (tally.get(kind) ?? 0) + 1)
        }
      }
    }
    console.log([...tally].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${n}\t${k}`).join("\n"))
    const queries = [...tally.values()].reduce((a, b) => a + b, 0)
    expect(queries).toBe(STRINGS)
    const sentinel = await Effect.runPromise(Admin.query<{ id: number; secret: string }>(url, "select * from sentinel"))
    expect(sentinel).toEqual([{ id: 1, secret: "still here" }])
    // Every batch ran in a transaction that was rolled back.
    const left = await Effect.runPromise(Admin.query<{ n: string }>(url, "select count(*) as n from fuzz_rows"))
    expect(Number(left[0]!.n)).toBe(0)
  }, 300_000)
})
