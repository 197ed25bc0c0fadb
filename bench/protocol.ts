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

/**
 * What a profiled cell records, into `file`: `cpu`, a CPU profile of the
 * timed load (.cpuprofile); `allocation`, a sampling heap profile of it,
 * garbage included (.heapprofile); `heap-snapshot`, a heap snapshot just
 * before the load and one in the middle of it (`file` is the stem).
 */
export type ProfileKind = "cpu" | "allocation" | "heap-snapshot"

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
  | ({ readonly type: "profile"; readonly kind: ProfileKind; readonly file: string } & CellRequest)
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
  | {
    readonly type: "profiled"
    readonly result: CellResult
    /** The files written. */
    readonly files: ReadonlyArray<string>
    /** The highest of each figure over the timed load, sampled every 20 ms. */
    readonly memory: MemoryPeaks
  }
  | { readonly type: "closed"; readonly maxRssKb: number }
  | { readonly type: "error"; readonly message: string }

export interface CellResult {
  readonly ops: number
  readonly elapsedMs: number
  /** User plus system CPU time of the worker process during the cell. */
  readonly cpuMicros: number
  /** The process's peak RSS so far (KiB), read when the cell ended: which cell set a process's peak. */
  readonly maxRssKb: number
}

/** process.memoryUsage() figures, in KiB, plus V8's heap spaces by name. */
export interface MemoryPeaks {
  readonly rssKb: number
  readonly heapTotalKb: number
  readonly heapUsedKb: number
  readonly externalKb: number
  /** Per V8 heap space, its largest size (committed) during the load. */
  readonly spacesKb: Readonly<Record<string, number>>
}
