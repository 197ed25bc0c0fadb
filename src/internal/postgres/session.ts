import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import type pg from "pg"
import * as DatabaseError from "../../DatabaseError.js"
import {
  acquireClient,
  cancellable,
  cancellableIn,
  type DalClient,
  destroySocket,
  discardUnsentBegin,
  type Driver,
  runOnClient,
  runPooled,
  startAcquire,
  type Statement,
  wasSent
} from "./driver.js"
import * as Rules from "../transaction.js"
import type { Isolation, ServerDefaults, TransactionOptions } from "../transaction.js"

export type { Isolation, ServerDefaults, TransactionOptions } from "../transaction.js"
export { defaultRetry } from "../transaction.js"

/**
 * @internal
 * One level of a transaction: the top level (depth 0) or a savepoint.
 * Children (nested transactions) take turns through `children`, and while
 * one is open, statements at this level wait for it to end, so a child's
 * ROLLBACK TO SAVEPOINT can only ever undo the child's own work. Statements
 * at the same level need no turns: pg sends them in the order they came.
 */
export class Level {
  closed = false
  failedSqlState: string | undefined = undefined
  childOpen = false
  // Made on first use: most transactions never open a savepoint.
  private semaphore: Effect.Semaphore | undefined = undefined
  private queue: Array<() => void> | undefined = undefined
  constructor(readonly root: Root, readonly depth: number) {}

  get children(): Effect.Semaphore {
    return this.semaphore ??= Effect.unsafeMakeSemaphore(1)
  }

  get waiting(): Array<() => void> {
    return this.queue ??= []
  }

  openChild() {
    this.childOpen = true
  }

  closeChild() {
    this.childOpen = false
    if (this.queue !== undefined) for (const next of this.queue.splice(0)) next()
  }
}

/** @internal Shared by all levels of one transaction. */
export class Root {
  savepoints = 0
  broken = false
  readonly top: Level
  constructor(readonly settings: ServerDefaults) {
    this.top = new Level(this, 0)
  }
}

/**
 * @internal
 * A pinned connection: inside `withConnection`, or a transaction (`level`).
 */
export class Session {
  constructor(
    readonly driver: Driver,
    readonly client: DalClient,
    readonly level: Level | undefined
  ) {}

  run(statement: Statement): Effect.Effect<pg.QueryResult, DatabaseError.DatabaseError> {
    const level = this.level
    if (level === undefined) return runOnClient(this.driver, this.client, statement)
    if (level.closed) {
      return Effect.dieMessage(
        "a statement ran on a transaction that has already ended (was a fiber forked out of Database.transaction?)"
      )
    }
    return this.runGuarded(level, statement)
  }

  // The check for an open child and the hand-over to pg happen in one
  // synchronous step, so no SAVEPOINT can slip in between.
  private runGuarded(level: Level, statement: Statement): Effect.Effect<pg.QueryResult, DatabaseError.DatabaseError> {
    const { client, driver } = this
    return cancellable<pg.QueryResult, DatabaseError.DatabaseError>((resume) => {
      let state: "waiting" | "sent" | "done" | "interrupted" = "waiting"
      const go = () => {
        if (state !== "waiting") return
        if (level.childOpen) return void level.waiting.push(go)
        state = "sent"
        driver.submit(client, statement, "statement", false, (error, result) => {
          state = "done"
          resume(error ? Effect.fail(noteFailure(level, error)) : Effect.succeed(result!))
        })
      }
      go()
      return () => Effect.promise(async () => {
        if (state === "waiting") {
          state = "interrupted"
          const at = level.waiting.indexOf(go)
          if (at >= 0) level.waiting.splice(at, 1)
          return
        }
        if (state === "sent" && !(await driver.cancel(client))) {
          client.dalError ??= new Error("statement did not stop after a cancel request")
          destroySocket(client)
        }
      })
    })
  }

  runAtLevel(level: Level, statement: Statement, phase: "statement" | "commit" = "statement") {
    return Effect.catchAll(
      runOnClient(this.driver, this.client, statement, phase),
      (error) => Effect.fail(noteFailure(level, error))
    )
  }
}

// Records that Postgres aborted the transaction, and turns "current
// transaction is aborted" (25P02) into TransactionAborted.
const noteFailure = (level: Level, error: DatabaseError.DatabaseError): DatabaseError.DatabaseError => {
  // A statement the client refused to send left the transaction as it was.
  if (!wasSent(error)) return error
  if (error._tag === "ConnectionError") {
    level.root.broken = true
    return error
  }
  if (error._tag === "PoolTimeout" || error._tag === "NestedTransactionConflict") return error
  if (error._tag === "QueryError" && error.sqlState === "25P02") {
    return new DatabaseError.TransactionAborted({
      nested: level.depth > 0,
      ...(level.failedSqlState === undefined ? {} : { failedSqlState: level.failedSqlState })
    })
  }
  if (error._tag !== "TransactionAborted") level.failedSqlState ??= error.sqlState
  return error
}

/** @internal The session of the current fiber, if it belongs to this driver. */
export const SessionTag = Context.GenericTag<Session>("effect-dal/internal/Session")

/**
 * @internal
 * What a transaction adds around its body (the pending invalidations,
 * reactive.ts), without a step of the fiber of its own: `extend` writes
 * into the one copy of the context that `Provide` makes, once per attempt;
 * `ended` runs once the transaction has ended, after its last attempt.
 */
export interface Hooks {
  readonly extend: (services: Map<string, unknown>) => void
  readonly ended: (committed: boolean) => void
}
/** @internal */
export type Extend = Hooks["extend"]

/** @internal Adds a session, what `extend` adds, and whatever else callers attach, to a context. */
export type Provide = (session: Session, extend?: Extend) => (context: Context.Context<never>) => Context.Context<never>

/**
 * @internal
 * Sets the fiber's context. A session goes in with one `setContext` and the
 * outer context comes back with another, which the caller runs however its
 * body ends (in an uninterruptible region, or a release): two `FiberRef.set`s
 * cost about half of `Effect.mapInputContext` (a FiberRef scope, an
 * acquireUseRelease), and `Effect.provide` more.
 */
const setContext = (context: Context.Context<never>) => FiberRef.set(FiberRef.currentContext, context)

/** @internal */
export const currentSession = (driver: Driver, context: Context.Context<never>): Session | undefined => {
  // On every statement: a map lookup, without allocating an Option.
  const session = context.unsafeMap.get(SessionTag.key) as Session | undefined
  return session !== undefined && session.driver === driver ? session : undefined
}

/** @internal Runs a statement where the fiber is: its transaction, its pinned connection, or the pool. */
export const execute = (driver: Driver, statement: Statement): Effect.Effect<pg.QueryResult, DatabaseError.DatabaseError> =>
  Effect.withFiberRuntime((fiber) => {
    const session = currentSession(driver, fiber.currentContext)
    return session === undefined ? runPooled(driver, statement) : session.run(statement)
  })

const isolationSql: Record<Isolation, string> = {
  "read committed": "READ COMMITTED",
  "repeatable read": "REPEATABLE READ",
  "serializable": "SERIALIZABLE"
}

/** @internal BEGIN with the transaction's modes. */
export const beginSql = (options: TransactionOptions): string => {
  const modes: Array<string> = []
  if (options.isolation !== undefined) modes.push(`ISOLATION LEVEL ${isolationSql[options.isolation]}`)
  if (options.readOnly !== undefined) modes.push(options.readOnly ? "READ ONLY" : "READ WRITE")
  if (options.deferrable !== undefined) modes.push(options.deferrable ? "DEFERRABLE" : "NOT DEFERRABLE")
  return modes.length === 0 ? "BEGIN" : `BEGIN ${modes.join(", ")}`
}

/**
 * @internal
 * `Database.transaction`: a new transaction, or a savepoint inside the
 * fiber's transaction. `mapOwnError` converts errors raised by the
 * transaction machinery itself (BEGIN, COMMIT, aborted bodies), leaving the
 * body's own errors alone; the `@effect/sql` adapter uses it to raise
 * `SqlError`s.
 */
export const transaction = <A, E, R, E2 = DatabaseError.DatabaseError>(
  driver: Driver,
  defaults: ServerDefaults,
  provide: Provide,
  effect: Effect.Effect<A, E, R>,
  options: TransactionOptions = {},
  mapOwnError?: (error: DatabaseError.DatabaseError) => E2,
  hooks?: Hooks
): Effect.Effect<A, E | E2, R> =>
  // Without mapOwnError, E2 is DatabaseError; with it, every error of the
  // machinery is mapped to E2.
  Effect.withFiberRuntime<A, E | E2 | DatabaseError.DatabaseError, R>((fiber) => {
    const session = currentSession(driver, fiber.currentContext)
    if (session?.level !== undefined) {
      // A savepoint in a transaction the hooks were not given to (one the
      // engine opened itself): they end with the savepoint.
      const inner = nested(session, session.level, provide, effect, options, mapOwnError, hooks?.extend)
      return hooks === undefined
        ? inner
        : Effect.onExit(inner, (exit) => Effect.sync(() => hooks.ended(exit._tag === "Success")))
    }
    return topLevel(driver, defaults, session, provide, effect, options, mapOwnError, hooks)
  }) as Effect.Effect<A, E | E2, R>

const topLevel = <A, E, R, E2>(
  driver: Driver,
  defaults: ServerDefaults,
  pinned: Session | undefined,
  provide: Provide,
  effect: Effect.Effect<A, E, R>,
  options: TransactionOptions,
  mapOwnError: ((error: DatabaseError.DatabaseError) => E2) | undefined,
  hooks: Hooks | undefined
): Effect.Effect<A, E | E2 | DatabaseError.DatabaseError, R> => {
  const begin = beginSql(options)
  const extend = hooks?.extend
  // One uninterruptible region from start to return, so that once COMMIT or
  // ROLLBACK is sent it runs to its answer and the connection goes back in a
  // known state. Only the wait for a connection, the body and the backoff
  // between attempts are interruptible. The region cannot hide an interrupt
  // from the caller, though: one that lands while COMMIT is on the wire
  // takes effect when the region ends, so a transaction that committed can
  // be reported as interrupted (its span records outcome "commit"; see
  // finishTop). Every transaction runs this code, so it is written with few
  // Effect steps: each costs allocations that add up under load.
  return Effect.uninterruptibleMask((restore) =>
    callEnded(hooks, Rules.topLevel("postgresql", options, defaults, restore, (settings, counted) =>
    Effect.withFiberRuntime<A, E | E2 | DatabaseError.DatabaseError, R>((fiber) => {
      counted()
      const outer = fiber.currentContext
      const start: Effect.Effect<DalClient, DatabaseError.DatabaseError> = pinned === undefined
        ? cancellableIn(restore, startAcquire(driver))
        : Effect.succeed(pinned.client)
      const started: Effect.Effect<DalClient, DatabaseError.DatabaseError | E2> = mapOwnError === undefined
        ? start
        : Effect.mapError(start, (error) => mapOwnError(markOwn(error)))
      return Effect.flatMap(started, (client) => {
        // BEGIN is not sent now: it goes out with the first statement (see
        // Driver.submit), and a body that runs none sends nothing.
        client.dalBegin = begin
        const root = new Root(settings)
        const session = new Session(driver, client, root.top)
        // The session goes back to the pool however the transaction ends;
        // the region is uninterruptible, so these handlers always run.
        const release = () => {
          root.top.closed = true
          if (pinned === undefined) driver.release(client, root.broken)
        }
        const finish = (exit: Exit.Exit<A, E>) =>
          Effect.matchCauseEffect(mapOwn(finishTop(session, root, exit, restore), mapOwnError), {
            onFailure: (cause) => {
              release()
              return Effect.failCause(cause)
            },
            onSuccess: (value) => {
              release()
              return Effect.succeed(value)
            }
          })
        // The body sees the session in its context.
        const resetContext = setContext(outer)
        return Effect.zipRight(
          setContext(provide(session, extend)(outer)),
          Effect.matchCauseEffect(restore(effect), {
            onFailure: (cause) => Effect.zipRight(resetContext, finish(Exit.failCause(cause))),
            onSuccess: (value) => Effect.zipRight(resetContext, finish(Exit.succeed(value)))
          })
        )
      })
    })))
  )
}

// Calls the hooks' `ended` when `effect` ends, in the transaction's
// uninterruptible region.
const callEnded = <A, E, R>(hooks: Hooks | undefined, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  hooks === undefined ? effect : Effect.matchCauseEffect(effect, {
    onFailure: (cause) => {
      hooks.ended(false)
      return Effect.failCause(cause)
    },
    onSuccess: (value) => {
      hooks.ended(true)
      return Effect.succeed(value)
    }
  })

// Errors raised by the transaction machinery carry a marker so that the
// body's own DatabaseErrors are never passed through mapOwnError. It is a
// property, not a WeakSet entry: Effect copies an error (own properties
// included) when it crosses a span, so identity is not preserved.
const OwnError = Symbol.for("effect-dal/internal/TransactionMachineryError")
const isOwn = (error: object) => (error as { [OwnError]?: true })[OwnError] === true
const markOwn = <E extends object>(error: E): E => {
  ;(error as { [OwnError]?: true })[OwnError] = true
  return error
}
// Converts the machinery's own errors, when the caller asked for that.
const mapOwn = <A, E, R, E2>(
  effect: Effect.Effect<A, E, R>,
  mapOwnError: ((error: DatabaseError.DatabaseError) => E2) | undefined
): Effect.Effect<A, E | E2, R> =>
  mapOwnError === undefined
    ? effect
    : Effect.catchAll(effect, (error) =>
      Effect.fail(DatabaseError.isDatabaseError(error) && isOwn(error) ? mapOwnError(error) : error))

const finishTop = <A, E>(
  session: Session,
  root: Root,
  exit: Exit.Exit<A, E>,
  restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>
): Effect.Effect<A, E | DatabaseError.DatabaseError> => {
  const level = root.top
  if (Exit.isFailure(exit)) return Effect.zipRight(rollbackOrDestroy(session, root), exit)
  if (level.failedSqlState !== undefined) {
    return Effect.zipRight(
      rollbackOrDestroy(session, root),
      Effect.fail(markOwn(
        new DatabaseError.TransactionAborted({ nested: false, failedSqlState: level.failedSqlState })
      ))
    )
  }
  // Last interruption checkpoint: an interrupt that arrived after the body
  // ended rolls back instead of committing. Once COMMIT is on the wire it
  // cannot be undone; an interrupt arriving during its round trip makes
  // Effect report the fiber as interrupted although the transaction
  // committed (the span records outcome "commit"). A COMMIT that cannot be
  // written, because the session is already gone, is not on the wire: its
  // ConnectionError is not duringCommit, and the transaction is retried.
  return Effect.matchCauseEffect(restore(Effect.void), {
    onFailure: (cause) => Effect.zipRight(rollbackOrDestroy(session, root), Effect.failCause(cause)),
    onSuccess: () => commit(session, level, exit)
  })
}

// COMMIT runs in the transaction's uninterruptible region, so it needs no
// cancel handler: one async step that also maps its outcome.
const COMMIT: Statement = { text: "COMMIT", values: [] }
const commit = <A, E>(
  session: Session,
  level: Level,
  exit: Exit.Exit<A, E>
): Effect.Effect<A, E | DatabaseError.DatabaseError> => {
  level.closed = true
  if (discardUnsentBegin(session.client)) return exit
  return Effect.async<A, E | DatabaseError.DatabaseError>((resume) => {
    session.driver.submit(session.client, COMMIT, "commit", false, (error, result) => {
      if (error) return resume(Effect.fail(markOwn(noteFailure(level, error))))
      // Postgres answers COMMIT of an aborted transaction with the command
      // tag ROLLBACK, not with an error.
      if (result!.command === "ROLLBACK") {
        return resume(Effect.fail(markOwn(new DatabaseError.TransactionAborted({ nested: false }))))
      }
      resume(exit)
    })
  })
}

// ROLLBACK runs even when the fiber is interrupted. If it cannot run (the
// session broke or hangs), the session is destroyed instead of reused.
const ROLLBACK: Statement = { text: "ROLLBACK", values: [] }
const rollbackOrDestroy = (session: Session, root: Root): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (discardUnsentBegin(session.client)) return Effect.void
    return Effect.interruptible(runOnClient(session.driver, session.client, ROLLBACK)).pipe(
      Effect.timeout("10 seconds"),
      Effect.catchAllCause(() =>
        Effect.sync(() => {
          root.broken = true
          destroySocket(session.client)
        })
      ),
      Effect.asVoid
    )
  })

const nested = <A, E, R, E2>(
  parentSession: Session,
  parent: Level,
  provide: Provide,
  effect: Effect.Effect<A, E, R>,
  options: TransactionOptions,
  mapOwnError: ((error: DatabaseError.DatabaseError) => E2) | undefined,
  extend: Extend | undefined
): Effect.Effect<A, E | E2 | DatabaseError.DatabaseError, R> => {
  const root = parent.root
  const body = Effect.uninterruptibleMask((restore) => {
    if (parent.closed) {
      return Effect.dieMessage("a nested transaction started after its transaction ended")
    }
    parent.openChild()
    // Names are unique within the transaction, so concurrent children never
    // share a savepoint (the defect of @effect/sql, effect#6935).
    const name = `effect_dal_${++root.savepoints}`
    const child = new Level(root, parent.depth + 1)
    const session = new Session(parentSession.driver, parentSession.client, child)
    const rollbackTo: Statement = { text: `ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}`, values: [] }
    const undo = Effect.interruptible(runOnClient(session.driver, session.client, rollbackTo)).pipe(
      Effect.timeout("10 seconds"),
      Effect.catchAllCause(() =>
        Effect.sync(() => {
          // The savepoint could not be undone: the whole transaction must not commit.
          parent.failedSqlState ??= "25P02"
          root.broken = true
        })
      ),
      Effect.asVoid
    )
    const finish = (exit: Exit.Exit<A, E>): Effect.Effect<A, E | DatabaseError.DatabaseError> => {
      child.closed = true
      if (Exit.isFailure(exit)) return Effect.zipRight(undo, exit)
      if (child.failedSqlState !== undefined) {
        return Effect.zipRight(
          undo,
          Effect.fail(markOwn(new DatabaseError.TransactionAborted({ nested: true, failedSqlState: child.failedSqlState })))
        )
      }
      return Effect.matchEffect(
        parentSession.runAtLevel(parent, { text: `RELEASE SAVEPOINT ${name}`, values: [] }),
        { onFailure: (error) => Effect.zipRight(undo, Effect.fail(markOwn(error))), onSuccess: () => exit }
      )
    }
    return Effect.flatMap(
      Effect.mapError(parentSession.runAtLevel(parent, { text: `SAVEPOINT ${name}`, values: [] }), markOwn),
      // The region is uninterruptible around the body, so the context is
      // always put back before `finish`.
      () =>
        Effect.withFiberRuntime<A, E | DatabaseError.DatabaseError, R>((fiber) => {
          const outer = fiber.currentContext
          return Effect.zipRight(
            setContext(provide(session, extend)(outer)),
            Effect.flatMap(Effect.exit(restore(effect)), (exit) => Effect.zipRight(setContext(outer), finish(exit)))
          )
        })
    )
  })
  return Rules.nested(
    "postgresql",
    root.settings,
    parent.depth + 1,
    options,
    (problem): E2 | DatabaseError.DatabaseError => mapOwnError === undefined ? problem : mapOwnError(problem),
    () => mapOwn(parent.children.withPermits(1)(Effect.ensuring(body, Effect.sync(() => parent.closeChild()))), mapOwnError)
  )
}

/**
 * @internal
 * Pins one connection for the effect. Session state (SET, advisory locks,
 * LISTEN, temp tables, open cursors) is reset before the connection returns
 * to the pool; if the reset fails the connection is destroyed.
 */
export const withConnection = <A, E, R>(
  driver: Driver,
  provide: Provide,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | DatabaseError.DatabaseError, R> =>
  Effect.withFiberRuntime((fiber) => {
    const outer = fiber.currentContext
    if (currentSession(driver, outer) !== undefined) return effect
    // The release puts the context back first, however the body ended.
    return Effect.acquireUseRelease(
      acquireClient(driver),
      (client) => Effect.zipRight(setContext(provide(new Session(driver, client, undefined))(outer)), effect),
      (client) => Effect.zipRight(setContext(outer), resetSession(driver, client))
    )
  })

// DISCARD ALL without DEALLOCATE ALL and DISCARD PLANS, so the session keeps
// its prepared statements. https://www.postgresql.org/docs/current/sql-discard.html
const RESET_SESSION =
  "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES"

const resetSession = (driver: Driver, client: DalClient): Effect.Effect<void> => {
  if (client.dalError !== undefined) return Effect.sync(() => driver.release(client, true))
  const status = (client as unknown as { _txStatus: string | null })._txStatus
  const rollback = status !== null && status !== "I"
    ? runOnClient(driver, client, { text: "ROLLBACK", values: [] })
    : Effect.void
  return rollback.pipe(
    Effect.zipRight(runOnClient(driver, client, { text: RESET_SESSION, values: [] })),
    Effect.interruptible,
    Effect.timeout("10 seconds"),
    Effect.match({
      onFailure: () => driver.release(client, true),
      onSuccess: () => driver.release(client)
    })
  )
}
