/**
 * `BENCH_PROFILE=<implementation> npm run bench`: instead of the comparison,
 * one implementation on one operation (`BENCH_OPERATION`, findById by
 * default) at one concurrency (`BENCH_CONCURRENCY`, 1 by default), in each
 * calling mode of `BENCH_MODE`, under the profilers. Each mode gets its own
 * worker, warmed up as in the benchmark (every operation at both
 * concurrencies), then three cells of `BENCH_SECONDS` (5 by default), each
 * after its lead-in: one under the CPU profiler, one under the sampling
 * heap profiler, and with `BENCH_HEAP_SNAPSHOT=1` one with heap snapshots
 * just before the load and in its middle. Only the timed load is profiled:
 * not loading, connecting or warming up. The files go to bench/profiles/,
 * and a summary of each is printed.
 */
import * as fs from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { Child } from "./child.js"
import { CONCURRENCIES, type Config, OPERATIONS, type ProfileConfig } from "./config.js"
import { findImplementation } from "./impl/index.js"
import { seedOf } from "./inputs.js"
import { summarizeFile } from "./profile-summary.js"
import type { MemoryPeaks, ProfileKind } from "./protocol.js"
import { benchSize, resetWrites } from "./seed.js"

// bench/profiles/ in the repository, also when this runs compiled, from dist/bench-build/bench/.
const PROFILES = fileURLToPath(
  new URL(import.meta.url.endsWith(".js") ? "../../../bench/profiles/" : "./profiles/", import.meta.url)
)

const EXTENSIONS: { readonly [K in ProfileKind]: string } = {
  cpu: ".cpuprofile",
  allocation: ".heapprofile",
  "heap-snapshot": ""
}

const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`

const describeMemory = (memory: MemoryPeaks): string =>
  [
    `peaks during the load: RSS ${mb(memory.rssKb)}, heap total ${mb(memory.heapTotalKb)}, heap used ${mb(memory.heapUsedKb)}, ` +
    `external ${mb(memory.externalKb)}`,
    `  V8 spaces at their largest: ${
      Object.entries(memory.spacesKb)
        .filter(([, kb]) => kb >= 1024)
        .map(([name, kb]) => `${name} ${mb(kb)}`)
        .join(", ")
    }`
  ].join("\n")

export const profile = async (url: string, config: Config, options: ProfileConfig): Promise<void> => {
  // An unknown name fails here, before any worker starts.
  findImplementation(options.implementation)
  await fs.mkdir(PROFILES, { recursive: true })
  const writes = OPERATIONS.find((op) => op.name === options.op)!.writes
  const kinds: ReadonlyArray<ProfileKind> = ["cpu", "allocation", ...(options.heapSnapshot ? ["heap-snapshot" as const] : [])]
  for (const mode of config.modes) {
    const child = await Child.start(options.implementation, mode, url, benchSize)
    try {
      console.error(`warming up ${options.implementation}, ${mode}`)
      for (const op of OPERATIONS) {
        for (const concurrency of CONCURRENCIES) {
          await child.cell({ op: op.name, concurrency, durationMs: config.warmupMs, leadInMs: 0, seed: seedOf("warm-up", op.name) })
          if (op.writes) await resetWrites(url)
        }
      }
      const stem = `${options.implementation.replace(/[^\w-]+/g, "-")}-${options.op}-c${options.concurrency}-${mode}`
      for (const kind of kinds) {
        const file = `${PROFILES}${stem}${EXTENSIONS[kind]}`
        const { files, memory, result } = await child.profile(
          {
            op: options.op,
            concurrency: options.concurrency,
            durationMs: config.cellMs,
            leadInMs: config.leadInMs,
            seed: seedOf(options.op, options.concurrency, 0)
          },
          kind,
          file
        )
        if (writes) await resetWrites(url)
        const seconds = result.elapsedMs / 1000
        console.log(
          [
            `## ${options.implementation}, ${options.op} ×${options.concurrency}, ${mode} mode, under the ${kind} profiler`,
            `${Math.round(result.ops / seconds)} ops/s, ${(result.cpuMicros / result.ops).toFixed(1)} µs of client CPU per operation ` +
            `(profiled: higher than in the benchmark)`,
            describeMemory(memory),
            ...files.map((written) => `wrote ${written}`),
            ...(kind === "heap-snapshot" ? [] : [await summarizeFile(file, result.ops)]),
            ``
          ].join("\n")
        )
      }
      await child.close()
      if (child.sameInBothModes) {
        if (config.modes.length > 1) console.error(`${options.implementation} runs the same code in every calling mode: profiled once`)
        return
      }
    } finally {
      child.kill()
    }
  }
}
