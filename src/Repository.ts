/**
 * Repositories: typed reads and writes for one table, made from a table
 * definition. The same repository runs on PostgreSQL or on the in-memory
 * database, whichever `Database` layer is provided.
 *
 * @since 0.1.0
 */
import type { Statement } from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { ParseError } from "effect/ParseResult"
import type * as Redacted from "effect/Redacted"
import type * as Stream from "effect/Stream"
import { Database } from "./Database.js"
import type * as DatabaseError from "./DatabaseError.js"
import type * as Query from "./Query.js"
import * as internalIncrement from "./internal/increment.js"
import { makeRepository } from "./internal/repository.js"
import type * as Table from "./Table.js"

/**
 * A page of rows from {@link Repository.paginate}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Page<A> {
  readonly items: ReadonlyArray<A>
  /** An opaque cursor for the next page; `None` on the last page. */
  readonly next: Option.Option<string>
}

/**
 * What `upsert` does when the row conflicts: update every inserted column
 * (except the conflict key and the created timestamp), update the listed
 * fields, or leave the existing row as it is.
 *
 * @since 0.1.0
 * @category models
 */
export type ConflictUpdate<F extends string> = "all" | "nothing" | ReadonlyArray<F>

/**
 * Options of `upsert`.
 *
 * @since 0.1.0
 * @category models
 */
export interface UpsertOptions<F extends string> {
  /** The unique key that decides a conflict (its fields), or a constraint name. */
  readonly onConflict: ReadonlyArray<F> | { readonly constraint: string }
  /** Default `"all"`. */
  readonly update?: ConflictUpdate<F> | undefined
}

/**
 * A patch value that adds to a numeric field in the database itself
 * (`balance = balance + $1`), so concurrent updates never lose one another's
 * changes. NULL plus anything stays NULL, as in SQL.
 *
 * @since 0.1.0
 * @category models
 */
export interface Increment extends internalIncrement.Increment {}

/**
 * The brand of {@link Increment}: a patch value from JSON that looks like
 * one (`{ "_tag": "Increment", "by": 1 }`) is a plain value, never an
 * increment.
 *
 * @since 0.1.0
 * @category type ids
 */
export const IncrementTypeId: internalIncrement.IncrementTypeId = internalIncrement.IncrementTypeId

/**
 * The type of {@link IncrementTypeId}.
 *
 * @since 0.1.0
 * @category type ids
 */
export type IncrementTypeId = typeof IncrementTypeId

/**
 * Adds `by` (which may be negative) to a numeric field, atomically:
 * `accounts.update(id, { balance: Repository.increment(-amount) })`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const increment: (by: number) => Increment = internalIncrement.increment

/**
 * Whether a patch value is an {@link Increment} made by {@link increment}.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isIncrement: (u: unknown) => u is Increment = internalIncrement.isIncrement

/**
 * Errors of reads that take a query: a filter value that fails the model's
 * schema is a `ParseError`, a query that is not one of this table (an
 * unknown field, a bad limit) an `InvalidQuery`, a cursor it did not make an
 * `InvalidCursor`; all raised before any SQL is sent.
 *
 * @since 0.1.0
 * @category models
 */
export type ReadError =
  | DatabaseError.DatabaseError
  | ParseError
  | DatabaseError.InvalidCursor
  | DatabaseError.InvalidQuery

/**
 * Errors of writes: input that fails the model's schema is a `ParseError`,
 * an option that names no field or key of the table an `InvalidQuery`, both
 * raised before any SQL is sent; the rest come from the database.
 *
 * @since 0.1.0
 * @category models
 */
export type WriteError = DatabaseError.DatabaseError | ParseError | DatabaseError.InvalidQuery

/**
 * The repository of a table.
 *
 * @since 0.1.0
 * @category models
 */
export interface Repository<T extends Table.Table<any, any>> {
  readonly table: T

  /**
   * The row with this primary key, if there is one (and it is not
   * soft-deleted), with the relations that `include` asks for (see
   * {@link ByIdInclude}).
   */
  readonly findById: {
    (id: Table.Id<T>): Effect.Effect<Option.Option<Table.Row<T>>, WriteError>
    <I>(
      id: Table.Id<T>,
      include: ByIdInclude<T, I>
    ): Effect.Effect<Option.Option<Query.Loaded<Table.Row<T>, I>>, WriteError>
  }
  /** The row with this primary key, or `NotFound`; with the relations that `include` asks for. */
  readonly getById: {
    (id: Table.Id<T>): Effect.Effect<Table.Row<T>, WriteError | DatabaseError.NotFound>
    <I>(
      id: Table.Id<T>,
      include: ByIdInclude<T, I>
    ): Effect.Effect<Query.Loaded<Table.Row<T>, I>, WriteError | DatabaseError.NotFound>
  }
  /** The first row the query returns, with the relations it includes. */
  readonly findOne: <I = {}>(
    query?: Query.Query<Table.Row<T>, any, I>
  ) => Effect.Effect<Option.Option<Query.Loaded<Table.Row<T>, I>>, ReadError>
  /** Every row the query returns, with the relations it includes. */
  readonly findMany: <I = {}>(
    query?: Query.Query<Table.Row<T>, any, I>
  ) => Effect.Effect<ReadonlyArray<Query.Loaded<Table.Row<T>, I>>, ReadError>
  /** How many rows the query returns. */
  readonly count: (query?: Query.Query<Table.Row<T>>) => Effect.Effect<number, ReadError>
  /** Whether the query returns any row. */
  readonly exists: (query?: Query.Query<Table.Row<T>>) => Effect.Effect<boolean, ReadError>
  /** Sum of a numeric field over the query's rows; `None` when there are none. */
  readonly sum: (
    field: NumericField<Table.Row<T>>,
    query?: Query.Query<Table.Row<T>>
  ) => Effect.Effect<Option.Option<number>, ReadError>
  /** Average of a numeric field; `None` when there are no rows. */
  readonly avg: (
    field: NumericField<Table.Row<T>>,
    query?: Query.Query<Table.Row<T>>
  ) => Effect.Effect<Option.Option<number>, ReadError>
  /** Smallest value of a numeric field; `None` when there are no rows. */
  readonly min: (
    field: NumericField<Table.Row<T>>,
    query?: Query.Query<Table.Row<T>>
  ) => Effect.Effect<Option.Option<number>, ReadError>
  /** Largest value of a numeric field; `None` when there are no rows. */
  readonly max: (
    field: NumericField<Table.Row<T>>,
    query?: Query.Query<Table.Row<T>>
  ) => Effect.Effect<Option.Option<number>, ReadError>
  /**
   * Keyset pagination over the query's ordering, with the primary key as
   * the final tie-breaker: stable while rows are inserted, and as fast on
   * page 1,000 as on page 1. The query's own limit and offset are ignored;
   * its includes are loaded for each page.
   */
  readonly paginate: <I = {}>(
    query: Query.Query<Table.Row<T>, any, I>,
    options: { readonly limit: number; readonly after?: string | undefined }
  ) => Effect.Effect<Page<Query.Loaded<Table.Row<T>, I>>, ReadError>
  /**
   * The query's rows as a stream over a server-side cursor: memory stays
   * flat (the next batch is asked for as one is handed over, so at most one
   * waits ahead of the consumer), and the connection is released when the
   * stream ends or the consumer stops early. A query whose limit is at most
   * the batch size is one statement, as in `findMany`, and one chunk.
   * Included relations are loaded a batch at a time.
   */
  readonly stream: <I = {}>(
    query?: Query.Query<Table.Row<T>, any, I>,
    options?: { readonly batchSize?: number | undefined }
  ) => Stream.Stream<Query.Loaded<Table.Row<T>, I>, ReadError>

  /** Inserts a row and returns it as stored (generated columns included). */
  readonly insert: (row: Table.Insert<T>) => Effect.Effect<Table.Row<T>, WriteError>
  /**
   * Inserts many rows in as few statements as the parameter limit allows
   * (one `unnest` statement when the columns allow it) and returns them in
   * input order. An empty list does nothing.
   */
  readonly insertMany: (rows: ReadonlyArray<Table.Insert<T>>) => Effect.Effect<ReadonlyArray<Table.Row<T>>, WriteError>
  /**
   * Like `insertMany`, without reading the rows back: faster for bulk loads.
   * From 5,000 rows, into a table without row-level security or rules, it
   * loads with `COPY ... FROM STDIN` (all rows or none, the same errors).
   */
  readonly insertManyDiscard: (rows: ReadonlyArray<Table.Insert<T>>) => Effect.Effect<void, WriteError>
  /** Inserts, or on a conflict of the given key updates (or keeps) the existing row; returns the row. */
  readonly upsert: (
    row: Table.Insert<T>,
    options: UpsertOptions<Table.FieldName<T["model"]>>
  ) => Effect.Effect<Table.Row<T>, WriteError>
  /**
   * Updates some fields of one row and returns it; a numeric field can take
   * {@link increment}. With `expectedVersion`
   * (tables with a version field) the row must still have that version, or
   * the update fails with `StaleVersion`; every update increments it.
   */
  readonly update: (
    id: Table.Id<T>,
    patch: Table.Patch<T>,
    options?: { readonly expectedVersion?: number | undefined }
  ) => Effect.Effect<Table.Row<T>, WriteError | DatabaseError.NotFound | DatabaseError.StaleVersion>
  /** Updates the query's rows; returns how many. */
  readonly updateMany: (
    query: Query.Query<Table.Row<T>>,
    patch: Table.Patch<T>
  ) => Effect.Effect<number, ReadError>
  /** Deletes one row (soft-deletes on a soft-delete table), or `NotFound`. */
  readonly delete: (id: Table.Id<T>) => Effect.Effect<void, WriteError | DatabaseError.NotFound>
  /** Deletes the query's rows (soft-deletes on a soft-delete table); returns how many. */
  readonly deleteMany: (query: Query.Query<Table.Row<T>>) => Effect.Effect<number, ReadError>
  /** Brings back a soft-deleted row and returns it, or `NotFound` when no soft-deleted row has this key. */
  readonly restore: (id: Table.Id<T>) => Effect.Effect<Table.Row<T>, WriteError | DatabaseError.NotFound>
  /** Deletes one row for good, soft-deleted or not, or `NotFound`. */
  readonly hardDelete: (id: Table.Id<T>) => Effect.Effect<void, WriteError | DatabaseError.NotFound>
  /**
   * Runs your own SQL (a CTE, a window function) on the fiber's transaction
   * or the pool, and decodes the rows with the model. Columns are matched to
   * fields by their column names. Not supported by the in-memory database.
   */
  readonly raw: (statement: Statement<unknown>) => Effect.Effect<ReadonlyArray<Table.Row<T>>, DatabaseError.DatabaseError>
}

/**
 * The relations a read by key loads with its row: a function from the
 * table's query to a query with includes, such as
 * `Query.include("messages", (m) => m.pipe(Query.limit(20)))` or
 * `(q) => q.pipe(Query.include("messages"), Query.include("profile"))`.
 * Only includes may be added: the key alone picks the row, so a filter,
 * an ordering, a limit, an offset, DISTINCT ON or a soft-delete visibility
 * in it is an `InvalidQuery` (part `"include"`), raised before any SQL is
 * sent. The included relations' own queries (their filter, ordering,
 * per-parent limit, nested includes) apply as with `findMany`.
 *
 * @since 0.1.0
 * @category models
 */
export type ByIdInclude<T extends Table.Table<any, any>, I> = (
  query: Query.Query<Table.Row<T>, Table.RelationsOf<T>>
) => Query.Query<Table.Row<T>, any, I>

/**
 * The fields of `A` that hold numbers.
 *
 * @since 0.1.0
 * @category models
 */
export type NumericField<A> = { readonly [K in keyof A]: A[K] extends number | null ? K : never }[keyof A] & string

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Rows per round trip for `stream`. Default 1,000. */
  readonly streamBatchSize?: number | undefined
  /**
   * A secret that signs pagination cursors (HMAC-SHA256 over the table and
   * the cursor). With it, `paginate` accepts only cursors this table's
   * repositories made with the same key; without it, cursors are unsigned
   * positions, checked against the ordering and the fields' schemas.
   */
  readonly cursorKey?: string | Redacted.Redacted<string> | undefined
}

/**
 * Makes the repository of a table on whatever `Database` is provided:
 * PostgreSQL (`Database.layer`) or the in-memory database
 * (`Database.layerMemory`). Put it behind your own service:
 *
 * @example
 * class Users extends Effect.Service<Users>()("app/Users", {
 *   effect: Repository.make(UsersTable)
 * }) {}
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <T extends Table.Table<any, any>>(
  table: T,
  options: Options = {}
): Effect.Effect<Repository<T>, never, Database> =>
  Effect.map(Database, (database) => makeRepository(table, options, database.engine))
