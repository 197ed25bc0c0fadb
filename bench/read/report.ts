/**
 * The "read N rows" group's section of the report: per size, each reader's
 * client CPU, wall time and bytes allocated per row (medians of the runs,
 * with their spread), the fixed cost of a one-row read, and issue 22's
 * targets, checked on this run's figures only.
 */
import { median } from "../stats.js"
import type { ReadCell, ReadResult } from "./measure.js"

const FLOOR = "Effect floor"
const FIND_MANY = "effect-dal findMany"
const STREAM = "effect-dal stream"
const CURSOR = "effect-dal stream (cursor)"
const STREAM_FLOOR = "Stream floor"

interface Stat {
  readonly median: number
  /** (max - min) / median over the runs. */
  readonly spread: number
}

const stat = (values: ReadonlyArray<number>): Stat => {
  const m = median(values)
  return { median: m, spread: m === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / m }
}

const cellsOf = (result: ReadResult, reader: string, rows: number): Array<ReadCell> =>
  result.runs.flatMap((run) => run.filter((c) => c.reader === reader && c.rows === rows))

/** A metric of one reader at one size, over the runs. */
export const readStat = (result: ReadResult, reader: string, rows: number, metric: (cell: ReadCell) => number): Stat =>
  stat(cellsOf(result, reader, rows).map(metric))

export const cpuPerRow = (cell: ReadCell): number => cell.cpuMicrosPerCall / cell.rows
export const wallPerRow = (cell: ReadCell): number => cell.wallMicrosPerCall / cell.rows
export const bytesPerRow = (cell: ReadCell): number => cell.bytesPerRow

const fmt = (value: number): string =>
  value.toLocaleString("en-US", { maximumFractionDigits: value < 10 ? 2 : value < 100 ? 1 : 0 })

const spread = (s: Stat): string => `±${Math.round((s.spread * 100) / 2)}%`

const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  [
    `| ${header.join(" | ")} |`,
    `|${header.map((_, i) => (i === 0 ? ":--" : "--:")).join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`)
  ].join("\n")

const perRowTable = (result: ReadResult, metric: (cell: ReadCell) => number, scale = 1): string => {
  const sizes = result.sizes.filter((n) => n > 1)
  return table(
    ["rows", ...result.readers],
    sizes.map((rows) => {
      const reference = readStat(result, result.readers[0]!, rows, metric).median
      return [
        rows.toLocaleString("en-US"),
        ...result.readers.map((reader, i) => {
          const s = readStat(result, reader, rows, metric)
          const value = `${fmt(s.median / scale)} ${spread(s)}`
          return i === 0 ? value : `${value} (${(s.median / reference).toFixed(2)}×)`
        })
      ]
    })
  )
}

export interface ReadTarget {
  readonly target: string
  readonly measured: string
  readonly met: boolean | undefined
}

/** Issue 22's targets, each checked on this run's medians. */
export const readTargets = (result: ReadResult): Array<ReadTarget> => {
  const has = (reader: string) => result.readers.includes(reader)
  const cpu = (reader: string, rows: number) => readStat(result, reader, rows, cpuPerRow).median
  const out: Array<ReadTarget> = []
  if (has(FIND_MANY) && has(FLOOR)) {
    for (const rows of [1_000, 10_000, 50_000].filter((n) => result.sizes.includes(n))) {
      const r = cpu(FIND_MANY, rows) / cpu(FLOOR, rows)
      out.push({ target: `findMany CPU/row ≤ 1.15× Effect floor at ${rows.toLocaleString("en-US")} rows`, measured: `${r.toFixed(2)}×`, met: r <= 1.15 })
    }
  }
  if (has(FIND_MANY) && result.sizes.includes(10_000)) {
    const r = cpu(FIND_MANY, 10_000) / cpu(result.readers[0]!, 10_000)
    out.push({ target: "findMany CPU/row ≤ 1.30× raw pg at 10,000 rows", measured: `${r.toFixed(2)}×`, met: r <= 1.3 })
  }
  if (has(FIND_MANY)) {
    const worst = Math.max(...result.sizes.filter((n) => n >= 100).map((n) => readStat(result, FIND_MANY, n, bytesPerRow).median))
    out.push({ target: "findMany allocates ≤ 2 KB per row (worst size ≥ 100 rows)", measured: `${fmt(worst / 1024)} KB`, met: worst <= 2048 })
  }
  // The 1-row stream has a LIMIT, so it is one statement; the cursor's own
  // fixed cost is the 1-row read of the reader without a LIMIT.
  for (const [reader, what] of [[STREAM, "1-row stream, LIMIT 1"], [CURSOR, "1-row stream, no LIMIT: a cursor"]] as const) {
    if (!has(reader) || !result.sizes.includes(1)) continue
    const fixed = readStat(result, reader, 1, (c) => c.wallMicrosPerCall).median
    // What any Effect stream over the same read costs, in the same run.
    const floor = has(STREAM_FLOOR) ? ` (Stream floor ${fmt(readStat(result, STREAM_FLOOR, 1, (c) => c.wallMicrosPerCall).median / 1000)} ms)` : ""
    out.push({ target: `stream fixed cost ≤ 0.5 ms per call (wall, ${what})`, measured: `${fmt(fixed / 1000)} ms${floor}`, met: fixed <= 500 })
  }
  for (const reader of [STREAM, CURSOR]) {
    if (!has(reader) || !has(FIND_MANY) || !result.sizes.includes(10_000)) continue
    const r = cpu(reader, 10_000) / cpu(FIND_MANY, 10_000)
    out.push({ target: `${reader.slice("effect-dal ".length)} CPU/row ≤ 1.30× findMany at 10,000 rows`, measured: `${r.toFixed(2)}×`, met: r <= 1.3 })
  }
  return out
}

export const renderRead = (result: ReadResult): string => {
  const fixed = table(
    ["per call, 1 row", ...result.readers],
    [
      ["client CPU (µs)", ...result.readers.map((r) => { const s = readStat(result, r, 1, (c) => c.cpuMicrosPerCall); return `${fmt(s.median)} ${spread(s)}` })],
      ["wall (µs)", ...result.readers.map((r) => { const s = readStat(result, r, 1, (c) => c.wallMicrosPerCall); return `${fmt(s.median)} ${spread(s)}` })]
    ]
  )
  return [
    `## Read N rows (8 columns: bigint, text, text, integer, numeric, boolean, timestamptz, jsonb)`,
    "",
    `Each reader reads the first N rows by key, one read after another on one connection, in a worker process of its own; ` +
    `medians of ${result.runs.length} runs, ± half the run-to-run spread (max − min over the median). ` +
    `raw pg and the Effect floor parse int8 and numeric as numbers and map rows by hand; effect-dal decodes them into the model ` +
    `(numbers, a DateTime, a struct for the jsonb). Ratios are to raw pg. Allocation is estimated by V8's sampling heap profiler, garbage included.`,
    "",
    table(["target", "measured", "met"], readTargets(result).map((t) => [t.target, t.measured, t.met === undefined ? "not measured" : t.met ? "yes" : "**no**"])),
    "",
    `### Client CPU per row (µs)`,
    "",
    perRowTable(result, cpuPerRow),
    "",
    `### Wall time per row (µs)`,
    "",
    perRowTable(result, wallPerRow),
    "",
    `### Allocated per row (KB)`,
    "",
    perRowTable(result, bytesPerRow, 1024),
    "",
    `### Fixed cost of a call (1 row)`,
    "",
    fixed,
    ""
  ].join("\n")
}
