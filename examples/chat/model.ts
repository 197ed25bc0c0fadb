/**
 * The chat-history model: users keyed by the messenger's numeric user id,
 * their settings, and their messages (soft-deleted when a user clears the
 * history). Each `Model.Class` describes a row; `Table.make` binds it to a
 * PostgreSQL table made by the migrations in `./migrations.ts`.
 */
import * as Model from "@effect/sql/Model"
import * as Schema from "effect/Schema"
import { Table } from "effect-dal"

/** The messenger's user id. Telegram's ids need more than 32 bits, so the column is `bigint`. */
export const UserId = Schema.Int.pipe(Schema.brand("UserId"))
export type UserId = typeof UserId.Type

export class User extends Model.Class<User>("User")({
  // The app supplies the key (it comes from the messenger), so inserts must give it.
  id: Model.GeneratedByApp(UserId),
  name: Schema.NonEmptyTrimmedString,
  createdAt: Model.DateTimeInsertFromDate
}) {}

export const Users = Table.make(User, {
  name: "users",
  primaryKey: "id",
  timestamps: { created: "createdAt" }
})

export class UserSettings extends Model.Class<UserSettings>("UserSettings")({
  userId: Model.GeneratedByApp(UserId),
  /** How many recent messages the assistant sees. */
  maxHistoryMessages: Schema.Int,
  systemPrompt: Schema.String,
  createdAt: Model.DateTimeInsertFromDate,
  updatedAt: Model.DateTimeUpdateFromDate
}) {}

export const UserSettingsTable = Table.make(UserSettings, {
  name: "user_settings",
  primaryKey: "userId",
  timestamps: { created: "createdAt", updated: "updatedAt" }
})

export const Role = Schema.Literal("system", "user", "assistant")
export type Role = typeof Role.Type

export class Message extends Model.Class<Message>("Message")({
  id: Model.Generated(Schema.UUID),
  userId: UserId,
  role: Role,
  content: Schema.String,
  /** `char_length(content)`, computed by PostgreSQL (a stored generated column). */
  contentLength: Model.Generated(Schema.Int),
  /**
   * A bigint identity: the order messages arrived in. `createdAt` alone is
   * not unique (two messages in the same millisecond, or the messenger's
   * one-second timestamps), so it breaks ties.
   */
  arrival: Model.Generated(Schema.Int),
  createdAt: Model.DateTimeInsertFromDate,
  /** NULL until the message is deleted: `delete` and `deleteMany` set it, reads leave such rows out. */
  deletedAt: Schema.NullOr(Schema.DateFromSelf)
}) {}

export const Messages = Table.make(Message, {
  name: "messages",
  primaryKey: "id",
  softDelete: "deletedAt",
  timestamps: { created: "createdAt" }
})

/**
 * Users with their messages, for reads that load a user's history with the
 * user (`Query.include("messages", ...)`): one statement for the users, one
 * for the messages of all of them.
 */
export const UsersWithMessages = Table.relations(Users, (r) => ({
  messages: r.hasMany(Messages, { foreignKey: "userId" })
}))
