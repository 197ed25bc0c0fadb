import type { Statement as SqlStatement } from "@effect/sql/Statement"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Stream from "effect/Stream"
import type pg from "pg"
import * as DatabaseError from "../DatabaseError.js"
import * as Query from "../Query.js"
import * as Repository from "../Repository.js"
import type * as Table from "../Table.js"
import { type Codec, makeCodec, quote } from "./codec.js"
import type { DecodedResult, Statement } from "./driver.js"
import { finishPage, planPage } from "./keyset.js"
import {
  batchSizeOf,
  checkConflictTarget,
  checkConflictUpdate,
  checkNumericField,
  checkPatch,
  checkQuery,
  checkRows,
  compile as compileFor,
  compileThen as compileThenFor,
  EncodeFailure,
  effectiveFilter,
  effectiveOrder,
  expectedVersionOf,
  incrementBy,
  MAX_PARAMETERS,
  needsSubquery,
  softDeletable
} from "./plan.js"
import { keysSubquery, limitClause, orderClause, Params, selectSql, whereClause } from "./sql.js"
import { withSpan } from "./tracing.js"

/** @internal What a live repository runs on. */
export interface LiveBackend {
  readonly execute: (statement: Statement) => Effect.Effect<pg.QueryResult, DatabaseError.DatabaseError>
  readonly stream: (statement: Statement, batchSize: number) => Stream.Stream<any, DatabaseError.DatabaseError>
  readonly transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | DatabaseError.DatabaseError, R>
}

// Prepared-statement names: one per distinct SQL text, shared by every
// connection (each connection prepares a name once, on first use).
const statementNames = new Map<string, string>()
const MAX_NAMED_STATEMENTS = 10_000
const nameFor = (text: string): string | undefined => {
  let name = statementNames.get(text)
  if (name === undefined && statementNames.size < MAX_NAMED_STATEMENTS) {
    name = `effect_dal_${statementNames.size + 1}`
    statementNames.set(text, name)
  }
  return name
}

const fromEither = <A>(either: Either.Either<A, ParseResult.ParseError>): Effect.Effect<A, ParseResult.ParseError> =>
  either._tag === "Right" ? Effect.succeed(either.right) : Effect.fail(either.left)

// Inside `compile`: a value that fails its schema stops compiling.
const orThrow = <A>(either: Either.Either<A, ParseResult.ParseError>): A => {
  if (either._tag === "Left") throw new EncodeFailure(either.left)
  return either.right
}

const toNumber = (value: unknown): Option.Option<number> =>
  value === null || value === undefined ? Option.none() : Option.some(typeof value === "number" ? value : Number(value))

interface ColumnType {
  readonly type: string
  readonly isArray: boolean
}

/** What a bulk insert needs to know of the table, read once from the catalog. */
interface Catalog {
  readonly types: Map<string, ColumnType>
  /**
   * `COPY FROM` does what INSERT would: a plain or partitioned table without
   * row-level security (COPY FROM refuses it) and without rules (COPY skips
   * them). Views and foreign tables take INSERT.
   */
  readonly copyable: boolean
}

/**
 * From this many rows, `insertManyDiscard` loads with `COPY FROM STDIN`: one
 * more round trip than an INSERT and no prepared statement, but no
 * statement to parse or plan and no arrays to unnest. Measured here, 100,000
 * rows load about 1.5 times faster than through unnest(); batches of 1,000
 * gain nothing under concurrency, so they keep the prepared INSERT.
 */
const COPY_MIN_ROWS = 5_000

/** @internal The repository of a table on PostgreSQL. */
export const makeLiveRepository = <T extends Table.Table<any, any>>(
  table: T,
  options: Repository.Options,
  backend: LiveBackend
): Repository.Repository<T> => {
  type Row = Table.Row<T>
  const codec: Codec = makeCodec(table)
  // Caller input that does not make a query of this table is an
  // InvalidQuery, a value that fails its schema a ParseError: both before
  // anything is sent.
  const compile = <A>(build: () => A) => compileFor(codec, build)
  const compileThen = <A, B, E, R>(build: () => A, then: (built: A) => Effect.Effect<B, E, R>) =>
    compileThenFor(codec, build, then)
  const cursorKey = options.cursorKey
  const name = table.qualifiedName
  const pkField = table.primaryKey as string
  const pk = quote(codec.column(pkField))
  const softField = table.softDelete as string | undefined
  const soft = softField === undefined ? undefined : quote(codec.column(softField))
  const versionField = table.version as string | undefined
  const version = versionField === undefined ? undefined : quote(codec.column(versionField))
  const updatedField = table.timestamps.updated as string | undefined
  const visible = soft === undefined ? "" : ` AND ${soft} IS NULL`
  const returning = ` RETURNING ${codec.selectList}`

  // Reading the clock is skipped for tables that keep no timestamps.
  const needsClock = !(updatedField === undefined && softField === undefined && table.timestamps.created === undefined)
  const clockMillis: Effect.Effect<number> = needsClock ? Clock.currentTimeMillis : Effect.succeed(0)

  // `f` with the time, read only for tables that keep timestamps; `f` must
  // return a lazy effect, since without a clock it is called at once.
  const withClock = <A, E, R>(f: (millis: number) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    needsClock ? Effect.flatMap(clockMillis, f) : f(0)

  // One wrapper per operation, made on first use: operations call `span`
  // on every invocation.
  const spans = new Map<string, <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>>()

  const span = (operation: string) => {
    let wrap = spans.get(operation)
    if (wrap === undefined) {
      wrap = withSpan(`${table.name}.${operation}`, {
        kind: "client",
        attributes: {
          "db.system.name": "postgresql",
          "db.collection.name": table.name,
          "db.operation.name": operation
        }
      })
      spans.set(operation, wrap)
    }
    return wrap
  }

  const run = (text: string, values: ReadonlyArray<unknown>) =>
    backend.execute({ text, values, name: nameFor(text) })

  // For statements that return `codec.selectList`: the driver builds the
  // rows with the model as they arrive (see `rowsOf`).
  const decode = codec.decodeValues
  const runRows = (text: string, values: ReadonlyArray<unknown>) =>
    backend.execute({ text, values, name: nameFor(text), decode })

  // A fixed statement returning `codec.selectList`, its prepared-statement
  // name looked up once.
  const preparedRows = (text: string) => {
    const statementName = nameFor(text)
    return (values: ReadonlyArray<unknown>) => backend.execute({ text, values, name: statementName, decode })
  }

  // The rows of a statement run with runRows or preparedRows, already
  // models. A row that did not fit the model is a defect, as in decodeRow.
  const rowsOf = (result: DecodedResult): ReadonlyArray<Row> => {
    if (result.decodeFailure !== undefined) throw result.decodeFailure
    return result.rows as Array<Row>
  }

  // A unique violation names its columns even when Postgres's detail
  // could not be parsed, if the table definition knows the constraint.
  const knownKeys = new Map<string, ReadonlyArray<string>>([
    [table.primaryKeyConstraint, [codec.column(pkField)]],
    ...table.uniqueKeys.map((k) => [k.constraint, k.fields.map((f: string) => codec.column(f))] as const)
  ])
  const enrich = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.mapError(effect, (error) =>
      error instanceof DatabaseError.UniqueViolation && error.columns.length === 0 && knownKeys.has(error.constraint)
        ? new DatabaseError.UniqueViolation({ ...error, columns: knownKeys.get(error.constraint)! }) as E
        : error)

  const encodeId = (id: unknown) => fromEither(codec.encodeField(pkField, id))
  const notFound = (id: unknown) => new DatabaseError.NotFound({ table: table.name, key: id })

  // -- reads ------------------------------------------------------------------

  // Reads by key are the hottest path: one statement prepared once per
  // connection, its name computed once, and no span inside another.
  const byKey = preparedRows(`SELECT ${codec.selectList} FROM ${name} WHERE ${pk} = $1${visible}`)
  const selectByKey = (id: Table.Id<T>): Effect.Effect<pg.QueryResult, DatabaseError.DatabaseError | ParseResult.ParseError> => {
    const key = codec.encodeField(pkField, id)
    return key._tag === "Left" ? Effect.fail(key.left) : byKey([key.right])
  }
  const firstRow = (result: pg.QueryResult) => {
    const rows = rowsOf(result)
    return rows.length === 0 ? Option.none<Row>() : Option.some(rows[0]!)
  }
  const spanFindById = span("findById")
  const spanGetById = span("getById")
  const findById = (id: Table.Id<T>) => spanFindById(Effect.map(Effect.suspend(() => selectByKey(id)), firstRow))
  const getById = (id: Table.Id<T>) =>
    spanGetById(Effect.flatMap(Effect.suspend(() => selectByKey(id)), (result) => {
      const rows = rowsOf(result)
      return rows.length === 0 ? Effect.fail(notFound(id)) : Effect.succeed(rows[0]!)
    }))

  const everything = Query.make<Row>()
  const orAll = (query: Query.Query<Row> | undefined): Query.Query<Row> => query ?? everything

  // `first`: at most one row (findOne, exists), fewer if the query's own
  // limit is 0.
  const select = (query: Query.Query<Row> | undefined, first?: boolean) =>
    compile(() => {
      const checked = checkQuery<Row>(codec, orAll(query))
      const params = new Params()
      const text = selectSql(codec, checked, params, { limit: first ? Math.min(checked.limit ?? 1, 1) : undefined })
      return { text, values: params.values }
    })

  const findMany = (query?: Query.Query<Row>) =>
    select(query).pipe(
      Effect.flatMap(({ text, values }) => runRows(text, values)),
      Effect.map(rowsOf),
      span("findMany")
    )

  const findOne = (query?: Query.Query<Row>) =>
    select(query, true).pipe(
      Effect.flatMap(({ text, values }) => runRows(text, values)),
      Effect.map(firstRow),
      span("findOne")
    )

  // FROM clause for an aggregate: the table itself, or the query as a
  // subquery when it has ORDER BY / LIMIT / DISTINCT ON.
  const aggregateSql = (unchecked: Query.Query<Row> | undefined, expression: (column: string) => string, field?: unknown) =>
    compile(() => {
      const query = checkQuery<Row>(codec, orAll(unchecked))
      if (field !== undefined) checkNumericField(codec, field)
      const params = new Params()
      if (!needsSubquery(query)) {
        const column = field === undefined ? "*" : quote(codec.column(field as string))
        const text = `SELECT ${expression(column)} AS v FROM ${name}` +
          whereClause(codec, effectiveFilter(codec, query), params)
        return { text, values: params.values }
      }
      const inner = field === undefined ? "1 AS v" : `${quote(codec.column(field as string))} AS v`
      const text = `SELECT ${expression(field === undefined ? "*" : "v")} AS v FROM (SELECT ${
        query.distinctOn === undefined
          ? ""
          : `DISTINCT ON (${query.distinctOn.map((f) => quote(codec.column(f))).join(", ")}) `
      }${inner} FROM ${name}${whereClause(codec, effectiveFilter(codec, query), params)}${
        orderClause(codec, effectiveOrder(query))
      }${limitClause(query.limit, query.offset, params)}) AS q`
      return { text, values: params.values }
    })

  const count = (query?: Query.Query<Row>) =>
    aggregateSql(query, () => "count(*)").pipe(
      Effect.flatMap(({ text, values }) => run(text, values)),
      Effect.map((result) => Number(result.rows[0]!.v)),
      span("count")
    )

  const exists = (query?: Query.Query<Row>) =>
    select(query, true).pipe(
      Effect.flatMap(({ text, values }) => run(`SELECT EXISTS (${text}) AS v`, values)),
      Effect.map((result) => result.rows[0]!.v === true),
      span("exists")
    )

  const aggregate = (fn: "sum" | "avg" | "min" | "max") =>
  (field: Repository.NumericField<Row>, query?: Query.Query<Row>) =>
    aggregateSql(query, (column) => `${fn}(${column})`, field).pipe(
      Effect.flatMap(({ text, values }) => run(text, values)),
      Effect.map((result) => toNumber(result.rows[0]!.v)),
      span(fn)
    )

  const paginate = (
    query: Query.Query<Row>,
    pageOptions: { readonly limit: number; readonly after?: string | undefined }
  ) =>
    planPage(codec, query, pageOptions, cursorKey).pipe(
      Effect.flatMap((page) =>
        compileThen(() => {
          const params = new Params()
          const text = selectSql(codec, page.query, params, { extra: page.after, limit: page.limit })
          return { text, values: params.values }
        }, ({ text, values }) => Effect.map(runRows(text, values), (result) => finishPage(codec, page, rowsOf(result), cursorKey)))
      ),
      span("paginate")
    )

  const stream = (query?: Query.Query<Row>, streamOptions?: { readonly batchSize?: number | undefined }) =>
    Stream.unwrap(
      compileThen(
        () => batchSizeOf(options.streamBatchSize, streamOptions),
        (batchSize) => Effect.map(select(query), (statement) => ({ ...statement, batchSize }))
      ).pipe(
        Effect.map(({ batchSize, text, values }) =>
          // Rows come as values and are decoded a batch at a time.
          backend.stream({ text, values, rowMode: "array", decode }, batchSize) as Stream.Stream<Row, DatabaseError.DatabaseError>
        )
      )
    ).pipe(Stream.withSpan(`${table.name}.stream`, {
      kind: "client",
      attributes: { "db.system.name": "postgresql", "db.collection.name": table.name, "db.operation.name": "stream" },
      captureStackTrace: false
    }))

  // -- writes -----------------------------------------------------------------

  const insertSqlCache = new Map<string, string>()
  const insertSql = (columns: ReadonlyArray<string>, rowCount: number, withReturning: boolean) => {
    const key = `${columns.join(",")}|${rowCount}|${withReturning}`
    let text = insertSqlCache.get(key)
    if (text === undefined) {
      let n = 0
      const tuples: Array<string> = []
      for (let r = 0; r < rowCount; r++) tuples.push(`(${columns.map(() => `$${++n}`).join(", ")})`)
      text = `INSERT INTO ${name} (${columns.map((f) => quote(codec.column(f))).join(", ")}) VALUES ${tuples.join(", ")}${
        withReturning ? returning : ""
      }`
      if (insertSqlCache.size < 1_000) insertSqlCache.set(key, text)
    }
    return text
  }

  // An encoded insert row: the columns it sets (fields left undefined take
  // the column's default), their values, and, for tables of up to 30
  // insert fields, which fields they are as a bit set (see
  // `insertOneStatement`).
  const insertFields = codec.insertFields
  const hasFieldSets = insertFields.length <= 30
  const encodeInsert = (row: Table.Insert<T>, now: number) =>
    Either.map(codec.encodeInsert(row, now), (encoded) => {
      const columns: Array<string> = []
      const values: Array<unknown> = []
      let set = 0
      for (let i = 0; i < insertFields.length; i++) {
        const value = encoded[insertFields[i]!]
        if (value === undefined) continue
        columns.push(insertFields[i]!)
        values.push(value)
        set |= 1 << i
      }
      return { columns, values, set: hasFieldSets ? set : undefined }
    })

  // The single-row INSERT ... RETURNING and its statement name, looked up by
  // the bit set of its columns rather than by a key string built on every
  // call; wider tables go through insertSql's own cache.
  const insertOneStatements = new Map<number, { readonly text: string; readonly name: string | undefined }>()
  const insertOneStatement = (columns: ReadonlyArray<string>, set: number | undefined) => {
    const cached = set === undefined ? undefined : insertOneStatements.get(set)
    if (cached !== undefined) return cached
    const text = insertSql(columns, 1, true)
    const statement = { text, name: nameFor(text) }
    if (set !== undefined) insertOneStatements.set(set, statement)
    return statement
  }

  const insert = (row: Table.Insert<T>) =>
    Effect.flatMap(clockMillis, (now): Effect.Effect<Row, DatabaseError.DatabaseError | ParseResult.ParseError> => {
      const encoded = encodeInsert(row, now)
      if (encoded._tag === "Left") return Effect.fail(encoded.left)
      const { columns, set, values } = encoded.right
      const { name: statementName, text } = insertOneStatement(columns, set)
      return Effect.map(backend.execute({ text, values, name: statementName, decode }), (result) => rowsOf(result)[0]!)
    }).pipe(enrich, span("insert"))

  // Column types, read once from the catalog, let a bulk insert send one
  // array per column through unnest(): a constant statement text however
  // many rows, and no parameter limit.
  let catalog: Catalog | undefined
  const loadCatalog = Effect.suspend(() =>
    catalog !== undefined
      ? Effect.succeed(catalog)
      : run(
        `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typcategory = 'A' AS is_array,
                c.relkind IN ('r', 'p') AND NOT c.relrowsecurity AND NOT c.relhasrules AS copyable
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN pg_class c ON c.oid = a.attrelid
         WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
        [name]
      ).pipe(Effect.map((result) => {
        catalog = {
          types: new Map(result.rows.map((r) => [r.name as string, { type: r.type as string, isArray: r.is_array as boolean }])),
          copyable: result.rows.length > 0 && result.rows[0].copyable === true
        }
        return catalog
      }))
  )

  // Rows that set the same columns, kept as one array per column (what
  // unnest() takes), with each row's position in the caller's list.
  interface Group {
    readonly columns: ReadonlyArray<string>
    readonly values: Array<Array<unknown>>
    readonly at: Array<number>
  }

  // Every row is encoded (and may fail) before any SQL is sent.
  const groupRows = (rows: ReadonlyArray<Table.Insert<T>>, now: number): Array<Group> => {
    const fields = codec.insertFields
    // Which fields a row sets, as a bit mask (a string past 30 fields).
    const small = fields.length <= 30
    const byColumns = new Map<number | string, Group>()
    for (let i = 0; i < rows.length; i++) {
      const encoded = orThrow(codec.encodeInsert(rows[i], now))
      let mask = 0
      let key = ""
      for (let f = 0; f < fields.length; f++) {
        const set = encoded[fields[f]!] !== undefined
        if (small) mask |= set ? 1 << f : 0
        else key += set ? "1" : "0"
      }
      const groupKey = small ? mask : key
      let group = byColumns.get(groupKey)
      if (group === undefined) {
        const columns = fields.filter((f) => encoded[f] !== undefined)
        group = { columns, values: columns.map(() => []), at: [] }
        byColumns.set(groupKey, group)
      }
      const { columns, values } = group
      for (let c = 0; c < columns.length; c++) values[c]!.push(encoded[columns[c]!])
      group.at.push(i)
    }
    return [...byColumns.values()]
  }

  // unnest() takes one array per column, so a group is one statement
  // whatever its size, unless a column is itself an array (unnest would
  // flatten it) or there are no columns: then multi-row VALUES, in chunks
  // under the parameter limit.
  const unnestTypes = (group: Group, { types }: Catalog): ReadonlyArray<string> | undefined => {
    if (group.columns.length === 0) return undefined
    const typed: Array<string> = []
    for (const f of group.columns) {
      const t = types.get(codec.column(f))
      if (t === undefined || t.isArray) return undefined
      typed.push(t.type)
    }
    return typed
  }
  const perStatement = (group: Group) => Math.max(1, Math.floor(MAX_PARAMETERS / Math.max(1, group.columns.length)))
  const copies = (group: Group, catalog: Catalog, withReturning: boolean) =>
    !withReturning && catalog.copyable && group.columns.length > 0 && group.at.length >= COPY_MIN_ROWS
  const statementCount = (group: Group, catalog: Catalog, withReturning: boolean) =>
    copies(group, catalog, withReturning) || unnestTypes(group, catalog) !== undefined
      ? 1
      : group.columns.length === 0
      ? group.at.length
      : Math.ceil(group.at.length / perStatement(group))

  const insertGroup = (
    group: Group,
    catalog: Catalog,
    withReturning: boolean
  ): Effect.Effect<ReadonlyArray<pg.QueryResult>, DatabaseError.DatabaseError> => {
    const { at, columns, values } = group
    if (copies(group, catalog, withReturning)) {
      // Not prepared: COPY takes no parameters, and each text is sent once.
      const text = `COPY ${name} (${columns.map((f) => quote(codec.column(f))).join(", ")}) FROM STDIN`
      return Effect.map(backend.execute({ text, values: [], copyIn: { columns: values, rows: at.length } }), (result) => [result])
    }
    // With RETURNING, the driver builds the returned rows as they arrive.
    const exec = withReturning ? runRows : run
    const typed = unnestTypes(group, catalog)
    if (typed !== undefined) {
      const text = `INSERT INTO ${name} (${columns.map((f) => quote(codec.column(f))).join(", ")}) SELECT * FROM unnest(${
        typed.map((type, i) => `$${i + 1}::${type}[]`).join(", ")
      })${withReturning ? returning : ""}`
      return Effect.map(exec(text, values), (result) => [result])
    }
    if (columns.length === 0) {
      const text = `INSERT INTO ${name} DEFAULT VALUES${withReturning ? returning : ""}`
      return Effect.forEach(at, () => exec(text, []))
    }
    const size = perStatement(group)
    const chunks: Array<Array<unknown>> = []
    for (let start = 0; start < at.length; start += size) {
      const end = Math.min(at.length, start + size)
      const flat: Array<unknown> = []
      for (let r = start; r < end; r++) for (let c = 0; c < columns.length; c++) flat.push(values[c]![r])
      chunks.push(flat)
    }
    return Effect.forEach(chunks, (flat) => exec(insertSql(columns, flat.length / columns.length, withReturning), flat))
  }

  const insertRows = (input: ReadonlyArray<Table.Insert<T>>, withReturning: boolean) =>
    Effect.gen(function*() {
      const rows = yield* compile(() => checkRows(input))
      if (rows.length === 0) return []
      const now = yield* clockMillis
      const groups = yield* compile(() => groupRows(rows, now))
      const catalog = yield* loadCatalog
      const work = Effect.forEach(groups, (group) =>
        Effect.map(insertGroup(group, catalog, withReturning), (results) => ({ group, results })))
      // Several statements are one unit: all rows or none.
      const statements = groups.reduce((n, group) => n + statementCount(group, catalog, withReturning), 0)
      const outcome = yield* (statements === 1 ? work : backend.transaction(work))
      if (!withReturning) return []
      const out = new Array<Row>(rows.length)
      for (const { group, results } of outcome) {
        let k = 0
        for (const result of results) {
          for (const row of rowsOf(result)) out[group.at[k++]!] = row
        }
      }
      return out
    }).pipe(enrich)

  const insertMany = (rows: ReadonlyArray<Table.Insert<T>>) => insertRows(rows, true).pipe(span("insertMany"))
  const insertManyDiscard = (rows: ReadonlyArray<Table.Insert<T>>) =>
    Effect.asVoid(insertRows(rows, false)).pipe(span("insertManyDiscard"))

  const upsert = (row: Table.Insert<T>, upsertOptions: Repository.UpsertOptions<Table.FieldName<T["model"]>>) =>
    Effect.gen(function*() {
      // The target is a list of the table's fields or a key it declares:
      // nothing else is written into ON CONFLICT.
      const { target, mode } = yield* compile(() => ({
        target: checkConflictTarget(codec, upsertOptions?.onConflict),
        mode: checkConflictUpdate(codec, upsertOptions?.update)
      }))
      const now = yield* clockMillis
      const { columns, values } = yield* fromEither(encodeInsert(row, now))
      const keyFields = target.fields
      const conflict = target.constraint === undefined
        ? `(${keyFields.map((f) => quote(codec.column(f))).join(", ")})`
        : `ON CONSTRAINT ${quote(target.constraint)}`
      // The key, the created timestamp and the version keep their values;
      // the version is bumped below.
      const keep = new Set([...keyFields, pkField, table.timestamps.created as string | undefined, versionField])
      const set = mode === "nothing"
        ? []
        : mode === "all"
        ? columns.filter((f) => !keep.has(f))
        : mode.filter((f) => columns.includes(f) && f !== versionField)
      const assignments = set.map((f) => `${quote(codec.column(f))} = EXCLUDED.${quote(codec.column(f))}`)
      if (assignments.length > 0) {
        if (updatedField !== undefined && columns.includes(updatedField) && !set.includes(updatedField)) {
          assignments.push(`${quote(codec.column(updatedField))} = EXCLUDED.${quote(codec.column(updatedField))}`)
        }
        if (version !== undefined) assignments.push(`${version} = ${name}.${version} + 1`)
      }
      const insertText = insertSql(columns, 1, false)
      const action = assignments.length === 0 ? "DO NOTHING" : `DO UPDATE SET ${assignments.join(", ")}`
      const text = `${insertText} ON CONFLICT ${conflict} ${action}${returning}`
      const result = yield* run(text, values)
      if (result.rows.length > 0) return codec.decodeRow(result.rows[0]) as Row
      // DO NOTHING hit a conflict: the row that is there is the answer.
      const encoded = yield* fromEither(codec.encodeInsert(row, now))
      const where = keyFields.map((f, i) => `${quote(codec.column(f))} = $${i + 1}`).join(" AND ")
      const existing = yield* run(
        `SELECT ${codec.selectList} FROM ${name} WHERE ${where}`,
        keyFields.map((f) => encoded[f])
      )
      if (existing.rows.length === 0) {
        return yield* Effect.dieMessage(`${table.name}.upsert: the conflicting row disappeared before it could be read`)
      }
      return codec.decodeRow(existing.rows[0]) as Row
    }).pipe(enrich, span("upsert"))

  // SET clause of an update: the patched fields, the updated timestamp, and
  // the version bump. Fields are taken in table order so the text is stable.
  // The SET of an update, compiled synchronously (a bad value throws an
  // EncodeFailure, turned into a ParseError by `compile`): the patched
  // fields in table order, the updated timestamp, and the version bump.
  const quotedColumns = new Map((table.fields as ReadonlyArray<string>).map((f) => [f, quote(codec.column(f))]))
  const setClause = (unchecked: unknown, now: number, params: Params): Array<string> => {
    const patch = checkPatch(unchecked)
    const assignments: Array<string> = []
    for (const field of table.fields as ReadonlyArray<string>) {
      const value = patch[field]
      if (value === undefined) continue
      const forbidden = codec.patchForbids(field, value)
      if (forbidden !== undefined) throw new EncodeFailure(forbidden)
      const column = quotedColumns.get(field)!
      if (Repository.isIncrement(value)) {
        assignments.push(`${column} = ${column} + ${params.add(incrementBy(field, value.by))}`)
        continue
      }
      assignments.push(`${column} = ${params.add(orThrow(codec.encodePatchField(field, value)))}`)
    }
    // A key that is not a field fails as a ParseError, like any bad input.
    for (const field of Object.keys(patch)) {
      if (!codec.isField(field)) orThrow(codec.encodePatchField(field, patch[field]))
    }
    if (updatedField !== undefined && patch[updatedField] === undefined) {
      const stamp = orThrow(codec.encodePatchField(updatedField, codec.nowFor(updatedField, now)))
      assignments.push(`${quote(codec.column(updatedField))} = ${params.add(stamp)}`)
    }
    if (version !== undefined) assignments.push(`${version} = ${version} + 1`)
    return assignments
  }


  const update = (
    id: Table.Id<T>,
    patch: Table.Patch<T>,
    updateOptions?: { readonly expectedVersion?: number | undefined }
  ) =>
    Effect.gen(function*() {
      const expected = yield* compile(() => expectedVersionOf(codec, updateOptions))
      const params = new Params()
      const assignments = yield* withClock((millis) => compile(() => setClause(patch as Record<string, unknown>, millis, params)))
      const key = yield* encodeId(id)
      if (assignments.length === 0) {
        const current = yield* findById(id)
        return yield* Option.match(current, { onNone: () => Effect.fail(notFound(id)), onSome: Effect.succeed })
      }
      let where = `${pk} = ${params.add(key)}${visible}`
      if (expected !== undefined) where += ` AND ${version} = ${params.add(expected)}`
      const result = yield* run(`UPDATE ${name} SET ${assignments.join(", ")} WHERE ${where}${returning}`, params.values)
      if (result.rows.length > 0) return codec.decodeRow(result.rows[0]) as Row
      if (expected === undefined) return yield* Effect.fail(notFound(id))
      // No row matched: tell a missing row from a stale version.
      const current = yield* run(`SELECT ${version} AS v FROM ${name} WHERE ${pk} = $1${visible}`, [key])
      if (current.rows.length === 0) return yield* Effect.fail(notFound(id))
      return yield* Effect.fail(
        new DatabaseError.StaleVersion({
          table: table.name,
          key: id,
          expectedVersion: expected,
          actualVersion: Number(current.rows[0]!.v)
        })
      )
    }).pipe(enrich, span("update"))

  // WHERE for a write over a query: the filter itself, or the query's
  // primary keys when it has ORDER BY / LIMIT / DISTINCT ON.
  const writeWhereSql = (unchecked: Query.Query<Row>, params: Params) => {
    const query = checkQuery<Row>(codec, unchecked)
    return needsSubquery(query)
      ? ` WHERE ${keysSubquery(codec, query, params)}`
      : whereClause(codec, effectiveFilter(codec, query), params)
  }
  const writeWhere = (query: Query.Query<Row>, params: Params) => compile(() => writeWhereSql(query, params))

  const updateMany = (query: Query.Query<Row>, patch: Table.Patch<T>) =>
    withClock((millis) =>
      compileThen(() => {
        const params = new Params()
        const assignments = setClause(patch as Record<string, unknown>, millis, params)
        if (assignments.length === 0) return undefined
        const where = writeWhereSql(query, params)
        return { text: `UPDATE ${name} SET ${assignments.join(", ")}${where}`, values: params.values }
      }, (statement) =>
        statement === undefined
          ? Effect.succeed(0)
          : Effect.map(run(statement.text, statement.values), (r) => r.rowCount ?? 0))
    ).pipe(enrich, span("updateMany"))

  const softDeleteSet = (now: number, params: Params) =>
    Effect.gen(function*() {
      const mark = yield* fromEither(codec.encodePatchField(softField!, codec.nowFor(softField!, now)))
      const sets = [`${soft} = ${params.add(mark)}`]
      if (updatedField !== undefined) {
        const stamp = yield* fromEither(codec.encodePatchField(updatedField, codec.nowFor(updatedField, now)))
        sets.push(`${quote(codec.column(updatedField))} = ${params.add(stamp)}`)
      }
      return sets.join(", ")
    })

  const hardDeleteSql = `DELETE FROM ${name} WHERE ${pk} = $1`
  const hardDelete = (id: Table.Id<T>) =>
    encodeId(id).pipe(
      Effect.flatMap((key) => run(hardDeleteSql, [key])),
      Effect.flatMap((result) => (result.rowCount ?? 0) === 0 ? Effect.fail(notFound(id)) : Effect.void),
      span("hardDelete")
    )

  const remove = (id: Table.Id<T>) =>
    soft === undefined
      ? hardDelete(id).pipe(span("delete"))
      : Effect.gen(function*() {
        const now = yield* clockMillis
        const params = new Params()
        const sets = yield* softDeleteSet(now, params)
        const key = yield* encodeId(id)
        const result = yield* run(`UPDATE ${name} SET ${sets} WHERE ${pk} = ${params.add(key)} AND ${soft} IS NULL`, params.values)
        if ((result.rowCount ?? 0) === 0) return yield* Effect.fail(notFound(id))
      }).pipe(span("delete"))

  const deleteMany = (query: Query.Query<Row>) =>
    Effect.gen(function*() {
      const params = new Params()
      if (soft === undefined) {
        const where = yield* writeWhere(query, params)
        return (yield* run(`DELETE FROM ${name}${where}`, params.values)).rowCount ?? 0
      }
      const now = yield* clockMillis
      const sets = yield* softDeleteSet(now, params)
      const where = yield* writeWhere(softDeletable(query), params)
      // Rows already deleted stay as they were.
      const alive = where === "" ? ` WHERE ${soft} IS NULL` : `${where} AND ${soft} IS NULL`
      return (yield* run(`UPDATE ${name} SET ${sets}${alive}`, params.values)).rowCount ?? 0
    }).pipe(span("deleteMany"))

  const restore = (id: Table.Id<T>) =>
    soft === undefined
      ? Effect.dieMessage(`${table.name}.restore: the table has no soft-delete field`)
      : Effect.gen(function*() {
        const now = yield* clockMillis
        const params = new Params()
        const cleared = yield* fromEither(codec.encodePatchField(softField!, codec.notDeleted))
        const sets = [`${soft} = ${params.add(cleared)}`]
        if (updatedField !== undefined) {
          const stamp = yield* fromEither(codec.encodePatchField(updatedField, codec.nowFor(updatedField, now)))
          sets.push(`${quote(codec.column(updatedField))} = ${params.add(stamp)}`)
        }
        const key = yield* encodeId(id)
        const result = yield* run(
          `UPDATE ${name} SET ${sets.join(", ")} WHERE ${pk} = ${params.add(key)} AND ${soft} IS NOT NULL${returning}`,
          params.values
        )
        if (result.rows.length === 0) return yield* Effect.fail(notFound(id))
        return codec.decodeRow(result.rows[0]) as Row
      }).pipe(enrich, span("restore"))

  const raw = (statement: SqlStatement<unknown>) =>
    Effect.suspend(() => {
      const [text, values] = statement.compile()
      return backend.execute({ text, values }).pipe(
        Effect.map((result) => result.rows.map(codec.decodeColumns) as Array<Row>)
      )
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
