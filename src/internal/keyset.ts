import * as Either from "effect/Either"
import * as DatabaseError from "../DatabaseError.js"
import type * as Query from "../Query.js"
import type { Codec } from "./codec.js"
import { effectiveOrder } from "./sql.js"

/**
 * @internal
 * The ordering that keyset pagination walks: the query's ordering with the
 * primary key appended as a unique tie-breaker. With DISTINCT ON, the
 * distinct fields alone identify a result row, so they are the key.
 */
export const keysetOrder = (codec: Codec, query: Query.Query<any>): ReadonlyArray<Query.Order> => {
  const order = effectiveOrder(query)
  if (query.distinctOn !== undefined) return order.slice(0, query.distinctOn.length)
  const pk = codec.table.primaryKey as string
  return order.some((o) => o.field === pk) ? order : [...order, { field: pk, direction: "asc", nulls: "last" }]
}

/**
 * @internal
 * "Comes after this position" as a filter. For each term, rows equal on
 * all earlier terms and after on this one; NULLs sort where the term's
 * NULLS FIRST / LAST puts them.
 */
export const afterExpr = (order: ReadonlyArray<Query.Order>, values: ReadonlyArray<unknown>): Query.Expr => {
  const branches: Array<Query.Expr> = []
  for (let i = 0; i < order.length; i++) {
    const after = afterOne(order[i]!, values[i])
    if (after === undefined) continue
    const equal: Array<Query.Expr> = order.slice(0, i).map((o, j) => equalTo(o.field, values[j]))
    branches.push(equal.length === 0 ? after : { _tag: "And", exprs: [...equal, after] })
  }
  return { _tag: "Or", exprs: branches }
}

const isNullish = (value: unknown) => value === null || value === undefined ||
  (typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "None")

const equalTo = (field: string, value: unknown): Query.Expr =>
  isNullish(value) ? { _tag: "IsNull", field, negated: false } : { _tag: "Compare", field, op: "=", value }

const afterOne = (o: Query.Order, value: unknown): Query.Expr | undefined => {
  const field = o.field
  const op = o.direction === "asc" ? ">" : "<"
  if (isNullish(value)) {
    // Nothing comes after NULL when NULLs are last; everything else does when they are first.
    return o.nulls === "last" ? undefined : { _tag: "IsNull", field, negated: true }
  }
  const beyond: Query.Expr = { _tag: "Compare", field, op, value }
  return o.nulls === "last"
    ? { _tag: "Or", exprs: [beyond, { _tag: "IsNull", field, negated: false }] }
    : beyond
}

// JSON cannot carry Dates or bigints, so they are tagged.
const toJson = (value: unknown): unknown =>
  value instanceof Date
    ? { $date: value.toISOString() }
    : typeof value === "bigint"
    ? { $bigint: value.toString() }
    : value

const fromJson = (value: unknown): unknown => {
  if (typeof value === "object" && value !== null) {
    if ("$date" in value) return new Date(String((value as { $date: unknown }).$date))
    if ("$bigint" in value) return BigInt(String((value as { $bigint: unknown }).$bigint))
  }
  return value
}

/** @internal The cursor for the position after `row`. */
export const encodeCursor = (codec: Codec, order: ReadonlyArray<Query.Order>, row: Record<string, unknown>): string => {
  const values = order.map((o) => {
    const encoded = codec.encodeField(o.field, row[o.field])
    // A row we just decoded always encodes.
    return toJson(Either.getOrThrow(encoded))
  })
  const payload = JSON.stringify({ f: order.map((o) => `${o.field}:${o.direction}:${o.nulls}`), v: values })
  return Buffer.from(payload, "utf8").toString("base64url")
}

/** @internal The model values a cursor stands for, checked against the query's ordering. */
export const decodeCursor = (
  codec: Codec,
  order: ReadonlyArray<Query.Order>,
  cursor: string
): Either.Either<ReadonlyArray<unknown>, DatabaseError.InvalidCursor> => {
  const invalid = (reason: string) => Either.left(new DatabaseError.InvalidCursor({ table: codec.table.name, reason }))
  let payload: { f?: unknown; v?: unknown }
  try {
    payload = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
  } catch {
    return invalid("not a cursor")
  }
  const expected = order.map((o) => `${o.field}:${o.direction}:${o.nulls}`)
  if (!Array.isArray(payload?.f) || !Array.isArray(payload.v) || payload.v.length !== expected.length) {
    return invalid("not a cursor")
  }
  if (payload.f.join(",") !== expected.join(",")) return invalid("made for another ordering")
  const values: Array<unknown> = []
  for (let i = 0; i < order.length; i++) {
    const decoded = codec.decodeField(order[i]!.field, fromJson(payload.v[i]))
    if (Either.isLeft(decoded)) return invalid(`a value does not fit field "${order[i]!.field}"`)
    values.push(decoded.right)
  }
  return Either.right(values)
}
