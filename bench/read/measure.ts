/**
 * The "read N rows" group: every reader reads the first 1, 100, 1,000,
 * 10,000 and 50,000 rows of `wide_rows`, each in a worker process of its own,
 * in several runs (the reader order rotated per run), so the report can
 * show the run-to-run spread next to the medians.
 */
import { fork } from "node:child_process"
import { withClient } from "../db.js"
import { createSeededDatabase, type SeedSize } from "../seed.js"
import { readers } from "./readers.js"
import { READ_ROWS, seedReadTable } from "./table.js"

export interface ReadRequest {
  readonly reader: string
  readonly url: string
  readonly sizes: ReadonlyArray<number>
  /** Rows per timed cell: a cell reads `n` rows this many times over. */
  readonly rowsPerCell: number
  readonly minCalls: number
  /** At most this many reads per cell (the 1-row cell would otherwise make 200,000). */
  readonly maxCalls: number
}

export interface ReadCell {
  readonly reader: string
  readonly rows: number
  readonly calls: number
  /** Client CPU (user + system) per read. */
  readonly cpuMicrosPerCall: number
  readonly wallMicrosPerCall: number
  /** Bytes allocated per row read, garbage included. */
  readonly bytesPerRow: number
}

export interface ReadResult {
  /** Sizes in rows; the first (1 row) shows the fixed cost of a call. */
  readonly sizes: ReadonlyArray<number>
  /** The first is the reference (raw pg). */
  readonly readers: ReadonlyArray<string>
  /** One array of cells per run. */
  readonly runs: ReadonlyArray<ReadonlyArray<ReadCell>>
}

export const READ_SIZES: ReadonlyArray<number> = [1, 100, 1_000, 10_000, READ_ROWS]

const EMPTY: SeedSize = { users: 0, messagesPerUser: 0, deletedPerUser: 0, accounts: 0 }

const workerPath = new URL(import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js", import.meta.url)

const runWorker = (request: ReadRequest): Promise<Array<ReadCell>> =>
  new Promise((resolve, reject) => {
    const child = fork(workerPath, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
    let settled = false
    child.once("message", (reply: { type: "done"; cells: Array<ReadCell> } | { type: "failed"; error: string }) => {
      settled = true
      if (reply.type === "done") resolve(reply.cells)
      else reject(new Error(`${request.reader}: ${reply.error}`))
    })
    child.once("exit", (code) => {
      if (!settled) reject(new Error(`${request.reader}: worker exited with ${code}`))
    })
    child.send(request)
  })

/**
 * Seeds a database of its own with `wide_rows` and runs the group:
 * `runs` rounds of every reader, each in a fresh worker.
 */
export const measureRead = async (
  serverUrl: string,
  options: { readonly runs: number; readonly rowsPerCell: number; readonly only?: ReadonlyArray<string> | undefined }
): Promise<ReadResult> => {
  const database = await createSeededDatabase(serverUrl, EMPTY)
  try {
    await withClient(database.url, (client) => seedReadTable(client))
    const names = readers.map((r) => r.name).filter((name) => options.only === undefined || options.only.includes(name))
    const runs: Array<Array<ReadCell>> = []
    for (let run = 0; run < options.runs; run++) {
      const cells: Array<ReadCell> = []
      for (let i = 0; i < names.length; i++) {
        const reader = names[(i + run) % names.length]!
        console.error(`read group, run ${run + 1}/${options.runs}: ${reader}`)
        cells.push(
          ...(await runWorker({ reader, url: database.url, sizes: READ_SIZES, rowsPerCell: options.rowsPerCell, minCalls: 3, maxCalls: options.rowsPerCell >= 100_000 ? 1_500 : 200 }))
        )
      }
      runs.push(cells)
    }
    return { sizes: READ_SIZES, readers: names, runs }
  } finally {
    await database.drop()
  }
}
