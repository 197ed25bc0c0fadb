/**
 * Values as PostgreSQL holds them, for the in-memory database: what a
 * parameter becomes when it is bound (and which parameters the server
 * rejects), how values compare (the "C" collation for text), LIKE and
 * jsonb containment. Every rule here is PostgreSQL's; where the fake
 * cannot know the rule (it does not know column types), it says so with a
 * defect instead of guessing.
 */
import * as DatabaseError from "../../DatabaseError.js"

/** @internal Thrown for what the in-memory database cannot do; it becomes a defect. */
export class Unsupported extends Error {
  override readonly name = "Unsupported"
  constructor(what: string) {
    super(`not supported by the in-memory database: ${what}`)
  }
}

/** @internal Thrown inside a statement for an error PostgreSQL would report; the statement fails with it. */
export class StatementFailure {
  constructor(readonly error: DatabaseError.DatabaseError) {}
}

/** @internal A QueryError as the server reports it. */
export const queryError = (sqlState: string, serverMessage: string, sql: string): DatabaseError.QueryError =>
  new DatabaseError.QueryError({ sqlState, serverMessage, sql })

// ---------------------------------------------------------------------------
// binding: what a parameter becomes on the server
// ---------------------------------------------------------------------------

const isPlainObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !(u instanceof Date) && !(u instanceof Uint8Array)

const hasLoneSurrogate = (s: string): boolean => !(s as unknown as { isWellFormed(): boolean }).isWellFormed()

/**
 * @internal
 * How a column's values are stored and compared, found from the field's
 * schema because the fake does not know column types: `timestamp-text` is a
 * timestamp the model writes as an ISO string (PostgreSQL parses it, and
 * node-postgres reads it back as a `Date`); `numeric-text` is a number the
 * model writes as a string (numeric, int8), compared as a number; `uuid` is
 * a uuid column, which holds its value in lowercase (PostgreSQL's uuid
 * input accepts either case and its output is lowercase), so that equality,
 * IN, ordering, keys and relations ignore the case a caller wrote.
 */
export type Kind = "plain" | "timestamp-text" | "numeric-text" | "uuid"

/**
 * @internal
 * Binds one encoded value the way node-postgres sends it and PostgreSQL
 * stores it, so that reading it back gives what node-postgres would give.
 * Errors the server raises while reading a parameter are returned, not
 * thrown: PostgreSQL binds every parameter before it runs a statement.
 */
export const bind = (
  value: unknown,
  kind: Kind,
  sql: string
): { readonly value: unknown; readonly error?: DatabaseError.DatabaseError } => {
  try {
    if (kind === "timestamp-text" && typeof value === "string") {
      checkText(value, sql)
      const date = new Date(value)
      if (Number.isNaN(date.getTime())) {
        return {
          value: null,
          error: queryError("22007", "invalid input syntax for type timestamp with time zone", sql)
        }
      }
      return { value: date }
    }
    if (kind === "uuid" && typeof value === "string") return { value: bindText(value, sql).toLowerCase() }
    return { value: bindValue(value, sql) }
  } catch (error) {
    if (error instanceof StatementFailure) return { value: null, error: error.error }
    throw error
  }
}

// "invalid byte sequence for encoding "UTF8": 0x00": PostgreSQL text cannot
// hold NUL (SQLSTATE 22021). Unpaired surrogates cannot be encoded as UTF-8;
// node-postgres sends U+FFFD in their place.
const checkText = (s: string, sql: string) => {
  if (s.includes("\u0000")) {
    throw new StatementFailure(queryError("22021", "invalid byte sequence for encoding \"UTF8\": 0x00", sql))
  }
}

const bindText = (s: string, sql: string): string => {
  checkText(s, sql)
  return hasLoneSurrogate(s) ? (s as unknown as { toWellFormed(): string }).toWellFormed() : s
}

const bindValue = (value: unknown, sql: string): unknown => {
  if (value === null || value === undefined) return null
  switch (typeof value) {
    case "string":
      return bindText(value, sql)
    case "number":
    case "boolean":
      return value
    // node-postgres sends a bigint as text; int8 and numeric come back as text.
    case "bigint":
      return String(value)
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) {
      throw new StatementFailure(queryError("22007", "invalid input syntax for type timestamp with time zone", sql))
    }
    return new Date(value.getTime())
  }
  if (value instanceof Uint8Array) return Buffer.from(value)
  if (Array.isArray(value)) {
    return value.map((element) =>
      isPlainObject(element) ? bindJson(element, sql) : bindValue(element, sql)
    )
  }
  if (isPlainObject(value)) return bindJson(value, sql)
  throw new Unsupported(`a parameter of type ${Object.prototype.toString.call(value)}`)
}

/**
 * @internal
 * A jsonb value as node-postgres sends it (`JSON.stringify`) and reads it
 * back (`JSON.parse`), with the server's two refusals: `\u0000` (22P05) and
 * an unpaired surrogate escape (22P02).
 */
export const bindJson = (value: unknown, sql: string): unknown => {
  const text = JSON.stringify(value)
  if (text === undefined) return null
  // The server's JSON parser reads escapes in order: the first bad one decides.
  const nul = text.indexOf("\\u0000")
  const surrogate = text.search(/\\ud[89a-f][0-9a-f]{2}/i)
  if (surrogate >= 0 && (nul < 0 || surrogate < nul)) {
    throw new StatementFailure(queryError("22P02", "invalid input syntax for type json", sql))
  }
  if (nul >= 0) {
    throw new StatementFailure(queryError("22P05", "unsupported Unicode escape sequence", sql))
  }
  return JSON.parse(text)
}

/** @internal A deep copy of a stored value, so callers never share state with the store. */
export const copy = (value: unknown): unknown => {
  if (value === null || typeof value !== "object") return value
  if (value instanceof Date) return new Date(value.getTime())
  if (value instanceof Uint8Array) return Buffer.from(value)
  if (Array.isArray(value)) return value.map(copy)
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) out[key] = copy((value as Record<string, unknown>)[key])
  return out
}

// ---------------------------------------------------------------------------
// comparison
// ---------------------------------------------------------------------------

/**
 * @internal
 * Text in the "C" collation: UTF-8 byte order, which is Unicode code point
 * order. JavaScript's `<` compares UTF-16 code units, which puts U+E000 to
 * U+FFFF after the astral characters; this fixes that up.
 */
export const compareText = (a: string, b: string): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return codeUnitRank(x) - codeUnitRank(y)
  }
  return a.length - b.length
}

// Surrogates (D800-DFFF) stand for code points above FFFF: rank them above E000-FFFF.
const codeUnitRank = (unit: number) => (unit >= 0xe000 ? unit - 0x800 : unit >= 0xd800 ? unit + 0x2000 : unit)

const typeName = (u: unknown): string =>
  u instanceof Date ? "timestamp" : Array.isArray(u) ? "array" : u instanceof Uint8Array ? "bytea" : isPlainObject(u) ? "jsonb" : typeof u

/**
 * @internal
 * Orders two non-NULL values as PostgreSQL does for their type: numbers
 * numerically (NaN above everything, as in float8), booleans false first,
 * timestamps by time, text by code point, arrays element by element (NULL
 * elements last) and then by length, jsonb objects as jsonb's btree
 * orders them (see `compareJson`).
 */
export const compare = (a: unknown, b: unknown): number => {
  const ta = typeof a
  const tb = typeof b
  if ((ta === "number" || ta === "bigint") && (tb === "number" || tb === "bigint")) {
    const an = Number.isNaN(a)
    const bn = Number.isNaN(b)
    if (an || bn) return an && bn ? 0 : an ? 1 : -1
    return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0
  }
  if (ta === "string" && tb === "string") return compareText(a as string, b as string)
  if (ta === "boolean" && tb === "boolean") return Number(a) - Number(b)
  if (a instanceof Date && b instanceof Date) return Math.sign(a.getTime() - b.getTime())
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b)
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length)
    for (let i = 0; i < n; i++) {
      const x = a[i]
      const y = b[i]
      const xn = x === null || x === undefined
      const yn = y === null || y === undefined
      if (xn || yn) {
        if (xn && yn) continue
        return xn ? 1 : -1
      }
      const c = compare(x, y)
      if (c !== 0) return c
    }
    return Math.sign(a.length - b.length)
  }
  if (isPlainObject(a) && isPlainObject(b)) return compareJson(a, b)
  throw new Unsupported(`comparing a ${typeName(a)} with a ${typeName(b)}`)
}

// jsonb's own order (PostgreSQL docs, "jsonb Indexing"; jsonb_util.c
// compareJsonbContainers): Object > Array > Boolean > Number > String >
// Null; an object with more pairs, or an array with more elements, is
// greater, whatever they hold; otherwise arrays compare element by element
// and objects pair by pair, keys in jsonb's storage order (shorter first,
// then by bytes), each key before its value. Strings compare as text in the
// "C" collation.
const jsonRank = (u: unknown): number =>
  u === null || u === undefined
    ? 0
    : typeof u === "string"
    ? 1
    : typeof u === "number"
    ? 2
    : typeof u === "boolean"
    ? 3
    : Array.isArray(u)
    ? 4
    : 5

const storageOrder = (a: string, b: string) => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length !== y.length ? x.length - y.length : Buffer.compare(x, y)
}

const compareJson = (a: unknown, b: unknown): number => {
  const ra = jsonRank(a)
  const rb = jsonRank(b)
  if (ra !== rb) return Math.sign(ra - rb)
  switch (ra) {
    case 0:
      return 0
    case 1:
      return Math.sign(compareText(a as string, b as string))
    case 2:
      return Math.sign((a as number) - (b as number))
    case 3:
      return Number(a) - Number(b)
    case 4: {
      const x = a as ReadonlyArray<unknown>
      const y = b as ReadonlyArray<unknown>
      if (x.length !== y.length) return x.length > y.length ? 1 : -1
      for (let i = 0; i < x.length; i++) {
        const c = compareJson(x[i], y[i])
        if (c !== 0) return c
      }
      return 0
    }
    default: {
      const x = a as Record<string, unknown>
      const y = b as Record<string, unknown>
      const xKeys = Object.keys(x).sort(storageOrder)
      const yKeys = Object.keys(y).sort(storageOrder)
      if (xKeys.length !== yKeys.length) return xKeys.length > yKeys.length ? 1 : -1
      for (let i = 0; i < xKeys.length; i++) {
        const k = compareText(xKeys[i]!, yKeys[i]!)
        if (k !== 0) return Math.sign(k)
        const c = compareJson(x[xKeys[i]!], y[yKeys[i]!])
        if (c !== 0) return c
      }
      return 0
    }
  }
}

/** @internal Equality of two non-NULL values; jsonb by value, arrays with NULL elements equal to each other. */
export const equal = (a: unknown, b: unknown): boolean => {
  if (isPlainObject(a) || isPlainObject(b)) return isPlainObject(a) && isPlainObject(b) && jsonEqual(a, b)
  return compare(a, b) === 0
}

const jsonKind = (u: unknown) => (Array.isArray(u) ? "array" : isPlainObject(u) ? "object" : "scalar")

const jsonScalarEqual = (a: unknown, b: unknown) => a === b || (Number.isNaN(a) && Number.isNaN(b))

const jsonEqual = (a: unknown, b: unknown): boolean => {
  const kind = jsonKind(a)
  if (kind !== jsonKind(b)) return false
  if (kind === "scalar") return jsonScalarEqual(a, b)
  if (kind === "array") {
    const x = a as ReadonlyArray<unknown>
    const y = b as ReadonlyArray<unknown>
    return x.length === y.length && x.every((v, i) => jsonEqual(v, y[i]))
  }
  const x = a as Record<string, unknown>
  const y = b as Record<string, unknown>
  const keys = Object.keys(x)
  return keys.length === Object.keys(y).length && keys.every((k) => k in y && jsonEqual(x[k], y[k]))
}

/**
 * @internal
 * A string that is the same for equal values: for unique keys and
 * DISTINCT ON. NULL has its own key (callers decide what NULL means).
 */
export const canonical = (value: unknown): string => {
  if (value === null || value === undefined) return "N"
  switch (typeof value) {
    case "number":
      return Object.is(value, -0) ? "n0" : `n${value}`
    case "bigint":
      return `n${value}`
    case "string":
      return `s${value}`
    case "boolean":
      return value ? "b1" : "b0"
  }
  if (value instanceof Date) return `d${value.getTime()}`
  if (value instanceof Uint8Array) return `x${Buffer.from(value).toString("hex")}`
  if (Array.isArray(value)) return `a${JSON.stringify(value.map(canonical))}`
  return `j${stableJson(value)}`
}

const stableJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`
  if (isPlainObject(value)) {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableJson(value[k])}`).join(",")}}`
  }
  return JSON.stringify(value) ?? "null"
}

// ---------------------------------------------------------------------------
// LIKE and ILIKE
// ---------------------------------------------------------------------------

const LIKE_TRUE = 1
const LIKE_FALSE = 0
const LIKE_ABORT = -1

/** @internal Thrown when a LIKE pattern ends with its escape character (SQLSTATE 22025). */
export class LikeEscapeError {}

// ASCII case folding: lower() under the "C" collation folds A-Z only, and
// PostgreSQL implements ILIKE as LIKE over lower() of both sides.
const asciiLower = (s: string) => s.replace(/[A-Z]+/g, (c) => c.toLowerCase())

/**
 * @internal
 * `text LIKE pattern` (or ILIKE): a port of PostgreSQL's `MatchText`
 * (src/backend/utils/adt/like_match.c), over code points, so `_` matches
 * one character (an emoji too) and a pattern ending in `\` fails exactly
 * when PostgreSQL's matcher reaches it.
 */
export const like = (text: string, pattern: string, caseInsensitive: boolean): boolean => {
  const t = Array.from(caseInsensitive ? asciiLower(text) : text)
  const p = Array.from(caseInsensitive ? asciiLower(pattern) : pattern)
  return matchText(t, p) === LIKE_TRUE
}

/** Where MatchText would call itself: at text position `ti`, pattern position `pi` (the literal after a `%`). */
interface Descent {
  ti: number
  readonly pi: number
  readonly first: string
}

// MatchText's recursion (one level per `%`) as a loop with its own stack:
// a pattern of tens of thousands of `%` from a request would overflow
// JavaScript's stack, where PostgreSQL answers. Only a FALSE from a level
// makes the level above scan on; TRUE and ABORT end the whole match.
const matchText = (t: ReadonlyArray<string>, p: ReadonlyArray<string>): number => {
  const stack: Array<Descent> = []
  let result = matchFrom(t, 0, p, 0)
  for (;;) {
    if (typeof result === "object") {
      stack.push(result)
      result = matchFrom(t, result.ti, p, result.pi)
      continue
    }
    if (result !== LIKE_FALSE || stack.length === 0) return result
    const level = stack[stack.length - 1]!
    let ti = level.ti + 1
    while (ti < t.length && t[ti] !== level.first) ti++
    if (ti >= t.length) return LIKE_ABORT
    level.ti = ti
    result = matchFrom(t, ti, p, level.pi)
  }
}

// One level of MatchText, up to the point where it would call itself.
const matchFrom = (t: ReadonlyArray<string>, ti: number, p: ReadonlyArray<string>, pi: number): number | Descent => {
  if (p.length - pi === 1 && p[pi] === "%") return LIKE_TRUE
  while (ti < t.length && pi < p.length) {
    const c = p[pi]
    if (c === "\\") {
      pi++
      if (pi >= p.length) throw new LikeEscapeError()
      if (p[pi] !== t[ti]) return LIKE_FALSE
    } else if (c === "%") {
      pi++
      while (pi < p.length) {
        if (p[pi] === "%") pi++
        else if (p[pi] === "_") {
          if (ti >= t.length) return LIKE_ABORT
          ti++
          pi++
        } else break
      }
      if (pi >= p.length) return LIKE_TRUE
      let first: string
      if (p[pi] === "\\") {
        if (p.length - pi < 2) throw new LikeEscapeError()
        first = p[pi + 1]!
      } else first = p[pi]!
      while (ti < t.length && t[ti] !== first) ti++
      return ti < t.length ? { ti, pi, first } : LIKE_ABORT
    } else if (c === "_") {
      ti++
      pi++
      continue
    } else if (c !== t[ti]) {
      return LIKE_FALSE
    }
    ti++
    pi++
  }
  if (ti < t.length) return LIKE_FALSE
  while (pi < p.length && p[pi] === "%") pi++
  return pi >= p.length ? LIKE_TRUE : LIKE_ABORT
}

// ---------------------------------------------------------------------------
// jsonb containment
// ---------------------------------------------------------------------------

/**
 * @internal
 * `value @> contained` for jsonb, as PostgreSQL's `JsonbDeepContains`:
 * objects contain a subset of their pairs (values compared recursively),
 * arrays contain every element of the other array somewhere (scalars by
 * equality, containers recursively), and at the top level an array
 * contains a scalar that is one of its elements.
 */
export const jsonbContains = (value: unknown, contained: unknown): boolean => {
  const vk = jsonKind(value)
  const ck = jsonKind(contained)
  if (ck === "scalar") {
    if (vk === "scalar") return jsonScalarEqual(value, contained)
    if (vk === "array") return (value as ReadonlyArray<unknown>).some((v) => jsonKind(v) === "scalar" && jsonScalarEqual(v, contained))
    return false
  }
  return vk === ck && containers(value, contained)
}

const containers = (value: unknown, contained: unknown): boolean => {
  if (Array.isArray(value) && Array.isArray(contained)) {
    return contained.every((c) => {
      const kind = jsonKind(c)
      return kind === "scalar"
        ? value.some((v) => jsonKind(v) === "scalar" && jsonScalarEqual(v, c))
        : value.some((v) => jsonKind(v) === kind && containers(v, c))
    })
  }
  if (isPlainObject(value) && isPlainObject(contained)) {
    return Object.keys(contained).every((key) => {
      if (!(key in value)) return false
      const v = value[key]
      const c = contained[key]
      const kind = jsonKind(c)
      if (jsonKind(v) !== kind) return false
      return kind === "scalar" ? jsonScalarEqual(v, c) : containers(v, c)
    })
  }
  return false
}

/** @internal A stored row: bound values keyed by field name. */
export type StoredRow = Readonly<Record<string, unknown>>
