/**
 * @internal
 * The migration runner: the history table, the advisory lock, checksums,
 * plans and running each migration in its own transaction.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as DatabaseError from "../../DatabaseError.js"
import { quote } from "../identifier.js"
import { type Loaded, type Migration, splitStatements, type Step } from "./source.js"

/** @internal What the runner needs of the Database service. */
export interface Transact {
  readonly transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | DatabaseError.DatabaseError, R>
  readonly withConnection: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | DatabaseError.DatabaseError, R>
}

/** @internal */
export interface Settings {
  readonly table: string
  readonly lockTimeout: Duration.Duration
  readonly allowOutOfOrder: boolean
  /** Called after each migration has run (committed, when in a transaction). */
  readonly onMigration: (ran: Ran) => Effect.Effect<void>
}

/** @internal A row of the history table. */
export interface HistoryRow {
  readonly id: number
  readonly name: string
  readonly appliedAt: Date
  readonly checksum: string | null
  readonly durationMs: number | null
}

/** @internal One migration in a status report. */
export interface Entry {
  readonly id: number
  readonly name: string
  readonly state: "applied" | "pending"
  readonly appliedAt: Option.Option<Date>
  readonly duration: Option.Option<Duration.Duration>
  /** Whether the migration is among the source's (an applied one may have been removed). */
  readonly inSource: boolean
  /** An applied migration whose up text or source changed since. */
  readonly changed: boolean
  /** A pending migration older than the last applied one. */
  readonly outOfOrder: boolean
}

/** @internal One migration run, or planned by a dry run. */
export interface Ran {
  readonly id: number
  readonly name: string
  readonly direction: "up" | "down"
  readonly transaction: boolean
  /** The SQL of the step; none for an Effect. */
  readonly sql: Option.Option<string>
  /** How long it took; none in a dry run. */
  readonly duration: Option.Option<Duration.Duration>
}

// "MIGR": the first key of effect-dal's advisory locks; the second is the
// hash of the history table's name, so runners on other tables never wait.
const lockNamespace = 0x4d494752

const query = <A extends object>(sql: SqlClient.SqlClient, text: string, params: ReadonlyArray<unknown> = []) =>
  Effect.mapError(sql.unsafe<A>(text, params).withoutTransform, DatabaseError.fromSqlError)

const label = (m: { readonly id: number; readonly name: string }) => `${m.id}_${m.name}`

const failure = (
  reason: DatabaseError.MigrationFailure,
  detail: string,
  migration?: { readonly id: number; readonly name: string }
) =>
  new DatabaseError.MigrationError({
    reason,
    detail,
    ...(migration === undefined ? {} : { migrationId: migration.id, migrationName: migration.name })
  })

/** @internal The table's name as an identifier: trusted configuration, quoted all the same. */
export const tableIdentifier = (table: string) => quote(table)

/** @internal The history, or none when the table does not exist yet. Adopts PgMigrator's table. */
export const readHistory = (sql: SqlClient.SqlClient, settings: Settings) =>
  Effect.gen(function*() {
    const columns = yield* query<{ name: string }>(
      sql,
      "SELECT attname AS name FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
      [tableIdentifier(settings.table)]
    )
    if (columns.length === 0) return [] as ReadonlyArray<HistoryRow>
    const has = new Set(columns.map((c) => c.name))
    // A PgMigrator table has neither column until a run of ours adds them.
    const rows = yield* query<{ id: number; name: string; applied_at: Date; checksum: string | null; duration_ms: number | null }>(
      sql,
      `SELECT migration_id AS id, name, created_at AS applied_at, ${
        has.has("checksum") ? "checksum" : "NULL::text AS checksum"
      }, ${has.has("duration_ms") ? "duration_ms" : "NULL::integer AS duration_ms"} FROM ${
        tableIdentifier(settings.table)
      } ORDER BY migration_id`
    )
    return rows.map((r): HistoryRow => ({
      id: Number(r.id),
      name: r.name,
      appliedAt: r.applied_at,
      checksum: r.checksum,
      durationMs: r.duration_ms
    }))
  })

// PgMigrator's table, plus two columns it ignores: a table PgMigrator made
// is adopted as it is, and PgMigrator keeps working on ours.
const ensureTable = (sql: SqlClient.SqlClient, settings: Settings) => {
  const table = tableIdentifier(settings.table)
  return Effect.zipRight(
    query(
      sql,
      `CREATE TABLE IF NOT EXISTS ${table} (migration_id integer PRIMARY KEY, ` +
        "created_at timestamp with time zone NOT NULL DEFAULT now(), name text NOT NULL, checksum text, duration_ms integer)"
    ),
    query(sql, `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS checksum text, ADD COLUMN IF NOT EXISTS duration_ms integer`)
  )
}

/**
 * @internal
 * Runs `effect` on one pinned connection holding the migration lock of the
 * table: pg_try_advisory_lock, polled until `lockTimeout`. The lock is a
 * session lock, so it outlives each migration's transaction; it is released
 * at the end, and by the connection's reset in any case.
 */
export const withLock = <A, E, R>(
  db: Transact,
  sql: SqlClient.SqlClient,
  settings: Settings,
  effect: Effect.Effect<A, E, R>
) => {
  const params = [lockNamespace, settings.table]
  const tryLock = query<{ locked: boolean }>(sql, "SELECT pg_try_advisory_lock($1::int4, hashtext($2::text)) AS locked", params)
  // acquireUseRelease runs its acquire uninterruptibly, and the timeout
  // works by interrupting the polling: it is made interruptible again. A
  // lock granted just as the timeout fires goes with the connection's reset.
  const acquire = tryLock.pipe(
    Effect.repeat({
      schedule: Schedule.spaced("100 millis").pipe(Schedule.jittered),
      until: (rows) => rows[0]?.locked === true
    }),
    Effect.interruptible,
    Effect.timeoutFail({
      duration: settings.lockTimeout,
      onTimeout: () =>
        failure(
          "lock-timeout",
          `another runner held the migration lock of ${tableIdentifier(settings.table)} for longer than ${
            Duration.format(settings.lockTimeout)
          }; try again when it has finished, or raise the lock timeout`
        )
    }),
    Effect.withSpan("Migrator.lock", { captureStackTrace: false })
  )
  const release = Effect.ignore(query(sql, "SELECT pg_advisory_unlock($1::int4, hashtext($2::text))", params))
  return db.withConnection(Effect.acquireUseRelease(acquire, () => effect, () => release))
}

/** @internal Fails on the first applied migration whose checksum changed. */
export const checkChecksums = (migrations: ReadonlyArray<Migration>, history: ReadonlyArray<HistoryRow>) => {
  const byId = new Map(migrations.map((m) => [m.id, m]))
  for (const row of history) {
    const migration = byId.get(row.id)
    if (migration?.checksum !== undefined && row.checksum !== null && row.checksum !== migration.checksum) {
      return Effect.fail(
        failure(
          "checksum-mismatch",
          `it was changed after it was applied (${migration.origin} no longer matches its checksum); ` +
            "restore it and put the change in a new migration",
          row
        )
      )
    }
  }
  return Effect.void
}

/** @internal A status report of the source against the history. */
export const entries = (migrations: ReadonlyArray<Migration>, history: ReadonlyArray<HistoryRow>): Array<Entry> => {
  const applied = new Map(history.map((row) => [row.id, row]))
  const lastApplied = history.reduce((max, row) => Math.max(max, row.id), 0)
  const result: Array<Entry> = migrations.map((m) => {
    const row = applied.get(m.id)
    return {
      id: m.id,
      name: row?.name ?? m.name,
      state: row === undefined ? "pending" : "applied",
      appliedAt: Option.fromNullable(row?.appliedAt),
      duration: Option.map(Option.fromNullable(row?.durationMs), Duration.millis),
      inSource: true,
      changed: row !== undefined && row.checksum !== null && m.checksum !== undefined && row.checksum !== m.checksum,
      outOfOrder: row === undefined && m.id < lastApplied
    }
  })
  const known = new Set(migrations.map((m) => m.id))
  for (const row of history) {
    if (known.has(row.id)) continue
    result.push({
      id: row.id,
      name: row.name,
      state: "applied",
      appliedAt: Option.some(row.appliedAt),
      duration: Option.map(Option.fromNullable(row.durationMs), Duration.millis),
      inSource: false,
      changed: false,
      outOfOrder: false
    })
  }
  return result.sort((a, b) => a.id - b.id)
}

/** @internal What `up` will apply, in order; fails on an unknown target or out-of-order migrations. */
export const planUp = (
  migrations: ReadonlyArray<Migration>,
  history: ReadonlyArray<HistoryRow>,
  settings: Settings,
  to: number | undefined
) => {
  if (to !== undefined && !migrations.some((m) => m.id === to)) {
    return Effect.fail(failure("unknown-target", `target ${to} is not one of the migrations; nothing was applied`))
  }
  const applied = new Set(history.map((row) => row.id))
  const lastApplied = history.reduce((max, row) => Math.max(max, row.id), 0)
  const pending = migrations.filter((m) => !applied.has(m.id) && (to === undefined || m.id <= to))
  const early = pending.find((m) => m.id < lastApplied)
  if (early !== undefined && !settings.allowOutOfOrder) {
    return Effect.fail(
      failure(
        "out-of-order",
        `it is pending but older than the last applied migration (${lastApplied}); ` +
          "give it a newer id, or apply it with allowOutOfOrder (--allow-out-of-order); nothing was applied",
        early
      )
    )
  }
  return Effect.succeed(pending)
}

/** @internal What `down` will undo, newest first, loaded; fails before anything runs when one has no down step. */
export const planDown = (
  migrations: ReadonlyArray<Migration>,
  history: ReadonlyArray<HistoryRow>,
  target: { readonly steps?: number | undefined; readonly to?: number | undefined }
) =>
  Effect.gen(function*() {
    const newestFirst = [...history].sort((a, b) => b.id - a.id)
    let rows: Array<HistoryRow>
    if (target.to !== undefined) {
      const to = target.to
      if (to !== 0 && !history.some((row) => row.id === to) && !migrations.some((m) => m.id === to)) {
        return yield* failure("unknown-target", `target ${to} is not one of the migrations; nothing was undone`)
      }
      rows = newestFirst.filter((row) => row.id > to)
    } else {
      const steps = target.steps ?? 1
      if (!Number.isSafeInteger(steps) || steps < 1) {
        return yield* failure("unknown-target", "the number of steps must be a whole number of at least 1; nothing was undone")
      }
      rows = newestFirst.slice(0, steps)
    }
    const byId = new Map(migrations.map((m) => [m.id, m]))
    const planned: Array<readonly [Migration, Loaded]> = []
    for (const row of rows) {
      const migration = byId.get(row.id)
      if (migration === undefined) {
        return yield* failure("no-down", "it is applied but no longer among the migrations, so it has no down step; nothing was undone", row)
      }
      const loaded = yield* migration.load
      if (loaded.down === undefined) {
        return yield* failure("no-down", `${migration.origin} has no down step; nothing was undone`, migration)
      }
      planned.push([migration, loaded])
    }
    return planned
  })

const sqlOf = (step: Step | undefined): Option.Option<string> =>
  step?._tag === "Sql" ? Option.some(step.text) : Option.none()

/** @internal A dry run's line for a migration. */
export const planned = (migration: Migration, loaded: Loaded, direction: "up" | "down"): Ran => ({
  id: migration.id,
  name: migration.name,
  direction,
  transaction: direction === "up" ? loaded.transaction : loaded.downTransaction,
  sql: sqlOf(direction === "up" ? loaded.up : loaded.down),
  duration: Option.none()
})

const sqlStateOf = (error: unknown): string | undefined => {
  const e = error instanceof SqlError ? DatabaseError.fromSqlError(error) : error
  return typeof e === "object" && e !== null && "sqlState" in e && typeof e.sqlState === "string" ? e.sqlState : undefined
}

const runStep = (sql: SqlClient.SqlClient, step: Step, transaction: boolean): Effect.Effect<unknown, unknown, any> => {
  if (step._tag === "Effect") return step.effect
  // One simple query runs as one implicit transaction; outside a transaction
  // each statement goes on its own, as psql would send them.
  return transaction
    ? sql.unsafe(step.text)
    : Effect.forEach(splitStatements(step.text), (statement) => sql.unsafe(statement), { discard: true })
}

/**
 * @internal
 * Runs one migration up or down, with its history row, in one transaction
 * unless it opted out. Any failure becomes a `failed` MigrationError naming
 * it, with the SQLSTATE.
 */
export const run = (
  db: Transact,
  sql: SqlClient.SqlClient,
  settings: Settings,
  migration: Migration,
  loaded: Loaded,
  direction: "up" | "down"
): Effect.Effect<Ran, DatabaseError.MigrationError, any> => {
  const table = tableIdentifier(settings.table)
  const inTransaction = direction === "up" ? loaded.transaction : loaded.downTransaction
  const step = direction === "up" ? loaded.up : loaded.down!
  const body = Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    yield* runStep(sql, step, inTransaction)
    const elapsed = (yield* Clock.currentTimeMillis) - started
    if (direction === "up") {
      yield* query(
        sql,
        `INSERT INTO ${table} (migration_id, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)`,
        [migration.id, migration.name, migration.checksum ?? null, Math.round(elapsed)]
      )
    } else {
      yield* query(sql, `DELETE FROM ${table} WHERE migration_id = $1`, [migration.id])
    }
    return elapsed
  })
  return (inTransaction ? db.transaction(body) : body).pipe(
    Effect.mapError((error) => {
      const sqlState = sqlStateOf(error)
      return new DatabaseError.MigrationError({
        reason: "failed",
        migrationId: migration.id,
        migrationName: migration.name,
        ...(sqlState === undefined ? {} : { sqlState }),
        detail: `${direction} failed` + (inTransaction
          ? "; it was rolled back and the migration is " + (direction === "up" ? "still pending" : "still applied")
          : "; it ran without a transaction, so statements before the failing one may have been applied"),
        cause: error
      })
    }),
    Effect.map((elapsed): Ran => ({
      id: migration.id,
      name: migration.name,
      direction,
      transaction: inTransaction,
      sql: sqlOf(step),
      duration: Option.some(Duration.millis(elapsed))
    })),
    Effect.tap(settings.onMigration),
    Effect.withSpan("Migrator.run", {
      captureStackTrace: false,
      attributes: { "db.migration.id": migration.id, "db.migration.name": migration.name, "db.migration.direction": direction }
    })
  )
}

/** @internal Applies pending migrations (up to `to`) under the lock. */
export const upLocked = (
  db: Transact,
  sql: SqlClient.SqlClient,
  settings: Settings,
  migrations: ReadonlyArray<Migration>,
  to: number | undefined
) =>
  Effect.gen(function*() {
    yield* ensureTable(sql, settings)
    const history = yield* readHistory(sql, settings)
    yield* checkChecksums(migrations, history)
    // Rows PgMigrator wrote have no checksum: they get the current one, so
    // that later edits are caught from now on.
    const unsigned = migrations.filter((m) =>
      m.checksum !== undefined && history.some((row) => row.id === m.id && row.checksum === null)
    )
    yield* Effect.forEach(unsigned, (m) =>
      query(sql, `UPDATE ${tableIdentifier(settings.table)} SET checksum = $1 WHERE migration_id = $2 AND checksum IS NULL`, [
        m.checksum,
        m.id
      ]), { discard: true })
    const pending = yield* planUp(migrations, history, settings, to)
    // Every module is imported before the first migration runs.
    const loaded = yield* Effect.forEach(pending, (m) => m.load)
    const ran: Array<Ran> = []
    for (let i = 0; i < pending.length; i++) {
      ran.push(yield* run(db, sql, settings, pending[i]!, loaded[i]!, "up"))
    }
    return ran
  })

/** @internal Undoes migrations under the lock. */
export const downLocked = (
  db: Transact,
  sql: SqlClient.SqlClient,
  settings: Settings,
  migrations: ReadonlyArray<Migration>,
  target: { readonly steps?: number | undefined; readonly to?: number | undefined }
) =>
  Effect.gen(function*() {
    yield* ensureTable(sql, settings)
    const history = yield* readHistory(sql, settings)
    yield* checkChecksums(migrations, history)
    const plan = yield* planDown(migrations, history, target)
    const ran: Array<Ran> = []
    for (const [migration, loaded] of plan) ran.push(yield* run(db, sql, settings, migration, loaded, "down"))
    return ran
  })

/** @internal The label of a migration, `<id>_<name>`. */
export const migrationLabel = label
