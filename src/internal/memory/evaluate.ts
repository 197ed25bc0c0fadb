/**
 * Queries evaluated over in-memory rows: the same `Query.Expr` trees and
 * orderings that `sql.ts` compiles for PostgreSQL, with SQL's three-valued
 * logic (a row matches only when its filter is TRUE).
 */
import * as Either from "effect/Either"
import type * as DatabaseError from "../../DatabaseError.js"
import type * as Query from "../../Query.js"
import type { Codec } from "../codec.js"
import * as Expression from "../expr.js"
import { EncodeFailure, InvalidInput, resolveRelation, visibility } from "../plan.js"
import { type MemoryStore, runningStatement, type TableInfo } from "./store.js"
import {
  bind,
  bindJson,
  canonical,
  compare,
  equal,
  jsonbContains,
  like,
  LikeEscapeError,
  queryError,
  StatementFailure,
  Unsupported
} from "./values.js"

import type { StoredRow } from "./values.js"

export type { StoredRow } from "./values.js"

/** @internal SQL truth: TRUE, FALSE or NULL (unknown). */
export type Truth = boolean | null

type Predicate = (row: StoredRow) => Truth

/**
 * @internal
 * Turns model values into bound parameters. An encoding failure is thrown
 * at once (a ParseError, before any SQL); an error the server would raise
 * while binding (a NUL in text, say) is kept until the statement runs.
 */
export class Binder {
  error: DatabaseError.DatabaseError | undefined = undefined
  constructor(readonly codec: Codec, readonly info: TableInfo, readonly sql: string, readonly store?: MemoryStore) {}

  /** A model value of a field, as a bound parameter. */
  model(field: string, value: unknown): unknown {
    const encoded = this.codec.encodeField(field, value)
    if (Either.isLeft(encoded)) throw new EncodeFailure(encoded.left)
    return this.encoded(field, encoded.right)
  }

  /** An already encoded value of a field, as a bound parameter. */
  encoded(field: string, value: unknown): unknown {
    const bound = bind(value, this.info.kind(field), this.sql)
    if (bound.error !== undefined) this.error ??= bound.error
    return bound.value
  }

  /** A text parameter that is not a field's value (a LIKE pattern). */
  text(value: string): string {
    const bound = bind(value, "plain", this.sql)
    if (bound.error !== undefined) this.error ??= bound.error
    // As sent: an unpaired surrogate is U+FFFD by then.
    return bound.value as string
  }

  /** A jsonb parameter (`JSON.stringify(value)::jsonb`). */
  json(value: unknown): unknown {
    try {
      return bindJson(value, this.sql)
    } catch (error) {
      if (error instanceof StatementFailure) {
        this.error ??= error.error
        return null
      }
      throw error
    }
  }
}

const and3 = (a: Truth, b: Truth): Truth => (a === false || b === false ? false : a === null || b === null ? null : true)

/**
 * @internal
 * A filter as a predicate. The query was checked before (plan.ts); as in
 * the SQL compiler, an unbranded or unknown node, an unknown operator or a
 * field that is not the table's throws InvalidInput (`codec.column` checks
 * fields). Every value is encoded and bound now, not per row.
 */
export const compileFilter = (binder: Binder, expr: Query.Expr): Predicate => {
  const { codec, info } = binder
  const value = (row: StoredRow, field: string) => info.comparable(field, row[field])
  if (!Expression.isExpr(expr)) throw new InvalidInput("filter", "not a filter built with Query")
  switch (expr._tag) {
    case "Const": {
      const result = expr.value
      return () => result
    }
    case "And": {
      const parts = expr.exprs.map((e) => compileFilter(binder, e))
      return (row) => {
        let unknown = false
        for (const part of parts) {
          const truth = part(row)
          if (truth === false) return false
          if (truth === null) unknown = true
        }
        return unknown ? null : true
      }
    }
    case "Or": {
      const parts = expr.exprs.map((e) => compileFilter(binder, e))
      return (row) => {
        let unknown = false
        for (const part of parts) {
          const truth = part(row)
          if (truth === true) return true
          if (truth === null) unknown = true
        }
        return unknown ? null : false
      }
    }
    case "Not": {
      const inner = compileFilter(binder, expr.expr)
      return (row) => {
        const truth = inner(row)
        return truth === null ? null : !truth
      }
    }
    case "Compare": {
      const field = expr.field
      codec.column(field)
      const op = expr.op
      if (!Expression.isComparison(op)) throw new InvalidInput("filter", "not a comparison operator", field)
      const param = info.comparable(field, binder.model(field, expr.value))
      return (row) => {
        const x = value(row, field)
        if (x === null || param === null) return null
        switch (op) {
          case "=":
            return equal(x, param)
          case "<>":
            return !equal(x, param)
          case "<":
            return compare(x, param) < 0
          case "<=":
            return compare(x, param) <= 0
          case ">":
            return compare(x, param) > 0
          case ">=":
            return compare(x, param) >= 0
        }
      }
    }
    case "Between": {
      const field = expr.field
      codec.column(field)
      const low = info.comparable(field, binder.model(field, expr.low))
      const high = info.comparable(field, binder.model(field, expr.high))
      // x BETWEEN a AND b is x >= a AND x <= b, each side unknown on NULL.
      return (row) => {
        const x = value(row, field)
        if (x === null) return null
        return and3(low === null ? null : compare(x, low) >= 0, high === null ? null : compare(x, high) <= 0)
      }
    }
    case "In": {
      // An empty list compiles to the constant FALSE (IN) or TRUE (NOT IN),
      // whatever the field holds, NULL included.
      if (expr.values.length === 0) {
        const result = expr.negated
        return () => result
      }
      const field = expr.field
      codec.column(field)
      const params = expr.values.map((v) => info.comparable(field, binder.model(field, v)))
      const negated = expr.negated
      // x = ANY(array) / x <> ALL(array): TRUE or FALSE when an element
      // decides it, unknown when only NULL elements are left.
      return (row) => {
        const x = value(row, field)
        if (x === null) return null
        let sawNull = false
        for (const p of params) {
          if (p === null) sawNull = true
          else if (equal(x, p)) return !negated
        }
        return sawNull ? null : negated
      }
    }
    case "IsNull": {
      const field = expr.field
      codec.column(field)
      const negated = expr.negated
      return (row) => (row[field] === null) !== negated
    }
    case "Like": {
      const field = expr.field
      codec.column(field)
      const pattern = binder.text(expr.pattern)
      const caseInsensitive = expr.caseInsensitive
      return (row) => {
        const x = row[field]
        if (x === null) return null
        if (typeof x !== "string") throw new Unsupported(`LIKE on field "${field}", which is not text`)
        try {
          return like(x, pattern, caseInsensitive)
        } catch (error) {
          if (error instanceof LikeEscapeError) {
            throw new StatementFailure(queryError("22025", "LIKE pattern must not end with escape character", binder.sql))
          }
          throw error
        }
      }
    }
    case "ArrayContains":
    case "ArrayOverlaps": {
      const field = expr.field
      codec.column(field)
      const bound = binder.model(field, expr.values)
      const params: ReadonlyArray<unknown> = Array.isArray(bound) ? bound : []
      const contains = expr._tag === "ArrayContains"
      return (row) => {
        const x = row[field]
        if (x === null) return null
        if (!Array.isArray(x)) throw new Unsupported(`an array operator on field "${field}", which is not an array`)
        // NULL elements are never equal to anything.
        const has = (p: unknown) => p !== null && x.some((e) => e !== null && equal(e, p))
        return contains ? params.every(has) : params.some(has)
      }
    }
    case "JsonContains": {
      const field = expr.field
      codec.column(field)
      const contained = expr.value === undefined ? null : binder.json(expr.value)
      return (row) => {
        const x = row[field]
        if (x === null || contained === null) return null
        if (typeof x === "object" && !Array.isArray(x) && !(x instanceof Date) && !(x instanceof Uint8Array)) {
          return jsonbContains(x, contained)
        }
        if (typeof x === "number" || typeof x === "boolean") return jsonbContains(x, contained)
        throw new Unsupported(`jsonContains on field "${field}", which is not a jsonb object`)
      }
    }
    case "Related": {
      // As the PostgreSQL compiler's EXISTS subquery: related rows linked to
      // the row by the relation's key (through the join table's rows), seen
      // by the running statement.
      const relation = resolveRelation(codec, expr.relation, "filter")
      const store = binder.store
      if (store === undefined) throw new Unsupported("a relation filter here")
      const target = relation.codec
      const targetInfo = store.info(target.table, target)
      const inner = new Binder(target, targetInfo, binder.sql, store)
      const visible = visibility(target, expr.query?.deleted ?? "exclude")
      const shown = visible === undefined ? undefined : compileFilter(inner, visible)
      const filter = expr.query?.filter === undefined ? undefined : compileFilter(inner, expr.query.filter)
      const mode = expr.mode
      if (mode === "every" && filter === undefined) return () => true
      const link = relation.link
      const parentField = relation.parentField
      const joinInfo = link._tag === "Through" ? store.info(link.codec.table, link.codec) : undefined
      return (row) => {
        const parent = info.comparable(parentField, row[parentField])
        if (parent === null) return mode !== "some"
        const key = canonical(parent)
        const s = runningStatement()
        let linked: (r: StoredRow) => boolean
        if (link._tag === "Field") {
          linked = (r) => {
            const v = targetInfo.comparable(link.field, r[link.field])
            return v !== null && canonical(v) === key
          }
        } else {
          const keys = new Set<string>()
          for (const j of s.read(joinInfo!).rows.values()) {
            const p = joinInfo!.comparable(link.parentField, j[link.parentField])
            const t = joinInfo!.comparable(link.targetField, j[link.targetField])
            if (p !== null && t !== null && canonical(p) === key) keys.add(canonical(t))
          }
          linked = (r) => {
            const v = targetInfo.comparable(link.key, r[link.key])
            return v !== null && keys.has(canonical(v))
          }
        }
        for (const r of s.read(targetInfo).rows.values()) {
          if (!linked(r) || (shown !== undefined && shown(r) !== true)) continue
          const truth = filter === undefined ? true : filter(r)
          if (mode === "every" ? truth !== true : truth === true) return mode === "some"
        }
        return mode !== "some"
      }
    }
    case "Invalid":
      throw new InvalidInput("filter", expr.reason)
    default:
      throw new InvalidInput("filter", "not a filter built with Query")
  }
}

/** @internal An ordering as a comparator: NULLS FIRST / LAST per term, ties left in table order. */
export const compileOrder = (
  codec: Codec,
  info: TableInfo,
  order: ReadonlyArray<Query.Order>
): ((a: StoredRow, b: StoredRow) => number) | undefined => {
  if (order.length === 0) return undefined
  for (const o of order) codec.column(o.field)
  return (a, b) => {
    for (const o of order) {
      const x = info.comparable(o.field, a[o.field])
      const y = info.comparable(o.field, b[o.field])
      const xn = x === null
      const yn = y === null
      if (xn || yn) {
        if (xn && yn) continue
        return xn === (o.nulls === "first") ? -1 : 1
      }
      const c = compare(x, y)
      if (c !== 0) return o.direction === "asc" ? c : -c
    }
    return 0
  }
}

/** @internal A SELECT, ready to run over a table's rows. */
export interface Plan {
  readonly filter: Predicate | undefined
  readonly order: ((a: StoredRow, b: StoredRow) => number) | undefined
  readonly distinctOn: ReadonlyArray<string> | undefined
  readonly limit: number | undefined
  readonly offset: number | undefined
}

/**
 * @internal
 * Rows of a SELECT, in SQL's order of work: WHERE, ORDER BY, DISTINCT ON
 * (the first row of each group by that ordering), OFFSET, LIMIT.
 */
export const runPlan = (plan: Plan, info: TableInfo, rows: Iterable<StoredRow>): Array<StoredRow> => {
  let out: Array<StoredRow> = []
  const filter = plan.filter
  for (const row of rows) if (filter === undefined || filter(row) === true) out.push(row)
  if (plan.order !== undefined) out.sort(plan.order)
  const distinct = plan.distinctOn
  if (distinct !== undefined) {
    // DISTINCT ON treats NULLs as equal to each other.
    const seen = new Set<string>()
    out = out.filter((row) => {
      const key = JSON.stringify(distinct.map((f) => canonical(info.comparable(f, row[f]))))
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
  }
  const start = plan.offset ?? 0
  const end = plan.limit === undefined ? undefined : start + plan.limit
  return start === 0 && end === undefined ? out : out.slice(start, end)
}
