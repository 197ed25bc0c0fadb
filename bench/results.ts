/**
 * What a run measured, and the ratios derived from it. Every ratio is
 * relative to the first implementation of a calling mode's tables (raw pg)
 * or to the first bulk loader (COPY), measured in the same run.
 */
import type { BulkResult } from "./bulk/measure.js"
import type { CallingMode, OperationName } from "./impl/types.js"
import { geometricMean } from "./stats.js"
import type { ReadResult } from "./read/measure.js"
import type { StreamResult } from "./stream.js"

export interface Measurement {
  readonly opsPerSec: number
  readonly cpuMicrosPerOp: number
}

export interface Row {
  readonly op: OperationName
  readonly concurrency: number
  /** In the order of {@link ModeResults.implementations}. */
  readonly measurements: ReadonlyArray<Measurement>
}

export interface Machine {
  readonly date: string
  readonly node: string
  readonly cpus: string
  readonly postgres: string
  readonly server: string
  readonly method: string
}

export interface Memory {
  /** With the implementation loaded and connected, before any cell. */
  readonly connectedMb: number
  /** process.resourceUsage().maxRSS at the end. */
  readonly peakMb: number
}

/** One calling mode's tables: every implementation as that mode runs it. */
export interface ModeResults {
  readonly mode: CallingMode
  /** The first is the reference every ratio is relative to. */
  readonly implementations: ReadonlyArray<string>
  readonly rows: ReadonlyArray<Row>
  /** Worker process RSS, in the order of {@link ModeResults.implementations}. */
  readonly memory: ReadonlyArray<Memory>
}

export interface Results {
  /** In the order they were asked for (BENCH_MODE). */
  readonly modes: ReadonlyArray<ModeResults>
  /** Implementations that run the same code in both modes: measured once, by one worker, and shown in each mode's tables. */
  readonly sameInBothModes: ReadonlyArray<string>
  readonly bulk: ReadonlyArray<BulkResult>
  readonly stream: ReadonlyArray<StreamResult>
  /** The "read N rows" group, when it ran. */
  readonly read?: ReadResult | undefined
  readonly machine: Machine
}

export const throughput = (m: Measurement): number => m.opsPerSec
export const clientCpu = (m: Measurement): number => m.cpuMicrosPerOp

/** What running the cells added to a worker's RSS. */
export const growthMb = (memory: Memory): number => memory.peakMb - memory.connectedMb

/** Each implementation's ratio to the reference in every row, for one metric. */
export const ratios = (results: ModeResults, metric: (m: Measurement) => number): Array<Array<number>> =>
  results.rows.map((row) => row.measurements.map((m) => metric(m) / metric(row.measurements[0]!)))

/** Per implementation, the geometric mean of its ratios over all rows. */
export const geometricMeans = (results: ModeResults, cellRatios: ReadonlyArray<ReadonlyArray<number>>): Array<number> =>
  results.implementations.map((_, i) => geometricMean(cellRatios.map((row) => row[i]!)))
