import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import { createHmac, timingSafeEqual } from "node:crypto"
import * as DatabaseError from "../DatabaseError.js"
import type * as Query from "../Query.js"
import type * as Repository from "../Repository.js"
import type { Codec } from "./codec.js"
import * as Expression from "./expr.js"
import { checkCount, checkQuery, compile, effectiveOrder } from "./plan.js"

/**
 * @internal
 * The ordering that keyset pagination walks: the query's ordering with the
 * primary key's fields (those it does not order by already) appended as a
 * unique tie-breaker. With DISTINCT ON, the
 * distinct fields alone identify a result row, so they are the key.
 */
export const keysetOrder = (codec: Codec, query: Query.Query<any>): ReadonlyArray<Query.Order> => {
  const order = effectiveOrder(query)
  if (query.distinctOn !== undefined) return order.slice(0, query.distinctOn.length)
  const missing = codec.keyFields.filter((key) => !order.some((o) => o.field === key))
  return missing.length === 0
    ? order
    : [...order, ...missing.map((field): Query.Order => ({ field, direction: "asc", nulls: "last" }))]
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
    branches.push(equal.length === 0 ? after : Expression.and([...equal, after]))
  }
  return Expression.or(branches)
}

const isNullish = (value: unknown) => value === null || value === undefined ||
  (typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "None")

const equalTo = (field: string, value: unknown): Query.Expr =>
  isNullish(value) ? Expression.isNull(field, false) : Expression.compare(field, "=", value)

const afterOne = (o: Query.Order, value: unknown): Query.Expr | undefined => {
  const field = o.field
  if (isNullish(value)) {
    // Nothing comes after NULL when NULLs are last; everything else does when they are first.
    return o.nulls === "last" ? undefined : Expression.isNull(field, true)
  }
  const beyond = Expression.compare(field, o.direction === "asc" ? ">" : "<", value)
  return o.nulls === "last" ? Expression.or([beyond, Expression.isNull(field, false)]) : beyond
}

// JSON cannot carry Dates or bigints, so they are tagged.
const toJson = (value: unknown): unknown =>
  value instanceof Date
    ? { $date: value.toISOString() }
    : typeof value === "bigint"
    ? { $bigint: value.toString() }
    : value

/** A tagged value that does not hold what its tag says. */
const Forged = Symbol("Forged")

const bigintText = /^-?[0-9]{1,1000}$/

// A cursor is input: a tagged value is checked before it becomes a Date or
// a bigint (BigInt("1; DROP ...") throws, an invalid Date throws when it is
// encoded), and only own keys count.
const fromJson = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value
  if (Object.hasOwn(value, "$date")) {
    const text = (value as { $date: unknown }).$date
    const date = typeof text === "string" ? new Date(text) : undefined
    return date === undefined || Number.isNaN(date.getTime()) ? Forged : date
  }
  if (Object.hasOwn(value, "$bigint")) {
    const text = (value as { $bigint: unknown }).$bigint
    return typeof text === "string" && bigintText.test(text) ? BigInt(text) : Forged
  }
  return value
}

/**
 * @internal
 * The longest cursor accepted (characters). A cursor holds the last row's
 * ordering values, so this is generous; it bounds the work a forged one
 * can cause.
 */
export const MAX_CURSOR_LENGTH = 65_536

const keyOf = (key: Repository.Options["cursorKey"]): string | undefined =>
  key === undefined ? undefined : Redacted.isRedacted(key) ? Redacted.value(key) : key

// The MAC covers the table and the payload, so a cursor signed for one
// table is refused by another.
const mac = (key: string, codec: Codec, payload: string) =>
  createHmac("sha256", key).update(`effect-dal cursor\u0000${codec.table.qualifiedName}\u0000${payload}`).digest()

const orderKey = (order: ReadonlyArray<Query.Order>) => order.map((o) => `${o.field}:${o.direction}:${o.nulls}`)

/** @internal The cursor for the position after `row`, signed when a key is given. */
export const encodeCursor = (
  codec: Codec,
  order: ReadonlyArray<Query.Order>,
  row: Record<string, unknown>,
  key?: Repository.Options["cursorKey"]
): string => {
  const values = order.map((o) => {
    const encoded = codec.encodeField(o.field, row[o.field])
    // A row we just decoded always encodes.
    return toJson(Either.getOrThrow(encoded))
  })
  const payload = Buffer.from(JSON.stringify({ f: orderKey(order), v: values }), "utf8").toString("base64url")
  const secret = keyOf(key)
  return secret === undefined ? payload : `${payload}.${mac(secret, codec, payload).toString("base64url")}`
}

/**
 * @internal
 * The model values a cursor stands for, checked against the query's
 * ordering and the fields' schemas. With a key, only cursors signed with it
 * are accepted; without one, a cursor is a position, checked like any other
 * input, and the query's own filter still decides which rows it can reach.
 */
export const decodeCursor = (
  codec: Codec,
  order: ReadonlyArray<Query.Order>,
  cursor: unknown,
  key?: Repository.Options["cursorKey"]
): Either.Either<ReadonlyArray<unknown>, DatabaseError.InvalidCursor> => {
  const invalid = (reason: string) => Either.left(new DatabaseError.InvalidCursor({ table: codec.table.name, reason }))
  if (typeof cursor !== "string" || cursor.length === 0) return invalid("not a cursor")
  if (cursor.length > MAX_CURSOR_LENGTH) return invalid("too long")
  const secret = keyOf(key)
  let encoded = cursor
  if (secret !== undefined) {
    const dot = cursor.indexOf(".")
    if (dot < 0) return invalid("not signed")
    encoded = cursor.slice(0, dot)
    const given = Buffer.from(cursor.slice(dot + 1), "base64url")
    const expected = mac(secret, codec, encoded)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return invalid("the signature does not match")
  }
  let payload: { f?: unknown; v?: unknown }
  try {
    payload = JSON.parse(Buffer.from(encoded, "base64url").toString("utf8"))
  } catch {
    return invalid("not a cursor")
  }
  const expected = orderKey(order)
  if (typeof payload !== "object" || payload === null || !Array.isArray(payload.f) || !Array.isArray(payload.v)) {
    return invalid("not a cursor")
  }
  if (payload.v.length !== expected.length) return invalid("not a cursor")
  if (payload.f.length !== expected.length || payload.f.some((f, i) => f !== expected[i])) {
    return invalid("made for another ordering")
  }
  const values: Array<unknown> = []
  for (let i = 0; i < order.length; i++) {
    const field = order[i]!.field
    const raw = fromJson(payload.v[i])
    if (raw === Forged) return invalid(`a value does not fit field "${field}"`)
    const decoded = codec.decodeField(field, raw)
    if (Either.isLeft(decoded)) return invalid(`a value does not fit field "${field}"`)
    values.push(decoded.right)
  }
  return Either.right(values)
}

/** @internal What a page's SELECT needs: the query without limit/offset, the extra "after" filter, and the look-ahead limit. */
export interface PagePlan<A> {
  readonly query: Query.Query<A>
  readonly order: ReadonlyArray<Query.Order>
  readonly after: Query.Expr | undefined
  readonly limit: number
  /** The page size asked for; one more row is read to know whether there is a next page. */
  readonly size: number
}

/**
 * @internal
 * A page request, checked: the query, the page size (a whole number from
 * 1) and the cursor. The query's own limit and offset are ignored.
 */
export const planPage = <A>(
  codec: Codec,
  query: Query.Query<A>,
  options: { readonly limit: number; readonly after?: string | undefined },
  key: Repository.Options["cursorKey"]
): Effect.Effect<PagePlan<A>, DatabaseError.InvalidQuery | DatabaseError.InvalidCursor | ParseResult.ParseError> =>
  Effect.flatMap(
    compile(codec, () => {
      const checked = checkQuery<A>(codec, query)
      const size = checkCount((options as { readonly limit?: unknown } | undefined)?.limit, "pageSize", 1)
      return { checked, size, cursor: (options as { readonly after?: unknown } | undefined)?.after }
    }),
    ({ checked, cursor, size }): Effect.Effect<PagePlan<A>, DatabaseError.InvalidCursor> => {
      const order = keysetOrder(codec, checked)
      const base = {
        ...checked,
        order: checked.distinctOn === undefined ? order : checked.order,
        limit: undefined,
        offset: undefined
      } as Query.Query<A>
      if (cursor === undefined) {
        return Effect.succeed({ query: base, order, after: undefined, limit: size + 1, size })
      }
      const position = decodeCursor(codec, order, cursor, key)
      return position._tag === "Left"
        ? Effect.fail(position.left)
        : Effect.succeed({ query: base, order, after: afterExpr(order, position.right), limit: size + 1, size })
    }
  )

/** @internal The page from the rows a page's SELECT returned (at most `size + 1`). */
export const finishPage = <A>(
  codec: Codec,
  plan: PagePlan<A>,
  rows: ReadonlyArray<A>,
  key: Repository.Options["cursorKey"]
): Repository.Page<A> => {
  const items = rows.length > plan.size ? rows.slice(0, plan.size) : rows
  return {
    items,
    next: rows.length > plan.size
      ? Option.some(encodeCursor(codec, plan.order, items[items.length - 1] as Record<string, unknown>, key))
      : Option.none()
  }
}
