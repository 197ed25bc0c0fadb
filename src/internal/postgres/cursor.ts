import pg from "pg"
// pg's row builder: keyed or array rows, with the client's type parsers.
// @ts-expect-error: pg ships no declarations for pg/lib/result.js
import PgResult from "pg/lib/result.js"
// node-postgres's own text form of parameter values (no types published).
// @ts-expect-error: pg ships no declarations for pg/lib/utils.js
import pgUtils from "pg/lib/utils.js"
import { type FieldDescription, rowParsers, type TypeParsers } from "./parsers.js"

/** The protocol messages a portal needs, as pg's Connection writes them. */
interface PortalConnection {
  readonly stream: { cork?: () => void; uncork?: () => void; readonly writable: boolean }
  parse(message: { text: string; name: string; types: Array<number> }): void
  bind(message: { portal: string; statement: string; values: Array<unknown> }): void
  describe(message: { type: "P"; name: string }): void
  execute(message: { portal: string; rows: number }): void
  close(message: { type: "P"; name: string }): void
  /** Statements prepared on this session, by name (pg's Client fills it on ParseComplete). */
  readonly parsedStatements: Record<string, string>
  /** Statements whose Parse is on its way, by name. */
  readonly submittedNamedStatements: Record<string, string>
  flush(): void
  sync(): void
  once(event: "readyForQuery", listener: () => void): void
}

interface RowBuilder {
  _types: TypeParsers | undefined
  addFields(fields: Array<FieldDescription>): void
  parseRow(fields: Array<string | null>): unknown
}

/**
 * How a read ends: an error, or the rows of the next batch (none at the end).
 * `decodeFailure` is what the row decoder threw for a row of the batch;
 * `last` says that the portal has no more rows, so the next read would
 * give none.
 */
export type CursorRead = (error: Error | undefined, rows: Array<any>, decodeFailure?: unknown, last?: boolean) => void

// The portal's life. `fetching`: an Execute is out. `suspended`: the portal
// has more rows, nothing is out. `syncing`: the last rows came and Close and
// Sync are out. `closing`: the cursor was closed early, Close and Sync are
// out. `failed`: an error came, Sync is out (or the session is gone).
// `done`: ReadyForQuery came, the session is free.
type State = "queued" | "fetching" | "suspended" | "syncing" | "closing" | "failed" | "done"

/** @internal A server-side cursor, read a batch at a time. */
export interface Cursor {
  /** The prepared statement it reads, if the statement is prepared. */
  readonly name: string | undefined
  /** The next batch; an empty one at the end. */
  read(callback: CursorRead): void
  /** Ends the cursor; `callback` runs once its session is free again. */
  close(callback: () => void): void
}

/**
 * @internal
 * A server-side cursor: the extended protocol's portal, read `batchSize`
 * rows per Execute, submitted to a pg client as pg-cursor is, in fewer
 * round trips and turns of the event loop:
 *
 * - Parse, Bind, Describe and the first Execute leave in one write, so the
 *   first batch comes back in the round trip that opens the portal; a
 *   named (prepared) statement is parsed once per session;
 * - a batch is handed over as soon as its last row is in (PortalSuspended
 *   or CommandComplete), in the same turn of the event loop (pg-cursor
 *   waits for a setImmediate, and for the last batch also for the
 *   ReadyForQuery of its Sync);
 * - when a batch is handed over and the portal has more rows, the next
 *   Execute leaves at once: the server produces the next batch while the
 *   consumer works on this one (one batch at most waits ahead);
 * - Close and Sync after the last rows leave in one write, and the end of
 *   the rows is reported when their ReadyForQuery has come, so closing the
 *   cursor then sends nothing and waits for nothing;
 * - with a row decoder, each row is built from its values as it arrives
 *   (one reused array of parsed values), as the driver's own queries do.
 *
 * One read at a time; a read while a batch is out waits for it.
 */
export class PortalCursor implements Cursor {
  // Read by pg's Client: it gives `_result` its type parsers.
  readonly _result: RowBuilder
  private readonly values: Array<unknown>
  private connection: PortalConnection | undefined = undefined
  private state: State = "queued"
  private rows: Array<unknown> = []
  private rowValues: Array<unknown> | undefined = undefined
  private parsers: Array<(raw: string) => unknown> | undefined = undefined
  private decodeFailure: unknown = undefined
  private parseFailure: Error | undefined = undefined
  private error: Error | undefined = undefined
  /** A batch that came before anyone asked for it (the first one). */
  private ready: Array<unknown> | undefined = undefined
  private reader: CursorRead | undefined = undefined
  private closed: (() => void) | undefined = undefined
  private closeRequested = false

  constructor(
    readonly text: string,
    values: ReadonlyArray<unknown>,
    private readonly batchSize: number,
    rowMode: "array" | undefined,
    private readonly decode: ((values: ReadonlyArray<unknown>) => unknown) | undefined,
    /**
     * The prepared statement's name, if the statement is prepared (read by
     * pg's Client too, which records the name as parsed on ParseComplete).
     */
    readonly name: string | undefined = undefined
  ) {
    this.values = values.map(pgUtils.prepareValue)
    this._result = new PgResult(rowMode, undefined)
  }

  submit(connection: PortalConnection): void {
    this.connection = connection
    if (this.closeRequested) {
      // Closed before it was sent: only a ReadyForQuery is needed, so that
      // the client moves on.
      this.state = "closing"
      connection.sync()
      return
    }
    this.state = "fetching"
    // A prepared statement is parsed once per session, as pg's own queries
    // are: later cursors over it only bind it.
    const name = this.name
    const parsed = name !== undefined &&
      (connection.parsedStatements[name] !== undefined || connection.submittedNamedStatements[name] !== undefined)
    corked(connection, () => {
      if (!parsed) {
        connection.parse({ text: this.text, name: name ?? "", types: [] })
        if (name !== undefined) connection.submittedNamedStatements[name] = this.text
      }
      connection.bind({ portal: "", statement: name ?? "", values: this.values })
      connection.describe({ type: "P", name: "" })
      connection.execute({ portal: "", rows: this.batchSize })
      connection.flush()
    })
  }

  /** The next batch; an empty one at the end. */
  read(callback: CursorRead): void {
    const ready = this.ready
    if (ready !== undefined) {
      this.ready = undefined
      this.prefetch()
      return this.hand(callback, ready)
    }
    if (this.error !== undefined) return callback(this.error, [])
    switch (this.state) {
      case "suspended": {
        this.reader = callback
        return this.fetch()
      }
      case "done":
      case "closing":
        return callback(undefined, [])
      default:
        // fetching, syncing, queued: the batch (or the end) is on its way.
        this.reader = callback
    }
  }

  /** Ends the portal; `callback` runs once the session is free again. */
  close(callback: () => void): void {
    this.ready = undefined
    this.reader = undefined
    switch (this.state) {
      case "done":
        return callback()
      case "queued":
        this.closeRequested = true
        this.closed = callback
        return
      case "fetching":
      case "suspended": {
        // Behind an Execute that is out, they run once it has ended.
        this.state = "closing"
        this.closed = callback
        const connection = this.connection!
        return corked(connection, () => {
          connection.close({ type: "P", name: "" })
          connection.sync()
        })
      }
      default:
        // syncing, closing, failed: a ReadyForQuery is on its way.
        this.closed = callback
    }
  }

  handleRowDescription(message: { fields: Array<FieldDescription> }): void {
    const fields = message.fields
    if (this.decode === undefined) return this._result.addFields(fields)
    this.parsers = rowParsers(this._result._types, fields)
  }

  handleDataRow(message: { fields: Array<string | null> }): void {
    if (this.state !== "fetching" || this.parseFailure !== undefined || this.decodeFailure !== undefined) return
    const fields = message.fields
    const decode = this.decode
    try {
      if (decode === undefined) return void this.rows.push(this._result.parseRow(fields))
      const parsers = this.parsers!
      const values = this.rowValues ??= new Array(fields.length)
      for (let i = 0; i < fields.length; i++) {
        const raw = fields[i]
        values[i] = raw === null ? null : parsers[i]!(raw as string)
      }
    } catch (error) {
      // A value pg cannot parse fails the read.
      this.parseFailure = error as Error
      return
    }
    try {
      this.rows.push(decode(this.rowValues!))
    } catch (error) {
      this.decodeFailure = error
    }
  }

  handlePortalSuspended(): void {
    if (this.state !== "fetching") return
    this.state = "suspended"
    this.batchDone()
  }

  handleCommandComplete(): void {
    if (this.state !== "fetching") return
    this.endRows()
    this.batchDone()
  }

  // An empty statement has no rows: the same end as a complete one.
  handleEmptyQuery(): void {
    if (this.state === "fetching") this.endRows()
  }

  handleError(error: Error, connection: PortalConnection): void {
    const state = this.state
    if (state === "done") return
    this.error = error
    this.state = "failed"
    this.ready = undefined
    this.rows = []
    // pg's Client stops giving this cursor messages; the ReadyForQuery of
    // the Sync is watched on the connection. A Sync is out already unless
    // the error came while rows were being fetched. A session that is gone
    // (or ended by a FATAL error) sends none.
    const gone = !(error instanceof pg.DatabaseError) || error.severity === "FATAL" || !connection.stream.writable
    if (gone) {
      this.state = "done"
    } else {
      if (state === "fetching" || state === "suspended" || state === "queued") connection.sync()
      connection.once("readyForQuery", () => this.finish())
    }
    const reader = this.reader
    this.reader = undefined
    if (reader !== undefined) reader(error, [])
    if (gone) this.finishClose()
  }

  handleReadyForQuery(): void {
    this.finish()
  }

  private endRows(): void {
    this.state = "syncing"
    const connection = this.connection!
    corked(connection, () => {
      connection.close({ type: "P", name: "" })
      connection.sync()
    })
  }

  // The session is free: the end of the rows, unless they were handed over.
  private finish(): void {
    if (this.state === "done") return
    this.state = "done"
    const reader = this.reader
    this.reader = undefined
    if (reader !== undefined) {
      if (this.error !== undefined) reader(this.error, [])
      else reader(undefined, [])
    }
    this.finishClose()
  }

  private finishClose(): void {
    const closed = this.closed
    this.closed = undefined
    if (closed !== undefined) closed()
  }

  // The rows of the batch that just ended: to the reader waiting for them,
  // or kept for the next read. A batch with no rows at the end of the
  // portal is not one: the reader waits for the ReadyForQuery instead.
  private batchDone(): void {
    const rows = this.rows
    this.rows = []
    if (rows.length === 0 && this.state === "syncing" && this.parseFailure === undefined) return
    const reader = this.reader
    if (reader === undefined) {
      this.ready = rows
      return
    }
    this.reader = undefined
    this.prefetch()
    this.hand(reader, rows)
  }

  // A batch is being handed over and the portal has more: the next one is
  // asked for now, so that the server produces it while the consumer works
  // on this one. One batch at most waits ahead of the consumer (`ready`),
  // so memory stays at two batches however many rows there are.
  private prefetch(): void {
    if (this.state === "suspended" && this.parseFailure === undefined && this.decodeFailure === undefined) this.fetch()
  }

  private fetch(): void {
    this.state = "fetching"
    const connection = this.connection!
    corked(connection, () => {
      connection.execute({ portal: "", rows: this.batchSize })
      connection.flush()
    })
  }

  private hand(reader: CursorRead, rows: Array<unknown>): void {
    const parseFailure = this.parseFailure
    if (parseFailure !== undefined) {
      this.error = parseFailure
      return reader(parseFailure, [])
    }
    const decodeFailure = this.decodeFailure
    if (decodeFailure !== undefined) return reader(undefined, rows, decodeFailure)
    reader(undefined, rows, undefined, this.state === "syncing" || this.state === "done")
  }
}

// The messages of one step leave in one write.
const corked = (connection: PortalConnection, f: () => void): void => {
  const socket = connection.stream
  socket.cork?.()
  try {
    f()
  } finally {
    socket.uncork?.()
  }
}
