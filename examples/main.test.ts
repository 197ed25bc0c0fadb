import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import * as Admin from "../test/support/admin.js"
import * as EmbeddedServers from "../test/support/embeddedServers.js"
import * as TestDatabase from "../test/support/TestDatabase.js"
import { alice, applicationName, bob, maxConnections, program } from "./main.js"
import { captureLog, start, tsx } from "./support/testing.js"

interface MessageRow {
  readonly user_id: string
  readonly role: string
  readonly content: string
  readonly content_length: number
  readonly deleted: boolean
}

const messagesIn = (url: string) =>
  Admin.query<MessageRow>(
    url,
    `select user_id::text, role, content, content_length, deleted_at is not null as deleted
     from messages order by arrival`
  )

/** The lines printed under a `== title` heading, up to the next blank line. */
const section = (lines: ReadonlyArray<string>, title: string) => {
  const heading = lines.findIndex((line) => line.startsWith(`== ${title}`))
  const end = lines.indexOf("", heading)
  return heading < 0 ? [] : lines.slice(heading + 1, end < 0 ? undefined : end)
}

/**
 * A URL to an embedded server whose password only its owner knows: the test
 * trusts local connections in the server's pg_hba.conf (the first matching
 * line wins) and makes the server reload it.
 */
const trustedUrl = (server: EmbeddedServers.EmbeddedServer, port: number) =>
  Effect.promise(async () => {
    const url = `postgresql://postgres@127.0.0.1:${port}/postgres`
    const hba = path.join(server.dir, "pg_hba.conf")
    fs.writeFileSync(hba, `host all all 127.0.0.1/32 trust\n${fs.readFileSync(hba, "utf8")}`)
    process.kill(server.postmaster, "SIGHUP")
    // The reload is asynchronous: retry until the new rule is in force.
    for (let attempt = 0;; attempt++) {
      const client = new pg.Client({ connectionString: url })
      client.on("error", () => {})
      try {
        await client.connect()
        await client.end()
        return url
      } catch (error) {
        if (attempt === 100) throw error
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  })

/** A client of its own, closed with the scope. */
const connect = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: url })
      client.on("error", () => {})
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.end().catch(() => {}))
  )

/**
 * Runs `npm start -- --wait` on an embedded server, stops it with `stop`
 * while its transaction is open, and checks what a user would: the
 * transaction rolled back, the program shut down and exited with code 0,
 * and neither the server process nor its data directory is left.
 */
const stopEmbeddedRun = (stop: (processes: { readonly npm: number; readonly node: number }) => void) =>
  Effect.gen(function*() {
    // An empty DATABASE_URL counts as unset: the program starts its own server.
    const child = yield* start("npm", ["start", "--", "--wait"], { DATABASE_URL: "" })
    yield* child.waitFor("stop me with Ctrl-C")
    const port = Number(/started an embedded server at 127\.0\.0\.1:(\d+)\//.exec(child.output())?.[1])
    const server = EmbeddedServers.serverAt(port)
    // If the test fails before the program has exited, it goes too (the
    // helper kills only npm); its watchdog then stops the server.
    yield* Effect.addFinalizer(() => Effect.sync(() => EmbeddedServers.isRunning(server.owner) && process.kill(server.owner, "SIGKILL")))
    expect(EmbeddedServers.isRunning(server.postmaster)).toBe(true)
    // `exec` in the npm script: the program is npm's own child, not a shell's.
    expect(Number(execFileSync("ps", ["-o", "ppid=", "-p", String(server.owner)], { encoding: "utf8" }))).toBe(
      child.process.pid
    )

    const url = yield* trustedUrl(server, port)
    const open = yield* Admin.sessions(url, applicationName)
    expect(open.filter((session) => session.state === "idle in transaction")).toHaveLength(1)
    // SHARE conflicts with the ROW EXCLUSIVE lock the open transaction holds
    // on messages, so this waits until that transaction ends, and then sees
    // whether its row was kept. Both statements go in one message: the
    // count runs as soon as the lock is granted, with no round trip between
    // in which the program's shutdown could stop the server.
    const watcher = yield* connect(url)
    yield* Effect.promise(() => watcher.query("begin"))
    // If the server's shutdown terminates the watcher before its count ran
    // (its backend was not scheduled in time on a loaded machine), the run
    // cannot tell: `undefined`, and the caller runs the scenario again.
    const kept = watcher.query(
      "lock table messages in share mode; " +
        "select count(*)::int as n from messages where content = 'This message is never committed.'"
    ).then(
      (results) => (results as unknown as ReadonlyArray<{ readonly rows: ReadonlyArray<unknown> }>)[1]!.rows,
      (error: { readonly code?: string }) => error.code === "57P01" ? undefined : Promise.reject(error)
    )
    kept.catch(() => {})
    yield* Admin.eventually(
      Admin.query(url, "select count(*)::int as n from pg_locks where not granted and relation = 'messages'::regclass"),
      (rows) => rows[0]?.n === 1
    )

    stop({ npm: child.process.pid!, node: server.owner })
    const exit = yield* child.exit
    const output = child.output()
    expect(exit, output).toEqual({ code: 0, signal: null })
    expect(output).toContain("interrupted: the open transaction was rolled back\nshut down: pool closed, PostgreSQL released")
    // The program waited for the server to stop and removed its directory before it exited.
    expect(EmbeddedServers.isRunning(server.postmaster)).toBe(false)
    expect(EmbeddedServers.isRunning(server.owner)).toBe(false)
    expect(fs.existsSync(server.dir)).toBe(false)
    const rows = yield* Effect.promise(() => kept)
    if (rows === undefined) return yield* Effect.fail(new WatcherTerminated())
    expect(rows).toEqual([{ n: 0 }])
  }).pipe(
    // Each attempt checks everything; only a run that could not tell is repeated.
    Effect.retry({ while: (error) => error instanceof WatcherTerminated, times: 2 })
  )

/** The server stopped before the watcher could count (see stopEmbeddedRun). */
class WatcherTerminated extends Error {}

describe("npm start: the chat-history example", () => {
  it.scopedLive("the tour runs on a fresh database and leaves exactly the rows it reports", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const { lines } = yield* captureLog(program())

      const migrations = yield* Admin.query(url, "select migration_id, name from effect_sql_migrations order by 1")
      expect(migrations).toEqual([
        { migration_id: 1, name: "create_users" },
        { migration_id: 2, name: "create_user_settings" },
        { migration_id: 3, name: "create_messages" }
      ])
      expect(lines).toContain("migrations: applied 1_create_users, 2_create_user_settings, 3_create_messages")

      // Alice and Bob with their settings; Carol's user row went with her failed settings.
      expect(yield* Admin.query(url, "select id::text, name from users order by id")).toEqual([
        { id: String(alice), name: "Alice" },
        { id: String(bob), name: "Bob" }
      ])
      expect(yield* Admin.query(url, "select user_id::text, max_history_messages from user_settings order by 1"))
        .toEqual([{ user_id: String(alice), max_history_messages: 4 }, { user_id: String(bob), max_history_messages: 20 }])
      expect(lines).toContain(
        `Carol was not registered: check constraint "user_settings_max_history_messages_check" on table "user_settings" violated`
      )
      expect(lines).toContain("  her user row was rolled back with it: findUser(5000000003) is None")

      // Three exchanges for Alice, two for Bob: a message and a reply each.
      const messages = yield* messagesIn(url)
      const of = (id: number) => messages.filter((m) => m.user_id === String(id))
      expect(of(alice).map((m) => m.role)).toEqual(["user", "assistant", "user", "assistant", "user", "assistant"])
      expect(of(alice).every((m) => !m.deleted && m.content_length === m.content.length)).toBe(true)
      // The assistant saw at most Alice's 4 most recent messages.
      expect(of(alice)[5]!.content).toBe(`[3 earlier messages in context] You said: "And where should I eat near Alfama?"`)

      // The history printed is Alice's last four messages, oldest first.
      const history = section(lines, "Alice's 4 most recent messages (of 6), oldest first")
      expect(history.map((line) => line.replace(/^\s+#\d+\s+\S+\s+\d+ chars\s+/, ""))).toEqual(
        of(alice).slice(-4).map((m) => m.content)
      )

      // Bob's history is cleared by a soft delete: the rows stay, marked.
      expect(of(bob).map((m) => m.deleted)).toEqual([true, true, true, true])
      expect(lines).toContain(
        "soft-deleted 4 messages; Bob's recent history now has 0, and the table still holds 4 rows of his with deleted_at set"
      )

      expect(lines).toContain(
        `Alice (id ${alice}) is already registered: unique constraint "users_pkey" (id) on table "users" violated. ` +
          "Nothing was written."
      )
      expect(lines.find((line) => line.startsWith("users: "))).toMatch(
        /^users: 2; Alice: 6 messages \(6 visible\); Bob: 4 stored \(0 visible\); ping \d+\.\d\d ms$/
      )
      const pool = /after \(at most (\d+)\), (\d+) in use now/.exec(lines.find((l) => l.startsWith("pool: ")) ?? "")
      expect(pool?.slice(1)).toEqual([String(maxConnections), "0"])
      expect(lines.at(-1)).toBe("done")
    }).pipe(Effect.provide(TestDatabase.layer({ maxConnections }))))

  it.scopedLive("a second run on the same database changes no user: migrations are up to date, and both are known", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      yield* captureLog(program())
      const { lines } = yield* captureLog(program())
      expect(lines).toContain("migrations: up to date")
      expect(lines.filter((line) => line.includes("is already registered: unique constraint \"users_pkey\""))).toHaveLength(3)
      expect(yield* Admin.query(url, "select count(*)::int as n from users")).toEqual([{ n: 2 }])
      // The second run's conversations are added to the first's.
      expect((yield* messagesIn(url)).filter((m) => m.user_id === String(alice))).toHaveLength(12)
    }).pipe(Effect.provide(TestDatabase.layer({ maxConnections }))))

  it.scopedLive("`npx tsx examples/main.ts` on DATABASE_URL exits with code 0 after printing the tour", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const child = yield* start("npx", ["tsx", "examples/main.ts"], { DATABASE_URL: url })
      const exit = yield* child.exit
      const output = child.output()
      expect(exit, output).toEqual({ code: 0, signal: null })
      const lines = output.split("\n")
      expect(lines).toContain(`PostgreSQL: DATABASE_URL (${new URL(url).host}${new URL(url).pathname})`)
      expect(lines).toContain("migrations: applied 1_create_users, 2_create_user_settings, 3_create_messages")
      expect(lines).toContain(
        `Alice (id ${alice}) is already registered: unique constraint "users_pkey" (id) on table "users" violated. ` +
          "Nothing was written."
      )
      expect(lines).toContain("done")
      expect(lines).toContain("shut down: pool closed, PostgreSQL released")
      expect(yield* Admin.query(url, "select count(*)::int as n from users")).toEqual([{ n: 2 }])
    }))

  // SIGTERM straight to the program, on DATABASE_URL. The tests at the end go
  // through npm: its script runs the program with `exec`, because without it
  // npm forwards the signal to `sh -c`, which exits without passing it on
  // (measured with npm 11 and dash), and the program keeps running, orphaned.
  it.scopedLive("SIGTERM while a transaction is open: it rolls back, the pool closes, the exit code is 0", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const child = yield* start(tsx, ["examples/main.ts", "--wait"], { DATABASE_URL: url })
      yield* child.waitFor("stop me with Ctrl-C")
      const open = yield* Admin.sessions(url, applicationName)
      expect(open.filter((s) => s.state === "idle in transaction")).toHaveLength(1)

      child.process.kill("SIGTERM")
      const exit = yield* child.exit
      const output = child.output()
      // runMain reports an interrupted program as a clean exit: it stopped
      // because it was asked to, and it shut down completely.
      expect(exit, output).toEqual({ code: 0, signal: null })
      expect(output).toContain("interrupted: the open transaction was rolled back\nshut down: pool closed, PostgreSQL released")
      expect(yield* Admin.query(url, "select count(*)::int as n from messages where content = 'This message is never committed.'"))
        .toEqual([{ n: 0 }])
      // The pool closed its connections before the process exited; the
      // server may take a moment to remove their sessions.
      expect(yield* Admin.eventually(Admin.sessions(url, applicationName), (sessions) => sessions.length === 0)).toEqual([])
    }))

  it.scopedLive("`npm start -- --wait` on the embedded server, SIGTERM to npm: the transaction rolls back, the server stops, its directory goes, exit code 0", () =>
    stopEmbeddedRun(({ npm }) => process.kill(npm, "SIGTERM")))

  // Ctrl-C in a terminal sends SIGINT to npm and the program at once, and npm
  // forwards its own: the program gets two.
  it.scopedLive("`npm start -- --wait` on the embedded server, Ctrl-C (SIGINT to npm and the program): the same clean shutdown", () =>
    stopEmbeddedRun(({ node, npm }) => {
      process.kill(node, "SIGINT")
      process.kill(npm, "SIGINT")
    }))
})
