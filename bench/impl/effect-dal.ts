/**
 * This project: Model classes, table definitions and repositories, run in
 * both calling modes by `fromEffects`. Written the way a user would write it.
 */
import * as Model from "@effect/sql/Model"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import { Database, Query, Repository, Table } from "effect-dal"
import { fromEffects } from "./from-effects.js"
import { balanceChanges } from "./shared.js"
import type { ImplementationModule } from "./types.js"
import { POOL_SIZE } from "./types.js"

class User extends Model.Class<User>("User")({
  id: Schema.Number,
  name: Schema.String,
  email: Schema.String,
  createdAt: Schema.DateFromSelf
}) {}

class Message extends Model.Class<Message>("Message")({
  id: Model.Generated(Schema.String),
  userId: Schema.Number,
  role: Schema.Literal("system", "user", "assistant"),
  content: Schema.String,
  contentLength: Schema.Number,
  createdAt: Model.Generated(Schema.DateFromSelf),
  deletedAt: Schema.NullOr(Schema.DateFromSelf)
}) {}

class Account extends Model.Class<Account>("Account")({
  id: Schema.Number,
  balance: Schema.Number
}) {}

const Users = Table.make(User, { name: "users", primaryKey: "id" })
export const Accounts = Table.make(Account, { name: "accounts", primaryKey: "id" })
export const Messages = Table.make(Message, { name: "messages", primaryKey: "id", softDelete: "deletedAt" })
// Users with their messages: eagerLoad goes through the relation (Query.include).
const UsersWithMessages = Table.relations(Users, (r) => ({ messages: r.hasMany(Messages, { foreignKey: "userId" }) }))

const recent = (userId: number) =>
  Query.make(Messages).pipe(Query.where({ userId }), Query.orderBy("createdAt", "desc"), Query.limit(20))

/** With the default include strategy ("auto"), or the one given (the strategy columns, index.ts). */
export const makeWith = (includeStrategy?: Database.IncludeStrategy): ImplementationModule["make"] => async (url) => {
  const runtime = ManagedRuntime.make(Database.layer({ url, maxConnections: POOL_SIZE, idleTimeout: 0, includeStrategy }))
  // Built once, as a repository service would be in a layer.
  const { accounts, messages, users, usersWithMessages } = await runtime.runPromise(Effect.all({
    users: Repository.make(Users),
    usersWithMessages: Repository.make(UsersWithMessages),
    messages: Repository.make(Messages),
    accounts: Repository.make(Accounts)
  }))

  return fromEffects(runtime, {
    findById: (id) => users.getById(id),
    recentMessages: (userId) => messages.findMany(recent(userId)),
    insertOne: (message) => messages.insert(message),
    transfer: (transfer) =>
      Database.transaction(Effect.forEach(
        balanceChanges(transfer),
        ({ delta, id }) => accounts.updateMany(Query.make(Accounts).pipe(Query.where({ id })), { balance: Repository.increment(delta) }),
        { discard: true }
      )),
    insertBatch: (rows) => messages.insertManyDiscard(rows),
    // Through the relation: one statement, or two (the users, then
    // `user_id = ANY($1)` for all their messages), as the strategy says.
    eagerLoad: (userIds) =>
      usersWithMessages.findMany(
        Query.make(UsersWithMessages).pipe(
          Query.where({ id: Query.in(userIds) }),
          Query.orderBy("id"),
          Query.include("messages", (m) => m.pipe(Query.orderBy("createdAt", "desc")))
        )
      )
  }, (effect) => Database.runPromise(runtime, effect))
}

export const make: ImplementationModule["make"] = makeWith()
