import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import pg from "pg"
import type * as DatabaseError from "../../DatabaseError.js"

interface Handler {
  readonly push: (payload: string) => void
  readonly fail: (error: DatabaseError.DatabaseError) => void
}

/**
 * @internal
 * LISTEN needs a session of its own for as long as anyone listens, so it gets
 * one dedicated connection outside the pool, shared by every subscription and
 * closed when the last one ends.
 */
export class Listener {
  private client: Promise<pg.Client> | undefined
  private readonly channels = new Map<string, Set<Handler>>()
  private subscribers = 0
  private closed = false

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly classify: (error: unknown, sql: string) => DatabaseError.DatabaseError
  ) {}

  subscribe(channel: string): Effect.Effect<Stream.Stream<string, DatabaseError.DatabaseError>, DatabaseError.DatabaseError, Scope.Scope> {
    return Effect.gen(this, function*() {
      const mailbox = yield* Mailbox.make<string, DatabaseError.DatabaseError>()
      const handler: Handler = {
        push: (payload) => mailbox.unsafeOffer(payload),
        fail: (error) => mailbox.unsafeDone(Exit.fail(error))
      }
      yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => this.add(channel, handler),
          catch: (error) => this.classify(error, "LISTEN")
        }),
        () => Effect.promise(() => this.remove(channel, handler))
      )
      return Mailbox.toStream(mailbox)
    })
  }

  private connect(): Promise<pg.Client> {
    if (this.client !== undefined) return this.client
    const client = new pg.Client(this.config)
    const connecting = client.connect().then(() => client)
    this.client = connecting
    client.on("notification", (message) => {
      for (const handler of this.channels.get(message.channel) ?? []) handler.push(message.payload ?? "")
    })
    client.on("error", (error) => {
      // The session is gone, and with it every LISTEN: subscribers learn it
      // as a typed failure and may subscribe again.
      if (this.client === connecting) this.client = undefined
      const failure = this.classify(error, "LISTEN")
      for (const handlers of this.channels.values()) for (const handler of handlers) handler.fail(failure)
      this.channels.clear()
    })
    connecting.catch(() => {
      if (this.client === connecting) this.client = undefined
    })
    return connecting
  }

  private async add(channel: string, handler: Handler): Promise<void> {
    if (this.closed) throw new Error("pool is closed")
    this.subscribers++
    try {
      const client = await this.connect()
      let handlers = this.channels.get(channel)
      if (handlers === undefined) {
        handlers = new Set()
        this.channels.set(channel, handlers)
        handlers.add(handler)
        // LISTEN takes an identifier, not a parameter.
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`)
      } else {
        handlers.add(handler)
      }
    } catch (error) {
      await this.remove(channel, handler)
      throw error
    }
  }

  private async remove(channel: string, handler: Handler): Promise<void> {
    this.subscribers--
    const handlers = this.channels.get(channel)
    const client = this.client
    if (handlers?.delete(handler) && handlers.size === 0) {
      this.channels.delete(channel)
      if (client !== undefined) {
        await client.then((c) => c.query(`UNLISTEN ${pg.escapeIdentifier(channel)}`)).catch(() => {})
      }
    }
    if (this.subscribers === 0 && this.client !== undefined) {
      const last = this.client
      this.client = undefined
      await last.then((c) => c.end()).catch(() => {})
    }
  }

  async close(): Promise<void> {
    this.closed = true
    const client = this.client
    this.client = undefined
    const failure = this.classify(new Error("pool is closed"), "LISTEN")
    for (const handlers of this.channels.values()) for (const handler of handlers) handler.fail(failure)
    this.channels.clear()
    if (client !== undefined) await client.then((c) => c.end()).catch(() => {})
  }
}
