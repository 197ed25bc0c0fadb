/**
 * The seam between the repository core (repository.ts), written once, and
 * the databases it runs on: PostgreSQL (postgres/engine.ts) and the
 * in-memory database (memory/engine.ts). As Ecto's adapters sit under
 * Ecto.Repo, an engine knows nothing of timestamps, soft delete, versions,
 * `NotFound` or pagination: the core has checked and encoded everything it
 * passes, and each call here is one statement (or, for a bulk insert, one
 * unit of statements that succeeds or fails as a whole).
 *
 * Values passed in are encoded (the model's encoded form, what a column
 * holds); rows handed back are decoded models.
 */
import type { Statement as SqlStatement } from "@effect/sql/Statement"
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import type * as Stream from "effect/Stream"
import type * as DatabaseConfig from "../DatabaseConfig.js"
import type * as DatabaseError from "../DatabaseError.js"
import type * as Query from "../Query.js"
import type * as Table from "../Table.js"
import type { Codec } from "./codec.js"
import type { Increment } from "./increment.js"
import type { TransactionOptions } from "./transaction.js"

/** @internal A row's fields in their encoded form, as columns hold them. */
export type Encoded = Record<string, unknown>

/** @internal A primary key, encoded: the values of the key's fields, in the key's order. */
export type EncodedKey = ReadonlyArray<unknown>

/** @internal One assignment of an UPDATE: an encoded value, or an increment of the stored value. */
export type Assignment = readonly [field: string, value: unknown | Increment]

/** @internal The SET of an UPDATE: assignments in table order, and whether the version is bumped. */
export interface SetClause {
  readonly assignments: ReadonlyArray<Assignment>
  readonly bump: boolean
}

/**
 * @internal
 * The rows a write touches: one row by primary key (alive, soft-deleted, or
 * either; at an expected version), or the rows of a checked query (only
 * the ones not soft-deleted when `alive`).
 */
export type Target =
  | {
    readonly _tag: "Key"
    readonly key: EncodedKey
    readonly state: "alive" | "deleted" | "any"
    readonly version?: number | undefined
  }
  | { readonly _tag: "Query"; readonly query: Query.Query<any>; readonly alive: boolean }

/** @internal What a SELECT adds to a checked query. */
export interface SelectOptions {
  /** A condition ANDed to the query's filter (a page's keyset position). */
  readonly extra?: Query.Expr | undefined
  /** Replaces the query's limit. */
  readonly limit?: number | undefined
  /** At most one row (findOne, exists), fewer if the query's own limit is 0. */
  readonly first?: boolean | undefined
}

/**
 * @internal
 * How related rows hold the parent rows' key values: in a field of their
 * own, or through a join table (its field holding the parent's key, its
 * field holding the related row's `key` field).
 */
export type RelatedLink =
  | { readonly _tag: "Field"; readonly field: string }
  | {
    readonly _tag: "Through"
    readonly codec: Codec
    readonly parentField: string
    readonly targetField: string
    readonly key: string
  }

/**
 * @internal
 * An included relation resolved for loading (include.ts): where its rows
 * go in the parent row (`name`, a list or one row), the related table's
 * codec, the parent's field whose value is matched, how the related rows
 * hold it, the checked query of the related rows (a hasOne's limited to
 * one row), and its own includes.
 */
export interface IncludeNode {
  readonly name: string
  readonly kind: Table.RelationKind
  readonly toMany: boolean
  readonly codec: Codec
  readonly parentField: string
  readonly link: RelatedLink
  readonly query: Query.Query<any>
  readonly children: ReadonlyArray<IncludeNode>
}

/** @internal How included relations are loaded (include.ts; "auto" asks `treeFits`). */
export type IncludeStrategy = DatabaseConfig.IncludeStrategy

/** @internal The aggregate functions; `count` counts rows, the others skip NULLs. */
export type Aggregate = "count" | "sum" | "avg" | "min" | "max"

/** @internal An ON CONFLICT target, checked: the table's fields, or a declared key's constraint. */
export interface ConflictTarget {
  readonly fields: ReadonlyArray<string>
  readonly constraint: string | undefined
}

/**
 * @internal
 * How an engine call fails: a database error, or, for a statement compiled
 * from a checked query, a value of it that fails its schema (a cursor's
 * position) or a part the compiler refuses.
 */
export type Failure = DatabaseError.DatabaseError | ParseResult.ParseError | DatabaseError.InvalidQuery

/** @internal The statements of one table, made once per repository. */
export interface TableEngine {
  /** The visible row with this encoded primary key. */
  readonly findByKey: (key: EncodedKey, operation: string) => Effect.Effect<Option.Option<unknown>, DatabaseError.DatabaseError>
  /**
   * The visible rows with these keys, in one statement: for each key, in
   * order, its row or none (a key given twice gets its row twice).
   */
  readonly findByKeys: (
    keys: ReadonlyArray<EncodedKey>,
    operation: string
  ) => Effect.Effect<ReadonlyArray<Option.Option<unknown>>, DatabaseError.DatabaseError>
  /** The rows of a checked query. */
  readonly select: (
    query: Query.Query<any>,
    options: SelectOptions,
    operation: string
  ) => Effect.Effect<ReadonlyArray<unknown>, Failure>
  /**
   * The rows of a checked query that relate to any of the parent key values
   * (encoded), each with the parent value it relates to (as the column
   * holds it); the query's limit and offset apply to each parent value
   * separately, in the query's order. One statement.
   */
  readonly selectRelated: (
    query: Query.Query<any>,
    link: RelatedLink,
    keys: ReadonlyArray<unknown>,
    operation: string
  ) => Effect.Effect<ReadonlyArray<readonly [parent: unknown, row: unknown]>, Failure>
  /**
   * Optional: the rows of a checked query with the whole include tree
   * loaded into them (each relation a field named after it), in one
   * statement. An engine without it loads level by level.
   */
  readonly selectTree?: (
    query: Query.Query<any>,
    options: SelectOptions,
    tree: ReadonlyArray<IncludeNode>,
    operation: string
  ) => Effect.Effect<ReadonlyArray<unknown>, Failure>
  /** Optional: as `stream`, each row with the include tree loaded by the same statement. */
  readonly streamTree?: (
    query: Query.Query<any>,
    tree: ReadonlyArray<IncludeNode>,
    batchSize: number
  ) => Stream.Stream<unknown, Failure>
  /** Whether a checked query has a row. */
  readonly exists: (query: Query.Query<any>) => Effect.Effect<boolean, Failure>
  /** An aggregate over a checked query (a checked numeric field but for `count`): the raw value, NULL as null. */
  readonly aggregate: (
    fn: Aggregate,
    field: string | undefined,
    query: Query.Query<any>
  ) => Effect.Effect<unknown, Failure>
  /** The rows of a checked query, `batchSize` at a time where the engine can. */
  readonly stream: (query: Query.Query<any>, batchSize: number) => Stream.Stream<unknown, Failure>
  /** One row, returned as stored. */
  readonly insert: (row: Encoded) => Effect.Effect<unknown, DatabaseError.DatabaseError>
  /** Several rows, all or none; the stored rows in the caller's order when `returning`. */
  readonly insertMany: (
    rows: ReadonlyArray<Encoded>,
    returning: boolean,
    operation: string
  ) => Effect.Effect<ReadonlyArray<unknown>, DatabaseError.DatabaseError>
  /**
   * INSERT ... ON CONFLICT: on a conflict, `assigned` fields take the new
   * values (and the version is bumped when `bump`); with nothing assigned
   * the existing row is left as it is. Either way the row is returned.
   */
  readonly upsert: (
    row: Encoded,
    target: ConflictTarget,
    assigned: ReadonlyArray<string>,
    bump: boolean
  ) => Effect.Effect<unknown, DatabaseError.DatabaseError>
  /** UPDATE: the updated rows when `returning`, else only their number. */
  readonly update: (
    target: Target,
    set: SetClause,
    returning: boolean,
    operation: string
  ) => Effect.Effect<{ readonly count: number; readonly rows: ReadonlyArray<unknown> }, Failure>
  /** DELETE: the number of rows deleted. */
  readonly delete: (target: Target, operation: string) => Effect.Effect<number, Failure>
  /** The version of the visible row with this key; `undefined` when there is none. */
  readonly versionOf: (key: EncodedKey) => Effect.Effect<unknown | undefined, DatabaseError.DatabaseError>
  /** A statement of the program's own, its rows decoded as the table's models. */
  readonly raw: (statement: SqlStatement<unknown>) => Effect.Effect<ReadonlyArray<unknown>, DatabaseError.DatabaseError>
}

/**
 * @internal
 * A database the repository core runs on: the statements of each table,
 * and the transaction mechanism behind `Database.transaction`.
 */
export interface Engine {
  /** The `db.system.name` of spans. */
  readonly system: "postgresql" | "memory"
  /** The statements of a table, for one repository. */
  readonly table: (table: Table.Table<any, any>, codec: Codec) => TableEngine
  /**
   * What a fiber with this context runs its statements on: its transaction
   * (its savepoint level) or pinned connection, `undefined` for the pool.
   * Batched reads (repository.ts) are only ever sent together when they
   * come from the same one.
   */
  readonly sessionOf: (context: Context.Context<never>) => unknown
  /** Runs `effect` as one unit: a transaction, or a savepoint inside the fiber's. */
  readonly transaction: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options?: TransactionOptions
  ) => Effect.Effect<A, E | DatabaseError.DatabaseError, R>
  /** How included relations are loaded; per level when absent (the engine has no `selectTree`). */
  readonly includeStrategy?: IncludeStrategy | undefined
  /** What the engine adds to every repository it serves (PostgreSQL: invalidations for `sql.reactive`). */
  readonly decorate?: (<Repo extends object>(repository: Repo, table: Table.Table<any, any>) => Repo) | undefined
}
