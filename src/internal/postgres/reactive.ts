import * as Reactivity from "@effect/experimental/Reactivity"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { ReadonlyRecord } from "effect/Record"
import type { Hooks } from "./session.js"

type Keys = ReadonlyArray<unknown> | ReadonlyRecord<string, ReadonlyArray<unknown>>

/** Invalidations held back until the top-level transaction has committed. */
class Pending {
  open = true
  readonly thunks: Array<() => void> = []
}

const PendingTag = Context.GenericTag<Pending>("effect-dal/internal/PendingInvalidations")

const pendingOf = (context: Context.Context<never>): Pending | undefined => {
  const pending = context.unsafeMap.get(PendingTag.key) as Pending | undefined
  // A fiber forked out of a transaction that has ended sees its Pending,
  // closed: it invalidates at once, and its own transactions are top-level.
  return pending?.open === true ? pending : undefined
}

// Invalidates `keys` now or, inside a transaction, once it has committed:
// a query that re-runs before COMMIT would read the old rows and not run
// again.
const invalidateIn = (context: Context.Context<never>, reactivity: Reactivity.Reactivity.Service, keys: Keys) => {
  const pending = pendingOf(context)
  if (pending === undefined) reactivity.unsafeInvalidate(keys)
  else pending.thunks.push(() => reactivity.unsafeInvalidate(keys))
}

// The Reactivity a transaction's body sees: the same queries, but its
// invalidations wait for the end of the transaction.
const deferred = (base: Reactivity.Reactivity.Service, pending: Pending): Reactivity.Reactivity.Service => {
  const hold = (keys: Keys) => {
    pending.thunks.push(() => base.unsafeInvalidate(keys))
  }
  return Reactivity.Reactivity.of({
    ...base,
    unsafeInvalidate: hold,
    invalidate: (keys) => Effect.sync(() => hold(keys)),
    mutation: (keys, effect) => Effect.zipLeft(effect, Effect.sync(() => hold(keys)))
  })
}

/**
 * @internal
 * Runs `transaction(effect, hooks)` so that invalidations made inside it,
 * by repository writes and through the context's `Reactivity`
 * (`Reactivity.mutation`, `Reactivity.invalidate`), happen after COMMIT,
 * and not at all when it rolls back. A nested transaction leaves them to the
 * outermost one. `fallback` is the Reactivity to defer when the context has
 * none. The transaction runs the hooks itself: what `extend` adds goes
 * into the body's context with its session, in the same copy of the
 * context (Effect.mapInputContext and Effect.onExit around it cost some
 * twenty steps of the fiber on every transaction).
 */
export const deferInvalidations = <A, E, R, A2, E2, R2>(
  effect: Effect.Effect<A, E, R>,
  transaction: (body: Effect.Effect<A, E, R>, hooks: Hooks | undefined) => Effect.Effect<A2, E2, R2>,
  fallback: Reactivity.Reactivity.Service
): Effect.Effect<A2, E2, R2> =>
  Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext
    if (pendingOf(context) !== undefined) return transaction(effect, undefined)
    const pending = new Pending()
    const base = (context.unsafeMap.get(Reactivity.Reactivity.key) as Reactivity.Reactivity.Service | undefined) ??
      fallback
    const reactivity = deferred(base, pending)
    return transaction(effect, {
      extend: (services) => {
        // Called at the start of each attempt: a retried transaction runs
        // its body again, and only the last attempt's writes were committed.
        pending.thunks.length = 0
        services.set(PendingTag.key, pending)
        services.set(Reactivity.Reactivity.key, reactivity)
      },
      ended: (committed) => {
        pending.open = false
        if (committed) for (const thunk of pending.thunks.splice(0)) thunk()
      }
    })
  })

/** The repository operations that write. */
const writeOperations = [
  "insert",
  "insertMany",
  "insertManyDiscard",
  "upsert",
  "update",
  "updateMany",
  "delete",
  "deleteMany",
  "restore",
  "hardDelete"
] as const

/**
 * @internal
 * A repository whose writes invalidate `keys` when they succeed (after
 * COMMIT inside a transaction), so `sql.reactive` queries on them run again.
 */
export const invalidatingWrites = <Repo extends object>(
  repository: Repo,
  reactivity: Reactivity.Reactivity.Service,
  keys: Keys
): Repo => {
  // One step after the write, which hands its result on (Effect.zipLeft
  // with `invalidate` takes two more, on every write).
  const after = (result: unknown) =>
    Effect.withFiberRuntime((fiber) => {
      invalidateIn(fiber.currentContext, reactivity, keys)
      return Effect.succeed(result)
    })
  const wrapped: Record<string, unknown> = { ...(repository as Record<string, unknown>) }
  for (const operation of writeOperations) {
    const run = (repository as Record<string, (...args: Array<unknown>) => Effect.Effect<unknown, unknown, unknown>>)[operation]
    if (run !== undefined) wrapped[operation] = (...args: Array<unknown>) => Effect.flatMap(run(...args), after)
  }
  return wrapped as Repo
}

/** @internal The context's Reactivity, or a new one. */
export const currentOrNew: Effect.Effect<Reactivity.Reactivity.Service> = Effect.flatMap(
  Effect.serviceOption(Reactivity.Reactivity),
  (option) => option._tag === "Some" ? Effect.succeed(option.value) : Reactivity.make
)
