import pg from "pg"
import * as DatabaseError from "../../DatabaseError.js"

/** @internal Where a connection points; used to name the server in errors. */
export interface Target {
  readonly host: string
  readonly port: number
  readonly database: string
}

/** @internal */
export type Phase = "connect" | "statement" | "commit"

// pg-pool reports a waiter that timed out with this exact message (pg-pool
// 3.x, index.js `connect`); it has no code, so the message is all there is.
const POOL_WAIT_TIMEOUT = "timeout exceeded when trying to connect"

const socketUnreachable = new Set(["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"])
const socketBroken = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ETIMEDOUT"])

// The certificate checks of node's TLS client report OpenSSL's X509_V_ERR
// names without the prefix (node src/crypto/crypto_common.cc,
// X509ErrorCode), e.g. SELF_SIGNED_CERT_IN_CHAIN for a server whose CA the
// client does not trust.
const certificateRejected = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "UNABLE_TO_GET_CRL",
  "CERT_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_CHAIN_TOO_LONG",
  "CERT_REVOKED",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH"
])

// A failed TLS handshake or certificate check. Besides the names above:
// ERR_TLS_* from node's own checks (ERR_TLS_CERT_ALTNAME_INVALID: the host
// name is not in the certificate), ERR_SSL_* for an alert from the server
// (ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: it does not trust the client's
// certificate) or a handshake the client cannot make, ERR_OSSL_* for
// certificates and keys OpenSSL cannot use (a key that does not match its
// certificate), and EPROTO for a protocol version the server refuses.
const isTlsFailure = (code: string): boolean =>
  certificateRejected.has(code) || code === "EPROTO" || code.startsWith("ERR_TLS_") ||
  code.startsWith("ERR_SSL_") || code.startsWith("ERR_OSSL_")

/**
 * @internal
 * Turns anything the driver or the pool threw into a DatabaseError. This is
 * the only place errors are classified.
 */
export const classify = (
  error: unknown,
  sql: string,
  target: Target,
  phase: Phase,
  pool?: { readonly acquireTimeoutMillis: number; readonly maxConnections: number }
): DatabaseError.DatabaseError => {
  if (DatabaseError.isDatabaseError(error)) return error
  const duringCommit = phase === "commit"
  // A protocol violation means the server could not read the message:
  // nothing it asked for ran, even at COMMIT.
  const connection = (
    reason: DatabaseError.ConnectionFailure,
    cause: string,
    sqlState?: string
  ) =>
    new DatabaseError.ConnectionError({
      reason,
      ...target,
      cause,
      duringCommit: duringCommit && reason !== "protocol",
      ...(sqlState === undefined ? {} : { sqlState })
    })

  if (error instanceof pg.DatabaseError && typeof error.code === "string") {
    return fromServer(error, sql, phase, connection)
  }
  const e = error instanceof Error ? error : new Error(String(error))
  const code = (e as NodeJS.ErrnoException).code
  if (e.message === POOL_WAIT_TIMEOUT && pool !== undefined) {
    return new DatabaseError.PoolTimeout({
      waitedMillis: pool.acquireTimeoutMillis,
      maxConnections: pool.maxConnections
    })
  }
  // Not retryable: the same certificates fail the same way every time.
  if (code !== undefined && isTlsFailure(code)) return connection("tls", `${code}: ${e.message.trim()}`)
  // node-postgres's SCRAM client (pg 8.x, crypto/sasl.js) throws these when
  // the server asks for a password and none (or a wrong one) is at hand:
  // "SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string".
  if (e.message.startsWith("SASL: ")) return connection("authentication", e.message)
  if (code !== undefined && socketUnreachable.has(code)) return connection("unreachable", code)
  if (code !== undefined && socketBroken.has(code)) {
    return connection(phase === "connect" ? "unreachable" : "terminated", code)
  }
  // node-postgres's own connect timer destroys the socket with "timeout
  // expired" (pg 8.x, client.js `_connect`); pg-pool's timer for a new client
  // reports "Connection terminated due to connection timeout".
  if (/connection timeout|^timeout expired$/i.test(e.message)) return connection("timeout", e.message)
  if (/after calling end on the pool|pool is closed/i.test(e.message)) return connection("closed", e.message)
  // The server answered the SSLRequest with 'N' (pg connection.js): it is
  // there, but refuses what the SSL mode requires.
  if (e.message === "The server does not support SSL connections") return connection("rejected", e.message)
  if (phase === "connect") return connection("unreachable", e.message)
  // "Connection terminated unexpectedly", "not queryable", socket closed: the
  // session is gone, and with it any open transaction.
  return connection("terminated", e.message)
}

const fromServer = (
  error: pg.DatabaseError,
  sql: string,
  phase: Phase,
  connection: (reason: DatabaseError.ConnectionFailure, cause: string, sqlState?: string) => DatabaseError.ConnectionError
): DatabaseError.DatabaseError => {
  const code = error.code!
  const common = {
    sqlState: code,
    ...(error.detail === undefined ? {} : { detail: error.detail }),
    ...(error.schema === undefined ? {} : { schema: error.schema })
  }
  switch (code) {
    case "23505":
      return new DatabaseError.UniqueViolation({
        ...common,
        constraint: error.constraint ?? "",
        table: error.table ?? "",
        columns: keyColumns(error.detail)
      })
    case "23503": {
      const referenced = error.detail?.match(/is not present in table "([^"]+)"/)?.[1]
      return new DatabaseError.ForeignKeyViolation({
        ...common,
        constraint: error.constraint ?? "",
        table: error.table ?? "",
        ...(referenced === undefined ? {} : { referencedTable: referenced })
      })
    }
    case "23514":
      return new DatabaseError.CheckViolation({
        ...common,
        constraint: error.constraint ?? "",
        table: error.table ?? ""
      })
    case "23502":
      return new DatabaseError.NotNullViolation({ ...common, table: error.table ?? "", column: error.column ?? "" })
    case "23P01":
      return new DatabaseError.ExclusionViolation({
        ...common,
        constraint: error.constraint ?? "",
        table: error.table ?? ""
      })
    case "40001":
      return new DatabaseError.SerializationFailure(common)
    case "40P01":
      return new DatabaseError.DeadlockDetected(common)
    case "25006":
      return new DatabaseError.ReadOnlyViolation(common)
    case "57014":
      // The server's words are the only difference between a statement
      // timeout and a cancel request (both come from ProcessInterrupts).
      return /statement timeout/i.test(error.message)
        ? new DatabaseError.StatementTimeout(common)
        : new DatabaseError.QueryCanceled(common)
    case "57P01":
      return connection("terminated", error.message, code)
    case "57P02":
      return connection("shutdown", error.message, code)
    case "57P03":
      // cannot_connect_now: the postmaster refuses connections while it
      // starts up, recovers or (hot_standby off) runs as a standby, and also
      // while it shuts down; only its words tell that last case apart, so on
      // a server whose lc_messages is not English it reads as starting up.
      return /shutting down/i.test(error.message)
        ? connection("shutdown", error.message, code)
        : connection("starting-up", error.message, code)
    case "53300":
      return connection("too-many-connections", error.message, code)
    case "08P01":
      // protocol_violation: the server could not read what was sent (a
      // malformed message). Sending the same bytes again fails the same way.
      return connection("protocol", error.message, code)
  }
  // A FATAL error ends the session whatever its SQLSTATE: 25P03 from
  // idle_in_transaction_session_timeout, 57P05 from idle_session_timeout.
  if (phase !== "connect" && (error.severity === "FATAL" || error.severity === "PANIC")) {
    return connection("terminated", error.message, code)
  }
  if (code.startsWith("08")) return connection(phase === "connect" ? "unreachable" : "terminated", error.message, code)
  if (code.startsWith("28")) return connection("authentication", error.message, code)
  // Any other refusal while connecting (a missing database, 3D000, say).
  if (phase === "connect") return connection("rejected", error.message, code)
  return new DatabaseError.QueryError({
    ...common,
    serverMessage: error.message,
    sql,
    ...(error.hint === undefined ? {} : { hint: error.hint }),
    ...(error.table === undefined ? {} : { table: error.table }),
    ...(error.column === undefined ? {} : { column: error.column }),
    ...(error.constraint === undefined ? {} : { constraint: error.constraint })
  })
}

// "Key (tenant_id, email)=(1, a@b.c) already exists." -> ["tenant_id", "email"].
// The first ")=(" ends the column list; expression indexes keep their text.
const keyColumns = (detail: string | undefined): Array<string> => {
  if (detail === undefined || !detail.startsWith("Key (")) return []
  const end = detail.indexOf(")=(")
  if (end < 0) return []
  return splitTopLevel(detail.slice(5, end))
}

const splitTopLevel = (list: string): Array<string> => {
  const out: Array<string> = []
  let depth = 0
  let start = 0
  for (let i = 0; i < list.length; i++) {
    const c = list[i]
    if (c === "(") depth++
    else if (c === ")") depth--
    else if (c === "," && depth === 0) {
      out.push(list.slice(start, i).trim())
      start = i + 1
    }
  }
  out.push(list.slice(start).trim())
  return out.filter((s) => s.length > 0).map((s) => s.startsWith("\"") && s.endsWith("\"") ? s.slice(1, -1) : s)
}
