/**
 * Every error effect-dal can fail with, as tagged values. Callers recover
 * with `Effect.catchTag("UniqueViolation", ...)`. Messages name tables,
 * constraints and columns, never parameter values: the Postgres `detail`
 * (which can hold values) is kept in its own field.
 *
 * @since 0.1.0
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

const ServerFields = {
  /** The five-character SQLSTATE Postgres reported. */
  sqlState: Schema.String,
  /** Postgres's `detail`; may contain row values, so it is never in `message`. */
  detail: Schema.optional(Schema.String),
  /** The schema of the table involved, when Postgres reports it. */
  schema: Schema.optional(Schema.String)
}

const where = (table: string | undefined, schema?: string) =>
  table ? ` on table "${schema && schema !== "public" ? `${schema}.` : ""}${table}"` : ""

/**
 * A unique or primary-key constraint was violated (SQLSTATE 23505).
 *
 * @since 0.1.0
 * @category errors
 */
export class UniqueViolation extends Schema.TaggedError<UniqueViolation>()("UniqueViolation", {
  ...ServerFields,
  constraint: Schema.String,
  table: Schema.String,
  /** The key's columns, from Postgres's detail or the table definition; empty when unknown. */
  columns: Schema.Array(Schema.String)
}) {
  override get message() {
    const columns = this.columns.length > 0 ? ` (${this.columns.join(", ")})` : ""
    return `unique constraint "${this.constraint}"${columns}${where(this.table, this.schema)} violated`
  }
}

/**
 * A foreign-key constraint was violated (SQLSTATE 23503).
 *
 * @since 0.1.0
 * @category errors
 */
export class ForeignKeyViolation extends Schema.TaggedError<ForeignKeyViolation>()("ForeignKeyViolation", {
  ...ServerFields,
  constraint: Schema.String,
  table: Schema.String,
  /** The other table of the foreign key, when Postgres's detail names it. */
  referencedTable: Schema.optional(Schema.String)
}) {
  override get message() {
    const other = this.referencedTable ? ` (references "${this.referencedTable}")` : ""
    return `foreign key constraint "${this.constraint}"${where(this.table, this.schema)} violated${other}`
  }
}

/**
 * A check constraint was violated (SQLSTATE 23514).
 *
 * @since 0.1.0
 * @category errors
 */
export class CheckViolation extends Schema.TaggedError<CheckViolation>()("CheckViolation", {
  ...ServerFields,
  constraint: Schema.String,
  table: Schema.String
}) {
  override get message() {
    return `check constraint "${this.constraint}"${where(this.table, this.schema)} violated`
  }
}

/**
 * A NULL went into a NOT NULL column (SQLSTATE 23502).
 *
 * @since 0.1.0
 * @category errors
 */
export class NotNullViolation extends Schema.TaggedError<NotNullViolation>()("NotNullViolation", {
  ...ServerFields,
  table: Schema.String,
  column: Schema.String
}) {
  override get message() {
    return `column "${this.column}"${where(this.table, this.schema)} may not be null`
  }
}

/**
 * An exclusion constraint was violated (SQLSTATE 23P01).
 *
 * @since 0.1.0
 * @category errors
 */
export class ExclusionViolation extends Schema.TaggedError<ExclusionViolation>()("ExclusionViolation", {
  ...ServerFields,
  constraint: Schema.String,
  table: Schema.String
}) {
  override get message() {
    return `exclusion constraint "${this.constraint}"${where(this.table, this.schema)} violated`
  }
}

/**
 * Any violated constraint. Take it apart with `Effect.catchTag` or
 * `Effect.catchTags`.
 *
 * @since 0.1.0
 * @category errors
 */
export type ConstraintViolation =
  | UniqueViolation
  | ForeignKeyViolation
  | CheckViolation
  | NotNullViolation
  | ExclusionViolation

/**
 * The schema of {@link ConstraintViolation}.
 *
 * @since 0.1.0
 * @category errors
 */
export const ConstraintViolation: Schema.Union<[
  typeof UniqueViolation,
  typeof ForeignKeyViolation,
  typeof CheckViolation,
  typeof NotNullViolation,
  typeof ExclusionViolation
]> = Schema.Union(UniqueViolation, ForeignKeyViolation, CheckViolation, NotNullViolation, ExclusionViolation)

/**
 * A serializable or repeatable-read transaction could not be serialized
 * (SQLSTATE 40001). Retrying the whole transaction is the fix.
 *
 * @since 0.1.0
 * @category errors
 */
export class SerializationFailure extends Schema.TaggedError<SerializationFailure>()("SerializationFailure", {
  ...ServerFields
}) {
  override get message() {
    return "could not serialize access due to concurrent update (SQLSTATE 40001); retry the transaction"
  }
}

/**
 * Postgres broke a deadlock by failing this transaction (SQLSTATE 40P01).
 *
 * @since 0.1.0
 * @category errors
 */
export class DeadlockDetected extends Schema.TaggedError<DeadlockDetected>()("DeadlockDetected", {
  ...ServerFields
}) {
  override get message() {
    return "deadlock detected (SQLSTATE 40P01); retry the transaction"
  }
}

/**
 * A statement ran longer than `statement_timeout` (SQLSTATE 57014).
 *
 * @since 0.1.0
 * @category errors
 */
export class StatementTimeout extends Schema.TaggedError<StatementTimeout>()("StatementTimeout", {
  ...ServerFields
}) {
  override get message() {
    return "statement cancelled by statement_timeout (SQLSTATE 57014)"
  }
}

/**
 * A statement was cancelled by a cancel request from outside this fiber,
 * for example `pg_cancel_backend` (SQLSTATE 57014).
 *
 * @since 0.1.0
 * @category errors
 */
export class QueryCanceled extends Schema.TaggedError<QueryCanceled>()("QueryCanceled", {
  ...ServerFields
}) {
  override get message() {
    return "statement cancelled on request (SQLSTATE 57014)"
  }
}

/**
 * A write in a READ ONLY transaction (SQLSTATE 25006).
 *
 * @since 0.1.0
 * @category errors
 */
export class ReadOnlyViolation extends Schema.TaggedError<ReadOnlyViolation>()("ReadOnlyViolation", {
  ...ServerFields
}) {
  override get message() {
    return "cannot write in a read-only transaction (SQLSTATE 25006)"
  }
}

/**
 * Why a connection failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type ConnectionFailure =
  | "unreachable"
  | "timeout"
  | "authentication"
  | "terminated"
  | "shutdown"
  | "starting-up"
  | "too-many-connections"
  | "rejected"
  | "closed"
  | "tls"
  | "protocol"

/**
 * The server could not be reached, refused us, or the connection broke:
 * refused or timed-out connects, authentication failures, a missing
 * database or other refusal at connect time, a TLS handshake or certificate
 * check that failed (reason `tls`), a protocol violation (08P01, reason
 * `protocol`), a backend killed by `pg_terminate_backend` or an admin
 * shutdown (08xxx, 28xxx, 57P01-57P03, 53300), a server that is starting up
 * or still recovering (57P03, reason `starting-up`), and use of a closed
 * pool. Names host, port and database; never the password.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionError extends Schema.TaggedError<ConnectionError>()("ConnectionError", {
  reason: Schema.Literal(
    "unreachable",
    "timeout",
    "authentication",
    "terminated",
    "shutdown",
    "starting-up",
    "too-many-connections",
    "rejected",
    "closed",
    "tls",
    "protocol"
  ),
  host: Schema.String,
  port: Schema.Number,
  database: Schema.String,
  /** Set when Postgres sent an error; absent for socket-level failures. */
  sqlState: Schema.optional(Schema.String),
  /** The driver's or server's own words (they never contain the password). */
  cause: Schema.optional(Schema.String),
  /**
   * `true` when the connection broke after COMMIT was written to it, or
   * after a statement outside a transaction (which commits on its own) was:
   * whether it took effect is unknown, so it is never retried. A COMMIT or
   * statement that was never written (the connection was already gone)
   * leaves it `false`: nothing happened on the server.
   */
  duringCommit: Schema.optionalWith(Schema.Boolean, { default: () => false })
}) {
  override get message() {
    const target = `${this.host}:${this.port}/${this.database}`
    const text: Record<ConnectionFailure, string> = {
      "unreachable": `cannot reach PostgreSQL at ${target}`,
      "timeout": `timed out connecting to PostgreSQL at ${target}`,
      "authentication": `PostgreSQL at ${target} refused the credentials`,
      "terminated": `connection to PostgreSQL at ${target} was terminated`,
      "shutdown": `PostgreSQL at ${target} is shutting down`,
      "starting-up": `PostgreSQL at ${target} is starting up`,
      "too-many-connections": `PostgreSQL at ${target} has too many connections`,
      "rejected": `PostgreSQL at ${target} refused the connection`,
      "closed": `the pool for ${target} is closed`,
      "tls": `TLS with PostgreSQL at ${target} failed`,
      "protocol": `PostgreSQL at ${target} reported a protocol violation`
    }
    const commit = this.duringCommit
      ? " after a COMMIT, or a statement outside a transaction, was sent; whether it took effect is unknown"
      : ""
    return `${text[this.reason]}${commit}${this.cause ? `: ${this.cause}` : ""}`
  }
}

/**
 * No pooled connection became free within the acquire timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolTimeout extends Schema.TaggedError<PoolTimeout>()("PoolTimeout", {
  waitedMillis: Schema.Number,
  maxConnections: Schema.Number
}) {
  override get message() {
    return `no free connection within ${this.waitedMillis} ms (pool of ${this.maxConnections})`
  }
}

/**
 * The transaction body (or a nested one) swallowed a failed statement, so
 * Postgres had aborted the transaction and COMMIT (or RELEASE SAVEPOINT)
 * rolled it back. Nothing it wrote was kept.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransactionAborted extends Schema.TaggedError<TransactionAborted>()("TransactionAborted", {
  /** The SQLSTATE of the statement that failed inside the body, when it is known. */
  failedSqlState: Schema.optional(Schema.String),
  /** `true` when a nested transaction (savepoint) was rolled back, not the whole transaction. */
  nested: Schema.Boolean
}) {
  override get message() {
    const scope = this.nested ? "nested transaction was rolled back to its savepoint" : "transaction was rolled back"
    const failed = this.failedSqlState ? ` (a statement failed with SQLSTATE ${this.failedSqlState})` : ""
    return `a statement failed inside the transaction and its error was handled, so the ${scope}${failed}`
  }
}

/**
 * A nested `Database.transaction` asked for options that the surrounding
 * transaction cannot honour (another isolation level, a retry policy, ...).
 * Raised before any SQL is sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class NestedTransactionConflict extends Schema.TaggedError<NestedTransactionConflict>()(
  "NestedTransactionConflict",
  {
    option: Schema.Literal("isolation", "readOnly", "deferrable", "retry"),
    outer: Schema.String,
    nested: Schema.String
  }
) {
  override get message() {
    return this.option === "retry"
      ? "a nested transaction cannot retry on its own; put the retry option on the outermost transaction"
      : `a nested transaction asked for ${this.option} = ${this.nested}, but the surrounding transaction has ${this.outer}`
  }
}

/**
 * A row with the given key does not exist (or is soft-deleted).
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  table: Schema.String,
  /** The key that was looked up; kept out of `message`. */
  key: Schema.Unknown
}) {
  override get message() {
    return `no row in "${this.table}" with the given key`
  }
}

/**
 * An optimistic-locking update expected a version the row no longer has.
 *
 * @since 0.1.0
 * @category errors
 */
export class StaleVersion extends Schema.TaggedError<StaleVersion>()("StaleVersion", {
  table: Schema.String,
  key: Schema.Unknown,
  expectedVersion: Schema.Number,
  /** The version the row has now; absent when the row itself is gone. */
  actualVersion: Schema.optional(Schema.Number)
}) {
  override get message() {
    const actual = this.actualVersion === undefined ? "the row is gone" : `it is at version ${this.actualVersion}`
    return `stale version on "${this.table}": expected version ${this.expectedVersion}, but ${actual}`
  }
}

/**
 * Any other error Postgres reported: it keeps the SQLSTATE, the server's
 * message and the SQL text. For data exceptions (class 22), whose server
 * message can quote a parameter value, `message` names only the condition.
 *
 * @since 0.1.0
 * @category errors
 */
export class QueryError extends Schema.TaggedError<QueryError>()("QueryError", {
  ...ServerFields,
  serverMessage: Schema.String,
  sql: Schema.String,
  hint: Schema.optional(Schema.String),
  table: Schema.optional(Schema.String),
  column: Schema.optional(Schema.String),
  constraint: Schema.optional(Schema.String)
}) {
  override get message() {
    const name = conditionNames[this.sqlState]
    const label = `SQLSTATE ${this.sqlState}${name ? ` ${name}` : ""}`
    return this.sqlState.startsWith("22") ? `data exception (${label})` : `${this.serverMessage} (${label})`
  }
}

/**
 * Every error a statement or transaction can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type DatabaseError =
  | ConstraintViolation
  | SerializationFailure
  | DeadlockDetected
  | StatementTimeout
  | QueryCanceled
  | ReadOnlyViolation
  | ConnectionError
  | PoolTimeout
  | TransactionAborted
  | NestedTransactionConflict
  | QueryError

const databaseErrorTags: ReadonlySet<string> = new Set([
  "UniqueViolation",
  "ForeignKeyViolation",
  "CheckViolation",
  "NotNullViolation",
  "ExclusionViolation",
  "SerializationFailure",
  "DeadlockDetected",
  "StatementTimeout",
  "QueryCanceled",
  "ReadOnlyViolation",
  "ConnectionError",
  "PoolTimeout",
  "TransactionAborted",
  "NestedTransactionConflict",
  "QueryError"
])

/**
 * Whether a value is one of the {@link DatabaseError} classes.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isDatabaseError = (u: unknown): u is DatabaseError =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && databaseErrorTags.has(u._tag) &&
  u instanceof Error

/**
 * Whether a value is one of the constraint-violation errors.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isConstraintViolation = (u: unknown): u is ConstraintViolation =>
  u instanceof UniqueViolation || u instanceof ForeignKeyViolation || u instanceof CheckViolation ||
  u instanceof NotNullViolation || u instanceof ExclusionViolation

// Connection failures that a new attempt meets again: a closed pool stays
// closed, and the same credentials, certificates or messages meet the same
// refusal.
const permanentConnectionFailures: ReadonlySet<ConnectionFailure> = new Set<ConnectionFailure>([
  "closed",
  "authentication",
  "rejected",
  "tls",
  "protocol"
])

/**
 * Whether running the whole transaction again may succeed: serialization
 * failures, deadlocks, a connection lost before COMMIT was sent, and a
 * transaction aborted by a swallowed serialization failure or deadlock.
 * Never a TLS or authentication failure, a refusal, a protocol violation or
 * a closed pool.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isRetryable = (u: unknown): boolean => {
  if (u instanceof SerializationFailure || u instanceof DeadlockDetected) return true
  if (u instanceof ConnectionError) return !u.duringCommit && !permanentConnectionFailures.has(u.reason)
  if (u instanceof TransactionAborted) return u.failedSqlState === "40001" || u.failedSqlState === "40P01"
  return false
}

/**
 * The typed error behind an `SqlError` raised by `@effect/sql` code running
 * on an effect-dal layer, for `Effect.mapError(DatabaseError.fromSqlError)`.
 * An `SqlError` from elsewhere becomes a `QueryError` with SQLSTATE `XX000`.
 *
 * @since 0.1.0
 * @category conversions
 */
export const fromSqlError = (error: SqlError): DatabaseError =>
  isDatabaseError(error.cause)
    ? error.cause
    : new QueryError({ sqlState: "XX000", serverMessage: error.message, sql: "" })

/**
 * Wraps a typed error into the `SqlError` that `@effect/sql` APIs declare,
 * keeping it as the `cause`.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toSqlError = (error: DatabaseError): SqlError => new SqlError({ cause: error, message: error.message })

// `code`: node-postgres's name for the SQLSTATE, read-only and equal to
// `sqlState`. Code written for @effect/sql-pg reads `SqlError.cause.code`,
// where the cause was pg's own error; here the cause is one of these
// errors, and `code` keeps that code working. A getter, not a field: it is
// not part of the errors' schemas, so encoding them is unchanged.
interface SqlStateCode {
  /** The SQLSTATE, as node-postgres names it; the same as `sqlState`. */
  readonly code: string
}
// The declarations below merge `code` into the classes' types.
/* eslint-disable @typescript-eslint/no-empty-interface */
export interface UniqueViolation extends SqlStateCode {}
export interface ForeignKeyViolation extends SqlStateCode {}
export interface CheckViolation extends SqlStateCode {}
export interface NotNullViolation extends SqlStateCode {}
export interface ExclusionViolation extends SqlStateCode {}
export interface SerializationFailure extends SqlStateCode {}
export interface DeadlockDetected extends SqlStateCode {}
export interface StatementTimeout extends SqlStateCode {}
export interface QueryCanceled extends SqlStateCode {}
export interface ReadOnlyViolation extends SqlStateCode {}
export interface QueryError extends SqlStateCode {}
export interface ConnectionError {
  /** The SQLSTATE when Postgres sent one, as node-postgres names it; the same as `sqlState`. */
  readonly code: string | undefined
}
/* eslint-enable @typescript-eslint/no-empty-interface */
for (
  const error of [
    UniqueViolation,
    ForeignKeyViolation,
    CheckViolation,
    NotNullViolation,
    ExclusionViolation,
    SerializationFailure,
    DeadlockDetected,
    StatementTimeout,
    QueryCanceled,
    ReadOnlyViolation,
    QueryError,
    ConnectionError
  ]
) {
  Object.defineProperty(error.prototype, "code", {
    get(this: { readonly sqlState?: string }) {
      return this.sqlState
    },
    configurable: true
  })
}

// Names for the SQLSTATEs people meet most, so a QueryError reads well.
// https://www.postgresql.org/docs/current/errcodes-appendix.html
const conditionNames: Record<string, string> = {
  "0A000": "feature_not_supported",
  "21000": "cardinality_violation",
  "22001": "string_data_right_truncation",
  "22003": "numeric_value_out_of_range",
  "22007": "invalid_datetime_format",
  "22008": "datetime_field_overflow",
  "22012": "division_by_zero",
  "22021": "character_not_in_repertoire",
  "22P02": "invalid_text_representation",
  "22P05": "untranslatable_character",
  "25001": "active_sql_transaction",
  "25P02": "in_failed_sql_transaction",
  "42501": "insufficient_privilege",
  "42601": "syntax_error",
  "42703": "undefined_column",
  "42883": "undefined_function",
  "54000": "program_limit_exceeded",
  "42P01": "undefined_table",
  "42P07": "duplicate_table",
  "42804": "datatype_mismatch",
  "55P03": "lock_not_available",
  "55000": "object_not_in_prerequisite_state",
  "XX000": "internal_error"
}

/**
 * A pagination cursor that this table and query did not produce (garbled,
 * or from another ordering). Raised before any SQL is sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidCursor extends Schema.TaggedError<InvalidCursor>()("InvalidCursor", {
  table: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `invalid pagination cursor for "${this.table}": ${this.reason}`
  }
}

/**
 * Where a caller's input went wrong in an {@link InvalidQuery}: the part of
 * the query or the option that held it.
 *
 * @since 0.1.0
 * @category errors
 */
export type QueryPart =
  | "query"
  | "filter"
  | "orderBy"
  | "distinct"
  | "limit"
  | "offset"
  | "aggregate"
  | "onConflict"
  | "pageSize"
  | "batchSize"
  | "expectedVersion"
  | "patch"
  | "include"

/**
 * Input that does not make a query of this table: a field name that is not
 * one of the table's fields (prototype keys such as `__proto__` included), a
 * filter that is not an object of field conditions or was not built with
 * `Query`'s own functions (a plain object imitating them is refused), an
 * invalid limit, offset, page size or batch size, an upsert target that is
 * not a declared key. Raised before any SQL is sent; nothing of the input
 * ever becomes SQL text.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidQuery extends Schema.TaggedError<InvalidQuery>()("InvalidQuery", {
  table: Schema.String,
  /** The part of the query or the option that held the input. */
  part: Schema.Literal(
    "query",
    "filter",
    "orderBy",
    "distinct",
    "limit",
    "offset",
    "aggregate",
    "onConflict",
    "pageSize",
    "batchSize",
    "expectedVersion",
    "patch",
    "include"
  ),
  /** The field name as given (cut to 100 characters), when the input named one. */
  field: Schema.optional(Schema.String),
  reason: Schema.String
}) {
  override get message() {
    const field = this.field === undefined ? "" : ` field ${JSON.stringify(this.field)}:`
    return `invalid query of "${this.table}" (${this.part}):${field} ${this.reason}`
  }
}

/**
 * Why a migration command stopped: an applied migration was edited
 * (`checksum-mismatch`), a pending one is older than the last applied one
 * (`out-of-order`), another runner held the lock too long (`lock-timeout`),
 * a migration failed (`failed`, with its SQLSTATE), one to undo has no down
 * step (`no-down`), a target is not a known migration (`unknown-target`), or
 * the migrations themselves are invalid (`invalid-source`: a bad file name,
 * a duplicate id, a module without `up`).
 *
 * @since 0.1.0
 * @category errors
 */
export type MigrationFailure =
  | "checksum-mismatch"
  | "out-of-order"
  | "lock-timeout"
  | "failed"
  | "no-down"
  | "unknown-target"
  | "invalid-source"

const migrationLabel = (id: number | undefined, name: string | undefined) =>
  id === undefined ? "" : name === undefined ? `${id}` : `${id}_${name}`

/**
 * A migration command failed before, or while, changing the database. It
 * names the migration (`migrationId`, `migrationName`) and, for a failed
 * statement, keeps the SQLSTATE; `detail` says what to do about it. A
 * migration that failed inside its transaction was rolled back and is still
 * pending.
 *
 * @since 0.1.0
 * @category errors
 */
export class MigrationError extends Schema.TaggedError<MigrationError>()("MigrationError", {
  reason: Schema.Literal(
    "checksum-mismatch",
    "out-of-order",
    "lock-timeout",
    "failed",
    "no-down",
    "unknown-target",
    "invalid-source"
  ),
  migrationId: Schema.optional(Schema.Number),
  migrationName: Schema.optional(Schema.String),
  /** The SQLSTATE of the statement that failed, for `failed`. */
  sqlState: Schema.optional(Schema.String),
  /** What happened and what to do, in words; never holds parameter values. */
  detail: Schema.String,
  /** The underlying error, for `failed`. */
  cause: Schema.optional(Schema.Defect)
}) {
  override get message() {
    const label = migrationLabel(this.migrationId, this.migrationName)
    const subject = label === "" ? "" : `migration ${label}: `
    const code = this.sqlState === undefined ? "" : ` (SQLSTATE ${this.sqlState})`
    return `${subject}${this.reason}${code}: ${this.detail}`
  }
}

/**
 * One difference between a table definition and the live database, found by
 * `Database.verify`.
 *
 * @since 0.1.0
 * @category errors
 */
export const SchemaMismatchItem = Schema.Struct({
  /** The table, schema-qualified when not in `public`. */
  table: Schema.String,
  /** The column, when the difference is about one. */
  column: Schema.optional(Schema.String),
  kind: Schema.Literal(
    "missing-table",
    "missing-column",
    "type",
    "nullability",
    "primary-key",
    "unique-key",
    "soft-delete",
    "version"
  ),
  /** What the definition needs. */
  expected: Schema.String,
  /** What the database has. */
  actual: Schema.String
})

/**
 * The type of {@link SchemaMismatchItem}.
 *
 * @since 0.1.0
 * @category errors
 */
export type SchemaMismatchItem = typeof SchemaMismatchItem.Type

/**
 * Table definitions do not match the database: every difference found, for
 * all the tables checked, in one error.
 *
 * @since 0.1.0
 * @category errors
 */
export class SchemaMismatch extends Schema.TaggedError<SchemaMismatch>()("SchemaMismatch", {
  mismatches: Schema.Array(SchemaMismatchItem)
}) {
  override get message() {
    const lines = this.mismatches.map((m) =>
      `  ${m.table}${m.column === undefined ? "" : `.${m.column}`}: ${m.kind}: expected ${m.expected}, found ${m.actual}`
    )
    return `${this.mismatches.length} difference(s) between the table definitions and the database:\n${lines.join("\n")}`
  }
}
