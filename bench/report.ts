/**
 * Turns the measurements into `bench/results/latest.md` (also printed) and
 * `bench/results/geomean.svg`. Every ratio is relative to the first
 * implementation (raw pg) or the first bulk loader (COPY).
 */
import * as fs from "node:fs/promises"
import type { BulkResult } from "./bulk/measure.js"
import { barChart } from "./chart.js"
import type { OperationName } from "./impl/types.js"
import type { StreamResult } from "./stream.js"
import { geometricMean } from "./stats.js"

export interface Measurement {
  readonly opsPerSec: number
  readonly cpuMicrosPerOp: number
}

export interface Row {
  readonly op: OperationName
  readonly concurrency: number
  /** In the order of {@link Results.implementations}. */
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

export interface Results {
  readonly implementations: ReadonlyArray<string>
  readonly rows: ReadonlyArray<Row>
  /** Worker process RSS, in the order of {@link Results.implementations}. */
  readonly memory: ReadonlyArray<Memory>
  readonly bulk: ReadonlyArray<BulkResult>
  readonly stream: ReadonlyArray<StreamResult>
  readonly machine: Machine
}

// bench/results/ in the repository, also when this runs compiled, from dist/bench-build/bench/.
const RESULTS = new URL(import.meta.url.endsWith(".js") ? "../../../bench/results/" : "./results/", import.meta.url)

const number = (value: number): string =>
  value.toLocaleString("en-US", { maximumFractionDigits: value < 100 ? 1 : 0 })

const ratio = (value: number): string => `${value.toFixed(2)}×`

const table = (header: ReadonlyArray<string>, align: ReadonlyArray<"l" | "r">, rows: ReadonlyArray<ReadonlyArray<string>>) =>
  [
    `| ${header.join(" | ")} |`,
    `|${align.map((a) => (a === "r" ? "--:" : ":--")).join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`)
  ].join("\n")

/** Each implementation's ratio to the reference in every row, for one metric. */
const ratios = (results: Results, metric: (m: Measurement) => number): Array<Array<number>> =>
  results.rows.map((row) => row.measurements.map((m) => metric(m) / metric(row.measurements[0]!)))

/** Per implementation, the geometric mean of its ratios over all rows. */
const geometricMeans = (results: Results, cellRatios: ReadonlyArray<ReadonlyArray<number>>): Array<number> =>
  results.implementations.map((_, i) => geometricMean(cellRatios.map((row) => row[i]!)))

const perCellTable = (results: Results, metric: (m: Measurement) => number): string => {
  const cellRatios = ratios(results, metric)
  const body = results.rows.map((row, r) => [
    row.op,
    String(row.concurrency),
    ...row.measurements.map((m, i) => i === 0 ? number(metric(m)) : `${number(metric(m))} (${ratio(cellRatios[r]![i]!)})`)
  ])
  const means = geometricMeans(results, cellRatios)
  return table(
    ["operation", "concurrency", ...results.implementations],
    ["l", "r", ...results.implementations.map(() => "r" as const)],
    [...body, ["**geometric mean of ratios**", "", ...means.map((mean) => `**${ratio(mean)}**`)]]
  )
}

export const renderMarkdown = (results: Results): string => {
  const { bulk, implementations, machine, memory, stream } = results
  const reference = implementations[0]!
  const copy = bulk[0]!
  return [
    `# Benchmark: ${implementations.join(", ")}`,
    ``,
    `- Date: ${machine.date}`,
    `- Node ${machine.node}, ${machine.cpus}`,
    `- PostgreSQL ${machine.postgres} (${machine.server})`,
    `- ${machine.method}`,
    ``,
    `## Throughput (operations per second; ratio to ${reference}, higher is better)`,
    ``,
    perCellTable(results, (m) => m.opsPerSec),
    ``,
    `## Client CPU (µs of user + system CPU per operation; ratio to ${reference}, lower is better)`,
    ``,
    perCellTable(results, (m) => m.cpuMicrosPerOp),
    ``,
    `## Memory of each worker process (RSS of compiled JavaScript, including Node)`,
    ``,
    `"Connected" is the RSS once the implementation's modules are loaded and its pool is connected, before any cell; ` +
    `"growth" is the peak over that, what running the cells added.`,
    ``,
    table(
      ["implementation", "connected, MB", "peak, MB", `peak ratio to ${reference}`, "growth, MB", `growth ratio to ${reference}`],
      ["l", "r", "r", "r", "r", "r"],
      implementations.map((name, i) => {
        const { connectedMb, peakMb } = memory[i]!
        const growth = peakMb - connectedMb
        const referenceGrowth = memory[0]!.peakMb - memory[0]!.connectedMb
        return [name, number(connectedMb), number(peakMb), ratio(peakMb / memory[0]!.peakMb), number(growth), ratio(growth / referenceGrowth)]
      })
    ),
    ``,
    `## Bulk load (${number(copy.rows)} messages into an empty messages table without its foreign key)`,
    ``,
    table(
      ["loader", "ms", "rows/s", `ratio to ${copy.name}`],
      ["l", "r", "r", "r"],
      bulk.map((b) => [b.name, number(b.ms), number(b.rows / (b.ms / 1000)), ratio(b.ms / copy.ms)])
    ),
    ``,
    `## Streaming (${number(stream[0]!.rows)} messages through a server-side cursor, 1,000 rows per fetch)`,
    ``,
    `Heap growth is the heap still in use after a full GC, sampled twenty times during the stream, over the heap before the stream.`,
    ``,
    table(
      ["reader", "ms", "rows/s", "heap growth, MB"],
      ["l", "r", "r", "r"],
      stream.map((s) => [s.name, number(s.ms), number(s.rows / (s.ms / 1000)), number(s.heapGrowthMb)])
    ),
    ``
  ].join("\n")
}

const writeAtomically = async (name: string, content: string) => {
  const target = new URL(name, RESULTS)
  const temporary = new URL(`${name}.tmp`, RESULTS)
  await fs.writeFile(temporary, content)
  await fs.rename(temporary, target)
}

/** Prints the markdown and writes both files. */
export const report = async (results: Results): Promise<void> => {
  const markdown = renderMarkdown(results)
  console.log(markdown)
  const means = geometricMeans(results, ratios(results, (m) => m.opsPerSec))
  await fs.mkdir(RESULTS, { recursive: true })
  await writeAtomically("latest.md", markdown)
  await writeAtomically(
    "geomean.svg",
    barChart({
      title: `Throughput relative to ${results.implementations[0]!} (geometric mean over all cells)`,
      subtitle: `${results.machine.date.slice(0, 10)} · Node ${results.machine.node} · PostgreSQL ${results.machine.postgres}`,
      referenceLabel: `${results.implementations[0]!} = 1.0`,
      bars: results.implementations.map((label, i) => ({ label, value: means[i]! }))
    })
  )
}
