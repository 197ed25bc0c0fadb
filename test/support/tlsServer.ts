/**
 * A PostgreSQL that speaks TLS, for the TLS tests: an embedded server of its
 * own (whatever DATABASE_URL says, since the tests need to choose the
 * certificates and pg_hba.conf), with certificates made by the `openssl`
 * CLI in a temporary directory:
 *
 * - a CA, and a server certificate it signed for `localhost` only (no IP
 *   address), so a client that connects to 127.0.0.1 and checks the host
 *   name must refuse it;
 * - a client certificate the CA signed, for the role that logs in with
 *   `cert` authentication (its CN is the role name);
 * - a second, unrelated CA, which signed nothing the server trusts or
 *   presents, and a client certificate for the same role that it signed.
 *
 * pg_hba.conf lets the password role in over TLS only (there is no
 * `hostnossl` line for it), the certificate role with a client certificate
 * only, and the superuser that sets things up with its SCRAM password.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import * as PostgresServer from "../../src/testing/PostgresServer.js"

/** The PEM files a client may use, by path. */
export interface TlsFiles {
  /** The CA that signed the server's and the client's certificates. */
  readonly ca: string
  /** A CA that signed neither. */
  readonly unrelatedCa: string
  /** The certificate role's client certificate and its key. */
  readonly clientCert: string
  readonly clientKey: string
  /** A client certificate for the same role that the unrelated CA signed, and its key. */
  readonly intruderCert: string
  readonly intruderKey: string
}

/** A running TLS server and what a client needs to reach it. */
export interface TlsServer {
  readonly port: number
  readonly database: string
  readonly files: TlsFiles
  /** A role that logs in with a password, over TLS only. */
  readonly passwordRole: { readonly name: string; readonly password: string }
  /** A role that logs in with a client certificate (`cert`, clientcert=verify-full). */
  readonly certRole: string
  /** The superuser's URL, to observe the server (pg_stat_ssl) without the library. */
  readonly adminUrl: string
  /**
   * A URL for `user` at `host` (`localhost` is the name in the server's
   * certificate, `127.0.0.1` is not), with the given query parameters.
   */
  readonly url: (options: {
    readonly host: "localhost" | "127.0.0.1"
    readonly user: string
    readonly password?: string | undefined
    readonly params?: Readonly<Record<string, string>> | undefined
  }) => string
}

const PASSWORD_ROLE = "tls_password"
const CERT_ROLE = "tls_cert"

// Certificates are short-lived and use P-256 keys, which openssl makes in
// milliseconds (RSA keys can take a second each).
const OPENSSL_CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
`

const openssl = (dir: string, args: ReadonlyArray<string>): void => {
  execFileSync("/usr/bin/openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] })
}

const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

const makeCa = (dir: string, name: string, subject: string) =>
  openssl(dir, [
    "req", "-x509", ...newKey, "-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "2",
    "-subj", `/CN=${subject}`, "-config", "openssl.cnf", "-extensions", "ca"
  ])

const makeSigned = (
  dir: string,
  name: string,
  subject: string,
  extensions: "server" | "client",
  ca: "ca" | "unrelated-ca" = "ca"
) => {
  openssl(dir, [
    "req", "-new", ...newKey, "-keyout", `${name}.key`, "-out", `${name}.csr`,
    "-subj", `/CN=${subject}`, "-config", "openssl.cnf"
  ])
  openssl(dir, [
    "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`,
    "-set_serial", `0x${randomBytes(8).toString("hex")}`, "-days", "2",
    "-out", `${name}.crt`, "-extfile", "openssl.cnf", "-extensions", extensions
  ])
}

/** Makes the CA, the unrelated CA, the server's and the client's certificates in `dir`. */
const makeCertificates = (dir: string): void => {
  fs.writeFileSync(path.join(dir, "openssl.cnf"), OPENSSL_CONFIG)
  makeCa(dir, "ca", "effect-dal test CA")
  makeCa(dir, "unrelated-ca", "effect-dal unrelated CA")
  makeSigned(dir, "server", "localhost", "server")
  makeSigned(dir, "client", CERT_ROLE, "client")
  makeSigned(dir, "intruder", CERT_ROLE, "client", "unrelated-ca")
  for (const key of ["ca.key", "unrelated-ca.key", "server.key", "client.key", "intruder.key"]) {
    fs.chmodSync(path.join(dir, key), 0o600)
  }
}

// Only the superuser may connect without TLS; the other roles are on hostssl
// lines, so a plain connection of theirs matches no line (28000, "no
// pg_hba.conf entry ... no encryption").
const HBA = `
# TYPE    DATABASE  USER             ADDRESS        METHOD
host      all       postgres         127.0.0.1/32   scram-sha-256
hostssl   all       ${PASSWORD_ROLE}     127.0.0.1/32   scram-sha-256
hostssl   all       ${CERT_ROLE}         127.0.0.1/32   cert clientcert=verify-full
`

const withAdmin = async <A>(url: string, f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: url })
  client.on("error", () => {})
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

// A reload is asynchronous: the postmaster rereads its files when it gets
// SIGHUP. Until it has, new sessions are still plain.
const waitForTls = async (adminUrl: string): Promise<void> => {
  const deadline = Date.now() + 10_000
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const url = new URL(adminUrl)
      url.searchParams.delete("sslmode")
      const on = await new Promise<boolean>((resolve, reject) => {
        const client = new pg.Client({ connectionString: url.toString(), ssl: { rejectUnauthorized: false } })
        client.on("error", () => {})
        client.connect().then(
          () =>
            client.query("select ssl from pg_stat_ssl where pid = pg_backend_pid()").then(
              (result) => client.end().then(() => resolve(result.rows[0]?.ssl === true)),
              reject
            ),
          reject
        )
      })
      if (on) return
    } catch (error) {
      last = error
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`the server did not turn TLS on after a reload: ${String(last)}`)
}

/** Starts the server: certificates, an embedded PostgreSQL, ssl = on, pg_hba.conf, the roles. */
const start = async (): Promise<{ server: TlsServer; stop: () => Promise<void> }> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-dal-tls-"))
  let embedded: PostgresServer.PostgresServer | undefined
  try {
    makeCertificates(dir)
    embedded = await PostgresServer.start({ databaseUrl: null })
    const adminUrl = embedded.url
    const password = randomBytes(16).toString("hex")
    await withAdmin(adminUrl, async (client) => {
      const dataDirectory = (await client.query<{ data_directory: string }>("show data_directory")).rows[0]!
        .data_directory
      // The server checks that its key belongs to the user it runs as (the
      // data directory's owner, "postgres" when the tests run as root) and
      // that nobody else can read it.
      const owner = fs.statSync(dataDirectory)
      const install = (from: string, to: string, mode: number) => {
        const target = path.join(dataDirectory, to)
        fs.copyFileSync(path.join(dir, from), target)
        fs.chownSync(target, owner.uid, owner.gid)
        fs.chmodSync(target, mode)
      }
      install("server.crt", "server.crt", 0o644)
      install("server.key", "server.key", 0o600)
      install("ca.crt", "root.crt", 0o644)
      fs.writeFileSync(path.join(dataDirectory, "pg_hba.conf"), HBA)
      fs.chownSync(path.join(dataDirectory, "pg_hba.conf"), owner.uid, owner.gid)
      await client.query(`create role ${PASSWORD_ROLE} login password '${password}'`)
      await client.query(`create role ${CERT_ROLE} login`)
      // ssl and its files can change on reload (PostgreSQL 10 and later).
      await client.query("alter system set ssl = on")
      await client.query("alter system set ssl_cert_file = 'server.crt'")
      await client.query("alter system set ssl_key_file = 'server.key'")
      await client.query("alter system set ssl_ca_file = 'root.crt'")
      await client.query("select pg_reload_conf()")
    })
    await waitForTls(adminUrl)
    const { port } = new URL(adminUrl)
    const server: TlsServer = {
      port: Number(port),
      database: "postgres",
      files: {
        ca: path.join(dir, "ca.crt"),
        unrelatedCa: path.join(dir, "unrelated-ca.crt"),
        clientCert: path.join(dir, "client.crt"),
        clientKey: path.join(dir, "client.key"),
        intruderCert: path.join(dir, "intruder.crt"),
        intruderKey: path.join(dir, "intruder.key")
      },
      passwordRole: { name: PASSWORD_ROLE, password },
      certRole: CERT_ROLE,
      adminUrl,
      url: ({ host, params = {}, password, user }) => {
        const url = new URL(`postgresql://127.0.0.1:${port}/postgres`)
        url.hostname = host
        url.username = user
        if (password !== undefined) url.password = password
        for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value)
        return url.toString()
      }
    }
    const stopped = embedded
    return {
      server,
      stop: async () => {
        await stopped.stop()
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }
  } catch (error) {
    await embedded?.stop().catch(() => {})
    fs.rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

/** The TLS server as a scoped resource: stopped, and its files removed, when the scope closes. */
export const acquire: Effect.Effect<TlsServer, never, Scope.Scope> = Effect.map(
  Effect.acquireRelease(Effect.promise(start), ({ stop }) => Effect.promise(stop)),
  ({ server }) => server
)

/** The TLS server of a test file, as a service. */
export class Server extends Context.Tag("test/TlsServer")<Server, TlsServer>() {}

/** One TLS server for the tests of a `layer(...)` block. */
export const layer: Layer.Layer<Server> = Layer.scoped(Server, acquire)
