/** What a run measures and for how long, from `BENCH_SECONDS`, `BENCH_MODE` and `BENCH_QUICK=1`. */
import { CALLING_MODES, type CallingMode, type OperationName } from "./impl/types.js"

export interface Operation {
  readonly name: OperationName
  /** Writes are undone after each cell, so every cell starts from the seeded data. */
  readonly writes: boolean
}

/** In run order: the reads, then the writes. */
export const OPERATIONS: ReadonlyArray<Operation> = [
  { name: "findById", writes: false },
  { name: "recentMessages", writes: false },
  { name: "eagerLoad", writes: false },
  { name: "insertOne", writes: true },
  { name: "transfer", writes: true },
  { name: "insertBatch", writes: true }
]

export const CONCURRENCIES: ReadonlyArray<number> = [1, 32]

export interface Config {
  readonly quick: boolean
  /** `BENCH_MODE`: `program`, `promise` or `both` (the default), in that order. */
  readonly modes: ReadonlyArray<CallingMode>
  readonly cellMs: number
  /** Per implementation, operation and concurrency, before any cell is timed. */
  readonly warmupMs: number
  /** Before each timed cell, the same load untimed (see worker.ts). */
  readonly leadInMs: number
  readonly repetitions: number
  readonly bulkRows: number
  readonly bulkRepetitions: number
  /** Rows in the table that the stream measurement reads. */
  readonly streamRows: number
  /** `BENCH_GROUP=read`: only the "read N rows" group (read/measure.ts); `cells`: only the operation cells. */
  readonly group: "all" | "read" | "cells"
  /** Runs of the read group (`BENCH_READ_RUNS`, 3 by default), for the run-to-run spread. */
  readonly readRuns: number
  /** Rows per timed read cell. */
  readonly readRowsPerCell: number
  /** Set by `BENCH_PROFILE`: profile one implementation instead of the comparison (see profile.ts). */
  readonly profile: ProfileConfig | undefined
  /** `BENCH_OPERATIONS="eagerLoad,findById"`: only these operation cells; all by default. */
  readonly operations: ReadonlyArray<Operation>
}

export interface ProfileConfig {
  /** `BENCH_PROFILE`: the implementation's name, as in the report. */
  readonly implementation: string
  /** `BENCH_OPERATION`, findById by default. */
  readonly op: OperationName
  /** `BENCH_CONCURRENCY`, 1 by default. */
  readonly concurrency: number
  /** `BENCH_HEAP_SNAPSHOT=1`: heap snapshots before the load and in the middle of it. */
  readonly heapSnapshot: boolean
}

const seconds = (name: string, fallback: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw === "") return fallback
  const value = Number(raw)
  if (!(value > 0)) throw new Error(`${name} must be a positive number of seconds, got ${JSON.stringify(raw)}`)
  return value
}

const modes = (): ReadonlyArray<CallingMode> => {
  const raw = process.env["BENCH_MODE"] ?? ""
  if (raw === "" || raw === "both") return CALLING_MODES
  const mode = CALLING_MODES.find((mode) => mode === raw)
  if (mode === undefined) throw new Error(`BENCH_MODE must be program, promise or both, got ${JSON.stringify(raw)}`)
  return [mode]
}

const profile = (): ProfileConfig | undefined => {
  const implementation = process.env["BENCH_PROFILE"] ?? ""
  if (implementation === "") return undefined
  const opName = process.env["BENCH_OPERATION"] || "findById"
  const op = OPERATIONS.find((op) => op.name === opName)
  if (op === undefined) {
    throw new Error(`BENCH_OPERATION must be one of ${OPERATIONS.map((op) => op.name).join(", ")}, got ${JSON.stringify(opName)}`)
  }
  const concurrency = Number(process.env["BENCH_CONCURRENCY"] || "1")
  if (!(Number.isInteger(concurrency) && concurrency > 0)) {
    throw new Error(`BENCH_CONCURRENCY must be a positive integer, got ${JSON.stringify(process.env["BENCH_CONCURRENCY"])}`)
  }
  return { implementation, op: op.name, concurrency, heapSnapshot: process.env["BENCH_HEAP_SNAPSHOT"] === "1" }
}

const group = (): "all" | "read" | "cells" => {
  const raw = process.env["BENCH_GROUP"] ?? ""
  if (raw === "" || raw === "all") return "all"
  if (raw === "read" || raw === "cells") return raw
  throw new Error(`BENCH_GROUP must be read, cells or all, got ${JSON.stringify(raw)}`)
}

export const fromEnv = (): Config => {
  const quick = process.env["BENCH_QUICK"] === "1"
  const profiling = profile()
  return {
    quick,
    modes: modes(),
    // A profile is one cell: a longer one gives the sampler more to go on.
    cellMs: quick ? 50 : seconds("BENCH_SECONDS", profiling === undefined ? 2 : 5) * 1000,
    warmupMs: quick ? 20 : 500,
    leadInMs: quick ? 0 : 500,
    repetitions: 3,
    bulkRows: quick ? 10_000 : 100_000,
    bulkRepetitions: quick ? 1 : 3,
    streamRows: quick ? 20_000 : 1_000_000,
    group: group(),
    readRuns: Number(process.env["BENCH_READ_RUNS"] || "3"),
    readRowsPerCell: quick ? 5_000 : 200_000,
    profile: profiling,
    operations: operations()
  }
}

const operations = (): ReadonlyArray<Operation> => {
  const names = (process.env["BENCH_OPERATIONS"] ?? "").split(",").map((name) => name.trim()).filter((name) => name !== "")
  for (const name of names) {
    if (!OPERATIONS.some((op) => op.name === name)) {
      throw new Error(`BENCH_OPERATIONS names ${JSON.stringify(name)}, not one of ${OPERATIONS.map((op) => op.name).join(", ")}`)
    }
  }
  return names.length === 0 ? OPERATIONS : OPERATIONS.filter((op) => names.includes(op.name))
}
