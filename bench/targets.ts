/**
 * The targets effect-dal is held to (issue 17), checked in each calling mode
 * on one run's figures: every ratio is between implementations measured side
 * by side in that run, never against an earlier run.
 */
import { clientCpu, geometricMeans, growthMb, type ModeResults, ratios, throughput } from "./results.js"

/** The implementation the targets are about. */
export const SUBJECT = "effect-dal"
/** The promise-based peer whose throughput the subject must match. */
export const PEER = "postgres.js"
/** The control whose peak RSS is what loading Effect's modules costs (BENCH_CONTROLS=1). */
export const MEMORY_CONTROL = "raw pg, Effect loaded"

export const LIMITS = {
  /** Geometric mean of the throughput ratios to the reference, at least. */
  throughput: 1.0,
  /** No throughput cell below this ratio to the reference. */
  lowestCell: 0.9,
  /** Geometric mean of the client CPU ratios to the reference, at most. */
  clientCpu: 1.5,
  /** Peak RSS over the memory control's, at most. */
  peakRss: 1.1,
  /** Growth (peak over connected) over the reference's, at most. */
  growth: 1.2
} as const

export interface Outcome {
  readonly target: string
  /** The figure this run measured, or why it has none. */
  readonly measured: string
  /** Undefined when the run did not measure what the target needs. */
  readonly met: boolean | undefined
}

const ratio = (value: number): string => `${value.toFixed(2)}×`

/** The subject's targets in one calling mode, or nothing if the subject did not run. */
export const evaluate = (results: ModeResults): ReadonlyArray<Outcome> | undefined => {
  const { implementations, memory, rows } = results
  const subject = implementations.indexOf(SUBJECT)
  if (subject < 0) return undefined
  const reference = implementations[0]!
  const peer = implementations.indexOf(PEER)
  const control = implementations.indexOf(MEMORY_CONTROL)

  const throughputRatios = ratios(results, throughput)
  const throughputMeans = geometricMeans(results, throughputRatios)
  const cpuMeans = geometricMeans(results, ratios(results, clientCpu))
  const mean = throughputMeans[subject]!
  const lowest = rows
    .map((row, r) => ({ row, value: throughputRatios[r]![subject]! }))
    .reduce((low, cell) => (cell.value < low.value ? cell : low))
  const peak = memory[subject]!.peakMb
  const growth = growthMb(memory[subject]!) / growthMb(memory[0]!)

  return [
    {
      target: `throughput: geometric mean of the ratios at least ${ratio(LIMITS.throughput)} ${reference}`,
      measured: ratio(mean),
      met: mean >= LIMITS.throughput
    },
    {
      target: `throughput: geometric mean at least ${PEER}'s`,
      ...(peer < 0
        ? { measured: `${PEER} did not run`, met: undefined }
        : { measured: `${ratio(mean)} against ${ratio(throughputMeans[peer]!)}`, met: mean >= throughputMeans[peer]! })
    },
    {
      target: `throughput: no cell below ${ratio(LIMITS.lowestCell)} ${reference}`,
      measured: `lowest ${ratio(lowest.value)} (${lowest.row.op} ×${lowest.row.concurrency})`,
      met: lowest.value >= LIMITS.lowestCell
    },
    {
      target: `client CPU: geometric mean of the ratios at most ${ratio(LIMITS.clientCpu)} ${reference}`,
      measured: ratio(cpuMeans[subject]!),
      met: cpuMeans[subject]! <= LIMITS.clientCpu
    },
    {
      target: `peak RSS at most ${ratio(LIMITS.peakRss)} "${MEMORY_CONTROL}"`,
      ...(control < 0
        ? { measured: "no control in this run (BENCH_CONTROLS=1 runs it)", met: undefined }
        : { measured: ratio(peak / memory[control]!.peakMb), met: peak / memory[control]!.peakMb <= LIMITS.peakRss })
    },
    {
      target: `memory growth (peak over connected) at most ${ratio(LIMITS.growth)} ${reference}'s`,
      measured: ratio(growth),
      met: growth <= LIMITS.growth
    }
  ]
}
