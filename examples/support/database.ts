/**
 * Where the examples get their PostgreSQL: `DATABASE_URL` when it is set,
 * otherwise an embedded server started for this run and stopped when the
 * program ends (also on Ctrl-C or SIGTERM, when `NodeRuntime.runMain`
 * interrupts it and the layers' scopes close). An application would use
 * `Database.layerConfig()` instead, which reads `DATABASE_URL` and the pool
 * settings from the environment.
 */
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { Database } from "effect-dal"
import { PostgresServer } from "effect-dal/testing"

/** `host:port/database` of a URL, without the credentials. */
const address = (url: string) => {
  const parsed = new URL(url)
  return `${parsed.hostname}:${parsed.port || "5432"}${parsed.pathname}`
}

/** A duration as seconds with one decimal: `1.7 s`. */
export const seconds = (duration: Duration.Duration) => `${Duration.toSeconds(duration).toFixed(1)} s`

/**
 * A `Database` layer (with `SqlClient` and `PgClient` on the same pool) on
 * `DATABASE_URL` or an embedded server.
 */
export const layer = (options: Omit<Database.Options, "url"> = {}) =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      // Finalizers run in reverse: this line is printed after the server has stopped.
      yield* Effect.addFinalizer(() => Console.log("shut down: pool closed, PostgreSQL released"))
      const [took, server] = yield* Effect.timed(PostgresServer.acquire())
      yield* Console.log(
        server.embedded
          ? `PostgreSQL: started an embedded server at ${address(server.url)} in ${seconds(took)}`
          : `PostgreSQL: DATABASE_URL (${address(server.url)})`
      )
      return Database.layer({ ...options, url: server.url })
    })
  )

/** Whether the module of `meta` is the program being run (`tsx examples/<name>.ts`). */
export const isMain = (meta: ImportMeta): boolean => {
  const entry = process.argv[1]
  if (entry === undefined) return false
  try {
    return fs.realpathSync(entry) === fs.realpathSync(fileURLToPath(meta.url))
  } catch {
    return false
  }
}
