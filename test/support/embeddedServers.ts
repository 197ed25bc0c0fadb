/**
 * What is left of an embedded PostgreSQL, seen from outside: its data
 * directory (`effect-dal-pg-<owner pid>-…` in the temp folder) and its
 * postmaster process.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** An embedded server's data directory, its postmaster's pid and the pid of the process that started it. */
export interface EmbeddedServer {
  readonly dir: string
  readonly postmaster: number
  readonly owner: number
}

/**
 * Whether a process runs. A zombie does not: the postmaster of a killed
 * owner has exited once it is one, and waits only for init to reap it.
 */
export const isRunning = (pid: number): boolean => {
  try {
    const state = execFileSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8" }).trim()
    return state !== "" && !state.startsWith("Z")
  } catch {
    // ps exits with 1 when there is no such process.
    return false
  }
}

/** The pids of the processes whose command line mentions `text`. */
export const processesMentioning = (text: string): Array<number> =>
  execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" })
    .split("\n")
    .filter((line) => line.includes(text))
    .map((line) => Number(line.trim().split(/\s+/)[0]))

/**
 * The embedded server listening on `port`, found through the postmaster.pid
 * of each `effect-dal-pg-*` directory (pid, data directory, start time,
 * port, ...).
 */
export const serverAt = (port: number): EmbeddedServer => {
  for (const entry of fs.readdirSync(os.tmpdir())) {
    if (!entry.startsWith("effect-dal-pg-")) continue
    const dir = path.join(os.tmpdir(), entry)
    let lines: Array<string>
    try {
      lines = fs.readFileSync(path.join(dir, "postmaster.pid"), "utf8").split("\n")
    } catch {
      continue
    }
    if (Number(lines[3]) === port) return { dir, postmaster: Number(lines[0]), owner: Number(entry.split("-")[3]) }
  }
  throw new Error(`no embedded server on port ${port} in ${os.tmpdir()}`)
}

/** The port of a server URL. */
export const portOf = (url: string): number => Number(new URL(url).port)

/** Polls `done` every 100 ms until it holds, for at most `seconds`; says whether it held. */
export const eventually = async (done: () => boolean, seconds: number): Promise<boolean> => {
  const deadline = Date.now() + seconds * 1000
  while (!done()) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return true
}
