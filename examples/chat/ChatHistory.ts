/**
 * The chat history as a service: the repositories of the three tables
 * behind the operations a chat bot needs. `Effect.Service` gives it a
 * default layer, which needs only a `Database` (PostgreSQL, or any other
 * backend the repositories run on).
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Database, Query, Repository, type Table } from "effect-dal"
import { Assistant } from "./Assistant.js"
import { Messages, type Role, type UserId, Users, UsersWithMessages, UserSettingsTable } from "./model.js"

export class ChatHistory extends Effect.Service<ChatHistory>()("examples/chat/ChatHistory", {
  effect: Effect.gen(function*() {
    const users = yield* Repository.make(Users)
    const settings = yield* Repository.make(UserSettingsTable)
    const messages = yield* Repository.make(Messages)
    const profiles = yield* Repository.make(UsersWithMessages)

    /** A new user and their settings: both are written, or neither. */
    const register = (user: Table.Insert<typeof Users>, userSettings: Table.Insert<typeof UserSettingsTable>) =>
      Database.transaction(
        Effect.all({ user: users.insert(user), settings: settings.insert(userSettings) })
      )

    const append = (userId: UserId, role: Role, content: string) =>
      messages.insert({ userId, role, content })

    /** The user's `limit` most recent messages that are not deleted, oldest first. */
    const recent = (userId: UserId, limit: number) =>
      messages.findMany(
        Query.make(Messages).pipe(
          Query.where({ userId }),
          Query.orderBy("createdAt", "desc"),
          Query.orderBy("arrival", "desc"),
          Query.limit(limit)
        )
      ).pipe(Effect.map((newestFirst) => [...newestFirst].reverse()))

    /**
     * The user with their `limit` most recent messages (oldest first), read
     * through the relation: two statements, the second `= ANY($1)` with a
     * per-user limit, however many users a query like this one returns.
     */
    const withRecent = (userId: UserId, limit: number) =>
      profiles.findOne(
        Query.make(UsersWithMessages).pipe(
          Query.where({ id: userId }),
          Query.include("messages", (m) =>
            m.pipe(Query.orderBy("createdAt", "desc"), Query.orderBy("arrival", "desc"), Query.limit(limit)))
        )
      ).pipe(Effect.map(Option.map((user) => ({ user, recent: [...user.messages].reverse() }))))

    /** Soft-deletes the user's whole history; succeeds with how many messages. */
    const clear = (userId: UserId) => messages.deleteMany(Query.make(Messages).pipe(Query.where({ userId })))

    /** How many messages the user has: visible ones, or with the soft-deleted ones too. */
    const countMessages = (userId: UserId, options: { readonly includeDeleted?: boolean } = {}) => {
      const mine = Query.make(Messages).pipe(Query.where({ userId }))
      return messages.count(options.includeDeleted ? Query.withDeleted(mine) : mine)
    }

    /**
     * One exchange: store the user's message, read as much history as their
     * settings allow, ask the assistant, store its reply. No transaction
     * around it: a model call can take seconds, and a transaction would hold
     * a pooled connection (and its locks) all that time.
     */
    const converse = (userId: UserId, text: string) =>
      Effect.gen(function*() {
        const assistant = yield* Assistant
        const own = yield* settings.getById(userId)
        yield* append(userId, "user", text)
        const history = yield* recent(userId, own.maxHistoryMessages)
        const answer = yield* assistant.reply(own, history)
        return yield* append(userId, "assistant", answer)
      })

    return {
      register,
      append,
      recent,
      withRecent,
      clear,
      countMessages,
      converse,
      findUser: users.findById,
      countUsers: users.count(),
      settingsOf: settings.getById
    } as const
  })
}) {}
