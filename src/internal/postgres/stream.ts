import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Stream from "effect/Stream"
import type * as DatabaseError from "../../DatabaseError.js"
import type { Cursor } from "./cursor.js"
import { type DalClient, type DecodedResult, destroySocket, type Driver, type Statement } from "./driver.js"
import { unwrapChannel } from "../unwrap.js"
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
  unwrapChannel(Effect.withFiberRuntime<BatchChannel<A>>((fiber) => {
    const session = pinned ?? currentSession(driver, fiber.currentContext)
    if (session?.level !== undefined) return Effect.succeed(fetchChannel<A>(session, statement, batchSize))
    return Effect.succeed(cursorChannel<A>(driver, session?.client, statement, batchSize))
  }))

type BatchChannel<A> = Channel.Channel<Chunk.Chunk<A>, unknown, DatabaseError.DatabaseError, unknown, unknown, unknown>

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

/** A cursor's stream while it runs: its connection and cursor once it has them. */
interface CursorState {
  client: DalClient | undefined
  cursor: Cursor | undefined
  /** Whether the last batch read was the cursor's last one. */
  last: boolean
}

// Outside a transaction: a connection of its own (unless the session's), and
// a cursor on it. Rows are decoded by the statement's `decode` as they come;
// a row that does not fit the model is a defect.
//
// The connection, the cursor and its first batch come in one wait (checking
// out a client, opening the cursor, which sends its first Execute at once,
// and reading), and a batch that the cursor says is its last ends the
// channel without another read: a short stream is one suspension of the
// fiber and a few channel steps. The connection and the cursor are the
// state's as soon as they exist, and the channel's finalizer closes the
// cursor and releases the connection however it ends: done, failed or
// interrupted (while the client is awaited, the wait is abandoned).
const cursorChannel = <A>(
  driver: Driver,
  sessionClient: DalClient | undefined,
  statement: Statement,
  batchSize: number
): BatchChannel<A> =>
  Channel.suspend(() => {
    const state: CursorState = { client: undefined, cursor: undefined, last: false }
    type Resume = (effect: Effect.Effect<Chunk.Chunk<A> | undefined, DatabaseError.DatabaseError>) => void
    const read = (client: DalClient, cursor: Cursor, resume: Resume, stale?: () => boolean) =>
      driver.readCursor(client, cursor, statement.text, (error, rows, decodeFailure, last, stalePlan) => {
        state.last = last === true
        if (error !== undefined) {
          if (stalePlan === true && stale !== undefined && stale()) return
          resume(Effect.fail(error))
        } else if (decodeFailure !== undefined) resume(Effect.die(decodeFailure))
        else resume(Effect.succeed(rows.length === 0 ? undefined : Chunk.unsafeFromArray(rows as Array<A>)))
      })
    const first = Effect.async<Chunk.Chunk<A> | undefined, DatabaseError.DatabaseError>((resume) => {
      let abandon = () => {}
      // A pooled session whose prepared statement went stale (a migration
      // changed the table under it) ran nothing: the session is dropped and
      // the cursor opens on another, as runPooled sends a statement again.
      let resends = driver.options.maxConnections
      const retry = sessionClient !== undefined ? undefined : () => {
        if (resends-- <= 0) return false
        const { client, cursor } = state
        cursor!.close(() => {
          state.client = state.cursor = undefined
          driver.release(client!)
          acquire()
        })
        return true
      }
      const start = (client: DalClient) => {
        state.client = client
        let cursor: Cursor
        try {
          cursor = state.cursor = driver.openCursor(client, statement, batchSize, sessionClient === undefined)
        } catch (defect) {
          return resume(Effect.die(defect))
        }
        read(client, cursor, resume, retry)
      }
      const acquire = () => {
        abandon = driver.acquire((error, client) => error !== undefined ? resume(Effect.fail(error)) : start(client!))
      }
      if (sessionClient !== undefined) start(sessionClient)
      else acquire()
      return Effect.sync(() => abandon())
    })
    const next = Effect.async<Chunk.Chunk<A> | undefined, DatabaseError.DatabaseError>((resume) =>
      read(state.client!, state.cursor!, resume)
    )
    const loop = (pull: typeof next): BatchChannel<A> =>
      Channel.flatMap(
        Channel.fromEffect(pull),
        (batch) =>
          batch === undefined ? Channel.void : state.last ? Channel.write(batch) : Channel.zipRight(Channel.write(batch), rest)
      )
    const rest = loop(next)
    return Channel.ensuringWith(loop(first), () => {
      const { client, cursor } = state
      if (client === undefined) return Effect.void
      if (cursor === undefined) return sessionClient !== undefined ? Effect.void : Effect.sync(() => driver.release(client))
      const closed = closeCursor(client, cursor)
      return sessionClient !== undefined ? closed : Effect.zipRight(closed, Effect.sync(() => driver.release(client)))
    })
  })

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
