/**
 * The repository contract: one suite of behaviours that every backend must
 * show, run against PostgreSQL and against the in-memory database, and
 * `suiteFor`, the part of it that applies to any table, for your own table
 * definitions. Each test runs in a transaction that is rolled back, so
 * tests never see each other's rows.
 *
 * @since 0.1.0
 */
import { layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as FastCheck from "effect/FastCheck"
import type * as Layer from "effect/Layer"
import * as Database from "../Database.js"
import type * as Table from "../Table.js"
import { batchedReads } from "./contract/batchedReads.js"
import { compositeKeys } from "./contract/compositeKeys.js"
import { pagination } from "./contract/pagination.js"
import { postgresSemantics } from "./contract/postgresSemantics.js"
import { queries } from "./contract/queries.js"
import { readsByKey } from "./contract/readsByKey.js"
import { relations } from "./contract/relations.js"
import { softDelete } from "./contract/softDelete.js"
import { tableContract } from "./contract/table.js"
import { readOnlyTransactions, transactions } from "./contract/transactions.js"
import { untrustedInput } from "./contract/untrustedInput.js"
import { writes } from "./contract/writes.js"

class Rollback {
  readonly _tag = "Rollback"
  constructor(readonly exit: unknown) {}
}

/**
 * Runs a test body in a transaction that is always rolled back, and gives
 * back the body's own outcome.
 *
 * @since 0.1.0
 * @category utils
 */
export const sandbox = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | Database.Database> =>
  Effect.flatMap(
    Effect.exit(Database.transaction(Effect.flatMap(Effect.exit(effect), (exit) => Effect.fail(new Rollback(exit))))),
    (outer) => {
      if (outer._tag === "Failure" && outer.cause._tag === "Fail" && outer.cause.error instanceof Rollback) {
        return outer.cause.error.exit as Effect.Effect<A, E>
      }
      return Effect.dieMessage(`the sandbox transaction ended unexpectedly: ${String(outer)}`)
    }
  )

/**
 * Runs the contract against a layer that provides a `Database` whose
 * fixture tables exist (see `Fixtures.ddl` for PostgreSQL).
 *
 * @since 0.1.0
 * @category suites
 */
export const suite = <E>(name: string, database: Layer.Layer<Database.Database, E>): void => {
  layer(database)(`repository contract: ${name}`, (it) => {
    const test = <A, E2>(title: string, body: () => Effect.Effect<A, E2, Database.Database>) =>
      it.effect(title, () => sandbox(body()))

    readsByKey(test)
    queries(test)
    pagination(test)
    writes(test)
    softDelete(test)
    transactions(test)
    untrustedInput(test)
    postgresSemantics(test)
    relations(test)
    compositeKeys(test)
    batchedReads(test)
  })

  readOnlyTransactions(name, database)
}

// ---------------------------------------------------------------------------
// the contract on your own tables
// ---------------------------------------------------------------------------

/**
 * Options of {@link suiteFor}.
 *
 * @since 0.1.0
 * @category suites
 */
export interface SuiteForOptions<T extends Table.Table<any, any>, E = never> {
  /**
   * The database to run on. The table must exist there: for PostgreSQL,
   * create it while building the layer (text columns `COLLATE "C"`, the
   * collation the in-memory database implements).
   */
  readonly layer: Layer.Layer<Database.Database, E>
  /**
   * Makes the n-th row to insert (n = 0, 1, 2, ...). Rows must differ in the
   * primary key (when the insert sets it) and in every unique key. Leave
   * out timestamps, the version and the soft-delete field: the repository
   * fills them in. Default: rows from {@link SuiteForOptions.arbitrary}.
   */
  readonly makeRow?: ((n: number) => Table.Insert<T>) | undefined
  /**
   * Rows to insert, when there is no `makeRow`. Default
   * `Arbitrary.make(table.model.insert)`: annotate the model so that its
   * values fit the columns (`Schema.Int.pipe(Schema.between(0, 100))` for
   * an `integer`, `Schema.maxLength(n)` for a `varchar(n)`). NUL characters
   * are taken out of generated text: PostgreSQL text cannot hold them.
   */
  readonly arbitrary?: FastCheck.Arbitrary<Table.Insert<T>> | undefined
  /** The seed of generated rows, so that every run uses the same rows. Default 42. */
  readonly seed?: number | undefined
  /** How many rows the pagination test inserts. Default 12. */
  readonly rows?: number | undefined
  /**
   * The patch that the update tests apply to a stored row. Default: one
   * field (not a key, timestamp, version or soft-delete field) set to the
   * value another generated row has.
   */
  readonly patch?: ((row: Table.Row<T>) => Table.Patch<T>) | undefined
}

/**
 * Runs the contract's behaviours that hold for any table on your own table
 * definition. A row round-trips through the schema; `findById`, `getById`
 * and `NotFound`; `update` and `delete`; `count` and `exists`; ordering by
 * and filtering on the primary key; keyset pagination visits every row
 * once; a failing transaction (top-level or nested, a savepoint) rolls back
 * its own inserts and nothing else; soft delete and `restore`, the version
 * and `StaleVersion`, and timestamps from `Clock` when the table declares
 * them; and `UniqueViolation` with the constraint name for every unique
 * key. A composite primary key works too: its rows are read, ordered,
 * filtered and paginated by the whole key (a record of its fields). Run it
 * on PostgreSQL and on `Database.layerMemory()` to know that unit tests on
 * the fake mean the same as on the database.
 *
 * @example
 * ContractSuite.suiteFor("in-memory", Users, { layer: Database.layerMemory() })
 * ContractSuite.suiteFor("PostgreSQL", Users, { layer: PostgresWithUsersTable })
 *
 * @since 0.1.0
 * @category suites
 */
export const suiteFor = <T extends Table.Table<any, any>, E = never>(
  name: string,
  table: T,
  options: SuiteForOptions<T, E>
): void => {
  const register = tableContract(table, options)
  layer(options.layer)(`table contract: ${name}, table "${table.name}"`, (it) => {
    const test = <A, E2>(title: string, body: () => Effect.Effect<A, E2, Database.Database>) =>
      it.effect(title, () => sandbox(body()))

    register(test, it)
  })
}
