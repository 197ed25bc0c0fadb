/**
 * A database-free reproduction of where promise mode's memory growth comes
 * from (docs/promise-mode.md, "What a call promotes"): 32 callers, each
 * calling one after another an effect that waits one `setImmediate` (as a
 * database call waits for its socket) and returns one small row. Run each
 * way in a process of its own under V8's GC trace, and add up the bytes
 * each scavenge promoted to the old generation:
 *
 *   node --trace-gc-nvp --import tsx docs/effect-fiber-promotion.ts runPromise \
 *     | awk -F'promoted=' '/promoted=/ { split($2, a, " "); s += a[1] } /calls/ { print } END { print s / 1e6 " MB promoted" }'
 *
 * Ways:
 * - `promise`: an async function;
 * - `runPromise`: `Effect.runPromise` per call (how promise code calls Effect);
 * - `runPromise, fiber cleared`: the same through `Effect.runFork`, and once
 *   the call has settled, the finished fiber's own fields (its FiberRefs,
 *   stack, steps, queue and exit) are emptied (private fields of Effect
 *   3.22's FiberRuntime: an experiment, not something to ship);
 * - `one fiber`: every call inside one program (`Effect.forEach`, 32 at a time).
 */
import * as Effect from "effect/Effect"
import * as FiberRefs from "effect/FiberRefs"
import type * as Fiber from "effect/Fiber"

const row = (n: number) => ({ id: n, name: `name ${n}`, email: `user${n}@example.com`, at: new Date(n) })

const call = (n: number) =>
  Effect.async<ReturnType<typeof row>>((resume) => {
    setImmediate(() => resume(Effect.succeed(row(n))))
  })

const clearFinished = (fiber: Fiber.RuntimeFiber<unknown, unknown>) => {
  const internals = fiber as unknown as Record<string, unknown>
  internals["_fiberRefs"] = FiberRefs.empty()
  internals["_stack"] = []
  internals["_steps"] = []
  internals["_queue"] = []
  internals["_exitValue"] = null
}

const ways: Record<string, (n: number) => Promise<unknown>> = {
  "promise": async (n) => {
    await new Promise((resolve) => setImmediate(resolve))
    return row(n)
  },
  "runPromise": (n) => Effect.runPromise(call(n)),
  "runPromise, fiber cleared": (n) =>
    new Promise((resolve, reject) => {
      const fiber = Effect.runFork(call(n))
      fiber.addObserver((exit) => {
        // Observers run before the fiber is done with itself: clear later.
        queueMicrotask(() => clearFinished(fiber))
        if (exit._tag === "Success") resolve(exit.value)
        else reject(exit.cause)
      })
    })
}

const way = process.argv[2] ?? "runPromise"
const seconds = Number(process.argv[3] ?? "8")
const concurrency = 32
let calls = 0
const until = performance.now() + seconds * 1000
if (way === "one fiber") {
  await Effect.runPromise(Effect.forEach(
    Array.from({ length: concurrency }),
    () => Effect.whileLoop({ while: () => performance.now() < until, body: () => call(calls), step: () => void calls++ }),
    { concurrency, discard: true }
  ))
} else {
  const run = ways[way]
  if (run === undefined) throw new Error(`no way named ${way}: ${[...Object.keys(ways), "one fiber"].join(", ")}`)
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) {
      await run(calls)
      calls++
    }
  }))
}
console.log(`${way}: ${calls} calls`)
