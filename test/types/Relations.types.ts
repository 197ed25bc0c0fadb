// Compile-time checks for relations and includes. Each line marked with
// ts-expect-error must be a type error, so `npm run typecheck` fails if a
// misspelt relation or a foreign key of the wrong type stops being rejected.
import * as Model from "@effect/sql/Model"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Query from "../../src/Query.js"
import type * as Repository from "../../src/Repository.js"
import * as Table from "../../src/Table.js"

class User extends Model.Class<User>("User")({
  id: Model.Generated(Schema.Number),
  email: Schema.String,
  deletedAt: Schema.NullOr(Schema.DateFromSelf)
}) {}
class Message extends Model.Class<Message>("Message")({
  id: Model.Generated(Schema.Number),
  userId: Schema.Number,
  editorId: Schema.NullOr(Schema.Number),
  body: Schema.String,
  createdAt: Schema.DateFromSelf
}) {}
class Reaction extends Model.Class<Reaction>("Reaction")({
  id: Model.Generated(Schema.Number),
  messageId: Schema.Number,
  emoji: Schema.String
}) {}
class Label extends Model.Class<Label>("Label")({
  id: Model.Generated(Schema.String),
  name: Schema.String
}) {}
class MessageLabel extends Model.Class<MessageLabel>("MessageLabel")({
  id: Model.Generated(Schema.Number),
  messageId: Schema.Number,
  labelId: Schema.String
}) {}

const UsersTable = Table.make(User, { name: "users", primaryKey: "id", softDelete: "deletedAt" })
const MessagesTable = Table.make(Message, { name: "messages", primaryKey: "id" })
const Reactions = Table.make(Reaction, { name: "reactions", primaryKey: "id" })
const Labels = Table.make(Label, { name: "labels", primaryKey: "id" })
const MessageLabels = Table.make(MessageLabel, { name: "message_labels", primaryKey: "id" })

const Messages = Table.relations(MessagesTable, (r) => ({
  author: r.belongsTo(UsersTable, { foreignKey: "userId" }),
  editor: r.belongsTo(UsersTable, { foreignKey: "editorId" }),
  reactions: r.hasMany(Reactions, { foreignKey: "messageId" }),
  labels: r.manyToMany(Labels, { through: MessageLabels, foreignKey: "messageId", targetKey: "labelId" })
}))
const Users = Table.relations(UsersTable, (r) => ({
  messages: r.hasMany(Messages, { foreignKey: "userId" }),
  latest: r.hasOne(() => MessagesTable, { foreignKey: "userId" })
}))

// @ts-expect-error a foreign key that is not a field of the target
Table.relations(UsersTable, (r) => ({ messages: r.hasMany(MessagesTable, { foreignKey: "userID" }) }))
// @ts-expect-error a foreign key whose type is not the key's (string field, number key)
Table.relations(UsersTable, (r) => ({ messages: r.hasMany(MessagesTable, { foreignKey: "body" }) }))
// @ts-expect-error belongsTo: the foreign key is the source's field, of the target key's type
Table.relations(MessagesTable, (r) => ({ author: r.belongsTo(UsersTable, { foreignKey: "body" }) }))
// @ts-expect-error a referenced key that is not a field
Table.relations(MessagesTable, (r) => ({ author: r.belongsTo(UsersTable, { foreignKey: "userId", references: "nope" }) }))
// @ts-expect-error manyToMany: the join table's target key has the type of the target's key (string)
Table.relations(MessagesTable, (r) => ({ labels: r.manyToMany(Labels, { through: MessageLabels, foreignKey: "messageId", targetKey: "messageId" }) }))

export const withMessages = Query.make(Users).pipe(
  Query.where({ email: "a" }),
  Query.include("messages", (m) =>
    m.pipe(
      Query.where({ body: Query.like("%x%") }),
      Query.orderBy("createdAt", "desc"),
      Query.limit(20),
      Query.include("reactions"),
      Query.include("labels")
    )),
  Query.include("latest"),
  Query.orderBy("id")
)
type Rows = Repository.Repository<typeof Users>["findMany"]
declare const findMany: Rows
export const loaded = (effect: Effect.Effect<ReadonlyArray<Query.Loaded<User, { readonly messages: ReadonlyArray<Message> }>>>) => effect
const result = findMany(withMessages)
type Got = Effect.Effect.Success<typeof result>[number]
export const reactions: ReadonlyArray<Reaction> = (null as unknown as Got).messages[0]!.reactions
export const labels: ReadonlyArray<Label> = (null as unknown as Got).messages[0]!.labels
export const latest: Message | null = (null as unknown as Got).latest
// @ts-expect-error a relation that was not included is not on the row
export const notLoaded = (null as unknown as Got).messages[0]!.author
// @ts-expect-error belongsTo is the row or null
export const author: User = (null as unknown as Effect.Effect.Success<ReturnType<typeof findMessages>>)[0]!.author
declare const findMessages: (q: ReturnType<typeof messagesWithAuthor>) => ReturnType<Repository.Repository<typeof Messages>["findMany"]>
const messagesWithAuthor = () => Query.make(Messages).pipe(Query.include("author"))
// @ts-expect-error a misspelt relation
Query.make(Users).pipe(Query.include("mesages"))
// @ts-expect-error a table without relations has none to include
Query.make(UsersTable).pipe(Query.include("messages"))
// @ts-expect-error a nested filter is checked against the related model
Query.make(Users).pipe(Query.include("messages", (m) => m.pipe(Query.where({ bdy: "x" }))))
// @ts-expect-error a nested misspelt relation
Query.make(Users).pipe(Query.include("messages", (m) => m.pipe(Query.include("reaction"))))

// findById and getById take the includes as a second argument: the row type carries them.
declare const users: Repository.Repository<typeof Users>
const byIdOne = users.getById(1, Query.include("messages", (m) => m.pipe(Query.limit(20), Query.include("reactions"))))
export const byIdReactions: ReadonlyArray<Reaction> = (null as unknown as Effect.Effect.Success<typeof byIdOne>).messages[0]!.reactions
const byIdTwo = users.findById(1, (q) => q.pipe(Query.include("messages"), Query.include("latest")))
type ByIdTwo = Effect.Effect.Success<typeof byIdTwo>
export const byIdLatest = (found: ByIdTwo): Message | null => found._tag === "Some" ? found.value.latest : null
export const byIdMessages = (found: ByIdTwo): ReadonlyArray<Message> => found._tag === "Some" ? found.value.messages : []
// Without includes the row is the plain row, and the repository still fits Effect.forEach's callback.
export const plain: Effect.Effect<User, unknown> = users.getById(1)
export const forEachCallback: (id: number, index: number) => Effect.Effect<unknown, unknown> = users.findById
// @ts-expect-error a relation that was not included is not on the row
export const byIdNotLoaded = (null as unknown as Effect.Effect.Success<typeof byIdOne>).latest
// @ts-expect-error a misspelt relation in a read by key
users.getById(1, Query.include("mesages"))
// @ts-expect-error a key of the wrong type
users.getById("1", Query.include("messages"))
