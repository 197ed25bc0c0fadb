/**
 * Schema migrations: `up`, `down`, `redo` and `status` over migrations from
 * a directory (`NNNN_name.up.sql` / `NNNN_name.down.sql`, or `NNNN_name.ts`
 * modules exporting `up` and `down` Effects) or from records in code. Each
 * migration runs in its own transaction unless it opts out; an advisory lock
 * makes concurrent runners take turns; a checksum per applied migration
 * catches later edits. The history table is `@effect/sql`'s
 * `effect_sql_migrations`, so a project that used `PgMigrator` switches
 * without running anything again.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as SqlClientTag from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Database from "./Database.js"
import type * as DatabaseError from "./DatabaseError.js"
import * as Runner from "./internal/migrator/runner.js"
import * as Source from "./internal/migrator/source.js"

/**
 * The unique symbol that identifies migration sources.
 *
 * @since 0.1.0
 * @category type ids
 */
export const SourceTypeId: unique symbol = Symbol.for("effect-dal/Migrator/Source")

/**
 * A migration as its source describes it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Migration {
  readonly id: number
  readonly name: string
  /** sha256 of the up SQL or of the module's source; undefined for an Effect given in code. */
  readonly checksum: string | undefined
  /** Where it comes from: its file name, or `record <id>_<name>`. */
  readonly origin: string
}

/**
 * Where migrations come from: {@link fromDirectory} or {@link fromRecords}.
 * Loading validates names, ids and modules before anything runs.
 *
 * @since 0.1.0
 * @category models
 */
export interface MigrationSource {
  readonly [SourceTypeId]: typeof SourceTypeId
  /** @internal */
  readonly load: Effect.Effect<ReadonlyArray<Source.Migration>, DatabaseError.MigrationError>
}

/**
 * A migration written in code: SQL text or an Effect for `up`, and
 * optionally for `down`. `transaction: false` runs it outside a transaction
 * (for `CREATE INDEX CONCURRENTLY`). The checksum of SQL text is kept; an
 * Effect has none, so only SQL records are checked for later edits.
 *
 * @since 0.1.0
 * @category models
 */
export interface MigrationRecord {
  readonly id: number
  readonly name: string
  readonly up: string | Effect.Effect<unknown, unknown, Requirements>
  readonly down?: string | Effect.Effect<unknown, unknown, Requirements> | undefined
  readonly transaction?: boolean | undefined
}

/**
 * What migrations and the migrator run with: the `Database`, and the
 * `SqlClient` its layers provide on the same pool.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = Database.Database | SqlClient.SqlClient

/**
 * Migrations from a directory. `0001_create_users.up.sql` is the up step of
 * migration 1, `create_users`; `0001_create_users.down.sql` its down step. A
 * module `0002_backfill.ts` (or `.js`, `.mjs`) exports `up` and optionally
 * `down` Effects, and `transaction = false` to run outside a transaction; a
 * PgMigrator module (`export default Effect...`) is its up step. An SQL file
 * whose first line is `-- effect-dal: no-transaction` runs outside a
 * transaction, statement by statement. Files starting with `.` or `_` are
 * ignored; any other `.sql`, `.ts` or `.js` file with a bad name, a duplicate
 * id, or a down file without its up file is an `invalid-source` error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDirectory = (directory: string): MigrationSource => ({
  [SourceTypeId]: SourceTypeId,
  load: Effect.suspend(() => Source.fromDirectory(directory))
})

/**
 * Migrations given in code. Ids are whole numbers from 1; names are letters,
 * digits, `_` and `-`. Bad names and duplicate ids are `invalid-source`
 * errors.
 *
 * @example
 * const migrations = Migrator.fromRecords([
 *   { id: 1, name: "create_users", up: "CREATE TABLE users (id serial PRIMARY KEY)", down: "DROP TABLE users" }
 * ])
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromRecords = (records: ReadonlyArray<MigrationRecord>): MigrationSource => ({
  [SourceTypeId]: SourceTypeId,
  load: Effect.suspend(() => Source.fromRecords(records))
})

/**
 * The migrations of a source, validated and sorted by id.
 *
 * @since 0.1.0
 * @category combinators
 */
export const migrations = (source: MigrationSource): Effect.Effect<ReadonlyArray<Migration>, DatabaseError.MigrationError> =>
  Effect.map(source.load, (list) => list.map(({ checksum, id, name, origin }) => ({ id, name, checksum, origin })))

/**
 * Options of every migrator command.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly source: MigrationSource
  /** The history table; default `effect_sql_migrations` (PgMigrator's). Trusted configuration. */
  readonly table?: string | undefined
  /** How long to wait for another runner's lock; default 1 minute. */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /** Apply pending migrations older than the last applied one instead of failing. */
  readonly allowOutOfOrder?: boolean | undefined
  /** Return what would run, with its SQL, without running it or taking the lock. */
  readonly dryRun?: boolean | undefined
  /** Runs after each migration is done, before the next starts: for progress output. */
  readonly onMigration?: ((ran: Ran) => Effect.Effect<void>) | undefined
}

/**
 * One migration in a {@link status} report: its `id` and `name`, its
 * `state` ("applied" or "pending"), `appliedAt`, `duration` (none for rows
 * written by PgMigrator), `inSource` (whether it is among the source's
 * migrations: an applied one may have been removed), `changed` (applied,
 * and its up text or source has changed since) and `outOfOrder` (pending,
 * and older than the last applied migration).
 *
 * @since 0.1.0
 * @category models
 */
export interface MigrationStatus extends Runner.Entry {}

/**
 * What {@link status} reports: every migration of the source and of the
 * history, by id.
 *
 * @since 0.1.0
 * @category models
 */
export interface Status {
  readonly migrations: ReadonlyArray<MigrationStatus>
  readonly applied: ReadonlyArray<MigrationStatus>
  readonly pending: ReadonlyArray<MigrationStatus>
}

/**
 * A migration that ran (or, in a dry run, would run): its `id`, `name` and
 * `direction`, whether it ran in its own `transaction`, its `sql` (none
 * for an Effect) and `duration` (none in a dry run).
 *
 * @since 0.1.0
 * @category models
 */
export interface Ran extends Runner.Ran {}

/**
 * The errors of the migrator's commands.
 *
 * @since 0.1.0
 * @category errors
 */
export type MigratorError = DatabaseError.MigrationError | DatabaseError.DatabaseError

const settingsOf = (options: Options): Runner.Settings => ({
  table: options.table ?? "effect_sql_migrations",
  lockTimeout: Duration.decode(options.lockTimeout ?? "1 minute"),
  allowOutOfOrder: options.allowOutOfOrder ?? false,
  onMigration: options.onMigration ?? (() => Effect.void)
})

const services = Effect.all([Database.Database, SqlClientTag.SqlClient])

const locked = <A>(
  options: Options,
  name: string,
  body: (
    db: Database.Service,
    sql: SqlClient.SqlClient,
    settings: Runner.Settings,
    list: ReadonlyArray<Source.Migration>
  ) => Effect.Effect<A, MigratorError, any>
): Effect.Effect<A, MigratorError, Requirements> => {
  const settings = settingsOf(options)
  return Effect.gen(function*() {
    const [db, sql] = yield* services
    const list = yield* options.source.load
    return yield* Runner.withLock(db, sql, settings, body(db, sql, settings, list))
  }).pipe(
    Effect.withSpan(`Migrator.${name}`, { captureStackTrace: false, attributes: { "db.migrations.table": settings.table } })
  ) as Effect.Effect<A, MigratorError, Requirements>
}

const dry = <A>(
  options: Options,
  name: string,
  body: (
    history: ReadonlyArray<Runner.HistoryRow>,
    settings: Runner.Settings,
    list: ReadonlyArray<Source.Migration>
  ) => Effect.Effect<A, MigratorError>
): Effect.Effect<A, MigratorError, Requirements> => {
  const settings = settingsOf(options)
  return Effect.gen(function*() {
    const sql = yield* SqlClientTag.SqlClient
    const list = yield* options.source.load
    const history = yield* Runner.readHistory(sql, settings)
    yield* Runner.checkChecksums(list, history)
    return yield* body(history, settings, list)
  }).pipe(Effect.withSpan(`Migrator.${name}`, {
    captureStackTrace: false,
    attributes: { "db.migrations.table": settings.table, "db.migrations.dry_run": true }
  }))
}

/**
 * Every migration with its state: applied (when, and how long it took) or
 * pending, and whether an applied one was changed since or a pending one is
 * out of order. Reads only; takes no lock and creates nothing.
 *
 * @since 0.1.0
 * @category commands
 */
export const status = (
  options: Pick<Options, "source" | "table">
): Effect.Effect<Status, MigratorError, Requirements> => {
  const settings = settingsOf({ source: options.source, table: options.table })
  return Effect.gen(function*() {
    const sql = yield* SqlClientTag.SqlClient
    const list = yield* options.source.load
    const history = yield* Runner.readHistory(sql, settings)
    const entries = Runner.entries(list, history)
    return {
      migrations: entries,
      applied: entries.filter((e) => e.state === "applied"),
      pending: entries.filter((e) => e.state === "pending")
    }
  }).pipe(
    Effect.withSpan("Migrator.status", { captureStackTrace: false, attributes: { "db.migrations.table": settings.table } })
  )
}

/**
 * Applies the pending migrations in id order, or those up to `to`, each in
 * its own transaction, and returns them. Fails before anything runs when an
 * applied migration was changed (`checksum-mismatch`), when a pending one is
 * older than the last applied one (`out-of-order`, unless
 * `allowOutOfOrder`), or when `to` is not a migration (`unknown-target`). A
 * failing migration is rolled back and stays pending (`failed`, with its
 * SQLSTATE); the ones before it stay applied.
 *
 * @example
 * const applied = yield* Migrator.up({ source: Migrator.fromDirectory("migrations") })
 *
 * @since 0.1.0
 * @category commands
 */
export const up = (
  options: Options & { readonly to?: number | undefined }
): Effect.Effect<ReadonlyArray<Ran>, MigratorError, Requirements> =>
  options.dryRun === true
    ? dry(options, "up", (history, settings, list) =>
      Effect.flatMap(
        Runner.planUp(list, history, settings, options.to),
        (pending) => Effect.forEach(pending, (m) => Effect.map(m.load, (loaded) => Runner.planned(m, loaded, "up")))
      ))
    : locked(options, "up", (db, sql, settings, list) => Runner.upLocked(db, sql, settings, list, options.to))

/**
 * Undoes applied migrations, newest first: the last one (`steps`, default
 * 1), or every one newer than `to` (`to: 0` undoes all). Each runs its down
 * step and deletes its history row in one transaction. A migration without
 * a down step fails with `no-down` before anything runs.
 *
 * @since 0.1.0
 * @category commands
 */
export const down = (
  options: Options & { readonly steps?: number | undefined; readonly to?: number | undefined }
): Effect.Effect<ReadonlyArray<Ran>, MigratorError, Requirements> =>
  options.dryRun === true
    ? dry(options, "down", (history, _settings, list) =>
      Effect.map(
        Runner.planDown(list, history, { steps: options.steps, to: options.to }),
        (plan) => plan.map(([m, loaded]) => Runner.planned(m, loaded, "down"))
      ))
    : locked(options, "down", (db, sql, settings, list) =>
      Runner.downLocked(db, sql, settings, list, { steps: options.steps, to: options.to }))

/**
 * Undoes the last applied migration and applies it again, under one lock:
 * for working on the newest migration.
 *
 * @since 0.1.0
 * @category commands
 */
export const redo = (options: Options): Effect.Effect<ReadonlyArray<Ran>, MigratorError, Requirements> =>
  options.dryRun === true
    ? dry(options, "redo", (history, _settings, list) =>
      Effect.map(Runner.planDown(list, history, { steps: 1 }), (plan) =>
        plan.flatMap(([m, loaded]) => [Runner.planned(m, loaded, "down"), Runner.planned(m, loaded, "up")])))
    : locked(options, "redo", (db, sql, settings, list) =>
      Effect.gen(function*() {
        const undone = yield* Runner.downLocked(db, sql, settings, list, { steps: 1 })
        const last = undone[0]
        if (last === undefined) return undone
        const migration = list.find((m) => m.id === last.id)!
        const again = yield* Runner.run(db, sql, settings, migration, yield* migration.load, "up")
        return [...undone, again]
      }))
