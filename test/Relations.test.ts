/**
 * Eager loading on PostgreSQL per level (includeStrategy "perLevel"; the
 * single statement is test/RelationsSingleStatement.test.ts), counted on
 * the wire: a proxy keeps the text
 * of every statement sent. Each included relation level is one statement,
 * whatever the number of parent rows; bad input sends nothing.
 */
import { assert, describe, expect, layer } from "@effect/vitest"
import * as Model from "@effect/sql/Model"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Database from "../src/Database.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Table from "../src/Table.js"
import * as Admin from "./support/admin.js"
import { type StatementLog, statementLog } from "./support/statementLog.js"
import * as TestDatabase from "./support/TestDatabase.js"

class User extends Model.Class<User>("User")({
  id: Model.Generated(Schema.Number),
  name: Schema.String
}) {}
class Message extends Model.Class<Message>("Message")({
  id: Model.Generated(Schema.Number),
  userId: Schema.Number,
  body: Schema.String,
  createdAt: Schema.DateFromSelf,
  deletedAt: Schema.NullOr(Schema.DateFromSelf)
}) {}
class Reaction extends Model.Class<Reaction>("Reaction")({
  id: Model.Generated(Schema.Number),
  messageId: Schema.Number,
  emoji: Schema.String
}) {}

const Reactions = Table.make(Reaction, { name: "reactions", primaryKey: "id" })
const Messages = Table.relations(
  Table.make(Message, { name: "messages", primaryKey: "id", softDelete: "deletedAt" }),
  (r) => ({ reactions: r.hasMany(Reactions, { foreignKey: "messageId" }) })
)
const Users = Table.relations(
  Table.make(User, { name: "users", primaryKey: "id" }),
  (r) => ({ messages: r.hasMany(Messages, { foreignKey: "userId" }) })
)

const ddl = [
  "create table users (id serial primary key, name text not null)",
  `create table messages (
    id serial primary key,
    user_id integer not null constraint messages_user_fk references users (id),
    body text not null,
    created_at timestamptz not null,
    deleted_at timestamptz
  )`,
  "create table reactions (id serial primary key, message_id integer not null references messages (id), emoji text not null)"
]

class Log extends Effect.Tag("test/RelationsLog")<Log, StatementLog>() {}

const database = Layer.unwrapScoped(Effect.gen(function*() {
  const url = yield* TestDatabase.url
  for (const statement of ddl) yield* Admin.query(url, statement)
  const log = yield* statementLog(url)
  return Layer.merge(Database.layer({ url: log.url, maxConnections: 2, includeStrategy: "perLevel" }), Layer.succeed(Log, log))
}))

// 50 users, 30 messages each (one soft-deleted), 2 reactions on each message.
const seed = Effect.gen(function*() {
  const users = yield* Repository.make(Users)
  const messages = yield* Repository.make(Messages)
  const reactions = yield* Repository.make(Reactions)
  if ((yield* users.count()) > 0) return { users, messages }
  const people = yield* users.insertMany(Array.from({ length: 50 }, (_, i) => ({ name: `user ${i}` })))
  const written = yield* messages.insertMany(people.flatMap((u) =>
    Array.from({ length: 30 }, (_, m) => ({
      userId: u.id,
      body: `${u.name} message ${m}`,
      createdAt: new Date(Date.UTC(2024, 0, 1, 0, m)),
      deletedAt: m === 29 ? new Date(Date.UTC(2024, 1, 1)) : null
    }))
  ))
  yield* reactions.insertManyDiscard(written.flatMap((m) => [{ messageId: m.id, emoji: "+1" }, { messageId: m.id, emoji: "heart" }]))
  return { users, messages }
})

// The statements a program runs (BEGIN and COMMIT left out).
const sentBy = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const log = yield* Log
    const before = log.executed().length
    const result = yield* effect
    const sent = log.executed().slice(before).filter((text) => !/^(BEGIN|COMMIT)/i.test(text))
    return { result, sent }
  })

const recent = Query.make(Users).pipe(
  Query.orderBy("id"),
  Query.include("messages", (m) =>
    m.pipe(
      Query.orderBy("createdAt", "desc"),
      Query.limit(20),
      Query.include("reactions", (r) => r.pipe(Query.orderBy("emoji")))
    ))
)

layer(database, { timeout: 60_000 })("relations on PostgreSQL", (it) => {
  describe("eager loading", () => {
    it.effect("users, their 20 newest messages and the messages' reactions: 3 statements for 50 users", () =>
      Effect.gen(function*() {
        const { users } = yield* seed
        const { result, sent } = yield* sentBy(users.findMany(recent))
        expect(sent.length).toBe(3)
        expect(sent[1]).toContain("= ANY($1)")
        expect(sent[1]).toContain("row_number() OVER (PARTITION BY \"user_id\" ORDER BY \"created_at\" DESC NULLS FIRST)")
        expect(sent[2]).toContain("\"message_id\" = ANY($1)")
        expect(result.length).toBe(50)
        expect(result.every((u) => u.messages.length === 20)).toBe(true)
        // The newest live message first: message 29 is soft-deleted.
        expect(result[7]!.messages[0]!.body).toBe("user 7 message 28")
        expect(result[7]!.messages[19]!.body).toBe("user 7 message 9")
        expect(result[7]!.messages.every((m) => m.userId === result[7]!.id)).toBe(true)
        expect(result[7]!.messages[3]!.reactions.map((r) => r.emoji)).toEqual(["+1", "heart"])
      }))

    it.effect("the same inside a transaction, and through findOne and paginate", () =>
      Effect.gen(function*() {
        const { users } = yield* seed
        const inTransaction = yield* sentBy(Database.transaction(users.findMany(recent)))
        expect(inTransaction.sent.length).toBe(3)
        expect(inTransaction.result.map((u) => u.messages.length)).toEqual(Array.from({ length: 50 }, () => 20))
        const one = yield* sentBy(users.findOne(recent))
        expect(one.sent.length).toBe(3)
        assert(one.result._tag === "Some")
        expect(one.result.value.messages.length).toBe(20)
        const page = yield* sentBy(users.paginate(recent, { limit: 10 }))
        expect(page.sent.length).toBe(3)
        expect(page.result.items.map((u) => u.messages[0]!.reactions.length)).toEqual(Array.from({ length: 10 }, () => 2))
      }))

    it.effect("no parent rows, no statement for the relations", () =>
      Effect.gen(function*() {
        const { users } = yield* seed
        const { result, sent } = yield* sentBy(users.findMany(recent.pipe(Query.where({ name: "nobody" }))))
        expect([result.length, sent.length]).toEqual([0, 1])
      }))
  })

  describe("reads by key with includes", () => {
    const newest = (q: Query.Query<User, Table.RelationsOf<typeof Users>>) =>
      q.pipe(Query.include("messages", (m) =>
        m.pipe(Query.orderBy("createdAt", "desc"), Query.limit(20), Query.include("reactions", (r) => r.pipe(Query.orderBy("emoji"))))))
    const batched = { concurrency: "unbounded", batching: true } as const

    it.effect("getById with two include levels: 3 statements, outside and inside a transaction", () =>
      Effect.gen(function*() {
        const { users } = yield* seed
        const first = (yield* users.findMany(Query.make(Users).pipe(Query.orderBy("id"), Query.limit(1))))[0]!
        const outside = yield* sentBy(users.getById(first.id, newest))
        expect(outside.sent.length).toBe(3)
        expect(outside.sent[1]).toContain("= ANY($1)")
        expect(outside.result.messages.map((m) => m.body).slice(0, 2)).toEqual([`${first.name} message 28`, `${first.name} message 27`])
        expect(outside.result.messages[0]!.reactions.map((r) => r.emoji)).toEqual(["+1", "heart"])
        const inside = yield* sentBy(Database.transaction(users.findById(first.id, newest)))
        expect(inside.sent.length).toBe(3)
        assert(inside.result._tag === "Some")
        expect(inside.result.value.messages.length).toBe(20)
      }))

    it.effect("30 concurrent getById calls with the same includes: one statement per level for all of them", () =>
      Effect.gen(function*() {
        const { users } = yield* seed
        const ids = (yield* users.findMany(Query.make(Users).pipe(Query.orderBy("id"), Query.limit(30)))).map((u) => u.id)
        const outside = yield* sentBy(Effect.forEach(ids, (id) => users.getById(id, newest), batched))
        expect(outside.sent.length).toBe(3)
        expect(outside.result.map((u) => u.id)).toEqual(ids)
        expect(outside.result.every((u) => u.messages.length === 20 && u.messages.every((m) => m.userId === u.id))).toBe(true)
        const inside = yield* sentBy(Database.transaction(Effect.forEach(ids, (id) => users.getById(id, newest), batched)))
        expect(inside.sent.length).toBe(3)
        expect(inside.result.map((u) => u.messages[0]!.reactions.length)).toEqual(ids.map(() => 2))
      }))

    it.effect("callers with different includes share the statement for the rows; each include group loads on its own", () =>
      Effect.gen(function*() {
        const { users } = yield* seed
        const ids = (yield* users.findMany(Query.make(Users).pipe(Query.orderBy("id"), Query.limit(6)))).map((u) => u.id)
        const { result, sent } = yield* sentBy(Effect.forEach(ids, (id, i) =>
          i % 3 === 0
            ? users.getById(id)
            : i % 3 === 1
            ? users.getById(id, newest)
            : users.getById(id, Query.include("messages", (m) => m.pipe(Query.orderBy("createdAt"), Query.limit(1)))), batched))
        // The rows; messages and reactions for one group; messages for the other.
        expect(sent.length).toBe(4)
        expect(result.map((u) => "messages" in u ? (u.messages as ReadonlyArray<unknown>).length : undefined)).toEqual([
          undefined,
          20,
          1,
          undefined,
          20,
          1
        ])
      }))

    it.effect("a filter in a read by key's include, or an unknown relation, sends nothing", () =>
      Effect.gen(function*() {
        const { users } = yield* seed
        const filtered = yield* sentBy(Effect.flip(users.getById(1, Query.where({ name: "x" }))))
        assert(filtered.result._tag === "InvalidQuery")
        expect(filtered.result.part).toBe("include")
        expect(filtered.sent).toEqual([])
        const unknown = yield* sentBy(Effect.flip(users.findById(1, (Query.include as any)("secrets"))))
        assert(unknown.result._tag === "InvalidQuery")
        expect(unknown.sent).toEqual([])
      }))
  })

  describe("bad input sends nothing", () => {
    it.effect("an include of an unknown relation (from untyped JavaScript) is InvalidQuery", () =>
      Effect.gen(function*() {
        const { users } = yield* seed
        const untyped: any = Query.include
        const { result, sent } = yield* sentBy(Effect.flip(users.findMany(Query.make(Users).pipe(untyped("secrets")))))
        assert(result._tag === "InvalidQuery")
        expect([result.table, result.part, result.field]).toEqual(["users", "include", "secrets"])
        expect(sent).toEqual([])
      }))

    it.effect("a nested include's filter value that fails the schema is a ParseError", () =>
      Effect.gen(function*() {
        const { users } = yield* seed
        const bad = Query.make(Users).pipe(
          Query.include("messages", (m) =>
            m.pipe(Query.include("reactions", (r) => r.pipe(Query.where({ messageId: "1; drop table users" as unknown as number })))))
        )
        const { result, sent } = yield* sentBy(Effect.flip(users.findMany(bad)))
        expect(ParseResult.isParseError(result)).toBe(true)
        expect(sent).toEqual([])
      }))
  })

  describe("writes", () => {
    it.effect("a row whose foreign key refers to no row is ForeignKeyViolation naming the constraint", () =>
      Effect.gen(function*() {
        const { messages } = yield* seed
        const error = yield* Effect.flip(messages.insert({ userId: 999_999, body: "x", createdAt: new Date() }))
        assert(error._tag === "ForeignKeyViolation")
        expect(error.constraint).toBe("messages_user_fk")
      }))
  })
})
