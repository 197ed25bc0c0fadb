/**
 * Queries are immutable values, built by piping and run later by a
 * repository. A query is plain data (filters, ordering, limits), never a
 * closure over SQL: Postgres gets it compiled to one parameterized statement,
 * and the in-memory database evaluates the same value directly.
 *
 * @example
 * const recent = (userId: number) =>
 *   Query.make(Messages).pipe(
 *     Query.where({ userId, role: Query.in(["user", "assistant"]) }),
 *     Query.orderBy("createdAt", "desc"),
 *     Query.limit(20)
 *   )
 *
 * @since 0.1.0
 */
import type * as Model from "@effect/sql/Model"
import { dual } from "effect/Function"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import type * as Schema from "effect/Schema"
import * as Expression from "./internal/expr.js"
import type * as Table from "./Table.js"

/**
 * The unique symbol that identifies queries.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("effect-dal/Query")

/**
 * The type of {@link TypeId}.
 *
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The brand of expression nodes ({@link Expr}). JSON cannot produce it.
 *
 * @since 0.1.0
 * @category type ids
 */
export const ExprTypeId: Expression.ExprTypeId = Expression.ExprTypeId

/**
 * The type of {@link ExprTypeId}.
 *
 * @since 0.1.0
 * @category type ids
 */
export type ExprTypeId = typeof ExprTypeId

/**
 * The brand of field operators ({@link Operator}). JSON cannot produce it.
 *
 * @since 0.1.0
 * @category type ids
 */
export const OperatorTypeId: unique symbol = Symbol.for("effect-dal/Query/Operator")

/**
 * The type of {@link OperatorTypeId}.
 *
 * @since 0.1.0
 * @category type ids
 */
export type OperatorTypeId = typeof OperatorTypeId

/**
 * The brand of combined filters ({@link Condition}). JSON cannot produce it.
 *
 * @since 0.1.0
 * @category type ids
 */
export const ConditionTypeId: unique symbol = Symbol.for("effect-dal/Query/Condition")

/**
 * The type of {@link ConditionTypeId}.
 *
 * @since 0.1.0
 * @category type ids
 */
export type ConditionTypeId = typeof ConditionTypeId

// ---------------------------------------------------------------------------
// expressions: the plain data a query's filter compiles to
// ---------------------------------------------------------------------------

/**
 * A comparison operator.
 *
 * @since 0.1.0
 * @category expressions
 */
export type Comparison = "=" | "<>" | "<" | "<=" | ">" | ">="

/**
 * A filter as a tree of expression nodes. Field names are model field names;
 * values are the model's (decoded) values, encoded by the repository. Every
 * node carries a brand ({@link ExprTypeId}) that only this module's
 * functions set: a plain object shaped like a node (say, parsed from JSON)
 * is not an expression, and a query holding one fails with `InvalidQuery`.
 *
 * @since 0.1.0
 * @category expressions
 */
export type Expr = Branded<
  | { readonly _tag: "Compare"; readonly field: string; readonly op: Comparison; readonly value: unknown }
  | { readonly _tag: "Between"; readonly field: string; readonly low: unknown; readonly high: unknown }
  | { readonly _tag: "In"; readonly field: string; readonly values: ReadonlyArray<unknown>; readonly negated: boolean }
  | { readonly _tag: "IsNull"; readonly field: string; readonly negated: boolean }
  | {
    readonly _tag: "Like"
    readonly field: string
    /** A LIKE pattern: `%` and `_` are wildcards, `\` escapes. */
    readonly pattern: string
    readonly caseInsensitive: boolean
  }
  | { readonly _tag: "ArrayContains"; readonly field: string; readonly values: ReadonlyArray<unknown> }
  | { readonly _tag: "ArrayOverlaps"; readonly field: string; readonly values: ReadonlyArray<unknown> }
  | { readonly _tag: "JsonContains"; readonly field: string; readonly value: unknown }
  | { readonly _tag: "And"; readonly exprs: ReadonlyArray<Expr> }
  | { readonly _tag: "Or"; readonly exprs: ReadonlyArray<Expr> }
  | { readonly _tag: "Not"; readonly expr: Expr }
  | { readonly _tag: "Const"; readonly value: boolean }
  /**
   * Rows with some, no, or only related rows (of a relation the table
   * declares) that the query's filter matches (its soft-delete visibility
   * too; ordering and limits are ignored).
   */
  | {
    readonly _tag: "Related"
    readonly relation: string
    readonly mode: RelatedMode
    readonly query: Query<any, any, any> | undefined
  }
  /** Input that is not a filter (`Query.where(null)`, say): running the query fails with `InvalidQuery`. */
  | { readonly _tag: "Invalid"; readonly reason: string }
>

type Branded<U> = U extends unknown ? U & { readonly [ExprTypeId]: ExprTypeId } : never

/**
 * How a relation filter ({@link whereRelated}) counts related rows: `some`
 * (at least one matches), `none` (none matches), `every` (each related row
 * matches; true for a row with no related rows, as in SQL's `NOT EXISTS`
 * form and Prisma's `every`).
 *
 * @since 0.1.0
 * @category models
 */
export type RelatedMode = "some" | "none" | "every"

/**
 * One ordering term. `nulls` defaults to Postgres's rule: last when
 * ascending, first when descending.
 *
 * @since 0.1.0
 * @category models
 */
export interface Order {
  readonly field: string
  readonly direction: "asc" | "desc"
  readonly nulls: "first" | "last"
}

/**
 * Which rows of a soft-delete table a query sees.
 *
 * @since 0.1.0
 * @category models
 */
export type Deleted = "exclude" | "include" | "only"

/**
 * A relation a query loads with its rows (from {@link include}): its name,
 * and the query of the related rows (filter, ordering, per-parent limit,
 * nested includes).
 *
 * @since 0.1.0
 * @category models
 */
export interface Include {
  readonly relation: string
  readonly query: Query<any, any, any> | undefined
}

/**
 * A query over rows of type `A`, of a table with relations `R`, whose rows
 * come back with the loaded relations `I` (see {@link include}).
 *
 * @since 0.1.0
 * @category models
 */
export interface Query<in out A, out R = {}, out I = {}> extends Pipeable {
  readonly [TypeId]: { readonly _A: (a: A) => A; readonly _R: () => R; readonly _I: () => I }
  /** The filter: all `where` clauses joined with AND. */
  readonly filter: Expr | undefined
  readonly order: ReadonlyArray<Order>
  readonly limit: number | undefined
  readonly offset: number | undefined
  /** DISTINCT ON these fields: the first row (by `order`) of each distinct value. */
  readonly distinctOn: ReadonlyArray<string> | undefined
  /** Soft-deleted rows: left out (the default), included, or the only ones. */
  readonly deleted: Deleted
  /** The relations loaded with the rows, in the order they were asked for. */
  readonly includes: ReadonlyArray<Include>
}

/**
 * A row with the relations a query loads: `A` itself when it loads none.
 *
 * @since 0.1.0
 * @category models
 */
export type Loaded<A, I> = keyof I extends never ? A : A & I

/**
 * The row type of a query's table.
 *
 * @since 0.1.0
 * @category models
 */
export type RowOf<Q> = Q extends Query<infer A, any, any> ? A : never

const QueryProto = {
  pipe() {
    return pipeArguments(this, arguments)
  }
}

const phantom = { _A: (a: unknown) => a, _R: () => undefined, _I: () => undefined }

const build = <A, R = {}, I = {}>(fields: Omit<Query<A, R, I>, TypeId | "pipe">): Query<A, R, I> =>
  Object.assign(Object.create(QueryProto), { [TypeId]: phantom }, fields)

const empty = build<never>({
  filter: undefined,
  order: [],
  limit: undefined,
  offset: undefined,
  distinctOn: undefined,
  deleted: "exclude",
  includes: []
})

/**
 * A query over a table's rows (all of them, until you add filters).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  <T extends Table.Table<any, any>>(table: T): Query<Table.Row<T>, Table.RelationsOf<T>>
  <A>(): Query<A>
} = () => empty as never

/**
 * A query over a model's rows.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forModel = <S extends Model.Any>(_model: S): Query<Schema.Schema.Type<S>> => empty as never

/**
 * Whether a value is a query.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isQuery = (u: unknown): u is Query<unknown, unknown, unknown> => typeof u === "object" && u !== null && TypeId in u

// ---------------------------------------------------------------------------
// filters: objects keyed by field, checked against the model
// ---------------------------------------------------------------------------

declare const OperatorValue: unique symbol

/**
 * A condition on one field, for use as that field's value in a filter:
 * `{ age: Query.gte(18) }`.
 *
 * @since 0.1.0
 * @category filters
 */
export interface Operator<out V> {
  readonly [OperatorTypeId]: OperatorTypeId
  readonly _tag: "Operator"
  readonly [OperatorValue]?: V
  readonly toExpr: (field: string) => Expr
}

/**
 * A filter over rows of type `A`: an object of field conditions (all must
 * hold), or conditions combined with {@link and}, {@link or}, {@link not}.
 * A plain value means equality; `null` means IS NULL. An object given as a
 * field's value is a value for that field (encoded by the field's schema),
 * unless it is an operator made by this module: a plain object imitating an
 * operator or a condition is never one.
 *
 * @since 0.1.0
 * @category filters
 */
export type Filter<A> = FieldFilter<A> | Condition<A>

/**
 * Conditions on fields: `{ email: "a@b.c", age: Query.gte(18) }`.
 *
 * @since 0.1.0
 * @category filters
 */
export type FieldFilter<A> = { readonly [K in keyof A]?: A[K] | Operator<A[K]> }

/**
 * A combined filter (from {@link and}, {@link or}, {@link not}, {@link expr}).
 *
 * @since 0.1.0
 * @category filters
 */
export interface Condition<in out A> {
  readonly [ConditionTypeId]: ConditionTypeId
  readonly _tag: "Condition"
  readonly [OperatorValue]?: (a: A) => A
  readonly expr: Expr
}

const operator = <V>(toExpr: (field: string) => Expr): Operator<V> => ({
  [OperatorTypeId]: OperatorTypeId,
  _tag: "Operator",
  toExpr
})

const condition = <A>(expr: Expr): Condition<A> => ({ [ConditionTypeId]: ConditionTypeId, _tag: "Condition", expr })

/**
 * Whether a value is an operator made by this module (`Query.gte(18)`);
 * a plain object with `_tag: "Operator"` is not.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isOperator = (u: unknown): u is Operator<unknown> =>
  typeof u === "object" && u !== null && (u as { [OperatorTypeId]?: unknown })[OperatorTypeId] === OperatorTypeId

/**
 * Whether a value is a condition made by this module ({@link and},
 * {@link or}, {@link not}, {@link expr}); a plain object with
 * `_tag: "Condition"` is not.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isCondition = (u: unknown): u is Condition<unknown> =>
  typeof u === "object" && u !== null && (u as { [ConditionTypeId]?: unknown })[ConditionTypeId] === ConditionTypeId

/**
 * Whether a value is an expression node made by this module.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isExpr: (u: unknown) => u is Expr = Expression.isExpr

/**
 * The expression a filter stands for.
 *
 * @since 0.1.0
 * @category filters
 */
export const toExpr = <A>(filter: Filter<A>): Expr => {
  if (isCondition(filter)) return filter.expr
  if (typeof filter !== "object" || filter === null || Array.isArray(filter) || isOperator(filter)) {
    return Expression.invalid("a filter is an object of field conditions, or a condition built with Query")
  }
  const terms: Array<Expr> = []
  // Own enumerable string keys only: a key such as "__proto__" parsed from
  // JSON is a field name like any other, and no field has that name.
  for (const field of Object.keys(filter)) {
    const value = (filter as Record<string, unknown>)[field]
    if (value === undefined) continue
    if (isOperator(value)) terms.push(value.toExpr(field))
    else if (value === null) terms.push(Expression.isNull(field, false))
    else terms.push(Expression.compare(field, "=", value))
  }
  return terms.length === 1 ? terms[0]! : Expression.and(terms)
}

const compare = (op: Comparison) => <V>(value: V): Operator<V> =>
  operator((field) => Expression.compare(field, op, value))

/**
 * Equal to.
 *
 * @since 0.1.0
 * @category filters
 */
export const eq: <V>(value: V) => Operator<V> = compare("=")

/**
 * Not equal to (`<>`; as in SQL, a NULL field matches neither `eq` nor `ne`).
 *
 * @since 0.1.0
 * @category filters
 */
export const ne: <V>(value: V) => Operator<V> = compare("<>")

/**
 * Less than.
 *
 * @since 0.1.0
 * @category filters
 */
export const lt: <V>(value: V) => Operator<V> = compare("<")

/**
 * Less than or equal to.
 *
 * @since 0.1.0
 * @category filters
 */
export const lte: <V>(value: V) => Operator<V> = compare("<=")

/**
 * Greater than.
 *
 * @since 0.1.0
 * @category filters
 */
export const gt: <V>(value: V) => Operator<V> = compare(">")

/**
 * Greater than or equal to.
 *
 * @since 0.1.0
 * @category filters
 */
export const gte: <V>(value: V) => Operator<V> = compare(">=")

/**
 * Between two values, both included.
 *
 * @since 0.1.0
 * @category filters
 */
export const between = <V>(low: V, high: V): Operator<V> =>
  operator((field) => Expression.node({ _tag: "Between", field, low, high }))

/**
 * One of the values. An empty list matches nothing.
 *
 * @since 0.1.0
 * @category filters
 */
const in_ = <V>(values: ReadonlyArray<V>): Operator<V> =>
  operator((field) => Expression.node({ _tag: "In", field, values, negated: false }))

export {
  /**
   * One of the values. An empty list matches nothing.
   *
   * @since 0.1.0
   * @category filters
   */
  in_ as in
}

/**
 * None of the values. An empty list matches every row.
 *
 * @since 0.1.0
 * @category filters
 */
export const notIn = <V>(values: ReadonlyArray<V>): Operator<V> =>
  operator((field) => Expression.node({ _tag: "In", field, values, negated: true }))

/**
 * IS NULL.
 *
 * @since 0.1.0
 * @category filters
 */
export const isNull = <V>(): Operator<V> => operator((field) => Expression.isNull(field, false))

/**
 * IS NOT NULL.
 *
 * @since 0.1.0
 * @category filters
 */
export const isNotNull = <V>(): Operator<V> => operator((field) => Expression.isNull(field, true))

/**
 * A LIKE pattern (`%` any text, `_` one character, `\` escapes).
 *
 * @since 0.1.0
 * @category filters
 */
export const like = (pattern: string): Operator<string> =>
  operator((field) => Expression.node({ _tag: "Like", field, pattern, caseInsensitive: false }))

/**
 * A case-insensitive LIKE pattern (ILIKE).
 *
 * @since 0.1.0
 * @category filters
 */
export const ilike = (pattern: string): Operator<string> =>
  operator((field) => Expression.node({ _tag: "Like", field, pattern, caseInsensitive: true }))

/**
 * Escapes LIKE's wildcards (`%`, `_`) and escape character (`\`) in a
 * value. Anything but a string is returned as it is (a filter built from
 * it then fails with `InvalidQuery`).
 *
 * @since 0.1.0
 * @category filters
 */
export const escapeLike = (value: string): string =>
  typeof value === "string" ? value.replace(/[\\%_]/g, (c) => `\\${c}`) : value

/**
 * Starts with a prefix; wildcards in the prefix are matched literally.
 *
 * @since 0.1.0
 * @category filters
 */
export const startsWith = (prefix: string, options?: { readonly caseInsensitive?: boolean }): Operator<string> =>
  operator((field) =>
    typeof prefix === "string"
      ? Expression.node({
        _tag: "Like",
        field,
        pattern: `${escapeLike(prefix)}%`,
        caseInsensitive: options?.caseInsensitive ?? false
      })
      : Expression.invalid("startsWith takes a string")
  )

/**
 * An array field holds all of these elements (`@>`).
 *
 * @since 0.1.0
 * @category filters
 */
export const contains = <E>(values: ReadonlyArray<E>): Operator<ReadonlyArray<E>> =>
  operator((field) => Expression.node({ _tag: "ArrayContains", field, values }))

/**
 * An array field holds at least one of these elements (`&&`).
 *
 * @since 0.1.0
 * @category filters
 */
export const overlaps = <E>(values: ReadonlyArray<E>): Operator<ReadonlyArray<E>> =>
  operator((field) => Expression.node({ _tag: "ArrayOverlaps", field, values }))

/**
 * A jsonb field contains this JSON value (`@>`): objects match on a subset
 * of their keys, arrays on a subset of their elements.
 *
 * @since 0.1.0
 * @category filters
 */
export const jsonContains = <V = unknown>(value: unknown): Operator<V> =>
  operator((field) => Expression.node({ _tag: "JsonContains", field, value }))

/**
 * All of the filters hold. With none, every row matches.
 *
 * @since 0.1.0
 * @category filters
 */
export const and = <A>(...filters: ReadonlyArray<Filter<NoInfer<A>>>): Condition<A> =>
  condition(filters.length === 0 ? Expression.constant(true) : Expression.and(filters.map(toExpr)))

/**
 * At least one of the filters holds. With none, no row matches (unlike
 * `sql.or([])` in `@effect/sql`, which is TRUE).
 *
 * @since 0.1.0
 * @category filters
 */
export const or = <A>(...filters: ReadonlyArray<Filter<NoInfer<A>>>): Condition<A> =>
  condition(filters.length === 0 ? Expression.constant(false) : Expression.or(filters.map(toExpr)))

/**
 * The filter does not hold (SQL NOT: a row where the filter is unknown
 * because of a NULL matches neither the filter nor its negation).
 *
 * @since 0.1.0
 * @category filters
 */
export const not = <A>(filter: Filter<NoInfer<A>>): Condition<A> =>
  condition(Expression.node({ _tag: "Not", expr: toExpr(filter) }))

// ---------------------------------------------------------------------------
// combinators
// ---------------------------------------------------------------------------

/**
 * Adds a filter; several `where` clauses must all hold.
 *
 * @since 0.1.0
 * @category combinators
 */
export const where: {
  <A>(filter: Filter<NoInfer<A>>): <R, I>(self: Query<A, R, I>) => Query<A, R, I>
  <A, R, I>(self: Query<A, R, I>, filter: Filter<NoInfer<A>>): Query<A, R, I>
} = dual(2, <A, R, I>(self: Query<A, R, I>, filter: Filter<A>): Query<A, R, I> => {
  const expr = toExpr(filter)
  return build<A, R, I>({ ...self, filter: self.filter === undefined ? expr : Expression.and([self.filter, expr]) })
})

/**
 * Adds an ordering term after those already there.
 *
 * @since 0.1.0
 * @category combinators
 */
export const orderBy: {
  <A>(
    field: Extract<keyof NoInfer<A>, string>,
    direction?: "asc" | "desc",
    options?: { readonly nulls?: "first" | "last" }
  ): <R, I>(self: Query<A, R, I>) => Query<A, R, I>
  <A, R, I>(
    self: Query<A, R, I>,
    field: Extract<keyof NoInfer<A>, string>,
    direction?: "asc" | "desc",
    options?: { readonly nulls?: "first" | "last" }
  ): Query<A, R, I>
} = dual(
  (args) => isQuery(args[0]),
  <A, R, I>(
    self: Query<A, R, I>,
    field: string,
    direction: "asc" | "desc" = "asc",
    options?: { readonly nulls?: "first" | "last" }
  ): Query<A, R, I> =>
    build<A, R, I>({
      ...self,
      order: [...self.order, { field, direction, nulls: options?.nulls ?? (direction === "asc" ? "last" : "first") }]
    })
)

/**
 * At most this many rows: a whole number from 0 (up to
 * `Number.MAX_SAFE_INTEGER`). Anything else (`"10"`, `-1`, `NaN`, `1.5`) is
 * not refused here but by the operation that runs the query, with
 * `InvalidQuery`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const limit: {
  (n: number): <A, R, I>(self: Query<A, R, I>) => Query<A, R, I>
  <A, R, I>(self: Query<A, R, I>, n: number): Query<A, R, I>
} = dual(2, <A, R, I>(self: Query<A, R, I>, n: number): Query<A, R, I> => build<A, R, I>({ ...self, limit: n }))

/**
 * Skips this many rows (prefer keyset pagination, `paginate`, for deep
 * pages). Checked like {@link limit}.
 *
 * @since 0.1.0
 * @category combinators
 */
export const offset: {
  (n: number): <A, R, I>(self: Query<A, R, I>) => Query<A, R, I>
  <A, R, I>(self: Query<A, R, I>, n: number): Query<A, R, I>
} = dual(2, <A, R, I>(self: Query<A, R, I>, n: number): Query<A, R, I> => build<A, R, I>({ ...self, offset: n }))

/**
 * One row per distinct value of these fields (Postgres DISTINCT ON): the
 * first by the query's ordering.
 *
 * @since 0.1.0
 * @category combinators
 */
export const distinct: {
  <A>(...fields: ReadonlyArray<Extract<keyof NoInfer<A>, string>>): <R, I>(self: Query<A, R, I>) => Query<A, R, I>
} = (...fields: ReadonlyArray<string>) => <A, R, I>(self: Query<A, R, I>): Query<A, R, I> =>
  build<A, R, I>({ ...self, distinctOn: fields.length === 0 ? undefined : fields })

/**
 * Includes soft-deleted rows.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withDeleted = <A, R, I>(self: Query<A, R, I>): Query<A, R, I> => build<A, R, I>({ ...self, deleted: "include" })

/**
 * Only soft-deleted rows.
 *
 * @since 0.1.0
 * @category combinators
 */
export const onlyDeleted = <A, R, I>(self: Query<A, R, I>): Query<A, R, I> => build<A, R, I>({ ...self, deleted: "only" })

/**
 * The value a relation is loaded as: a list for `hasMany` and
 * `manyToMany`, the row or `null` for `belongsTo` and `hasOne`.
 *
 * @since 0.1.0
 * @category models
 */
export type LoadedRelation<Rel, I> = Rel extends Table.Relation<infer K, infer T>
  ? K extends "hasMany" | "manyToMany" ? ReadonlyArray<Loaded<Table.Row<T>, I>> : Loaded<Table.Row<T>, I> | null
  : never

/**
 * The query of a relation's rows, as {@link include}'s function gets it.
 *
 * @since 0.1.0
 * @category models
 */
export type RelatedQuery<Rel> = Rel extends Table.Relation<any, infer T>
  ? Query<Table.Row<T>, Table.RelationsOf<T>>
  : never

/**
 * The row type of a relation's target.
 *
 * @since 0.1.0
 * @category models
 */
export type RelatedRow<Rel> = Rel extends Table.Relation<any, infer T> ? Table.Row<T> : never

/**
 * Loads a relation with each row, as a field of the relation's name. The
 * optional function shapes the related rows' query: a filter, an ordering,
 * a limit and offset that apply to each parent row separately (the 20
 * newest messages of each user), soft-deleted rows (`withDeleted`) and
 * nested includes. Related rows come in one statement per included
 * relation, whatever the number of parent rows. A `belongsTo` or `hasOne`
 * relation is loaded as the row or `null`.
 *
 * @example
 * const users = Query.make(Users).pipe(
 *   Query.include("messages", (m) => m.pipe(Query.orderBy("createdAt", "desc"), Query.limit(20)))
 * )
 *
 * @since 0.1.0
 * @category combinators
 */
export const include: <A, R, I, const K extends keyof R & string, I2 = {}>(
  relation: K,
  related?: (query: RelatedQuery<R[K]>) => Query<RelatedRow<R[K]>, any, I2>
) => (self: Query<A, R, I>) => Query<A, R, I & { readonly [P in K]: LoadedRelation<R[K], I2> }> =
  (relation, related) => (self) =>
    build({
      ...self,
      includes: [...self.includes, { relation, query: related === undefined ? undefined : related(empty as never) }]
    })

/**
 * Keeps the rows that have `some`, `none`, or only (`every`) related rows
 * matching the related query's filter (all related rows without one). The
 * related query may itself filter by its own relations, and may ask for
 * soft-deleted related rows (`Query.withDeleted`). PostgreSQL runs it as an
 * `EXISTS` subquery of the same statement.
 *
 * @example
 * // Users with at least one message from 2024.
 * Query.make(Users).pipe(
 *   Query.whereRelated("messages", "some", (m) => m.pipe(Query.where({ createdAt: Query.gte(new Date("2024-01-01")) })))
 * )
 *
 * @since 0.1.0
 * @category combinators
 */
export const whereRelated: <A, R, const K extends keyof R & string>(
  relation: K,
  mode: RelatedMode,
  related?: (query: RelatedQuery<R[K]>) => Query<RelatedRow<R[K]>, any, any>
) => <I>(self: Query<A, R, I>) => Query<A, R, I> = (relation, mode, related) => (self) =>
  where(
    self,
    condition(Expression.node({
      _tag: "Related",
      relation,
      mode,
      query: related === undefined ? undefined : related(empty as never)
    })) as Condition<any>
  ) as any

/**
 * A filter from an expression tree (from {@link toExpr}), for filters built
 * programmatically. Only nodes made by this module are expressions: a query
 * holding anything else fails with `InvalidQuery`.
 *
 * @since 0.1.0
 * @category filters
 */
export const expr = <A>(expression: Expr): Condition<A> => condition(expression)

/**
 * The fields a query mentions (in filters, ordering and DISTINCT ON).
 *
 * @since 0.1.0
 * @category getters
 */
export const fieldsOf = (query: Query<any, any, any>): ReadonlySet<string> => {
  const fields = new Set<string>()
  const visit = (e: Expr): void => {
    switch (e._tag) {
      case "And":
      case "Or":
        return e.exprs.forEach(visit)
      case "Not":
        return visit(e.expr)
      case "Const":
      case "Invalid":
      case "Related":
        return
      default:
        fields.add(e.field)
    }
  }
  if (query.filter !== undefined) visit(query.filter)
  for (const o of query.order) fields.add(o.field)
  for (const f of query.distinctOn ?? []) fields.add(f)
  return fields
}
