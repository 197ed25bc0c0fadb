/**
 * One reader of the "read N rows" group in a process of its own, so JIT
 * state, garbage and CPU accounting stay apart. Started by measure.ts with
 * a `ReadRequest` over IPC; replies with a `ReadCell` per size.
 */
import { Session } from "node:inspector/promises"
import { performance } from "node:perf_hooks"
import type { ReadCell, ReadRequest } from "./measure.js"
import { readers } from "./readers.js"

interface HeapNode {
  readonly selfSize: number
  readonly children: ReadonlyArray<HeapNode>
}

const total = (node: HeapNode): number => node.children.reduce((sum, child) => sum + total(child), node.selfSize)

const measure = async (request: ReadRequest): Promise<Array<ReadCell>> => {
  const registration = readers.find((r) => r.name === request.reader)
  if (registration === undefined) throw new Error(`unknown reader ${JSON.stringify(request.reader)}`)
  const reader = await registration.make(request.url)
  const session = new Session()
  session.connect()
  const cells: Array<ReadCell> = []
  try {
    for (const rows of request.sizes) {
      const calls = Math.min(request.maxCalls, Math.max(request.minCalls, Math.ceil(request.rowsPerCell / rows)))
      const readAll = async (times: number) => {
        for (let i = 0; i < times; i++) {
          const got = await reader.read(rows)
          if (got !== rows) throw new Error(`${request.reader} read ${got} rows, not ${rows}`)
        }
      }
      // Warm-up: the JIT and the prepared statements settle.
      await readAll(Math.max(2, Math.ceil(calls / 2)))
      const cpu = process.cpuUsage()
      const start = performance.now()
      await readAll(calls)
      const wallMs = performance.now() - start
      const used = process.cpuUsage(cpu)
      // Bytes allocated, garbage included, estimated by the sampling heap
      // profiler (V8 scales the samples), in a pass of its own: the
      // profiler slows the load.
      const allocationCalls = Math.max(2, Math.ceil(calls / 4))
      await session.post("HeapProfiler.startSampling", {
        samplingInterval: 4_096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true
      })
      await readAll(allocationCalls)
      const { profile } = await session.post("HeapProfiler.stopSampling")
      const bytes = total(profile.head as unknown as HeapNode)
      cells.push({
        reader: request.reader,
        rows,
        calls,
        cpuMicrosPerCall: (used.user + used.system) / calls,
        wallMicrosPerCall: (wallMs * 1000) / calls,
        bytesPerRow: bytes / (allocationCalls * rows)
      })
    }
  } finally {
    session.disconnect()
    await reader.close()
  }
  return cells
}

process.once("message", (request: ReadRequest) => {
  measure(request).then(
    (cells) => process.send!({ type: "done", cells }, () => process.exit(0)),
    (error: unknown) => process.send!({ type: "failed", error: String((error as Error)?.stack ?? error) }, () => process.exit(1))
  )
})
