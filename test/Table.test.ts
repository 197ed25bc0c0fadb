/**
 * Table definitions: field names are checked against the model, column
 * names follow the chosen naming, and the constraint names a table computes
 * are the ones PostgreSQL chooses, also where it has to shorten them.
 */
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Table from "../src/Table.js"
import * as TestDatabase from "./support/TestDatabase.js"

class Thing extends Model.Class<Thing>("Thing")({
  id: Model.Generated(Schema.Number),
  code: Schema.String,
  displayName: Schema.String,
  version: Schema.Number,
  deletedAt: Schema.NullOr(Schema.DateFromSelf)
}) {}

const bytes = (s: string) => Buffer.byteLength(s, "utf8")

describe("Table.make", () => {
  it("rejects a primary key, soft-delete, version, timestamp or unique key field that is not in the model", () => {
    const base = { name: "things", primaryKey: "id" } as const
    expect(() =>
      // @ts-expect-error "nope" is not a field of Thing
      Table.make(Thing, { name: "things", primaryKey: "nope" })
    ).toThrow(`Table "things": primary key "nope" is not a field of the model`)
    expect(() =>
      // @ts-expect-error "deleted" is not a field of Thing
      Table.make(Thing, { ...base, softDelete: "deleted" })
    ).toThrow(`Table "things": soft-delete field "deleted" is not a field of the model`)
    expect(() =>
      // @ts-expect-error "revision" is not a field of Thing
      Table.make(Thing, { ...base, version: "revision" })
    ).toThrow(`Table "things": version field "revision" is not a field of the model`)
    expect(() =>
      // @ts-expect-error "created" is not a field of Thing
      Table.make(Thing, { ...base, timestamps: { created: "created" } })
    ).toThrow(`Table "things": created timestamp "created" is not a field of the model`)
    expect(() =>
      // @ts-expect-error "updated" is not a field of Thing
      Table.make(Thing, { ...base, timestamps: { updated: "updated" } })
    ).toThrow(`Table "things": updated timestamp "updated" is not a field of the model`)
    expect(() =>
      // @ts-expect-error "kode" is not a field of Thing
      Table.make(Thing, { ...base, uniqueKeys: [["code"], ["kode"]] })
    ).toThrow(`Table "things": unique key field "kode" is not a field of the model`)
    expect(() =>
      // @ts-expect-error "kode" is not a field of Thing
      Table.make(Thing, { ...base, uniqueKeys: [{ fields: ["kode"], constraint: "things_code" }] })
    ).toThrow(`Table "things": unique key field "kode" is not a field of the model`)
  })

  // TypeScript's excess property check misses these when the object also
  // names a real field, so only the runtime check catches the typo.
  it("takes a composite primary key as a list of fields, and rejects an empty list, a repeated field or a field not in the model", () => {
    const composite = Table.make(Thing, { name: "things", primaryKey: ["code", "version"] })
    expect(composite.primaryKey).toEqual(["code", "version"])
    expect(composite.primaryKeyFields).toEqual(["code", "version"])
    expect(composite.primaryKeyConstraint).toBe("things_pkey")
    expect(Table.make(Thing, { name: "things", primaryKey: "id" }).primaryKeyFields).toEqual(["id"])
    expect(() => Table.make(Thing, { name: "things", primaryKey: [] })).toThrow(
      `Table "things": the primary key names no field`
    )
    expect(() => Table.make(Thing, { name: "things", primaryKey: ["code", "code"] })).toThrow(
      `Table "things": the primary key names a field twice`
    )
    expect(() =>
      // @ts-expect-error "nope" is not a field of Thing
      Table.make(Thing, { name: "things", primaryKey: ["code", "nope"] })
    ).toThrow(`Table "things": primary key "nope" is not a field of the model`)
  })

  it("rejects a column override, generator or default for a field that is not in the model", () => {
    const base = { name: "things", primaryKey: "id" } as const
    expect(() => Table.make(Thing, { ...base, columnOverrides: { code: "thing_code", dispalyName: "label" } }))
      .toThrow(`Table "things": column override "dispalyName" is not a field of the model`)
    expect(() => Table.make(Thing, { ...base, generated: { id: "serial", ID: "serial" } }))
      .toThrow(`Table "things": generated field "ID" is not a field of the model`)
    expect(() => Table.make(Thing, { ...base, defaults: { version: 1, versoin: 1 } }))
      .toThrow(`Table "things": default "versoin" is not a field of the model`)
  })

  it("maps field names to columns: snake_case by default, \"same\", or a function; columnOverrides win", () => {
    expect(Table.make(Thing, { name: "things", primaryKey: "id" }).columns).toEqual({
      id: "id",
      code: "code",
      displayName: "display_name",
      version: "version",
      deletedAt: "deleted_at"
    })
    expect(Table.make(Thing, { name: "things", primaryKey: "id", naming: "same" }).columns.displayName).toBe("displayName")
    const prefixed = Table.make(Thing, {
      name: "things",
      primaryKey: "id",
      naming: (field) => `t_${field.toLowerCase()}`,
      columnOverrides: { code: "sku" },
      uniqueKeys: [["displayName"], ["code"]]
    })
    expect(prefixed.columns).toEqual({
      id: "t_id",
      code: "sku",
      displayName: "t_displayname",
      version: "t_version",
      deletedAt: "t_deletedat"
    })
    // Default constraint names are made from the column names, not the field names.
    expect(prefixed.uniqueKeys.map((k) => k.constraint)).toEqual(["things_t_displayname_key", "things_sku_key"])
  })

  it("takes the constraint names given, and the schema into the qualified name", () => {
    const named = Table.make(Thing, {
      name: "things",
      schema: "inventory",
      primaryKey: "id",
      primaryKeyConstraint: "things_id",
      uniqueKeys: [{ fields: ["code", "displayName"], constraint: "one_name_per_code" }]
    })
    expect(named.primaryKeyConstraint).toBe("things_id")
    expect(named.uniqueKeys).toEqual([{ fields: ["code", "displayName"], constraint: "one_name_per_code" }])
    expect(named.qualifiedName).toBe(`"inventory"."things"`)
  })

  it("postgresObjectName keeps short names whole and never returns more than 63 bytes", () => {
    expect(Table.postgresObjectName("users", ["email"], "key")).toBe("users_email_key")
    expect(Table.postgresObjectName("users", ["org_id", "email"], "key")).toBe("users_org_id_email_key")
    expect(Table.postgresObjectName("users", [], "pkey")).toBe("users_pkey")
    for (const [table, column] of [["é".repeat(30), "ü".repeat(25)], ["表".repeat(21), "🦄".repeat(15)], ["a".repeat(63), "b"]]) {
      const name = Table.postgresObjectName(table!, [column!], "key")
      expect(bytes(name)).toBeLessThanOrEqual(63)
      expect(name.endsWith("_key")).toBe(true)
      // No character cut in half: the name survives a UTF-8 round trip.
      expect(Buffer.from(name, "utf8").toString("utf8")).toBe(name)
      expect(name).not.toContain("\uFFFD")
    }
  })
})

// Tables whose names PostgreSQL has to shorten, each with a serial primary
// key and a unique column, created on a real server; the test compares
// pg_constraint.conname with the names the table definition computes.
const longNames: ReadonlyArray<{ readonly table: string; readonly column: string }> = [
  // ASCII: only the longer part is trimmed.
  { table: "a_rather_long_table_name_for_orders_placed_by_customers", column: "external_reference_code" },
  // Two-byte characters: PostgreSQL trims bytes from the longer part, then
  // cuts both parts back to a character boundary, which can leave a name
  // shorter than 63 bytes.
  { table: "é".repeat(30), column: "ü".repeat(25) },
  { table: "x" + "é".repeat(30), column: "y" + "ü".repeat(20) },
  // Three- and four-byte characters.
  { table: "表".repeat(21), column: "🦄".repeat(15) },
  { table: "ab" + "表".repeat(20), column: "c🦄".repeat(9) },
  // A name that needs no column part trimmed, and a short column.
  { table: "t" + "ß".repeat(31), column: "id2" }
]

const quote = (identifier: string) => `"${identifier.replace(/"/g, "\"\"")}"`

class Coded extends Model.Class<Coded>("Coded")({
  id: Model.Generated(Schema.Number),
  code: Schema.String
}) {}

layer(TestDatabase.layer())("constraint names on PostgreSQL", (it) => {
  for (const { column, table } of longNames) {
    it.effect(`"${table}" (${bytes(table)} bytes) with unique "${column}": the names match pg_constraint`, () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        expect(bytes(table)).toBeLessThanOrEqual(63) // PostgreSQL would shorten the table's own name
        const definition = Table.make(Coded, {
          name: table,
          primaryKey: "id",
          uniqueKeys: [["code"]],
          columnOverrides: { code: column }
        })
        yield* sql.unsafe(`create table ${quote(table)} (id serial primary key, ${quote(column)} text not null unique)`)
        const rows = yield* sql<{ readonly conname: string; readonly contype: string }>`
          select conname, contype from pg_constraint
          where conrelid = ${definition.qualifiedName}::regclass and contype in ('p', 'u') order by contype`
        expect(rows.map((r) => [r.contype, r.conname])).toEqual([
          ["p", definition.primaryKeyConstraint],
          ["u", definition.uniqueKeys[0]!.constraint]
        ])
        // And a duplicate is reported under that name.
        const repo = yield* Repository.make(definition)
        yield* repo.insert({ code: "one" })
        const error = yield* Effect.flip(repo.insert({ code: "one" }))
        expect(error._tag).toBe("UniqueViolation")
        expect(error._tag === "UniqueViolation" && error.constraint).toBe(definition.uniqueKeys[0]!.constraint)
        expect(yield* repo.count(Query.make(definition))).toBe(1)
      }))
  }

  it.effect("a function as naming: the repository reads and writes the columns it names", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const things = Table.make(Thing, {
        name: "prefixed_things",
        primaryKey: "id",
        naming: (field) => `t_${field.toLowerCase()}`,
        uniqueKeys: [["code"]],
        version: "version",
        softDelete: "deletedAt"
      })
      yield* sql`create table prefixed_things (
        t_id serial primary key,
        t_code text not null unique,
        t_displayname text not null,
        t_version integer not null,
        t_deletedat timestamptz
      )`
      const repo = yield* Repository.make(things)
      const stored = yield* repo.insert({ code: "a", displayName: "Ann" })
      const updated = yield* repo.update(stored.id, { displayName: "Anna" })
      expect(updated).toMatchObject({ code: "a", displayName: "Anna", version: 2, deletedAt: null })
      const raw = yield* sql<{ readonly t_displayname: string; readonly t_version: number }>`
        select t_displayname, t_version from prefixed_things`
      expect(raw).toEqual([{ t_displayname: "Anna", t_version: 2 }])
      const duplicate = yield* Effect.flip(repo.insert({ code: "a", displayName: "again" }))
      expect(duplicate._tag === "UniqueViolation" && duplicate.constraint).toBe("prefixed_things_t_code_key")
    }))
})
