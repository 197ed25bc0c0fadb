/**
 * The `Database` service: a PostgreSQL pool with typed errors, safe
 * transactions, pinned connections, LISTEN/NOTIFY, health checks and a
 * graceful shutdown. Its layers also provide `SqlClient` and `PgClient`, so
 * plain `@effect/sql` code runs on the same pool and gets the same fixes.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import pg from "pg"
import * as DatabaseConfig from "./DatabaseConfig.js"
import * as DatabaseError from "./DatabaseError.js"
import type * as Table from "./Table.js"
import type { Engine } from "./internal/engine.js"
import { makeMemory as makeMemoryService } from "./internal/memory/database.js"
import { start } from "./internal/postgres/database.js"
import { Driver, type DriverOptions } from "./internal/postgres/driver.js"
import { defaults, millis, resolve, resolveClient, reveal } from "./internal/postgres/options.js"
import * as Run from "./internal/runPromise.js"
import * as Transaction from "./internal/transaction.js"

// ---------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------

/**
 * How TLS is used; see `DatabaseConfig.SslMode`.
 *
 * @since 0.1.0
 * @category models
 */
export type SslMode = DatabaseConfig.SslMode

/**
 * How included relations are loaded; see `DatabaseConfig.IncludeStrategy`.
 *
 * @since 0.1.0
 * @category models
 */
export type IncludeStrategy = DatabaseConfig.IncludeStrategy

/**
 * Options for {@link layer} and {@link make}; see `DatabaseConfig.Options`.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = DatabaseConfig.Options

/**
 * Options for {@link layerFromPool} and {@link fromPool}; see `DatabaseConfig.FromPoolOptions`.
 *
 * @since 0.1.0
 * @category models
 */
export type FromPoolOptions<E = never, R = never> = DatabaseConfig.FromPoolOptions<E, R>

/**
 * Pool figures, from {@link stats}.
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolStats {
  /** Open connections. */
  readonly total: number
  /** Open connections not in use. */
  readonly idle: number
  /** Connections checked out right now. */
  readonly active: number
  /** Callers waiting for a connection. */
  readonly waiting: number
  /** `maxConnections`. */
  readonly max: number
}

/**
 * The isolation levels Postgres implements.
 *
 * @since 0.1.0
 * @category models
 */
export type Isolation = "read committed" | "repeatable read" | "serializable"

/**
 * Options for {@link transaction}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TransactionOptions {
  /** Default: the server's `default_transaction_isolation` (normally read committed). */
  readonly isolation?: Isolation | undefined
  /** `READ ONLY`: writes fail with `ReadOnlyViolation`. */
  readonly readOnly?: boolean | undefined
  /** `DEFERRABLE`: with serializable and read-only, waits for a safe snapshot instead of risking a failure. */
  readonly deferrable?: boolean | undefined
  /**
   * Re-run the whole body in a fresh transaction when it fails with a
   * retryable error (`DatabaseError.isRetryable`). `true` uses
   * {@link defaultRetry}; or give your own `Schedule`. Only on the outermost
   * transaction.
   */
  readonly retry?: boolean | Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * Options read from the environment; see `DatabaseConfig.config`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = DatabaseConfig.config

/**
 * A bounded start-up retry; see `DatabaseConfig.connectRetry`.
 *
 * @since 0.1.0
 * @category config
 */
export const connectRetry: (retries: number) => Schedule.Schedule<unknown, unknown> = DatabaseConfig.connectRetry

/**
 * The default retry policy of {@link transaction}: exponential backoff from
 * 10 ms with jitter, each delay capped at 1 s, at most 10 retries, for
 * errors where `DatabaseError.isRetryable` holds.
 *
 * @since 0.1.0
 * @category transactions
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Transaction.defaultRetry

// ---------------------------------------------------------------------------
// the service
// ---------------------------------------------------------------------------

/**
 * The unique symbol that identifies the Database service.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("effect-dal/Database")

/**
 * The type of {@link TypeId}.
 *
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The database: transactions, pinned connections, health and pool figures,
 * LISTEN/NOTIFY.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly [TypeId]: TypeId
  /** What repositories run on: PostgreSQL, or the in-memory database. */
  readonly engine: Engine
  /** See {@link transaction}. */
  readonly transaction: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options?: TransactionOptions
  ) => Effect.Effect<A, E | DatabaseError.DatabaseError, R>
  /** See {@link withConnection}. */
  readonly withConnection: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | DatabaseError.DatabaseError, R>
  /** See {@link ping}. */
  readonly ping: Effect.Effect<Duration.Duration, DatabaseError.DatabaseError>
  /** See {@link stats}. */
  readonly stats: Effect.Effect<PoolStats>
  /** See {@link listen}. */
  readonly listen: (channel: string) => Stream.Stream<string, DatabaseError.DatabaseError>
  /** See {@link subscribe}. */
  readonly subscribe: (
    channel: string
  ) => Effect.Effect<Stream.Stream<string, DatabaseError.DatabaseError>, DatabaseError.DatabaseError, Scope.Scope>
  /** See {@link notify}. */
  readonly notify: (channel: string, payload: string) => Effect.Effect<void, DatabaseError.DatabaseError>
  /** See {@link deferConstraints}. */
  readonly deferConstraints: (
    constraints?: "all" | ReadonlyArray<string>
  ) => Effect.Effect<void, DatabaseError.DatabaseError>
}

/**
 * The `Database` service tag: `const db = yield* Database.Database`.
 *
 * @since 0.1.0
 * @category tags
 */
export class Database extends Context.Tag("effect-dal/Database")<Database, Service>() {}

/**
 * The built service, and the `PgClient` (also the `SqlClient`) on its pool.
 *
 * @since 0.1.0
 * @category models
 */
export interface Built {
  readonly database: Service
  readonly client: PgClient.PgClient
}

/**
 * Builds the service and its pool. The pool is closed gracefully when the
 * scope closes. Fails with `ConnectionError` (naming host, port and
 * database) if the server cannot be reached, after `connectRetry` when set,
 * and with a `ConfigError` naming the option when the options cannot work
 * (`maxConnections` below 1, `minConnections` above it, a URL `sslmode` that
 * is not supported). `sql.reactive` uses the `Reactivity` in the context,
 * or a new one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<Built, DatabaseError.DatabaseError | ConfigError.ConfigError, Scope.Scope> =>
  Effect.flatMap(resolve(options), ({ driver, resolved }) => {
    const url = reveal(options.url)
    return startBuilt(new Driver(driver), options.connectRetry, resolved, {
      ...(url === undefined ? {} : { url }),
      applicationName: options.applicationName ?? defaults.applicationName,
      idleTimeoutMillis: driver.idleTimeoutMillis,
      maxLifetimeSeconds: driver.maxLifetimeSeconds,
      transformQueryNames: options.transformQueryNames,
      transformResultNames: options.transformResultNames,
      transformJson: options.transformJson
    }, options.includeStrategy)
  })

/**
 * Builds the service on a node-postgres pool you already have, as
 * `PgClient.fromPool` does. Statements, transactions, cancellation and the
 * prepared-statement cache work as on effect-dal's own pool; the pool's
 * size, timeouts and TLS are the pool's. When the scope closes, effect-dal
 * waits up to `shutdownGracePeriod` for its own statements and cancels what
 * still runs, but leaves the pool open: it ends when `acquire`'s release
 * ends it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPool = <E = never, R = never>(
  options: FromPoolOptions<E, R>
): Effect.Effect<Built, E | DatabaseError.DatabaseError | ConfigError.ConfigError, R | Scope.Scope> =>
  Effect.flatMap(options.acquire, (pool): Effect.Effect<Built, DatabaseError.DatabaseError | ConfigError.ConfigError, Scope.Scope> => {
    const poolOptions = pool.options as pg.PoolConfig
    // pg-pool hides the password from enumeration; the listener's own
    // connection and the last-resort terminate still need it.
    const client: pg.ClientConfig = { ...poolOptions, password: poolOptions.password }
    const parameters = resolveClient(client)
    if (Either.isLeft(parameters)) return Effect.fail(ConfigError.InvalidData(["acquire"], parameters.left))
    const { resolved, target } = parameters.right
    // pg-pool's connectionTimeoutMillis is both the wait for a free client
    // and the connect timeout; 0 (its default) waits for ever.
    const waitMillis = poolOptions.connectionTimeoutMillis ?? 0
    const driver: DriverOptions = {
      target,
      client,
      minConnections: poolOptions.min ?? 0,
      maxConnections: poolOptions.max ?? defaults.maxConnections,
      idleTimeoutMillis: poolOptions.idleTimeoutMillis ?? 10_000,
      maxLifetimeSeconds: poolOptions.maxLifetimeSeconds ?? 0,
      connectTimeoutMillis: waitMillis > 0 ? waitMillis : millis(defaults.connectTimeout),
      acquireTimeoutMillis: waitMillis,
      statementCacheSize: options.statementCacheSize ?? defaults.statementCacheSize,
      shutdownGraceMillis: millis(options.shutdownGracePeriod ?? defaults.shutdownGracePeriod)
    }
    const applicationName = (poolOptions as { application_name?: string }).application_name
    return startBuilt(new Driver(driver, pool), options.connectRetry, resolved, {
      ...(poolOptions.connectionString === undefined ? {} : { url: poolOptions.connectionString }),
      ...(applicationName === undefined ? {} : { applicationName }),
      idleTimeoutMillis: driver.idleTimeoutMillis,
      maxLifetimeSeconds: driver.maxLifetimeSeconds,
      transformQueryNames: options.transformQueryNames,
      transformResultNames: options.transformResultNames,
      transformJson: options.transformJson
    }, options.includeStrategy)
  })

// What make and fromPool share once the driver exists.
const startBuilt = (...args: Parameters<typeof start>): Effect.Effect<Built, DatabaseError.DatabaseError, Scope.Scope> =>
  Effect.map(start(...args), ({ client, database }) => ({ database: { [TypeId]: TypeId, ...database }, client }))

const toContext = (built: Built) =>
  Context.make(Database, built.database).pipe(
    Context.add(SqlClient.SqlClient, built.client),
    Context.add(PgClient.PgClient, built.client)
  )

// The Reactivity a layer builds with: the one provided to it, or
// `Reactivity.layer`, as PgClient.layer does. Layers are memoized by
// reference within one build, so a `Reactivity.layer` that the program
// merges in elsewhere is this same instance.
const reactivityLayer: Layer.Layer<Reactivity.Reactivity> = Layer.unwrapEffect(
  Effect.map(
    Effect.serviceOption(Reactivity.Reactivity),
    Option.match({
      onNone: () => Reactivity.layer,
      onSome: (reactivity) => Layer.succeed(Reactivity.Reactivity, reactivity)
    })
  )
)

const layerOf = <E, R>(
  build: Effect.Effect<Built, E, R>
): Layer.Layer<Database | SqlClient.SqlClient | PgClient.PgClient, E, Exclude<R, Scope.Scope | Reactivity.Reactivity>> =>
  Layer.scopedContext(Effect.map(build, toContext)).pipe(Layer.provide(reactivityLayer)) as never

/**
 * A layer with the `Database`, and `SqlClient`/`PgClient` on the same pool.
 * `sql.reactive` uses the `Reactivity` provided to the layer, else
 * `Reactivity.layer` (shared with the program's, as with `PgClient.layer`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<
  Database | SqlClient.SqlClient | PgClient.PgClient,
  DatabaseError.DatabaseError | ConfigError.ConfigError
> => layerOf(make(options))

/**
 * Like {@link layer}, with options from `Config`; by default {@link config},
 * which reads the environment. Bad configuration fails with a `ConfigError`
 * that names the variable.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<
  Database | SqlClient.SqlClient | PgClient.PgClient,
  DatabaseError.DatabaseError | ConfigError.ConfigError
> => layerOf(Effect.flatMap(options, make))

/**
 * Like {@link layer}, on a node-postgres pool you already have (see
 * {@link fromPool}); the counterpart of `PgClient.layerFromPool`, with the
 * same `acquire` and transform options.
 *
 * @example
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * const DatabaseLive = Database.layerFromPool({
 *   acquire: Effect.acquireRelease(Effect.succeed(pool), (pool) => Effect.promise(() => pool.end()))
 * })
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromPool = <E = never, R = never>(
  options: FromPoolOptions<E, R>
): Layer.Layer<
  Database | SqlClient.SqlClient | PgClient.PgClient,
  E | DatabaseError.DatabaseError | ConfigError.ConfigError,
  Exclude<R, Scope.Scope>
> => layerOf(fromPool(options)) as never

// ---------------------------------------------------------------------------
// accessors
// ---------------------------------------------------------------------------

/**
 * Runs the effect in a transaction: COMMIT when it succeeds, ROLLBACK when
 * it fails, dies or is interrupted, and the connection goes back to the pool
 * in every case. Every statement inside (repositories, `sql` templates,
 * `SqlSchema`, `SqlResolver`) runs on the transaction's connection.
 *
 * Inside another transaction it becomes a savepoint with a unique name;
 * concurrent children take turns, and a failing child rolls back only its
 * own work. COMMIT errors are typed; a body that swallowed a failed statement
 * fails with `TransactionAborted`.
 *
 * @since 0.1.0
 * @category transactions
 */
export const transaction: {
  (options?: TransactionOptions): <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | DatabaseError.DatabaseError, R | Database>
  <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options?: TransactionOptions
  ): Effect.Effect<A, E | DatabaseError.DatabaseError, R | Database>
} = function() {
  if (Effect.isEffect(arguments[0])) {
    const effect = arguments[0] as Effect.Effect<unknown, unknown, unknown>
    const options = arguments[1] as TransactionOptions | undefined
    return withDatabase((db) => db.transaction(effect, options))
  }
  const options = arguments[0] as TransactionOptions | undefined
  return (effect: Effect.Effect<unknown, unknown, unknown>) => withDatabase((db) => db.transaction(effect, options))
} as never

// The fiber's Database in one step of the fiber (Effect.flatMap on the tag
// takes three): every transaction starts here.
const withDatabase = <A, E, R>(f: (db: Service) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R | Database> =>
  Effect.withFiberRuntime((fiber) => f(Context.unsafeGet(fiber.currentContext, Database)))

/**
 * Pins one connection for session-level work (advisory locks, `SET`,
 * `LISTEN`, temporary tables). Its session state is reset before it goes
 * back to the pool, so the next borrower inherits nothing. Inside a
 * transaction it simply runs on the transaction's connection.
 *
 * @since 0.1.0
 * @category connections
 */
export const withConnection = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | DatabaseError.DatabaseError, R | Database> =>
  withDatabase((db) => db.withConnection(effect))

/**
 * Runs an effect from promise code (an Express handler, a Next.js route, a
 * test written with promises) on a `ManagedRuntime` or a `Runtime`, as
 * `runtime.runPromise(effect)` does: it resolves with the effect's value
 * and rejects as `runPromise` rejects. The difference is memory: a fiber
 * that waited on the database and then ends with a large result keeps it
 * reachable from its exit through V8's young-generation collections, so
 * every result is promoted and only a full collection frees it. With
 * `runPromise` here the finished fiber holds an emptied box instead; on
 * the benchmark's `eagerLoad` (50 users with their messages) that cut the
 * client CPU per call by about 45 % (docs/promise-mode.md). Curried form:
 * `Database.runPromise(runtime)(effect)`.
 *
 * @since 0.1.0
 * @category execution
 */
export const runPromise: {
  <R>(runtime: ManagedRuntime.ManagedRuntime<R, any> | Runtime.Runtime<R>): <A, E>(
    effect: Effect.Effect<A, E, R>,
    options?: { readonly signal?: AbortSignal | undefined }
  ) => Promise<A>
  <A, E, R>(
    runtime: ManagedRuntime.ManagedRuntime<R, any> | Runtime.Runtime<R>,
    effect: Effect.Effect<A, E, R>,
    options?: { readonly signal?: AbortSignal | undefined }
  ): Promise<A>
} = function(runtime: Run.AnyRuntime<any>, effect?: Effect.Effect<any, any, any>, options?: Run.RunOptions) {
  return effect === undefined
    ? (effect: Effect.Effect<any, any, any>, options?: Run.RunOptions) => Run.runPromise(runtime, effect, options)
    : Run.runPromise(runtime, effect, options)
} as never

/**
 * Health check: one round trip to the server; succeeds with its duration.
 *
 * @since 0.1.0
 * @category health
 */
export const ping: Effect.Effect<Duration.Duration, DatabaseError.DatabaseError, Database> = Effect.flatMap(
  Database,
  (db) => db.ping
)

/**
 * Pool figures: total, idle, active and waiting.
 *
 * @since 0.1.0
 * @category health
 */
export const stats: Effect.Effect<PoolStats, never, Database> = Effect.flatMap(Database, (db) => db.stats)

/**
 * Notifications on a channel, as a stream. LISTEN runs when the stream
 * starts; use {@link subscribe} to know that it is listening before you go on.
 *
 * @since 0.1.0
 * @category notifications
 */
export const listen = (channel: string): Stream.Stream<string, DatabaseError.DatabaseError, Database> =>
  Stream.unwrap(Effect.map(Database, (db) => db.listen(channel)))

/**
 * Listens on a channel and then succeeds with the stream of notifications;
 * UNLISTEN runs when the scope closes.
 *
 * @since 0.1.0
 * @category notifications
 */
export const subscribe = (
  channel: string
): Effect.Effect<Stream.Stream<string, DatabaseError.DatabaseError>, DatabaseError.DatabaseError, Database | Scope.Scope> =>
  Effect.flatMap(Database, (db) => db.subscribe(channel))

/**
 * Sends a notification with `pg_notify`. Inside a transaction it is
 * delivered at COMMIT, and not at all on ROLLBACK.
 *
 * @since 0.1.0
 * @category notifications
 */
export const notify = (channel: string, payload: string): Effect.Effect<void, DatabaseError.DatabaseError, Database> =>
  Effect.flatMap(Database, (db) => db.notify(channel, payload))

/**
 * `SET CONSTRAINTS ... DEFERRED` for the rest of the current transaction:
 * deferrable constraints are checked at COMMIT, and a violation fails the
 * transaction with the typed constraint error. Must run inside a transaction.
 *
 * @since 0.1.0
 * @category transactions
 */
export const deferConstraints = (
  constraints: "all" | ReadonlyArray<string> = "all"
): Effect.Effect<void, DatabaseError.DatabaseError, Database> =>
  Effect.flatMap(Database, (db) => db.deferConstraints(constraints))

// ---------------------------------------------------------------------------
// the in-memory database
// ---------------------------------------------------------------------------

/**
 * Rows that the in-memory database starts with, for one table. Make it
 * with {@link seed}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Seed {
  readonly table: Table.Table<any, any>
  readonly rows: ReadonlyArray<unknown>
}

/**
 * Rows for {@link layerMemory} to insert into a table when it is built.
 * They go through the repository's insert path: keys are generated,
 * defaults filled in, timestamps taken from `Clock`, and unique keys
 * checked.
 *
 * @example
 * Database.layerMemory({ seed: [Database.seed(Users, [{ email: "ann@example.com", name: "Ann" }])] })
 *
 * @since 0.1.0
 * @category constructors
 */
export const seed = <T extends Table.Table<any, any>>(table: T, rows: ReadonlyArray<Table.Insert<T>>): Seed => ({
  table,
  rows
})

/**
 * Options for {@link layerMemory} and {@link makeMemory}.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /** Rows inserted when the database is built, table by table, in order. */
  readonly seed?: ReadonlyArray<Seed> | undefined
}

/**
 * Builds an in-memory database with the same interface as the PostgreSQL
 * one: repositories with the same typed errors, transactions (one at a
 * time, with savepoints), and LISTEN/NOTIFY delivered at commit. Seed rows
 * that the table refuses (bad input, a duplicate key) are a defect.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options: MemoryOptions = {}): Effect.Effect<Service> =>
  Effect.map(makeMemoryService(options.seed ?? []), (service): Service => ({ [TypeId]: TypeId, ...service }))

/**
 * A `Database` held in memory, for unit tests that run in milliseconds.
 * Every build is a new, empty database (plus its seed rows). It follows
 * PostgreSQL's semantics, checked by the same contract suite: text compares
 * in the "C" collation, and what it cannot do (raw SQL) is a defect, never
 * a wrong answer.
 *
 * @example
 * const TestDatabase = Database.layerMemory({
 *   seed: [Database.seed(Users, [{ email: "ann@example.com", name: "Ann" }])]
 * })
 * it.effect("finds Ann", () => program.pipe(Effect.provide(TestDatabase)))
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<Database> =>
  Layer.effect(Database, makeMemory(options))

// ---------------------------------------------------------------------------
// schema check
// ---------------------------------------------------------------------------

import * as Verify from "./internal/verify.js"

/**
 * Checks table definitions against the live database: missing tables and
 * columns, column types that would not decode into the model's fields,
 * nullable columns for fields that cannot hold null, the primary key and
 * unique keys (by columns and constraint name), the soft-delete column
 * (nullable timestamp) and the version column (integer, NOT NULL). Fails
 * with one `SchemaMismatch` that lists every difference.
 *
 * @since 0.1.0
 * @category health
 */
export const verify = (
  tables: ReadonlyArray<Table.Table<any, any>>
): Effect.Effect<void, DatabaseError.SchemaMismatch | DatabaseError.DatabaseError, SqlClient.SqlClient> =>
  Verify.verify(tables)
