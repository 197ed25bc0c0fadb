/**
 * A worker process: runs one implementation in one calling mode, cell by
 * cell, as the runner asks over IPC. One process per implementation and
 * mode keeps their JIT state, garbage, CPU accounting and memory apart.
 */
import * as fs from "node:fs/promises"
import { Session } from "node:inspector/promises"
import { performance } from "node:perf_hooks"
import * as v8 from "node:v8"
import { findImplementation } from "./impl/index.js"
import type { CallingMode, Implementation } from "./impl/types.js"
import { makeInputs } from "./inputs.js"
import type { CellRequest, CellResult, MemoryPeaks, ProfileKind, Reply, Request } from "./protocol.js"
import type { SeedSize } from "./seed.js"

if (process.send === undefined) throw new Error("bench/worker.ts is started by bench/run.ts, with an IPC channel")
const send = process.send.bind(process)

let state: {
  readonly implementation: Implementation
  readonly size: SeedSize
  readonly mode: CallingMode
} | undefined

const initialized = () => {
  if (state === undefined) throw new Error("the worker got a request before init")
  return state
}

/** Runs the cell's lead-in, then `around` the timed load, which it must start exactly once. */
const runCell = async (
  request: CellRequest,
  around: (timed: () => Promise<CellResult>) => Promise<CellResult> = (timed) => timed()
): Promise<CellResult> => {
  const { implementation, mode, size } = initialized()
  const inputs = makeInputs(request.op, size, request.seed)
  // The cell's load, from `start` for `millis`; returns the operations run.
  const runFrom = (start: number, millis: number) => {
    const end = start + millis
    return implementation.run(
      request.op,
      { inputs, concurrency: request.concurrency, more: () => performance.now() < end },
      mode
    )
  }
  // No forced GC before a cell: a full gc() throws away optimized code
  // (V8 deoptimizes code whose embedded objects died), and the JIT takes
  // seconds to recover, which a running service never goes through. The
  // lead-in runs the same load untimed instead, so the cell starts in the
  // steady state of this operation rather than the previous cell's.
  if (request.leadInMs > 0) await runFrom(performance.now(), request.leadInMs)
  return around(async () => {
    const cpu = process.cpuUsage()
    const start = performance.now()
    const ops = await runFrom(start, request.durationMs)
    const elapsedMs = performance.now() - start
    const used = process.cpuUsage(cpu)
    return { ops, elapsedMs, cpuMicros: used.user + used.system, maxRssKb: process.resourceUsage().maxRSS }
  })
}

/** Samples memory every 20 ms until `stop`, which returns the highest of each figure. */
const sampleMemory = (): { readonly stop: () => MemoryPeaks } => {
  const peaks = { rssKb: 0, heapTotalKb: 0, heapUsedKb: 0, externalKb: 0 }
  const spacesKb: Record<string, number> = {}
  const sample = () => {
    const usage = process.memoryUsage()
    peaks.rssKb = Math.max(peaks.rssKb, usage.rss / 1024)
    peaks.heapTotalKb = Math.max(peaks.heapTotalKb, usage.heapTotal / 1024)
    peaks.heapUsedKb = Math.max(peaks.heapUsedKb, usage.heapUsed / 1024)
    peaks.externalKb = Math.max(peaks.externalKb, usage.external / 1024)
    for (const space of v8.getHeapSpaceStatistics()) {
      spacesKb[space.space_name] = Math.max(spacesKb[space.space_name] ?? 0, space.space_size / 1024)
    }
  }
  sample()
  const timer = setInterval(sample, 20)
  return {
    stop: () => {
      clearInterval(timer)
      sample()
      return { ...peaks, spacesKb }
    }
  }
}

/** A profiled cell (see ProfileKind); resolves with the result, the files written and the memory peaks. */
const runProfile = async (
  request: CellRequest & { readonly kind: ProfileKind; readonly file: string }
): Promise<Extract<Reply, { type: "profiled" }>> => {
  const session = new Session()
  session.connect()
  const files: Array<string> = []
  const memory = sampleMemory()
  try {
    const result = await runCell(request, async (timed) => {
      switch (request.kind) {
        case "cpu": {
          await session.post("Profiler.enable")
          // 250 µs rather than the default 1 ms: an operation takes 50-200 µs of CPU.
          await session.post("Profiler.setSamplingInterval", { interval: 250 })
          await session.post("Profiler.start")
          const result = await timed()
          const { profile } = await session.post("Profiler.stop")
          await fs.writeFile(request.file, JSON.stringify(profile))
          files.push(request.file)
          return result
        }
        case "allocation": {
          // Garbage included: what the load allocates, not only what it keeps.
          await session.post("HeapProfiler.startSampling", {
            samplingInterval: 16_384,
            includeObjectsCollectedByMajorGC: true,
            includeObjectsCollectedByMinorGC: true
          })
          const result = await timed()
          const { profile } = await session.post("HeapProfiler.stopSampling")
          await fs.writeFile(request.file, JSON.stringify(profile))
          files.push(request.file)
          return result
        }
        case "heap-snapshot": {
          // A snapshot holds live objects only (V8 collects first): the load's
          // garbage, much of its peak RSS, is in the allocation profile instead.
          files.push(v8.writeHeapSnapshot(`${request.file}.before.heapsnapshot`))
          const midway = setTimeout(
            () => files.push(v8.writeHeapSnapshot(`${request.file}.under-load.heapsnapshot`)),
            request.durationMs / 2
          )
          try {
            return await timed()
          } finally {
            clearTimeout(midway)
          }
        }
      }
    })
    return { type: "profiled", result, files, memory: memory.stop() }
  } catch (error) {
    memory.stop()
    throw error
  } finally {
    session.disconnect()
  }
}

const handle = async (request: Request): Promise<Reply> => {
  switch (request.type) {
    case "init": {
      const { make } = await findImplementation(request.implementation).load()
      const implementation = await make(request.url)
      state = { implementation, size: request.size, mode: request.mode }
      return { type: "ready", rssKb: process.memoryUsage.rss() / 1024, sameInBothModes: implementation.sameInBothModes }
    }
    case "cell":
      return { type: "cell", result: await runCell(request) }
    case "profile":
      return await runProfile(request)
    case "close":
      await initialized().implementation.close()
      return { type: "closed", maxRssKb: process.resourceUsage().maxRSS }
  }
}

process.on("message", (request: Request) => {
  handle(request).then(
    (reply) =>
      send(reply, undefined, {}, () => {
        if (reply.type === "closed") process.disconnect()
      }),
    (error: unknown) => send({ type: "error", message: error instanceof Error ? error.stack ?? error.message : String(error) })
  )
})

// The runner closed the channel or died: nothing is left to do.
process.on("disconnect", () => process.exit())
