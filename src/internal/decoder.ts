import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"

/**
 * @internal
 * How a field's value is brought into the form its schema reads, because
 * pg's value differs: timestamps come as Date where the schema reads ISO
 * strings, int8 and numeric as strings where it reads numbers.
 */
export type Fixup = "date-to-iso" | "numeric-string-to-number"

/**
 * @internal
 * The value in the form the schema reads, or the value itself. Only
 * integers that survive the conversion exactly are converted.
 */
export const fixup = (kind: Fixup, value: unknown): unknown =>
  kind === "date-to-iso" ? dateToIso(value) : numericToNumber(value)

const dateToIso = (value: unknown): unknown => (value instanceof Date ? value.toISOString() : value)

const numericToNumber = (value: unknown): unknown => {
  if (typeof value !== "string" || value.length === 0) return value
  const n = Number(value)
  return Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n)) ? n : value
}

const fixers: Record<Fixup, (value: unknown) => unknown> = {
  "date-to-iso": dateToIso,
  "numeric-string-to-number": numericToNumber
}

/** @internal What a compiled field decoder returns for a value it does not take. */
export const MISS: unknown = Object.freeze({ miss: true })

const NO_OPTIONS: SchemaAST.ParseOptions = {}

/**
 * @internal
 * Whether decoding leaves a value as it is: no transformation anywhere in
 * the schema (refinements only validate).
 */
export const isIdentity = (ast: SchemaAST.AST): boolean => {
  switch (ast._tag) {
    case "Transformation":
    case "Suspend":
      return false
    case "Refinement":
      return isIdentity(ast.from)
    case "Union":
      return ast.types.every(isIdentity)
    case "TupleType":
      return ast.elements.every((e) => isIdentity(e.type)) && ast.rest.every((r) => isIdentity(r.type))
    case "TypeLiteral":
      return ast.propertySignatures.every((p) => isIdentity(p.type)) &&
        ast.indexSignatures.every((i) => isIdentity(i.type))
    case "Declaration":
      return ast.typeParameters.every(isIdentity)
    default:
      return true
  }
}

const isDateFromSelf = (ast: SchemaAST.AST): boolean =>
  ast._tag === "Declaration" && ast.typeParameters.length === 0 &&
  SchemaAST.getIdentifierAnnotation(ast).pipe(Option.getOrUndefined) === "DateFromSelf"

/**
 * @internal
 * The check `compileValidator` makes, as a JavaScript expression over `v`,
 * for the shapes it checks inline; undefined for the others.
 */
export const inlineCheck = (ast: SchemaAST.AST): string | undefined => {
  switch (ast._tag) {
    case "StringKeyword":
      return `typeof v === "string"`
    case "NumberKeyword":
      return `typeof v === "number"`
    case "BooleanKeyword":
      return `typeof v === "boolean"`
    case "UndefinedKeyword":
      return `v === undefined`
    case "UnknownKeyword":
    case "AnyKeyword":
      return `true`
    case "Literal":
      // JSON writes NaN and the infinities as null: those keep the call.
      return typeof ast.literal === "bigint" || (typeof ast.literal === "number" && !Number.isFinite(ast.literal))
        ? undefined
        : `v === ${JSON.stringify(ast.literal)}`
    case "Union": {
      const members = ast.types.map(inlineCheck)
      return members.every((m) => m !== undefined) ? `(${members.join(" || ")})` : undefined
    }
    case "Declaration":
      return isDateFromSelf(ast) ? `v instanceof Date` : undefined
    default:
      return undefined
  }
}

const hasOwn = Object.prototype.hasOwnProperty

/**
 * @internal
 * A validator for a schema whose decoding is the identity. It may refuse a
 * value the schema would take (the caller then decodes with the schema
 * itself), never the other way round: plain checks for the common shapes,
 * including the structs and arrays of a jsonb column, and the schema's own
 * `is` for everything else.
 */
export const compileValidator = (ast: SchemaAST.AST): (u: unknown) => boolean => {
  switch (ast._tag) {
    case "StringKeyword":
      return (u) => typeof u === "string"
    case "NumberKeyword":
      return (u) => typeof u === "number"
    case "BooleanKeyword":
      return (u) => typeof u === "boolean"
    case "UndefinedKeyword":
      return (u) => u === undefined
    case "UnknownKeyword":
    case "AnyKeyword":
      return () => true
    case "Literal": {
      const literal = ast.literal
      return (u) => u === literal
    }
    case "Union": {
      const members = ast.types.map(compileValidator)
      return (u) => {
        for (let i = 0; i < members.length; i++) if (members[i]!(u)) return true
        return false
      }
    }
    case "Refinement": {
      const from = compileValidator(ast.from)
      const filter = ast.filter
      return (u) => from(u) && Option.isNone(filter(u, NO_OPTIONS, ast))
    }
    case "Declaration": {
      if (isDateFromSelf(ast)) return (u) => u instanceof Date
      if (ast.typeParameters.length === 0) {
        // The declaration's own parser, as ParseResult calls it; an
        // effectful one is left to `is`.
        const parse = ast.decodeUnknown()
        const is = Schema.is(Schema.make(ast))
        return (u) => {
          const result = parse(u, NO_OPTIONS, ast)
          return Either.isEither(result) ? Either.isRight(result) : is(u)
        }
      }
      break
    }
    case "TupleType": {
      if (ast.elements.length === 0 && ast.rest.length === 1) {
        const element = compileValidator(ast.rest[0]!.type)
        return (u) => {
          if (!Array.isArray(u)) return false
          for (let i = 0; i < u.length; i++) if (!element(u[i])) return false
          return true
        }
      }
      break
    }
    case "TypeLiteral": {
      // A struct (a jsonb column's): an object with each property checked.
      // A required property must be there; properties the schema does not
      // name are left as they are, as decoding ignores them by default.
      if (ast.indexSignatures.length > 0 || !ast.propertySignatures.every((p) => typeof p.name === "string")) break
      const names = ast.propertySignatures.map((p) => p.name as string)
      const optional = ast.propertySignatures.map((p) => p.isOptional)
      const checks = ast.propertySignatures.map((p) => compileValidator(p.type))
      return (u) => {
        if (typeof u !== "object" || u === null || Array.isArray(u)) return false
        const record = u as Record<string, unknown>
        for (let i = 0; i < names.length; i++) {
          const name = names[i]!
          if (hasOwn.call(record, name)) {
            if (!checks[i]!(record[name])) return false
          } else if (!optional[i]) {
            return false
          }
        }
        return true
      }
    }
  }
  return Schema.is(Schema.make(ast))
}

/**
 * @internal
 * A decoder for one field's schema alone, built once: the decoded value, or
 * MISS when the value does not decode. A transformation whose two sides
 * are plain (DateTime from Date, a number from a string, ...) is checked
 * and transformed inline, calling the schema's own transformation; anything
 * else goes through ParseResult's decoder of that schema.
 */
export const compileDecoder = (ast: SchemaAST.AST): (u: unknown) => unknown => {
  const general = ParseResult.decodeUnknownEither(Schema.make(ast) as Schema.Schema<unknown, unknown>)
  const generalOrMiss = (u: unknown) => {
    const result = general(u)
    return result._tag === "Right" ? result.right : MISS
  }
  if (ast._tag === "Transformation" && isIdentity(ast.from) && isIdentity(ast.to)) {
    const transformation = ast.transformation
    if (transformation._tag !== "FinalTransformation") return generalOrMiss
    const from = compileValidator(ast.from)
    const to = compileValidator(ast.to)
    const decode = transformation.decode
    return (u) => {
      if (!from(u)) return MISS
      const result = decode(u, NO_OPTIONS, ast, u)
      // An effectful transformation is not an Either: the general decoder runs it.
      if (!Either.isEither(result)) return generalOrMiss(u)
      if (result._tag === "Left") return MISS
      const value = (result as Either.Right<unknown, unknown>).right
      return to(value) ? value : MISS
    }
  }
  return generalOrMiss
}

/** @internal How a row decoder reads one field. */
export interface FieldReader {
  readonly field: string
  /** The field's type, when its decoding is the identity; else undefined. */
  readonly plain: SchemaAST.AST | undefined
  /** For a transformed field: decodes the (fixed-up) value, MISS if it does not. */
  readonly decode: ((value: unknown) => unknown) | undefined
  readonly fixup: Fixup | undefined
}

/** @internal A compiled row decoder: one for rows keyed by field, one for rows given as values. */
export interface RowDecoders {
  readonly byField: (row: Record<string, unknown>) => unknown
  readonly byPosition: (values: ReadonlyArray<unknown>) => unknown
}

/**
 * @internal
 * Generates, once per table and read shape (the fields selected, in
 * order), the function that decodes a row: each field checked and
 * converted inline (pg's int8/numeric strings to numbers, Dates to ISO
 * strings where the schema reads those), a transformed field through its
 * own compiled decoder, and the model instance built by a constructor
 * function from the decoded values, with no intermediate object. A value
 * that does not fit sends the row to `slow` (the whole model's decoding,
 * which gives the precise error).
 *
 * `make`, when given, builds the instance from a props object instead (a
 * class whose constructor adds instance fields of its own).
 */
export const makeRowDecoders = (options: {
  readonly readers: ReadonlyArray<FieldReader>
  readonly prototype: object | null
  readonly make: ((props: Record<string, unknown>) => unknown) | undefined
  readonly slow: (row: Record<string, unknown>) => unknown
}): RowDecoders => {
  const { readers } = options
  const names = readers.map((r) => JSON.stringify(r.field))
  const checks = readers.map((r) => (r.plain === undefined ? undefined : compileValidator(r.plain)))
  const decoders = readers.map((r) => r.decode)
  const fixes = readers.map((r) => (r.fixup === undefined ? undefined : fixers[r.fixup]))
  const keyed = (values: ReadonlyArray<unknown>) => {
    const row: Record<string, unknown> = {}
    for (let i = 0; i < readers.length; i++) row[readers[i]!.field] = values[i]
    return row
  }

  // V8 gives objects made by a constructor their property slots up front,
  // where Object.create(prototype) grows a backing store field by field.
  const Row = new Function(
    "prototype",
    `function Row(${readers.map((_, i) => `a${i}`).join(", ")}) { ${
      names.map((name, i) => `this[${name}] = a${i};`).join(" ")
    } }
    Row.prototype = prototype
    return Row`
  )(options.prototype)

  const body = readers.map((reader, i) => {
    const lines: Array<string> = []
    if (reader.plain !== undefined) {
      const check = inlineCheck(reader.plain) ?? `checks[${i}](v)`
      lines.push(`v = READ${i};`)
      if (reader.fixup === undefined) {
        lines.push(`if (!(${check})) return miss(row);`)
      } else {
        lines.push(`if (!(${check})) { v = fixes[${i}](v); if (!(${check})) return miss(row); }`)
      }
    } else {
      lines.push(reader.fixup === undefined ? `v = decoders[${i}](READ${i});` : `v = decoders[${i}](fixes[${i}](READ${i}));`)
      lines.push(`if (v === MISS) return miss(row);`)
    }
    lines.push(`const a${i} = v;`)
    return lines.join(" ")
  }).join("\n")
  const args = readers.map((_, i) => `a${i}`).join(", ")
  const finish = options.make === undefined
    ? `return new Row(${args});`
    : `return make({ ${names.map((name, i) => `${name}: a${i}`).join(", ")} });`

  const generate = (position: boolean, miss: (row: any) => unknown) =>
    new Function(
      "Row",
      "make",
      "checks",
      "decoders",
      "fixes",
      "MISS",
      "miss",
      `return function decodeRow(row) { let v;\n${
        body.replace(/READ(\d+)/g, (_, i: string) => (position ? `row[${i}]` : `row[${names[Number(i)]}]`))
      }\n${finish} }`
    )(Row, options.make, checks, decoders, fixes, MISS, miss) as (row: any) => unknown

  const byField = generate(false, options.slow)
  const byPosition = generate(true, (values: ReadonlyArray<unknown>) => options.slow(keyed(values)))
  return { byField, byPosition }
}
