/**
 * The nodes of a query's filter, each branded with a symbol. JSON cannot
 * produce a symbol key, so a filter parsed from a request can never pass for
 * an expression: the checker and both engines refuse unbranded nodes.
 */
import type * as Query from "../Query.js"

/** @internal The brand every expression node carries. */
export const ExprTypeId: unique symbol = Symbol.for("effect-dal/Query/Expr")

/** @internal */
export type ExprTypeId = typeof ExprTypeId

/** @internal Whether a value is an expression node made by this module. */
export const isExpr = (u: unknown): u is Query.Expr =>
  typeof u === "object" && u !== null && (u as { [ExprTypeId]?: unknown })[ExprTypeId] === ExprTypeId

type Unbranded<E> = E extends unknown ? Omit<E, ExprTypeId> : never

/** @internal Brands a node. Only this library's code calls it. */
export const node = (fields: Unbranded<Query.Expr>): Query.Expr =>
  ({ [ExprTypeId]: ExprTypeId, ...fields }) as Query.Expr

/** @internal The comparison operators, as the SQL they compile to: the only ones there are. */
export const comparisonSql: Readonly<Record<Query.Comparison, string>> = {
  "=": "=",
  "<>": "<>",
  "<": "<",
  "<=": "<=",
  ">": ">",
  ">=": ">="
}

/** @internal Whether a value is one of the comparison operators (own keys only). */
export const isComparison = (u: unknown): u is Query.Comparison =>
  typeof u === "string" && Object.hasOwn(comparisonSql, u)

/** @internal `field = value`. */
export const compare = (field: string, op: Query.Comparison, value: unknown): Query.Expr =>
  node({ _tag: "Compare", field, op, value })

/** @internal `field IS NULL` or `field IS NOT NULL`. */
export const isNull = (field: string, negated: boolean): Query.Expr => node({ _tag: "IsNull", field, negated })

/** @internal All of the expressions. */
export const and = (exprs: ReadonlyArray<Query.Expr>): Query.Expr => node({ _tag: "And", exprs })

/** @internal Any of the expressions. */
export const or = (exprs: ReadonlyArray<Query.Expr>): Query.Expr => node({ _tag: "Or", exprs })

/** @internal TRUE or FALSE. */
export const constant = (value: boolean): Query.Expr => node({ _tag: "Const", value })

/** @internal A filter that could not be built from what was given; running it fails with InvalidQuery. */
export const invalid = (reason: string): Query.Expr => node({ _tag: "Invalid", reason })
