import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import type * as Table from "../Table.js"
import { compileDecoder, compileValidator, type FieldReader, type Fixup, fixup, isIdentity, makeRowDecoders, MISS } from "./decoder.js"
import { InvalidInput } from "./failure.js"
import { quote } from "./identifier.js"

type Fields = Schema.Struct.Fields
type Encoder = (value: unknown) => Either.Either<unknown, ParseResult.ParseError>


const fieldsOf = (schema: unknown): Fields => (schema as Schema.Struct<Fields>).fields

// One field as a struct of its own, so property signatures (optional,
// defaults, Model overrides) encode exactly as in the whole model.
const struct1 = (fields: Fields, field: string) =>
  Schema.Struct({ [field]: fields[field]! }) as unknown as Schema.Schema<Record<string, unknown>, Record<string, unknown>>

const fieldEncoder = (fields: Fields, field: string): Encoder => {
  const encode = Schema.encodeUnknownEither(struct1(fields, field))
  return (value) => Either.map(encode({ [field]: value }), (encoded) => (encoded as Record<string, unknown>)[field])
}

const accepts = (fields: Fields, field: string) => {
  const is = Schema.is(Schema.typeSchema(struct1(fields, field)))
  return (value: unknown) => is({ [field]: value })
}

const timestampCandidates = (millis: number): Array<unknown> => [
  DateTime.unsafeMake(millis),
  new Date(millis),
  millis,
  new Date(millis).toISOString()
]

// PostgreSQL text cannot hold U+0000: the server refuses it in text and
// text[] (SQLSTATE 22021) and in jsonb (22P05), after the statement is sent,
// which aborts a surrounding transaction. Encoded values are checked here
// instead, so a write with a NUL is a ParseError before any SQL is sent.
const hasNul = (value: unknown): boolean => {
  if (typeof value === "string") return value.includes("\u0000")
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (hasNul(value[i])) return true
    return false
  }
  if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    for (const key in value) if (key.includes("\u0000") || hasNul((value as Record<string, unknown>)[key])) return true
  }
  return false
}

// Names the table and the field, never the value.
const nulError = (table: Table.Table<any, any>, field: string, value: unknown) =>
  new ParseResult.ParseError({
    issue: new ParseResult.Pointer(
      field,
      value,
      new ParseResult.Unexpected(value, `table "${table.name}": PostgreSQL text cannot hold the NUL character (U+0000)`)
    )
  })

/** @internal Everything a repository needs to turn model values into SQL values and back. */
export interface Codec {
  readonly table: Table.Table<any, any>
  /** `"created_at" AS "createdAt", ...`: rows come back keyed by field name. */
  readonly selectList: string
  /** Whether a value names one of the table's own fields (never a prototype key). */
  readonly isField: (name: unknown) => name is string
  /** The fields whose values are numbers, which sum, avg, min and max take. */
  readonly numericFields: ReadonlySet<string>
  /**
   * What a field's stored (encoded) value can be, for the operators that
   * need one kind: text (LIKE), an array (contains, overlaps), JSON
   * (jsonContains: an object, or unknown).
   */
  readonly storedKinds: (field: string) => ReadonlySet<StoredKind>
  /** A field's column; throws InvalidInput for a name that is not a field. */
  readonly column: (field: string) => string
  /** The primary key's fields, in order. */
  readonly keyFields: ReadonlyArray<string>
  /**
   * A caller's primary key, checked and encoded: the key field's values in
   * `keyFields` order. A composite key is a record of exactly its fields;
   * a missing or extra field, or a value that fails its schema, is a
   * ParseError (returned, not thrown).
   */
  readonly encodeKey: (id: unknown) => Either.Either<ReadonlyArray<unknown>, ParseResult.ParseError>
  /** A model value of a field, encoded for SQL; a ParseError is returned, not thrown. */
  readonly encodeField: (field: string, value: unknown) => Either.Either<unknown, ParseResult.ParseError>
  /** An encoded (SQL) value of a field, decoded back to the model's value. */
  readonly decodeField: (field: string, value: unknown) => Either.Either<unknown, ParseResult.ParseError>
  /** A patch value of a field (the update variant). */
  readonly encodePatchField: (field: string, value: unknown) => Either.Either<unknown, ParseResult.ParseError>
  /**
   * Why a patch may not set this field (the primary key or the version
   * field), as the ParseError an update fails with; undefined for a field a
   * patch may set.
   */
  readonly patchForbids: (field: string, value: unknown) => ParseResult.ParseError | undefined
  /** An insert row with timestamps, soft-delete and version filled in, encoded; keys are fields. */
  readonly encodeInsert: (row: unknown, nowMillis: number) => Either.Either<Record<string, unknown>, ParseResult.ParseError>
  /** The fields an insert writes, in order. */
  readonly insertFields: ReadonlyArray<string>
  /** The update-variant value meaning "now" for a timestamp field (also a soft-delete mark). */
  readonly nowFor: (field: string, nowMillis: number) => unknown
  /** The update-variant value meaning "not deleted" for the soft-delete field. */
  readonly notDeleted: unknown
  /** Decodes one row keyed by field; a row that does not fit the model is a defect naming the column. */
  readonly decodeRow: (row: Record<string, unknown>) => unknown
  /** Decodes a row whose keys are column names (raw SQL). */
  readonly decodeColumns: (row: Record<string, unknown>) => unknown
  /** Decodes a row given as its values in the order of `selectList`; same results and defects as `decodeRow`. */
  readonly decodeValues: (values: ReadonlyArray<unknown>) => unknown
}

/** @internal What a stored value can be: see `Codec.storedKinds`. */
export type StoredKind = "text" | "array" | "json" | "other"

// The kinds of value an encoded schema can hold (nullability aside).
const storedKindsOf = (ast: SchemaAST.AST, out: Set<StoredKind> = new Set()): Set<StoredKind> => {
  switch (ast._tag) {
    case "Union":
      for (const member of ast.types) storedKindsOf(member, out)
      break
    case "Refinement":
      storedKindsOf(ast.from, out)
      break
    case "Suspend":
      storedKindsOf(ast.f(), out)
      break
    case "StringKeyword":
    case "TemplateLiteral":
      out.add("text")
      break
    case "Literal":
      if (typeof ast.literal === "string") out.add("text")
      else if (ast.literal !== null) out.add("other")
      break
    case "TupleType":
      out.add("array")
      break
    case "TypeLiteral":
    case "UnknownKeyword":
    case "AnyKeyword":
      out.add("json")
      break
    default:
      out.add("other")
  }
  return out
}

/** @internal */
export class RowDecodeError extends Error {
  override readonly name = "RowDecodeError"
}

/** @internal Builds a table's codec once; nothing here runs per call. */
export const makeCodec = (table: Table.Table<any, any>): Codec => {
  const model = table.model as unknown as Schema.Schema<unknown, unknown> & {
    readonly insert: Schema.Schema<unknown, unknown>
    readonly update: Schema.Schema<unknown, unknown>
  }
  const selectFields = fieldsOf(model)
  const insertFields = fieldsOf(model.insert)
  const updateFields = fieldsOf(model.update)
  const columns = table.columns as Record<string, string>
  const fields = table.fields as ReadonlyArray<string>

  const selectList = fields
    .map((f) => (columns[f] === f ? quote(f) : `${quote(columns[f]!)} AS ${quote(f)}`))
    .join(", ")

  // Filter values (an `in` list can hold thousands) of untransformed fields
  // are validated and passed on as they are.
  const selectEncoders = new Map(fields.map((f) => {
    const encode = fieldEncoder(selectFields, f)
    if (!isIdentity(struct1(selectFields, f).ast)) return [f, encode]
    const valid = compileValidator(propertyType(struct1(selectFields, f).ast))
    return [f, (value: unknown) => (valid(value) ? Either.right(value) : encode(value))]
  }))
  const selectDecoders = new Map(fields.map((f) => {
    const decode = Schema.decodeUnknownEither(struct1(selectFields, f))
    return [f, (value: unknown) => Either.map(decode({ [f]: value }), (decoded) => (decoded as Record<string, unknown>)[f])]
  }))
  const patchEncoders = new Map(Object.keys(updateFields).map((f) => {
    const encode = fieldEncoder(updateFields, f)
    return [f, (value: unknown) => {
      const result = encode(value)
      return result._tag === "Right" && hasNul(result.right) ? Either.left(nulError(table, f, value)) : result
    }]
  }))

  // A timestamp field takes whichever representation its schema accepts:
  // DateTime.Utc (Model.DateTime*), Date, epoch millis or an ISO string.
  const pick = (fieldSet: Fields, field: string, wrapOption: boolean) => {
    if (!(field in fieldSet)) return undefined
    const ok = accepts(fieldSet, field)
    const probe = timestampCandidates(0)
    const index = probe.findIndex((c) => ok(c))
    if (index >= 0) return (millis: number) => timestampCandidates(millis)[index]
    if (wrapOption) {
      const optionIndex = probe.findIndex((c) => ok(Option.some(c)))
      if (optionIndex >= 0) return (millis: number) => Option.some(timestampCandidates(millis)[optionIndex])
    }
    throw new Error(`Table "${table.name}": field "${field}" cannot hold a timestamp (DateTime, Date, number or string)`)
  }
  const insertNow = new Map<string, (millis: number) => unknown>()
  const updateNow = new Map<string, (millis: number) => unknown>()
  for (const field of [table.timestamps.created, table.timestamps.updated, table.softDelete]) {
    if (field === undefined) continue
    const soft = field === table.softDelete
    if (!soft) {
      const i = pick(insertFields, field, false)
      if (i) insertNow.set(field, i)
    }
    const u = pick(updateFields, field, soft)
    if (u) updateNow.set(field, u)
  }
  const notDeletedValue = (fieldSet: Fields): unknown => {
    const field = table.softDelete
    if (field === undefined || !(field in fieldSet)) return undefined
    const ok = accepts(fieldSet, field)
    const candidate = [null, Option.none()].find((c) => ok(c))
    if (candidate === undefined) {
      throw new Error(`Table "${table.name}": soft-delete field "${field}" must be nullable (null or Option)`)
    }
    return candidate
  }
  const insertNotDeleted = notDeletedValue(insertFields)
  const updateNotDeleted = notDeletedValue(updateFields)

  const encodeInsertStruct = Schema.encodeUnknownEither(model.insert)
  const insertFieldNames = Object.keys(insertFields)
  const versionInInsert = table.version !== undefined && table.version in insertFields

  // Like decoding, encoding an insert row is done field by field: a field
  // whose schema has no transformation is only validated and copied, the
  // others are encoded one by one. Any failure falls back to encoding the
  // whole row, for its precise ParseError.
  const insertPlain = insertFieldNames
    .filter((f) => isIdentity(struct1(insertFields, f).ast))
    .map((f) => {
      const signature = (struct1(insertFields, f).ast as SchemaAST.TypeLiteral).propertySignatures[0]!
      return [f, compileValidator(signature.type), signature.isOptional] as const
    })
  const insertEncoded = insertFieldNames
    .filter((f) => !insertPlain.some(([p]) => p === f))
    .map((f) => [f, fieldEncoder(insertFields, f)] as const)
  // What a managed field (timestamp, soft-delete mark, version) takes when
  // the row leaves it out.
  const softInInsert = table.softDelete !== undefined && table.softDelete in insertFields ? table.softDelete : undefined
  const managedDefault = (field: string, nowMillis: number): unknown => {
    const make = insertNow.get(field)
    if (make !== undefined) return make(nowMillis)
    if (field === softInInsert) return insertNotDeleted
    if (versionInInsert && field === table.version) return 1
    return undefined
  }
  const managed = new Set([...insertNow.keys(), softInInsert, versionInInsert ? table.version : undefined])

  const encodeInsert = (row: unknown, nowMillis: number): Either.Either<Record<string, unknown>, ParseResult.ParseError> => {
    const result = encodeInsertValues(row, nowMillis)
    if (result._tag === "Left") return result
    for (const field in result.right) {
      if (hasNul(result.right[field])) return Either.left(nulError(table, field, (row as Record<string, unknown>)[field]))
    }
    return result
  }
  const encodeInsertValues = (row: unknown, nowMillis: number): Either.Either<Record<string, unknown>, ParseResult.ParseError> => {
    // Not an object (null, a string from a request): the model's own error.
    if (typeof row !== "object" || row === null) {
      return encodeInsertStruct(row) as Either.Either<Record<string, unknown>, ParseResult.ParseError>
    }
    const input = row as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const [field, valid, optional] of insertPlain) {
      const value = insertValueOf(input, field, nowMillis)
      if (value === undefined && optional) continue
      if (!valid(value)) return encodeInsertSlow(input, nowMillis)
      out[field] = value
    }
    for (const [field, encode] of insertEncoded) {
      const result = encode(insertValueOf(input, field, nowMillis))
      if (result._tag === "Left") return encodeInsertSlow(input, nowMillis)
      if (result.right !== undefined) out[field] = result.right
    }
    return Either.right(out)
  }
  // No closures per row: a batch of 1,000 rows would make 2,000 of them.
  const insertValueOf = (input: Record<string, unknown>, field: string, nowMillis: number): unknown => {
    const value = input[field]
    return value === undefined && managed.has(field) ? managedDefault(field, nowMillis) : value
  }
  const encodeInsertSlow = (input: Record<string, unknown>, nowMillis: number) => {
    const filled: Record<string, unknown> = { ...input }
    for (const field of managed) if (field !== undefined) filled[field] = insertValueOf(input, field, nowMillis)
    return encodeInsertStruct(filled) as Either.Either<Record<string, unknown>, ParseResult.ParseError>
  }

  // pg returns timestamps as Date and int8/numeric as strings; a field whose
  // schema reads ISO strings or numbers gets them in that form. Only
  // integers that survive the conversion exactly are converted.
  const fixups: Array<readonly [string, Fixup]> = []
  for (const field of fields) {
    const encoded = Schema.encodedSchema(struct1(selectFields, field))
    const is = Schema.is(encoded)
    const ok = (v: unknown) => is({ [field]: v })
    if (!ok(new Date(0)) && ok("1970-01-01T00:00:00.000Z")) fixups.push([field, "date-to-iso"])
    else if (ok(0) && !ok("0")) fixups.push([field, "numeric-string-to-number"])
  }
  // Returns the row itself when nothing needs fixing, a fixed copy otherwise.
  const applyFixups = (input: Record<string, unknown>) => {
    let row = input
    for (const [field, kind] of fixups) {
      const fixed = fixup(kind, row[field])
      if (fixed !== row[field]) {
        if (row === input) row = { ...input }
        row[field] = fixed
      }
    }
    return row
  }

  // Decoding a row is on every read's hot path: one function, generated
  // once for the table's read shape (decoder.ts), checks and converts each
  // field inline and builds the model instance from the decoded values. A
  // row it does not take goes through the whole model's decoding, for the
  // precise error (or its result, if the schema takes what the inline
  // checks did not).
  const decode = Schema.decodeUnknownEither(model)
  const fixupOf = new Map(fixups)
  const Model = model as unknown as new(props: Record<string, unknown>, disableValidation: boolean) => unknown
  const constructs = typeof Model === "function" && "fields" in Model
  const slowDecode = (input: Record<string, unknown>) => {
    const result = decode(applyFixups(input))
    if (result._tag === "Right") return result.right
    throw new RowDecodeError(describeDecodeFailure(table, result.left))
  }
  const readers: Array<FieldReader> = fields.map((field) => {
    const ast = struct1(selectFields, field).ast
    const fix = fixupOf.get(field)
    if (isIdentity(ast)) return { field, plain: propertyType(ast), decode: undefined, fixup: fix }
    // A field with a plain property signature is decoded by its type's own
    // decoder; one whose signature transforms (optionalWith, defaults) by
    // the one-field struct.
    const signature = ast._tag === "TypeLiteral" && ast.propertySignatures.length === 1 && !ast.propertySignatures[0]!.isOptional
      ? ast.propertySignatures[0]!
      : undefined
    if (signature !== undefined) return { field, plain: undefined, decode: compileDecoder(signature.type), fixup: fix }
    const decodeField = selectDecoders.get(field)!
    return {
      field,
      plain: undefined,
      decode: (value: unknown) => {
        const result = decodeField(value)
        return result._tag === "Right" ? result.right : MISS
      },
      fixup: fix
    }
  })
  // With validation off, the model's constructor only copies the props onto
  // a new instance, which a generated constructor does at a fraction of the
  // cost. A class that adds instance fields of its own (seen on an instance
  // built from nulls) keeps its constructor.
  const prototype = (Model as { prototype?: object }).prototype ?? null
  const copiesOnly = (() => {
    if (!constructs) return false
    try {
      const own = Object.keys(new Model(Object.fromEntries(fields.map((f) => [f, null])), true) as object)
      return own.length === fields.length && own.every((k) => fields.includes(k))
    } catch {
      return false
    }
  })()
  const decoders = constructs
    ? makeRowDecoders({
      readers,
      prototype,
      make: copiesOnly ? undefined : (props) => new Model(props, true),
      slow: slowDecode
    })
    : undefined
  // `input` holds the model's fields (the SELECT list aliases them); it is never modified.
  const decodeRow: (input: Record<string, unknown>) => unknown = decoders?.byField ?? slowDecode
  // Rows as values in `fields` order (the SELECT list's), as the driver hands them over.
  const decodeValues: (values: ReadonlyArray<unknown>) => unknown = decoders?.byPosition ?? ((values) => {
    const row: Record<string, unknown> = {}
    for (let i = 0; i < fields.length; i++) row[fields[i]!] = values[i]
    return slowDecode(row)
  })

  const columnToField = new Map(fields.map((f) => [columns[f]!, f]))
  // Raw SQL may return other columns too; only the model's fields are kept.
  const decodeColumns = (row: Record<string, unknown>) => {
    const byField: Record<string, unknown> = {}
    for (const key in row) {
      const field = columnToField.get(key) ?? (fields.includes(key) ? key : undefined)
      if (field !== undefined) byField[field] = row[key]
    }
    return decodeRow(byField)
  }

  const missing = (field: string) =>
    Either.left(
      new ParseResult.ParseError({
        issue: new ParseResult.Unexpected(field, `"${field}" is not a field of table "${table.name}"`)
      })
    )

  const keyFields = table.primaryKeyFields as ReadonlyArray<string>
  const isKeyField = new Set(keyFields)
  const versionField = table.version as string | undefined
  const patchForbids = (field: string, value: unknown): ParseResult.ParseError | undefined =>
    isKeyField.has(field)
      ? new ParseResult.ParseError({
        issue: new ParseResult.Unexpected(
          value,
          `"${field}" is the primary key of table "${table.name}": an update cannot change it`
        )
      })
      : field === versionField
      ? new ParseResult.ParseError({
        issue: new ParseResult.Unexpected(
          value,
          `"${field}" is the version field of table "${table.name}": every update increments it (pass expectedVersion to check it)`
        )
      })
      : undefined

  // A single-column key is the field's value. A composite key is a record
  // of exactly the key's fields: Schema checks that it is an object, that
  // no field is missing and none is extra (own keys, `__proto__` included),
  // and encodes each value.
  const encodeKey: Codec["encodeKey"] = Array.isArray(table.primaryKey)
    ? (() => {
      const encode = Schema.encodeUnknownEither(
        Schema.Struct(Object.fromEntries(keyFields.map((f) => [f, selectFields[f]!]))) as unknown as Schema.Schema<
          Record<string, unknown>,
          Record<string, unknown>
        >,
        { onExcessProperty: "error" }
      )
      return (id: unknown) => {
        const result = encode(id)
        if (result._tag === "Left") return Either.left(result.left)
        const values: Array<unknown> = []
        for (const field of keyFields) values.push(result.right[field])
        return Either.right(values)
      }
    })()
    : (() => {
      const encode = selectEncoders.get(keyFields[0]!)!
      return (id: unknown) => {
        const result = encode(id)
        return result._tag === "Left" ? Either.left(result.left) : Either.right([result.right])
      }
    })()

  const fieldSet: ReadonlySet<unknown> = new Set(fields)
  const isField = (name: unknown): name is string => fieldSet.has(name)
  // A field holds numbers when its type accepts one of these.
  const numberProbes = [0, 1, -1, 0.5]
  const numericFields = new Set(fields.filter((f) => {
    const ok = accepts(selectFields, f)
    return numberProbes.some(ok)
  }))

  const kinds = new Map(fields.map((f) => [f, storedKindsOf(propertyType(Schema.encodedSchema(struct1(selectFields, f)).ast))]))

  return {
    table,
    selectList,
    isField,
    numericFields,
    storedKinds: (field) => kinds.get(field) ?? new Set(),
    column: (field) => {
      if (!isField(field)) throw new InvalidInput("query", "not a field of the table", field)
      return columns[field]!
    },
    keyFields,
    encodeKey,
    encodeField: (field, value) => selectEncoders.get(field)?.(value) ?? missing(field),
    decodeField: (field, value) => selectDecoders.get(field)?.(value) ?? missing(field),
    patchForbids,
    encodePatchField: (field, value) => patchEncoders.get(field)?.(value) ?? missing(field),
    encodeInsert,
    insertFields: insertFieldNames,
    nowFor: (field, millis) => {
      const make = updateNow.get(field)
      if (make === undefined) throw new Error(`Table "${table.name}": "${field}" is not a timestamp field`)
      return make(millis)
    },
    notDeleted: updateNotDeleted,
    decodeRow,
    decodeColumns,
    decodeValues
  }
}

const propertyType = (ast: SchemaAST.AST): SchemaAST.AST =>
  ast._tag === "TypeLiteral" && ast.propertySignatures.length === 1 ? ast.propertySignatures[0]!.type : ast

// "column "email" (field email): expected string, got null". The value
// itself is never shown: rows hold personal data.
const describeDecodeFailure = (table: Table.Table<any, any>, error: ParseResult.ParseError): string => {
  const { path, issue } = firstLeaf(error.issue, [])
  const field = path[0] === undefined ? undefined : String(path[0])
  const column = field === undefined ? undefined : (table.columns as Record<string, string>)[field]
  const where = field === undefined
    ? ""
    : `: column "${column ?? field}" (field ${field}${path.length > 1 ? `, at ${path.slice(1).join(".")}` : ""})`
  return `a row of table "${table.name}" does not fit the model${where}: ${issue}`
}

const describeActual = (actual: unknown): string =>
  actual === null
    ? "null"
    : actual === undefined
    ? "nothing"
    : actual instanceof Date
    ? "a Date"
    : Array.isArray(actual)
    ? "an array"
    : `a ${typeof actual}`

const firstLeaf = (
  issue: ParseResult.ParseIssue,
  path: Array<PropertyKey>
): { path: Array<PropertyKey>; issue: string } => {
  switch (issue._tag) {
    case "Pointer": {
      const next = Array.isArray(issue.path) ? issue.path : [issue.path]
      return firstLeaf(issue.issue, [...path, ...next])
    }
    case "Composite": {
      const first = Array.isArray(issue.issues) ? issue.issues[0] : issue.issues
      return first === undefined ? { path, issue: "invalid" } : firstLeaf(first as ParseResult.ParseIssue, path)
    }
    case "Refinement":
    case "Transformation":
      return firstLeaf(issue.issue, path)
    case "Missing":
      return { path, issue: "the column is missing" }
    case "Type":
      return { path, issue: `expected ${expected(issue.ast)}, got ${describeActual(issue.actual)}` }
    default:
      return { path, issue: issue._tag === "Forbidden" ? "forbidden" : "unexpected value" }
  }
}

const expected = (ast: SchemaAST.AST): string => {
  const text = String(ast)
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

// A codec depends only on the table definition, and building one runs
// schema machinery for every field: programs and unit tests make
// repositories of the same table often.
const codecs = new WeakMap<Table.Table<any, any>, Codec>()
/** @internal The codec of a table, made once. */
export const codecFor = (table: Table.Table<any, any>): Codec => {
  let codec = codecs.get(table)
  if (codec === undefined) codecs.set(table, codec = makeCodec(table))
  return codec
}
