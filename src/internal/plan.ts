/**
 * The caller's input, checked once for both engines before anything is
 * compiled or evaluated. Everything a caller passes (a query, its filter,
 * field names, limits, an upsert target, a page or batch size) may come
 * straight from a request: here it becomes a checked value or an
 * `InvalidQuery`, never SQL text and never a defect. Only the table
 * definition is trusted.
 */
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as DatabaseError from "../DatabaseError.js"
import * as Query from "../Query.js"
import * as Table from "../Table.js"
import { type Codec, codecFor, type StoredKind } from "./codec.js"
import type { RelatedLink } from "./engine.js"
import * as Expression from "./expr.js"
import { EncodeFailure, InvalidInput } from "./failure.js"

export { EncodeFailure, InvalidInput } from "./failure.js"


/**
 * @internal
 * The most parameters a statement can have: the Bind message counts them in
 * an Int16 (protocol-message-formats.html, "Bind"), and node-postgres writes
 * a larger count modulo 65,536, so the server would misread the message.
 * Bulk inserts chunk under it on both engines.
 */
export const MAX_PARAMETERS = 65_535


/** @internal The InvalidQuery for a table; a field name is cut to 100 characters. */
export const invalidQuery = (codec: Codec, input: InvalidInput): DatabaseError.InvalidQuery =>
  new DatabaseError.InvalidQuery({
    table: input.table ?? codec.table.name,
    part: input.part,
    ...(input.field === undefined ? {} : { field: typeof input.field === "string" ? input.field.slice(0, 100) : `(a ${typeof input.field})` }),
    reason: input.reason
  })

/**
 * @internal
 * Runs `build` (which checks input, encodes values and writes SQL) and
 * `then` with its result in one step. Input that fails a check is an
 * InvalidQuery, a value that fails its schema a ParseError: both before
 * anything is sent. Anything else thrown is a bug, so a defect.
 */
export const compileThen = <A, B, E, R>(
  codec: Codec,
  build: () => A,
  then: (built: A) => Effect.Effect<B, E, R>
): Effect.Effect<B, E | ParseResult.ParseError | DatabaseError.InvalidQuery, R> =>
  Effect.suspend((): Effect.Effect<B, E | ParseResult.ParseError | DatabaseError.InvalidQuery, R> => {
    let built: A
    try {
      built = build()
    } catch (error) {
      if (error instanceof EncodeFailure) return Effect.fail(error.error)
      if (error instanceof InvalidInput) return Effect.fail(invalidQuery(codec, error))
      throw error
    }
    return then(built)
  })

/** @internal `compileThen` with nothing after it. */
export const compile = <A>(
  codec: Codec,
  build: () => A
): Effect.Effect<A, ParseResult.ParseError | DatabaseError.InvalidQuery> => compileThen(codec, build, Effect.succeed)

/** @internal The name, if it is one of the table's own fields; otherwise throws InvalidInput. */
export const checkField = (codec: Codec, name: unknown, part: DatabaseError.QueryPart): string => {
  if (codec.isField(name)) return name
  throw new InvalidInput(part, typeof name === "string" ? "not a field of the table" : "a field name is a string", name)
}

/** @internal A field that holds numbers, for sum, avg, min and max. */
export const checkNumericField = (codec: Codec, name: unknown): string => {
  const field = checkField(codec, name, "aggregate")
  if (!codec.numericFields.has(field)) throw new InvalidInput("aggregate", "not a numeric field", name)
  return field
}

/**
 * @internal
 * A whole number from `min` to `max` (by default one below the largest
 * safe integer, so that `limit + 1`, a page's look-ahead row, stays
 * exact); otherwise throws InvalidInput.
 */
export const checkCount = (
  value: unknown,
  part: DatabaseError.QueryPart,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER - 1
): number => {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max) return value
  throw new InvalidInput(part, `expected a whole number from ${min} to ${max}`)
}

/** @internal The most rows one fetch of a cursor can ask for: the wire protocol's row limit is a 32-bit integer. */
export const MAX_BATCH_SIZE = 2_147_483_647

const directions: ReadonlySet<unknown> = new Set(["asc", "desc"])
const nullsOrders: ReadonlySet<unknown> = new Set(["first", "last"])
const visibilities: ReadonlySet<unknown> = new Set(["exclude", "include", "only"])

/**
 * @internal
 * The query itself, checked: made by `Query`, every expression node branded
 * and of a known kind with a known operator, every field one of the table's
 * own, limit and offset whole numbers. Throws InvalidInput otherwise.
 */
export const checkQuery = <A>(codec: Codec, query: unknown): Query.Query<A> => {
  if (!Query.isQuery(query)) throw new InvalidInput("query", "not a query made with Query.make")
  if (query.filter !== undefined) checkExpr(codec, query.filter)
  if (!Array.isArray(query.order)) throw new InvalidInput("orderBy", "not an ordering")
  for (const order of query.order) {
    checkField(codec, order?.field, "orderBy")
    if (!directions.has(order.direction)) throw new InvalidInput("orderBy", "the direction is \"asc\" or \"desc\"", order.field)
    if (!nullsOrders.has(order.nulls)) throw new InvalidInput("orderBy", "nulls go \"first\" or \"last\"", order.field)
  }
  if (query.distinctOn !== undefined) {
    if (!Array.isArray(query.distinctOn)) throw new InvalidInput("distinct", "not a list of fields")
    for (const field of query.distinctOn) checkField(codec, field, "distinct")
  }
  if (query.limit !== undefined) checkCount(query.limit, "limit", 0)
  if (query.offset !== undefined) checkCount(query.offset, "offset", 0)
  if (!visibilities.has(query.deleted)) throw new InvalidInput("query", "not a soft-delete visibility")
  checkIncludes(codec, query.includes)
  return query as Query.Query<A>
}

/**
 * @internal
 * The includes of a read by key (`findById(id, include)`), from the query
 * its include function returned: checked like any query's, and nothing
 * else in it, since the key alone picks the row. Throws InvalidInput
 * otherwise.
 */
export const byKeyIncludes = (codec: Codec, query: unknown): ReadonlyArray<Query.Include> => {
  const checked = checkQuery<unknown>(codec, query)
  if (
    checked.filter !== undefined || checked.order.length > 0 || checked.limit !== undefined ||
    checked.offset !== undefined || checked.distinctOn !== undefined || checked.deleted !== "exclude"
  ) {
    throw new InvalidInput("include", "a read by key takes only includes: its key picks the row, so a filter, ordering, limit, offset, distinct or soft-delete visibility has no place there")
  }
  return checked.includes
}

/**
 * @internal
 * A relation resolved for loading: the related table and its codec, the
 * parent rows' field whose values are matched, and how the related rows
 * hold those values (a field of theirs, or a join table's).
 */
export interface ResolvedRelation {
  readonly name: string
  readonly kind: Table.RelationKind
  readonly target: Table.Table<any, any>
  readonly codec: Codec
  readonly parentField: string
  readonly link: RelatedLink
}

/** @internal The relation of this name the table declares, resolved; otherwise throws InvalidInput. */
export const resolveRelation = (codec: Codec, name: unknown, part: DatabaseError.QueryPart): ResolvedRelation => {
  const relations = (codec.table as { readonly relations?: Table.Relations }).relations
  if (typeof name !== "string") throw new InvalidInput(part, "a relation name is a string", name)
  // Own keys only: "__proto__" or "toString" name no relation.
  const relation = relations !== undefined && Object.hasOwn(relations, name) ? relations[name] : undefined
  if (!Table.isRelation(relation)) throw new InvalidInput(part, "not a relation of the table", name)
  const target = relation.target()
  const targetCodec = codecFor(target)
  const source = codec.table
  switch (relation.kind) {
    case "belongsTo":
      return {
        name,
        kind: relation.kind,
        target,
        codec: targetCodec,
        parentField: relation.foreignKey,
        link: { _tag: "Field", field: relation.references ?? (target.primaryKey as string) }
      }
    case "hasOne":
    case "hasMany":
      return {
        name,
        kind: relation.kind,
        target,
        codec: targetCodec,
        parentField: relation.references ?? (source.primaryKey as string),
        link: { _tag: "Field", field: relation.foreignKey }
      }
    case "manyToMany": {
      const through = relation.through!
      const join = through.table()
      return {
        name,
        kind: relation.kind,
        target,
        codec: targetCodec,
        parentField: source.primaryKey as string,
        link: {
          _tag: "Through",
          codec: codecFor(join),
          parentField: relation.foreignKey,
          targetField: through.targetKey,
          key: through.targetReferences ?? (target.primaryKey as string)
        }
      }
    }
  }
}

/**
 * @internal
 * A query's includes, checked: each names a relation of the table, and its
 * query is checked against the related table, its filter values encoded by
 * the related model, so that nothing fails after the first statement is
 * sent. An error names the related table.
 */
const checkIncludes = (codec: Codec, includes: unknown): void => {
  if (includes === undefined) return
  if (!Array.isArray(includes)) throw new InvalidInput("include", "not a list of included relations")
  for (const include of includes) {
    const name = typeof include === "object" && include !== null ? (include as Query.Include).relation : undefined
    const relation = resolveRelation(codec, name, "include")
    const query = (include as Query.Include).query
    if (query === undefined) continue
    try {
      checkQuery(relation.codec, query)
      if (query.distinctOn !== undefined) throw new InvalidInput("include", "an included relation's query cannot use distinct")
      if (query.filter !== undefined) encodeValues(relation.codec, query.filter)
    } catch (error) {
      if (error instanceof InvalidInput && error.table === undefined) {
        throw new InvalidInput(error.part, error.reason, error.field, relation.target.name)
      }
      throw error
    }
  }
}

const encodeValue = (codec: Codec, field: string, value: unknown): void => {
  const encoded = codec.encodeField(field, value)
  if (encoded._tag === "Left") throw new EncodeFailure(encoded.left)
}

/** @internal Encodes every value of a checked filter, throwing EncodeFailure for the first that fails its schema. */
export const encodeValues = (codec: Codec, expr: Query.Expr): void => {
  switch (expr._tag) {
    case "And":
    case "Or":
      return expr.exprs.forEach((e) => encodeValues(codec, e))
    case "Not":
      return encodeValues(codec, expr.expr)
    case "Compare":
      return encodeValue(codec, expr.field, expr.value)
    case "Between":
      encodeValue(codec, expr.field, expr.low)
      return encodeValue(codec, expr.field, expr.high)
    case "In":
      return expr.values.forEach((v) => encodeValue(codec, expr.field, v))
    case "ArrayContains":
    case "ArrayOverlaps":
      return encodeValue(codec, expr.field, expr.values)
    default:
      return
  }
}

const filterPart = "filter"
const relatedModes: ReadonlySet<unknown> = new Set(["some", "none", "every"])

// An operator that only one kind of column has (PostgreSQL: 42883, no such
// operator for the column's type).
const checkKind = (codec: Codec, field: string, kind: StoredKind, reason: string): void => {
  if (!codec.storedKinds(field).has(kind)) throw new InvalidInput(filterPart, reason, field)
}

const checkExpr = (codec: Codec, expr: unknown): void => {
  if (!Expression.isExpr(expr)) {
    throw new InvalidInput(filterPart, "not a filter built with Query (Query.where, Query.and, Query.gte, ...)")
  }
  switch (expr._tag) {
    case "Invalid":
      throw new InvalidInput(filterPart, typeof expr.reason === "string" ? expr.reason : "not a filter")
    case "Const":
      if (typeof expr.value !== "boolean") throw new InvalidInput(filterPart, "not a filter")
      return
    case "And":
    case "Or":
      if (!Array.isArray(expr.exprs)) throw new InvalidInput(filterPart, "not a list of filters")
      for (const e of expr.exprs) checkExpr(codec, e)
      return
    case "Not":
      return checkExpr(codec, expr.expr)
    case "Compare":
      checkField(codec, expr.field, filterPart)
      if (!Expression.isComparison(expr.op)) throw new InvalidInput(filterPart, "not a comparison operator", expr.field)
      return
    case "Between":
      checkField(codec, expr.field, filterPart)
      return
    case "JsonContains":
      checkKind(codec, checkField(codec, expr.field, filterPart), "json", "Query.jsonContains needs a jsonb field")
      try {
        JSON.stringify(expr.value)
      } catch {
        // A bigint or a cycle: nothing JSON can hold.
        throw new InvalidInput(filterPart, "Query.jsonContains takes a JSON value", expr.field)
      }
      return
    case "In":
    case "IsNull":
      checkField(codec, expr.field, filterPart)
      if (typeof expr.negated !== "boolean") throw new InvalidInput(filterPart, "not a filter", expr.field)
      if (expr._tag === "In" && !Array.isArray(expr.values)) {
        throw new InvalidInput(filterPart, "Query.in and Query.notIn take a list of values", expr.field)
      }
      return
    case "ArrayContains":
    case "ArrayOverlaps":
      checkKind(codec, checkField(codec, expr.field, filterPart), "array", "Query.contains and Query.overlaps need an array field")
      if (!Array.isArray(expr.values)) {
        throw new InvalidInput(filterPart, "Query.contains and Query.overlaps take a list of values", expr.field)
      }
      return
    case "Related": {
      const relation = resolveRelation(codec, expr.relation, filterPart)
      if (!relatedModes.has(expr.mode)) throw new InvalidInput(filterPart, "a relation filter is \"some\", \"none\" or \"every\"", expr.relation)
      if (expr.query !== undefined) {
        try {
          checkQuery(relation.codec, expr.query)
        } catch (error) {
          if (error instanceof InvalidInput && error.table === undefined) {
            throw new InvalidInput(error.part, error.reason, error.field, relation.target.name)
          }
          throw error
        }
      }
      return
    }
    case "Like":
      checkKind(codec, checkField(codec, expr.field, filterPart), "text", "LIKE needs a text field")
      if (typeof expr.pattern !== "string") throw new InvalidInput(filterPart, "a LIKE pattern is a string", expr.field)
      if (typeof expr.caseInsensitive !== "boolean") {
        throw new InvalidInput(filterPart, "caseInsensitive is true or false", expr.field)
      }
      return
    default:
      throw new InvalidInput(filterPart, "not a filter built with Query")
  }
}

/**
 * @internal
 * An upsert's conflict key, checked: a list of the table's fields, or the
 * constraint of its primary key or of a unique key declared in `Table.make`
 * (with that key's fields). Throws InvalidInput otherwise.
 */
export const checkConflictTarget = (
  codec: Codec,
  target: unknown
): { readonly fields: ReadonlyArray<string>; readonly constraint: string | undefined } => {
  const table = codec.table
  if (Array.isArray(target)) {
    if (target.length === 0) throw new InvalidInput("onConflict", "names no field")
    return { fields: distinctFields(target.map((f) => checkField(codec, f, "onConflict"))), constraint: undefined }
  }
  const constraint = typeof target === "object" && target !== null
    ? (target as { readonly constraint?: unknown }).constraint
    : undefined
  if (typeof constraint !== "string") {
    throw new InvalidInput("onConflict", "a list of fields, or { constraint } naming a declared key")
  }
  if (constraint === table.primaryKeyConstraint) return { fields: codec.keyFields, constraint }
  const key = table.uniqueKeys.find((k) => k.constraint === constraint)
  if (key === undefined) {
    throw new InvalidInput(
      "onConflict",
      "not the primary key's constraint or a unique key's declared in Table.make",
      constraint
    )
  }
  return { fields: key.fields as ReadonlyArray<string>, constraint }
}

const distinctFields = (fields: ReadonlyArray<string>): ReadonlyArray<string> => [...new Set(fields)]

/** @internal An upsert's `update` option, checked: "all", "nothing", or a list of the table's fields. */
export const checkConflictUpdate = (codec: Codec, update: unknown): "all" | "nothing" | ReadonlyArray<string> => {
  if (update === undefined || update === "all") return "all"
  if (update === "nothing") return "nothing"
  // A field listed twice is set once (PostgreSQL refuses two assignments
  // to one column, 42601).
  if (Array.isArray(update)) return distinctFields(update.map((f) => checkField(codec, f, "onConflict")))
  throw new InvalidInput("onConflict", "update is \"all\", \"nothing\" or a list of fields")
}

/** @internal The filter that a query's soft-delete visibility adds, if any. */
export const visibility = (codec: Codec, deleted: Query.Deleted): Query.Expr | undefined => {
  const field = codec.table.softDelete as string | undefined
  if (field === undefined || deleted === "include") return undefined
  return Expression.isNull(field, deleted === "only")
}

/** @internal The query's filter and its soft-delete visibility, joined. */
export const effectiveFilter = (codec: Codec, query: Query.Query<any>, extra?: Query.Expr): Query.Expr | undefined => {
  const parts = [visibility(codec, query.deleted), query.filter, extra].filter((e): e is Query.Expr => e !== undefined)
  return parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : Expression.and(parts)
}

/** @internal The ordering, with DISTINCT ON fields first as Postgres requires. */
export const effectiveOrder = (query: Query.Query<any>): ReadonlyArray<Query.Order> => {
  const distinct = query.distinctOn
  if (distinct === undefined) return query.order
  const head = distinct.map((field) =>
    query.order.find((o) => o.field === field) ?? { field, direction: "asc" as const, nulls: "last" as const }
  )
  return [...head, ...query.order.filter((o) => !distinct.includes(o.field))]
}

/**
 * @internal
 * The query as a subquery of primary keys, for statements that cannot
 * take ORDER BY / LIMIT / DISTINCT ON themselves (UPDATE, DELETE, count).
 */
export const needsSubquery = (query: Query.Query<any>): boolean =>
  query.limit !== undefined || query.offset !== undefined || query.distinctOn !== undefined


/** @internal A patch, checked: an object of field values (each then encoded by its schema). */
export const checkPatch = (patch: unknown): Record<string, unknown> => {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
    throw new InvalidInput("patch", "a patch is an object of field values")
  }
  return patch as Record<string, unknown>
}

/** @internal What an increment adds: a finite number, or InvalidInput. */
export const incrementBy = (field: string, by: unknown): number => {
  if (typeof by === "number" && Number.isFinite(by)) return by
  throw new InvalidInput("patch", "Repository.increment takes a finite number", field)
}

/** @internal The largest version `expectedVersion` takes: an int4 version column's maximum. */
const MAX_VERSION = 2_147_483_647

/** @internal `update`'s expectedVersion, checked: none, or a whole number on a table with a version field. */
export const expectedVersionOf = (codec: Codec, options: unknown): number | undefined => {
  const expected = typeof options === "object" && options !== null
    ? (options as { readonly expectedVersion?: unknown }).expectedVersion
    : undefined
  if (expected === undefined) return undefined
  if (codec.table.version === undefined) throw new InvalidInput("expectedVersion", "the table has no version field")
  if (typeof expected === "number" && Number.isSafeInteger(expected) && expected >= 0 && expected <= MAX_VERSION) {
    return expected
  }
  throw new InvalidInput("expectedVersion", `expected a whole number from 0 to ${MAX_VERSION}`)
}

/**
 * @internal
 * The rows a soft delete can touch: those the query sees, minus the ones
 * already deleted (they stay as they were).
 */
export const softDeletable = <A>(query: Query.Query<A>): Query.Query<A> =>
  Query.isQuery(query) && query.deleted === "include" ? { ...query, deleted: "exclude" } as Query.Query<A> : query

/** @internal The rows of a bulk insert, checked: a list (each row is then encoded by the model's schema). */
export const checkRows = <A>(rows: ReadonlyArray<A>): ReadonlyArray<A> => {
  if (Array.isArray(rows)) return rows
  throw new EncodeFailure(new ParseResult.ParseError({ issue: new ParseResult.Type(rowsAst, rows) }))
}

const rowsAst = Schema.Array(Schema.Unknown).ast

/** @internal Rows per fetch of a stream when neither the call nor the repository says: 1,000. */
export const DEFAULT_BATCH_SIZE = 1_000

/**
 * @internal
 * A stream's batch size, checked: the call's, else the repository's, else
 * the default. Only a missing (undefined) size falls back; null is input.
 */
export const batchSizeOf = (repositoryDefault: number | undefined, streamOptions: unknown): number => {
  const given = typeof streamOptions === "object" && streamOptions !== null
    ? (streamOptions as { readonly batchSize?: unknown }).batchSize
    : undefined
  const size = given !== undefined ? given : repositoryDefault !== undefined ? repositoryDefault : DEFAULT_BATCH_SIZE
  return checkCount(size, "batchSize", 1, MAX_BATCH_SIZE)
}
