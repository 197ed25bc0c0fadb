/** An {@link Implementation} from promise-returning operations, with a promise worker pool as its load loop. */
import { cycle } from "./shared.js"
import type { Implementation, Input, Load, OperationName, Output } from "./types.js"

export type PromiseOperations = {
  readonly [K in OperationName]: (input: Input<K>) => Promise<Output<K>>
}

/**
 * Runs a load as plain async code runs operations: `concurrency` async
 * workers, each awaiting one operation after another. Resolves with the
 * number started (all of them completed).
 */
export const runPromises = async <K extends OperationName>(
  execute: (input: Input<K>) => Promise<Output<K>>,
  load: Load<K>
): Promise<number> => {
  const next = cycle(load.inputs)
  let started = 0
  // After a failure the other workers stop too, as Effect.forEach's do.
  let failed = false
  const worker = async () => {
    try {
      while (!failed && load.more(started)) {
        started++
        await execute(next())
      }
    } catch (error) {
      failed = true
      throw error
    }
  }
  await Promise.all(Array.from({ length: load.concurrency }, worker))
  return started
}

/** The same code in both calling modes: there is no other way to call a promise. */
export const fromPromises = (ops: PromiseOperations, close: () => Promise<void>): Implementation => ({
  call: (op, input) => ops[op](input),
  run: (op, load) => runPromises(ops[op], load),
  sameInBothModes: true,
  close
})
