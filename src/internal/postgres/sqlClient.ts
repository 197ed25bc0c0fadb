import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { ConnectionOptions } from "node:tls"
import type pg from "pg"
import * as DatabaseError from "../../DatabaseError.js"
import type { Driver, Statement as WireStatement } from "./driver.js"
import { acquireClient } from "./driver.js"
import type { Listener } from "./listener.js"
import { execute, Session } from "./session.js"
import { stream } from "./stream.js"

type TransformRows = (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined

const rowsOf = (result: pg.QueryResult | Array<pg.QueryResult>): ReadonlyArray<any> =>
  Array.isArray(result) ? result.map((r) => r.rows ?? []) : result.rows ?? []

/**
 * @internal
 * An `@effect/sql` Connection over effect-dal's executor. Errors are the
 * classified DatabaseErrors, wrapped in the SqlError the interface declares.
 * A connection of a session (a transaction's, or one from `sql.reserve`)
 * runs everything on it, streams included; the pooled one runs where the
 * fiber is.
 */
export class CompatConnection implements Connection {
  constructor(
    private readonly run: (statement: WireStatement) => Effect.Effect<pg.QueryResult, DatabaseError.DatabaseError>,
    private readonly driver: Driver,
    private readonly session?: Session
  ) {}

  /** @internal The connection of a session. */
  static of(session: Session): CompatConnection {
    return new CompatConnection((statement) => session.run(statement), session.driver, session)
  }

  private query(sql: string, params: ReadonlyArray<unknown>, rowMode?: "array") {
    return Effect.mapError(
      this.run({ text: sql, values: params, rowMode }),
      DatabaseError.toSqlError
    )
  }

  execute(sql: string, params: ReadonlyArray<unknown>, transformRows: TransformRows) {
    const rows = Effect.map(this.query(sql, params), rowsOf)
    return transformRows ? Effect.map(rows, transformRows) : rows
  }
  executeRaw(sql: string, params: ReadonlyArray<unknown>) {
    return this.query(sql, params) as Effect.Effect<unknown, SqlError>
  }
  executeValues(sql: string, params: ReadonlyArray<unknown>) {
    return Effect.map(this.query(sql, params, "array"), (r) => r.rows as unknown as ReadonlyArray<ReadonlyArray<unknown>>)
  }
  executeUnprepared(sql: string, params: ReadonlyArray<unknown>, transformRows: TransformRows) {
    return this.execute(sql, params, transformRows)
  }
  executeStream(sql: string, params: ReadonlyArray<unknown>, transformRows: TransformRows) {
    const rows = stream<any>(this.driver, { text: sql, values: params }, 128, this.session).pipe(
      Stream.mapError(DatabaseError.toSqlError)
    )
    return transformRows
      ? Stream.mapChunks(rows, (chunk) => Chunk.unsafeFromArray(transformRows(Chunk.toReadonlyArray(chunk))))
      : rows
  }
}

/** @internal The name transforms of `PgClient.layer`'s config, which `Database.layer` takes too. */
export interface Transforms {
  readonly transformQueryNames?: ((name: string) => string) | undefined
  readonly transformResultNames?: ((name: string) => string) | undefined
  readonly transformJson?: boolean | undefined
}

/** @internal The pieces of a Postgres Database that the adapter needs. */
export interface CompatInput {
  readonly driver: Driver
  readonly listener: Listener
  readonly config: PgClient.PgClientConfig
  readonly reactivity: Reactivity.Reactivity.Service
  /** Database.transaction with the adapter's errors: machinery errors become SqlErrors. */
  readonly transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R>
}

const PgJson = Statement.custom<Statement.Custom<"PgJson", unknown>>("PgJson")

/**
 * @internal
 * A PgClient (and so an SqlClient) on effect-dal's pool. Plain `sql`
 * templates, SqlSchema, SqlResolver and Migrator run on the fiber's
 * transaction or pinned connection, and `withTransaction` is effect-dal's
 * transaction: unique savepoints, typed COMMIT errors, no silent rollback.
 */
export const makePgClient = (input: CompatInput): Effect.Effect<PgClient.PgClient> =>
  Effect.gen(function*() {
    const { config, driver } = input
    const pooled = new CompatConnection((statement) => execute(driver, statement), driver)
    const reserve = Effect.map(
      Effect.acquireRelease(
        Effect.mapError(acquireClient(driver), DatabaseError.toSqlError),
        (client) => Effect.sync(() => driver.release(client))
      ),
      (client): Connection => CompatConnection.of(new Session(driver, client, undefined))
    )
    // As PgClient does: query names through the compiler, result names (and
    // JSON values, unless transformJson is false) on the rows.
    const client = yield* SqlClient.make({
      acquirer: Effect.succeed(pooled),
      transactionAcquirer: reserve,
      compiler: PgClient.makeCompiler(config.transformQueryNames, config.transformJson),
      transformRows: config.transformResultNames === undefined
        ? undefined
        : Statement.defaultTransforms(config.transformResultNames, config.transformJson).array,
      spanAttributes: [
        ["db.system.name", "postgresql"],
        ["db.namespace", driver.options.target.database],
        ["server.address", driver.options.target.host],
        ["server.port", driver.options.target.port]
      ]
    }).pipe(Effect.provideService(Reactivity.Reactivity, input.reactivity))
    const pgClient: PgClient.PgClient = Object.assign(client, {
      withTransaction: input.transaction,
      [PgClient.TypeId]: PgClient.TypeId as PgClient.TypeId,
      config: input.config,
      json: (value: unknown) => PgJson(value),
      listen: (channel: string) =>
        Stream.unwrapScoped(input.listener.subscribe(channel)).pipe(Stream.mapError(DatabaseError.toSqlError)),
      notify: (channel: string, payload: string) =>
        Effect.mapError(
          Effect.asVoid(execute(driver, { text: "SELECT pg_notify($1, $2)", values: [channel, payload] })),
          DatabaseError.toSqlError
        )
    })
    ;(pgClient as { safe: unknown }).safe = pgClient
    return pgClient
  })

/** @internal What `PgClient.config` shows besides the connection: pool settings and transforms. */
export interface ConfigExtras extends Transforms {
  readonly url?: string | undefined
  readonly applicationName?: string | undefined
  readonly idleTimeoutMillis?: number | undefined
  readonly maxLifetimeSeconds?: number | undefined
}

/**
 * @internal
 * The config that `PgClient` exposes, as PgClient fills it: the URL when
 * one was given, and the host, port, database, user and password that
 * node-postgres resolved (from the URL, the options or the PG* variables),
 * which `PgMigrator` hands to pg_dump. The password stays redacted.
 */
export const pgClientConfig = (
  driver: Driver,
  resolved: pg.ClientConfig,
  extras: ConfigExtras
): PgClient.PgClientConfig => {
  const options = driver.options
  const password = typeof resolved.password === "string" ? resolved.password : undefined
  return {
    ...(extras.url === undefined ? {} : { url: Redacted.make(extras.url) }),
    host: options.target.host,
    port: options.target.port,
    database: options.target.database,
    ...(resolved.user === undefined ? {} : { username: resolved.user }),
    ...(password === undefined ? {} : { password: Redacted.make(password) }),
    ssl: resolved.ssl === undefined ? false : resolved.ssl as boolean | ConnectionOptions,
    maxConnections: options.maxConnections,
    minConnections: options.minConnections,
    connectTimeout: Duration.millis(options.connectTimeoutMillis),
    ...(extras.idleTimeoutMillis === undefined ? {} : { idleTimeout: Duration.millis(extras.idleTimeoutMillis) }),
    ...(extras.maxLifetimeSeconds === undefined ? {} : { connectionTTL: Duration.seconds(extras.maxLifetimeSeconds) }),
    ...(extras.applicationName === undefined ? {} : { applicationName: extras.applicationName }),
    ...(extras.transformQueryNames === undefined ? {} : { transformQueryNames: extras.transformQueryNames }),
    ...(extras.transformResultNames === undefined ? {} : { transformResultNames: extras.transformResultNames }),
    ...(extras.transformJson === undefined ? {} : { transformJson: extras.transformJson })
  }
}
