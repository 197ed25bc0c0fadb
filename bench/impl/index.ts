/**
 * The implementations the benchmark compares. The first is the reference
 * that every ratio is relative to. A new implementation is one module in
 * this directory exporting `make` (see ImplementationModule) plus one entry
 * here. Modules are imported only when used, so each worker process loads
 * its own implementation's libraries and no other's.
 */
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

export const findImplementation = (name: string): Registration => {
  const found = [...implementations, ...controls].find((implementation) => implementation.name === name)
  if (found === undefined) throw new Error(`unknown implementation ${JSON.stringify(name)}`)
  return found
}
