/**
 * A TCP proxy between the library and PostgreSQL that counts the protocol
 * messages crossing it, by type, in both directions, over all sessions.
 * Messages are a type byte and a length that counts itself
 * (https://www.postgresql.org/docs/current/protocol-overview.html), except
 * the client's startup packet (and an SSLRequest), which has no type byte.
 * Each session's stream is parsed across chunk boundaries.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as net from "node:net"

export interface WireProxy {
  /** A URL to the same database, through the proxy. */
  readonly url: string
  /** Messages of a type the client has sent so far ('P' Parse, 'E' Execute, ...). */
  readonly sent: (type: string) => number
  /** Messages of a type the server has sent so far ('Z' ReadyForQuery, ...). */
  readonly received: (type: string) => number
}

/**
 * Splits one direction of one session into protocol messages: a type byte,
 * then a 32-bit length that counts itself. The client's side starts with
 * the startup packet (and maybe an SSLRequest before it), which has no
 * type byte: its first 32 bits are the length. Calls `onMessage` with each
 * message's type and body.
 */
export const messages = (startup: boolean, onMessage: (type: string, body: Buffer) => void) => {
  let pending = Buffer.alloc(0)
  let started = !startup
  return (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk])
    while (true) {
      if (!started) {
        if (pending.length < 8) return
        const length = pending.readInt32BE(0)
        if (pending.length < length) return
        // An SSLRequest (80877103) is followed by the real startup packet.
        if (pending.readInt32BE(4) !== 80877103) started = true
        pending = pending.subarray(length)
        continue
      }
      if (pending.length < 5) return
      const length = pending.readInt32BE(1)
      if (pending.length < 1 + length) return
      onMessage(String.fromCharCode(pending[0]!), pending.subarray(5, 1 + length))
      pending = pending.subarray(1 + length)
    }
  }
}

// Counts the typed messages of one direction of one session.
const counter = (counts: Map<string, number>, startup: boolean) =>
  messages(startup, (type) => counts.set(type, (counts.get(type) ?? 0) + 1))

/** A counting proxy to the database at `databaseUrl`, closed with the scope. */
export const wireProxy = (databaseUrl: string): Effect.Effect<WireProxy, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ proxy: WireProxy; server: net.Server; sockets: Set<net.Socket> }>((resume) => {
      const target = new URL(databaseUrl)
      const sent = new Map<string, number>()
      const received = new Map<string, number>()
      const sockets = new Set<net.Socket>()
      const server = net.createServer((client) => {
        const upstream = net.connect(Number(target.port || 5432), target.hostname)
        for (const socket of [client, upstream]) {
          sockets.add(socket)
          socket.on("error", () => {})
          socket.on("close", () => {
            sockets.delete(socket)
            client.destroy()
            upstream.destroy()
          })
        }
        const fromClient = counter(sent, true)
        const fromServer = counter(received, false)
        client.on("data", (chunk: Buffer) => {
          fromClient(chunk)
          upstream.write(chunk)
        })
        upstream.on("data", (chunk: Buffer) => {
          fromServer(chunk)
          client.write(chunk)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const url = new URL(databaseUrl)
        url.hostname = "127.0.0.1"
        url.port = String((server.address() as net.AddressInfo).port)
        resume(Effect.succeed({
          proxy: {
            url: url.toString(),
            sent: (type) => sent.get(type) ?? 0,
            received: (type) => received.get(type) ?? 0
          },
          server,
          sockets
        }))
      })
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ proxy }) => proxy))
