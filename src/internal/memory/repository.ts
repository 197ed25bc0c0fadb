/**
 * The repository of a table on the in-memory database. Each method follows
 * the live repository (liveRepository.ts) step by step: the same encoding
 * (so bad input is the same ParseError, raised before any "SQL"), the same
 * statements in the same order (so a failing statement aborts the
 * transaction where Postgres would), and the same decoding of rows.
 */
import type { Statement as SqlStatement } from "@effect/sql/Statement"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import * as DatabaseError from "../../DatabaseError.js"
import * as Query from "../../Query.js"
import * as Repository from "../../Repository.js"
import type * as Table from "../../Table.js"
import { type Codec, makeCodec } from "../codec.js"
import { finishPage, planPage } from "../keyset.js"
import {
  batchSizeOf,
  checkConflictTarget,
  checkConflictUpdate,
  checkNumericField,
  checkPatch,
  checkQuery,
  checkRows,
  compile as compileFor,
  effectiveFilter,
  effectiveOrder,
  expectedVersionOf,
  incrementBy,
  MAX_PARAMETERS,
  needsSubquery,
  softDeletable
} from "../plan.js"
import { withSpan } from "../tracing.js"
import { Binder, compileFilter, compileOrder, type Plan, runPlan, type StoredRow } from "./evaluate.js"
import {
  fail,
  type Key,
  type MemoryStore,
  statement,
  type Statement,
  type StatementOptions,
  type TableInfo,
  type TableState,
  unsupported
} from "./store.js"
import { compare, copy, Unsupported } from "./values.js"

const fromEither = <A>(either: Either.Either<A, ParseResult.ParseError>): Effect.Effect<A, ParseResult.ParseError> =>
  either._tag === "Right" ? Effect.succeed(either.right) : Effect.fail(either.left)

const toNumber = (value: unknown): Option.Option<number> =>
  value === null || value === undefined ? Option.none() : Option.some(typeof value === "number" ? value : Number(value))

// A codec depends only on the table definition, and building one runs
// schema machinery for every field: unit tests make repositories often.
const codecs = new WeakMap<Table.Table<any, any>, Codec>()
const codecFor = (table: Table.Table<any, any>): Codec => {
  let codec = codecs.get(table)
  if (codec === undefined) codecs.set(table, codec = makeCodec(table))
  return codec
}

/** How a column that an insert leaves out gets its value. */
type Filler = (store: MemoryStore) => unknown

/** @internal The repository of a table on the in-memory database. */
export const makeMemoryRepository = <T extends Table.Table<any, any>>(
  table: T,
  options: Repository.Options,
  store: MemoryStore
): Repository.Repository<T> => {
  type Row = Table.Row<T>
  const codec: Codec = codecFor(table)
  // As on PostgreSQL (plan.ts): bad input is an InvalidQuery or a
  // ParseError before anything runs.
  const compile = <A>(build: () => A) => compileFor(codec, build)
  const cursorKey = options.cursorKey
  const info: TableInfo = store.info(table, codec)
  const fields = table.fields as ReadonlyArray<string>
  const pkField = table.primaryKey as string
  const softField = table.softDelete as string | undefined
  const versionField = table.version as string | undefined
  const updatedField = table.timestamps.updated as string | undefined
  const createdField = table.timestamps.created as string | undefined
  const columns = table.columns as Record<string, string>

  const span = (operation: string) => {
    const spanName = `${table.name}.${operation}`
    const attributes = {
      "db.system.name": "memory",
      "db.collection.name": table.name,
      "db.operation.name": operation
    }
    return withSpan(spanName, { kind: "client", attributes })
  }

  // Stands in for the SQL text in QueryErrors.
  const sqlOf = (operation: string) => `in-memory ${operation} on "${table.name}"`

  const run = <A>(options: StatementOptions, body: (statement: Statement) => A) => statement(store, options, body)

  const copyRow = (row: StoredRow): Record<string, unknown> => {
    const out: Record<string, unknown> = {}
    for (const field of fields) out[field] = copy(row[field])
    return out
  }
  // Statements hand out copies (copyRow), which decoding may change in place.
  const decode = (row: Record<string, unknown>): Row => codec.decodeRow(row) as Row
  const visible = (row: StoredRow) => softField === undefined || row[softField] === null

  const notFound = (id: unknown) => new DatabaseError.NotFound({ table: table.name, key: id })

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
          column: columns[pkField]!
        })
      )
    }
    const key = state.conflict(row, self)
    if (key !== undefined) return fail(uniqueViolation(key, row))
    if (self !== undefined && self !== pk) s.set(state, self, undefined)
    s.set(state, pk, row)
  }

  // -- keys -------------------------------------------------------------------

  const boundKey = (id: unknown, operation: string) =>
    Effect.map(fromEither(codec.encodeField(pkField, id)), (encoded) => {
      const binder = new Binder(codec, info, sqlOf(operation))
      const value = binder.encoded(pkField, encoded)
      return { pk: info.pkValue(value), bindError: binder.error }
    })

  // -- reads ------------------------------------------------------------------

  const findById = (id: Table.Id<T>) =>
    boundKey(id, "findById").pipe(
      Effect.flatMap(({ bindError, pk }) =>
        run({ write: false, bindError }, (s) => {
          const row = s.read(info).rows.get(pk)
          return row !== undefined && visible(row) ? copyRow(row) : undefined
        })
      ),
      Effect.map((row) => (row === undefined ? Option.none<Row>() : Option.some(decode(row)))),
      span("findById")
    )

  const getById = (id: Table.Id<T>) =>
    findById(id).pipe(
      Effect.flatMap(Option.match({ onNone: () => Effect.fail(notFound(id)), onSome: Effect.succeed })),
      span("getById")
    )

  const everything = Query.make<Row>()
  const orAll = (query: Query.Query<Row> | undefined): Query.Query<Row> => query ?? everything

  // A SELECT: DISTINCT ON, WHERE (with soft-delete visibility), ORDER BY,
  // LIMIT and OFFSET, compiled in the order the SQL compiler works in.
  interface SelectOptions {
    readonly extra?: Query.Expr | undefined
    readonly limit?: number | undefined
    /** At most one row (findOne, exists), fewer if the query's own limit is 0. */
    readonly first?: boolean
    readonly ordered?: boolean
    /** Checked already (paginate). */
    readonly checked?: boolean
  }
  const plan = (unchecked: Query.Query<Row> | undefined, operation: string, selectOptions: SelectOptions = {}) =>
    compile(() => {
      const query = selectOptions.checked ? unchecked! : checkQuery<Row>(codec, orAll(unchecked))
      const binder = new Binder(codec, info, sqlOf(operation))
      const filter = effectiveFilter(codec, query, selectOptions.extra)
      const result: Plan = {
        filter: filter === undefined ? undefined : compileFilter(binder, filter),
        order: selectOptions.ordered === false ? undefined : compileOrder(codec, info, effectiveOrder(query)),
        distinctOn: query.distinctOn,
        limit: selectOptions.first ? Math.min(query.limit ?? 1, 1) : selectOptions.limit ?? query.limit,
        offset: query.offset
      }
      return { plan: result, bindError: binder.error }
    })

  const select = (query: Query.Query<Row> | undefined, operation: string, selectOptions: SelectOptions = {}) =>
    Effect.flatMap(plan(query, operation, selectOptions), ({ bindError, plan }) =>
      run({ write: false, bindError }, (s) => runPlan(plan, info, s.read(info).rows.values()).map(copyRow)))

  const findMany = (query?: Query.Query<Row>) =>
    select(query, "findMany").pipe(
      Effect.map((rows) => rows.map(decode)),
      span("findMany")
    )

  const findOne = (query?: Query.Query<Row>) =>
    select(query, "findOne", { first: true }).pipe(
      Effect.map((rows) => (rows.length === 0 ? Option.none<Row>() : Option.some(decode(rows[0]!)))),
      span("findOne")
    )

  // The rows an aggregate runs over: the table's filtered rows, or the
  // query's rows when it has ORDER BY / LIMIT / DISTINCT ON (a subquery on
  // Postgres; without one, Postgres ignores the ordering).
  const aggregateRows = (query: Query.Query<Row> | undefined, operation: string, field?: unknown) =>
    Effect.flatMap(
      compile(() => {
        const checked = checkQuery<Row>(codec, orAll(query))
        if (field !== undefined) checkNumericField(codec, field)
        return checked
      }),
      (checked) => select(checked, operation, { ordered: needsSubquery(checked), checked: true })
    )

  const count = (query?: Query.Query<Row>) =>
    aggregateRows(query, "count").pipe(
      Effect.map((rows) => rows.length),
      span("count")
    )

  const exists = (query?: Query.Query<Row>) =>
    select(query, "exists", { first: true }).pipe(
      Effect.map((rows) => rows.length > 0),
      span("exists")
    )

  const aggregate = (fn: "sum" | "avg" | "min" | "max") =>
  (field: Repository.NumericField<Row>, query?: Query.Query<Row>) =>
    aggregateRows(query, fn, field).pipe(
      Effect.map((rows) => {
        // Aggregates skip NULLs; over no values they are NULL.
        const values = rows.map((row) => row[field]).filter((v) => v !== null && v !== undefined)
        if (values.length === 0) return Option.none<number>()
        if (fn === "min" || fn === "max") {
          let best = values[0]
          for (const v of values) {
            const c = compare(info.comparable(field, v), info.comparable(field, best))
            if (fn === "min" ? c < 0 : c > 0) best = v
          }
          return toNumber(best)
        }
        let sum = 0
        for (const v of values) sum += Number(info.comparable(field, v))
        return Option.some(fn === "sum" ? sum : sum / values.length)
      }),
      span(fn)
    )

  const paginate = (
    query: Query.Query<Row>,
    pageOptions: { readonly limit: number; readonly after?: string | undefined }
  ) =>
    planPage(codec, query, pageOptions, cursorKey).pipe(
      Effect.flatMap((page) =>
        Effect.map(
          select(page.query, "paginate", { extra: page.after, limit: page.limit, checked: true }),
          (rows) => finishPage(codec, page, rows.map(decode), cursorKey)
        )
      ),
      span("paginate")
    )

  const stream = (query?: Query.Query<Row>, streamOptions?: { readonly batchSize?: number | undefined }) =>
    Stream.unwrap(
      compile(() => batchSizeOf(options.streamBatchSize, streamOptions)).pipe(
        Effect.zipRight(select(query, "stream")),
        Effect.map((rows) => Stream.fromIterable(rows).pipe(Stream.map(decode)))
      )
    ).pipe(Stream.withSpan(`${table.name}.stream`, {
      kind: "client",
      attributes: { "db.system.name": "memory", "db.collection.name": table.name, "db.operation.name": "stream" },
      captureStackTrace: false
    }))

  // -- writes -----------------------------------------------------------------

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

  interface Prepared {
    /** Fields the insert sets (the live statement's columns), in insert-field order. */
    readonly columns: ReadonlyArray<string>
    readonly values: Record<string, unknown>
  }

  const prepareInsert = (row: Table.Insert<T>, now: number, binder: Binder) =>
    Either.map(codec.encodeInsert(row, now), (encoded): Prepared => {
      const set = codec.insertFields.filter((f) => encoded[f] !== undefined)
      const values: Record<string, unknown> = {}
      for (const field of set) if (field in columns) values[field] = binder.encoded(field, encoded[field])
      return { columns: set, values }
    })

  /** The row as stored: the insert's values, and defaults for the rest (a sequence value is used up even if the insert then fails). */
  const complete = (prepared: Prepared): Record<string, unknown> => {
    const row: Record<string, unknown> = {}
    for (const field of fields) {
      row[field] = field in prepared.values ? prepared.values[field] : fillers.get(field)!(store)
    }
    return row
  }

  const insert = (row: Table.Insert<T>) =>
    Clock.currentTimeMillis.pipe(
      Effect.flatMap((now) => {
        const binder = new Binder(codec, info, sqlOf("insert"))
        return Effect.flatMap(fromEither(prepareInsert(row, now, binder)), (prepared) =>
          run({ write: true, bindError: binder.error }, (s) => {
            const stored = complete(prepared)
            put(s, s.write(info), stored, undefined)
            return copyRow(stored)
          }))
      }),
      Effect.map(decode),
      span("insert")
    )

  const insertRows = (input: ReadonlyArray<Table.Insert<T>>, operation: string) =>
    Effect.gen(function*() {
      const rows = yield* compile(() => checkRows(input))
      if (rows.length === 0) return []
      const now = yield* Clock.currentTimeMillis
      const binder = new Binder(codec, info, sqlOf(operation))
      // Every row is encoded (and may fail) before anything is written. Rows
      // are grouped by the columns they set, as the live repository sends
      // one statement per group; serial values are taken group by group.
      const groups = new Map<string, { columns: ReadonlyArray<string>; at: Array<number>; rows: Array<Prepared> }>()
      for (let i = 0; i < rows.length; i++) {
        const prepared = yield* fromEither(prepareInsert(rows[i]!, now, binder))
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
      const stored = yield* run({ write: true, bindError: binder.error, savepoint: !single }, (s) => {
        const state = s.write(info)
        const out = new Array<Record<string, unknown>>(rows.length)
        for (const group of groups.values()) {
          group.rows.forEach((prepared, k) => {
            const row = complete(prepared)
            put(s, state, row, undefined)
            out[group.at[k]!] = copyRow(row)
          })
        }
        return out
      })
      return stored
    })

  const insertMany = (rows: ReadonlyArray<Table.Insert<T>>) =>
    insertRows(rows, "insertMany").pipe(Effect.map((stored) => stored.map(decode)), span("insertMany"))
  const insertManyDiscard = (rows: ReadonlyArray<Table.Insert<T>>) =>
    Effect.asVoid(insertRows(rows, "insertManyDiscard")).pipe(span("insertManyDiscard"))

  // The declared key an ON CONFLICT target (checked: the table's fields,
  // or a declared constraint) names. Postgres would also accept a unique
  // index the table definition does not declare; the fake cannot know
  // about it.
  const arbiter = (target: { readonly fields: ReadonlyArray<string>; readonly constraint: string | undefined }): Key => {
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

  const upsert = (row: Table.Insert<T>, upsertOptions: Repository.UpsertOptions<Table.FieldName<T["model"]>>) =>
    Effect.gen(function*() {
      const { mode, target } = yield* compile(() => ({
        target: checkConflictTarget(codec, upsertOptions?.onConflict),
        mode: checkConflictUpdate(codec, upsertOptions?.update)
      }))
      const now = yield* Clock.currentTimeMillis
      const binder = new Binder(codec, info, sqlOf("upsert"))
      const prepared = yield* fromEither(prepareInsert(row, now, binder))
      const key = yield* Effect.try({ try: () => arbiter(target), catch: (e) => e as Unsupported }).pipe(Effect.orDie)
      // As on Postgres (see liveRepository.ts): the key, the created
      // timestamp and the version keep their values; the version is bumped.
      const keep = new Set([...key.fields, pkField, createdField, versionField])
      const set = mode === "nothing"
        ? []
        : mode === "all"
        ? prepared.columns.filter((f) => !keep.has(f))
        : mode.filter((f) => prepared.columns.includes(f) && f !== versionField)
      const assigned = [...set]
      if (assigned.length > 0 && updatedField !== undefined && prepared.columns.includes(updatedField) && !set.includes(updatedField)) {
        assigned.push(updatedField)
      }
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
        if (versionField !== undefined) next[versionField] = Number(existing[versionField]) + 1
        put(s, state, next, existingPk)
        return copyRow(next)
      })
      return decode(stored)
    }).pipe(span("upsert"))

  // The SET of an update: patched fields in table order, the updated
  // timestamp, and the version bump; encoded with the update variant.
  const setClause = (unchecked: unknown, now: number, binder: Binder) =>
    Effect.gen(function*() {
      const patch = yield* compile(() => checkPatch(unchecked))
      const assignments: Array<readonly [string, unknown]> = []
      for (const field of fields) {
        if (!Object.hasOwn(patch, field) || patch[field] === undefined) continue
        const value = patch[field]
        const forbidden = codec.patchForbids(field, value)
        if (forbidden !== undefined) return yield* Effect.fail(forbidden)
        if (Repository.isIncrement(value)) {
          const by = yield* compile(() => incrementBy(field, value.by))
          assignments.push([field, Repository.increment(by)])
          continue
        }
        const encoded = yield* fromEither(codec.encodePatchField(field, value))
        assignments.push([field, binder.encoded(field, encoded)])
      }
      for (const field of Object.keys(patch)) {
        if (!codec.isField(field)) yield* fromEither(codec.encodePatchField(field, patch[field]))
      }
      if (updatedField !== undefined && patch[updatedField] === undefined) {
        const encoded = yield* fromEither(codec.encodePatchField(updatedField, codec.nowFor(updatedField, now)))
        assignments.push([updatedField, binder.encoded(updatedField, encoded)])
      }
      return { assignments, bump: versionField !== undefined }
    })

  // column + n on the stored (encoded) value, which keeps its form: a
  // number stays a number, a numeric string a string; NULL stays NULL.
  const incremented = (current: unknown, by: number): unknown => {
    if (current === null || current === undefined) return current
    const sum = Number(current) + by
    return typeof current === "string" ? String(sum) : sum
  }

  const applySet = (
    row: StoredRow,
    clause: { readonly assignments: ReadonlyArray<readonly [string, unknown]>; readonly bump: boolean }
  ) => {
    const next: Record<string, unknown> = { ...row }
    for (const [field, value] of clause.assignments) {
      next[field] = Repository.isIncrement(value) ? incremented(row[field], value.by) : copy(value)
    }
    if (clause.bump) next[versionField!] = Number(row[versionField!]) + 1
    return next
  }

  const update = (
    id: Table.Id<T>,
    patch: Table.Patch<T>,
    updateOptions?: { readonly expectedVersion?: number | undefined }
  ) =>
    Effect.gen(function*() {
      const expected = yield* compile(() => expectedVersionOf(codec, updateOptions))
      const now = yield* Clock.currentTimeMillis
      const binder = new Binder(codec, info, sqlOf("update"))
      const clause = yield* setClause(patch, now, binder)
      const encodedKey = yield* fromEither(codec.encodeField(pkField, id))
      if (clause.assignments.length === 0 && !clause.bump) {
        const current = yield* findById(id)
        return yield* Option.match(current, { onNone: () => Effect.fail(notFound(id)), onSome: Effect.succeed })
      }
      const pk = info.pkValue(binder.encoded(pkField, encodedKey))
      const updated = yield* run({ write: true, bindError: binder.error }, (s) => {
        const state = s.write(info)
        const row = state.rows.get(pk)
        if (row === undefined || !visible(row)) return undefined
        if (expected !== undefined && row[versionField!] !== expected) return undefined
        const next = applySet(row, clause)
        put(s, state, next, pk)
        return copyRow(next)
      })
      if (updated !== undefined) return decode(updated)
      if (expected === undefined) return yield* Effect.fail(notFound(id))
      // No row matched: tell a missing row from a stale version.
      const current = yield* run({ write: false }, (s) => {
        const row = s.read(info).rows.get(pk)
        return row !== undefined && visible(row) ? row[versionField!] : undefined
      })
      if (current === undefined) return yield* Effect.fail(notFound(id))
      return yield* Effect.fail(
        new DatabaseError.StaleVersion({ table: table.name, key: id, expectedVersion: expected, actualVersion: Number(current) })
      )
    }).pipe(span("update"))

  // The rows a write over a query touches: the filtered rows, or the
  // query's rows when it has ORDER BY / LIMIT / DISTINCT ON (the live
  // repository's primary-key subquery).
  const writePlan = (unchecked: Query.Query<Row>, binder: Binder) =>
    compile(() => {
      const query = checkQuery<Row>(codec, unchecked)
      const subquery = needsSubquery(query)
      const filter = effectiveFilter(codec, query)
      const result: Plan = {
        filter: filter === undefined ? undefined : compileFilter(binder, filter),
        order: subquery ? compileOrder(codec, info, effectiveOrder(query)) : undefined,
        distinctOn: subquery ? query.distinctOn : undefined,
        limit: subquery ? query.limit : undefined,
        offset: subquery ? query.offset : undefined
      }
      return result
    })

  const updateMany = (query: Query.Query<Row>, patch: Table.Patch<T>) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const binder = new Binder(codec, info, sqlOf("updateMany"))
      const clause = yield* setClause(patch, now, binder)
      if (clause.assignments.length === 0 && !clause.bump) return 0
      const selection = yield* writePlan(query, binder)
      return yield* run({ write: true, bindError: binder.error }, (s) => {
        const state = s.write(info)
        const targets = runPlan(selection, info, state.rows.values())
        for (const row of targets) put(s, state, applySet(row, clause), info.pkOf(row))
        return targets.length
      })
    }).pipe(span("updateMany"))

  const softDeleteSet = (now: number, binder: Binder) =>
    Effect.gen(function*() {
      const mark = yield* fromEither(codec.encodePatchField(softField!, codec.nowFor(softField!, now)))
      const assignments: Array<readonly [string, unknown]> = [[softField!, binder.encoded(softField!, mark)]]
      if (updatedField !== undefined) {
        const stamp = yield* fromEither(codec.encodePatchField(updatedField, codec.nowFor(updatedField, now)))
        assignments.push([updatedField, binder.encoded(updatedField, stamp)])
      }
      return { assignments, bump: false }
    })

  const hardDelete = (id: Table.Id<T>) =>
    boundKey(id, "hardDelete").pipe(
      Effect.flatMap(({ bindError, pk }) =>
        run({ write: true, bindError }, (s) => {
          const state = s.write(info)
          if (!state.rows.has(pk)) return 0
          s.set(state, pk, undefined)
          return 1
        })
      ),
      Effect.flatMap((deleted) => (deleted === 0 ? Effect.fail(notFound(id)) : Effect.void)),
      span("hardDelete")
    )

  const remove = (id: Table.Id<T>) =>
    softField === undefined
      ? hardDelete(id).pipe(span("delete"))
      : Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const binder = new Binder(codec, info, sqlOf("delete"))
        const clause = yield* softDeleteSet(now, binder)
        const encodedKey = yield* fromEither(codec.encodeField(pkField, id))
        const pk = info.pkValue(binder.encoded(pkField, encodedKey))
        const deleted = yield* run({ write: true, bindError: binder.error }, (s) => {
          const state = s.write(info)
          const row = state.rows.get(pk)
          if (row === undefined || row[softField] !== null) return 0
          put(s, state, applySet(row, clause), pk)
          return 1
        })
        if (deleted === 0) return yield* Effect.fail(notFound(id))
      }).pipe(span("delete"))

  const deleteMany = (query: Query.Query<Row>) =>
    Effect.gen(function*() {
      const binder = new Binder(codec, info, sqlOf("deleteMany"))
      if (softField === undefined) {
        const selection = yield* writePlan(query, binder)
        return yield* run({ write: true, bindError: binder.error }, (s) => {
          const state = s.write(info)
          const targets = runPlan(selection, info, state.rows.values())
          for (const row of targets) s.set(state, info.pkOf(row)!, undefined)
          return targets.length
        })
      }
      const now = yield* Clock.currentTimeMillis
      const clause = yield* softDeleteSet(now, binder)
      const selection = yield* writePlan(softDeletable(query), binder)
      return yield* run({ write: true, bindError: binder.error }, (s) => {
        const state = s.write(info)
        // Rows already deleted stay as they were.
        const targets = runPlan(selection, info, state.rows.values()).filter((row) => row[softField] === null)
        for (const row of targets) put(s, state, applySet(row, clause), info.pkOf(row))
        return targets.length
      })
    }).pipe(span("deleteMany"))

  const restore = (id: Table.Id<T>) =>
    softField === undefined
      ? Effect.dieMessage(`${table.name}.restore: the table has no soft-delete field`)
      : Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const binder = new Binder(codec, info, sqlOf("restore"))
        const cleared = yield* fromEither(codec.encodePatchField(softField, codec.notDeleted))
        const assignments: Array<readonly [string, unknown]> = [[softField, binder.encoded(softField, cleared)]]
        if (updatedField !== undefined) {
          const stamp = yield* fromEither(codec.encodePatchField(updatedField, codec.nowFor(updatedField, now)))
          assignments.push([updatedField, binder.encoded(updatedField, stamp)])
        }
        const encodedKey = yield* fromEither(codec.encodeField(pkField, id))
        const pk = info.pkValue(binder.encoded(pkField, encodedKey))
        const restored = yield* run({ write: true, bindError: binder.error }, (s) => {
          const state = s.write(info)
          const row = state.rows.get(pk)
          if (row === undefined || row[softField] === null) return undefined
          const next = applySet(row, { assignments, bump: false })
          put(s, state, next, pk)
          return copyRow(next)
        })
        if (restored === undefined) return yield* Effect.fail(notFound(id))
        return decode(restored)
      }).pipe(span("restore"))

  const raw = (sqlStatement: SqlStatement<unknown>) =>
    Effect.suspend(() => {
      let text = "a statement"
      try {
        text = sqlStatement.compile()[0]
      } catch {
        // A statement that cannot compile without a client is still named in general terms.
      }
      return Effect.die(new Unsupported(`raw SQL (${text})`))
    }).pipe(span("raw"))

  return {
    table,
    findById,
    getById,
    findOne,
    findMany,
    count,
    exists,
    sum: aggregate("sum"),
    avg: aggregate("avg"),
    min: aggregate("min"),
    max: aggregate("max"),
    paginate,
    stream,
    insert,
    insertMany,
    insertManyDiscard,
    upsert,
    update,
    updateMany,
    delete: remove,
    deleteMany,
    restore,
    hardDelete,
    raw
  }
}
