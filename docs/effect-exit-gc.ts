/**
 * A database-free reproduction, ready to report to Effect: a fiber that
 * waited across a macrotask (as every I/O call does) and then ends with a
 * large value keeps that value alive through V8's young-generation
 * collections (scavenges). Every call's result survives them and is
 * promoted to the old generation, where only a full mark-compact frees
 * it, so garbage collection becomes most of the CPU of a call. A Promise
 * doing the same work does not show it; neither does a fiber that never
 * waits across a macrotask, nor one long fiber doing every call.
 *
 * Each call waits one `setImmediate`, then builds `rows` small objects
 * (four fields, a string, a Date) and returns the array. Ways of running it:
 *
 * - `promise`: an async function;
 * - `runPromise`: `Effect.runPromise` per call (how promise code calls Effect);
 * - `runPromise, boxed`: the same, the value handed out in a box that is
 *   emptied once the promise settles (what `Database.runPromise` does);
 * - `one fiber`: every call inside one `Effect.forEach` program.
 *
 *   npx tsx docs/effect-exit-gc.ts            # 1,100 rows per call
 *   node --trace-gc-nvp ...                   # V8's own figures: new_space_survived, promoted
 */
import * as Effect from "effect/Effect"
import { PerformanceObserver } from "node:perf_hooks"

const build = (rows: number) => {
  const out: Array<{ id: number; name: string; email: string; at: Date }> = []
  for (let n = 0; n < rows; n++) out.push({ id: n, name: `name ${n}`, email: `user${n}@example.com`, at: new Date(n) })
  return out
}

const waitOneMacrotask = Effect.async<void>((resume) => {
  setImmediate(() => resume(Effect.void))
})

const call = (rows: number) => Effect.map(waitOneMacrotask, () => build(rows))

const ways: Record<string, (rows: number, calls: number) => Promise<number>> = {
  "promise": async (rows, calls) => {
    let total = 0
    for (let i = 0; i < calls; i++) {
      await new Promise((resolve) => setImmediate(resolve))
      total += build(rows).length
    }
    return total
  },
  "runPromise": async (rows, calls) => {
    let total = 0
    for (let i = 0; i < calls; i++) total += (await Effect.runPromise(call(rows))).length
    return total
  },
  "runPromise, boxed": async (rows, calls) => {
    let total = 0
    for (let i = 0; i < calls; i++) {
      const box: { value: ReadonlyArray<unknown> | undefined } = await Effect.runPromise(
        Effect.map(call(rows), (value) => ({ value }))
      )
      const value = box.value!
      box.value = undefined
      total += value.length
    }
    return total
  },
  "one fiber": (rows, calls) =>
    Effect.runPromise(
      Effect.reduce(Array.from({ length: calls }), 0, (total) => Effect.map(call(rows), (value) => total + value.length))
    )
}

let gcMs = 0
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration
}).observe({ entryTypes: ["gc"] })

const rows = Number(process.argv[2] ?? "1100")
const calls = Number(process.argv[3] ?? "2000")
const only = process.argv[4]?.split(",")
for (let round = 1; round <= 3; round++) {
  for (const [name, run] of Object.entries(ways)) {
    if (only !== undefined && !only.includes(name)) continue
    await run(rows, 200)
    gcMs = 0
    const cpu = process.cpuUsage()
    const total = await run(rows, calls)
    const used = process.cpuUsage(cpu)
    if (total !== rows * calls) throw new Error(`${name}: read ${total} rows, expected ${rows * calls}`)
    console.log(
      `round ${round}  ${name.padEnd(18)} ${((used.user + used.system) / calls).toFixed(0).padStart(6)} µs CPU per call, ` +
        `GC ${((gcMs * 1000) / calls).toFixed(0).padStart(6)} µs per call`
    )
  }
}
