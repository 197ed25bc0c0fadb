/**
 * A database-free reproduction for issue 22's "Effect floor" question: does
 * wrapping a callback read in `Effect.async` make the rows it returns cost
 * more than a Promise does (rows promoted out of the young generation while
 * the fiber waits)?
 *
 * A fake driver builds `rows` row objects (eight fields, like pg's) over
 * several macrotasks, 200 rows per tick as socket chunks would deliver
 * them, then calls back with the array. The caller maps them to new
 * objects, as raw pg's hand-written mapping does. Three ways of waiting:
 * a Promise, `Effect.async` run with `runPromise` per read, and the same
 * Effect with the rows handed back through a mutable box that is cleared
 * once read. Prints client CPU per row and V8's GC time (scavenges and
 * mark-compacts) per read.
 *
 *   npx tsx docs/effect-async-gc.ts            # 1,000 and 10,000 rows
 *   node --expose-gc ... (not needed)
 */
import * as Effect from "effect/Effect"
import { PerformanceObserver, performance } from "node:perf_hooks"

const CHUNK = 200

const fakeRead = (rows: number, callback: (error: Error | undefined, result: Array<Record<string, unknown>>) => void) => {
  const out: Array<Record<string, unknown>> = []
  const step = () => {
    for (let i = 0; i < CHUNK && out.length < rows; i++) {
      const n = out.length
      out.push({
        id: n,
        name: `name ${n}`,
        email: `user${n}@example.com`,
        visits: n % 1000,
        amount: n / 100,
        active: n % 3 === 0,
        created_at: new Date(1_700_000_000_000 + n),
        data: { plan: "pro", score: n % 97, tags: ["a", "b"] }
      })
    }
    if (out.length < rows) setImmediate(step)
    else callback(undefined, out)
  }
  setImmediate(step)
}

const map = (rows: Array<Record<string, unknown>>) =>
  rows.map((r) => ({ id: r.id, name: r.name, email: r.email, visits: r.visits, amount: r.amount, active: r.active, createdAt: r.created_at, data: r.data }))
    .length

const viaPromise = (rows: number) =>
  new Promise<number>((resolve, reject) => fakeRead(rows, (error, result) => (error ? reject(error) : resolve(map(result)))))

const viaEffect = (rows: number) =>
  Effect.runPromise(
    Effect.map(
      Effect.async<Array<Record<string, unknown>>, Error>((resume) =>
        fakeRead(rows, (error, result) => resume(error ? Effect.fail(error) : Effect.succeed(result)))
      ),
      map
    )
  )

// The rows handed back through a box the continuation empties, so nothing
// the fiber keeps (its last value, the resumed effect) holds them.
const viaEffectBox = (rows: number) =>
  Effect.runPromise(
    Effect.async<number, Error>((resume) =>
      fakeRead(rows, (error, result) => resume(error ? Effect.fail(error) : Effect.sync(() => map(result))))
    )
  )

let gcMs = 0
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration
}).observe({ entryTypes: ["gc"] })

const measure = async (label: string, rows: number, read: (rows: number) => Promise<number>) => {
  const calls = Math.max(5, Math.ceil(200_000 / rows))
  for (let i = 0; i < calls; i++) await read(rows)
  gcMs = 0
  const cpu = process.cpuUsage()
  const start = performance.now()
  for (let i = 0; i < calls; i++) await read(rows)
  const wall = performance.now() - start
  const used = process.cpuUsage(cpu)
  await new Promise((r) => setImmediate(r))
  const perRow = (used.user + used.system) / (calls * rows)
  console.log(
    `${label.padEnd(24)} ${String(rows).padStart(6)} rows: ${perRow.toFixed(2)} µs CPU/row, ` +
      `${((wall * 1000) / (calls * rows)).toFixed(2)} µs wall/row, GC ${(gcMs / calls).toFixed(2)} ms/read`
  )
  return perRow
}

for (const rows of (process.argv[2] ?? "1000,10000").split(",").map(Number)) {
  for (let round = 0; round < 2; round++) {
    const promise = await measure("Promise", rows, viaPromise)
    const effect = await measure("Effect.async", rows, viaEffect)
    const box = await measure("Effect.async, sync map", rows, viaEffectBox)
    console.log(`  ratio to Promise: Effect.async ${(effect / promise).toFixed(2)}×, sync map ${(box / promise).toFixed(2)}×`)
  }
}
