import { assert, describe, expect, it, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as childProcess from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import * as Database from "../src/Database.js"
import * as DatabaseError from "../src/DatabaseError.js"
import * as Admin from "./support/admin.js"
import * as TestDatabase from "./support/TestDatabase.js"

const freePort = () =>
  Effect.promise(() =>
    new Promise<number>((resolve) => {
      const probe = net.createServer()
      probe.listen(0, "127.0.0.1", () => {
        const port = (probe.address() as net.AddressInfo).port
        probe.close(() => resolve(port))
      })
    })
  )

/** Builds a layer in its own scope and runs `use` with its context. */
const withLayer = <A, E, R>(
  build: Layer.Layer<Database.Database | SqlClient.SqlClient, unknown>,
  use: Effect.Effect<A, E, R | Database.Database | SqlClient.SqlClient>
) => Effect.scoped(Effect.flatMap(Layer.build(build), (context) => Effect.provide(use, context)))

/** Every path named in a ConfigError, e.g. [["DATABASE_POOL_MAX"]]. */
const configPaths = (error: ConfigError.ConfigError): Array<string> => {
  switch (error._op) {
    case "And":
    case "Or":
      return [...configPaths(error.left), ...configPaths(error.right)]
    default:
      return [error.path.join(".")]
  }
}

const configFrom = (entries: Record<string, string>) => ConfigProvider.fromMap(new Map(Object.entries(entries)))

/**
 * A Database layer built in a scope of its own, which the test closes; its
 * sessions carry a fresh application name, for Admin.sessions.
 */
const openLayer = (name: string, options: Omit<Database.Options, "url" | "applicationName">) =>
  Effect.gen(function*() {
    const url = yield* TestDatabase.url
    const app = Admin.appName(name)
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(Database.layer({ url, applicationName: app, ...options }), scope)
    return { url, app, scope, context }
  })

describe("Database layer", () => {
  it.live("starts, opens minConnections, and closes every session when its scope closes", () =>
    Effect.gen(function*() {
      const { app, context, scope, url } = yield* openLayer("lifecycle", { minConnections: 2 })
      const stats = yield* Effect.provide(Database.stats, context)
      expect(stats.total).toBe(2)
      expect(stats.idle).toBe(2)
      expect((yield* Admin.sessions(url, app)).length).toBe(2)
      yield* Scope.close(scope, Exit.void)
      const after = yield* Admin.eventually(Admin.sessions(url, app), (rows) => rows.length === 0)
      expect(after).toEqual([])
    }).pipe(Effect.scoped))

  it.live("never opens more than maxConnections", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const app = Admin.appName("max")
      yield* withLayer(
        Database.layer({ url, maxConnections: 3, applicationName: app }),
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          let peak = 0
          yield* Effect.forEach(
            Array.from({ length: 20 }),
            () =>
              sql`select pg_sleep(0.02)`.pipe(
                Effect.zipRight(Database.stats),
                Effect.tap((s) => Effect.sync(() => (peak = Math.max(peak, s.total))))
              ),
            { concurrency: "unbounded" }
          )
          expect(peak).toBeLessThanOrEqual(3)
          const stats = yield* Database.stats
          expect(stats.total).toBeLessThanOrEqual(3)
          expect(stats.idle).toBe(stats.total)
        })
      )
    }).pipe(Effect.scoped))

  it.live("ping answers with its round-trip time, and stats show active and waiting callers", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      yield* withLayer(
        Database.layer({ url, maxConnections: 1 }),
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const rtt = yield* Database.ping
          expect(rtt.toJSON()).toHaveProperty("_id", "Duration")
          const holder = yield* Effect.fork(Database.transaction(sql`select pg_sleep(0.5)`))
          yield* Admin.eventually(Database.stats, (s) => s.active === 1)
          const waiter = yield* Effect.fork(Database.ping)
          const busy = yield* Admin.eventually(Database.stats, (s) => s.waiting === 1)
          expect(busy).toEqual({ total: 1, idle: 0, active: 1, waiting: 1, max: 1 })
          yield* Fiber.join(holder)
          yield* Fiber.join(waiter)
          expect(yield* Database.stats).toEqual({ total: 1, idle: 1, active: 0, waiting: 0, max: 1 })
        })
      )
    }).pipe(Effect.scoped))

  it.live("a caller that waits longer than acquireTimeout gets PoolTimeout", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      yield* withLayer(
        Database.layer({ url, maxConnections: 1, acquireTimeout: "200 millis" }),
        Effect.gen(function*() {
          const holder = yield* Effect.fork(Database.transaction(Effect.never))
          yield* Admin.eventually(Database.stats, (s) => s.active === 1)
          const error = yield* Effect.flip(Database.ping)
          assert(error._tag === "PoolTimeout")
          expect(error.maxConnections).toBe(1)
          expect(error.waitedMillis).toBe(200)
          yield* Fiber.interrupt(holder)
          expect(yield* Database.stats).toMatchObject({ active: 0, waiting: 0 })
          yield* Database.ping
        })
      )
    }).pipe(Effect.scoped))

  it.live("idle connections above minConnections close after idleTimeout; with 0 they stay open", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      // Four statements at once open four connections.
      const busy = Effect.all(Array.from({ length: 4 }, () => Database.withConnection(Effect.sleep("100 millis"))), {
        concurrency: 4
      })
      yield* withLayer(
        Database.layer({ url, minConnections: 1, maxConnections: 4, idleTimeout: "200 millis" }),
        Effect.gen(function*() {
          yield* busy
          expect((yield* Database.stats).total).toBe(4)
          const settled = yield* Admin.eventually(Database.stats, (s) => s.total === 1, "5 seconds")
          expect(settled).toMatchObject({ total: 1, idle: 1, active: 0 })
        })
      )
      yield* withLayer(
        Database.layer({ url, maxConnections: 4, idleTimeout: 0 }),
        Effect.gen(function*() {
          yield* busy
          yield* Effect.sleep("600 millis")
          expect(yield* Database.stats).toMatchObject({ total: 4, idle: 4 })
        })
      )
    }).pipe(Effect.scoped))

  it.live("a connection older than maxLifetime is replaced by a new session", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      yield* withLayer(
        Database.layer({ url, maxConnections: 1, maxLifetime: "1 second" }),
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const pid = Effect.map(sql<{ pid: number }>`select pg_backend_pid() as pid`, (rows) => rows[0]!.pid)
          const first = yield* pid
          expect(yield* pid).toBe(first)
          yield* Effect.sleep("1500 millis")
          const next = yield* Admin.eventually(pid, (p) => p !== first, "5 seconds")
          expect(next).not.toBe(first)
        })
      )
    }).pipe(Effect.scoped))

  it.live("statementTimeout stops a long statement with StatementTimeout", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      yield* withLayer(
        Database.layer({ url, statementTimeout: "150 millis" }),
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const setting = yield* sql<{ statement_timeout: string }>`show statement_timeout`
          expect(setting[0]!.statement_timeout).toBe("150ms")
          const error = yield* sql`select pg_sleep(5)`.pipe(Effect.mapError(DatabaseError.fromSqlError), Effect.flip)
          expect(error._tag).toBe("StatementTimeout")
          expect(error.message).toContain("statement_timeout")
          expect(yield* Database.stats).toMatchObject({ active: 0 })
        })
      )
    }).pipe(Effect.scoped))

  // The error names 127.0.0.1, the port and the database, and never the password "s3cret-pw".
  const expectNamesServer = (error: DatabaseError.ConnectionError, port: number, database: string) => {
    expect({ host: error.host, port: error.port, database: error.database }).toEqual({ host: "127.0.0.1", port, database })
    expect(error.message).toContain(`127.0.0.1:${port}/${database}`)
    expect(error.message).not.toContain("s3cret-pw")
    expect(JSON.stringify(error)).not.toContain("s3cret-pw")
  }

  it.live("an unreachable server fails with a ConnectionError naming host, port and database, not the password", () =>
    Effect.gen(function*() {
      const port = yield* freePort()
      const exit = yield* Effect.exit(withLayer(
        Database.layer({ host: "127.0.0.1", port, database: "nowhere", user: "app", password: "s3cret-pw" }),
        Database.ping
      ))
      assert(Exit.isFailure(exit))
      const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
      assert(error instanceof DatabaseError.ConnectionError)
      expect(error.reason).toBe("unreachable")
      expectNamesServer(error, port, "nowhere")
    }))

  // A server that accepts TCP but never answers the startup message.
  const silentServer = Effect.acquireRelease(
    Effect.async<{ port: number; server: net.Server; sockets: Set<net.Socket> }>((resume) => {
      const sockets = new Set<net.Socket>()
      const server = net.createServer((socket) => {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ port: (server.address() as net.AddressInfo).port, server, sockets })))
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  )

  it.live("a server that never answers fails with ConnectionError reason timeout after the smaller of connectTimeout and acquireTimeout", () =>
    Effect.gen(function*() {
      const { port } = yield* silentServer
      const target = { host: "127.0.0.1", port, database: "silent", user: "app", password: "s3cret-pw" }
      const cases: Array<Database.Options> = [{ connectTimeout: "300 millis" }, { acquireTimeout: "300 millis" }]
      for (const timeouts of cases) {
        const error = yield* Effect.flip(withLayer(Database.layer({ ...target, ...timeouts }), Database.ping))
        assert(error instanceof DatabaseError.ConnectionError, `expected a ConnectionError, got ${String(error)}`)
        expect(error.reason).toBe("timeout")
        expectNamesServer(error, port, "silent")
      }
    }).pipe(Effect.scoped))

  it.live("wrong credentials fail with ConnectionError reason authentication, without the password", () =>
    Effect.gen(function*() {
      const url = new URL(yield* TestDatabase.url)
      // An unknown role fails under every auth method (28000 under trust,
      // 28P01 under password/SCRAM).
      url.username = "no_such_role"
      url.password = "not-the-password"
      const error = yield* Effect.flip(withLayer(Database.layer({ url: url.toString() }), Database.ping))
      assert(error instanceof DatabaseError.ConnectionError)
      expect(error.reason).toBe("authentication")
      expect(error.sqlState?.slice(0, 2)).toBe("28")
      expect(error.message).not.toContain("not-the-password")
    }).pipe(Effect.scoped))

  it.live("a database that does not exist fails with ConnectionError reason rejected", () =>
    Effect.gen(function*() {
      const url = new URL(yield* TestDatabase.url)
      url.pathname = "/no_such_database"
      const error = yield* Effect.flip(withLayer(Database.layer({ url: url.toString() }), Database.ping))
      assert(error instanceof DatabaseError.ConnectionError)
      expect(error.reason).toBe("rejected")
      expect(error.sqlState).toBe("3D000")
      expect(error.database).toBe("no_such_database")
    }).pipe(Effect.scoped))

  const tlsInUse = Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<{ ssl: boolean }>`select ssl from pg_stat_ssl where pid = pg_backend_pid()`
  ).pipe(Effect.map((rows) => rows[0]?.ssl))

  const serverHasTls = (url: string) =>
    Effect.map(Admin.query<{ ssl: string }>(url, "show ssl"), (rows) => rows[0]?.ssl === "on")

  const withSslMode = (url: string, mode: string) => {
    const withMode = new URL(url)
    withMode.searchParams.set("sslmode", mode)
    return withMode.toString()
  }

  it.live("ssl require against a server without TLS fails with a typed ConnectionError", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const exit = yield* Effect.exit(withLayer(Database.layer({ url, ssl: "require" }), tlsInUse))
      if (yield* serverHasTls(url)) {
        expect(exit).toEqual(Exit.succeed(true))
        return
      }
      assert(Exit.isFailure(exit) && exit.cause._tag === "Fail", `expected a typed failure, got ${String(exit)}`)
      const error = exit.cause.error
      assert(error instanceof DatabaseError.ConnectionError)
      expect(error.reason).toBe("rejected")
      expect(error.message).toMatch(/does not support SSL/)
    }).pipe(Effect.scoped))

  it.live("the URL's sslmode is the default SSL mode, and an explicit ssl option wins over it", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      // sslmode=disable in the URL, no option: plain connection.
      expect(yield* withLayer(Database.layer({ url: withSslMode(url, "disable") }), tlsInUse)).toBe(false)
      // sslmode=require in the URL, but ssl: "disable" given: plain connection.
      expect(yield* withLayer(Database.layer({ url: withSslMode(url, "require"), ssl: "disable" }), tlsInUse)).toBe(
        false
      )
      // The same through the environment: DATABASE_SSL_MODE wins over the URL.
      expect(
        yield* withLayer(Database.layerConfig(), tlsInUse).pipe(
          Effect.withConfigProvider(configFrom({ DATABASE_URL: withSslMode(url, "require"), DATABASE_SSL_MODE: "disable" }))
        )
      ).toBe(false)
      // sslmode=require in the URL, no option: TLS without verification.
      const required = yield* Effect.exit(withLayer(Database.layer({ url: withSslMode(url, "require") }), tlsInUse))
      if (yield* serverHasTls(url)) {
        expect(required).toEqual(Exit.succeed(true))
      } else {
        assert(Exit.isFailure(required) && required.cause._tag === "Fail")
        expect(required.cause.error).toMatchObject({ _tag: "ConnectionError", reason: "rejected" })
      }
    }).pipe(Effect.scoped))

  it.live("URL TLS parameters that cannot work (an sslmode node-postgres cannot honour, a missing certificate) are a ConfigError naming the URL", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      for (const mode of ["prefer", "allow", "sometimes"]) {
        const error = yield* Effect.flip(withLayer(Database.layer({ url: withSslMode(url, mode) }), Database.ping))
        assert(ConfigError.isConfigError(error), `expected a ConfigError, got ${String(error)}`)
        expect(configPaths(error)).toEqual(["url"])
        expect(String(error)).toContain(`sslmode=${mode}`)
      }
      // A certificate file named in the URL is read when TLS is on, and a
      // missing one is named; with TLS off it is not needed.
      const withRootCert = (mode: string) => `${withSslMode(url, mode)}&sslrootcert=/no/such/root.crt`
      const missing = yield* Effect.flip(withLayer(Database.layer({ url: withRootCert("verify-full") }), Database.ping))
      assert(ConfigError.isConfigError(missing), `expected a ConfigError, got ${String(missing)}`)
      expect(configPaths(missing)).toEqual(["url"])
      expect(String(missing)).toContain("/no/such/root.crt")
      expect(yield* withLayer(Database.layer({ url: withRootCert("disable") }), tlsInUse)).toBe(false)
    }).pipe(Effect.scoped))

  it.live("impossible pool sizes fail with a ConfigError naming the option, not a defect", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const sizeError = (options: Database.Options) =>
        Effect.flip(withLayer(Database.layer({ url, ...options }), Database.ping)).pipe(
          Effect.map((error) => {
            assert(ConfigError.isConfigError(error), `expected a ConfigError, got ${String(error)}`)
            return configPaths(error)
          })
        )
      expect(yield* sizeError({ maxConnections: 0 })).toEqual(["maxConnections"])
      expect(yield* sizeError({ maxConnections: 2.5 })).toEqual(["maxConnections"])
      expect(yield* sizeError({ minConnections: 5, maxConnections: 2 })).toEqual(["minConnections"])
      expect(yield* sizeError({ minConnections: -1 })).toEqual(["minConnections"])
    }).pipe(Effect.scoped))

  it.live("with connectRetry, start-up keeps trying until the server appears", () =>
    Effect.gen(function*() {
      const url = new URL(yield* TestDatabase.url)
      const port = yield* freePort()
      // A TCP proxy to the real server, opened only after a while.
      const proxy = net.createServer((socket) => {
        const upstream = net.connect(Number(url.port), url.hostname)
        socket.pipe(upstream).pipe(socket)
        socket.on("error", () => upstream.destroy())
        upstream.on("error", () => socket.destroy())
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => proxy.close()))
      const opened = setTimeout(() => proxy.listen(port, "127.0.0.1"), 600)
      yield* Effect.addFinalizer(() => Effect.sync(() => clearTimeout(opened)))
      const proxied = new URL(url)
      proxied.port = String(port)
      let attempts = 0
      const rtt = yield* withLayer(
        Database.layer({
          url: proxied.toString(),
          connectRetry: Schedule.spaced("100 millis").pipe(
            Schedule.intersect(Schedule.recurs(50)),
            Schedule.tapInput(() => Effect.sync(() => attempts++))
          )
        }),
        Database.ping
      )
      expect(rtt.toJSON()).toHaveProperty("_id", "Duration")
      expect(attempts).toBeGreaterThanOrEqual(2)
    }).pipe(Effect.scoped))

  it.live("with connectRetry, a server that never appears still fails with ConnectionError after the retries", () =>
    Effect.gen(function*() {
      const port = yield* freePort()
      let attempts = 0
      const error = yield* withLayer(
        Database.layer({
          host: "127.0.0.1",
          port,
          database: "nowhere",
          connectRetry: Schedule.spaced("20 millis").pipe(
            Schedule.intersect(Schedule.recurs(3)),
            Schedule.tapInput(() => Effect.sync(() => attempts++))
          )
        }),
        Database.ping
      ).pipe(Effect.flip)
      expect(error).toBeInstanceOf(DatabaseError.ConnectionError)
      expect(attempts).toBe(4)
    }))

  it.scopedLive("with connectRetry, a refusal that no retry can fix (an unknown role) fails at once, unretried", () =>
    Effect.gen(function*() {
      const url = new URL(yield* TestDatabase.url)
      url.username = "no_such_role_anywhere"
      url.password = ""
      let attempts = 0
      const error = yield* withLayer(
        Database.layer({
          url: url.toString(),
          connectRetry: Schedule.spaced("20 millis").pipe(
            Schedule.intersect(Schedule.recurs(3)),
            Schedule.tapInput(() => Effect.sync(() => attempts++))
          )
        }),
        Database.ping
      ).pipe(Effect.flip)
      assert(error instanceof DatabaseError.ConnectionError)
      // Refused by pg_hba or the role check (28xxx), or, where the server
      // asks for a password, by the SCRAM exchange that has none to give.
      expect(error.reason).toBe("authentication")
      // The schedule saw the one failure and stopped: no retry (a server
      // that never appears is seen 4 times with recurs(3)).
      expect(attempts).toBe(1)
    }))

  it.live("closing the layer cancels a statement that outlives the grace period; none keeps running", () =>
    Effect.gen(function*() {
      const { app, context, scope, url } = yield* openLayer("shutdown", { shutdownGracePeriod: "200 millis" })
      const sql = Effect.runSync(Effect.provide(SqlClient.SqlClient, context))
      const running = yield* Effect.forkDaemon(sql`select pg_sleep(30)`.pipe(Effect.mapError(DatabaseError.fromSqlError)))
      yield* Admin.eventually(Admin.sessions(url, app), (rows) => rows.some((r) => r.state === "active"))
      yield* Scope.close(scope, Exit.void)
      const active = yield* Admin.sessions(url, app)
      expect(active.filter((r) => r.state === "active")).toEqual([])
      const exit = yield* Fiber.await(running)
      assert(Exit.isFailure(exit) && exit.cause._tag === "Fail")
      expect(exit.cause.error._tag).toBe("QueryCanceled")
      expect(yield* Admin.eventually(Admin.sessions(url, app), (rows) => rows.length === 0)).toEqual([])
    }).pipe(Effect.scoped))

  it.live("closing the layer lets in-flight work that ends within the grace period finish", () =>
    Effect.gen(function*() {
      const { app, context, scope, url } = yield* openLayer("grace", { shutdownGracePeriod: "10 seconds" })
      const sql = Effect.runSync(Effect.provide(SqlClient.SqlClient, context))
      const running = yield* Effect.forkDaemon(sql<{ done: number }>`select 1 as done from pg_sleep(0.4)`)
      yield* Admin.eventually(Admin.sessions(url, app), (rows) => rows.some((r) => r.state === "active"))
      yield* Scope.close(scope, Exit.void)
      const rows = yield* Fiber.join(running)
      expect(rows).toEqual([{ done: 1 }])
      // New work after close is refused with a typed error.
      const refused = yield* Effect.flip(Effect.provide(Database.ping, context))
      assert(refused._tag === "ConnectionError")
      expect(refused.reason).toBe("closed")
    }).pipe(Effect.scoped))

  it.live("closing the layer fails the callers still waiting for a connection with ConnectionError reason closed", () =>
    Effect.gen(function*() {
      const { app, context, scope, url } = yield* openLayer("waiters", { maxConnections: 1, shutdownGracePeriod: "10 seconds" })
      const sql = Effect.runSync(Effect.provide(SqlClient.SqlClient, context))
      const running = yield* Effect.forkDaemon(sql<{ done: number }>`select 1 as done from pg_sleep(0.4)`)
      yield* Admin.eventually(Admin.sessions(url, app), (rows) => rows.some((r) => r.state === "active"))
      const waiters = yield* Effect.forkDaemon(
        Effect.all([Database.ping, Database.ping], { concurrency: "unbounded", mode: "either" }).pipe(
          Effect.provide(context)
        )
      )
      yield* Admin.eventually(Effect.provide(Database.stats, context), (s) => s.waiting === 2)
      yield* Scope.close(scope, Exit.void)
      const results = yield* Fiber.join(waiters)
      expect(results.map((result) =>
        Either.isLeft(result) && result.left._tag === "ConnectionError" ? result.left.reason : "not failed"
      )).toEqual(["closed", "closed"])
      // The statement that held the connection finished within the grace period.
      expect(yield* Fiber.join(running)).toEqual([{ done: 1 }])
    }).pipe(Effect.scoped))

  it.live("an idle connection killed by pg_terminate_backend does not crash the process; the next query gets a fresh one", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      yield* withLayer(
        Database.layer({ url, maxConnections: 2 }),
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const [{ pid }] = (yield* sql<{ pid: number }>`select pg_backend_pid() as pid`) as [{ pid: number }]
          expect(yield* Database.stats).toMatchObject({ total: 1, idle: 1 })
          const killed = yield* Admin.query<{ ok: boolean }>(url, "select pg_terminate_backend($1) as ok", [pid])
          expect(killed).toEqual([{ ok: true }])
          yield* Admin.eventually(Database.stats, (s) => s.total === 0)
          const [{ pid: next }] = (yield* sql<{ pid: number }>`select pg_backend_pid() as pid`) as [{ pid: number }]
          expect(next).not.toBe(pid)
        })
      )
    }).pipe(Effect.scoped))

  it.live("a pooled statement whose backend is terminated never hands that connection to the next caller", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const app = Admin.appName("killed-pooled")
      yield* withLayer(
        Database.layer({ url, maxConnections: 1, applicationName: app }),
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          for (let round = 0; round < 10; round++) {
            const sleeping = yield* Effect.fork(Effect.either(sql`select pg_sleep(5)`))
            const [{ pid }] = yield* Admin.eventually(
              Admin.query<{ pid: number }>(
                url,
                "select pid from pg_stat_activity where application_name = $1 and state = 'active'",
                [app]
              ),
              (rows) => rows.length === 1
            ) as Effect.Effect<[{ pid: number }], Error>
            yield* Admin.query(url, "select pg_terminate_backend($1)", [pid])
            const killed = yield* Fiber.join(sleeping)
            assert(killed._tag === "Left")
            expect(DatabaseError.fromSqlError(killed.left)._tag).toBe("ConnectionError")
            // At once, on the only connection slot: a fresh session.
            const [{ next }] = (yield* sql<{ next: number }>`select pg_backend_pid() as next`) as [{ next: number }]
            expect(next).not.toBe(pid)
          }
        })
      )
    }).pipe(Effect.scoped))

  it.live("a connection killed while in use fails that transaction with ConnectionError and is not reused", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      yield* withLayer(
        Database.layer({ url, maxConnections: 1 }),
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const work = Database.transaction(Effect.gen(function*() {
            yield* sql`select pg_sleep(10)`
          })).pipe(Effect.mapError((e) => e._tag === "SqlError" ? DatabaseError.fromSqlError(e) : e))
          const fiber = yield* Effect.fork(work)
          const [{ pid }] = yield* Admin.eventually(
            Admin.query<{ pid: number }>(url, "select pid from pg_stat_activity where query like 'select pg_sleep(10)%'"),
            (rows) => rows.length === 1
          ) as Effect.Effect<[{ pid: number }], Error>
          yield* Admin.query(url, "select pg_terminate_backend($1)", [pid])
          const error = yield* Effect.flip(Fiber.join(fiber))
          assert(error._tag === "ConnectionError")
          expect(error.reason).toBe("terminated")
          expect(DatabaseError.isRetryable(error)).toBe(true)
          const [{ pid: next }] = (yield* sql<{ pid: number }>`select pg_backend_pid() as pid`) as [{ pid: number }]
          expect(next).not.toBe(pid)
          expect(yield* Database.stats).toMatchObject({ total: 1, idle: 1, active: 0 })
        })
      )
    }).pipe(Effect.scoped))
})

describe("Database.layerConfig", () => {
  it.live("reads DATABASE_URL and the pool settings from the environment", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const app = Admin.appName("config")
      const settings = yield* withLayer(
        Database.layerConfig(),
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const stats = yield* Database.stats
          const rows = yield* sql<{ application_name: string; statement_timeout: string }>`
            select current_setting('application_name') as application_name,
                   current_setting('statement_timeout') as statement_timeout`
          return { stats, row: rows[0] }
        })
      ).pipe(Effect.withConfigProvider(configFrom({
        DATABASE_URL: url,
        DATABASE_POOL_MIN: "1",
        DATABASE_POOL_MAX: "3",
        DATABASE_STATEMENT_TIMEOUT: "2 seconds",
        DATABASE_APPLICATION_NAME: app,
        DATABASE_ACQUIRE_TIMEOUT: "1 second",
        DATABASE_CONNECT_RETRIES: "2"
      })))
      expect(settings.stats).toMatchObject({ total: 1, max: 3 })
      expect(settings.row).toEqual({ application_name: app, statement_timeout: "2s" })
    }).pipe(Effect.scoped))

  it.effect("maps every variable of the configuration table to its own option", () =>
    Effect.gen(function*() {
      // Distinct values everywhere, so a variable wired to the wrong option shows.
      const read = yield* Effect.withConfigProvider(
        Database.config,
        configFrom({
          DATABASE_URL: "postgresql://app:s3cret@db.internal:6543/orders",
          DATABASE_POOL_MIN: "2",
          DATABASE_POOL_MAX: "7",
          DATABASE_IDLE_TIMEOUT: "11 seconds",
          DATABASE_MAX_LIFETIME: "13 minutes",
          DATABASE_CONNECT_TIMEOUT: "1700 millis",
          DATABASE_ACQUIRE_TIMEOUT: "1900 millis",
          DATABASE_STATEMENT_TIMEOUT: "2300 millis",
          DATABASE_APPLICATION_NAME: "orders-api",
          DATABASE_SSL_MODE: "verify-ca",
          DATABASE_SHUTDOWN_GRACE_PERIOD: "29 seconds",
          DATABASE_CONNECT_RETRIES: "3",
          DATABASE_STATEMENT_CACHE_SIZE: "31"
        })
      )
      const { connectRetry, url, ...rest } = read
      const millis = (d: unknown) => Duration.toMillis(Duration.decode(d as Duration.DurationInput))
      expect(Redacted.isRedacted(url) ? Redacted.value(url) : url).toBe("postgresql://app:s3cret@db.internal:6543/orders")
      expect({
        ...rest,
        idleTimeout: millis(rest.idleTimeout),
        maxLifetime: millis(rest.maxLifetime),
        connectTimeout: millis(rest.connectTimeout),
        acquireTimeout: millis(rest.acquireTimeout),
        statementTimeout: millis(rest.statementTimeout),
        shutdownGracePeriod: millis(rest.shutdownGracePeriod)
      }).toEqual({
        minConnections: 2,
        maxConnections: 7,
        idleTimeout: 11_000,
        maxLifetime: 13 * 60_000,
        connectTimeout: 1_700,
        acquireTimeout: 1_900,
        statementTimeout: 2_300,
        applicationName: "orders-api",
        ssl: "verify-ca",
        shutdownGracePeriod: 29_000,
        statementCacheSize: 31
      })
      // DATABASE_CONNECT_RETRIES: the schedule stops after as many steps as Schedule.recurs(3).
      assert(connectRetry !== undefined)
      const inputs = Array.from({ length: 10 }, (_, i) => i)
      const steps = yield* Schedule.run(connectRetry, 0, inputs)
      expect(steps.length).toBe((yield* Schedule.run(Schedule.recurs(3), 0, inputs)).length)

      const pg = yield* Effect.withConfigProvider(
        Database.config,
        configFrom({ PGHOST: "db.internal", PGPORT: "6543", PGDATABASE: "orders", PGUSER: "app", PGPASSWORD: "s3cret" })
      )
      expect({ ...pg, password: Redacted.value(pg.password as Redacted.Redacted<string>) }).toMatchObject({
        host: "db.internal",
        port: 6543,
        database: "orders",
        user: "app",
        password: "s3cret"
      })
    }))

  it.live("reads PGHOST, PGPORT, PGDATABASE, PGUSER and PGPASSWORD when DATABASE_URL is not set", () =>
    Effect.gen(function*() {
      const url = new URL(yield* TestDatabase.url)
      const database = yield* withLayer(
        Database.layerConfig(),
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          return (yield* sql<{ db: string; usr: string }>`select current_database() as db, current_user as usr`)[0]
        })
      ).pipe(Effect.withConfigProvider(configFrom({
        PGHOST: url.hostname,
        PGPORT: url.port,
        PGDATABASE: url.pathname.slice(1),
        PGUSER: decodeURIComponent(url.username),
        PGPASSWORD: decodeURIComponent(url.password)
      })))
      expect(database).toEqual({ db: url.pathname.slice(1), usr: decodeURIComponent(url.username) })
    }).pipe(Effect.scoped))

  const badConfig = (entries: Record<string, string>) =>
    withLayer(Database.layerConfig(), Database.ping).pipe(
      Effect.withConfigProvider(configFrom(entries)),
      Effect.flip,
      Effect.map((error) => {
        assert(ConfigError.isConfigError(error), `expected a ConfigError, got ${String(error)}`)
        return configPaths(error)
      })
    )

  it.effect("with neither DATABASE_URL nor PGHOST, the ConfigError names both", () =>
    Effect.gen(function*() {
      const paths = yield* badConfig({})
      expect(paths).toContain("DATABASE_URL")
      expect(paths).toContain("PGHOST")
    }))

  it.effect("a non-numeric pool size is a ConfigError naming DATABASE_POOL_MAX", () =>
    Effect.gen(function*() {
      expect(yield* badConfig({ DATABASE_URL: "postgresql://u@localhost/db", DATABASE_POOL_MAX: "ten" })).toEqual([
        "DATABASE_POOL_MAX"
      ])
    }))

  it.effect("an unparsable URL is a ConfigError naming DATABASE_URL", () =>
    Effect.gen(function*() {
      const paths = yield* badConfig({ DATABASE_URL: "not a url" })
      expect(paths).toContain("DATABASE_URL")
    }))

  it.live("a DATABASE_URL that is set but invalid is a ConfigError naming it, even when PGHOST and PGDATABASE are set", () =>
    Effect.gen(function*() {
      // The PG* variables point at a working server: ignoring the bad URL
      // would connect there and the layer would build.
      const url = new URL(yield* TestDatabase.url)
      const pg = {
        PGHOST: url.hostname,
        PGPORT: url.port,
        PGDATABASE: url.pathname.slice(1),
        PGUSER: decodeURIComponent(url.username),
        PGPASSWORD: decodeURIComponent(url.password)
      }
      expect(yield* badConfig({ ...pg, DATABASE_URL: "" })).toEqual(["DATABASE_URL"])
      expect(yield* badConfig({ ...pg, DATABASE_URL: "not a url" })).toEqual(["DATABASE_URL"])
      expect(yield* badConfig({ ...pg, DATABASE_URL: "mysql://u@localhost/db" })).toEqual(["DATABASE_URL"])
    }).pipe(Effect.scoped))

  // os.userInfo() throws for a UID without a passwd entry, as in many
  // containers; only root can start a process under such a UID.
  it.live.skipIf(process.getuid?.() !== 0)(
    "the module loads and the config reads PG* variables under a UID with no passwd entry",
    () =>
      Effect.gen(function*() {
        const script = [
          "import * as Effect from \"effect/Effect\"",
          "import * as ConfigProvider from \"effect/ConfigProvider\"",
          "import * as Database from \"./src/Database.ts\"",
          "const provider = ConfigProvider.fromMap(new Map([[\"PGHOST\", \"db.internal\"], [\"PGDATABASE\", \"app\"]]))",
          "const options = await Effect.runPromise(Effect.withConfigProvider(Database.config, provider))",
          "console.log(JSON.stringify(options))"
        ].join("\n")
        const child = yield* Effect.sync(() =>
          childProcess.spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
            cwd: fileURLToPath(new URL("..", import.meta.url)),
            uid: 54321,
            gid: 54321,
            encoding: "utf8",
            env: { PATH: process.env.PATH ?? "" }
          })
        )
        expect(child.stderr).toBe("")
        expect(child.status).toBe(0)
        // No user: node-postgres's own default applies.
        expect(JSON.parse(child.stdout)).toEqual({ host: "db.internal", port: 5432, database: "app" })
      })
  )

  it.live("with no database, user or $USER anywhere, an unreachable server is still a typed ConnectionError, not a defect", () =>
    Effect.gen(function*() {
      const port = yield* freePort()
      const script = [
        "import * as Effect from \"effect/Effect\"",
        "import * as Database from \"./src/Database.ts\"",
        `const exit = await Effect.runPromiseExit(Effect.scoped(Effect.flatMap(Layer.build(Database.layer({ host: "127.0.0.1", port: ${port} })), () => Effect.void)))`,
        "const error = exit._tag === \"Failure\" && exit.cause._tag === \"Fail\" ? exit.cause.error : undefined",
        "console.log(JSON.stringify({ exit: exit._tag, cause: exit._tag === \"Failure\" ? exit.cause._tag : null, tag: error?._tag, reason: error?.reason, database: error?.database }))"
      ].join("\n")
      const child = yield* Effect.sync(() =>
        childProcess.spawnSync(
          process.execPath,
          ["--import", "tsx", "--input-type=module", "-e", `import * as Layer from "effect/Layer"\n${script}`],
          {
            cwd: fileURLToPath(new URL("..", import.meta.url)),
            encoding: "utf8",
            // No USER, PGUSER, PGDATABASE or DATABASE_URL.
            env: { PATH: process.env.PATH ?? "" }
          }
        )
      )
      expect(child.status).toBe(0)
      expect(JSON.parse(child.stdout)).toEqual({
        exit: "Failure",
        cause: "Fail",
        tag: "ConnectionError",
        reason: "unreachable",
        database: ""
      })
    }))

  it.effect("a DATABASE_URL with an sslmode node-postgres cannot honour is a ConfigError naming DATABASE_URL", () =>
    Effect.gen(function*() {
      expect(yield* badConfig({ DATABASE_URL: "postgresql://u@localhost/db?sslmode=prefer" })).toEqual(["DATABASE_URL"])
    }))

  it.effect("a URL of another scheme is a ConfigError naming DATABASE_URL", () =>
    Effect.gen(function*() {
      const paths = yield* badConfig({ DATABASE_URL: "mysql://u@localhost/db" })
      expect(paths).toContain("DATABASE_URL")
    }))

  it.effect("an unknown SSL mode, a bad duration, or min above max each name their variable", () =>
    Effect.gen(function*() {
      const base = { DATABASE_URL: "postgresql://u@localhost/db" }
      expect(yield* badConfig({ ...base, DATABASE_SSL_MODE: "sometimes" })).toEqual(["DATABASE_SSL_MODE"])
      expect(yield* badConfig({ ...base, DATABASE_ACQUIRE_TIMEOUT: "soon" })).toEqual(["DATABASE_ACQUIRE_TIMEOUT"])
      expect(yield* badConfig({ ...base, DATABASE_POOL_MIN: "5", DATABASE_POOL_MAX: "2" })).toEqual([
        "DATABASE_POOL_MIN"
      ])
      expect(yield* badConfig({ ...base, DATABASE_POOL_MAX: "0" })).toEqual(["DATABASE_POOL_MAX"])
    }))
})

layer(TestDatabase.layer())("SqlClient and PgClient from the Database layer", (it) => {
  it.effect("run plain @effect/sql code on the same pool", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`create table notes (id serial primary key, body text not null)`
      yield* sql`insert into notes ${sql.insert([{ body: "a" }, { body: "b" }])}`
      const rows = yield* sql<{ body: string }>`select body from notes order by id`
      expect(rows).toEqual([{ body: "a" }, { body: "b" }])
      const stats = yield* Database.stats
      expect(stats.idle).toBe(stats.total)
    }))
})
