/**
 * The chat history an AI chat bot keeps, end to end (this is `npm start`).
 *
 * Migrations make the tables; users and their settings are registered in one
 * transaction; messages are appended and the most recent ones read back;
 * a user clears their history (soft delete); a duplicate registration fails
 * with a typed `UniqueViolation`; reads run in parallel on a bounded pool.
 *
 *   npm start                 on an embedded PostgreSQL, or on DATABASE_URL when it is set
 *   npm start -- --wait       then keeps a transaction open until Ctrl-C or SIGTERM,
 *                             to show the graceful shutdown: it rolls back, the pool
 *                             closes, the embedded server stops
 *
 * The model, the migrations and the service are in `./chat/`.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Database } from "effect-dal"
import * as Assistant from "./chat/Assistant.js"
import { ChatHistory } from "./chat/ChatHistory.js"
import { migrate } from "./chat/migrations.js"
import { type Message, UserId } from "./chat/model.js"
import * as ExampleDatabase from "./support/database.js"

/** `application_name` of the example's connections, as `pg_stat_activity` shows it. */
export const applicationName = "effect-dal-chat-example"

/** At most this many connections: the parallel reads below ask for more. */
export const maxConnections = 4

// Messenger user ids; Alice's and Bob's do not fit in 32 bits.
export const alice = UserId.make(5_000_000_001)
export const bob = UserId.make(5_000_000_002)
export const carol = UserId.make(5_000_000_003)

const newcomer = (id: UserId, name: string, maxHistoryMessages: number, systemPrompt: string) => ({
  user: { id, name },
  settings: { userId: id, maxHistoryMessages, systemPrompt }
})

const section = (title: string) => Console.log(`\n== ${title}`)

const show = (message: Message) =>
  `  #${String(message.arrival).padEnd(3)} ${message.role.padEnd(9)} ${String(message.contentLength).padStart(3)} chars  ${message.content}`

/** The bot's /start command: registers a new user, and tells a known one so. */
const start = (newUser: ReturnType<typeof newcomer>) =>
  Effect.gen(function*() {
    const chat = yield* ChatHistory
    const { settings, user } = yield* chat.register(newUser.user, newUser.settings)
    yield* Console.log(
      `registered ${user.name} (id ${user.id}) with their settings: ` +
        `${settings.maxHistoryMessages} messages of history, prompt "${settings.systemPrompt}"`
    )
  }).pipe(
    Effect.catchTag("UniqueViolation", (error) =>
      Console.log(
        `${newUser.user.name} (id ${newUser.user.id}) is already registered: ${error.message}. Nothing was written.`
      ))
  )

/**
 * The tour. It needs a `Database` (with `SqlClient` and `PgClient` on the
 * same pool) and provides the rest itself.
 */
export const program = (options: { readonly wait?: boolean } = {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [server] = yield* sql<{ server_version: string }>`SHOW server_version`
    const pool = yield* Database.stats
    yield* Console.log(`connected: PostgreSQL ${server?.server_version}, pool of at most ${pool.max} connections`)

    const applied = yield* migrate
    yield* Console.log(
      applied.length === 0
        ? "migrations: up to date"
        : `migrations: applied ${applied.map(({ id, name }) => `${id}_${name}`).join(", ")}`
    )

    const chat = yield* ChatHistory

    yield* section("/start: each user and their settings in one transaction")
    yield* start(newcomer(alice, "Alice", 4, "You are a travel guide."))
    yield* start(newcomer(bob, "Bob", 20, "You are a patient maths tutor."))
    // Carol's settings break a check constraint, so her user row goes too.
    yield* start(newcomer(carol, "Carol", 0, "You are a poet.")).pipe(
      Effect.catchTag("CheckViolation", (error) =>
        Effect.gen(function*() {
          const found = yield* chat.findUser(carol)
          yield* Console.log(`Carol was not registered: ${error.message}`)
          yield* Console.log(
            `  her user row was rolled back with it: findUser(${carol}) is ${Option.isNone(found) ? "None" : "Some"}`
          )
        }))
    )

    yield* section("conversations: each exchange stores the message and the reply")
    const say = (userId: UserId, name: string, text: string) =>
      Effect.gen(function*() {
        yield* Console.log(`${name} › ${text}`)
        const reply = yield* chat.converse(userId, text)
        yield* Console.log(`  bot › ${reply.content}`)
      })
    yield* say(alice, "Alice", "Hi! Can you help me plan three days in Lisbon?")
    yield* say(bob, "Bob", "What is a prime number?")
    yield* say(alice, "Alice", "What should I see on the first day?")
    yield* say(bob, "Bob", "Is 91 prime?")
    yield* say(alice, "Alice", "And where should I eat near Alfama?")

    const aliceSettings = yield* chat.settingsOf(alice)
    // Alice with her recent messages, loaded through the users -> messages
    // relation (Query.include): one statement for her, one for the messages.
    const aliceWithRecent = yield* chat.withRecent(alice, aliceSettings.maxHistoryMessages)
    const aliceRecent = Option.match(aliceWithRecent, { onNone: () => [], onSome: (found) => found.recent })
    const aliceTotal = yield* chat.countMessages(alice)
    yield* section(
      `Alice's ${aliceSettings.maxHistoryMessages} most recent messages (of ${aliceTotal}), oldest first`
    )
    for (const message of aliceRecent) yield* Console.log(show(message))

    yield* section("Bob clears his history: a soft delete")
    const cleared = yield* chat.clear(bob)
    const bobVisible = yield* chat.recent(bob, 100)
    const bobStored = yield* chat.countMessages(bob, { includeDeleted: true })
    yield* Console.log(
      `soft-deleted ${cleared} messages; Bob's recent history now has ${bobVisible.length}, ` +
        `and the table still holds ${bobStored} rows of his with deleted_at set`
    )

    yield* section("Alice sends /start again: UniqueViolation, handled with Effect.catchTag")
    yield* start(newcomer(alice, "Alice", 4, "You are a travel guide."))

    yield* section(`six reads in parallel (concurrency 6) on a pool of at most ${pool.max} connections`)
    const before = yield* Database.stats
    const reads = yield* Effect.all({
      aliceHistory: chat.recent(alice, 100),
      bobHistory: chat.recent(bob, 100),
      aliceMessages: chat.countMessages(alice),
      bobMessages: chat.countMessages(bob, { includeDeleted: true }),
      users: chat.countUsers,
      roundTrip: Database.ping
    }, { concurrency: 6 })
    const after = yield* Database.stats
    yield* Console.log(
      `users: ${reads.users}; Alice: ${reads.aliceMessages} messages (${reads.aliceHistory.length} visible); ` +
        `Bob: ${reads.bobMessages} stored (${reads.bobHistory.length} visible); ping ${Duration.toMillis(reads.roundTrip).toFixed(2)} ms`
    )
    yield* Console.log(
      `pool: ${before.total} open connection(s) before the reads, ${after.total} after (at most ${after.max}), ` +
        `${after.active} in use now`
    )

    if (options.wait) {
      yield* section("waiting: a transaction stays open until Ctrl-C or SIGTERM")
      yield* Database.transaction(
        Effect.gen(function*() {
          const pending = yield* chat.append(alice, "user", "This message is never committed.")
          yield* Console.log(`inserted message #${pending.arrival} in an open transaction; stop me with Ctrl-C`)
          return yield* Effect.never
        })
      ).pipe(Effect.onInterrupt(() => Console.log("interrupted: the open transaction was rolled back")))
    }
    yield* Console.log("\ndone")
  }).pipe(Effect.provide(Layer.merge(ChatHistory.Default, Assistant.layerCanned)))

if (ExampleDatabase.isMain(import.meta)) {
  // In a terminal, Ctrl-C under `npm start` reaches this process twice: from
  // the terminal and forwarded by npm. runMain handles the first and removes
  // its listeners; these keep the second from killing the process before the
  // shutdown has finished. (SIGKILL still stops it; a watchdog then stops the
  // embedded server.)
  process.on("SIGINT", () => {})
  process.on("SIGTERM", () => {})
  NodeRuntime.runMain(
    program({ wait: process.argv.includes("--wait") }).pipe(
      Effect.provide(ExampleDatabase.layer({ applicationName, maxConnections }))
    )
  )
}
