/**
 * The PostgreSQL engine's options resolved: defaults, the URL's TLS
 * parameters (libpq's `sslmode` and certificate files, which node-postgres
 * does not read), and the driver's settings.
 */
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import type { ConnectionOptions } from "node:tls"
import pg from "pg"
import type { Options, SslMode } from "../../DatabaseConfig.js"
import type { Target } from "./classify.js"
import type { DriverOptions } from "./driver.js"

/** @internal */
export const defaults = {
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
/** @internal */
export const urlTls = (url: string): Either.Either<UrlTls, string> => {
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

/** @internal */
export const millis = (input: Duration.DurationInput) => Math.round(Duration.toMillis(Duration.decode(input)))

/** @internal */
export const reveal = (value: string | Redacted.Redacted<string> | undefined) =>
  value === undefined ? undefined : Redacted.isRedacted(value) ? Redacted.value(value) : value

const invalidOption = (option: keyof Options, message: string) =>
  Either.left(ConfigError.InvalidData([option], message))

// pg resolves URL, fields and PG* defaults the same way for every client;
// the resolved values name the server in errors, and PgClient's config
// shows them.
/** @internal */
export const resolveClient = (
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

/** @internal */
export const resolve = (
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

