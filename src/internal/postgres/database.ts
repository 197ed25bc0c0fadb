/**
 * The PostgreSQL `Database` service over a driver: the start-up check, the
 * engine, transactions, LISTEN/NOTIFY, and the `PgClient` on the same pool.
 */
import type * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import pg from "pg"
import type * as Database from "../../Database.js"
import * as DatabaseError from "../../DatabaseError.js"
import type { IncludeStrategy } from "../engine.js"
import type { ServerDefaults } from "../transaction.js"
import { acquireClient, type Driver, runOnClient, type Statement } from "./driver.js"
import { makeEngine } from "./engine.js"
import { Listener } from "./listener.js"
import { currentOrNew, deferInvalidations, invalidatingWrites } from "./reactive.js"
import { currentSession, execute as executeIn, type Provide, SessionTag, transaction, withConnection } from "./session.js"
import { CompatConnection, type ConfigExtras, makePgClient, pgClientConfig } from "./sqlClient.js"
import { stream as cursorStream } from "./stream.js"

/** @internal The service (without its type id, which Database.ts adds) and its PgClient. */
export interface Started {
  readonly database: Omit<Database.Service, Database.TypeId>
  readonly client: PgClient.PgClient
}

const SERVER_SETTINGS = "SELECT current_setting('default_transaction_isolation') AS isolation, " +
  "current_setting('default_transaction_read_only') AS read_only, " +
  "current_setting('default_transaction_deferrable') AS deferrable"

// What make and fromPool share once the driver exists: the start-up check,
// the service, and the PgClient.
export const start = (
  driver: Driver,
  connectRetry: Schedule.Schedule<unknown, unknown> | undefined,
  resolved: pg.ClientConfig,
  extras: ConfigExtras,
  includeStrategy?: IncludeStrategy | undefined
): Effect.Effect<Started, DatabaseError.DatabaseError, Scope.Scope> =>
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
    const serverDefaults: ServerDefaults = {
      isolation: row.isolation as Database.Isolation,
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

    const provide: Provide = (session, extend) => {
      // The @effect/sql connection of a session is made once per session.
      const connection = [CompatConnection.of(session), session.level?.depth ?? 0] as const
      // One copy of the context for all that a transaction adds to it.
      return (context) => {
        const services = new Map(context.unsafeMap)
        services.set(SessionTag.key, session)
        services.set(SqlClient.TransactionConnection.key, connection)
        if (extend !== undefined) extend(services)
        return Context.unsafeMake(services)
      }
    }

    // The user's Reactivity when the layer was given one, so that
    // sql.reactive, Reactivity.mutation and repository writes all meet.
    const reactivity = yield* currentOrNew
    const execute = (statement: Statement) => executeIn(driver, statement)
    const database: Omit<Database.Service, Database.TypeId> = {
      engine: makeEngine({
        execute,
        stream: (statement, batchSize) => cursorStream(driver, statement, batchSize),
        sessionOf: (context) => currentSession(driver, context),
        transaction: (effect, transactionOptions) =>
          transaction(driver, serverDefaults, provide, effect, transactionOptions),
        // A write invalidates the table's name: sql.reactive([table], ...)
        // runs again once the write has committed.
        decorate: (repository, table) => invalidatingWrites(repository, reactivity, [table.name])
      }, includeStrategy),
      transaction: (effect, transactionOptions) =>
        deferInvalidations(
          effect,
          (body, hooks) => transaction(driver, serverDefaults, provide, body, transactionOptions, undefined, hooks),
          reactivity
        ),
      withConnection: (effect) => withConnection(driver, provide, effect),
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
          const session = currentSession(driver, fiber.currentContext)
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
          (body, hooks) => transaction(driver, serverDefaults, provide, body, {}, DatabaseError.toSqlError, hooks),
          reactivity
        )
    })
    return { database, client }
  })

