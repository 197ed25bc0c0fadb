import * as Either from "effect/Either"
import type * as Query from "../../Query.js"
import type { Codec } from "../codec.js"
import * as Expression from "../expr.js"
import { quote } from "../identifier.js"
import { EncodeFailure, effectiveFilter, effectiveOrder, InvalidInput, resolveRelation, visibility } from "../plan.js"

/** @internal Parameters of a statement being built: each value becomes `$n`. */
export class Params {
  readonly values: Array<unknown> = []
  /**
   * How the row being filtered is named, for a relation filter's
   * correlated subquery: the table's own name unless the FROM is a derived
   * table or an aliased subquery.
   */
  scope: string | undefined = undefined
  /** Aliases made so far, so that nested subqueries get distinct ones. */
  aliases = 0
  add(value: unknown): string {
    this.values.push(value)
    return `$${this.values.length}`
  }
}

const encode = (codec: Codec, field: string, value: unknown): unknown => {
  const result = codec.encodeField(field, value)
  if (Either.isLeft(result)) throw new EncodeFailure(result.left)
  return result.right
}

/**
 * @internal
 * An expression as SQL. Identifiers are quoted and every value is a
 * parameter, so input that looks like SQL stays data. The query was checked
 * before (plan.ts `checkQuery`); as a second line of defence, a node that is
 * not branded, of an unknown kind, or with an unknown operator or field
 * throws InvalidInput here too, and nothing of it is written.
 */
export const compileExpr = (codec: Codec, expr: Query.Expr, params: Params): string => {
  if (!Expression.isExpr(expr)) throw new InvalidInput("filter", "not a filter built with Query")
  switch (expr._tag) {
    case "Const":
      return expr.value ? "TRUE" : "FALSE"
    case "And":
      return expr.exprs.length === 0
        ? "TRUE"
        : `(${expr.exprs.map((e) => compileExpr(codec, e, params)).join(" AND ")})`
    case "Or":
      return expr.exprs.length === 0
        ? "FALSE"
        : `(${expr.exprs.map((e) => compileExpr(codec, e, params)).join(" OR ")})`
    case "Not":
      return `(NOT ${compileExpr(codec, expr.expr, params)})`
    case "Compare": {
      if (!Expression.isComparison(expr.op)) throw new InvalidInput("filter", "not a comparison operator", expr.field)
      const op = Expression.comparisonSql[expr.op]
      return `(${col(codec, expr.field)} ${op} ${params.add(encode(codec, expr.field, expr.value))})`
    }
    case "Between":
      return `(${col(codec, expr.field)} BETWEEN ${params.add(encode(codec, expr.field, expr.low))} AND ${
        params.add(encode(codec, expr.field, expr.high))
      })`
    case "In": {
      // An empty list: IN matches nothing, NOT IN everything.
      if (expr.values.length === 0) return expr.negated ? "TRUE" : "FALSE"
      // One array parameter instead of one per value: the statement text
      // does not depend on the list's length, so it stays prepared.
      const values = params.add(expr.values.map((v) => encode(codec, expr.field, v)))
      return expr.negated ? `(${col(codec, expr.field)} <> ALL(${values}))` : `(${col(codec, expr.field)} = ANY(${values}))`
    }
    case "IsNull":
      return `(${col(codec, expr.field)} IS ${expr.negated ? "NOT " : ""}NULL)`
    case "Like":
      return `(${col(codec, expr.field)} ${expr.caseInsensitive ? "ILIKE" : "LIKE"} ${params.add(expr.pattern)})`
    case "ArrayContains":
      return `(${col(codec, expr.field)} @> ${params.add(encode(codec, expr.field, expr.values))})`
    case "ArrayOverlaps":
      return `(${col(codec, expr.field)} && ${params.add(encode(codec, expr.field, expr.values))})`
    case "JsonContains":
      return `(${col(codec, expr.field)} @> ${params.add(JSON.stringify(expr.value))}::jsonb)`
    case "Related":
      return relatedSql(codec, expr, params)
    case "Invalid":
      throw new InvalidInput("filter", expr.reason)
    default:
      throw new InvalidInput("filter", "not a filter built with Query")
  }
}

// A relation filter: an EXISTS subquery over the related table, aliased
// (so a relation of a table to itself still names the outer row), joined
// to the outer row by the relation's key; a join table in a nested EXISTS,
// so that the related query's filter names the related table's columns
// alone. `every` is NOT EXISTS a related row its filter does not make TRUE.
const relatedSql = (codec: Codec, expr: Extract<Query.Expr, { readonly _tag: "Related" }>, params: Params): string => {
  const relation = resolveRelation(codec, expr.relation, "filter")
  const target = relation.codec
  const outer = params.scope ?? codec.table.qualifiedName
  const alias = quote(`effect_dal_r${++params.aliases}`)
  const parent = `${outer}.${col(codec, relation.parentField)}`
  const link = relation.link
  let on: string
  if (link._tag === "Field") {
    on = `${alias}.${col(target, link.field)} = ${parent}`
  } else {
    const join = quote(`effect_dal_j${++params.aliases}`)
    on = `EXISTS (SELECT 1 FROM ${link.codec.table.qualifiedName} AS ${join} WHERE ${join}.${col(link.codec, link.parentField)} = ${parent} AND ${join}.${
      col(link.codec, link.targetField)
    } = ${alias}.${col(target, link.key)})`
  }
  const inner = expr.query
  const visible = visibility(target, inner?.deleted ?? "exclude")
  const saved = params.scope
  params.scope = alias
  const parts = [on]
  if (visible !== undefined) parts.push(compileExpr(target, visible, params))
  const filter = inner?.filter === undefined ? undefined : compileExpr(target, inner.filter, params)
  params.scope = saved
  if (expr.mode === "every") {
    if (filter === undefined) return "TRUE"
    parts.push(`(${filter}) IS NOT TRUE`)
  } else if (filter !== undefined) parts.push(filter)
  const exists = `EXISTS (SELECT 1 FROM ${target.table.qualifiedName} AS ${alias} WHERE ${parts.join(" AND ")})`
  return expr.mode === "some" ? exists : `(NOT ${exists})`
}

const col = (codec: Codec, field: string) => `"${codec.column(field).replace(/"/g, "\"\"")}"`

/** @internal ` WHERE ...`, or nothing. */
export const whereClause = (codec: Codec, filter: Query.Expr | undefined, params: Params): string =>
  filter === undefined ? "" : ` WHERE ${compileExpr(codec, filter, params)}`

/** @internal ` ORDER BY ...`, or nothing. */
export const orderClause = (codec: Codec, order: ReadonlyArray<Query.Order>): string =>
  order.length === 0
    ? ""
    : ` ORDER BY ${
      order.map((o) => `${col(codec, o.field)} ${o.direction === "asc" ? "ASC" : "DESC"} NULLS ${o.nulls === "first" ? "FIRST" : "LAST"}`)
        .join(", ")
    }`

/** @internal ` LIMIT $n OFFSET $m`, parameterized so the text stays the same. */
export const limitClause = (limit: number | undefined, offset: number | undefined, params: Params): string =>
  (limit === undefined ? "" : ` LIMIT ${params.add(limit)}`) + (offset === undefined ? "" : ` OFFSET ${params.add(offset)}`)

/**
 * @internal
 * A SELECT of the table's columns (aliased to field names) for a query.
 */
export const selectSql = (
  codec: Codec,
  query: Query.Query<any>,
  params: Params,
  options: {
    readonly extra?: Query.Expr | undefined
    readonly limit?: number | undefined
    /** More columns after the table's (an include tree's subqueries). */
    readonly columns?: ReadonlyArray<string> | undefined
  } = {}
): string => {
  const distinct = query.distinctOn === undefined
    ? ""
    : `DISTINCT ON (${query.distinctOn.map((f) => col(codec, f)).join(", ")}) `
  const more = options.columns === undefined || options.columns.length === 0 ? "" : `, ${options.columns.join(", ")}`
  return `SELECT ${distinct}${codec.selectList}${more} FROM ${codec.table.qualifiedName}` +
    whereClause(codec, effectiveFilter(codec, query, options.extra), params) +
    orderClause(codec, effectiveOrder(query)) +
    limitClause(options.limit ?? query.limit, query.offset, params)
}

/** @internal `"pk" IN (SELECT "pk" FROM ...)` (`("a", "b") IN (SELECT "a", "b" ...)` for a composite key) for a query with ordering or limits. */
export const keysSubquery = (codec: Codec, query: Query.Query<any>, params: Params): string => {
  const keyColumns = codec.keyFields.map((f) => col(codec, f))
  const pk = keyColumns.length === 1 ? keyColumns[0]! : `(${keyColumns.join(", ")})`
  const distinct = query.distinctOn === undefined
    ? ""
    : `DISTINCT ON (${query.distinctOn.map((f) => col(codec, f)).join(", ")}) `
  return `${pk} IN (SELECT ${distinct}${keyColumns.join(", ")} FROM ${codec.table.qualifiedName}` +
    whereClause(codec, effectiveFilter(codec, query), params) +
    orderClause(codec, effectiveOrder(query)) +
    limitClause(query.limit, query.offset, params) + ")"
}
