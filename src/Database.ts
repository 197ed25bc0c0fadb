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
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import type { ConnectionOptions } from "node:tls"
import pg from "pg"
import * as DatabaseError from "./DatabaseError.js"
import { makeLiveRepository } from "./internal/liveRepository.js"
import type * as Repository from "./Repository.js"
import type * as Table from "./Table.js"
import type { Target } from "./internal/classify.js"
import { CompatConnection, type ConfigExtras, makePgClient, pgClientConfig } from "./internal/compat.js"
import { acquireClient, Driver, type DriverOptions, runOnClient, type Statement } from "./internal/driver.js"
import { Listener } from "./internal/listener.js"
import { currentOrNew, deferInvalidations, invalidatingWrites } from "./internal/reactive.js"
import * as Session from "./internal/session.js"
import { stream as cursorStream } from "./internal/stream.js"

// ---------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------

/**
 * How TLS is used, as in libpq's `sslmode`: `disable`, `require` (encrypt;
 * verify the certificate chain only when a root certificate is given, as
 * libpq does), `verify-ca` (verify the certificate chain) and `verify-full`
 * (also verify the host name). It wins over a URL's `sslmode`.
 *
 * @since 0.1.0
 * @category models
 */
export type SslMode = "disable" | "require" | "verify-ca" | "verify-full"

/**
 * Options for {@link layer} and {@link make}. Give either `url` or
 * `host`/`database` (with `port`, `user`, `password`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** A `postgresql://user:password@host:port/database?sslmode=...` URL. */
  readonly url?: string | Redacted.Redacted<string> | undefined
  readonly host?: string | undefined
  /** Default 5432. */
  readonly port?: number | undefined
  readonly database?: string | undefined
  readonly user?: string | undefined
  readonly password?: string | Redacted.Redacted<string> | undefined
  /**
   * TLS mode, or node `tls` options for full control. Wins over the URL's
   * `sslmode`, which node-postgres never sees. Default: the URL's `sslmode`,
   * else `"disable"`. `"require"` with a root certificate (the URL's
   * `sslrootcert`) verifies the certificate chain but not the host name,
   * like `"verify-ca"`, as libpq does; without one the server's certificate
   * is not checked. A certificate or handshake that fails is a
   * `ConnectionError` with reason `"tls"`, which is not retryable.
   */
  readonly ssl?: SslMode | ConnectionOptions | undefined
  /** Connections opened at start-up and kept open when idle. Default 0. */
  readonly minConnections?: number | undefined
  /** Most connections open at once. Default 10. */
  readonly maxConnections?: number | undefined
  /** An idle connection above `minConnections` is closed after this; 0 keeps idle connections. Default 30 seconds. */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /** A connection is replaced once it is this old (when next idle). Default 30 minutes. */
  readonly maxLifetime?: Duration.DurationInput | undefined
  /**
   * Longest wait for a new connection's socket and authentication; a new
   * connection also counts against `acquireTimeout`, so the smaller of the
   * two applies. `ConnectionError` with reason `"timeout"` when hit. Default 10 seconds.
   */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** Longest wait for a free pooled connection before `PoolTimeout`. Default 10 seconds. */
  readonly acquireTimeout?: Duration.DurationInput | undefined
  /** Postgres `statement_timeout` for every session; `StatementTimeout` when hit. Default: none. */
  readonly statementTimeout?: Duration.DurationInput | undefined
  /** `application_name`, shown in `pg_stat_activity`. Default `"effect-dal"`. */
  readonly applicationName?: string | undefined
  /** On shutdown, how long in-flight work may finish before it is cancelled. Default 5 seconds. */
  readonly shutdownGracePeriod?: Duration.DurationInput | undefined
  /**
   * Retry policy for the start-up connection check when the server is
   * unreachable, starting up or too busy (a retryable `ConnectionError`;
   * never for `tls`, `authentication`, `rejected` or `protocol`). Default:
   * none, fail at once with `ConnectionError`.
   */
  readonly connectRetry?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * Prepared statements kept per connection (least recently used are
   * deallocated). 0 turns named prepared statements off. Default 100.
   */
  readonly statementCacheSize?: number | undefined
  /**
   * For the `SqlClient`, as in `PgClient.layer`: turns identifiers written
   * in `sql` (`sql("userId")`, the keys of `sql.insert`) into column names,
   * e.g. `String.camelToSnake`, or `Table.snakeCase`, which names columns
   * as repositories do. Repositories keep their own `naming`.
   */
  readonly transformQueryNames?: ((name: string) => string) | undefined
  /**
   * For the `SqlClient`, as in `PgClient.layer`: turns column names in the
   * rows `sql` returns into field names, e.g. `String.snakeToCamel`, so a
   * row read with `sql` has the field names of the repository's model.
   */
  readonly transformResultNames?: ((name: string) => string) | undefined
  /**
   * Whether the name transforms also apply to the keys inside JSON values
   * (`sql.json` parameters and json/jsonb columns). Default `true`, as in
   * `PgClient.layer`.
   */
  readonly transformJson?: boolean | undefined
}

/**
 * Options for {@link layerFromPool} and {@link fromPool}: a node-postgres
 * pool you already have, and what effect-dal adds to it. The pool's own
 * settings (size, timeouts, TLS, `application_name`) stay as they are.
 *
 * @since 0.1.0
 * @category models
 */
export interface FromPoolOptions<E = never, R = never> {
  /**
   * The pool, as `PgClient.layerFromPool` takes it: `Effect.succeed(pool)`
   * for a pool that lives on, or `Effect.acquireRelease` to end it with the
   * layer. effect-dal never ends it itself.
   */
  readonly acquire: Effect.Effect<pg.Pool, E, R>
  /** See {@link Options.transformQueryNames}. */
  readonly transformQueryNames?: ((name: string) => string) | undefined
  /** See {@link Options.transformResultNames}. */
  readonly transformResultNames?: ((name: string) => string) | undefined
  /** See {@link Options.transformJson}. */
  readonly transformJson?: boolean | undefined
  /** See {@link Options.statementCacheSize}. Default 100. */
  readonly statementCacheSize?: number | undefined
  /** See {@link Options.shutdownGracePeriod}. Default 5 seconds. */
  readonly shutdownGracePeriod?: Duration.DurationInput | undefined
  /** See {@link Options.connectRetry}. */
  readonly connectRetry?: Schedule.Schedule<unknown, unknown> | undefined
}

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
export type Isolation = Session.Isolation

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

const defaults = {
  minConnections: 0,
  maxConnections: 10,
  idleTimeout: Duration.seconds(30),
  maxLifetime: Duration.minutes(30),
  connectTimeout: Duration.seconds(10),
  acquireTimeout: Duration.seconds(10),
  applicationName: "effect-dal",
  shutdownGracePeriod: Duration.seconds(5),
  statementCacheSize: 100
} as const

type TlsFiles = Pick<ConnectionOptions, "ca" | "cert" | "key">

const sslOption = (ssl: SslMode | ConnectionOptions, files: TlsFiles): boolean | ConnectionOptions => {
  if (typeof ssl !== "string") return ssl
  switch (ssl) {
    case "disable":
      return false
    case "require":
      // libpq: "if a root CA file exists, the behavior of sslmode=require
      // will be the same as that of verify-ca" (libpq-ssl.html, "Client
      // Verification of Server Certificates"): whoever names a CA expects
      // it to be checked.
      return files.ca === undefined ? { ...files, rejectUnauthorized: false } : sslOption("verify-ca", files)
    case "verify-ca":
      return { ...files, rejectUnauthorized: true, checkServerIdentity: () => undefined }
    case "verify-full":
      return { ...files, rejectUnauthorized: true }
  }
}

// URL parameters that node-postgres turns into its `ssl` option, overriding
// ours (pg-connection-string `parse`). pg 8 also reads `sslmode=require` as
// verify-full. They are taken out of the URL and interpreted here instead.
const urlTlsParameters = ["sslmode", "ssl", "uselibpqcompat", "sslcert", "sslkey", "sslrootcert"]

const urlSslModes: Record<string, SslMode> = {
  "disable": "disable",
  "require": "require",
  // node-postgres's own spelling of require.
  "no-verify": "require",
  "verify-ca": "verify-ca",
  "verify-full": "verify-full"
}

interface UrlTls {
  /** The URL without its TLS parameters. */
  readonly url: string
  readonly mode: SslMode | undefined
  readonly files: { readonly sslcert?: string; readonly sslkey?: string; readonly sslrootcert?: string }
}

/** Splits a URL's TLS parameters from the rest; `Left` with a message when they make no sense. */
const urlTls = (url: string): Either.Either<UrlTls, string> => {
  const hash = url.indexOf("#")
  const withoutHash = hash < 0 ? url : url.slice(0, hash)
  const question = withoutHash.indexOf("?")
  if (question < 0) return Either.right({ url, mode: undefined, files: {} })
  const params = new URLSearchParams(withoutHash.slice(question + 1))
  if (!urlTlsParameters.some((name) => params.has(name))) return Either.right({ url, mode: undefined, files: {} })
  const sslmode = params.get("sslmode")
  const ssl = params.get("ssl")
  let mode: SslMode | undefined
  if (sslmode !== null) {
    mode = urlSslModes[sslmode]
    if (mode === undefined) {
      return Either.left(
        sslmode === "prefer" || sslmode === "allow"
          ? `sslmode=${sslmode} is not supported: node-postgres cannot fall back between TLS and plain connections; use disable, require, verify-ca or verify-full`
          : `sslmode=${sslmode} is not one of disable, require, verify-ca, verify-full`
      )
    }
  } else if (ssl !== null) {
    // As node-postgres reads it: ssl=true is TLS with full verification.
    mode = ssl === "true" || ssl === "1" ? "verify-full" : ssl === "false" || ssl === "0" ? "disable" : undefined
    if (mode === undefined) return Either.left(`ssl=${ssl} is not one of true, false, 1, 0`)
  }
  const files: Record<string, string> = {}
  for (const name of ["sslcert", "sslkey", "sslrootcert"]) {
    const value = params.get(name)
    if (value !== null) files[name] = value
  }
  for (const name of urlTlsParameters) params.delete(name)
  const query = params.toString()
  return Either.right({
    url: withoutHash.slice(0, question) + (query === "" ? "" : `?${query}`),
    mode,
    files
  })
}

const readTlsFiles = (files: UrlTls["files"]): TlsFiles => ({
  ...(files.sslrootcert === undefined ? {} : { ca: fs.readFileSync(files.sslrootcert, "utf8") }),
  ...(files.sslcert === undefined ? {} : { cert: fs.readFileSync(files.sslcert, "utf8") }),
  ...(files.sslkey === undefined ? {} : { key: fs.readFileSync(files.sslkey, "utf8") })
})

const millis = (input: Duration.DurationInput) => Math.round(Duration.toMillis(Duration.decode(input)))

const reveal = (value: string | Redacted.Redacted<string> | undefined) =>
  value === undefined ? undefined : Redacted.isRedacted(value) ? Redacted.value(value) : value

const invalidOption = (option: keyof Options, message: string) =>
  Either.left(ConfigError.InvalidData([option], message))

// pg resolves URL, fields and PG* defaults the same way for every client;
// the resolved values name the server in errors, and PgClient's config
// shows them.
const resolveClient = (
  client: pg.ClientConfig
): Either.Either<{ readonly resolved: pg.ClientConfig; readonly target: Target }, string> => {
  let parameters: pg.Client
  try {
    parameters = new pg.Client(client)
  } catch (error) {
    return Either.left(`node-postgres refused it: ${(error as Error).message}`)
  }
  const { host, port, database, user, password, ssl } = parameters as unknown as {
    host: string
    port: number
    database: string | undefined
    user: string | undefined
    password: string | undefined
    ssl: boolean | ConnectionOptions
  }
  return Either.right({
    resolved: {
      host,
      port,
      ...(database === undefined ? {} : { database }),
      ...(user === undefined ? {} : { user }),
      ...(password === undefined ? {} : { password }),
      ssl
    },
    // Without a database, a user or $USER, node-postgres has no database
    // name either: errors then name none rather than fail to be built.
    target: { host, port: Number(port), database: database ?? "" }
  })
}

const resolve = (
  options: Options
): Either.Either<{ driver: DriverOptions; resolved: pg.ClientConfig }, ConfigError.ConfigError> => {
  const minConnections = options.minConnections ?? defaults.minConnections
  const maxConnections = options.maxConnections ?? defaults.maxConnections
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    return invalidOption("maxConnections", `Expected a whole number of at least 1, got ${maxConnections}`)
  }
  if (!Number.isInteger(minConnections) || minConnections < 0 || minConnections > maxConnections) {
    return invalidOption(
      "minConnections",
      `Expected a whole number from 0 to maxConnections (${maxConnections}), got ${minConnections}`
    )
  }
  const rawUrl = reveal(options.url)
  const tls = rawUrl === undefined ? Either.right<UrlTls | undefined>(undefined) : urlTls(rawUrl)
  if (Either.isLeft(tls)) return invalidOption("url", tls.left)
  const url = tls.right
  // The explicit mode wins over the URL's, and no TLS is the default: ssl is
  // always given, so node-postgres never falls back to $PGSSLMODE either.
  const mode = options.ssl ?? url?.mode ?? "disable"
  let files: TlsFiles = {}
  if (url !== undefined && typeof mode === "string" && mode !== "disable") {
    try {
      files = readTlsFiles(url.files)
    } catch (error) {
      return invalidOption("url", `Cannot read a certificate file named in the URL: ${(error as Error).message}`)
    }
  }
  const password = reveal(options.password)
  const client: pg.ClientConfig = {
    ...(url === undefined ? {} : { connectionString: url.url }),
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.database === undefined ? {} : { database: options.database }),
    ...(options.user === undefined ? {} : { user: options.user }),
    ...(password === undefined ? {} : { password }),
    ssl: sslOption(mode, files),
    application_name: options.applicationName ?? defaults.applicationName,
    ...(options.statementTimeout === undefined ? {} : { statement_timeout: millis(options.statementTimeout) }),
    keepAlive: true
  }
  const parameters = resolveClient(client)
  if (Either.isLeft(parameters)) return invalidOption(url === undefined ? "host" : "url", parameters.left)
  const { resolved, target } = parameters.right
  return Either.right({
    resolved,
    driver: {
      target,
      client,
      minConnections,
      maxConnections,
      idleTimeoutMillis: millis(options.idleTimeout ?? defaults.idleTimeout),
      maxLifetimeSeconds: Math.ceil(millis(options.maxLifetime ?? defaults.maxLifetime) / 1000),
      connectTimeoutMillis: millis(options.connectTimeout ?? defaults.connectTimeout),
      acquireTimeoutMillis: millis(options.acquireTimeout ?? defaults.acquireTimeout),
      statementCacheSize: options.statementCacheSize ?? defaults.statementCacheSize,
      shutdownGraceMillis: millis(options.shutdownGracePeriod ?? defaults.shutdownGracePeriod)
    }
  })
}

// ---------------------------------------------------------------------------
// configuration from the environment
// ---------------------------------------------------------------------------

const postgresUrl = (name: string) =>
  Config.redacted(name).pipe(
    Config.mapOrFail((url) => {
      try {
        const parsed = new URL(Redacted.value(url))
        if (parsed.protocol === "postgres:" || parsed.protocol === "postgresql:") {
          const tls = urlTls(Redacted.value(url))
          return Either.isLeft(tls) ? Either.left(ConfigError.InvalidData([name], tls.left)) : Either.right(url)
        }
      } catch {
        // reported below
      }
      return Either.left(ConfigError.InvalidData([name], "Expected a postgresql:// URL"))
    })
  )

const optionalDuration = (name: string) => Config.option(Config.duration(name))
const someOrUndefined = <A>(o: Option.Option<A>) => Option.getOrUndefined(o)

// os.userInfo() throws for a UID without a passwd entry (common in
// containers), so it is asked only when PGUSER is unset, and a failure leaves
// the user to node-postgres's own default ($USER).
const osUser = (): string | undefined => {
  try {
    return os.userInfo().username
  } catch {
    return undefined
  }
}

const pgVariables: Config.Config<Options> = Config.all({
  host: Config.string("PGHOST"),
  port: Config.withDefault(Config.port("PGPORT"), 5432),
  database: Config.string("PGDATABASE"),
  user: Config.option(Config.string("PGUSER")),
  password: Config.option(Config.redacted("PGPASSWORD"))
}).pipe(Config.map(({ password, user, ...rest }): Options => ({
  ...rest,
  user: Option.getOrElse(user, osUser),
  password: someOrUndefined(password)
})))

/**
 * Options read from the environment: `DATABASE_URL`, or `PGHOST`,
 * `PGPORT`, `PGDATABASE`, `PGUSER`, `PGPASSWORD`; plus the pool settings
 * `DATABASE_POOL_MIN`, `DATABASE_POOL_MAX`, `DATABASE_IDLE_TIMEOUT`,
 * `DATABASE_MAX_LIFETIME`, `DATABASE_CONNECT_TIMEOUT`,
 * `DATABASE_ACQUIRE_TIMEOUT`, `DATABASE_STATEMENT_TIMEOUT`,
 * `DATABASE_APPLICATION_NAME`, `DATABASE_SSL_MODE`,
 * `DATABASE_SHUTDOWN_GRACE_PERIOD`, `DATABASE_CONNECT_RETRIES` and
 * `DATABASE_STATEMENT_CACHE_SIZE`. Durations are written like
 * `"5 seconds"` or `"500 millis"`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  // Only a missing DATABASE_URL falls back to the PG* variables: a present
  // but invalid one (even an empty string) is an error, never ignored.
  connection: Config.orElseIf(Config.map(postgresUrl("DATABASE_URL"), (url): Options => ({ url })), {
    if: ConfigError.isMissingDataOnly,
    orElse: () => pgVariables
  }),
  minConnections: Config.option(
    Config.integer("DATABASE_POOL_MIN").pipe(Config.validate({ message: "Expected 0 or more", validation: (n) => n >= 0 }))
  ),
  maxConnections: Config.option(
    Config.integer("DATABASE_POOL_MAX").pipe(Config.validate({ message: "Expected 1 or more", validation: (n) => n >= 1 }))
  ),
  idleTimeout: optionalDuration("DATABASE_IDLE_TIMEOUT"),
  maxLifetime: optionalDuration("DATABASE_MAX_LIFETIME"),
  connectTimeout: optionalDuration("DATABASE_CONNECT_TIMEOUT"),
  acquireTimeout: optionalDuration("DATABASE_ACQUIRE_TIMEOUT"),
  statementTimeout: optionalDuration("DATABASE_STATEMENT_TIMEOUT"),
  applicationName: Config.option(Config.string("DATABASE_APPLICATION_NAME")),
  ssl: Config.option(Config.literal("disable", "require", "verify-ca", "verify-full")("DATABASE_SSL_MODE")),
  shutdownGracePeriod: optionalDuration("DATABASE_SHUTDOWN_GRACE_PERIOD"),
  connectRetries: Config.option(
    Config.integer("DATABASE_CONNECT_RETRIES").pipe(
      Config.validate({ message: "Expected 0 or more", validation: (n) => n >= 0 })
    )
  ),
  statementCacheSize: Config.option(
    Config.integer("DATABASE_STATEMENT_CACHE_SIZE").pipe(
      Config.validate({ message: "Expected 0 or more", validation: (n) => n >= 0 })
    )
  )
}).pipe(
  Config.mapOrFail(({ connection, connectRetries, ...pool }) => {
    const min = someOrUndefined(pool.minConnections)
    const max = someOrUndefined(pool.maxConnections) ?? defaults.maxConnections
    if (min !== undefined && min > max) {
      return Either.left(ConfigError.InvalidData(["DATABASE_POOL_MIN"], `Expected at most DATABASE_POOL_MAX (${max})`))
    }
    const retries = someOrUndefined(connectRetries)
    const options: Options = {
      ...connection,
      minConnections: min,
      maxConnections: someOrUndefined(pool.maxConnections),
      idleTimeout: someOrUndefined(pool.idleTimeout),
      maxLifetime: someOrUndefined(pool.maxLifetime),
      connectTimeout: someOrUndefined(pool.connectTimeout),
      acquireTimeout: someOrUndefined(pool.acquireTimeout),
      statementTimeout: someOrUndefined(pool.statementTimeout),
      applicationName: someOrUndefined(pool.applicationName),
      ssl: someOrUndefined(pool.ssl),
      shutdownGracePeriod: someOrUndefined(pool.shutdownGracePeriod),
      connectRetry: retries === undefined || retries === 0 ? undefined : connectRetry(retries),
      statementCacheSize: someOrUndefined(pool.statementCacheSize)
    }
    return Either.right(options)
  })
)

/**
 * A bounded start-up retry: exponential backoff from 200 ms with jitter,
 * each delay capped at 5 s, at most `retries` retries.
 *
 * @since 0.1.0
 * @category config
 */
export const connectRetry = (retries: number): Schedule.Schedule<unknown, unknown> =>
  Schedule.exponential("200 millis", 2).pipe(
    Schedule.jittered,
    Schedule.either(Schedule.spaced("5 seconds")),
    Schedule.intersect(Schedule.recurs(retries)),
    Schedule.map(() => undefined as unknown)
  )

/**
 * The default retry policy of {@link transaction}: exponential backoff from
 * 10 ms with jitter, each delay capped at 1 s, at most 10 retries, for
 * errors where `DatabaseError.isRetryable` holds.
 *
 * @since 0.1.0
 * @category transactions
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Session.defaultRetry

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
 * What repositories run on: PostgreSQL, or the in-memory database. Each
 * backend makes the repositories of its kind.
 *
 * @since 0.1.0
 * @category models
 */
export interface Backend {
  readonly _tag: "Postgres" | "Memory"
  readonly repository: <T extends Table.Table<any, any>>(table: T, options: Repository.Options) => Repository.Repository<T>
}

/**
 * The database: transactions, pinned connections, health and pool figures,
 * LISTEN/NOTIFY.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly [TypeId]: TypeId
  /** What repositories run on. */
  readonly backend: Backend
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

const SERVER_SETTINGS = "SELECT current_setting('default_transaction_isolation') AS isolation, " +
  "current_setting('default_transaction_read_only') AS read_only, " +
  "current_setting('default_transaction_deferrable') AS deferrable"

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
    return start(new Driver(driver), options.connectRetry, resolved, {
      ...(url === undefined ? {} : { url }),
      applicationName: options.applicationName ?? defaults.applicationName,
      idleTimeoutMillis: driver.idleTimeoutMillis,
      maxLifetimeSeconds: driver.maxLifetimeSeconds,
      transformQueryNames: options.transformQueryNames,
      transformResultNames: options.transformResultNames,
      transformJson: options.transformJson
    })
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
    return start(new Driver(driver, pool), options.connectRetry, resolved, {
      ...(poolOptions.connectionString === undefined ? {} : { url: poolOptions.connectionString }),
      ...(applicationName === undefined ? {} : { applicationName }),
      idleTimeoutMillis: driver.idleTimeoutMillis,
      maxLifetimeSeconds: driver.maxLifetimeSeconds,
      transformQueryNames: options.transformQueryNames,
      transformResultNames: options.transformResultNames,
      transformJson: options.transformJson
    })
  })

// What make and fromPool share once the driver exists: the start-up check,
// the service, and the PgClient.
const start = (
  driver: Driver,
  connectRetry: Schedule.Schedule<unknown, unknown> | undefined,
  resolved: pg.ClientConfig,
  extras: ConfigExtras
): Effect.Effect<Built, DatabaseError.DatabaseError, Scope.Scope> =>
  Effect.gen(function*() {
    const driverOptions = driver.options
    const listener = new Listener(
      { ...driverOptions.client, connectionTimeoutMillis: driverOptions.connectTimeoutMillis },
      (error, sql) => driver.classify(error, sql, "connect")
    )
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => Promise.all([listener.close(), driver.close()])).pipe(
        Effect.withSpan("Database.close", { captureStackTrace: false })
      )
    )

    // Start-up check: one real round trip, which also reads the defaults
    // that nested transactions are checked against.
    const check = Effect.acquireUseRelease(
      acquireClient(driver),
      (client) => runOnClient(driver, client, { text: SERVER_SETTINGS, values: [] }),
      (client) => Effect.sync(() => driver.release(client))
    )
    const settings = yield* (connectRetry === undefined
      ? check
      : Effect.retry(check, {
        schedule: connectRetry,
        // A certificate, a password or a protocol error fails the same way
        // every time: only what may pass on a later attempt is retried.
        while: (error) => DatabaseError.isRetryable(error) || error._tag === "PoolTimeout"
      }))
    const row = settings.rows[0] as { isolation: string; read_only: string; deferrable: string }
    const serverDefaults: Session.ServerDefaults = {
      isolation: row.isolation as Isolation,
      readOnly: row.read_only === "on",
      deferrable: row.deferrable === "on"
    }
    if (driverOptions.minConnections > 0 && !driver.borrowed) {
      yield* Effect.forEach(
        Array.from({ length: driverOptions.minConnections }),
        () => acquireClient(driver),
        { concurrency: "unbounded" }
      ).pipe(Effect.tap((clients) => clients.forEach((c) => driver.release(c))))
    }

    const provide: Session.Provide = (session) => {
      // The @effect/sql connection of a session is made once per session.
      const connection = [CompatConnection.of(session), session.level?.depth ?? 0] as const
      return (context) =>
        Context.add(Context.add(context, Session.SessionTag, session), SqlClient.TransactionConnection, connection)
    }

    // The user's Reactivity when the layer was given one, so that
    // sql.reactive, Reactivity.mutation and repository writes all meet.
    const reactivity = yield* currentOrNew
    const execute = (statement: Statement) => Session.execute(driver, statement)
    const database: Service = {
      [TypeId]: TypeId,
      backend: {
        _tag: "Postgres",
        repository: (table, repositoryOptions) =>
          // A write invalidates the table's name: sql.reactive([table], ...)
          // runs again once the write has committed.
          invalidatingWrites(
            makeLiveRepository(table, repositoryOptions, {
              execute,
              stream: (statement, batchSize) => cursorStream(driver, statement, batchSize),
              transaction: (effect) => Session.transaction(driver, serverDefaults, provide, effect)
            }),
            reactivity,
            [table.name]
          )
      },
      transaction: (effect, transactionOptions) =>
        deferInvalidations(
          effect,
          (body) => Session.transaction(driver, serverDefaults, provide, body, transactionOptions),
          reactivity
        ),
      withConnection: (effect) => Session.withConnection(driver, provide, effect),
      ping: Effect.timed(execute({ text: "SELECT 1", values: [] })).pipe(
        Effect.map(([duration]) => duration),
        Effect.withSpan("Database.ping", { captureStackTrace: false })
      ),
      stats: Effect.sync(() => driver.stats()),
      listen: (channel) => Stream.unwrapScoped(listener.subscribe(channel)),
      subscribe: (channel) => listener.subscribe(channel),
      notify: (channel, payload) =>
        execute({ text: "SELECT pg_notify($1, $2)", values: [channel, payload] }).pipe(
          Effect.asVoid,
          Effect.withSpan("Database.notify", { captureStackTrace: false })
        ),
      deferConstraints: (constraints = "all") =>
        Effect.withFiberRuntime((fiber) => {
          const session = Session.currentSession(driver, fiber.currentContext)
          if (session?.level === undefined) {
            return Effect.dieMessage("Database.deferConstraints must run inside Database.transaction")
          }
          const names = constraints === "all" ? "ALL" : constraints.map((c) => pg.escapeIdentifier(c)).join(", ")
          return Effect.asVoid(session.run({ text: `SET CONSTRAINTS ${names} DEFERRED`, values: [] }))
        })
    }
    const client = yield* makePgClient({
      driver,
      listener,
      config: pgClientConfig(driver, resolved, extras),
      reactivity,
      transaction: (effect) =>
        deferInvalidations(
          effect,
          (body) => Session.transaction(driver, serverDefaults, provide, body, {}, DatabaseError.toSqlError),
          reactivity
        )
    })
    return { database, client }
  })

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
    return Effect.flatMap(Database, (db) => db.transaction(effect, options))
  }
  const options = arguments[0] as TransactionOptions | undefined
  return (effect: Effect.Effect<unknown, unknown, unknown>) =>
    Effect.flatMap(Database, (db) => db.transaction(effect, options))
} as never

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
  Effect.flatMap(Database, (db) => db.withConnection(effect))

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

// Kept next to the code that uses it; ES imports are hoisted either way.
import { makeMemory as makeMemoryService } from "./internal/memory/database.js"

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
