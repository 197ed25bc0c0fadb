/**
 * @internal
 * `Database.verify`: table definitions against the live catalog. What a
 * field needs of its column is found by asking the field's encoded schema
 * which values it accepts (as codec.ts does for its fix-ups), so refinements,
 * transformations and `Model` variants are read the way decoding reads them.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import * as DatabaseError from "../DatabaseError.js"
import type * as Table from "../Table.js"

type Fields = Schema.Struct.Fields

/** @internal What a field's schema accepts, probed with sample values. */
export interface Probe {
  readonly field: string
  readonly column: string
  readonly nullable: boolean
  readonly boolean: boolean
  readonly integer: boolean
  readonly fraction: boolean
  readonly bigint: boolean
  readonly numericString: boolean
  /** Some string: a `string`, a template literal or a string literal. */
  readonly text: boolean
  /** Any string at all. */
  readonly anyText: boolean
  readonly uuid: boolean
  /** A Date as pg reads timestamps, or an ISO string (which the codec turns them into). */
  readonly timestamp: boolean
  /** The decoded value is a point in time (Date or DateTime), whatever its encoded form. */
  readonly timeType: boolean
  readonly array: boolean
  readonly textArray: boolean
  readonly integerArray: boolean
  readonly object: boolean
  readonly bytes: boolean
  /** Left out of the insert variant: the database makes it (`Model.Generated`). */
  readonly generated: boolean
}

const hasText = (ast: SchemaAST.AST): boolean => {
  switch (ast._tag) {
    case "Union":
      return ast.types.some(hasText)
    case "Refinement":
      return hasText(ast.from)
    case "Suspend":
      return hasText(ast.f())
    case "StringKeyword":
    case "TemplateLiteral":
      return true
    case "Literal":
      return typeof ast.literal === "string"
    case "Enums":
      return ast.enums.some(([, value]) => typeof value === "string")
    default:
      return false
  }
}

/** @internal */
export const probe = (table: Table.Table<any, any>, field: string): Probe => {
  const fields = (table.model as unknown as Schema.Struct<Fields>).fields
  const single = Schema.Struct({ [field]: fields[field]! }) as unknown as Schema.Schema<any, any>
  // Refinements of the encoded side stay: Schema.UUID accepts only UUIDs.
  const encoded = Schema.encodedBoundSchema(single)
  const is = Schema.is(encoded)
  const ok = (value: unknown) => {
    try {
      return is({ [field]: value })
    } catch {
      return false
    }
  }
  const isType = Schema.is(Schema.typeSchema(single))
  const okType = (value: unknown) => {
    try {
      return isType({ [field]: value })
    } catch {
      return false
    }
  }
  const insertFields = (table.model as unknown as { insert?: Schema.Struct<Fields> }).insert?.fields
  const property = (encoded.ast as SchemaAST.TypeLiteral).propertySignatures?.[0]?.type
  const iso = "2024-01-02T03:04:05.000Z"
  return {
    field,
    column: (table.columns as Record<string, string>)[field]!,
    nullable: ok(null),
    boolean: ok(true),
    integer: ok(1),
    fraction: ok(0.5),
    bigint: ok(BigInt(1)),
    numericString: ok("1"),
    text: property !== undefined && hasText(property),
    anyText: ok("x") && ok(""),
    uuid: ok("4f9d1a0e-6c3b-4c1e-9a8e-2f4b5c6d7e8f"),
    timestamp: ok(new Date(0)) || ok(iso),
    timeType: okType(new Date(0)) || okType(DateTime.unsafeMake(0)),
    array: ok([]),
    textArray: ok(["x"]),
    integerArray: ok([1]),
    object: ok({}),
    bytes: ok(new Uint8Array(1)),
    generated: insertFields !== undefined && !(field in insertFields)
  }
}

/** @internal A column as the catalog describes it. */
interface CatalogColumn {
  readonly name: string
  /** `format_type` of the column's type, e.g. `character varying(20)`. */
  readonly type: string
  /** The base type's name (a domain's base type), e.g. `varchar`. */
  readonly base: string
  /** pg_type.typcategory of the base type. */
  readonly category: string
  /** pg_type.typtype of the base type: `e` for an enum. */
  readonly kind: string
  readonly not_null: boolean
}

interface CatalogKey {
  readonly name: string
  readonly type: "p" | "u" | "i"
  readonly columns: ReadonlyArray<string>
}

/**
 * @internal
 * Whether pg's value for a column of this type decodes with the field's
 * schema; `undefined` when effect-dal does not know the type (not checked).
 */
export const compatible = (p: Probe, column: CatalogColumn): boolean | undefined => {
  const base = column.base
  if (base === "json" || base === "jsonb") return true
  if (column.category === "A") return p.array
  if (column.kind === "e") return p.text
  switch (base) {
    case "bool":
      return p.boolean
    case "int2":
    case "int4":
    case "oid":
      return p.integer
    case "float4":
    case "float8":
      return p.fraction
    // pg reads these as strings; the codec turns exact integers into numbers.
    case "int8":
    case "numeric":
    case "money":
      return p.numericString || p.integer
    case "uuid":
      return p.uuid || p.anyText
    case "date":
    case "timestamp":
    case "timestamptz":
      return p.timestamp
    case "bytea":
      return p.bytes && !p.object
  }
  if (column.category === "S" || column.category === "T" || column.category === "I" || column.category === "D") {
    return p.text
  }
  return undefined
}

/** @internal A readable name for what a field needs, as the DDL effect-dal would write. */
export const columnType = (p: Probe): string => {
  if (p.timeType && p.timestamp && !p.object) return "timestamp with time zone"
  if (p.boolean) return "boolean"
  if (p.bigint && !p.integer) return "bigint"
  if (p.fraction) return "double precision"
  if (p.integer) return "integer"
  if (p.uuid && !p.anyText) return "uuid"
  // An object schema (a Struct) accepts a Uint8Array and an array too.
  if (p.object) return "jsonb"
  if (p.bytes) return "bytea"
  if (p.array && !p.object) return p.textArray ? "text[]" : p.integerArray ? "integer[]" : "jsonb"
  if (p.text) return "text"
  if (p.timestamp && !p.object) return "timestamp with time zone"
  return "jsonb"
}

const label = (table: Table.Table<any, any>) => table.schema === "public" ? table.name : `${table.schema}.${table.name}`

const sameColumns = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) =>
  a.length === b.length && [...a].sort().join("\u0000") === [...b].sort().join("\u0000")

const keyText = (kind: string, name: string, columns: ReadonlyArray<string>) => `${kind} "${name}" (${columns.join(", ")})`

/** @internal Every difference between one table definition and the catalog's answer for it. */
export const compare = (
  table: Table.Table<any, any>,
  columns: ReadonlyArray<CatalogColumn>,
  keys: ReadonlyArray<CatalogKey>
): Array<DatabaseError.SchemaMismatchItem> => {
  const name = label(table)
  if (columns.length === 0) {
    return [{ table: name, kind: "missing-table", expected: `table ${table.qualifiedName}`, actual: "no such table" }]
  }
  const out: Array<DatabaseError.SchemaMismatchItem> = []
  const byName = new Map(columns.map((c) => [c.name, c]))
  const fields = table.fields as ReadonlyArray<string>
  for (const field of fields) {
    const p = probe(table, field)
    const column = byName.get(p.column)
    if (column === undefined) {
      out.push({ table: name, column: p.column, kind: "missing-column", expected: columnType(p), actual: "no such column" })
      continue
    }
    if (compatible(p, column) === false) {
      out.push({ table: name, column: p.column, kind: "type", expected: `a type that reads as the field's (e.g. ${columnType(p)})`, actual: column.type })
    }
    // A nullable column for a field that cannot hold null: a NULL row would not decode.
    if (!column.not_null && !p.nullable && field !== table.softDelete) {
      out.push({ table: name, column: p.column, kind: "nullability", expected: "NOT NULL", actual: "nullable" })
    }
  }
  const columnOf = (field: string) => (table.columns as Record<string, string>)[field]!
  const pkColumns = (table.primaryKeyFields as ReadonlyArray<string>).map(columnOf)
  const pk = keys.find((k) => k.type === "p")
  if (pk === undefined || !sameColumns(pk.columns, pkColumns) || pk.name !== table.primaryKeyConstraint) {
    out.push({
      table: name,
      kind: "primary-key",
      expected: keyText("PRIMARY KEY", table.primaryKeyConstraint, pkColumns),
      actual: pk === undefined ? "no primary key" : keyText("PRIMARY KEY", pk.name, pk.columns)
    })
  }
  for (const unique of table.uniqueKeys) {
    const wanted = unique.fields.map((f) => columnOf(f))
    const matching = keys.filter((k) => sameColumns(k.columns, wanted))
    if (!matching.some((k) => k.name === unique.constraint)) {
      out.push({
        table: name,
        kind: "unique-key",
        expected: keyText("UNIQUE", unique.constraint, wanted),
        actual: matching.length === 0
          ? "no unique constraint or index on these columns"
          : matching.map((k) => keyText("UNIQUE", k.name, k.columns)).join(", ")
      })
    }
  }
  if (table.softDelete !== undefined) {
    const column = byName.get(columnOf(table.softDelete))
    if (column !== undefined && (column.not_null || !["timestamp", "timestamptz", "date"].includes(column.base))) {
      out.push({
        table: name,
        column: column.name,
        kind: "soft-delete",
        expected: "a nullable timestamp column",
        actual: `${column.type}${column.not_null ? " NOT NULL" : ""}`
      })
    }
  }
  if (table.version !== undefined) {
    const column = byName.get(columnOf(table.version))
    if (column !== undefined && (!column.not_null || !["int2", "int4", "int8", "numeric"].includes(column.base))) {
      out.push({
        table: name,
        column: column.name,
        kind: "version",
        expected: "an integer column, NOT NULL",
        actual: `${column.type}${column.not_null ? " NOT NULL" : " nullable"}`
      })
    }
  }
  return out
}

const columnsSql = `SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type,
  b.typname::text AS base, b.typcategory::text AS category, b.typtype::text AS kind, a.attnotnull AS not_null
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

// Unique constraints, and unique indexes without a predicate or
// expressions, which ON CONFLICT accepts as well.
const keysSql = `SELECT c.conname::text AS name, c.contype::text AS type,
  ARRAY(SELECT a.attname::text FROM unnest(c.conkey) k JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k) AS columns
FROM pg_constraint c WHERE c.conrelid = to_regclass($1) AND c.contype IN ('p', 'u')
UNION ALL
SELECT i.relname::text, 'i', ARRAY(SELECT a.attname::text FROM unnest(x.indkey::int2[]) k JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = to_regclass($1) AND x.indisunique AND NOT x.indisprimary AND x.indpred IS NULL AND x.indexprs IS NULL
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)`

/** @internal `Database.verify`. */
export const verify = (
  tables: ReadonlyArray<Table.Table<any, any>>
): Effect.Effect<void, DatabaseError.SchemaMismatch | DatabaseError.DatabaseError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const run = <A extends object>(text: string, table: Table.Table<any, any>) =>
      Effect.mapError(sql.unsafe<A>(text, [table.qualifiedName]).withoutTransform, DatabaseError.fromSqlError)
    const mismatches: Array<DatabaseError.SchemaMismatchItem> = []
    for (const table of tables) {
      const columns = yield* run<CatalogColumn>(columnsSql, table)
      const keys = columns.length === 0 ? [] : yield* run<CatalogKey>(keysSql, table)
      mismatches.push(...compare(table, columns, keys))
    }
    if (mismatches.length > 0) return yield* new DatabaseError.SchemaMismatch({ mismatches })
  }).pipe(Effect.withSpan("Database.verify", { captureStackTrace: false, attributes: { "db.tables": tables.length } }))
