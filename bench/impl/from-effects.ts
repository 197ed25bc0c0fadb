/**
 * An {@link Implementation} from Effect-returning operations. A load runs as
 * one Effect program on the ManagedRuntime, the way an Effect application
 * runs its work, rather than one runtime entry per operation.
 */
import * as Effect from "effect/Effect"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import { cycle } from "./shared.js"
import type { Implementation, Input, OperationName, Output } from "./types.js"

export type EffectOperations<R> = {
  readonly [K in OperationName]: (input: Input<K>) => Effect.Effect<Output<K>, unknown, R>
}

export const fromEffects = <R, ER>(
  runtime: ManagedRuntime.ManagedRuntime<R, ER>,
  ops: EffectOperations<R>
): Implementation => ({
  call: (op, input) => runtime.runPromise(ops[op](input)),
  run: (op, load) =>
    runtime.runPromise(Effect.suspend(() => {
      const execute = ops[op]
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
    })),
  close: () => runtime.dispose()
})
