/**
 * What compiling caller input throws, caught in one place (`compileThen` in
 * plan.ts) and turned into a typed error before anything is sent.
 */
import type * as ParseResult from "effect/ParseResult"
import type * as DatabaseError from "../DatabaseError.js"

/**
 * @internal
 * Thrown while checking or compiling caller input that does not make a
 * query of the table; `compileThen` turns it into an `InvalidQuery`.
 */
export class InvalidInput {
  constructor(
    readonly part: DatabaseError.QueryPart,
    readonly reason: string,
    readonly field?: unknown,
    /** The table the input was checked against, when it is not the operation's own (an included relation's). */
    readonly table?: string
  ) {}
}

/** @internal Thrown while compiling when a value fails the model's schema; becomes that ParseError. */
export class EncodeFailure {
  constructor(readonly error: ParseResult.ParseError) {}
}
