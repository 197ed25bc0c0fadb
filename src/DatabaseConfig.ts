/**
 * How to reach PostgreSQL and size the pool: the options of
 * `Database.layer`, and the same read from the environment ({@link config},
 * which `Database.layerConfig` reads by default).
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as os from "node:os"
import type { ConnectionOptions } from "node:tls"
import type pg from "pg"
import { defaults, urlTls } from "./internal/postgres/options.js"

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
 * How the relations a query includes (`Query.include`) are loaded:
 * `"perLevel"` sends one statement for the rows and one per included
 * relation level (`= ANY($1)` over the parents' keys); `"singleStatement"`
 * sends the rows and the whole include tree in one statement (a `json_agg`
 * subquery per relation, nested); `"auto"` picks per query the one that
 * measured faster (README, "Relations").
 *
 * @since 0.1.0
 * @category models
 */
export type IncludeStrategy = "auto" | "perLevel" | "singleStatement"

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
   * How included relations are loaded (see {@link IncludeStrategy}).
   * The in-memory database always loads per level. Default `"auto"`.
   */
  readonly includeStrategy?: IncludeStrategy | undefined
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
  /** See {@link Options.includeStrategy}. Default `"auto"`. */
  readonly includeStrategy?: IncludeStrategy | undefined
  /** See {@link Options.shutdownGracePeriod}. Default 5 seconds. */
  readonly shutdownGracePeriod?: Duration.DurationInput | undefined
  /** See {@link Options.connectRetry}. */
  readonly connectRetry?: Schedule.Schedule<unknown, unknown> | undefined
}

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
 * `DATABASE_SHUTDOWN_GRACE_PERIOD`, `DATABASE_CONNECT_RETRIES`,
 * `DATABASE_STATEMENT_CACHE_SIZE` and `DATABASE_INCLUDE_STRATEGY`. Durations are written like
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
  ),
  includeStrategy: Config.option(Config.literal("auto", "perLevel", "singleStatement")("DATABASE_INCLUDE_STRATEGY"))
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
      statementCacheSize: someOrUndefined(pool.statementCacheSize),
      includeStrategy: someOrUndefined(pool.includeStrategy)
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

