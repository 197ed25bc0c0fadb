/**
 * The in-process, interleaved measurement behind docs/stream-fixed-cost.md:
 * client CPU and wall per call of `findMany` and `stream` over the read
 * group's table (bench/read/table.ts), and of Effect's own smallest stream,
 * in one process, the variants taking turns in every round so that the
 * machine's load falls on all of them alike. Medians over the rounds.
 *
 *   STREAM_URL=postgresql://postgres@127.0.0.1:5432/streambench npx tsx docs/stream-fixed-cost.ts
 *
 * The database needs the read group's `wide_rows` (bench/read/table.ts,
 * `seedReadTable`). STREAM_ROUNDS, STREAM_CALLS (per round, 1-row calls)
 * and STREAM_ROWS (the large read, 10,000 by default) tune it.
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import { Database, Query, Repository } from "../src/index.js"
import { WideRows } from "../bench/read/table.js"

const url = process.env.STREAM_URL ?? "postgresql://postgres@127.0.0.1:5432/streambench"
const rounds = Number(process.env.STREAM_ROUNDS ?? 7)
const calls = Number(process.env.STREAM_CALLS ?? 200)
const bigRows = Number(process.env.STREAM_ROWS ?? 10_000)
const bigCalls = Math.max(2, Math.round(calls / 40))

const runtime = ManagedRuntime.make(Database.layer({ url, maxConnections: 1, idleTimeout: 0 }))
const wide = await runtime.runPromise(Repository.make(WideRows))

const limited = (n: number) => Query.make(WideRows).pipe(Query.orderBy("id"), Query.limit(n))
// One row, without a LIMIT: the stream cannot know it is short.
const oneById = Query.make(WideRows).pipe(Query.where({ id: 7 }))

const drain = <A, E>(stream: Stream.Stream<A, E>) => {
  let rows = 0
  return runtime.runPromise(Effect.as(Stream.runForEachChunk(stream, (chunk) => Effect.sync(() => void (rows += chunk.length))), rows))
    .then(() => rows)
}

interface Variant {
  readonly name: string
  readonly calls: number
  readonly rows: number
  readonly run: () => Promise<number>
}

const variants: ReadonlyArray<Variant> = [
  { name: "findMany, LIMIT 1", calls, rows: 1, run: () => runtime.runPromise(Effect.map(wide.findMany(limited(1)), (r) => r.length)) },
  { name: "stream, LIMIT 1", calls, rows: 1, run: () => drain(wide.stream(limited(1), { batchSize: 1_000 })) },
  { name: "stream, 1 row by id (no LIMIT)", calls, rows: 1, run: () => drain(wide.stream(oneById, { batchSize: 1_000 })) },
  { name: "Stream.make(1)", calls, rows: 1, run: () => drain(Stream.make(1)) },
  {
    name: `findMany, ${bigRows} rows`,
    calls: bigCalls,
    rows: bigRows,
    run: () => runtime.runPromise(Effect.map(wide.findMany(limited(bigRows)), (r) => r.length))
  },
  {
    name: `stream, ${bigRows} rows`,
    calls: bigCalls,
    rows: bigRows,
    run: () => drain(wide.stream(limited(bigRows), { batchSize: 1_000 }))
  }
]

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const cpu: Record<string, Array<number>> = {}
const wall: Record<string, Array<number>> = {}
// Warm-up: every variant, then the timed rounds.
for (const v of variants) for (let i = 0; i < v.calls; i++) await v.run()
for (let round = 0; round < rounds; round++) {
  for (const v of variants) {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    for (let i = 0; i < v.calls; i++) {
      const got = await v.run()
      if (got !== v.rows) throw new Error(`${v.name}: ${got} rows`)
    }
    const t1 = performance.now()
    const c1 = process.cpuUsage(c0)
    ;(cpu[v.name] ??= []).push((c1.user + c1.system) / v.calls)
    ;(wall[v.name] ??= []).push(((t1 - t0) * 1000) / v.calls)
  }
}

const lines = ["| per call | client CPU (µs) | wall (µs) |", "|:--|--:|--:|"]
for (const v of variants) {
  lines.push(`| ${v.name} | ${Math.round(median(cpu[v.name]!)).toLocaleString("en-US")} | ${
    Math.round(median(wall[v.name]!)).toLocaleString("en-US")
  } |`)
}
// Ratios to findMany's are taken round by round (the two ran back to back),
// then their median: the machine's load moves both alike.
const base = cpu[`findMany, ${bigRows} rows`]!
lines.push("", `| CPU over findMany's at ${bigRows} rows, median of the rounds' ratios | |`, "|:--|--:|")
for (const v of variants) {
  if (v.rows !== bigRows || v.name.startsWith("findMany")) continue
  const ratios = cpu[v.name]!.map((x, i) => x / base[i]!)
  lines.push(`| ${v.name} | ${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}) |`)
}
console.log(lines.join("\n"))
await runtime.dispose()
