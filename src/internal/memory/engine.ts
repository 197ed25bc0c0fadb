/**
 * The in-memory engine: each call of the repository core (engine.ts)
 * evaluated over the store's tables as PostgreSQL would run the statement
 * the PostgreSQL engine sends: parameters bound as the server binds them
 * (so a value it would refuse fails the same way, when the statement
 * runs), the same statements in the same order (so a failing statement
 * aborts the transaction where Postgres would), and rows handed out as
 * copies, decoded with the model.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import * as DatabaseError from "../../DatabaseError.js"
import type * as Query from "../../Query.js"
import type * as Table from "../../Table.js"
import type { Codec } from "../codec.js"
import type { ConflictTarget, Encoded, Engine, SelectOptions, SetClause, TableEngine, Target } from "../engine.js"
import { isIncrement } from "../increment.js"
import { compile as compileFor, effectiveFilter, effectiveOrder, MAX_PARAMETERS, needsSubquery } from "../plan.js"
import { Binder, compileFilter, compileOrder, type Plan, runPlan, type StoredRow } from "./evaluate.js"
import {
  currentSession,
  fail,
  type Key,
  type MemoryStore,
  statement,
  type Statement,
  type StatementOptions,
  type TableInfo,
  type TableState,
  transaction,
  unsupported
} from "./store.js"
import { canonical, compare, copy, Unsupported } from "./values.js"
import { unwrapStream } from "../unwrap.js"

/** @internal The in-memory engine over a store. */
export const makeEngine = (store: MemoryStore): Engine => ({
  system: "memory",
  table: (table, codec) => makeTable(table, codec, store),
  // A Session is made per provide; its level is the savepoint it stands for.
  sessionOf: (context) => currentSession(store, context)?.level,
  transaction: (effect, options) => transaction(store, effect, options)
})

/** How a column that an insert leaves out gets its value. */
type Filler = (store: MemoryStore) => unknown

/** An insert's fields (the live statement's columns, in insert-field order) and their bound values. */
interface Prepared {
  readonly columns: ReadonlyArray<string>
  readonly values: Record<string, unknown>
}

const makeTable = (table: Table.Table<any, any>, codec: Codec, store: MemoryStore): TableEngine => {
  const compile = <A>(build: () => A) => compileFor(codec, build)
  const info: TableInfo = store.info(table, codec)
  const fields = table.fields as ReadonlyArray<string>
  const keyFields = codec.keyFields
  // A caller's encoded key, bound as the statement's parameters.
  const bindKey = (binder: Binder, key: ReadonlyArray<unknown>) => keyFields.map((f, i) => binder.encoded(f, key[i]))
  const softField = table.softDelete as string | undefined
  const versionField = table.version as string | undefined
  const columns = table.columns as Record<string, string>

  // Stands in for the SQL text in QueryErrors.
  const sqlOf = (operation: string) => `in-memory ${operation} on "${table.name}"`

  const run = <A>(options: StatementOptions, body: (statement: Statement) => A) => statement(store, options, body)

  const copyRow = (row: StoredRow): Record<string, unknown> => {
    const out: Record<string, unknown> = {}
    for (const field of fields) out[field] = copy(row[field])
    return out
  }
  // Statements hand out copies (copyRow), which decoding may change in place.
  const decode = (row: Record<string, unknown>): unknown => codec.decodeRow(row)
  const visible = (row: StoredRow) => softField === undefined || row[softField] === null

  const describe = (value: unknown): string =>
    value instanceof Date
      ? value.toISOString()
      : typeof value === "boolean"
      ? (value ? "t" : "f")
      : typeof value === "object" && value !== null
      ? JSON.stringify(value)
      : String(value)

  const uniqueViolation = (key: Key, row: StoredRow) =>
    new DatabaseError.UniqueViolation({
      sqlState: "23505",
      constraint: key.constraint,
      table: table.name,
      schema: table.schema,
      columns: [...key.columns],
      detail: `Key (${key.columns.join(", ")})=(${key.fields.map((f) => describe(row[f])).join(", ")}) already exists.`
    })

  /** Puts a row after checking every unique key (Postgres checks the primary key first). */
  const put = (s: Statement, state: TableState, row: StoredRow, self: string | undefined) => {
    const pk = info.pkOf(row)
    if (pk === undefined) {
      return fail(
        new DatabaseError.NotNullViolation({
          sqlState: "23502",
          table: table.name,
          schema: table.schema,
          column: columns[keyFields.find((f) => info.comparable(f, row[f]) === null) ?? keyFields[0]!]!
        })
      )
    }
    const key = state.conflict(row, self)
    if (key !== undefined) return fail(uniqueViolation(key, row))
    if (self !== undefined && self !== pk) s.set(state, self, undefined)
    s.set(state, pk, row)
  }

  // -- reads ------------------------------------------------------------------

  const findByKey: TableEngine["findByKey"] = (key, operation) =>
    Effect.suspend(() => {
      const binder = new Binder(codec, info, sqlOf(operation), store)
      const pk = info.pkValue(bindKey(binder, key))
      return run({ write: false, bindError: binder.error }, (s) => {
        const row = s.read(info).rows.get(pk)
        return row !== undefined && visible(row) ? Option.some(decode(copyRow(row))) : Option.none()
      })
    })

  // One statement for all the keys: a value PostgreSQL would refuse fails
  // it for every key.
  const findByKeys: TableEngine["findByKeys"] = (keys, operation) =>
    Effect.suspend(() => {
      const binder = new Binder(codec, info, sqlOf(operation))
      const pks = keys.map((key) => info.pkValue(bindKey(binder, key)))
      return run({ write: false, bindError: binder.error }, (s) => {
        const rows = s.read(info).rows
        return pks.map((pk) => {
          const row = rows.get(pk)
          return row !== undefined && visible(row) ? Option.some(decode(copyRow(row))) : Option.none()
        })
      })
    })

  // A SELECT: DISTINCT ON, WHERE (with soft-delete visibility), ORDER BY,
  // LIMIT and OFFSET, compiled in the order the SQL compiler works in.
  const plan = (query: Query.Query<any>, operation: string, options: SelectOptions & { readonly ordered?: boolean }) =>
    compile(() => {
      const binder = new Binder(codec, info, sqlOf(operation), store)
      const filter = effectiveFilter(codec, query, options.extra)
      const result: Plan = {
        filter: filter === undefined ? undefined : compileFilter(binder, filter),
        order: options.ordered === false ? undefined : compileOrder(codec, info, effectiveOrder(query)),
        distinctOn: query.distinctOn,
        limit: options.first ? Math.min(query.limit ?? 1, 1) : options.limit ?? query.limit,
        offset: query.offset
      }
      return { plan: result, bindError: binder.error }
    })

  const rowsOf = (query: Query.Query<any>, operation: string, options: SelectOptions & { readonly ordered?: boolean }) =>
    Effect.flatMap(plan(query, operation, options), ({ bindError, plan }) =>
      run({ write: false, bindError }, (s) => runPlan(plan, info, s.read(info).rows.values()).map(copyRow)))

  const select: TableEngine["select"] = (query, options, operation) =>
    Effect.map(rowsOf(query, operation, options), (rows) => rows.map(decode))

  // Related rows of many parents, as the PostgreSQL engine's statement
  // finds them: the filtered rows whose link value is one of the keys (or
  // that a join table row links to one), in the query's order, with the
  // limit and offset applied to each parent's rows.
  const selectRelated: TableEngine["selectRelated"] = (query, link, keys, operation) =>
    Effect.flatMap(
      compile(() => {
        const binder = new Binder(codec, info, sqlOf(operation), store)
        const filter = effectiveFilter(codec, query)
        const related: Plan = {
          filter: filter === undefined ? undefined : compileFilter(binder, filter),
          order: compileOrder(codec, info, effectiveOrder(query)),
          distinctOn: undefined,
          limit: undefined,
          offset: undefined
        }
        if (link._tag === "Field") {
          codec.column(link.field)
          const wanted = new Set(keys.map((k) => canonical(info.comparable(link.field, binder.encoded(link.field, k)))))
          return { related, wanted, join: undefined, bindError: binder.error }
        }
        const join = store.info(link.codec.table, link.codec)
        const joinBinder = new Binder(link.codec, join, sqlOf(operation))
        const wanted = new Set(keys.map((k) => canonical(join.comparable(link.parentField, joinBinder.encoded(link.parentField, k)))))
        return { related, wanted, join, bindError: binder.error ?? joinBinder.error }
      }),
      ({ bindError, join, related, wanted }) =>
        run({ write: false, bindError }, (s) => {
          const rows = runPlan(related, info, s.read(info).rows.values())
          const pairs: Array<readonly [unknown, StoredRow]> = []
          if (link._tag === "Field") {
            const field = link.field
            for (const row of rows) {
              const value = info.comparable(field, row[field])
              if (value !== null && wanted.has(canonical(value))) pairs.push([row[field], row])
            }
          } else {
            // The join rows' parents of each related key, in the join table's order.
            const parentsOf = new Map<string, Array<unknown>>()
            for (const joined of s.read(join!).rows.values()) {
              const parent = join!.comparable(link.parentField, joined[link.parentField])
              const target = join!.comparable(link.targetField, joined[link.targetField])
              if (parent === null || target === null || !wanted.has(canonical(parent))) continue
              const key = canonical(target)
              let parents = parentsOf.get(key)
              if (parents === undefined) parentsOf.set(key, parents = [])
              parents.push(joined[link.parentField])
            }
            for (const row of rows) {
              const value = info.comparable(link.key, row[link.key])
              for (const parent of value === null ? [] : parentsOf.get(canonical(value)) ?? []) pairs.push([parent, row])
            }
          }
          const skip = query.offset ?? 0
          const end = query.limit === undefined ? Infinity : skip + query.limit
          const ranks = new Map<string, number>()
          const out: Array<readonly [unknown, Record<string, unknown>]> = []
          for (const [parent, row] of pairs) {
            const key = canonical(link._tag === "Field" ? info.comparable(link.field, parent) : join!.comparable(link.parentField, parent))
            const rank = (ranks.get(key) ?? 0) + 1
            ranks.set(key, rank)
            if (rank > skip && rank <= end) out.push([copy(parent), copyRow(row)])
          }
          return out
        })
    ).pipe(Effect.map((pairs) => pairs.map(([parent, row]) => [parent, decode(row)] as const)))

  const exists: TableEngine["exists"] = (query) =>
    Effect.map(rowsOf(query, "exists", { first: true }), (rows) => rows.length > 0)

  // An aggregate runs over the table's filtered rows, or the query's rows
  // when it has ORDER BY / LIMIT / DISTINCT ON (a subquery on Postgres;
  // without one, Postgres ignores the ordering). It skips NULLs, and over
  // no values it is NULL.
  const aggregate: TableEngine["aggregate"] = (fn, field, query) =>
    Effect.map(rowsOf(query, fn, { ordered: needsSubquery(query) }), (rows) => {
      if (fn === "count") return rows.length
      const values = rows.map((row) => row[field!]).filter((v) => v !== null && v !== undefined)
      if (values.length === 0) return null
      if (fn === "min" || fn === "max") {
        let best = values[0]
        for (const v of values) {
          const c = compare(info.comparable(field!, v), info.comparable(field!, best))
          if (fn === "min" ? c < 0 : c > 0) best = v
        }
        return best
      }
      let sum = 0
      for (const v of values) sum += Number(info.comparable(field!, v))
      return fn === "sum" ? sum : sum / values.length
    })

  const stream: TableEngine["stream"] = (query) =>
    unwrapStream(Effect.map(select(query, {}, "stream"), Stream.fromIterable))

  // -- inserts ----------------------------------------------------------------

  // Columns an insert leaves out get their default: a generator or default
  // from the table definition, a serial or uuid for a Model.Generated key,
  // NULL for a nullable column. Anything else would be a guess.
  const encodeDefault = (field: string, value: unknown): unknown => {
    const encoded = codec.encodeField(field, value)
    if (Either.isRight(encoded)) return encoded.right
    if (Either.isRight(codec.decodeField(field, value))) return value
    return unsupported(`the default of column "${columns[field]}" of table "${table.name}" does not fit the model`)
  }
  const fillers = new Map<string, Filler>()
  for (const field of fields) {
    const generator = (table.generated as Record<string, Table.Generator | undefined>)[field]
    const defaults = table.defaults as Record<string, unknown>
    // int8 (bigserial) comes back from node-postgres as text.
    const serial: Filler = info.kind(field) === "numeric-text"
      ? (s) => String(s.nextSerial(table, field))
      : (s) => s.nextSerial(table, field)
    if (generator === "serial") fillers.set(field, serial)
    else if (generator === "uuid") fillers.set(field, () => randomUUID())
    else if (typeof generator === "function") fillers.set(field, () => encodeDefault(field, generator()))
    else if (field in defaults) {
      const value = defaults[field]
      fillers.set(field, () => encodeDefault(field, typeof value === "function" ? (value as () => unknown)() : value))
    } else if (
      !codec.insertFields.includes(field) &&
      (Either.isRight(codec.decodeField(field, 1)) || info.kind(field) === "numeric-text")
    ) {
      fillers.set(field, serial)
    } else if (!codec.insertFields.includes(field) && Either.isRight(codec.decodeField(field, randomUUID()))) {
      fillers.set(field, () => randomUUID())
    } else if (Either.isRight(codec.decodeField(field, null))) {
      fillers.set(field, () => null)
    } else {
      fillers.set(field, () =>
        unsupported(
          `column "${columns[field]}" of table "${table.name}" gets no value and has no known default; ` +
            "declare one in Table.make's `defaults` or `generated`"
        ))
    }
  }

  const prepareInsert = (encoded: Encoded, binder: Binder): Prepared => {
    const set = codec.insertFields.filter((f) => encoded[f] !== undefined)
    const values: Record<string, unknown> = {}
    for (const field of set) if (field in columns) values[field] = binder.encoded(field, encoded[field])
    return { columns: set, values }
  }

  /** The row as stored: the insert's values, and defaults for the rest (a sequence value is used up even if the insert then fails). */
  const complete = (prepared: Prepared): Record<string, unknown> => {
    const row: Record<string, unknown> = {}
    for (const field of fields) {
      row[field] = field in prepared.values ? prepared.values[field] : fillers.get(field)!(store)
    }
    return row
  }

  const insert: TableEngine["insert"] = (encoded) =>
    Effect.suspend(() => {
      const binder = new Binder(codec, info, sqlOf("insert"))
      const prepared = prepareInsert(encoded, binder)
      return run({ write: true, bindError: binder.error }, (s) => {
        const stored = complete(prepared)
        put(s, s.write(info), stored, undefined)
        return decode(copyRow(stored))
      })
    })

  const insertMany: TableEngine["insertMany"] = (rows, returning, operation) =>
    Effect.suspend(() => {
      const binder = new Binder(codec, info, sqlOf(operation), store)
      // Rows are grouped by the columns they set, as the PostgreSQL engine
      // sends one statement per group; serial values are taken group by group.
      const groups = new Map<string, { columns: ReadonlyArray<string>; at: Array<number>; rows: Array<Prepared> }>()
      for (let i = 0; i < rows.length; i++) {
        const prepared = prepareInsert(rows[i]!, binder)
        const key = prepared.columns.join(",")
        let group = groups.get(key)
        if (group === undefined) groups.set(key, group = { columns: prepared.columns, at: [], rows: [] })
        group.at.push(i)
        group.rows.push(prepared)
      }
      const first = [...groups.values()][0]!
      // Several statements run in a nested transaction on Postgres, whose
      // failure does not abort the surrounding transaction.
      const single = groups.size === 1 && first.rows.length * Math.max(1, first.columns.length) <= MAX_PARAMETERS
      return run({ write: true, bindError: binder.error, savepoint: !single }, (s) => {
        const state = s.write(info)
        const out = new Array<unknown>(returning ? rows.length : 0)
        for (const group of groups.values()) {
          group.rows.forEach((prepared, k) => {
            const row = complete(prepared)
            put(s, state, row, undefined)
            if (returning) out[group.at[k]!] = copyRow(row)
          })
        }
        return out
      })
    }).pipe(Effect.map((stored) => stored.map((row) => decode(row as Record<string, unknown>))))

  // The declared key an ON CONFLICT target names. Postgres would also
  // accept a unique index the table definition does not declare; the fake
  // cannot know about it.
  const arbiter = (target: ConflictTarget): Key => {
    if (target.constraint !== undefined) return info.keys.find((k) => k.constraint === target.constraint)!
    const wanted = [...target.fields].sort().join(",")
    const key = info.keys.find((k) => [...k.fields].sort().join(",") === wanted)
    if (key === undefined) {
      return unsupported(
        `upsert onConflict (${target.fields.join(", ")}) on table "${table.name}", ` +
          "which is not its primary key or a unique key declared in Table.make"
      )
    }
    return key
  }

  const upsert: TableEngine["upsert"] = (encoded, target, assigned, bump) =>
    Effect.gen(function*() {
      const binder = new Binder(codec, info, sqlOf("upsert"))
      const prepared = prepareInsert(encoded, binder)
      const key = yield* Effect.try({ try: () => arbiter(target), catch: (e) => e as Unsupported }).pipe(Effect.orDie)
      const stored = yield* run({ write: true, bindError: binder.error }, (s) => {
        const state = s.write(info)
        const proposed = complete(prepared)
        const entry = info.keyOf(proposed, key)
        const existingPk = entry === undefined
          ? undefined
          : key === info.keys[0]
          ? (state.rows.has(entry) ? entry : undefined)
          : state.indexes[info.keys.indexOf(key) - 1]!.get(entry)
        if (existingPk === undefined) {
          put(s, state, proposed, undefined)
          return copyRow(proposed)
        }
        const existing = state.rows.get(existingPk)!
        // DO NOTHING: the row that is there is the answer.
        if (assigned.length === 0) return copyRow(existing)
        const next: Record<string, unknown> = { ...existing }
        for (const field of assigned) next[field] = proposed[field]
        if (bump) next[versionField!] = Number(existing[versionField!]) + 1
        put(s, state, next, existingPk)
        return copyRow(next)
      })
      return decode(stored)
    })

  // -- updates and deletes ----------------------------------------------------

  // column + n on the stored (encoded) value, which keeps its form: a
  // number stays a number, a numeric string a string; NULL stays NULL.
  const incremented = (current: unknown, by: number): unknown => {
    if (current === null || current === undefined) return current
    const sum = Number(current) + by
    return typeof current === "string" ? String(sum) : sum
  }

  const applySet = (row: StoredRow, set: SetClause) => {
    const next: Record<string, unknown> = { ...row }
    for (const [field, value] of set.assignments) {
      next[field] = isIncrement(value) ? incremented(row[field], value.by) : copy(value)
    }
    if (set.bump) next[versionField!] = Number(row[versionField!]) + 1
    return next
  }

  // The SET's values bound as parameters, in the order the PostgreSQL
  // engine sends them.
  const bindSet = (set: SetClause, binder: Binder): SetClause => ({
    assignments: set.assignments.map(([field, value]) => [field, isIncrement(value) ? value : binder.encoded(field, value)]),
    bump: set.bump
  })

  // The rows a write touches: one by key, or the query's rows (with the
  // PostgreSQL engine's primary-key subquery when it has ORDER BY / LIMIT
  // / DISTINCT ON).
  type Selection = { readonly pk: string } | { readonly plan: Plan }
  const selection = (target: Target, binder: Binder): Selection => {
    if (target._tag === "Key") return { pk: info.pkValue(bindKey(binder, target.key)) }
    const { query } = target
    const subquery = needsSubquery(query)
    const filter = effectiveFilter(codec, query)
    return {
      plan: {
        filter: filter === undefined ? undefined : compileFilter(binder, filter),
        order: subquery ? compileOrder(codec, info, effectiveOrder(query)) : undefined,
        distinctOn: subquery ? query.distinctOn : undefined,
        limit: subquery ? query.limit : undefined,
        offset: subquery ? query.offset : undefined
      }
    }
  }
  const matches = (target: Target, state: TableState, chosen: Selection): Array<StoredRow> => {
    if ("plan" in chosen) {
      const rows = runPlan(chosen.plan, info, state.rows.values())
      return target._tag === "Query" && target.alive ? rows.filter((row) => row[softField!] === null) : rows
    }
    const row = state.rows.get(chosen.pk)
    if (row === undefined || target._tag !== "Key") return []
    if (target.state === "alive" && !visible(row)) return []
    if (target.state === "deleted" && row[softField!] === null) return []
    if (target.version !== undefined && row[versionField!] !== target.version) return []
    return [row]
  }

  const update: TableEngine["update"] = (target, set, returning, operation) =>
    Effect.flatMap(
      compile(() => {
        const binder = new Binder(codec, info, sqlOf(operation), store)
        const bound = bindSet(set, binder)
        return { bound, chosen: selection(target, binder), bindError: binder.error }
      }),
      ({ bindError, bound, chosen }) =>
        run({ write: true, bindError }, (s) => {
          const state = s.write(info)
          const targets = matches(target, state, chosen)
          const rows: Array<Record<string, unknown>> = []
          for (const row of targets) {
            const next = applySet(row, bound)
            put(s, state, next, info.pkOf(row))
            if (returning) rows.push(copyRow(next))
          }
          return { count: targets.length, rows: rows.map(decode) }
        })
    )

  const remove: TableEngine["delete"] = (target, operation) =>
    Effect.flatMap(
      compile(() => {
        const binder = new Binder(codec, info, sqlOf(operation), store)
        return { chosen: selection(target, binder), bindError: binder.error }
      }),
      ({ bindError, chosen }) =>
        run({ write: true, bindError }, (s) => {
          const state = s.write(info)
          const targets = matches(target, state, chosen)
          for (const row of targets) s.set(state, info.pkOf(row)!, undefined)
          return targets.length
        })
    )

  const versionOf: TableEngine["versionOf"] = (key) =>
    Effect.suspend(() => {
      const binder = new Binder(codec, info, sqlOf("update"))
      const pk = info.pkValue(bindKey(binder, key))
      return run({ write: false }, (s) => {
        const row = s.read(info).rows.get(pk)
        return row !== undefined && visible(row) ? row[versionField!] : undefined
      })
    })

  const raw: TableEngine["raw"] = (sqlStatement) =>
    Effect.suspend(() => {
      let text = "a statement"
      try {
        text = sqlStatement.compile()[0]
      } catch {
        // A statement that cannot compile without a client is still named in general terms.
      }
      return Effect.die(new Unsupported(`raw SQL (${text})`))
    })

  return {
    findByKey,
    findByKeys,
    select,
    selectRelated,
    exists,
    aggregate,
    stream,
    insert,
    insertMany,
    upsert,
    update,
    delete: remove,
    versionOf,
    raw
  }
}
