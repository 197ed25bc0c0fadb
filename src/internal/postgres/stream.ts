import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type Cursor from "pg-cursor"
import type * as Scope from "effect/Scope"
import type * as DatabaseError from "../../DatabaseError.js"
import { acquireClient, corked, type DalClient, type DecodedResult, destroySocket, type Driver, type Statement } from "./driver.js"
import { currentSession, type Session } from "./session.js"

/**
 * @internal
 * Rows of a query as a stream over a server-side cursor, `batchSize` rows per
 * round trip, so memory stays flat however many rows there are.
 *
 * Outside a transaction the stream holds a connection of its own (released
 * when the stream ends, fails or is interrupted). Inside a transaction it
 * uses DECLARE/FETCH on the transaction's connection, one statement per
 * batch, so the consumer can run other statements between batches. A
 * `pinned` session (a connection reserved with `sql.reserve`) is used
 * instead of the fiber's.
 */
export const stream = <A = any>(
  driver: Driver,
  statement: Statement,
  batchSize: number,
  pinned?: Session
): Stream.Stream<A, DatabaseError.DatabaseError> =>
  // One scope and one pull for the whole stream: each layer of Stream
  // combinators (unwrapScoped, map) costs a channel of its own per call,
  // which for short streams was most of the cost. Rows are decoded a batch
  // at a time, by the statement's `decode` when it has one.
  Stream.unwrapScoped(Effect.withFiberRuntime<Stream.Stream<A, DatabaseError.DatabaseError>, DatabaseError.DatabaseError, Scope.Scope>((fiber) => {
    const session = pinned ?? currentSession(driver, fiber.currentContext)
    if (session?.level !== undefined) return fetchStream<A>(session, statement, batchSize)
    if (session !== undefined) return cursorStream<A>(driver, session.client, statement, batchSize)
    return Effect.flatMap(
      Effect.acquireRelease(acquireClient(driver), (client) => Effect.sync(() => driver.release(client))),
      (client) => cursorStream<A>(driver, client, statement, batchSize)
    )
  }))

// A batch as a chunk, decoded; a row that does not fit the model is a defect.
const batchOf = <A>(rows: Array<any>, decode: Statement["decode"]): Chunk.Chunk<A> => {
  if (decode === undefined) return Chunk.unsafeFromArray(rows)
  const out = new Array<A>(rows.length)
  for (let i = 0; i < rows.length; i++) out[i] = decode(rows[i]) as A
  return Chunk.unsafeFromArray(out)
}

const cursorStream = <A>(
  driver: Driver,
  client: DalClient,
  statement: Statement,
  batchSize: number
): Effect.Effect<Stream.Stream<A, DatabaseError.DatabaseError>, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => driver.openCursor(client, statement)),
      (cursor) => closeCursor(client, cursor)
    ),
    (cursor) => {
      const decode = statement.decode
      const read = Effect.async<Chunk.Chunk<A>, Option.Option<DatabaseError.DatabaseError>>((resume) => {
        driver.readCursor(cursor, batchSize, statement.text, (error, rows) => {
          if (error) resume(Effect.fail(Option.some(error)))
          else if (rows.length === 0) resume(Effect.fail(Option.none()))
          else {
            let batch: Chunk.Chunk<A>
            try {
              batch = batchOf<A>(rows, decode)
            } catch (defect) {
              return resume(Effect.die(defect))
            }
            resume(Effect.succeed(batch))
          }
        })
      })
      return Stream.repeatEffectChunkOption(read)
    }
  )

// Closing the portal ends the statement on the server. A cursor that cannot
// be closed in time leaves the session unusable, so it is destroyed.
const closeCursor = (client: DalClient, cursor: Cursor): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => {
      client.dalError ??= new Error("cursor did not close")
      destroySocket(client)
      resume(Effect.void)
    }, 5_000)
    corked(cursor as unknown as { connection?: unknown }, () =>
      cursor.close(() => {
        clearTimeout(timer)
        resume(Effect.void)
      }))
  })

let cursors = 0

const fetchStream = <A>(
  session: Session,
  statement: Statement,
  batchSize: number
): Effect.Effect<Stream.Stream<A, DatabaseError.DatabaseError>, DatabaseError.DatabaseError, Scope.Scope> => {
  const name = `effect_dal_cursor_${++cursors}`
  const declare: Statement = {
    text: `DECLARE ${name} NO SCROLL CURSOR FOR ${statement.text}`,
    values: statement.values,
    ...(statement.rowMode === undefined ? {} : { rowMode: statement.rowMode })
  }
  // FETCH's rows are decoded by the driver as they arrive.
  const fetch: Statement = {
    text: `FETCH FORWARD ${Math.max(1, Math.floor(batchSize))} FROM ${name}`,
    values: [],
    ...(statement.rowMode === undefined ? {} : { rowMode: statement.rowMode }),
    ...(statement.decode === undefined ? {} : { decode: statement.decode })
  }
  return Effect.map(
    Effect.acquireRelease(
      session.run(declare),
      () =>
        // A cursor dies with its transaction; close it only while the
        // transaction is still usable.
        session.level!.closed || session.level!.failedSqlState !== undefined
          ? Effect.void
          : Effect.ignore(session.run({ text: `CLOSE ${name}`, values: [] }))
    ),
    () =>
      Stream.repeatEffectChunkOption(
        session.run(fetch).pipe(
          Effect.mapError(Option.some),
          Effect.flatMap((result) => {
            const failure = (result as DecodedResult).decodeFailure
            if (failure !== undefined) return Effect.die(failure)
            return result.rows.length === 0
              ? Effect.fail(Option.none())
              : Effect.succeed(Chunk.unsafeFromArray(result.rows as Array<A>))
          })
        )
      )
  )
}
