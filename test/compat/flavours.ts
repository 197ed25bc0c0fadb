/**
 * The compatibility suite runs every specification twice: on
 * `@effect/sql-pg`'s own `PgClient.layer` and on effect-dal's
 * `Database.layer`, each on a fresh database. A behaviour that differs shows
 * as a failing pair, unless it is a difference effect-dal keeps on purpose:
 * those are written with {@link keptDifference} and listed, with their
 * reasons, in the README's "Compatibility" section.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { layer, type Vitest } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Database from "../../src/Database.js"
import * as TestDatabase from "../support/TestDatabase.js"

/** The two layers every specification runs on. */
export const flavours = ["PgClient.layer", "Database.layer"] as const

/** One of {@link flavours}. */
export type Flavour = typeof flavours[number]

/** The options both layers take under the same names. */
export interface ClientOptions {
  readonly transformQueryNames?: ((name: string) => string) | undefined
  readonly transformResultNames?: ((name: string) => string) | undefined
  readonly transformJson?: boolean | undefined
  readonly maxConnections?: number | undefined
}

/** The client layer of a flavour on a database. */
export const clientLayer = (
  flavour: Flavour,
  url: string,
  options: ClientOptions = {}
): Layer.Layer<SqlClient.SqlClient | PgClient.PgClient, unknown> =>
  flavour === "PgClient.layer"
    ? PgClient.layer({ url: Redacted.make(url), ...options })
    : Database.layer({ url, ...options })

/** The client layer of a flavour on a fresh database, with the database's URL. */
export const freshClient = (
  flavour: Flavour,
  options: ClientOptions = {}
): Layer.Layer<SqlClient.SqlClient | PgClient.PgClient | TestDatabase.TestUrl, unknown> =>
  Layer.unwrapEffect(Effect.map(TestDatabase.TestUrl, (url) => clientLayer(flavour, url, options))).pipe(
    Layer.provideMerge(TestDatabase.layerUrl)
  )

/**
 * The same specification, once per flavour, each in a block named
 * "`name` on `flavour`" with the flavour's layer. Clocks and sleeps are real
 * unless `testServices` is set.
 */
export const onBoth = <R, E>(
  name: string,
  make: (flavour: Flavour) => Layer.Layer<R, E>,
  specification: (it: Vitest.MethodsNonLive<R, boolean>, flavour: Flavour) => void,
  options: { readonly testServices?: boolean } = {}
): void => {
  for (const flavour of flavours) {
    layer(make(flavour), { timeout: "60 seconds", excludeTestServices: options.testServices !== true })(
      `${name} on ${flavour}`,
      (it) => specification(it as Vitest.MethodsNonLive<R, boolean>, flavour)
    )
  }
}

/**
 * A difference effect-dal keeps on purpose, named with its reason in the
 * README's "Compatibility" section: what each layer does, for the test to
 * check on its own flavour.
 */
export const keptDifference = <A>(
  flavour: Flavour,
  difference: { readonly reason: string; readonly pgClient: A; readonly database: A }
): A => flavour === "PgClient.layer" ? difference.pgClient : difference.database
