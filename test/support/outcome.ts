/**
 * What an operation gave, as plain data two databases' answers can be
 * compared by: its result (shown by the caller), its typed error with the
 * fields that tell errors apart, or a defect.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as DatabaseError from "../../src/DatabaseError.js"

export type Outcome = { readonly ok: unknown } | { readonly error: unknown } | { readonly defect: string }

export const outcomeOf = <A, E, R>(effect: Effect.Effect<A, E, R>, show: (a: A) => unknown) =>
  Effect.map(Effect.exit(effect), (exit): Outcome => {
    if (Exit.isSuccess(exit)) return { ok: show(exit.value) }
    const failure = Cause.failureOption(exit.cause)
    if (Option.isNone(failure)) return { defect: Cause.pretty(exit.cause) }
    const error = failure.value as unknown
    if (ParseResult.isParseError(error)) return { error: "ParseError" }
    if (error instanceof DatabaseError.InvalidQuery) {
      return { error: { tag: error._tag, part: error.part, field: error.field } }
    }
    if (error instanceof DatabaseError.QueryError) return { error: { tag: error._tag, sqlState: error.sqlState } }
    if (error instanceof DatabaseError.UniqueViolation) return { error: { tag: error._tag, constraint: error.constraint } }
    if (error instanceof DatabaseError.StaleVersion) {
      return { error: { tag: error._tag, expected: error.expectedVersion, actual: error.actualVersion } }
    }
    const tag = (error as { _tag?: unknown })._tag
    return typeof tag === "string" ? { error: tag } : { defect: `a failure that is not a typed error: ${String(error)}` }
  })
