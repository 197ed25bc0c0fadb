/**
 * The rules of `Database.transaction`, written once for both engines: the
 * options and what a nested call may ask for, which errors the outermost
 * transaction retries and how, and the spans. Each engine supplies only the
 * mechanism (postgres/session.ts: a connection, BEGIN/COMMIT and
 * savepoints; memory/store.ts: copies of the tables).
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import type { Isolation, TransactionOptions } from "../Database.js"
import * as DatabaseError from "../DatabaseError.js"
import { withSpan } from "./tracing.js"

/** @internal */
export type { Isolation, TransactionOptions } from "../Database.js"

/** @internal A transaction's modes: the server's defaults (read once at start-up), or what it asked for. */
export interface ServerDefaults {
  readonly isolation: Isolation
  readonly readOnly: boolean
  readonly deferrable: boolean
}

/** @internal The modes a top-level transaction runs with. */
export const settingsOf = (options: TransactionOptions, defaults: ServerDefaults): ServerDefaults => ({
  isolation: options.isolation ?? defaults.isolation,
  readOnly: options.readOnly ?? defaults.readOnly,
  deferrable: options.deferrable ?? defaults.deferrable
})

/**
 * @internal
 * What a nested transaction asks for that its transaction cannot give: a
 * retry (only the outermost transaction retries), or other modes (Postgres
 * refuses SET TRANSACTION inside a savepoint, 25001).
 */
export const conflict = (
  outer: ServerDefaults,
  options: TransactionOptions
): DatabaseError.NestedTransactionConflict | undefined => {
  if (options.retry !== undefined && options.retry !== false) {
    return new DatabaseError.NestedTransactionConflict({ option: "retry", outer: "no retry", nested: "retry" })
  }
  if (options.isolation !== undefined && options.isolation !== outer.isolation) {
    return new DatabaseError.NestedTransactionConflict({ option: "isolation", outer: outer.isolation, nested: options.isolation })
  }
  if (options.readOnly !== undefined && options.readOnly !== outer.readOnly) {
    return new DatabaseError.NestedTransactionConflict({
      option: "readOnly",
      outer: String(outer.readOnly),
      nested: String(options.readOnly)
    })
  }
  if (options.deferrable !== undefined && options.deferrable !== outer.deferrable) {
    return new DatabaseError.NestedTransactionConflict({
      option: "deferrable",
      outer: String(outer.deferrable),
      nested: String(options.deferrable)
    })
  }
  return undefined
}

/**
 * @internal
 * The default retry policy: exponential backoff from 10 ms with jitter,
 * each delay capped at 1 s, at most 10 retries.
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("10 millis", 2).pipe(
  Schedule.jittered,
  Schedule.either(Schedule.spaced("1 second")),
  Schedule.intersect(Schedule.recurs(10)),
  Schedule.map(() => undefined as unknown)
)

const causeOf = (error: unknown): unknown =>
  typeof error === "object" && error !== null && "cause" in error ? (error as { cause: unknown }).cause : undefined

/**
 * @internal
 * Whether the outermost transaction runs its body again after this
 * failure: a retryable error, or an error that wraps one (the `SqlError`
 * that `@effect/sql` code sees has the effect-dal error as its cause).
 */
export const retries = (error: unknown): boolean =>
  DatabaseError.isRetryable(error) || DatabaseError.isRetryable(causeOf(error))

/**
 * @internal
 * Runs `once` again while it fails with an error that {@link retries},
 * as the schedule allows. The backoff sleeps go through `restore`, so they
 * stay interruptible inside a transaction's uninterruptible region.
 */
export const retryWhole = <A, E, R>(
  once: Effect.Effect<A, E, R>,
  options: TransactionOptions,
  restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>
): Effect.Effect<A, E, R> => {
  if (options.retry === undefined || options.retry === false) return once
  const schedule = options.retry === true ? defaultRetry : options.retry
  return Effect.flatMap(Schedule.driver(schedule), (driver) => {
    const attempt: Effect.Effect<A, E, R> = Effect.catchAll(once, (error) =>
      retries(error)
        ? Effect.flatMap(
          Effect.either(restore(driver.next(error))),
          (next) => next._tag === "Left" ? Effect.fail(error) : attempt
        )
        : Effect.fail(error))
    return attempt
  })
}

// How a transaction ended: "commit" at the top level, "release" for a
// savepoint, or rolled back, or interrupted.
const outcome = (exit: Exit.Exit<unknown, unknown>, success: "commit" | "release") =>
  exit._tag === "Success" ? success : Exit.isInterrupted(exit) ? "interrupted" : "rollback"

/** @internal The span of a top-level transaction; `attempts` is read when it ends. */
export const topLevelSpan = (system: "postgresql" | "memory", settings: ServerDefaults, attempts: () => number) =>
  withSpan(
    "Database.transaction",
    () => ({
      kind: "client",
      attributes: {
        "db.system.name": system,
        "db.transaction.isolation": settings.isolation,
        "db.transaction.read_only": settings.readOnly,
        "db.transaction.depth": 0
      }
    }),
    (exit) => ({
      "db.transaction.attempts": attempts(),
      "db.transaction.outcome": outcome(exit, "commit")
    })
  )

/** @internal The span of a nested transaction (a savepoint) at `depth`. */
export const nestedSpan = (system: "postgresql" | "memory", depth: number) =>
  withSpan(
    "Database.transaction",
    () => ({
      kind: "client",
      attributes: { "db.system.name": system, "db.transaction.depth": depth }
    }),
    (exit) => ({
      "db.transaction.outcome": outcome(exit, "release")
    })
  )

/**
 * @internal
 * The rules around a top-level transaction, for either engine: its modes,
 * the whole attempt run again while it fails with an error that
 * {@link retries} (the backoff through `restore`), and its span. `attempt`
 * calls `counted` once per try, for the span's attempt count.
 */
export const topLevel = <A, E, R>(
  system: "postgresql" | "memory",
  options: TransactionOptions,
  defaults: ServerDefaults,
  restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>,
  attempt: (settings: ServerDefaults, counted: () => void) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  const settings = settingsOf(options, defaults)
  let attempts = 0
  const once = attempt(settings, () => {
    attempts++
  })
  return retryWhole(once, options, restore).pipe(topLevelSpan(system, settings, () => attempts))
}

/**
 * @internal
 * The rules around a nested transaction: options its transaction cannot
 * give fail at once (through `onConflict`), else `body` runs under its span.
 */
export const nested = <A, E, R, E2>(
  system: "postgresql" | "memory",
  outer: ServerDefaults,
  depth: number,
  options: TransactionOptions,
  onConflict: (problem: DatabaseError.NestedTransactionConflict) => E2,
  body: () => Effect.Effect<A, E, R>
): Effect.Effect<A, E | E2, R> => {
  const problem = conflict(outer, options)
  return problem !== undefined ? Effect.fail(onConflict(problem)) : body().pipe(nestedSpan(system, depth))
}
