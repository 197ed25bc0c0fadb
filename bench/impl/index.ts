/**
 * The implementations the benchmark compares. The first is the reference
 * that every ratio is relative to. A new implementation is one module in
 * this directory exporting `make` (see ImplementationModule) plus one entry
 * here. Modules are imported only when used, so each worker process loads
 * its own implementation's libraries and no other's.
 */
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import type { Registration } from "./types.js"

export const implementations: ReadonlyArray<Registration> = [
  { name: "raw pg", load: () => import("./raw-pg.js") },
  { name: "postgres.js", load: () => import("./postgres-js.js") },
  { name: "@effect/sql", load: () => import("./effect-sql.js") },
  { name: "kysely", load: () => import("./kysely.js") },
  { name: "effect-dal", load: () => import("./effect-dal.js") }
]

/**
 * Controls, run as well when `BENCH_CONTROLS=1`: they are not contenders,
 * they separate the costs. "Effect floor" is raw pg with each round trip an
 * Effect; "raw pg, Effect loaded" is raw pg in a process that has loaded
 * effect-dal's modules. The smoke test checks them like the others.
 */
export const controls: ReadonlyArray<Registration> = [
  { name: "Effect floor", load: () => import("./effect-floor.js") },
  { name: "raw pg, Effect loaded", load: () => import("./raw-pg-effect-loaded.js") }
]

/**
 * `BENCH_BASELINE=<checkout>`: effect-dal as built in another checkout of
 * this repository (its `npm run build` and `tsc -p tsconfig.bench.json`
 * done), measured as one more column in the same run, for a before/after
 * comparison of a change side by side on one machine. The checkout's own
 * compiled `impl/effect-dal.js` runs, importing its own `dist`.
 */
export const baselines: ReadonlyArray<Registration> = process.env["BENCH_BASELINE"]
  ? [{
    name: "effect-dal (baseline)",
    load: () =>
      import(
        pathToFileURL(path.resolve(process.env["BENCH_BASELINE"]!, "dist/bench-build/bench/impl/effect-dal.js")).href
      )
  }]
  : []

/**
 * `BENCH_INCLUDE_STRATEGIES=1`: effect-dal once more with each include
 * strategy forced, as two more columns next to "effect-dal" (whose
 * strategy is the default, "auto"), so the strategies are compared side by
 * side in one run (eagerLoad is the operation that includes relations).
 */
export const strategyColumns: ReadonlyArray<Registration> = [
  { name: "effect-dal (per level)", load: () => import("./effect-dal-per-level.js") },
  { name: "effect-dal (single statement)", load: () => import("./effect-dal-single-statement.js") }
]

export const findImplementation = (name: string): Registration => {
  const found = [...implementations, ...strategyColumns, ...controls, ...baselines].find((implementation) => implementation.name === name)
  if (found === undefined) throw new Error(`unknown implementation ${JSON.stringify(name)}`)
  return found
}
