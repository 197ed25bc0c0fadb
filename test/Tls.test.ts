/**
 * TLS against a real server that speaks it (test/support/tlsServer.ts): what
 * each sslmode verifies, client-certificate authentication, the typed
 * errors of each refusal, and that the password never leaks from any of
 * them.
 */
import { assert, expect, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as Database from "../src/Database.js"
import * as DatabaseError from "../src/DatabaseError.js"
import * as Admin from "./support/admin.js"
import * as TlsServer from "./support/tlsServer.js"
import { recordingTracer } from "./support/tracer.js"

/** Builds a layer in its own scope and runs `use` with its context. */
const withLayer = <A, E, R>(
  build: Layer.Layer<Database.Database | SqlClient.SqlClient, unknown>,
  use: Effect.Effect<A, E, R | Database.Database | SqlClient.SqlClient>
) => Effect.scoped(Effect.flatMap(Layer.build(build), (context) => Effect.provide(use, context)))

/**
 * Whether the session that runs it is encrypted, as the server sees it, as
 * whom it logged in, and the subject of its client certificate, if any.
 */
const session = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{ ssl: boolean; user: string; clientDn: string | null }>`
      select ssl, current_user as user, client_dn as "clientDn" from pg_stat_ssl where pid = pg_backend_pid()`
).pipe(Effect.map((rows) => rows[0]))

/** Connects with the options and reports the session. */
const connect = (options: Database.Options) => withLayer(Database.layer(options), session)

/** Connects with the options, which must fail with a ConnectionError, and returns it. */
const refused = (options: Database.Options) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(connect(options))
    assert(Exit.isFailure(exit), `expected the connection to fail, but it succeeded with ${JSON.stringify(exit)}`)
    const error = Cause.failureOption(exit.cause)
    assert(error._tag === "Some" && error.value instanceof DatabaseError.ConnectionError, Cause.pretty(exit.cause))
    return error.value
  })

const read = (file: string) => fs.readFileSync(file, "utf8")

layer(TlsServer.layer, { timeout: "120 seconds", excludeTestServices: true })("TLS with a server that requires it", (it) => {
  // The password role's URL: TLS parameters only from `params`.
  const passwordUrl = (
    server: TlsServer.TlsServer,
    host: "localhost" | "127.0.0.1",
    params: Record<string, string>,
    password = server.passwordRole.password
  ) => server.url({ host, user: server.passwordRole.name, password, params })

  it.effect("verify-full with the CA and the host name in the certificate connects, encrypted", () =>
    Effect.gen(function*() {
      const server = yield* TlsServer.Server
      const url = passwordUrl(server, "localhost", { sslmode: "verify-full", sslrootcert: server.files.ca })
      expect(yield* connect({ url })).toEqual({ ssl: true, user: server.passwordRole.name, clientDn: null })
      // Seen from another session while the pool holds the connection.
      const seen = yield* withLayer(
        Database.layer({ url, applicationName: "effect-dal-tls-observed" }),
        Effect.flatMap(Database.ping, () =>
          Admin.query<{ ssl: boolean; usename: string }>(
            server.adminUrl,
            `select s.ssl, a.usename from pg_stat_ssl s join pg_stat_activity a using (pid)
             where a.application_name = 'effect-dal-tls-observed'`
          ))
      )
      expect(seen).toEqual([{ ssl: true, usename: server.passwordRole.name }])
    }))

  it.effect("verify-full with a host the certificate does not name fails with reason tls, not retryable", () =>
    Effect.gen(function*() {
      const server = yield* TlsServer.Server
      const error = yield* refused({
        url: passwordUrl(server, "127.0.0.1", { sslmode: "verify-full", sslrootcert: server.files.ca })
      })
      expect(error.reason).toBe("tls")
      expect(DatabaseError.isRetryable(error)).toBe(false)
      expect({ host: error.host, port: error.port, database: error.database })
        .toEqual({ host: "127.0.0.1", port: server.port, database: server.database })
      expect(error.cause).toMatch(/^ERR_TLS_CERT_ALTNAME_INVALID: .*127\.0\.0\.1 is not in the cert's list/)
      expect(error.message).toMatch(new RegExp(`^TLS with PostgreSQL at 127\\.0\\.0\\.1:${server.port}/postgres failed: `))
    }))

  it.effect("verify-full with a CA that did not sign the server's certificate fails with reason tls", () =>
    Effect.gen(function*() {
      const server = yield* TlsServer.Server
      const error = yield* refused({
        url: passwordUrl(server, "localhost", { sslmode: "verify-full", sslrootcert: server.files.unrelatedCa })
      })
      expect(error.reason).toBe("tls")
      // PostgreSQL sends its certificate with the CA (from ssl_ca_file), so
      // an untrusted chain ends in a self-signed certificate.
      expect(error.cause).toMatch(/^SELF_SIGNED_CERT_IN_CHAIN: /)
      expect(DatabaseError.isRetryable(error)).toBe(false)
    }))

  it.effect("verify-ca checks the chain but not the host name", () =>
    Effect.gen(function*() {
      const server = yield* TlsServer.Server
      const trusted = yield* connect({
        url: passwordUrl(server, "127.0.0.1", { sslmode: "verify-ca", sslrootcert: server.files.ca })
      })
      expect(trusted).toEqual({ ssl: true, user: server.passwordRole.name, clientDn: null })
      const error = yield* refused({
        url: passwordUrl(server, "127.0.0.1", { sslmode: "verify-ca", sslrootcert: server.files.unrelatedCa })
      })
      expect(error.reason).toBe("tls")
      expect(error.cause).toMatch(/^SELF_SIGNED_CERT_IN_CHAIN: /)
    }))

  it.effect("require without a root certificate encrypts without checking the certificate", () =>
    Effect.gen(function*() {
      const server = yield* TlsServer.Server
      // The client knows neither the CA nor the name 127.0.0.1.
      expect(yield* connect({ url: passwordUrl(server, "127.0.0.1", { sslmode: "require" }) }))
        .toEqual({ ssl: true, user: server.passwordRole.name, clientDn: null })
    }))

  it.effect("require with a root certificate checks the chain, as libpq does, but not the host name", () =>
    Effect.gen(function*() {
      const server = yield* TlsServer.Server
      const untrusted = yield* refused({
        url: passwordUrl(server, "127.0.0.1", { sslmode: "require", sslrootcert: server.files.unrelatedCa })
      })
      expect(untrusted.reason).toBe("tls")
      expect(untrusted.cause).toMatch(/^SELF_SIGNED_CERT_IN_CHAIN: /)
      // The same with the mode from the ssl option and the root certificate from the URL.
      const fromOption = yield* refused({
        url: passwordUrl(server, "127.0.0.1", { sslrootcert: server.files.unrelatedCa }),
        ssl: "require"
      })
      expect(fromOption.reason).toBe("tls")
      expect(yield* connect({ url: passwordUrl(server, "127.0.0.1", { sslmode: "require", sslrootcert: server.files.ca }) }))
        .toEqual({ ssl: true, user: server.passwordRole.name, clientDn: null })
    }))

  it.effect("a role allowed only over TLS is refused a plain connection with reason authentication (28000)", () =>
    Effect.gen(function*() {
      const server = yield* TlsServer.Server
      const error = yield* refused({ url: passwordUrl(server, "127.0.0.1", { sslmode: "disable" }) })
      expect(error.reason).toBe("authentication")
      expect(error.sqlState).toBe("28000")
      expect(error.cause).toBe(
        `no pg_hba.conf entry for host "127.0.0.1", user "${server.passwordRole.name}", database "postgres", no encryption`
      )
      expect(DatabaseError.isRetryable(error)).toBe(false)
    }))

  it.effect("a client certificate named in the URL logs in the role of its CN", () =>
    Effect.gen(function*() {
      const server = yield* TlsServer.Server
      const url = server.url({
        host: "localhost",
        user: server.certRole,
        params: {
          sslmode: "verify-full",
          sslrootcert: server.files.ca,
          sslcert: server.files.clientCert,
          sslkey: server.files.clientKey
        }
      })
      expect(yield* connect({ url })).toEqual({ ssl: true, user: server.certRole, clientDn: `/CN=${server.certRole}` })
    }))

  it.effect("a client certificate given as node tls options logs in the role of its CN", () =>
    Effect.gen(function*() {
      const server = yield* TlsServer.Server
      const ssl = { ca: read(server.files.ca), cert: read(server.files.clientCert), key: read(server.files.clientKey) }
      const url = server.url({ host: "localhost", user: server.certRole })
      expect(yield* connect({ url, ssl })).toEqual({ ssl: true, user: server.certRole, clientDn: `/CN=${server.certRole}` })
    }))

  it.effect("the certificate role without a client certificate is refused with reason authentication (28000)", () =>
    Effect.gen(function*() {
      const server = yield* TlsServer.Server
      const url = server.url({
        host: "localhost",
        user: server.certRole,
        params: { sslmode: "verify-full", sslrootcert: server.files.ca }
      })
      const error = yield* refused({ url })
      expect(error.reason).toBe("authentication")
      expect(error.sqlState).toBe("28000")
      expect(error.cause).toBe("connection requires a valid client certificate")
    }))

  it.effect("a client certificate from a CA the server does not trust fails with reason tls", () =>
    Effect.gen(function*() {
      const server = yield* TlsServer.Server
      const ssl = { ca: read(server.files.ca), cert: read(server.files.intruderCert), key: read(server.files.intruderKey) }
      const error = yield* refused({ url: server.url({ host: "localhost", user: server.certRole }), ssl })
      expect(error.reason).toBe("tls")
      // The server ends the handshake with an "unknown CA" alert.
      expect(error.cause).toMatch(/^ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: /)
      expect(DatabaseError.isRetryable(error)).toBe(false)
    }))

  it.effect("a client certificate with another certificate's key fails with reason tls", () =>
    Effect.gen(function*() {
      const server = yield* TlsServer.Server
      const ssl = { ca: read(server.files.ca), cert: read(server.files.clientCert), key: read(server.files.intruderKey) }
      const error = yield* refused({ url: server.url({ host: "localhost", user: server.certRole }), ssl })
      expect(error.reason).toBe("tls")
      expect(error.cause).toMatch(/^ERR_OSSL_X509_KEY_VALUES_MISMATCH: /)
    }))

  it.effect("a protocol version the server refuses fails with reason tls", () =>
    Effect.gen(function*() {
      const server = yield* TlsServer.Server
      // PostgreSQL's ssl_min_protocol_version is TLSv1.2 by default.
      const ssl = { ca: read(server.files.ca), minVersion: "TLSv1" as const, maxVersion: "TLSv1.1" as const }
      const error = yield* refused({ url: passwordUrl(server, "localhost", {}), ssl })
      expect(error.reason).toBe("tls")
      expect(error.cause).toMatch(/^EPROTO: /)
    }))

  it.effect("no error, cause, log line or span of a failed connection contains the password", () =>
    Effect.gen(function*() {
      const server = yield* TlsServer.Server
      const password = server.passwordRole.password
      const wrongPassword = `wrong-${randomBytes(8).toString("hex")}`
      const failing: ReadonlyArray<{ readonly reason: DatabaseError.ConnectionFailure; readonly options: Database.Options }> = [
        { reason: "tls", options: { url: passwordUrl(server, "127.0.0.1", { sslmode: "verify-full", sslrootcert: server.files.ca }) } },
        { reason: "tls", options: { url: passwordUrl(server, "localhost", { sslmode: "verify-full", sslrootcert: server.files.unrelatedCa }) } },
        { reason: "tls", options: { url: passwordUrl(server, "127.0.0.1", { sslmode: "verify-ca", sslrootcert: server.files.unrelatedCa }) } },
        { reason: "tls", options: { url: passwordUrl(server, "127.0.0.1", { sslmode: "require", sslrootcert: server.files.unrelatedCa }) } },
        { reason: "authentication", options: { url: passwordUrl(server, "127.0.0.1", { sslmode: "disable" }) } },
        // The same secrets as separate options rather than in the URL.
        {
          reason: "tls",
          options: {
            host: "127.0.0.1",
            port: server.port,
            database: server.database,
            user: server.passwordRole.name,
            password,
            ssl: { ca: read(server.files.ca) }
          }
        },
        {
          reason: "authentication",
          options: {
            url: passwordUrl(server, "localhost", { sslmode: "verify-full", sslrootcert: server.files.ca }, wrongPassword)
          }
        }
      ]
      const lines: Array<string> = []
      const capture = Logger.make((options) => {
        lines.push(Logger.logfmtLogger.log(options), Logger.jsonLogger.log(options))
      })
      const { spans, tracer } = recordingTracer()
      const texts: Array<string> = []
      for (const { options, reason } of failing) {
        const exit = yield* connect(options).pipe(
          // What an application does with a failed start-up: log the cause.
          Effect.tapErrorCause((cause) => Effect.logError("database unavailable", cause)),
          Effect.withSpan("app.connect"),
          Effect.withTracer(tracer),
          Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
          Effect.exit
        )
        assert(Exit.isFailure(exit))
        const error = Cause.failureOption(exit.cause)
        assert(error._tag === "Some" && error.value instanceof DatabaseError.ConnectionError, Cause.pretty(exit.cause))
        expect(error.value.reason).toBe(reason)
        texts.push(error.value.message, String(error.value), JSON.stringify(error.value), Cause.pretty(exit.cause))
      }
      for (const span of spans) {
        texts.push(span.name, JSON.stringify([...span.attributes]))
        if (span.status._tag === "Ended") texts.push(Exit.isFailure(span.status.exit) ? Cause.pretty(span.status.exit.cause) : "")
      }
      // Every failure was logged and traced, so there was something to search.
      expect(lines.length).toBe(2 * failing.length)
      expect(spans.filter((span) => span.name === "app.connect").length).toBe(failing.length)
      for (const text of [...texts, ...lines]) {
        expect(text).not.toContain(password)
        expect(text).not.toContain(wrongPassword)
      }
      // And the searched texts are the ones that name the failures.
      expect(lines.filter((line) => line.includes("TLS with PostgreSQL")).length).toBe(2 * 5)
    }))
})
