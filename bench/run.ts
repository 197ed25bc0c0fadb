/**
 * `npm run bench`: seeds a database, runs every implementation in its own
 * worker process (one per calling mode for Effect-based ones) through
 * interleaved timed cells, then the bulk-load and stream comparisons, and
 * reports. `BENCH_SECONDS` sets the cell length (default 2), `BENCH_MODE`
 * the calling modes (program, promise or both, the default),
 * `BENCH_QUICK=1` makes everything tiny for an end-to-end check,
 * `BENCH_CONTROLS=1` adds the control implementations, `DATABASE_URL` picks
 * a server instead of the embedded one, and `BENCH_PROFILE` profiles one
 * implementation instead (see profile.ts).
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as PostgresServer from "../src/testing/PostgresServer.js"
import { measureBulk } from "./bulk/measure.js"
import { Child } from "./child.js"
import { CONCURRENCIES, type Config, fromEnv } from "./config.js"
import { withClient } from "./db.js"
import { baselines, controls, implementations as contenders, strategyColumns } from "./impl/index.js"
import { type CallingMode, POOL_SIZE } from "./impl/types.js"
import { seedOf } from "./inputs.js"
import { profile } from "./profile.js"
import { measureRead } from "./read/measure.js"
import { renderRead } from "./read/report.js"
import type { CellResult } from "./protocol.js"
import { report } from "./report.js"
import type { Machine, Memory, ModeResults, Row } from "./results.js"
import { benchSize, createSeededDatabase, resetWrites } from "./seed.js"
import { median } from "./stats.js"
import { measureStream } from "./stream.js"

const config = fromEnv()

// With BENCH_CONTROLS=1 the controls run too, after the contenders; with
// BENCH_BASELINE another checkout's effect-dal, first after raw pg (the
// reference stays first). BENCH_ONLY="postgres.js,effect-dal" keeps the
// named ones besides the reference and the baseline.
const only = (process.env["BENCH_ONLY"] ?? "").split(",").map((name) => name.trim()).filter((name) => name !== "")
// A name with a comma ("raw pg, Effect loaded") is named when each of its parts is.
const named = (name: string): boolean => name.split(",").every((part) => only.includes(part.trim()))
const implementations = [
  contenders[0]!,
  ...baselines,
  ...contenders.slice(1),
  ...(process.env["BENCH_INCLUDE_STRATEGIES"] === "1" ? strategyColumns : []),
  ...(process.env["BENCH_CONTROLS"] === "1" ? controls : [])
].filter((implementation, i) =>
  i === 0 || only.length === 0 || named(implementation.name) || baselines.includes(implementation)
)

const rate = (result: CellResult) => result.ops / (result.elapsedMs / 1000)

/**
 * A worker and the calling modes whose tables show it: one mode for an
 * Effect-based implementation, every mode for a promise-based one, which
 * runs the same code in both and so is measured once.
 */
interface Column {
  readonly child: Child
  readonly modes: ReadonlyArray<CallingMode>
}

const label = ({ child, modes }: Column) => (modes.length === config.modes.length ? child.name : `${child.name}, ${child.mode}`)

/** Starts the workers: one per implementation, and one more per further mode if it runs differently in each. */
const startColumns = async (url: string, columns: Array<Column>): Promise<void> => {
  const [first, ...rest] = config.modes
  for (const implementation of implementations) {
    const child = await Child.start(implementation.name, first!, url, benchSize)
    if (child.sameInBothModes) {
      columns.push({ child, modes: config.modes })
      continue
    }
    columns.push({ child, modes: [first!] })
    for (const mode of rest) columns.push({ child: await Child.start(implementation.name, mode, url, benchSize), modes: [mode] })
  }
}

/** Fails before any cell if the server cannot take every worker's full pool. */
const checkConnections = async (url: string, workers: number): Promise<void> => {
  // The runner's own, for resets, besides the pools.
  const needed = workers * POOL_SIZE + 2
  // Whatever is connected to other databases stays; the workers' first connections are already in this one.
  const { rows } = await withClient(url, (client) =>
    client.query<{ free: number }>(
      `select current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
         - (select count(*) from pg_stat_activity
            where backend_type = 'client backend' and datname is distinct from current_database())::int as free`
    ))
  const free = rows[0]!.free
  if (free < needed) {
    throw new Error(
      `${workers} workers with pools of ${POOL_SIZE} need about ${needed} connections, and the server has ${free} free: ` +
        `run one calling mode (BENCH_MODE=program or promise), leave out the controls, or raise max_connections`
    )
  }
}

/** Per calling mode, its tables' rows and memory, from the columns' samples. */
const byMode = (
  columns: ReadonlyArray<Column>,
  samples: ReadonlyMap<string, ReadonlyArray<CellResult>>,
  key: (op: string, concurrency: number, column: number) => string,
  memory: ReadonlyArray<Memory>
): Array<ModeResults> =>
  config.modes.map((mode) => {
    const shown = columns.flatMap((column, i) => (column.modes.includes(mode) ? [i] : []))
    const rows = config.operations.flatMap((op) =>
      CONCURRENCIES.map((concurrency): Row => ({
        op: op.name,
        concurrency,
        measurements: shown.map((i) => {
          const results = samples.get(key(op.name, concurrency, i)) ?? []
          return {
            opsPerSec: median(results.map(rate)),
            cpuMicrosPerOp: median(results.map((result) => result.cpuMicros / result.ops))
          }
        })
      }))
    )
    return {
      mode,
      implementations: shown.map((i) => columns[i]!.child.name),
      rows,
      memory: shown.map((i) => memory[i]!)
    }
  })

const measureCells = async (url: string): Promise<{ modes: Array<ModeResults>; sameInBothModes: Array<string> }> => {
  const columns: Array<Column> = []
  try {
    await startColumns(url, columns)
    await checkConnections(url, columns.length)

    console.error("warming up")
    for (const { child } of columns) {
      for (const op of config.operations) {
        for (const concurrency of CONCURRENCIES) {
          const warm = await child.cell({ op: op.name, concurrency, durationMs: config.warmupMs, leadInMs: 0, seed: seedOf("warm-up", op.name) })
          console.error(`warm-up  ${op.name} ×${concurrency}  ${child.name}: peak RSS so far ${Math.round(warm.maxRssKb / 1024)} MB`)
          if (op.writes) await resetWrites(url)
        }
      }
    }

    const samples = new Map<string, Array<CellResult>>()
    const key = (op: string, concurrency: number, column: number) => `${op}/${concurrency}/${column}`
    // Column indexes in the order they run in a repetition: rotated, so no one always goes first.
    const order = (repetition: number): Array<number> => columns.map((_, i) => (i + repetition) % columns.length)
    for (let repetition = 0; repetition < config.repetitions; repetition++) {
      for (const op of config.operations) {
        for (const concurrency of CONCURRENCIES) {
          // The same inputs for every implementation and mode in this cell.
          const seed = seedOf(op.name, concurrency, repetition)
          for (const i of order(repetition)) {
            const column = columns[i]!
            const result = await column.child.cell({ op: op.name, concurrency, durationMs: config.cellMs, leadInMs: config.leadInMs, seed })
            if (op.writes) await resetWrites(url)
            samples.set(key(op.name, concurrency, i), [...samples.get(key(op.name, concurrency, i)) ?? [], result])
            console.error(
              `repetition ${repetition + 1}/${config.repetitions}  ${op.name} ×${concurrency}  ${label(column)}: ` +
                `${Math.round(rate(result))} ops/s, peak RSS so far ${Math.round(result.maxRssKb / 1024)} MB`
            )
          }
        }
      }
    }

    const memory: Array<Memory> = []
    for (const { child } of columns) {
      memory.push({ connectedMb: child.startRssKb / 1024, peakMb: (await child.close()) / 1024 })
    }
    return {
      modes: byMode(columns, samples, key, memory),
      sameInBothModes: columns.flatMap(({ child }) => (child.sameInBothModes ? [child.name] : []))
    }
  } finally {
    for (const { child } of columns) child.kill()
  }
}

const describe = async (url: string, embedded: boolean, config: Config): Promise<Machine> => {
  const cpus = os.cpus()
  const postgres = await withClient(url, (client) => client.query<{ server_version: string }>("show server_version"))
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus.length} CPUs (${cpus[0]?.model.trim() ?? "unknown model"})`,
    postgres: postgres.rows[0]?.server_version ?? "unknown",
    server: embedded ? "embedded, fsync off" : "DATABASE_URL",
    method: `${config.quick ? "BENCH_QUICK: " : ""}cells of ${config.cellMs / 1000} s, median of ${config.repetitions} ` +
      `repetitions; pools of ${POOL_SIZE} connections; synchronous_commit off; each implementation in its own process`
  }
}

const main = async () => {
  const server = await PostgresServer.start()
  try {
    // BENCH_GROUP=read: the "read N rows" group alone, in a database of its own.
    if (config.group === "read") {
      const read = await measureRead(server.url, { runs: config.readRuns, rowsPerCell: config.readRowsPerCell })
      const markdown = renderRead(read)
      console.log(markdown)
      await fs.writeFile(new URL(import.meta.url.endsWith(".js") ? "../../../bench/results/read.md" : "./results/read.md", import.meta.url), markdown)
      return
    }
    console.error(`seeding (${server.embedded ? "embedded PostgreSQL" : "DATABASE_URL"})`)
    const database = await createSeededDatabase(server.url, benchSize)
    try {
      if (config.profile !== undefined) {
        await profile(database.url, config, config.profile)
        return
      }
      const { modes, sameInBothModes } = await measureCells(database.url)
      // BENCH_GROUP=cells: the operation cells only, into results/cells.md.
      if (config.group === "cells") {
        await report({ modes, sameInBothModes, bulk: [], stream: [], machine: await describe(database.url, server.embedded, config) })
        return
      }
      const bulk = await measureBulk(server.url, { rows: config.bulkRows, repetitions: config.bulkRepetitions })
      const stream = await measureStream(server.url, { rows: config.streamRows })
      const read = await measureRead(server.url, { runs: config.readRuns, rowsPerCell: config.readRowsPerCell })
      await report({ modes, sameInBothModes, bulk, stream, read, machine: await describe(database.url, server.embedded, config) })
    } finally {
      await database.drop()
    }
  } finally {
    await server.stop()
  }
}

await main()
