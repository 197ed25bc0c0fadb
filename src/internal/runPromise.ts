/**
 * @internal
 * Running an effect from promise code (an Express handler, a Next.js
 * route) so that its result is not kept alive by the finished fiber.
 *
 * A fiber that waited on I/O (every database call does) and then ends
 * with a large value keeps that value reachable from the fiber's exit
 * across V8's young-generation collections: every result of every call
 * survives them and is promoted to the old generation, where only a full
 * collection frees it. With reads of a few hundred kilobytes (50 users
 * and their messages) that made garbage collection most of a call's
 * client CPU (docs/promise-mode.md, and the database-free reproduction in
 * docs/effect-exit-gc.ts). Handing the value out through a box that is
 * emptied as soon as the promise settles leaves the fiber's exit pointing
 * at an empty box instead.
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Runtime from "effect/Runtime"

/** @internal What `runPromise` runs on: a ManagedRuntime or a Runtime. */
export type AnyRuntime<R> = ManagedRuntime.ManagedRuntime<R, any> | Runtime.Runtime<R>

/** @internal */
export interface RunOptions {
  readonly signal?: AbortSignal | undefined
}

interface Box<A> {
  value: A | undefined
}

const box = <A>(value: A): Box<A> => ({ value })

const unbox = <A>(box: Box<A>): A => {
  const value = box.value as A
  box.value = undefined
  return value
}

/** @internal */
export const runPromise = <A, E, R>(
  runtime: AnyRuntime<R>,
  effect: Effect.Effect<A, E, R>,
  options?: RunOptions
): Promise<A> => {
  const boxed = Effect.map(effect, box)
  const run = options?.signal === undefined ? undefined : { signal: options.signal }
  const promise = ManagedRuntime.isManagedRuntime(runtime)
    ? (runtime as ManagedRuntime.ManagedRuntime<R, unknown>).runPromise(boxed, run)
    : Runtime.runPromise(runtime as Runtime.Runtime<R>, boxed, run)
  return promise.then(unbox)
}
