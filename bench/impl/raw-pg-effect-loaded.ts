/**
 * A control, run with `BENCH_CONTROLS=1`: exactly raw pg, in a process that
 * has also loaded what an effect-dal application loads (effect, its Schema
 * module, @effect/sql's Model and effect-dal), without using any of it.
 * Its peak RSS over raw pg's is what loading those modules costs, apart
 * from anything an implementation does.
 */
import "@effect/sql/Model"
import "effect/Schema"
import "effect-dal"
export { make } from "./raw-pg.js"
