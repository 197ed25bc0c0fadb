import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type pg from "pg"
import * as DatabaseError from "../DatabaseError.js"
import type { Driver, Statement as WireStatement } from "./driver.js"
import { acquireClient } from "./driver.js"
import type { Listener } from "./listener.js"
import { execute, type Provide, Session, type ServerDefaults, transaction } from "./session.js"
import { stream } from "./stream.js"

type TransformRows = (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined

const rowsOf = (result: pg.QueryResult | Array<pg.QueryResult>): ReadonlyArray<any> =>
  Array.isArray(result) ? result.map((r) => r.rows ?? []) : result.rows ?? []

/**
 * @internal
 * An `@effect/sql` Connection over effect-dal's executor. Errors are the
 * classified DatabaseErrors, wrapped in the SqlError the interface declares.
 */
export class CompatConnection implements Connection {
  constructor(
    private readonly run: (statement: WireStatement) => Effect.Effect<pg.QueryResult, DatabaseError.DatabaseError>,
    private readonly driver: Driver
  ) {}

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
    const rows = stream<any>(this.driver, { text: sql, values: params }, 128).pipe(
      Stream.mapError(DatabaseError.toSqlError)
    )
    return transformRows
      ? Stream.mapChunks(rows, (chunk) => Chunk.unsafeFromArray(transformRows(Chunk.toReadonlyArray(chunk))))
      : rows
  }
}

/** @internal The pieces of a Postgres Database that the adapter needs. */
export interface CompatInput {
  readonly driver: Driver
  readonly defaults: ServerDefaults
  readonly provide: Provide
  readonly listener: Listener
  readonly config: PgClient.PgClientConfig
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
    const { driver } = input
    const pooled = new CompatConnection((statement) => execute(driver, statement), driver)
    const reserve = Effect.map(
      Effect.acquireRelease(
        Effect.mapError(acquireClient(driver), DatabaseError.toSqlError),
        (client) => Effect.sync(() => driver.release(client))
      ),
      (client) => {
        const session = new Session(driver, client, undefined)
        return new CompatConnection((statement) => session.run(statement), driver) as Connection
      }
    )
    const client = yield* SqlClient.make({
      acquirer: Effect.succeed(pooled),
      transactionAcquirer: reserve,
      compiler: PgClient.makeCompiler(),
      spanAttributes: [
        ["db.system.name", "postgresql"],
        ["db.namespace", driver.options.target.database],
        ["server.address", driver.options.target.host],
        ["server.port", driver.options.target.port]
      ]
    }).pipe(Effect.provide(Reactivity.layer))
    const withTransaction = <R, E, A>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
      transaction(driver, input.defaults, input.provide, effect, {}, DatabaseError.toSqlError)
    const pgClient: PgClient.PgClient = Object.assign(client, {
      withTransaction,
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

/** @internal The config that PgClient exposes, without the password in clear. */
export const pgClientConfig = (driver: Driver, password: string | undefined): PgClient.PgClientConfig => ({
  host: driver.options.target.host,
  port: driver.options.target.port,
  database: driver.options.target.database,
  ...(driver.options.client.user === undefined ? {} : { username: driver.options.client.user }),
  ...(password === undefined ? {} : { password: Redacted.make(password) }),
  maxConnections: driver.options.maxConnections,
  minConnections: driver.options.minConnections
})
