/**
 * A query's whole include tree in one statement (the "singleStatement"
 * strategy, include.ts): each included relation is a correlated subquery
 * in the SELECT list of the level above, nested to any depth, that
 * aggregates the related rows with `json_agg` (its filter, soft-delete
 * rule, ordering and per-parent LIMIT/OFFSET in the subquery; a join table
 * joined in a derived table, as in `selectRelated`).
 *
 * Each related row travels as the text of its columns (`col::text`, NULL
 * as null), exactly what PostgreSQL sends for the column in a plain
 * SELECT, and is parsed with the type parser the driver applies to that
 * column (learned once per table, `ColumnParsers`) before the model's own
 * row decoder builds it: a related row decodes as it does per level.
 */
import * as Effect from "effect/Effect"
import type * as DatabaseError from "../../DatabaseError.js"
import type * as Query from "../../Query.js"
import type * as Table from "../../Table.js"
import type { Codec } from "../codec.js"
import type { IncludeNode, SelectOptions } from "../engine.js"
import { quote } from "../identifier.js"
import { effectiveFilter, effectiveOrder } from "../plan.js"
import type { DecodedResult, Statement } from "./driver.js"
import { compileExpr, limitClause, orderClause, Params, selectSql } from "./sql.js"

type Parser = (raw: string) => unknown

const column = (codec: Codec, field: string) => quote(codec.column(field))

// The subquery of one included relation, correlated to `parent` (the
// alias, or the root's table name, of the level above): the related rows
// as one json array, NULL when there are none.
const includeSql = (node: IncludeNode, parent: string, parentCodec: Codec, params: Params): string => {
  const target = node.codec
  const alias = quote(`effect_dal_i${++params.aliases}`)
  const parentValue = `${parent}.${column(parentCodec, node.parentField)}`
  let from: string
  let on: string
  if (node.link._tag === "Field") {
    from = `${target.table.qualifiedName} AS ${alias}`
    on = `${alias}.${column(target, node.link.field)} = ${parentValue}`
  } else {
    // In a derived table, so that the query's filter and ordering name the
    // related table's columns alone.
    const link = node.link
    const related = quote(`effect_dal_t${++params.aliases}`)
    const join = quote(`effect_dal_j${++params.aliases}`)
    const parentColumn = quote("effect_dal_parent")
    from = `(SELECT ${related}.*, ${join}.${column(link.codec, link.parentField)} AS ${parentColumn} FROM ${target.table.qualifiedName} AS ${related} JOIN ${link.codec.table.qualifiedName} AS ${join} ON ${join}.${
      column(link.codec, link.targetField)
    } = ${related}.${column(target, link.key)}) AS ${alias}`
    on = `${alias}.${parentColumn} = ${parentValue}`
  }
  const saved = params.scope
  params.scope = alias
  const conditions = [on]
  const filter = effectiveFilter(target, node.query)
  if (filter !== undefined) conditions.push(compileExpr(target, filter, params))
  const children = node.children.map((child) => includeSql(child, alias, target, params))
  params.scope = saved
  const texts = `ARRAY[${(target.table.fields as ReadonlyArray<string>).map((f) => `${alias}.${column(target, f)}::text`).join(", ")}]`
  // A row: its columns' text, or, with includes of its own, [texts, include, ...].
  const row = children.length === 0 ? texts : `json_build_array(${texts}, ${children.join(", ")})`
  const where = ` WHERE ${conditions.join(" AND ")}`
  const order = orderClause(target, effectiveOrder(node.query))
  const { limit, offset } = node.query
  if (limit === undefined && offset === undefined) return `(SELECT json_agg(${row}${order}) FROM ${from}${where})`
  // LIMIT/OFFSET per parent row; the aggregate keeps the subquery's order by its row numbers.
  const ranked = quote(`effect_dal_r${++params.aliases}`)
  return `(SELECT json_agg(${ranked}.j ORDER BY ${ranked}.n) FROM (SELECT ${row} AS j, row_number() OVER (${order.trim()}) AS n FROM ${from}${where}${order}${
    limitClause(limit, offset, params)
  }) AS ${ranked})`
}

/**
 * @internal
 * The statement of a checked query's rows with the include tree, as
 * `select` would send it plus one json column per include.
 */
export const treeStatement = (
  codec: Codec,
  query: Query.Query<any>,
  options: SelectOptions,
  tree: ReadonlyArray<IncludeNode>
): { readonly text: string; readonly values: ReadonlyArray<unknown> } => {
  const params = new Params()
  const columns = tree.map((node) => includeSql(node, codec.table.qualifiedName, codec, params))
  const limit = options.first ? Math.min(query.limit ?? 1, 1) : options.limit
  const text = selectSql(codec, query, params, { extra: options.extra, limit, columns })
  return { text, values: params.values }
}

/** The tables of a tree, each once. */
const tablesOf = (tree: ReadonlyArray<IncludeNode>, out: Map<Table.Table<any, any>, Codec> = new Map()) => {
  for (const node of tree) {
    out.set(node.codec.table, node.codec)
    tablesOf(node.children, out)
  }
  return out
}

/**
 * @internal
 * The type parsers the driver applies to each table's columns (those of
 * `SELECT <columns> FROM <table>`), learned once per table and engine by
 * describing that statement: one `LIMIT 0` statement the first time a
 * table's rows are loaded as an include in one statement.
 */
export class ColumnParsers {
  private readonly known = new WeakMap<Table.Table<any, any>, ReadonlyArray<Parser>>()
  constructor(private readonly execute: (statement: Statement) => Effect.Effect<DecodedResult, DatabaseError.DatabaseError>) {}

  /** The parsers of every table of the tree, learning the ones not known yet. */
  forTree(tree: ReadonlyArray<IncludeNode>): Effect.Effect<(table: Table.Table<any, any>) => ReadonlyArray<Parser>, DatabaseError.DatabaseError> {
    const missing = [...tablesOf(tree)].filter(([table]) => !this.known.has(table))
    const lookup = (table: Table.Table<any, any>) => this.known.get(table)!
    if (missing.length === 0) return Effect.succeed(lookup)
    return Effect.as(
      Effect.forEach(missing, ([table, codec]) => {
        const text = `SELECT ${codec.selectList} FROM ${table.qualifiedName} LIMIT 0`
        return Effect.map(this.execute({ text, values: [], decode: (values) => values }), (result) => {
          const parsers = (result as { _parsers?: ReadonlyArray<Parser> })._parsers
          if (parsers === undefined || parsers.length !== table.fields.length) {
            throw new Error(`${table.name}: the driver gave no type parsers for its columns`)
          }
          this.known.set(table, parsers)
        })
      }, { discard: true }),
      lookup
    )
  }
}

interface NodeDecoder {
  readonly name: string
  readonly toMany: boolean
  readonly parsers: ReadonlyArray<Parser>
  readonly decode: (values: ReadonlyArray<unknown>) => unknown
  readonly values: Array<unknown>
  readonly children: ReadonlyArray<NodeDecoder>
}

const decoderOf = (node: IncludeNode, parsersOf: (table: Table.Table<any, any>) => ReadonlyArray<Parser>): NodeDecoder => {
  const parsers = parsersOf(node.codec.table)
  return {
    name: node.name,
    toMany: node.toMany,
    parsers,
    decode: node.codec.decodeValues,
    values: new Array(parsers.length),
    children: node.children.map((child) => decoderOf(child, parsersOf))
  }
}

const decodeItem = (decoder: NodeDecoder, item: ReadonlyArray<unknown>): unknown => {
  const { children, parsers, values } = decoder
  const texts = (children.length === 0 ? item : item[0]) as ReadonlyArray<string | null>
  for (let i = 0; i < parsers.length; i++) {
    const text = texts[i]
    values[i] = text === null ? null : parsers[i]!(text!)
  }
  // The model's decoder copies the values, so `values` is free again here.
  const row = decoder.decode(values) as Record<string, unknown>
  for (let c = 0; c < children.length; c++) attach(row, children[c]!, item[c + 1] as ReadonlyArray<ReadonlyArray<unknown>> | null)
  return row
}

const attach = (row: Record<string, unknown>, decoder: NodeDecoder, items: ReadonlyArray<ReadonlyArray<unknown>> | null) => {
  if (decoder.toMany) {
    const list = new Array<unknown>(items === null ? 0 : items.length)
    for (let i = 0; i < list.length; i++) list[i] = decodeItem(decoder, items![i]!)
    row[decoder.name] = list
  } else {
    row[decoder.name] = items === null || items.length === 0 ? null : decodeItem(decoder, items[0]!)
  }
}

/**
 * @internal
 * Builds each row of `treeStatement` as it arrives: the model from its
 * columns, then each include from its json column. A related row that does
 * not fit its model throws, as a row does per level.
 */
export const treeDecoder = (
  codec: Codec,
  tree: ReadonlyArray<IncludeNode>,
  parsersOf: (table: Table.Table<any, any>) => ReadonlyArray<Parser>
): (values: ReadonlyArray<unknown>) => unknown => {
  const decoders = tree.map((node) => decoderOf(node, parsersOf))
  const width = codec.table.fields.length
  const decode = codec.decodeValues
  return (values) => {
    const row = decode(values) as Record<string, unknown>
    for (let i = 0; i < decoders.length; i++) {
      attach(row, decoders[i]!, values[width + i] as ReadonlyArray<ReadonlyArray<unknown>> | null)
    }
    return row
  }
}
