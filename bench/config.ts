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

export const fromEnv = (): Config => {
  const quick = process.env["BENCH_QUICK"] === "1"
  return {
    quick,
    modes: modes(),
    cellMs: quick ? 50 : seconds("BENCH_SECONDS", 2) * 1000,
    warmupMs: quick ? 20 : 500,
    leadInMs: quick ? 0 : 500,
    repetitions: 3,
    bulkRows: quick ? 10_000 : 100_000,
    bulkRepetitions: quick ? 1 : 3,
    streamRows: quick ? 20_000 : 1_000_000
  }
}
