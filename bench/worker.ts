/**
 * A worker process: runs one implementation in one calling mode, cell by
 * cell, as the runner asks over IPC. One process per implementation and
 * mode keeps their JIT state, garbage, CPU accounting and memory apart.
 */
import { performance } from "node:perf_hooks"
import { findImplementation } from "./impl/index.js"
import type { CallingMode, Implementation } from "./impl/types.js"
import { makeInputs } from "./inputs.js"
import type { CellRequest, CellResult, Reply, Request } from "./protocol.js"
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

const runCell = async (request: CellRequest): Promise<CellResult> => {
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
  const cpu = process.cpuUsage()
  const start = performance.now()
  const ops = await runFrom(start, request.durationMs)
  const elapsedMs = performance.now() - start
  const used = process.cpuUsage(cpu)
  return { ops, elapsedMs, cpuMicros: used.user + used.system }
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
