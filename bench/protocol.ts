/** Messages between the runner and a worker process, over the IPC channel. */
import type { CallingMode, OperationName } from "./impl/types.js"
import type { SeedSize } from "./seed.js"

export interface CellRequest {
  readonly op: OperationName
  readonly concurrency: number
  readonly durationMs: number
  /** Untimed run of the same load first, so the cell measures the steady state. */
  readonly leadInMs: number
  /** Seeds the input generator; the same in every implementation's cell. */
  readonly seed: number
}

export type Request =
  | {
    readonly type: "init"
    readonly implementation: string
    readonly url: string
    /** What the database holds, so the worker generates valid inputs. */
    readonly size: SeedSize
    /** How this worker's cells call the operations. */
    readonly mode: CallingMode
  }
  | ({ readonly type: "cell" } & CellRequest)
  | { readonly type: "close" }

export type Reply =
  | {
    readonly type: "ready"
    /** RSS with the implementation loaded and connected, before any cell. */
    readonly rssKb: number
    /** The implementation runs the same code in both calling modes (it is promise-based). */
    readonly sameInBothModes: boolean
  }
  | { readonly type: "cell"; readonly result: CellResult }
  | { readonly type: "closed"; readonly maxRssKb: number }
  | { readonly type: "error"; readonly message: string }

export interface CellResult {
  readonly ops: number
  readonly elapsedMs: number
  /** User plus system CPU time of the worker process during the cell. */
  readonly cpuMicros: number
}
