/**
 * `npm run bench`: seeds a database, runs every implementation in its own
 * worker process through interleaved timed cells, then the bulk-load
 * comparison, and reports. `BENCH_SECONDS` sets the cell length (default 2),
 * `BENCH_QUICK=1` makes everything tiny for an end-to-end check,
 * `BENCH_CONTROLS=1` adds the control implementations, and
 * `DATABASE_URL` picks a server instead of the embedded one.
 */
import * as os from "node:os"
import * as PostgresServer from "../src/testing/PostgresServer.js"
import { measureBulk } from "./bulk/measure.js"
import { measureStream } from "./stream.js"
import { Child } from "./child.js"
import { CONCURRENCIES, type Config, fromEnv, OPERATIONS } from "./config.js"
import { withClient } from "./db.js"
import { controls, implementations as contenders } from "./impl/index.js"
import { POOL_SIZE } from "./impl/types.js"
import { seedOf } from "./inputs.js"
import type { CellResult } from "./protocol.js"
import { type Machine, type Memory, report, type Row } from "./report.js"
import { benchSize, createSeededDatabase, resetWrites } from "./seed.js"
import { median } from "./stats.js"

const config = fromEnv()

// With BENCH_CONTROLS=1 the controls run too, after the contenders.
const implementations = process.env["BENCH_CONTROLS"] === "1" ? [...contenders, ...controls] : contenders

const rate = (result: CellResult) => result.ops / (result.elapsedMs / 1000)

/** Implementation indexes in the order they run in a repetition: rotated, so no one always goes first. */
const order = (repetition: number): Array<number> =>
  implementations.map((_, i) => (i + repetition) % implementations.length)

const measureCells = async (url: string): Promise<{ rows: Array<Row>; memory: Array<Memory> }> => {
  const children: Array<Child> = []
  try {
    for (const implementation of implementations) {
      children.push(await Child.start(implementation.name, url, benchSize))
    }

    console.error("warming up")
    for (const child of children) {
      for (const op of OPERATIONS) {
        for (const concurrency of CONCURRENCIES) {
          await child.cell({ op: op.name, concurrency, durationMs: config.warmupMs, leadInMs: 0, seed: seedOf("warm-up", op.name) })
          if (op.writes) await resetWrites(url)
        }
      }
    }

    const samples = new Map<string, Array<CellResult>>()
    const key = (op: string, concurrency: number, implementation: number) => `${op}/${concurrency}/${implementation}`
    for (let repetition = 0; repetition < config.repetitions; repetition++) {
      for (const op of OPERATIONS) {
        for (const concurrency of CONCURRENCIES) {
          // The same inputs for every implementation in this cell.
          const seed = seedOf(op.name, concurrency, repetition)
          for (const i of order(repetition)) {
            const child = children[i]!
            const result = await child.cell({ op: op.name, concurrency, durationMs: config.cellMs, leadInMs: config.leadInMs, seed })
            if (op.writes) await resetWrites(url)
            samples.set(key(op.name, concurrency, i), [...samples.get(key(op.name, concurrency, i)) ?? [], result])
            console.error(
              `repetition ${repetition + 1}/${config.repetitions}  ${op.name} ×${concurrency}  ${child.name}: ` +
                `${Math.round(rate(result))} ops/s`
            )
          }
        }
      }
    }

    const memory: Array<Memory> = []
    for (const child of children) {
      memory.push({ connectedMb: child.startRssKb / 1024, peakMb: (await child.close()) / 1024 })
    }

    const rows = OPERATIONS.flatMap((op) =>
      CONCURRENCIES.map((concurrency): Row => ({
        op: op.name,
        concurrency,
        measurements: implementations.map((_, i) => {
          const results = samples.get(key(op.name, concurrency, i)) ?? []
          return {
            opsPerSec: median(results.map(rate)),
            cpuMicrosPerOp: median(results.map((result) => result.cpuMicros / result.ops))
          }
        })
      }))
    )
    return { rows, memory }
  } finally {
    for (const child of children) child.kill()
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
    console.error(`seeding (${server.embedded ? "embedded PostgreSQL" : "DATABASE_URL"})`)
    const database = await createSeededDatabase(server.url, benchSize)
    try {
      const { memory, rows } = await measureCells(database.url)
      const bulk = await measureBulk(server.url, { rows: config.bulkRows, repetitions: config.bulkRepetitions })
      const stream = await measureStream(server.url, { rows: config.streamRows })
      await report({
        implementations: implementations.map((implementation) => implementation.name),
        rows,
        memory,
        bulk,
        stream,
        machine: await describe(database.url, server.embedded, config)
      })
    } finally {
      await database.drop()
    }
  } finally {
    await server.stop()
  }
}

await main()
