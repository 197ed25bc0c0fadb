/**
 * Direct access to the test database through a plain pg client, so tests
 * can observe the server (pg_stat_activity, row counts) without going
 * through the library under test.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import pg from "pg"

/** Runs one statement on a new connection and returns its rows. */
export const query = <A = Record<string, unknown>>(
  url: string,
  text: string,
  values: ReadonlyArray<unknown> = []
): Effect.Effect<Array<A>> =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: url, application_name: "effect-dal-test-admin" })
    client.on("error", () => {})
    await client.connect()
    try {
      return (await client.query(text, values as Array<unknown>)).rows as Array<A>
    } finally {
      await client.end()
    }
  })

/** Sessions of this database with the given application_name (excluding the admin's own). */
export const sessions = (url: string, applicationName: string) =>
  query<{ pid: number; state: string | null; query: string; wait_event_type: string | null }>(
    url,
    `select pid, state, query, wait_event_type from pg_stat_activity
     where datname = current_database() and application_name = $1 and pid <> pg_backend_pid()`,
    [applicationName]
  )

/** The sessions of the database left inside a transaction (idle, or idle in an aborted one). */
export const idleInTransaction = (url: string) =>
  query<{ pid: number }>(
    url,
    "select pid from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'"
  )

/** Retries `check` every 20 ms until it holds, for at most `within`. */
export const eventually = <A, E, R>(
  check: Effect.Effect<A, E, R>,
  holds: (a: A) => boolean,
  within: Duration.DurationInput = "10 seconds"
): Effect.Effect<A, E | Error, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(Duration.decode(within))
    while (true) {
      const value = yield* check
      if (holds(value)) return value
      if (Date.now() > deadline) return yield* Effect.fail(new Error(`condition not met within ${Duration.format(Duration.decode(within))}`))
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 20)))
    }
  })

let counter = 0
/** An application_name unique to this process, to find our sessions in pg_stat_activity. */
export const appName = (label: string) => `effect-dal-test-${label}-${process.pid}-${++counter}`
