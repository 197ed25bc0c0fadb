/**
 * The in-memory `Database` service: the same interface as the PostgreSQL
 * one, over a `MemoryStore`.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Database from "../../Database.js"
import type * as DatabaseError from "../../DatabaseError.js"
import { withSpan } from "../tracing.js"
import { makeRepository } from "../repository.js"
import { makeEngine } from "./engine.js"
import { command, currentSession, MemoryStore, type Notification } from "./store.js"
import { queryError, StatementFailure, Unsupported } from "./values.js"

const byteLength = (s: string) => Buffer.byteLength(s, "utf8")

// pg_notify's own checks (src/backend/commands/async.c, Async_Notify), all 22023.
const checkNotification = (channel: string, payload: string) => {
  const sql = "SELECT pg_notify($1, $2)"
  const invalid = (message: string) => new StatementFailure(queryError("22023", message, sql))
  if (channel.includes("\u0000") || payload.includes("\u0000")) {
    throw new StatementFailure(queryError("22021", "invalid byte sequence for encoding \"UTF8\": 0x00", sql))
  }
  if (channel.length === 0) throw invalid("channel name cannot be empty")
  if (byteLength(channel) >= 64) throw invalid("channel name too long")
  if (byteLength(payload) >= 8000) throw invalid("payload string too long")
}

/**
 * @internal
 * Builds the in-memory service (without its type id, which `Database.ts`
 * adds) and inserts the seed rows through the repositories' insert path.
 */
export const makeMemory = (
  seeds: ReadonlyArray<Database.Seed>
): Effect.Effect<Omit<Database.Service, Database.TypeId>> =>
  Effect.gen(function*() {
    const store = new MemoryStore(yield* PubSub.unbounded<Notification>())

    const subscribe = (channel: string) =>
      Effect.map(
        PubSub.subscribe(store.notifications),
        (queue): Stream.Stream<string, DatabaseError.DatabaseError> =>
          Stream.fromQueue(queue).pipe(
            Stream.filter((n) => n.channel === channel),
            Stream.map((n) => n.payload)
          )
      )

    const engine = makeEngine(store)
    const service: Omit<Database.Service, Database.TypeId> = {
      engine,
      transaction: engine.transaction,
      withConnection: (effect) => effect,
      ping: Effect.succeed(Duration.zero).pipe(withSpan("Database.ping")),
      stats: Effect.succeed({ total: 0, idle: 0, active: 0, waiting: 0, max: 1 }),
      listen: (channel) => Stream.unwrapScoped(subscribe(channel)),
      subscribe: (channel): Effect.Effect<Stream.Stream<string, DatabaseError.DatabaseError>, never, Scope.Scope> =>
        subscribe(channel),
      // Like pg_notify: at once outside a transaction, at COMMIT inside one
      // (once per distinct channel and payload), never after a rollback.
      notify: (channel, payload) =>
        command(store, (level) => {
          checkNotification(channel, payload)
          return level
        }).pipe(
          Effect.flatMap((level) =>
            level === undefined
              ? Effect.asVoid(PubSub.publish(store.notifications, { channel, payload }))
              : Effect.sync(() => {
                level.notifications.push({ channel, payload })
              })
          ),
          Effect.asVoid,
          withSpan("Database.notify")
        ),
      // The fake checks every constraint at once, as Postgres does for
      // constraints that are NOT DEFERRABLE (its default, and all a table
      // definition can describe): SET CONSTRAINTS ALL DEFERRED changes
      // nothing, and naming a known constraint fails as Postgres does.
      deferConstraints: (constraints = "all") =>
        Effect.withFiberRuntime<void, DatabaseError.DatabaseError>((fiber) => {
          if (currentSession(store, fiber.currentContext) === undefined) {
            return Effect.dieMessage("Database.deferConstraints must run inside Database.transaction")
          }
          return command(store, () => {
            if (constraints === "all") return
            const sql = `SET CONSTRAINTS ${constraints.join(", ")} DEFERRED`
            for (const name of constraints) {
              const known = [...store.infos.values()].some((info) => info.keys.some((k) => k.constraint === name))
              if (!known) throw new Unsupported(`SET CONSTRAINTS for constraint "${name}", which no table definition declares`)
              throw new StatementFailure(queryError("42809", `constraint "${name}" is not deferrable`, sql))
            }
          })
        })
    }

    for (const seed of seeds) {
      yield* makeRepository(seed.table, {}, engine).insertManyDiscard(seed.rows as ReadonlyArray<never>).pipe(
        Effect.catchAll((error) =>
          Effect.dieMessage(`Database.layerMemory: the seed rows of table "${seed.table.name}" were refused: ${error.message}`)
        )
      )
    }
    return service
  })
