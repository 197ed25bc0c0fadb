/**
 * An {@link Implementation} from Effect-returning operations, on a
 * ManagedRuntime built once from the implementation's layer. In `program`
 * mode a load runs as one Effect program, the way an Effect application
 * runs its work; in `promise` mode every operation is its own
 * `runtime.runPromise`, as code outside Effect (an Express handler, a
 * Next.js route) calls a repository.
 */
import * as Effect from "effect/Effect"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import { runPromises } from "./from-promises.js"
import { cycle } from "./shared.js"
import type { Implementation, Input, Load, OperationName, Output } from "./types.js"

export type EffectOperations<R> = {
  readonly [K in OperationName]: (input: Input<K>) => Effect.Effect<Output<K>, unknown, R>
}

/** The load as one Effect program: `concurrency` fibers, each running one operation after another. */
const program = <K extends OperationName, R>(
  execute: (input: Input<K>) => Effect.Effect<Output<K>, unknown, R>,
  load: Load<K>
): Effect.Effect<number, unknown, R> =>
  Effect.suspend(() => {
    const next = cycle(load.inputs)
    let started = 0
    const worker = Effect.whileLoop({
      while: () => load.more(started),
      body: () => {
        started++
        return execute(next())
      },
      step: () => {}
    })
    return Effect.forEach(Array.from({ length: load.concurrency }), () => worker, {
      concurrency: load.concurrency,
      discard: true
    }).pipe(Effect.map(() => started))
  })

/**
 * `runPromise` is how code outside Effect runs one operation: the
 * runtime's own by default; effect-dal passes `Database.runPromise`, the
 * way its README tells promise code to call it.
 */
export const fromEffects = <R, ER>(
  runtime: ManagedRuntime.ManagedRuntime<R, ER>,
  ops: EffectOperations<R>,
  runPromise: <A>(effect: Effect.Effect<A, unknown, R>) => Promise<A> = (effect) => runtime.runPromise(effect)
): Implementation => ({
  call: (op, input) => runPromise(ops[op](input)),
  run: (op, load, mode) => {
    const execute = ops[op]
    return mode === "program"
      ? runtime.runPromise(program(execute, load))
      : runPromises((input) => runPromise(execute(input)), load)
  },
  sameInBothModes: false,
  close: () => runtime.dispose()
})
