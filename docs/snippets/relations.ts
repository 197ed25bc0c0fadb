/**
 * README: "Relations".
 */
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Database, Query, Repository, Table } from "effect-dal"

// #region declare
class User extends Model.Class<User>("User")({
  id: Model.Generated(Schema.Number),
  name: Schema.String
}) {}
class Message extends Model.Class<Message>("Message")({
  id: Model.Generated(Schema.Number),
  userId: Schema.Number,
  body: Schema.String,
  createdAt: Schema.DateFromSelf
}) {}
class Reaction extends Model.Class<Reaction>("Reaction")({
  id: Model.Generated(Schema.Number),
  messageId: Schema.Number,
  emoji: Schema.String
}) {}

const Reactions = Table.make(Reaction, { name: "reactions", primaryKey: "id" })
// Declared bottom-up, so each table's type carries its relations; give a
// target as a function (`() => Users`) to refer to a table defined later.
const Messages = Table.relations(Table.make(Message, { name: "messages", primaryKey: "id" }), (r) => ({
  reactions: r.hasMany(Reactions, { foreignKey: "messageId" }), // reactions.message_id = messages.id
  author: r.belongsTo(() => UsersTable, { foreignKey: "userId" }) // messages.user_id = users.id
}))
const UsersTable = Table.make(User, { name: "users", primaryKey: "id" })
const Users = Table.relations(UsersTable, (r) => ({
  messages: r.hasMany(Messages, { foreignKey: "userId" })
  // A misspelt field, or a foreign key whose type is not the key's, does not compile.
}))
// #endregion

// #region strategy
// Includes one statement per relation level, whatever "auto" would pick
// (with Database.layerConfig: DATABASE_INCLUDE_STRATEGY=perLevel).
export const perLevel = (url: string) => Database.layer({ url, includeStrategy: "perLevel" })
// #endregion

export const createTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`create table users (id serial primary key, name text not null)`
  yield* sql`create table messages (id serial primary key, user_id integer not null references users (id), body text not null, created_at timestamptz not null)`
  yield* sql`create table reactions (id serial primary key, message_id integer not null references messages (id), emoji text not null)`
})

export const program = Effect.gen(function*() {
  const users = yield* Repository.make(Users)
  const messages = yield* Repository.make(Messages)
  const reactions = yield* Repository.make(Reactions)
  const [ann, bob] = yield* users.insertMany([{ name: "Ann" }, { name: "Bob" }])
  const written = yield* messages.insertMany(
    [1, 2, 3].map((n) => ({ userId: ann!.id, body: `hi ${n}`, createdAt: new Date(Date.UTC(2024, 0, n)) }))
  )
  yield* reactions.insert({ messageId: written[2]!.id, emoji: "+1" })

  // #region include
  // Each user with their 2 newest messages, each message with its reactions.
  const recent = yield* users.findMany(
    Query.make(Users).pipe(
      Query.orderBy("name"),
      Query.include("messages", (m) =>
        m.pipe(
          Query.orderBy("createdAt", "desc"),
          Query.limit(2), // per user
          Query.include("reactions")
        ))
    )
  )
  // recent: ReadonlyArray<User & { messages: ReadonlyArray<Message & { reactions: ReadonlyArray<Reaction> }> }>
  const newest = recent[0]!.messages.map((m) => [m.body, m.reactions.map((r) => r.emoji)])
  // #endregion

  // #region belongsTo
  const withAuthor = yield* messages.findOne(
    Query.make(Messages).pipe(Query.orderBy("createdAt"), Query.include("author"))
  )
  // A belongsTo or hasOne relation is the row, or null when there is none.
  const author = withAuthor._tag === "Some" ? withAuthor.value.author?.name : undefined
  // #endregion

  // #region byId
  // A read by key takes its includes as a second argument: only includes
  // (the key picks the row; a filter or limit there is InvalidQuery).
  const annWithRecent = yield* users.getById(ann!.id, Query.include("messages", (m) => m.pipe(Query.orderBy("createdAt", "desc"), Query.limit(1))))
  const bobWithAll = yield* users.findById(bob!.id, (q) => q.pipe(Query.include("messages", (m) => m.pipe(Query.include("reactions")))))
  // Concurrent reads by key with the same includes are one statement for the
  // rows and one per included relation for all of them.
  const both = yield* Effect.forEach([ann!.id, bob!.id], (id) => users.getById(id, Query.include("messages")), { batching: true })
  // #endregion

  // #region whereRelated
  // Users with at least one message that has a reaction, and users without messages.
  const reacted = yield* users.findMany(
    Query.make(Users).pipe(Query.whereRelated("messages", "some", (m) => m.pipe(Query.whereRelated("reactions", "some"))))
  )
  const silent = yield* users.findMany(Query.make(Users).pipe(Query.whereRelated("messages", "none")))
  // #endregion

  return {
    counts: recent.map((u) => [u.name, u.messages.length]),
    newest,
    author,
    reacted: reacted.map((u) => u.name),
    silent: silent.map((u) => u.name),
    bob: bob!.name,
    byId: [
      annWithRecent.messages.map((m) => m.body),
      bobWithAll._tag === "Some" ? bobWithAll.value.messages.length : -1,
      both.map((u) => u.messages.length)
    ]
  }
})
