import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import type * as DatabaseError from "../../DatabaseError.js"
import type { Cursor } from "./cursor.js"
import { acquireClient, type DalClient, type DecodedResult, destroySocket, type Driver, type Statement } from "./driver.js"
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
  // One channel: the resource (connection and cursor) is acquired and
  // released by the channel itself, and each batch is written as it comes.
  // Stream.unwrapScoped would add a scope, a stream of streams and its
  // flatMap, which cost more than a short read itself.
  Stream.fromChannel(Channel.unwrap(Effect.withFiberRuntime<BatchChannel<A>>((fiber) => {
    const session = pinned ?? currentSession(driver, fiber.currentContext)
    if (session?.level !== undefined) return Effect.succeed(fetchChannel<A>(session, statement, batchSize))
    return Effect.succeed(cursorChannel<A>(driver, session?.client, statement, batchSize))
  })))

type BatchChannel<A> = Channel.Channel<Chunk.Chunk<A>, unknown, DatabaseError.DatabaseError, unknown, void, unknown>

/**
 * Opens a resource, writes the batches `pull` gives (until it gives none)
 * and closes the resource however the channel ends: done, failed or
 * interrupted. Opening is uninterruptible, as in Effect.acquireRelease.
 */
const batches = <R, A>(
  open: Effect.Effect<R, DatabaseError.DatabaseError>,
  pull: (resource: R) => Effect.Effect<Chunk.Chunk<A> | undefined, DatabaseError.DatabaseError>,
  close: (resource: R, exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void>
): BatchChannel<A> =>
  Channel.acquireUseRelease(open, (resource) => {
    const next = pull(resource)
    const loop: BatchChannel<A> = Channel.flatMap(
      Channel.fromEffect(next),
      (batch) => batch === undefined ? Channel.void : Channel.zipRight(Channel.write(batch), loop)
    )
    return loop
  }, close)

interface Opened {
  readonly client: DalClient
  readonly cursor: Cursor
}

// Outside a transaction: a connection of its own (unless the session's), and
// a cursor on it. Rows are decoded by the statement's `decode` as they come;
// a row that does not fit the model is a defect.
const cursorChannel = <A>(
  driver: Driver,
  sessionClient: DalClient | undefined,
  statement: Statement,
  batchSize: number
): BatchChannel<A> => {
  const openOn = (client: DalClient): Opened => ({ client, cursor: driver.openCursor(client, statement, batchSize) })
  const open: Effect.Effect<Opened, DatabaseError.DatabaseError> = sessionClient !== undefined
    ? Effect.sync(() => openOn(sessionClient))
    : Effect.flatMap(acquireClient(driver), (client) =>
      Effect.sync(() => {
        try {
          return openOn(client)
        } catch (defect) {
          driver.release(client)
          throw defect
        }
      }))
  return batches<Opened, A>(
    open,
    ({ client, cursor }) =>
      Effect.async<Chunk.Chunk<A> | undefined, DatabaseError.DatabaseError>((resume) => {
        driver.readCursor(client, cursor, statement.text, (error, rows, decodeFailure) => {
          if (error !== undefined) resume(Effect.fail(error))
          else if (decodeFailure !== undefined) resume(Effect.die(decodeFailure))
          else resume(Effect.succeed(rows.length === 0 ? undefined : Chunk.unsafeFromArray(rows as Array<A>)))
        })
      }),
    ({ client, cursor }) => {
      const closed = closeCursor(client, cursor)
      return sessionClient !== undefined ? closed : Effect.zipRight(closed, Effect.sync(() => driver.release(client)))
    }
  )
}

// Closing the portal ends the statement on the server. A cursor that cannot
// be closed in time leaves the session unusable, so it is destroyed.
const closeCursor = (client: DalClient, cursor: Cursor): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    let done = false
    cursor.close(() => {
      done = true
      if (timer !== undefined) clearTimeout(timer)
      resume(Effect.void)
    })
    if (done) return
    timer = setTimeout(() => {
      client.dalError ??= new Error("cursor did not close")
      destroySocket(client)
      resume(Effect.void)
    }, 5_000)
  })

let cursors = 0

const fetchChannel = <A>(
  session: Session,
  statement: Statement,
  batchSize: number
): BatchChannel<A> => {
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
  const next = Effect.flatMap(session.run(fetch), (result) => {
    const failure = (result as DecodedResult).decodeFailure
    if (failure !== undefined) return Effect.die(failure)
    return Effect.succeed(result.rows.length === 0 ? undefined : Chunk.unsafeFromArray(result.rows as Array<A>))
  })
  return batches<unknown, A>(
    session.run(declare),
    () => next,
    () =>
      // A cursor dies with its transaction; close it only while the
      // transaction is still usable.
      session.level!.closed || session.level!.failedSqlState !== undefined
        ? Effect.void
        : Effect.ignore(session.run({ text: `CLOSE ${name}`, values: [] }))
  )
}
