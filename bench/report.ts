/**
 * Turns the measurements into `bench/results/latest.md` (also printed) and
 * `bench/results/geomean.svg`: the targets, a summary, then one set of
 * tables per calling mode, the bulk loads and the stream. Every ratio is
 * relative to the first implementation (raw pg) or the first bulk loader
 * (COPY).
 */
import * as fs from "node:fs/promises"
import { barChart } from "./chart.js"
import type { CallingMode } from "./impl/types.js"
import {
  clientCpu,
  geometricMeans,
  growthMb,
  type Measurement,
  type ModeResults,
  ratios,
  type Results,
  throughput
} from "./results.js"
import { renderRead } from "./read/report.js"
import { evaluate, MEMORY_CONTROL, SUBJECT } from "./targets.js"

// bench/results/ in the repository, also when this runs compiled, from dist/bench-build/bench/.
const RESULTS = new URL(import.meta.url.endsWith(".js") ? "../../../bench/results/" : "./results/", import.meta.url)

/** What each calling mode is, for headings. */
const MODE_TITLES: { readonly [M in CallingMode]: string } = {
  program: "one Effect program per load",
  promise: "every operation its own `runtime.runPromise`"
}

const number = (value: number): string =>
  value.toLocaleString("en-US", { maximumFractionDigits: value < 100 ? 1 : 0 })

const ratio = (value: number): string => `${value.toFixed(2)}×`

const list = (names: ReadonlyArray<string>): string =>
  names.length <= 1 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`

const table = (header: ReadonlyArray<string>, align: ReadonlyArray<"l" | "r">, rows: ReadonlyArray<ReadonlyArray<string>>) =>
  [
    `| ${header.join(" | ")} |`,
    `|${align.map((a) => (a === "r" ? "--:" : ":--")).join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`)
  ].join("\n")

const perCellTable = (results: ModeResults, metric: (m: Measurement) => number): string => {
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

const memoryTable = (results: ModeResults): string => {
  const { implementations, memory } = results
  const reference = implementations[0]!
  const control = implementations.indexOf(MEMORY_CONTROL)
  return table(
    [
      "implementation",
      "connected, MB",
      "peak, MB",
      `peak ratio to ${reference}`,
      "growth, MB",
      `growth ratio to ${reference}`,
      ...(control < 0 ? [] : [`peak ratio to ${MEMORY_CONTROL}`])
    ],
    ["l", "r", "r", "r", "r", "r", ...(control < 0 ? [] : ["r" as const])],
    implementations.map((name, i) => {
      const own = memory[i]!
      return [
        name,
        number(own.connectedMb),
        number(own.peakMb),
        ratio(own.peakMb / memory[0]!.peakMb),
        number(growthMb(own)),
        ratio(growthMb(own) / growthMb(memory[0]!)),
        ...(control < 0 ? [] : [ratio(own.peakMb / memory[control]!.peakMb)])
      ]
    })
  )
}

const modeHeading = (mode: CallingMode): string => `Calling mode "${mode}": ${MODE_TITLES[mode]}`

/** Whether each target was met, a column per mode; nothing if the subject did not run. */
const targetsSection = (results: Results): Array<string> => {
  const evaluated = results.modes.map((mode) => ({ mode: mode.mode, outcomes: evaluate(mode) }))
  const first = evaluated[0]?.outcomes
  if (first === undefined) return []
  const verdict = (met: boolean | undefined) => (met === undefined ? "not measured" : met ? "met" : "**not met**")
  return [
    `## Targets (${SUBJECT}, each calling mode, figures from this run)`,
    ``,
    table(
      ["target", ...evaluated.map(({ mode }) => mode)],
      ["l", ...evaluated.map(() => "r" as const)],
      first.map((outcome, t) => [
        outcome.target,
        ...evaluated.map(({ outcomes }) => {
          const own = outcomes![t]!
          return `${own.measured}: ${verdict(own.met)}`
        })
      ])
    ),
    ``
  ]
}

/** Per implementation, its geometric means in each mode. */
const summarySection = (results: Results): Array<string> => {
  const names = [...new Set(results.modes.flatMap((mode) => mode.implementations))]
  const means = results.modes.map((mode) => ({
    mode,
    throughput: geometricMeans(mode, ratios(mode, throughput)),
    cpu: geometricMeans(mode, ratios(mode, clientCpu))
  }))
  const cell = (values: ReadonlyArray<number>, mode: ModeResults, name: string) => {
    const i = mode.implementations.indexOf(name)
    return i < 0 ? "" : ratio(values[i]!)
  }
  return [
    `## Summary (geometric mean of the ratios to ${results.modes[0]!.implementations[0]!}, each calling mode)`,
    ``,
    table(
      [
        "implementation",
        ...means.map(({ mode }) => `throughput, ${mode.mode}`),
        ...means.map(({ mode }) => `client CPU, ${mode.mode}`)
      ],
      ["l", ...means.flatMap(() => ["r", "r"] as const)],
      names.map((name) => [
        name,
        ...means.map(({ mode, throughput }) => cell(throughput, mode, name)),
        ...means.map(({ cpu, mode }) => cell(cpu, mode, name))
      ])
    ),
    ``
  ]
}

const modeSection = (results: ModeResults): Array<string> => {
  const reference = results.implementations[0]!
  return [
    `## ${modeHeading(results.mode)}`,
    ``,
    `### Throughput (operations per second; ratio to ${reference}, higher is better)`,
    ``,
    perCellTable(results, throughput),
    ``,
    `### Client CPU (µs of user + system CPU per operation; ratio to ${reference}, lower is better)`,
    ``,
    perCellTable(results, clientCpu),
    ``,
    `### Memory of each worker process (RSS of compiled JavaScript, including Node)`,
    ``,
    `"Connected" is the RSS once the implementation's modules are loaded and its pool is connected, before any cell; ` +
    `"growth" is the peak over that, what running the cells added.`,
    ``,
    memoryTable(results),
    ``
  ]
}

export const renderMarkdown = (results: Results): string => {
  const { bulk, machine, modes, sameInBothModes, stream } = results
  const names = [...new Set(modes.flatMap((mode) => mode.implementations))]
  const copy = bulk[0]
  const separate = names.filter((name) => !sameInBothModes.includes(name))
  return [
    `# Benchmark: ${names.join(", ")}`,
    ``,
    `- Date: ${machine.date}`,
    `- Node ${machine.node}, ${machine.cpus}`,
    `- PostgreSQL ${machine.postgres} (${machine.server})`,
    `- ${machine.method}`,
    `- Calling modes: ${modes.map(({ mode }) => `"${mode}" (${MODE_TITLES[mode]})`).join(", ")}. ` +
    (modes.length > 1 && sameInBothModes.length > 0
      ? `${list(sameInBothModes)} run the same code in both: one worker each, measured once, shown in both modes' tables; ` +
        `${list(separate)} run in a worker per mode.`
      : `Each implementation in its own worker process.`),
    ``,
    ...targetsSection(results),
    ...(modes.length > 1 ? summarySection(results) : []),
    ...modes.flatMap(modeSection),
    ...(copy === undefined ? [] : bulkSection(bulk, copy)),
    ...(stream.length === 0 ? [] : streamSection(stream)),
    ...(results.read === undefined ? [] : [renderRead(results.read)])
  ].join("\n")
}

const bulkSection = (bulk: Results["bulk"], copy: Results["bulk"][number]): Array<string> => [
  `## Bulk load (${number(copy.rows)} messages into an empty messages table without its foreign key)`,
  ``,
  table(
    ["loader", "ms", "rows/s", `ratio to ${copy.name}`],
    ["l", "r", "r", "r"],
    bulk.map((b) => [b.name, number(b.ms), number(b.rows / (b.ms / 1000)), ratio(b.ms / copy.ms)])
  ),
  ``
]

const streamSection = (stream: Results["stream"]): Array<string> => [
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
]

/** One bar per implementation, or one per mode for those that run differently in each. */
const bars = (results: Results) =>
  results.modes.flatMap((mode) => {
    const means = geometricMeans(mode, ratios(mode, throughput))
    return mode.implementations.flatMap((name, i) => {
      const shared = results.sameInBothModes.includes(name) || results.modes.length === 1
      if (shared && mode !== results.modes[0]) return []
      return [{ name, label: shared ? name : `${name}, ${mode.mode}`, value: means[i]! }]
    })
  }).sort((a, b) => {
    const order = (name: string) => results.modes[0]!.implementations.indexOf(name)
    return order(a.name) - order(b.name)
  })

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
  const reference = results.modes[0]!.implementations[0]!
  await fs.mkdir(RESULTS, { recursive: true })
  // The operation cells alone (BENCH_GROUP=cells) do not replace the full report.
  if (results.bulk.length === 0) {
    await writeAtomically("cells.md", markdown)
    return
  }
  await writeAtomically("latest.md", markdown)
  await writeAtomically(
    "geomean.svg",
    barChart({
      title: `Throughput relative to ${reference} (geometric mean over all cells)`,
      subtitle: `${results.machine.date.slice(0, 10)} · Node ${results.machine.node} · PostgreSQL ${results.machine.postgres}`,
      referenceLabel: `${reference} = 1.0`,
      bars: bars(results).map(({ label, value }) => ({ label, value }))
    })
  )
}
