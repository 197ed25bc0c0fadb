/**
 * `Repository.increment`'s value, kept apart from Repository.ts so that the
 * repository core and Table.ts can use it without importing the public
 * module that imports them.
 */

/** @internal */
export const IncrementTypeId: unique symbol = Symbol.for("effect-dal/Repository/Increment")

/** @internal */
export type IncrementTypeId = typeof IncrementTypeId

/** @internal */
export interface Increment {
  readonly [IncrementTypeId]: IncrementTypeId
  readonly _tag: "Increment"
  readonly by: number
}

/** @internal */
export const increment = (by: number): Increment => ({ [IncrementTypeId]: IncrementTypeId, _tag: "Increment", by })

/** @internal */
export const isIncrement = (u: unknown): u is Increment =>
  typeof u === "object" && u !== null && (u as { [IncrementTypeId]?: unknown })[IncrementTypeId] === IncrementTypeId
