/**
 * A TCP proxy between the library and PostgreSQL that keeps the text of
 * every statement sent, read off the wire: the query string of each Parse
 * message (extended protocol) and each Query message (simple protocol), and
 * the text of every statement run (each Bind of a prepared statement, which
 * a connection parses only once, and each Query message). Parameters travel
 * in Bind messages and are not kept: they are data.
 */
import * as Effect from "effect/Effect"
import * as net from "node:net"
import type * as Scope from "effect/Scope"
import { messages } from "./wireProxy.js"

export interface StatementLog {
  /** A URL to the same database, through the proxy. */
  readonly url: string
  /** Every statement text sent so far, in order. */
  readonly statements: () => ReadonlyArray<string>
  /** The text of every statement run so far (prepared ones each time they run), in order. */
  readonly executed: () => ReadonlyArray<string>
  /** The same as `executed`. */
  readonly runs: () => ReadonlyArray<string>
}

// The client's messages: simple queries, Parse (remembering each prepared
// statement's text by name) and Bind (a run of a prepared statement).
const reader = (onStatement: (text: string) => void, onRun: (text: string) => void = () => {}) => {
  // Prepared statements by name, on this connection ("" is the unnamed one).
  const prepared = new Map<string, string>()
  return messages(true, (type, body) => {
    if (type === "Q") {
      const text = body.toString("utf8", 0, body.indexOf(0))
      onStatement(text)
      onRun(text)
    }
    if (type === "P") {
      const nameEnd = body.indexOf(0)
      const text = body.toString("utf8", nameEnd + 1, body.indexOf(0, nameEnd + 1))
      prepared.set(body.toString("utf8", 0, nameEnd), text)
      onStatement(text)
    }
    if (type === "B") {
      // Bind: the portal's name, then the statement's.
      const portalEnd = body.indexOf(0)
      const name = body.toString("utf8", portalEnd + 1, body.indexOf(0, portalEnd + 1))
      onRun(prepared.get(name) ?? `(unknown statement ${name})`)
    }
  })
}

/** A statement-logging proxy to the database at `databaseUrl`, closed with the scope. */
export const statementLog = (databaseUrl: string): Effect.Effect<StatementLog, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ log: StatementLog; server: net.Server; sockets: Set<net.Socket> }>((resume) => {
      const target = new URL(databaseUrl)
      const statements: Array<string> = []
      const executed: Array<string> = []
      const sockets = new Set<net.Socket>()
      const server = net.createServer((client) => {
        const upstream = net.connect(Number(target.port || 5432), target.hostname)
        sockets.add(client)
        sockets.add(upstream)
        const read = reader((text) => statements.push(text), (text) => executed.push(text))
        client.on("data", (chunk: Buffer) => {
          read(chunk)
          upstream.write(chunk)
        })
        upstream.pipe(client)
        const close = () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        client.on("close", close)
        upstream.on("close", close)
        client.on("error", close)
        upstream.on("error", close)
      })
      server.listen(0, "127.0.0.1", () => {
        const url = new URL(databaseUrl)
        url.hostname = "127.0.0.1"
        url.port = String((server.address() as net.AddressInfo).port)
        resume(Effect.succeed({ log: { url: url.toString(), statements: () => statements, executed: () => executed, runs: () => executed }, server, sockets }))
      })
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ log }) => log))
