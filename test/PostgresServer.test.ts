import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as PostgresServer from "../src/testing/PostgresServer.js"
import * as Admin from "./support/admin.js"
import { eventually, isRunning, portOf, processesMentioning, serverAt } from "./support/embeddedServers.js"

const root = path.resolve(import.meta.dirname, "..")

describe("PostgresServer: the embedded server leaves nothing behind", () => {
  it.scopedLive("stop() ends the postmaster and its watchdog and removes the data directory", () =>
    Effect.gen(function*() {
      const server = yield* PostgresServer.acquire({ databaseUrl: null })
      expect(server.embedded).toBe(true)
      expect(yield* Admin.query(server.url, "select 1 as n")).toEqual([{ n: 1 }])
      const found = serverAt(portOf(server.url))
      expect(found.owner).toBe(process.pid)
      expect(isRunning(found.postmaster)).toBe(true)
      // The watchdog's command line names the data directory.
      expect(processesMentioning(found.dir).filter((pid) => pid !== found.postmaster)).toHaveLength(1)

      yield* Effect.promise(() => server.stop())
      // stop() resolves once the server has exited and the directory is gone.
      expect(isRunning(found.postmaster)).toBe(false)
      expect(fs.existsSync(found.dir)).toBe(false)
      // The watchdog is told to go; it exits without waiting for anything.
      expect(yield* Effect.promise(() => eventually(() => processesMentioning(found.dir).length === 0, 10))).toBe(true)
      // A second stop() is a no-op.
      yield* Effect.promise(() => server.stop())
    }))

  it.scopedLive("an owner killed with SIGKILL runs no hooks: its watchdog stops the postmaster and removes the directory", () =>
    Effect.gen(function*() {
      const child = spawn(process.execPath, ["--import", "tsx", "test/support/embeddedServerProcess.ts"], {
        cwd: root,
        stdio: ["ignore", "pipe", "inherit"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL")))
      const url = yield* Effect.promise(() =>
        new Promise<string>((resolve, reject) => {
          let output = ""
          child.stdout!.on("data", (chunk) => {
            output += String(chunk)
            if (output.includes("\n")) resolve(output.split("\n")[0]!)
          })
          child.once("exit", (code) => reject(new Error(`the server process exited with ${code}: ${output}`)))
        })
      )
      const found = serverAt(portOf(url))
      expect(found.owner).toBe(child.pid)
      expect(isRunning(found.postmaster)).toBe(true)
      expect(yield* Admin.query(url, "select 1 as n")).toEqual([{ n: 1 }])

      const killed = new Promise((resolve) => child.once("exit", (_, signal) => resolve(signal)))
      child.kill("SIGKILL")
      expect(yield* Effect.promise(() => killed)).toBe("SIGKILL")
      // The watchdog checks its owner every 500 ms, then stops the server
      // (waiting at most 10 s for it) and removes the directory. Another
      // run's start-up sweep would do the same; either way nothing is left,
      // and the watchdog, its work done, exits too.
      const leftovers = () => ({
        postmasterRunning: isRunning(found.postmaster),
        dirExists: fs.existsSync(found.dir),
        processesNamingTheDir: processesMentioning(found.dir)
      })
      yield* Effect.promise(() =>
        eventually(() => {
          const left = leftovers()
          return !left.postmasterRunning && !left.dirExists && left.processesNamingTheDir.length === 0
        }, 30)
      )
      expect(leftovers()).toEqual({ postmasterRunning: false, dirExists: false, processesNamingTheDir: [] })
    }))

  it.scopedLive("start() removes a data directory whose owner is gone", () =>
    Effect.gen(function*() {
      // A pid that no process has any more: a child that has exited.
      const dead = yield* Effect.promise(() =>
        new Promise<number>((resolve) => {
          const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" })
          child.once("exit", () => resolve(child.pid!))
        })
      )
      const stale = fs.mkdtempSync(path.join(os.tmpdir(), `effect-dal-pg-${dead}-`))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(stale, { recursive: true, force: true })))
      fs.writeFileSync(path.join(stale, "PG_VERSION"), "18\n")
      yield* PostgresServer.acquire({ databaseUrl: null })
      expect(fs.existsSync(stale)).toBe(false)
    }))
})
