/**
 * Eager loading, written once for both engines, in one of two ways:
 *
 * - per level: the relations a query includes are loaded level by level,
 *   one statement per included relation (`selectRelated`), whatever the
 *   number of parent rows; never one per row. Nested includes load from
 *   all the rows of the level above at once.
 * - single statement: the whole include tree is resolved here
 *   (`includeTree`) and handed to an engine that can load it with the
 *   rows in one statement (`selectTree`, `streamTree`; PostgreSQL).
 *
 * `Engine.includeStrategy` says which; "auto" asks `treeFits`.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Query from "../Query.js"
import type * as Table from "../Table.js"
import { type Codec, codecFor } from "./codec.js"
import type { Engine, Failure, IncludeNode, SelectOptions, TableEngine } from "./engine.js"
import { resolveRelation } from "./plan.js"

// The statements of a related table, made once per engine.
const tableEngines = new WeakMap<Engine, WeakMap<Table.Table<any, any>, TableEngine>>()
const statementsOf = (engine: Engine, table: Table.Table<any, any>): TableEngine => {
  let byTable = tableEngines.get(engine)
  if (byTable === undefined) tableEngines.set(engine, byTable = new WeakMap())
  let statements = byTable.get(table)
  if (statements === undefined) byTable.set(table, statements = engine.table(table, codecFor(table)))
  return statements
}

/**
 * A key value as a map key. The parent's field and the related field have
 * the same type (Table.relations checks it), and each engine hands back
 * the related side as the column holds it, so the text of the value is
 * enough (int8 keys may be a bigint on one side and text on the other).
 * A string is its own key (most keys: no new string per row); a date or
 * an object is marked with a NUL, which no text value holds (PostgreSQL
 * refuses it in text).
 */
const keyOf = (value: unknown): string =>
  typeof value === "string"
    ? value
    : value instanceof Date
    ? `\u0000d${value.getTime()}`
    : typeof value === "object"
    ? `\u0000j${JSON.stringify(value)}`
    : String(value)

const many = (kind: Table.RelationKind) => kind === "hasMany" || kind === "manyToMany"

// A hasOne relation is the first row per parent (belongsTo refers to a key).
const relatedQuery = (kind: Table.RelationKind, asked: Query.Query<any> | undefined): Query.Query<any> =>
  kind !== "hasOne" ? asked ?? everything : Query.limit(asked ?? everything, Math.min(asked?.limit ?? 1, 1))

/**
 * @internal
 * The includes of a checked query, resolved to the end: what an engine's
 * `selectTree` loads in one statement.
 */
export const includeTree = (codec: Codec, includes: ReadonlyArray<Query.Include>): ReadonlyArray<IncludeNode> =>
  includes.map((include) => {
    const relation = resolveRelation(codec, include.relation, "include")
    const query = relatedQuery(relation.kind, include.query)
    return {
      name: relation.name,
      kind: relation.kind,
      toMany: many(relation.kind),
      codec: relation.codec,
      parentField: relation.parentField,
      link: relation.link,
      query,
      children: includeTree(relation.codec, query.includes)
    }
  })

/**
 * Whether "auto" loads an include tree in one statement: yes (one round
 * trip, and less client CPU: on the benchmark's eagerLoad, 50 users with
 * their messages, it reached raw pg's throughput in every cell of two
 * runs, both calling modes, and beat per level in all cells but one), unless a
 * belongsTo relation is included for more than one parent row. Its rows
 * are shared by parents, and the single statement sends each once per
 * parent where per level sends it once (1,000 messages with their 50
 * authors measured faster per level). README, "Relations".
 */
const treeFits = (tree: ReadonlyArray<IncludeNode>, oneRow: boolean): boolean =>
  tree.every((node) => (oneRow || node.kind !== "belongsTo") && treeFits(node.children, oneRow && !node.toMany))

const usesTree = (engine: Engine, statements: TableEngine, tree: () => ReadonlyArray<IncludeNode>, oneRow: boolean): boolean => {
  if (statements.selectTree === undefined) return false
  switch (engine.includeStrategy) {
    case "singleStatement":
      return true
    case "perLevel":
    case undefined:
      return false
    case "auto":
      return treeFits(tree(), oneRow)
  }
}

/**
 * @internal
 * The rows of a checked query with its includes loaded: in one statement
 * when the engine's strategy says so, otherwise the rows and then one
 * statement per included relation level.
 */
export const selectWithIncludes = (
  engine: Engine,
  codec: Codec,
  statements: TableEngine,
  query: Query.Query<any>,
  options: SelectOptions,
  operation: string
): Effect.Effect<ReadonlyArray<unknown>, Failure> => {
  if (query.includes.length === 0) return statements.select(query, options, operation)
  let tree: ReadonlyArray<IncludeNode> | undefined
  const resolved = () => tree ??= includeTree(codec, query.includes)
  if (usesTree(engine, statements, resolved, options.first === true)) {
    return statements.selectTree!(query, options, resolved(), operation)
  }
  return Effect.flatMap(statements.select(query, options, operation), (rows) => Effect.as(loadIncludes(engine, codec, query.includes, rows), rows))
}

/**
 * @internal
 * The rows of a checked query as a stream, `batchSize` at a time, with its
 * includes: loaded by the same statement, or per fetched chunk.
 */
export const streamWithIncludes = (
  engine: Engine,
  codec: Codec,
  statements: TableEngine,
  query: Query.Query<any>,
  batchSize: number
): Stream.Stream<unknown, Failure> => {
  if (query.includes.length === 0) return statements.stream(query, batchSize)
  let tree: ReadonlyArray<IncludeNode> | undefined
  const resolved = () => tree ??= includeTree(codec, query.includes)
  if (statements.streamTree !== undefined && usesTree(engine, statements, resolved, false)) {
    return statements.streamTree(query, resolved(), batchSize)
  }
  return Stream.mapChunksEffect(
    statements.stream(query, batchSize),
    (chunk) => Effect.as(loadIncludes(engine, codec, query.includes, Chunk.toReadonlyArray(chunk)), chunk)
  )
}

/**
 * @internal
 * Loads the includes of a checked query into `rows` (decoded models of the
 * codec's table): each relation becomes a field of the row named after it.
 */
export const loadIncludes = (
  engine: Engine,
  codec: Codec,
  includes: ReadonlyArray<Query.Include>,
  rows: ReadonlyArray<unknown>
): Effect.Effect<void, Failure> =>
  includes.length === 0 || rows.length === 0
    ? Effect.void
    : Effect.forEach(includes, (include) => loadOne(engine, codec, include, rows), { discard: true })

const loadOne = (
  engine: Engine,
  codec: Codec,
  include: Query.Include,
  rows: ReadonlyArray<unknown>
): Effect.Effect<void, Failure> =>
  Effect.suspend(() => {
    const relation = resolveRelation(codec, include.relation, "include")
    const { kind, name, parentField } = relation
    const toMany = many(kind)
    // Parents by key value, and the distinct key values, encoded.
    const parents = new Map<string, Array<Record<string, unknown>>>()
    const keys: Array<unknown> = []
    for (const row of rows as ReadonlyArray<Record<string, unknown>>) {
      row[name] = toMany ? [] : null
      const value = row[parentField]
      if (value === null || value === undefined) continue
      const encoded = codec.encodeField(parentField, value)
      // A value read from the table fits its own schema.
      if (encoded._tag === "Left") return Effect.die(encoded.left)
      const key = keyOf(encoded.right)
      const same = parents.get(key)
      if (same === undefined) {
        parents.set(key, [row])
        keys.push(encoded.right)
      } else same.push(row)
    }
    if (keys.length === 0) return Effect.void
    const query = relatedQuery(kind, include.query)
    const statements = statementsOf(engine, relation.target)
    return statements.selectRelated(query, relation.link, keys, "include").pipe(
      Effect.tap((pairs) => loadIncludes(engine, relation.codec, query.includes, pairs.map((pair) => pair[1]))),
      Effect.map((pairs) => {
        for (const [parent, child] of pairs) {
          for (const row of parents.get(keyOf(parent)) ?? []) {
            if (toMany) (row[name] as Array<unknown>).push(child)
            else if (row[name] === null) row[name] = child
          }
        }
      })
    )
  })

const everything = Query.make<any>()
