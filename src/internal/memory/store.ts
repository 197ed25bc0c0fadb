/**
 * The in-memory database's storage and transactions.
 *
 * Committed tables live in `MemoryStore.committed`. A transaction gets its
 * own map of tables and copies a table the first time it writes it, so
 * readers outside the transaction keep seeing the committed tables until
 * COMMIT swaps the maps. Transactions (and writes outside transactions)
 * hold one lock, so they run one at a time: serializable by construction.
 * Savepoints and single statements undo their own writes from a log.
 */
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import * as DatabaseError from "../../DatabaseError.js"
import type * as Table from "../../Table.js"
import type { Codec } from "../codec.js"
import * as Rules from "../transaction.js"
import type { ServerDefaults, TransactionOptions } from "../transaction.js"
import { canonical, type Kind, StatementFailure, type StoredRow, Unsupported } from "./values.js"

// ---------------------------------------------------------------------------
// tables
// ---------------------------------------------------------------------------

/** @internal A unique key (the primary key first): its constraint, fields and columns. */
export interface Key {
  readonly constraint: string
  readonly fields: ReadonlyArray<string>
  readonly columns: ReadonlyArray<string>
}

/** @internal What the store knows about a table, from the first definition that used it. */
export class TableInfo {
  readonly keys: ReadonlyArray<Key>
  /** The primary key's fields, in order. */
  readonly keyFields: ReadonlyArray<string>
  private readonly kinds: Map<string, Kind>

  constructor(readonly table: Table.Table<any, any>, codec: Codec) {
    const columns = table.columns as Record<string, string>
    this.keyFields = table.primaryKeyFields as ReadonlyArray<string>
    this.keys = [
      { constraint: table.primaryKeyConstraint, fields: this.keyFields, columns: this.keyFields.map((f) => columns[f]!) },
      ...table.uniqueKeys.map((k) => ({
        constraint: k.constraint,
        fields: k.fields as ReadonlyArray<string>,
        columns: (k.fields as ReadonlyArray<string>).map((f) => columns[f]!)
      }))
    ]
    this.kinds = new Map((table.fields as ReadonlyArray<string>).map((f) => [f, kindOf(table, codec, f)]))
  }

  kind(field: string): Kind {
    return this.kinds.get(field) ?? "plain"
  }

  /** A stored value as it compares: numbers held as text (numeric, int8) compare as numbers. */
  comparable(field: string, value: unknown): unknown {
    if (value === null || value === undefined) return null
    if (typeof value === "string" && this.kinds.get(field) === "numeric-text") {
      const n = Number(value)
      return Number.isInteger(n) && !Number.isSafeInteger(n) && /^-?\d+$/.test(value.trim()) ? BigInt(value.trim()) : n
    }
    return value
  }

  /** The row's entry in a unique index; `undefined` when a key column is NULL (NULLs are distinct). */
  keyOf(row: StoredRow, key: Key): string | undefined {
    if (key.fields.length === 1) {
      const value = this.comparable(key.fields[0]!, row[key.fields[0]!])
      return value === null ? undefined : canonical(value)
    }
    const parts: Array<string> = []
    for (const field of key.fields) {
      const value = this.comparable(field, row[field])
      if (value === null) return undefined
      parts.push(canonical(value))
    }
    return JSON.stringify(parts)
  }

  /** The primary key's index entry of a row. */
  pkOf(row: StoredRow): string | undefined {
    return this.keyOf(row, this.keys[0]!)
  }

  /** The index entry of a primary key (its fields' values, in order); "" when a value is NULL, which no row has. */
  pkValue(values: ReadonlyArray<unknown>): string {
    const row: Record<string, unknown> = {}
    for (let i = 0; i < this.keyFields.length; i++) {
      const value = values[i]
      if (this.comparable(this.keyFields[i]!, value) === null) return ""
      row[this.keyFields[i]!] = value
    }
    return this.keyOf(row, this.keys[0]!) ?? ""
  }
}

const unwrap = (value: unknown) => (Option.isOption(value) ? Option.getOrUndefined(value) : value)

// The fake does not know column types, so it asks the field's schema how
// the column reads: a timestamp the model writes as ISO text is parsed
// (node-postgres reads it back as a Date), and numbers the model writes
// as text (numeric, int8) compare as numbers.
const kindOf = (table: Table.Table<any, any>, codec: Codec, field: string): Kind => {
  if (isUuidField(table, field)) return "uuid"
  if (Either.isRight(codec.decodeField(field, new Date(0)))) return "plain"
  const iso = codec.decodeField(field, "1970-01-01T00:00:00.000Z")
  if (Either.isRight(iso)) {
    const decoded = unwrap(iso.right)
    if (decoded instanceof Date || DateTime.isDateTime(decoded)) return "timestamp-text"
  }
  const one = codec.decodeField(field, "1")
  if (Either.isRight(one)) {
    const decoded = unwrap(one.right)
    if (typeof decoded === "number" || typeof decoded === "bigint") return "numeric-text"
  }
  return "plain"
}

// A uuid column: the field's encoded side is `Schema.UUID` (nullable or
// not), or the table generates it as a uuid. PostgreSQL stores a uuid in
// lowercase whatever case it was written in, so the fake must too.
const isUuidField = (table: Table.Table<any, any>, field: string): boolean => {
  if ((table.generated as Record<string, Table.Generator | undefined>)[field] === "uuid") return true
  const schema = (table.model as unknown as { readonly fields: Record<string, unknown> }).fields[field]
  return Schema.isSchema(schema) && isUuidAst(Schema.encodedBoundSchema(schema).ast)
}

const isUuidAst = (ast: SchemaAST.AST): boolean => {
  switch (ast._tag) {
    case "Refinement":
      return ast.annotations[SchemaAST.SchemaIdAnnotationId] === Schema.UUIDSchemaId || isUuidAst(ast.from)
    case "Suspend":
      return isUuidAst(ast.f())
    case "Union": {
      const values = ast.types.filter((member) => !(member._tag === "Literal" && member.literal === null))
      return values.length > 0 && values.every(isUuidAst)
    }
    default:
      return false
  }
}

/** @internal A table's rows by primary key, in insertion order, with its unique indexes. */
export class TableState {
  constructor(
    readonly info: TableInfo,
    readonly rows: Map<string, StoredRow> = new Map(),
    // One index per unique key after the primary key: entry -> primary key.
    readonly indexes: ReadonlyArray<Map<string, string>> = info.keys.slice(1).map(() => new Map())
  ) {}

  clone(): TableState {
    return new TableState(this.info, new Map(this.rows), this.indexes.map((index) => new Map(index)))
  }

  /** The first unique key (primary key first) on which `row` collides with another row than `self`. */
  conflict(row: StoredRow, self: string | undefined): Key | undefined {
    const keys = this.info.keys
    const pk = this.info.pkOf(row)
    if (pk !== undefined && pk !== self && this.rows.has(pk)) return keys[0]
    for (let i = 1; i < keys.length; i++) {
      const entry = this.info.keyOf(row, keys[i]!)
      if (entry === undefined) continue
      const owner = this.indexes[i - 1]!.get(entry)
      if (owner !== undefined && owner !== self) return keys[i]
    }
    return undefined
  }

  /** Sets (or with `undefined` removes) the row under a primary key, keeping the indexes right. */
  set(pk: string, row: StoredRow | undefined): void {
    const keys = this.info.keys
    const before = this.rows.get(pk)
    if (before !== undefined) {
      for (let i = 1; i < keys.length; i++) {
        const entry = this.info.keyOf(before, keys[i]!)
        if (entry !== undefined && this.indexes[i - 1]!.get(entry) === pk) this.indexes[i - 1]!.delete(entry)
      }
    }
    if (row === undefined) {
      this.rows.delete(pk)
      return
    }
    this.rows.set(pk, row)
    for (let i = 1; i < keys.length; i++) {
      const entry = this.info.keyOf(row, keys[i]!)
      if (entry !== undefined) this.indexes[i - 1]!.set(entry, pk)
    }
  }
}

interface UndoEntry {
  readonly state: TableState
  readonly pk: string
  readonly before: StoredRow | undefined
}

const undoAll = (log: ReadonlyArray<UndoEntry>) => {
  for (let i = log.length - 1; i >= 0; i--) {
    const entry = log[i]!
    entry.state.set(entry.pk, entry.before)
  }
}

// ---------------------------------------------------------------------------
// the store, transactions and sessions
// ---------------------------------------------------------------------------

/** @internal A notification waiting for COMMIT. */
export interface Notification {
  readonly channel: string
  readonly payload: string
}

/** @internal The whole in-memory database. */
export class MemoryStore {
  committed = new Map<string, TableState>()
  readonly infos = new Map<string, TableInfo>()
  readonly sequences = new Map<string, number>()
  /** Held by each transaction, and by each write outside a transaction. */
  readonly lock = Effect.unsafeMakeSemaphore(1)
  readonly defaults: ServerDefaults = { isolation: "read committed", readOnly: false, deferrable: false }

  constructor(readonly notifications: PubSub.PubSub<Notification>) {}

  info(table: Table.Table<any, any>, codec: Codec): TableInfo {
    let info = this.infos.get(table.qualifiedName)
    if (info === undefined) this.infos.set(table.qualifiedName, info = new TableInfo(table, codec))
    return info
  }

  /** The next value of a serial column. Like a sequence, it is never rolled back. */
  nextSerial(table: Table.Table<any, any>, field: string): number {
    const name = `${table.qualifiedName}.${field}`
    const next = (this.sequences.get(name) ?? 0) + 1
    this.sequences.set(name, next)
    return next
  }
}

/** @internal One transaction: its tables, the copies it owns, and its settings. */
export class Root {
  readonly tables: Map<string, TableState>
  readonly owned = new Set<TableState>()
  readonly top: Level
  savepoints = 0
  constructor(readonly settings: ServerDefaults, committed: Map<string, TableState>) {
    this.tables = new Map(committed)
    this.top = new Level(this, 0)
  }
}

/**
 * @internal
 * One level of a transaction: the top (depth 0) or a savepoint. Its lock
 * makes its statements and child transactions take turns, as on Postgres.
 */
export class Level {
  closed = false
  /** Set when a statement failed: PostgreSQL refuses every further statement until the level ends. */
  failedSqlState: string | undefined = undefined
  /** What to undo if this savepoint rolls back (unused at depth 0: the copies are simply dropped). */
  readonly undo: Array<UndoEntry> = []
  readonly notifications: Array<Notification> = []
  readonly lock = Effect.unsafeMakeSemaphore(1)
  constructor(readonly root: Root, readonly depth: number) {}
}

/** @internal The fiber's transaction on an in-memory database. */
export class Session {
  constructor(readonly store: MemoryStore, readonly level: Level) {}
}

/** @internal */
export const SessionTag = Context.GenericTag<Session>("effect-dal/internal/MemorySession")

/** @internal The fiber's session on this store, if it is inside one of its transactions. */
export const currentSession = (store: MemoryStore, context: Context.Context<never>): Session | undefined => {
  const session = Context.getOption(context, SessionTag)
  return session._tag === "Some" && session.value.store === store ? session.value : undefined
}

const provide = (store: MemoryStore, level: Level) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.mapInputContext(effect, (context: Context.Context<R>) => Context.add(context, SessionTag, new Session(store, level)))

// ---------------------------------------------------------------------------
// statements
// ---------------------------------------------------------------------------

/** @internal What a statement reads and writes: its transaction's tables, or the committed ones. */
export class Statement {
  readonly log: Array<UndoEntry> = []
  constructor(readonly store: MemoryStore, readonly root: Root | undefined) {}

  read(info: TableInfo): TableState {
    const tables = this.root === undefined ? this.store.committed : this.root.tables
    return tables.get(info.table.qualifiedName) ?? new TableState(info)
  }

  write(info: TableInfo): TableState {
    const name = info.table.qualifiedName
    if (this.root === undefined) {
      let state = this.store.committed.get(name)
      if (state === undefined) this.store.committed.set(name, state = new TableState(info))
      return state
    }
    let state = this.root.tables.get(name)
    if (state === undefined || !this.root.owned.has(state)) {
      // Copy on first write: readers outside the transaction keep the committed table.
      state = state === undefined ? new TableState(info) : state.clone()
      this.root.tables.set(name, state)
      this.root.owned.add(state)
    }
    return state
  }

  set(state: TableState, pk: string, row: StoredRow | undefined): void {
    this.log.push({ state, pk, before: state.rows.get(pk) })
    state.set(pk, row)
  }
}

// The statement whose (synchronous) body is running: a relation filter
// reads the related tables as that statement sees them.
let running: Statement | undefined = undefined

/** @internal The statement running now; a relation filter evaluated outside one is a bug. */
export const runningStatement = (): Statement => {
  if (running === undefined) throw new Error("a relation filter was evaluated outside a statement")
  return running
}

/** @internal How a statement runs. */
export interface StatementOptions {
  /** Writes wait for the lock outside a transaction, and fail in a READ ONLY one. */
  readonly write: boolean
  /** An error the server raised while binding parameters. */
  readonly bindError?: DatabaseError.DatabaseError | undefined
  /**
   * The live repository runs this work in a nested transaction (a
   * savepoint), so its failure does not abort the surrounding transaction.
   */
  readonly savepoint?: boolean | undefined
}

/**
 * @internal
 * Runs one statement: atomically (its writes are undone if it fails), on
 * the fiber's transaction or on the committed tables, with PostgreSQL's
 * rules for aborted and read-only transactions. The body is synchronous and
 * throws `StatementFailure` for errors the server would report.
 */
export const statement = <A>(
  store: MemoryStore,
  options: StatementOptions,
  body: (statement: Statement) => A
): Effect.Effect<A, DatabaseError.DatabaseError> =>
  Effect.withFiberRuntime((fiber) => {
    const session = currentSession(store, fiber.currentContext)
    if (session === undefined) {
      const run = Effect.suspend(() => execute(store, undefined, options, body))
      return options.write ? store.lock.withPermits(1)(run) : run
    }
    const level = session.level
    if (level.closed) {
      return Effect.dieMessage(
        "a statement ran on a transaction that has already ended (was a fiber forked out of Database.transaction?)"
      )
    }
    return level.lock.withPermits(1)(Effect.suspend(() => execute(store, level, options, body)))
  })

const execute = <A>(
  store: MemoryStore,
  level: Level | undefined,
  options: StatementOptions,
  body: (statement: Statement) => A
): Effect.Effect<A, DatabaseError.DatabaseError> => {
  // 25P02: after a failed statement, Postgres refuses everything until the level ends.
  if (level?.failedSqlState !== undefined) {
    return Effect.fail(new DatabaseError.TransactionAborted({ nested: level.depth > 0, failedSqlState: level.failedSqlState }))
  }
  const current = new Statement(store, level?.root)
  try {
    // Parameters are bound before the statement runs, and READ ONLY is
    // checked when it starts: both come before anything it would write.
    if (options.bindError !== undefined) throw new StatementFailure(options.bindError)
    if (options.write && level?.root.settings.readOnly === true) {
      throw new StatementFailure(new DatabaseError.ReadOnlyViolation({ sqlState: "25006" }))
    }
    const previous = running
    running = current
    let result: A
    try {
      result = body(current)
    } finally {
      running = previous
    }
    if (level !== undefined && level.depth > 0) level.undo.push(...current.log)
    return Effect.succeed(result)
  } catch (error) {
    undoAll(current.log)
    if (error instanceof StatementFailure) {
      if (level !== undefined && options.savepoint !== true) {
        level.failedSqlState ??= (error.error as { readonly sqlState?: string }).sqlState ?? "XX000"
      }
      return Effect.fail(error.error)
    }
    return Effect.die(error)
  }
}

/**
 * @internal
 * Something that is not a statement on a table but obeys the same rules
 * (NOTIFY, SET CONSTRAINTS): refused in an aborted transaction, and a
 * failure aborts it.
 */
export const command = <A>(
  store: MemoryStore,
  body: (level: Level | undefined) => A
): Effect.Effect<A, DatabaseError.DatabaseError> =>
  Effect.withFiberRuntime((fiber) => {
    const level = currentSession(store, fiber.currentContext)?.level
    const run = Effect.suspend(() => {
      if (level?.failedSqlState !== undefined) {
        return Effect.fail(
          new DatabaseError.TransactionAborted({ nested: level.depth > 0, failedSqlState: level.failedSqlState })
        )
      }
      try {
        return Effect.succeed(body(level))
      } catch (error) {
        if (error instanceof StatementFailure) {
          if (level !== undefined) level.failedSqlState ??= (error.error as { readonly sqlState?: string }).sqlState ?? "XX000"
          return Effect.fail(error.error)
        }
        return Effect.die(error)
      }
    })
    return level === undefined ? run : level.lock.withPermits(1)(run)
  })

// ---------------------------------------------------------------------------
// transactions
// ---------------------------------------------------------------------------

// Notifications of one transaction, in order, without repeats: Postgres
// delivers a channel-and-payload pair once per transaction.
const distinctNotifications = (list: ReadonlyArray<Notification>): Array<Notification> => {
  const seen = new Set<string>()
  return list.filter((n) => {
    const key = JSON.stringify([n.channel, n.payload])
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/**
 * @internal
 * `Database.transaction` on the in-memory database: a new transaction that
 * holds the store's lock, or a savepoint inside the fiber's transaction.
 * The rules are the live ones (session.ts): options of nested calls are
 * checked, only the outermost transaction retries, a body that swallowed a
 * failed statement ends in `TransactionAborted`, and interruption rolls back.
 */
export const transaction = <A, E, R>(
  store: MemoryStore,
  effect: Effect.Effect<A, E, R>,
  options: TransactionOptions = {}
): Effect.Effect<A, E | DatabaseError.DatabaseError, R> =>
  Effect.withFiberRuntime((fiber) => {
    const session = currentSession(store, fiber.currentContext)
    return session === undefined ? topLevel(store, effect, options) : nested(store, session.level, effect, options)
  })

const topLevel = <A, E, R>(
  store: MemoryStore,
  effect: Effect.Effect<A, E, R>,
  options: TransactionOptions
): Effect.Effect<A, E | DatabaseError.DatabaseError, R> => {
  // The backoff sleeps are outside the region of each attempt: interruptible as they are.
  return Rules.topLevel("memory", options, store.defaults, (effect) => effect, (settings, counted) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(restore(store.lock.take(1)), () => {
      counted()
      const root = new Root(settings, store.committed)
      const finish = (exit: Exit.Exit<A, E>): Effect.Effect<A, E | DatabaseError.DatabaseError> => {
        if (Exit.isFailure(exit)) return exit
        const failedSqlState = root.top.failedSqlState
        if (failedSqlState !== undefined) {
          return Effect.fail(new DatabaseError.TransactionAborted({ nested: false, failedSqlState }))
        }
        // Last interruption checkpoint: an interrupt that arrived after the
        // body ended rolls back instead of committing.
        return Effect.matchCauseEffect(restore(Effect.void), {
          onFailure: (cause) => Effect.failCause(cause),
          onSuccess: () => {
            store.committed = root.tables
            const sent = distinctNotifications(root.top.notifications)
            return Effect.zipRight(sent.length === 0 ? Effect.void : PubSub.publishAll(store.notifications, sent), exit)
          }
        })
      }
      return Effect.exit(restore(provide(store, root.top)(effect))).pipe(
        Effect.flatMap(finish),
        Effect.ensuring(Effect.zipRight(Effect.sync(() => (root.top.closed = true)), store.lock.release(1)))
      )
    })
  ))
}

const nested = <A, E, R>(
  store: MemoryStore,
  parent: Level,
  effect: Effect.Effect<A, E, R>,
  options: TransactionOptions
): Effect.Effect<A, E | DatabaseError.DatabaseError, R> => {
  const root = parent.root
  const body = Effect.uninterruptibleMask((restore) => {
    if (parent.closed) return Effect.dieMessage("a nested transaction started after its transaction ended")
    // SAVEPOINT in an aborted transaction fails like any statement (25P02).
    if (parent.failedSqlState !== undefined) {
      return Effect.fail(
        new DatabaseError.TransactionAborted({ nested: parent.depth > 0, failedSqlState: parent.failedSqlState })
      )
    }
    root.savepoints++
    const child = new Level(root, parent.depth + 1)
    const rollback = () => undoAll(child.undo)
    const finish = (exit: Exit.Exit<A, E>): Effect.Effect<A, E | DatabaseError.DatabaseError> => {
      child.closed = true
      if (Exit.isFailure(exit)) {
        rollback()
        return exit
      }
      if (child.failedSqlState !== undefined) {
        rollback()
        return Effect.fail(new DatabaseError.TransactionAborted({ nested: true, failedSqlState: child.failedSqlState }))
      }
      // RELEASE SAVEPOINT: the child's work becomes the parent's.
      if (parent.depth > 0) parent.undo.push(...child.undo)
      parent.notifications.push(...child.notifications)
      return exit
    }
    return Effect.flatMap(Effect.exit(restore(provide(store, child)(effect))), finish)
  })
  return Rules.nested("memory", root.settings, parent.depth + 1, options, (problem) => problem, () => parent.lock.withPermits(1)(body))
}

/** @internal A statement failure for a constraint or data error. */
export const fail = (error: DatabaseError.DatabaseError): never => {
  throw new StatementFailure(error)
}

/** @internal */
export const unsupported = (what: string): never => {
  throw new Unsupported(what)
}
