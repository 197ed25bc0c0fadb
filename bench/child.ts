/** The runner's side of a worker process: spawn, one request at a time, close or kill. */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { CallingMode } from "./impl/types.js"
import type { CellRequest, CellResult, MemoryPeaks, ProfileKind, Reply, Request } from "./protocol.js"
import type { SeedSize } from "./seed.js"

// Compiled (npm run bench), the worker runs as plain JavaScript, as users
// run their programs; from TypeScript sources (the smoke test), through tsx.
const compiled = import.meta.url.endsWith(".js")
const WORKER = fileURLToPath(new URL(compiled ? "./worker.js" : "./worker.ts", import.meta.url))
// Resolved here so the worker starts whatever the current directory is.
const LOADER = compiled ? [] : ["--import", import.meta.resolve("tsx")]

// BENCH_WORKER_FLAGS="--trace-gc-nvp": more Node flags for every worker, to look inside one (not for figures).
const WORKER_FLAGS = (process.env["BENCH_WORKER_FLAGS"] ?? "").split(" ").filter((flag) => flag !== "")

export class Child {
  private pending: { resolve: (reply: Reply) => void; reject: (error: Error) => void } | undefined
  private readonly exited: Promise<void>

  private connectedRssKb = 0
  private promiseBased = false

  private constructor(readonly name: string, readonly mode: CallingMode, private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.fail(new Error(`worker "${name}" exited (${signal ?? code})`))
        resolve()
      })
    })
    child.once("error", (error) => this.fail(error))
    child.on("message", (reply: Reply) => {
      const pending = this.pending
      this.pending = undefined
      pending?.resolve(reply)
    })
  }

  /** Starts a worker for the named implementation in a calling mode and waits until its pool is connected. */
  static async start(implementation: string, mode: CallingMode, url: string, size: SeedSize): Promise<Child> {
    const child = new Child(
      implementation,
      mode,
      spawn(process.execPath, [...LOADER, "--expose-gc", ...WORKER_FLAGS, WORKER], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
    )
    try {
      const ready = await child.request({ type: "init", implementation, url, size, mode }, "ready")
      child.connectedRssKb = ready.rssKb
      child.promiseBased = ready.sameInBothModes
    } catch (error) {
      child.kill()
      throw error
    }
    return child
  }

  /** RSS in KiB once the implementation was loaded and connected, before any cell. */
  get startRssKb(): number {
    return this.connectedRssKb
  }

  /** True if the implementation runs the same code in both calling modes, so this worker stands for both. */
  get sameInBothModes(): boolean {
    return this.promiseBased
  }

  async cell(cell: CellRequest): Promise<CellResult> {
    return (await this.request({ type: "cell", ...cell }, "cell")).result
  }

  /** A cell under a profiler (see ProfileKind), which writes to `file`. */
  async profile(
    cell: CellRequest,
    kind: ProfileKind,
    file: string
  ): Promise<{ readonly result: CellResult; readonly files: ReadonlyArray<string>; readonly memory: MemoryPeaks }> {
    const { files, memory, result } = await this.request({ type: "profile", ...cell, kind, file }, "profiled")
    return { result, files, memory }
  }

  /** Closes the implementation and waits for the process to exit; resolves with its peak RSS in KiB. */
  async close(): Promise<number> {
    const { maxRssKb } = await this.request({ type: "close" }, "closed")
    await this.exited
    return maxRssKb
  }

  /** Ends the process if it is still running (after a failure). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill()
  }

  private fail(error: Error): void {
    const pending = this.pending
    this.pending = undefined
    pending?.reject(error)
  }

  private request<T extends Reply["type"]>(request: Request, expected: T): Promise<Extract<Reply, { type: T }>> {
    if (this.pending !== undefined) return Promise.reject(new Error(`worker "${this.name}" is busy`))
    return new Promise((resolve, reject) => {
      this.pending = {
        resolve: (reply) => {
          if (reply.type === expected) resolve(reply as Extract<Reply, { type: T }>)
          else if (reply.type === "error") reject(new Error(`worker "${this.name}": ${reply.message}`))
          else reject(new Error(`worker "${this.name}" sent ${reply.type}, expected ${expected}`))
        },
        reject
      }
      this.child.send(request, (error) => {
        if (error) this.fail(error)
      })
    })
  }
}
