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
  { name: "@effect/sql", load: () => import("./effect-sql.js") },
  { name: "kysely", load: () => import("./kysely.js") },
  { name: "effect-dal", load: () => import("./effect-dal.js") }
]

export const findImplementation = (name: string): Registration => {
  const found = implementations.find((implementation) => implementation.name === name)
  if (found === undefined) throw new Error(`unknown implementation ${JSON.stringify(name)}`)
  return found
}
