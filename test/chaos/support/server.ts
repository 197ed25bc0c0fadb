/**
 * An embedded PostgreSQL of the test's own that can be stopped at once and
 * started again on the same port and data directory, as a crash or a
 * failover does to an application's pool. Never the run's shared server:
 * the other test files would lose their connections.
 *
 * It starts through `PostgresServer.start` and then reads the postmaster's
 * command line (`/proc/<pid>/cmdline`, so Linux only) to start it again the
 * same way, as the same OS user.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import * as PostgresServer from "../../../src/testing/PostgresServer.js"
import { isRunning, portOf, serverAt } from "../../support/embeddedServers.js"

/** A running embedded server that can be restarted. */
export interface RestartableServer {
  /** A URL to the server's `postgres` database. */
  readonly url: string
  /**
   * Stops the server immediately (SIGQUIT: backends are killed, no
   * checkpoint, the next start recovers from WAL) and starts it again;
   * resolves once it accepts connections. The event loop keeps running.
   */
  readonly restart: (options?: RestartOptions) => Promise<void>
  /**
   * The same, without ever yielding to the event loop: the process cannot
   * read its sockets while the server goes down and comes back, as when
   * its event loop is busy.
   */
  readonly restartBlocking: (options?: RestartOptions) => void
  /** Stops the server and removes its data directory. */
  readonly stop: () => Promise<void>
}

/** How a restart goes. */
export interface RestartOptions {
  /** How long the server stays down. Default 0. */
  readonly downMillis?: number
  /** Extra `-c name=value` settings for this start only. */
  readonly settings?: Readonly<Record<string, string>>
  /** Files to create in the data directory before the start (such as `recovery.signal`). */
  readonly signalFiles?: ReadonlyArray<string>
  /** Whether to wait until the server accepts connections. Default true. */
  readonly waitReady?: boolean
}

const STEP_MILLIS = 20
const READY_WITHIN_MILLIS = 60_000

/** Starts an embedded server that {@link RestartableServer.restart} can restart. */
export const start = async (settings: Readonly<Record<string, string>> = {}): Promise<RestartableServer> => {
  const server = await PostgresServer.start({ databaseUrl: null, settings })
  const { dir, postmaster: first } = serverAt(portOf(server.url))
  const [binary, ...args] = fs.readFileSync(`/proc/${first}/cmdline`, "utf8").split("\0").filter((a) => a !== "")
  const owner = fs.statSync(dir)
  const pidFile = path.join(dir, "postmaster.pid")
  // The server's log, for a restart that does not come up.
  const logFile = path.join(os.tmpdir(), `effect-dal-chaos-${process.pid}-${path.basename(dir)}.log`)
  let postmaster = first

  const gone = () => !isRunning(postmaster) && !fs.existsSync(pidFile)
  // Line 8 of postmaster.pid is the postmaster's status; "ready" once it
  // accepts connections (https://www.postgresql.org/docs/current/storage-file-layout.html).
  const ready = () => {
    try {
      const lines = fs.readFileSync(pidFile, "utf8").split("\n")
      return Number(lines[0]) === postmaster && lines[7]?.trim() === "ready"
    } catch {
      return false
    }
  }
  const stopNow = () => {
    try {
      process.kill(postmaster, "SIGQUIT")
    } catch {
      // Already gone.
    }
  }
  const launch = (options: RestartOptions) => {
    for (const file of options.signalFiles ?? []) {
      fs.writeFileSync(path.join(dir, file), "")
      fs.chownSync(path.join(dir, file), owner.uid, owner.gid)
    }
    const extra = Object.entries(options.settings ?? {}).flatMap(([k, v]) => ["-c", `${k}=${v}`])
    const log = fs.openSync(logFile, "a")
    const child = spawn(binary!, [...args, ...extra], {
      uid: owner.uid,
      gid: owner.gid,
      env: { ...process.env, LC_ALL: "C" },
      stdio: ["ignore", "ignore", log],
      detached: true
    })
    fs.closeSync(log)
    child.on("error", () => {})
    child.unref()
    postmaster = child.pid!
  }
  const notReady = () =>
    new Error(`the restarted server is not ready after ${READY_WITHIN_MILLIS} ms; its log: ${logFile}`)

  const restart = async (options: RestartOptions = {}) => {
    stopNow()
    await until(gone)
    if (options.downMillis) await sleep(options.downMillis)
    launch(options)
    if (options.waitReady !== false && !(await until(ready))) throw notReady()
  }
  const restartBlocking = (options: RestartOptions = {}) => {
    stopNow()
    untilBlocking(gone)
    if (options.downMillis) block(options.downMillis)
    launch(options)
    if (options.waitReady !== false && !untilBlocking(ready)) throw notReady()
  }
  const stop = async () => {
    if (postmaster !== first) {
      // PostgresServer's stop knows only the first postmaster.
      try {
        process.kill(postmaster, "SIGINT")
      } catch {
        // Already gone.
      }
      await until(() => !isRunning(postmaster))
    }
    await server.stop()
    fs.rmSync(logFile, { force: true })
  }
  return { url: server.url, restart, restartBlocking, stop }
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

// Blocks the whole thread, timers and sockets included.
const block = (millis: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, millis)

const until = async (done: () => boolean): Promise<boolean> => {
  const deadline = Date.now() + READY_WITHIN_MILLIS
  while (!done()) {
    if (Date.now() > deadline) return false
    await sleep(STEP_MILLIS)
  }
  return true
}

const untilBlocking = (done: () => boolean): boolean => {
  const deadline = Date.now() + READY_WITHIN_MILLIS
  while (!done()) {
    if (Date.now() > deadline) return false
    block(STEP_MILLIS)
  }
  return true
}

/** "PostgreSQL 18.4 (embedded, fsync off)", for reports. */
export const version = async (server: RestartableServer): Promise<string> => {
  const client = new pg.Client({ connectionString: server.url })
  client.on("error", () => {})
  await client.connect()
  try {
    const [row] = (await client.query<{ version: string }>("select current_setting('server_version') as version")).rows
    return `PostgreSQL ${row!.version.split(" ")[0]} (embedded, fsync off)`
  } finally {
    await client.end()
  }
}
