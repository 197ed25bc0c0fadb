/**
 * What the contract's topics share: the `test` they register with, the
 * fixture repositories, and the member rows most tests insert.
 */
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import type * as Database from "../../Database.js"
import * as Query from "../../Query.js"
import * as Repository from "../../Repository.js"
import type * as Table from "../../Table.js"
import { Grants, Members, Notes, Settings } from "../Fixtures.js"

/**
 * Registers one test; the suite's own runs its body in a rolled-back
 * transaction (`ContractSuite.sandbox`).
 *
 * @since 0.1.0
 * @category models
 * @internal
 */
export type Test = <A, E>(title: string, body: () => Effect.Effect<A, E, Database.Database>) => void

type MemberInsert = Table.Insert<typeof Members>

/**
 * The n-th member to insert, with `overrides` applied.
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const member = (n: number, overrides: Partial<MemberInsert> = {}): MemberInsert => ({
  email: `member${n}@example.com`,
  name: `Member ${n}`,
  age: n,
  score: n * 1.5,
  tags: [],
  profile: {},
  ...overrides
} as MemberInsert)

/**
 * The repositories of the fixture tables.
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const repositories = Effect.all({
  members: Repository.make(Members),
  notes: Repository.make(Notes),
  settings: Repository.make(Settings),
  grants: Repository.make(Grants)
})

/**
 * The query of every member.
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const members = Query.make(Members)

/**
 * The ids of rows, in their order.
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const ids = (rows: ReadonlyArray<{ readonly id: number }>) => rows.map((r) => r.id)

/**
 * The emails of rows, in their order.
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const emails = (rows: ReadonlyArray<{ readonly email: string }>) => rows.map((r) => r.email)

/**
 * Whether a failure is a `ParseError`.
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const isParseError = (u: unknown) => ParseResult.isParseError(u)
