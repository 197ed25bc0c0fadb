/**
 * The PostgreSQL engine: each call of the repository core (engine.ts)
 * compiled to one statement with parameters, prepared once per connection
 * and run where the fiber is (its transaction, its pinned connection, or
 * the pool). Rows that return the table's columns are built as models by
 * the driver as they arrive.
 */
import type { Statement as SqlStatement } from "@effect/sql/Statement"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import type pg from "pg"
import type * as DatabaseError from "../../DatabaseError.js"
import type * as Table from "../../Table.js"
import type { Codec } from "../codec.js"
import { quote } from "../identifier.js"
import type { DecodedResult, Statement } from "./driver.js"
import type { Engine, IncludeStrategy, SetClause, TableEngine, Target } from "../engine.js"
import { isIncrement } from "../increment.js"
import { compile as compileFor, compileThen as compileThenFor, effectiveFilter, effectiveOrder, MAX_PARAMETERS, needsSubquery } from "../plan.js"
import { compileExpr, keysSubquery, limitClause, orderClause, Params, selectSql, whereClause } from "./sql.js"
import { arrayParameter } from "./arrayLiteral.js"
import type { TransactionOptions } from "../transaction.js"
import { ColumnParsers, treeDecoder, treeStatement } from "./tree.js"
import { channelOf, unwrapChannel, unwrapStream } from "../unwrap.js"

/** @internal What the PostgreSQL engine runs on. */
export interface Connection {
  readonly execute: (statement: Statement) => Effect.Effect<pg.QueryResult, DatabaseError.DatabaseError>
  readonly stream: (statement: Statement, batchSize: number) => Stream.Stream<any, DatabaseError.DatabaseError>
  /** The session (transaction level or pinned connection) a fiber with this context runs on. */
  readonly sessionOf: (context: Context.Context<never>) => unknown
  readonly transaction: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options?: TransactionOptions
  ) => Effect.Effect<A, E | DatabaseError.DatabaseError, R>
  readonly decorate?: Engine["decorate"]
}

/** @internal The PostgreSQL engine over a connection; includes are loaded with `includeStrategy` (default "auto"). */
export const makeEngine = (connection: Connection, includeStrategy: IncludeStrategy = "auto"): Engine => {
  const parsers = new ColumnParsers(connection.execute)
  return {
    system: "postgresql",
    table: (table, codec) => makeTable(table, codec, connection, parsers),
    sessionOf: connection.sessionOf,
    transaction: connection.transaction,
    decorate: connection.decorate,
    includeStrategy
  }
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

/** Rows that set the same columns, one array per column (what unnest() takes), with each row's position. */
interface Group {
  readonly columns: ReadonlyArray<string>
  readonly values: Array<Array<unknown>>
  readonly at: Array<number>
  /** Rows in the group while it is being filled. */
  size: number
}

const makeTable = (table: Table.Table<any, any>, codec: Codec, connection: Connection, parsers: ColumnParsers): TableEngine => {
  const compile = <A>(build: () => A) => compileFor(codec, build)
  const compileThen = <A, B, E, R>(build: () => A, then: (built: A) => Effect.Effect<B, E, R>) =>
    compileThenFor(codec, build, then)
  const name = table.qualifiedName
  const keyColumns = codec.keyFields.map((f) => quote(codec.column(f)))
  // `"a" = $1 AND "b" = $2` for a key whose values are parameters from `first` on.
  const keyEquals = (first: number) => keyColumns.map((c, i) => `${c} = $${first + i}`).join(" AND ")
  const softField = table.softDelete as string | undefined
  const soft = softField === undefined ? undefined : quote(codec.column(softField))
  const versionField = table.version as string | undefined
  const version = versionField === undefined ? undefined : quote(codec.column(versionField))
  const visible = soft === undefined ? "" : ` AND ${soft} IS NULL`
  const returning = ` RETURNING ${codec.selectList}`
  const quotedColumns = new Map((table.fields as ReadonlyArray<string>).map((f) => [f, quote(codec.column(f))]))
  const col = (field: string) => quotedColumns.get(field) ?? quote(codec.column(field))

  const run = (text: string, values: ReadonlyArray<unknown>) => connection.execute({ text, values, name: nameFor(text) })

  // For statements that return `codec.selectList`: the driver builds the
  // rows with the model as they arrive (see `rowsOf`).
  const decode = codec.decodeValues
  const runRows = (text: string, values: ReadonlyArray<unknown>) =>
    connection.execute({ text, values, name: nameFor(text), decode })

  // The rows of a statement run with runRows, already models. A row that
  // did not fit the model is a defect, as in decodeRow.
  const rowsOf = (result: DecodedResult): ReadonlyArray<unknown> => {
    if (result.decodeFailure !== undefined) throw result.decodeFailure
    return result.rows
  }
  const firstRow = (result: pg.QueryResult) => {
    const rows = rowsOf(result)
    return rows.length === 0 ? Option.none() : Option.some(rows[0])
  }

  // -- reads ------------------------------------------------------------------

  // Reads by key are the hottest path: one statement prepared once per
  // connection, its name computed once.
  const byKeyText = `SELECT ${codec.selectList} FROM ${name} WHERE ${keyEquals(1)}${visible}`
  const byKeyName = nameFor(byKeyText)
  const findByKey: TableEngine["findByKey"] = (key) =>
    Effect.map(connection.execute({ text: byKeyText, values: key, name: byKeyName, decode }), firstRow)

  // Many keys in one statement of constant text: one array per key column,
  // unnested WITH ORDINALITY, so each row comes back with the position of
  // the key it answers (matched by PostgreSQL's own equality: a uuid in
  // capitals finds its row, as with findByKey). An array parameter's type
  // cannot be inferred inside unnest(); COALESCE with an empty array of the
  // column (an InitPlan that reads no row) gives it the column's type
  // without a catalog lookup. The table is read in a LATERAL subquery, so
  // its columns are never ambiguous with the key list's.
  const keyList = "effect_dal_keys"
  const keyAliases = keyColumns.map((_, i) => `k${i + 1}`)
  const byKeysText = `SELECT r.*, ${keyList}.i FROM unnest(${
    keyColumns.map((c, i) => `COALESCE($${i + 1}, ARRAY(SELECT ${c} FROM ${name} LIMIT 0))`).join(", ")
  }) WITH ORDINALITY AS ${keyList}(${keyAliases.join(", ")}, i) CROSS JOIN LATERAL (SELECT ${codec.selectList} FROM ${name} AS t WHERE ${
    keyColumns.map((c, i) => `${c} = ${keyList}.${keyAliases[i]}`).join(" AND ")
  }${visible}) AS r`
  const byKeysName = nameFor(byKeysText)
  const fieldCount = table.fields.length
  const decodeAt = (values: ReadonlyArray<unknown>) => [Number(values[fieldCount]) - 1, decode(values)] as const
  const findByKeys: TableEngine["findByKeys"] = (keys) =>
    Effect.suspend(() => {
      const columns = keyColumns.map((_, c) => keys.map((key) => key[c]))
      return Effect.map(
        connection.execute({ text: byKeysText, values: columns, name: byKeysName, rowMode: "array", decode: decodeAt }),
        (result) => {
          const found: Array<Option.Option<unknown>> = keys.map(() => Option.none())
          for (const [at, row] of rowsOf(result) as ReadonlyArray<readonly [number, unknown]>) found[at] = Option.some(row)
          return found
        }
      )
    })

  const selectStatement = (query: Parameters<TableEngine["select"]>[0], options: Parameters<TableEngine["select"]>[1]) => {
    const params = new Params()
    const limit = options.first ? Math.min(query.limit ?? 1, 1) : options.limit
    const text = selectSql(codec, query, params, { extra: options.extra, limit })
    return { text, values: params.values }
  }

  const select: TableEngine["select"] = (query, options) =>
    compileThen(() => selectStatement(query, options), ({ text, values }) => Effect.map(runRows(text, values), rowsOf))

  // Related rows of many parents in one statement: `= ANY($1)` over the
  // parents' key values (one array parameter however many), and for a
  // per-parent limit or offset, each parent's rows numbered by
  // row_number() in the query's order. A join table is joined in a derived
  // table, so that the query's filter and ordering name the related
  // table's columns alone.
  const parentColumn = quote("effect_dal_parent")
  const rankColumn = quote("effect_dal_rank")
  const selectRelated: TableEngine["selectRelated"] = (query, link, keys) =>
    compileThen(() => {
      const params = new Params()
      const keysParam = params.add(keys)
      const where: Array<string> = []
      let from: string
      let parent: string
      if (link._tag === "Field") {
        from = name
        parent = col(link.field)
        where.push(`${parent} = ANY(${keysParam})`)
      } else {
        const join = link.codec
        const joinParent = `j.${quote(join.column(link.parentField))}`
        from = `(SELECT t.*, ${joinParent} AS ${parentColumn} FROM ${name} AS t JOIN ${join.table.qualifiedName} AS j ON j.${
          quote(join.column(link.targetField))
        } = t.${col(link.key)} WHERE ${joinParent} = ANY(${keysParam})) AS ${quote("effect_dal_related")}`
        parent = parentColumn
        params.scope = quote("effect_dal_related")
      }
      const filter = effectiveFilter(codec, query)
      if (filter !== undefined) where.push(compileExpr(codec, filter, params))
      const whereSql = where.length === 0 ? "" : ` WHERE ${where.join(" AND ")}`
      const order = orderClause(codec, effectiveOrder(query))
      if (query.limit === undefined && query.offset === undefined) {
        return { text: `SELECT ${codec.selectList}, ${parent} FROM ${from}${whereSql}${order}`, values: params.values }
      }
      const skip = query.offset ?? 0
      let bounds = ` WHERE ${rankColumn} > ${params.add(skip)}`
      if (query.limit !== undefined) bounds += ` AND ${rankColumn} <= ${params.add(Math.min(skip + query.limit, Number.MAX_SAFE_INTEGER))}`
      const text = `SELECT ${codec.selectList}, ${parent} FROM (SELECT *, row_number() OVER (PARTITION BY ${parent}${order}) AS ${rankColumn} FROM ${from}${whereSql}) AS ${
        quote("effect_dal_ranked")
      }${bounds} ORDER BY ${rankColumn}`
      return { text, values: params.values }
    }, ({ text, values }) =>
      Effect.map(
        connection.execute({ text, values, name: nameFor(text), decode: decodeRelated }),
        (result) => rowsOf(result) as ReadonlyArray<readonly [unknown, unknown]>
      ))
  // The parent's value comes after the model's columns; `values` is reused
  // for the next row, so it is read before the row is built.
  const decodeRelated = (values: ReadonlyArray<unknown>) => {
    const parent = values[fieldCount]
    return [parent, decode(values)] as const
  }

  // The rows with their whole include tree, in one statement (tree.ts).
  const selectTree: TableEngine["selectTree"] = (query, options, tree) =>
    compileThen(() => treeStatement(codec, query, options, tree), ({ text, values }) =>
      Effect.flatMap(parsers.forTree(tree), (parsersOf) =>
        Effect.map(
          connection.execute({ text, values, name: nameFor(text), decode: treeDecoder(codec, tree, parsersOf) }),
          rowsOf
        )))

  const streamTree: TableEngine["streamTree"] = (query, tree, batchSize) =>
    unwrapStream(
      compileThen(() => treeStatement(codec, query, {}, tree), (statement) =>
        Effect.map(
          parsers.forTree(tree),
          (parsersOf) =>
            connection.stream({ ...statement, rowMode: "array", decode: treeDecoder(codec, tree, parsersOf) }, batchSize)
        ))
    )

  const exists: TableEngine["exists"] = (query) =>
    compileThen(
      () => selectStatement(query, { first: true }),
      ({ text, values }) => Effect.map(run(`SELECT EXISTS (${text}) AS v`, values), (result) => result.rows[0]!.v === true)
    )

  // FROM clause for an aggregate: the table itself, or the query as a
  // subquery when it has ORDER BY / LIMIT / DISTINCT ON.
  const aggregate: TableEngine["aggregate"] = (fn, field, query) =>
    compileThen(() => {
      const expression = (column: string) => fn === "count" ? "count(*)" : `${fn}(${column})`
      const params = new Params()
      if (!needsSubquery(query)) {
        const column = field === undefined ? "*" : col(field)
        const text = `SELECT ${expression(column)} AS v FROM ${name}` +
          whereClause(codec, effectiveFilter(codec, query), params)
        return { text, values: params.values }
      }
      const inner = field === undefined ? "1 AS v" : `${col(field)} AS v`
      const text = `SELECT ${expression(field === undefined ? "*" : "v")} AS v FROM (SELECT ${
        query.distinctOn === undefined
          ? ""
          : `DISTINCT ON (${query.distinctOn.map((f) => col(f)).join(", ")}) `
      }${inner} FROM ${name}${whereClause(codec, effectiveFilter(codec, query), params)}${
        orderClause(codec, effectiveOrder(query))
      }${limitClause(query.limit, query.offset, params)}) AS q`
      return { text, values: params.values }
    }, ({ text, values }) => Effect.map(run(text, values), (result) => result.rows[0]!.v))

  // A query that does not compile fails the stream before anything is sent.
  // A query whose LIMIT fits in one batch is one statement, as findMany
  // runs it (prepared, on a connection held for its round trip only): its
  // rows are one batch, and a cursor would only add round trips. Other
  // queries are read through a cursor over the same prepared statement,
  // their rows decoded as they come.
  const stream: TableEngine["stream"] = (query, batchSize) =>
    unwrapChannel(compileThen(
      () => selectStatement(query, {}),
      (statement) =>
        query.limit !== undefined && query.limit <= batchSize
          ? Effect.map(runRows(statement.text, statement.values), oneBatch)
          : channelOf(connection.stream({ ...statement, name: nameFor(statement.text), rowMode: "array", decode }, batchSize))
    ))
  const oneBatch = (result: DecodedResult) => {
    const rows = rowsOf(result)
    return rows.length === 0 ? Channel.void : Channel.write(Chunk.unsafeFromArray(rows))
  }

  // -- inserts ----------------------------------------------------------------

  const insertSqlCache = new Map<string, string>()
  const insertSql = (columns: ReadonlyArray<string>, rowCount: number, withReturning: boolean) => {
    const key = `${columns.join(",")}|${rowCount}|${withReturning}`
    let text = insertSqlCache.get(key)
    if (text === undefined) {
      let n = 0
      const tuples: Array<string> = []
      for (let r = 0; r < rowCount; r++) tuples.push(`(${columns.map(() => `$${++n}`).join(", ")})`)
      text = `INSERT INTO ${name} (${columns.map(col).join(", ")}) VALUES ${tuples.join(", ")}${withReturning ? returning : ""}`
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
  const columnsOf = (encoded: Record<string, unknown>) => {
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
  }

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

  const insert: TableEngine["insert"] = (encoded) => {
    const { columns, set, values } = columnsOf(encoded)
    const { name: statementName, text } = insertOneStatement(columns, set)
    return Effect.map(connection.execute({ text, values, name: statementName, decode }), (result) => rowsOf(result)[0])
  }

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

  const groupRows = (rows: ReadonlyArray<Record<string, unknown>>): Array<Group> => {
    // Which fields a row sets, as a bit mask (a string past 30 fields).
    const small = insertFields.length <= 30
    const byColumns = new Map<number | string, Group>()
    for (let i = 0; i < rows.length; i++) {
      const encoded = rows[i]!
      let mask = 0
      let key = ""
      for (let f = 0; f < insertFields.length; f++) {
        const set = encoded[insertFields[f]!] !== undefined
        if (small) mask |= set ? 1 << f : 0
        else key += set ? "1" : "0"
      }
      const groupKey = small ? mask : key
      let group = byColumns.get(groupKey)
      if (group === undefined) {
        const columns = insertFields.filter((f) => encoded[f] !== undefined)
        // The first group (usually the only one) is sized for every row
        // and cut to length below: a 1,000-row batch grown one value at a
        // time would copy each array about ten times. Later groups grow,
        // so that many shapes of row never reserve rows × groups slots.
        const room = byColumns.size === 0 ? rows.length : 0
        group = { columns, values: columns.map(() => new Array(room)), at: new Array(room), size: 0 }
        byColumns.set(groupKey, group)
      }
      const { columns, values } = group
      const k = group.size++
      for (let c = 0; c < columns.length; c++) values[c]![k] = encoded[columns[c]!]
      group.at[k] = i
    }
    const groups = [...byColumns.values()]
    for (const group of groups) {
      for (const column of group.values) column.length = group.size
      group.at.length = group.size
    }
    return groups
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
      const text = `COPY ${name} (${columns.map(col).join(", ")}) FROM STDIN`
      return Effect.map(connection.execute({ text, values: [], copyIn: { columns: values, rows: at.length } }), (result) => [result])
    }
    // With RETURNING, the driver builds the returned rows as they arrive.
    const exec = withReturning ? runRows : run
    const typed = unnestTypes(group, catalog)
    if (typed !== undefined) {
      const text = `INSERT INTO ${name} (${columns.map(col).join(", ")}) SELECT * FROM unnest(${
        typed.map((type, i) => `$${i + 1}::${type}[]`).join(", ")
      })${withReturning ? returning : ""}`
      const literals = values.map(arrayParameter)
      return Effect.map(exec(text, literals), (result) => [result])
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

  // The rows are grouped into columns before anything waits, and the
  // effect keeps only the groups: the encoded rows are garbage by the time
  // the statement waits for a connection. Under load (32 batches of 1,000
  // rows on 10 connections) a waiting batch otherwise kept them alive
  // across young-generation GCs, and each was promoted to the old generation.
  const insertMany: TableEngine["insertMany"] = (rows, withReturning) => {
    const groups = groupRows(rows)
    const count = rows.length
    return Effect.gen(function*() {
      const catalog = yield* loadCatalog
      const work = Effect.forEach(groups, (group) =>
        Effect.map(insertGroup(group, catalog, withReturning), (results) => ({ group, results })))
      // Several statements are one unit: all rows or none.
      const statements = groups.reduce((n, group) => n + statementCount(group, catalog, withReturning), 0)
      const outcome = yield* (statements === 1 ? work : connection.transaction(work))
      if (!withReturning) return []
      const out = new Array<unknown>(count)
      for (const { group, results } of outcome) {
        let k = 0
        for (const result of results) {
          for (const row of rowsOf(result)) out[group.at[k++]!] = row
        }
      }
      return out
    })
  }

  const upsert: TableEngine["upsert"] = (encoded, target, assigned, bump) =>
    Effect.gen(function*() {
      const { columns, values } = columnsOf(encoded)
      const conflict = target.constraint === undefined
        ? `(${target.fields.map(col).join(", ")})`
        : `ON CONSTRAINT ${quote(target.constraint)}`
      const assignments = assigned.map((f) => `${col(f)} = EXCLUDED.${col(f)}`)
      if (bump) assignments.push(`${version} = ${name}.${version} + 1`)
      const action = assignments.length === 0 ? "DO NOTHING" : `DO UPDATE SET ${assignments.join(", ")}`
      const text = `${insertSql(columns, 1, false)} ON CONFLICT ${conflict} ${action}${returning}`
      const result = yield* run(text, values)
      if (result.rows.length > 0) return codec.decodeRow(result.rows[0])
      // DO NOTHING hit a conflict: the row that is there is the answer.
      const where = target.fields.map((f, i) => `${col(f)} = $${i + 1}`).join(" AND ")
      const existing = yield* run(`SELECT ${codec.selectList} FROM ${name} WHERE ${where}`, target.fields.map((f) => encoded[f]))
      if (existing.rows.length === 0) {
        return yield* Effect.dieMessage(`${table.name}.upsert: the conflicting row disappeared before it could be read`)
      }
      return codec.decodeRow(existing.rows[0])
    })

  // -- updates and deletes ----------------------------------------------------

  const setSql = (set: SetClause, params: Params): string => {
    const assignments: Array<string> = []
    for (const [field, value] of set.assignments) {
      const column = col(field)
      assignments.push(
        isIncrement(value) ? `${column} = ${column} + ${params.add(value.by)}` : `${column} = ${params.add(value)}`
      )
    }
    if (set.bump) assignments.push(`${version} = ${version} + 1`)
    return assignments.join(", ")
  }

  // WHERE of a write: a key (with the row's state and version), or a
  // query's filter, or its primary keys when it has ORDER BY / LIMIT /
  // DISTINCT ON.
  const whereSql = (target: Target, params: Params): string => {
    if (target._tag === "Key") {
      let where = ` WHERE ${keyColumns.map((c, i) => `${c} = ${params.add(target.key[i])}`).join(" AND ")}`
      if (target.state === "alive") where += visible
      else if (target.state === "deleted") where += ` AND ${soft} IS NOT NULL`
      if (target.version !== undefined) where += ` AND ${version} = ${params.add(target.version)}`
      return where
    }
    const { query } = target
    const where = needsSubquery(query)
      ? ` WHERE ${keysSubquery(codec, query, params)}`
      : whereClause(codec, effectiveFilter(codec, query), params)
    if (!target.alive || soft === undefined) return where
    return where === "" ? ` WHERE ${soft} IS NULL` : `${where} AND ${soft} IS NULL`
  }

  const update: TableEngine["update"] = (target, set, withReturning) =>
    compileThen(() => {
      const params = new Params()
      const assignments = setSql(set, params)
      const where = whereSql(target, params)
      return { text: `UPDATE ${name} SET ${assignments}${where}${withReturning ? returning : ""}`, values: params.values }
    }, ({ text, values }) =>
      Effect.map(run(text, values), (result) => ({
        count: result.rowCount ?? 0,
        rows: withReturning ? result.rows.map(codec.decodeRow) : []
      })))

  const remove: TableEngine["delete"] = (target) =>
    compileThen(() => {
      const params = new Params()
      const where = whereSql(target, params)
      return { text: `DELETE FROM ${name}${where}`, values: params.values }
    }, ({ text, values }) => Effect.map(run(text, values), (result) => result.rowCount ?? 0))

  const versionText = `SELECT ${version} AS v FROM ${name} WHERE ${keyEquals(1)}${visible}`
  const versionOf: TableEngine["versionOf"] = (key) =>
    Effect.map(run(versionText, key), (result) => result.rows.length === 0 ? undefined : result.rows[0]!.v)

  const raw: TableEngine["raw"] = (statement: SqlStatement<unknown>) =>
    Effect.suspend(() => {
      const [text, values] = statement.compile()
      return connection.execute({ text, values }).pipe(Effect.map((result) => result.rows.map(codec.decodeColumns)))
    })

  return {
    findByKey,
    findByKeys,
    select,
    selectRelated,
    selectTree,
    streamTree,
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
