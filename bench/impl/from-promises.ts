/** An {@link Implementation} from promise-returning operations, with a promise worker pool as its load loop. */
import { cycle } from "./shared.js"
import type { Implementation, Input, OperationName, Output } from "./types.js"

export type PromiseOperations = {
  readonly [K in OperationName]: (input: Input<K>) => Promise<Output<K>>
}

export const fromPromises = (ops: PromiseOperations, close: () => Promise<void>): Implementation => ({
  call: (op, input) => ops[op](input),
  run: async (op, load) => {
    const execute = ops[op]
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
  },
  close
})
