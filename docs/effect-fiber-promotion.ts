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
 * - `runPromise, global scope without a Set`: `Effect.runPromise` per call,
 *   with the root fibers that Effect's global fiber scope tracks held in the
 *   slots of an array instead of its `Set` (Effect 3.22's `roots`, reached
 *   through Effect's global store: an experiment that shows the cause, not
 *   something to ship);
 * - `one fiber`: every call inside one program (`Effect.forEach`, 32 at a time).
 *
 * Every root fiber (each `runPromise`) is added to the global scope's `Set`
 * and deleted from it when it ends. With 32 fibers alive at once, V8 keeps
 * replacing that Set's table, and a replaced table goes on pointing at the
 * fibers it held: once one such table is in the old generation, every fiber
 * that was in it survives the scavenges with everything it reaches, and is
 * promoted. Held in slots instead, the same calls promote about 0.3 KB
 * each instead of about 1 KB (two runs of 6 s: 960-1,061 B and 289-300 B per
 * call, counting scavenges); what is left is the finished fiber's exit
 * value (docs/effect-exit-gc.ts).
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

// Effect's global fiber scope (effect/internal/fiberScope.ts), from the store
// of Effect's global values.
const globalScope = () =>
  ((globalThis as Record<string, unknown>)["effect/GlobalValue"] as Map<symbol, { roots: unknown }>)
    .get(Symbol.for("effect/FiberScope/Global"))!

// What the global scope does with `roots` (add, delete), without a hash table.
// Each fiber carries its slot (a WeakMap would be a hash table again).
const slotOf = Symbol("slot")
class SlotSet<A extends { [slotOf]?: number }> {
  private readonly slots: Array<A | undefined> = []
  private readonly free: Array<number> = []
  add(value: A) {
    const slot = this.free.pop() ?? this.slots.length
    this.slots[slot] = value
    value[slotOf] = slot
    return this
  }
  delete(value: A) {
    const slot = value[slotOf]
    if (slot === undefined || this.slots[slot] !== value) return false
    this.slots[slot] = undefined
    this.free.push(slot)
    return true
  }
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

ways["runPromise, global scope without a Set"] = ways["runPromise"]!

const way = process.argv[2] ?? "runPromise"
if (way === "runPromise, global scope without a Set") globalScope().roots = new SlotSet()
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
