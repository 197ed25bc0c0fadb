/**
 * Summaries of the files `BENCH_PROFILE` writes: the functions with the most
 * self time in a .cpuprofile, the sites that allocate the most in a
 * .heapprofile, and both grouped by package. Also runnable on its own:
 * `npx tsx bench/profile-summary.ts bench/profiles/<file>`.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  /** Zero-based. */
  readonly lineNumber: number
}

/** The Chrome DevTools .cpuprofile format. */
interface CpuProfile {
  readonly nodes: ReadonlyArray<
    { readonly id: number; readonly callFrame: CallFrame; readonly children?: ReadonlyArray<number> }
  >
  readonly samples: ReadonlyArray<number>
  /** Microseconds since the previous sample. */
  readonly timeDeltas: ReadonlyArray<number>
}

/** The Chrome DevTools .heapprofile format (sampling heap profiler). */
interface HeapNode {
  readonly callFrame: CallFrame
  /** Bytes allocated by the function itself, scaled from the samples to an estimate of all its allocations. */
  readonly selfSize: number
  readonly children: ReadonlyArray<HeapNode>
}

/** Where a function comes from: a package, effect-dal's build, the benchmark, Node, or V8's own entries. */
export const packageOf = ({ functionName, url }: CallFrame): string => {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)"
  if (url.startsWith("node:")) return "node"
  const modules = url.lastIndexOf("/node_modules/")
  if (modules >= 0) {
    const [scope, name] = url.slice(modules + "/node_modules/".length).split("/")
    return scope!.startsWith("@") ? `${scope}/${name}` : scope!
  }
  if (url.includes("/dist/bench-build/src/") || url.includes("/dist/esm/") || url.includes("/src/")) return "effect-dal"
  if (url.includes("/bench/")) return "bench"
  return url
}

const frameName = (frame: CallFrame): string => {
  const file = frame.url === "" ? "" : ` ${frame.url.replace(/^.*\/node_modules\//, "").replace(/^file:\/\/.*\/(dist|bench|src)\//, "$1/")}:${frame.lineNumber + 1}`
  return `${frame.functionName || "(anonymous)"}${file}`
}

const percent = (part: number, whole: number): string => `${((100 * part) / whole).toFixed(1).padStart(5)} %`

/** Adds `amount` under `key`. */
const add = (totals: Map<string, number>, key: string, amount: number) => totals.set(key, (totals.get(key) ?? 0) + amount)

const top = (totals: ReadonlyMap<string, number>, count: number): Array<[string, number]> =>
  [...totals].sort((a, b) => b[1] - a[1]).slice(0, count)

/** The ids of the nodes under a call into node:inspector: the profiler stopping itself, not the load. */
const profilerNodes = (profile: CpuProfile): Set<number> => {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const excluded = new Set<number>()
  const exclude = (id: number) => {
    excluded.add(id)
    for (const child of byId.get(id)?.children ?? []) exclude(child)
  }
  for (const node of profile.nodes) if (node.callFrame.url === "node:inspector") exclude(node.id)
  return excluded
}

/**
 * The functions with the most self time, and self time by package, as
 * percentages of the time not idle; with `ops`, that time per operation.
 */
export const summarizeCpuProfile = (profile: CpuProfile, ops?: number, count = 25): string => {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
  const excluded = profilerNodes(profile)
  const byFunction = new Map<string, number>()
  const byPackage = new Map<string, number>()
  let busy = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = frames.get(profile.samples[i]!)!
    const micros = profile.timeDeltas[i] ?? 0
    if (frame.functionName === "(idle)" || excluded.has(profile.samples[i]!)) continue
    busy += micros
    add(byFunction, frameName(frame), micros)
    add(byPackage, packageOf(frame), micros)
  }
  // Native code is mostly socket writes, whose samples on a loaded machine
  // also count the time the thread waited to be scheduled again.
  const javaScript = busy - (byPackage.get("(native)") ?? 0)
  const perOp = ops === undefined || ops === 0
    ? []
    : [`per operation: ${(busy / ops).toFixed(1)} µs not idle, ${(javaScript / ops).toFixed(1)} µs of it outside native code`]
  return [
    ...perOp,
    `self time, of ${(busy / 1000).toFixed(0)} ms not idle (the profiler's own stop left out):`,
    ...top(byPackage, 12).map(([name, micros]) => `  ${percent(micros, busy)}  ${name}`),
    `top ${count} functions by self time:`,
    ...top(byFunction, count).map(([name, micros]) => `  ${percent(micros, busy)}  ${name}`)
  ].join("\n")
}

/** The sites that allocate the most, and allocation by package; with `ops`, bytes per operation. */
export const summarizeHeapProfile = (profile: { readonly head: HeapNode }, ops?: number, count = 20): string => {
  const byFunction = new Map<string, number>()
  const byPackage = new Map<string, number>()
  let total = 0
  const visit = (node: HeapNode) => {
    if (node.selfSize > 0) {
      total += node.selfSize
      add(byFunction, frameName(node.callFrame), node.selfSize)
      add(byPackage, packageOf(node.callFrame), node.selfSize)
    }
    node.children.forEach(visit)
  }
  visit(profile.head)
  const perOp = ops === undefined || ops === 0 ? "" : `, about ${Math.round(total / ops).toLocaleString("en-US")} bytes per operation`
  return [
    `allocated (sampled estimate, garbage included): ${(total / 1024 / 1024).toFixed(1)} MB${perOp}`,
    ...top(byPackage, 12).map(([name, bytes]) => `  ${percent(bytes, total)}  ${name}`),
    `top ${count} allocation sites:`,
    ...top(byFunction, count).map(([name, bytes]) => `  ${percent(bytes, total)}  ${name}`)
  ].join("\n")
}

/** The summary of a .cpuprofile or .heapprofile file. */
export const summarizeFile = async (file: string, ops?: number): Promise<string> => {
  const profile = JSON.parse(await fs.readFile(file, "utf8"))
  return file.endsWith(".heapprofile") ? summarizeHeapProfile(profile, ops) : summarizeCpuProfile(profile, ops)
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const file of process.argv.slice(2)) console.log(`${file}\n${await summarizeFile(file)}\n`)
}
