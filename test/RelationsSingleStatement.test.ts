/**
 * Eager loading on PostgreSQL under both include strategies, counted on the
 * wire (a proxy keeps the text of every statement run): the whole include
 * tree is one statement under "singleStatement" and one statement per level
 * under "perLevel", and both build the same rows, value for value, over
 * columns of many types (int8, numeric, timestamptz, jsonb, text[], uuid,
 * bytea, nullable columns). The contract's relations topic runs under each
 * strategy too.
 */
import { assert, describe, expect, layer } from "@effect/vitest"
import * as Model from "@effect/sql/Model"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Database from "../src/Database.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Table from "../src/Table.js"
import { sandbox } from "../src/testing/ContractSuite.js"
import { relations, relationsDdl } from "../src/testing/contract/relations.js"
import * as Admin from "./support/admin.js"
import { type StatementLog, statementLog } from "./support/statementLog.js"
import * as TestDatabase from "./support/TestDatabase.js"

class Org extends Model.Class<Org>("Org")({
  id: Model.Generated(Schema.Number),
  name: Schema.String
}) {}
class Person extends Model.Class<Person>("Person")({
  id: Model.Generated(Schema.NumberFromString),
  orgId: Schema.NullOr(Schema.Number),
  name: Schema.String,
  balance: Schema.String,
  joined: Schema.DateFromSelf,
  prefs: Schema.Struct({ theme: Schema.String, sizes: Schema.Array(Schema.Number) }),
  nicknames: Schema.Array(Schema.String),
  token: Schema.UUID,
  avatar: Schema.NullOr(Schema.Uint8ArrayFromSelf),
  note: Schema.NullOr(Schema.String),
  deletedAt: Schema.NullOr(Schema.DateFromSelf)
}) {}
class Post extends Model.Class<Post>("Post")({
  id: Model.Generated(Schema.Number),
  personId: Schema.NumberFromString,
  title: Schema.String,
  createdAt: Schema.DateFromSelf,
  deletedAt: Schema.NullOr(Schema.DateFromSelf)
}) {}
class Comment extends Model.Class<Comment>("Comment")({
  id: Model.Generated(Schema.Number),
  postId: Schema.Number,
  body: Schema.String,
  votes: Schema.NullOr(Schema.BigInt)
}) {}
class Tag extends Model.Class<Tag>("Tag")({
  id: Schema.UUID,
  name: Schema.String
}) {}
class PostTag extends Model.Class<PostTag>("PostTag")({
  id: Model.Generated(Schema.Number),
  postId: Schema.Number,
  tagId: Schema.UUID
}) {}
class Profile extends Model.Class<Profile>("Profile")({
  id: Model.Generated(Schema.Number),
  personId: Schema.NumberFromString,
  bio: Schema.String
}) {}

const Tags = Table.make(Tag, { name: "tags", primaryKey: "id" })
const PostTags = Table.make(PostTag, { name: "post_tags", primaryKey: "id" })
const Comments = Table.make(Comment, { name: "comments", primaryKey: "id" })
const Profiles = Table.make(Profile, { name: "profiles", primaryKey: "id" })
const Posts = Table.relations(
  Table.make(Post, { name: "posts", primaryKey: "id", softDelete: "deletedAt" }),
  (r) => ({
    comments: r.hasMany(Comments, { foreignKey: "postId" }),
    tags: r.manyToMany(Tags, { through: PostTags, foreignKey: "postId", targetKey: "tagId" })
  })
)
const OrgsTable = Table.make(Org, { name: "orgs", primaryKey: "id" })
const People = Table.relations(
  Table.make(Person, { name: "people", primaryKey: "id", softDelete: "deletedAt" }),
  (r) => ({
    org: r.belongsTo(() => OrgsTable, { foreignKey: "orgId" }),
    posts: r.hasMany(Posts, { foreignKey: "personId" }),
    profile: r.hasOne(Profiles, { foreignKey: "personId" })
  })
)
const Orgs = Table.relations(OrgsTable, (r) => ({ people: r.hasMany(People, { foreignKey: "orgId" }) }))

const ddl = [
  "create table orgs (id serial primary key, name text collate \"C\" not null)",
  `create table people (
    id bigserial primary key,
    org_id integer references orgs (id),
    name text collate "C" not null,
    balance numeric(12, 2) not null,
    joined timestamptz not null,
    prefs jsonb not null,
    nicknames text[] not null,
    token uuid not null,
    avatar bytea,
    note text,
    deleted_at timestamptz
  )`,
  `create table posts (
    id serial primary key,
    person_id bigint not null references people (id),
    title text collate "C" not null,
    created_at timestamptz not null,
    deleted_at timestamptz
  )`,
  "create table comments (id serial primary key, post_id integer not null references posts (id), body text collate \"C\" not null, votes bigint)",
  "create table tags (id uuid primary key, name text collate \"C\" not null)",
  "create table post_tags (id serial primary key, post_id integer not null references posts (id), tag_id uuid not null references tags (id))",
  "create table profiles (id serial primary key, person_id bigint not null references people (id), bio text not null)"
]

type Strategy = Database.IncludeStrategy

// What a program sends (BEGIN and COMMIT left out) under a strategy.
const under = <A, E>(strategy: Strategy, effect: Effect.Effect<A, E, Database.Database>) =>
  Effect.gen(function*() {
    const setup = yield* Setup
    const before = setup.log.executed().length
    const result = yield* Effect.provide(effect, setup[strategy])
    const sent = setup.log.executed().slice(before).filter((text) => !/^(BEGIN|COMMIT)/i.test(text))
    return { result, sent }
  })

const repositories = Effect.all({
  orgs: Repository.make(Orgs),
  people: Repository.make(People),
  posts: Repository.make(Posts),
  comments: Repository.make(Comments),
  tags: Repository.make(Tags),
  postTags: Repository.make(PostTags),
  profiles: Repository.make(Profiles)
})

const tagIds = ["6f1c2c4e-0000-4000-8000-000000000001", "6f1c2c4e-0000-4000-8000-000000000002"] as const

// Two orgs; four people (one without an org, one soft-deleted); posts with
// comments and tags; a profile for two people. Seeded once, by the setup.
const seed = Effect.gen(function*() {
  const repos = yield* repositories
  const [acme, globex] = yield* repos.orgs.insertMany([{ name: "Acme" }, { name: "Globex" }])
  const person = (i: number, orgId: number | null) => ({
    orgId,
    name: `person ${i}`,
    balance: `${i * 1000}.${i}5`,
    joined: new Date(Date.UTC(2024, 0, i + 1, 12, 0, 0, 123)),
    prefs: { theme: i % 2 === 0 ? "dark" : "light", sizes: [i, 1.5, -3] },
    nicknames: [`p${i}`, "a \"quoted\", {braced} one", ""],
    token: `00000000-0000-4000-8000-00000000000${i}`,
    avatar: i === 1 ? new Uint8Array([0, 1, 254, 255]) : null,
    note: i === 2 ? null : `note ${i} ü ✓`
  })
  const people = yield* repos.people.insertMany([person(1, acme!.id), person(2, acme!.id), person(3, null), person(4, globex!.id)])
  yield* repos.people.delete(people[3]!.id)
  const posts = yield* repos.posts.insertMany(people.flatMap((p, i) =>
    [0, 1, 2].map((n) => ({
      personId: p.id,
      title: `p${i + 1} post ${n}`,
      createdAt: new Date(Date.UTC(2024, 1, 1, i, n)),
      deletedAt: n === 2 && i === 0 ? new Date(Date.UTC(2024, 2, 1)) : null
    }))
  ))
  yield* repos.comments.insertMany(posts.flatMap((p, i) =>
    [0, 1].map((n) => ({ postId: p.id, body: `${p.title} comment ${n}`, votes: n === 0 ? null : BigInt("9007199254740993") + BigInt(i) }))
  ))
  yield* repos.tags.insertMany([{ id: tagIds[0], name: "news" }, { id: tagIds[1], name: "art" }])
  yield* repos.postTags.insertMany(posts.flatMap((p, i) => i % 2 === 0 ? [{ postId: p.id, tagId: tagIds[0] }, { postId: p.id, tagId: tagIds[1] }] : []))
  yield* repos.profiles.insertMany([{ personId: people[0]!.id, bio: "first" }, { personId: people[2]!.id, bio: "third" }])
})

// Orgs, their people, each person's org (belongsTo), profile (hasOne) and
// two newest posts, each post's comments and first tag by name: 3 levels.
const tree = Query.make(Orgs).pipe(
  Query.orderBy("id"),
  Query.include("people", (p) =>
    p.pipe(
      Query.orderBy("id"),
      Query.include("org"),
      Query.include("profile"),
      Query.include("posts", (posts) =>
        posts.pipe(
          Query.orderBy("createdAt", "desc"),
          Query.limit(2),
          Query.include("comments", (c) => c.pipe(Query.orderBy("id"))),
          Query.include("tags", (t) => t.pipe(Query.orderBy("name"), Query.limit(1)))
        ))
    ))
)

/** The log, and a Database per strategy, all on one test database through the proxy. */
class Setup extends Context.Tag("test/RelationsSingleStatement")<Setup, {
  readonly log: StatementLog
  readonly perLevel: Context.Context<Database.Database>
  readonly singleStatement: Context.Context<Database.Database>
  readonly auto: Context.Context<Database.Database>
  /** What the first single-statement tree sent. */
  readonly warmUp: ReadonlyArray<string>
}>() {}

const setup = Layer.scoped(
  Setup,
  Effect.gen(function*() {
    const url = yield* TestDatabase.url
    for (const statement of [...ddl, ...relationsDdl]) yield* Admin.query(url, statement)
    const log = yield* statementLog(url)
    const build = (includeStrategy: Database.IncludeStrategy) =>
      Layer.build(Database.layer({ url: log.url, maxConnections: 2, includeStrategy }))
    const perLevel = yield* build("perLevel")
    yield* Effect.provide(seed, perLevel)
    const singleStatement = yield* build("singleStatement")
    // The first tree loaded in one statement learns its tables' column types.
    const before = log.executed().length
    yield* Effect.provide(Effect.flatMap(repositories, ({ orgs }) => orgs.findMany(tree)), singleStatement)
    const warmUp = log.executed().slice(before)
    return { log, perLevel, singleStatement, auto: yield* build("auto"), warmUp }
  })
)

// Both strategies, the same program: the rows must be equal.
const both = <A, E>(effect: Effect.Effect<A, E, Database.Database>) =>
  Effect.gen(function*() {
    const perLevel = yield* under("perLevel", effect)
    const single = yield* under("singleStatement", effect)
    expect(single.result).toEqual(perLevel.result)
    return { perLevel, single }
  })

layer(setup, { timeout: 60_000 })("relations on PostgreSQL, both strategies", (it) => {
  describe("statements on the wire", () => {
    it.effect("a three-level tree is one statement under singleStatement, one per level under perLevel, with equal rows", () =>
      Effect.gen(function*() {
        // The first time, the related tables' column types are learned: one LIMIT 0 each.
        const { warmUp } = yield* Setup
        expect(warmUp.slice(0, -1).map((text) => /FROM "(\w+)" LIMIT 0$/.exec(text)?.[1]).sort()).toEqual(
          ["comments", "orgs", "people", "posts", "profiles", "tags"]
        )
        expect(warmUp.at(-1)).toContain("json_agg(")
        const { perLevel, single } = yield* both(Effect.flatMap(repositories, ({ orgs }) => orgs.findMany(tree)))
        expect(single.sent.length).toBe(1)
        expect(single.sent[0]).toContain("json_agg(")
        expect(single.sent[0]).not.toContain("= ANY(")
        // orgs, people, then org, profile and posts of the people, then comments and tags of the posts.
        expect(perLevel.sent.length).toBe(7)
        expect(perLevel.sent.slice(1).every((text) => text.includes("= ANY($1)"))).toBe(true)
        const [acme, globex] = single.result
        expect(acme!.people.map((p) => p.name)).toEqual(["person 1", "person 2"])
        // The soft-deleted person is left out: Globex has nobody.
        expect(globex!.people).toEqual([])
        const [one, two] = acme!.people
        expect(one!.org?.name).toBe("Acme")
        expect(one!.profile?.bio).toBe("first")
        expect(two!.profile).toBeNull()
        // Post 2 of person 1 is soft-deleted: the two newest live ones.
        expect(one!.posts.map((p) => p.title)).toEqual(["p1 post 1", "p1 post 0"])
        expect(one!.posts[0]!.comments.map((c) => c.body)).toEqual(["p1 post 1 comment 0", "p1 post 1 comment 1"])
        expect(one!.posts[1]!.tags.map((t) => t.name)).toEqual(["art"])
        expect(one!.posts[0]!.tags).toEqual([])
      }))

    it.effect("column values decode exactly as per level: int8, numeric, timestamptz, jsonb, text[], uuid, bytea, NULL", () =>
      Effect.gen(function*() {
        const query = Query.make(Orgs).pipe(Query.orderBy("id"), Query.include("people", (p) => p.pipe(Query.orderBy("id"))))
        const { single } = yield* both(Effect.flatMap(repositories, ({ orgs }) => orgs.findMany(query)))
        const [one, two] = single.result[0]!.people
        expect(typeof one!.id).toBe("number")
        expect(one!.balance).toBe("1000.15")
        expect(one!.joined.toISOString()).toBe("2024-01-02T12:00:00.123Z")
        expect(one!.prefs).toEqual({ theme: "light", sizes: [1, 1.5, -3] })
        expect(one!.nicknames).toEqual(["p1", "a \"quoted\", {braced} one", ""])
        expect(one!.token).toBe("00000000-0000-4000-8000-000000000001")
        assert(one!.avatar instanceof Uint8Array)
        expect(Array.from(one!.avatar)).toEqual([0, 1, 254, 255])
        expect(one!.note).toBe("note 1 ü ✓")
        expect([two!.avatar, two!.note, two!.deletedAt]).toEqual([null, null, null])
        const comments = yield* under(
          "singleStatement",
          Effect.flatMap(repositories, ({ posts }) => posts.findMany(Query.make(Posts).pipe(Query.orderBy("id"), Query.limit(1), Query.include("comments", (c) => c.pipe(Query.orderBy("id"))))))
        )
        expect(comments.result[0]!.comments.map((c) => c.votes)).toEqual([null, BigInt("9007199254740993")])
      }))

    it.effect("a null foreign key loads null; withDeleted and an include's filter apply to the related rows", () =>
      Effect.gen(function*() {
        const query = Query.make(People).pipe(
          Query.withDeleted,
          Query.orderBy("id"),
          Query.include("org"),
          Query.include("posts", (p) => p.pipe(Query.withDeleted, Query.where({ title: Query.like("%post 2") }), Query.orderBy("id")))
        )
        const { single } = yield* both(Effect.flatMap(repositories, ({ people }) => people.findMany(query)))
        expect(single.result.map((p) => [p.name, p.org?.name ?? null, p.posts.map((post) => post.title)])).toEqual([
          ["person 1", "Acme", ["p1 post 2"]],
          ["person 2", "Acme", ["p2 post 2"]],
          ["person 3", null, ["p3 post 2"]],
          ["person 4", "Globex", ["p4 post 2"]]
        ])
        expect(single.sent.length).toBe(1)
      }))

    it.effect("whereRelated with an include: the filter on the rows, the include on each row's related rows", () =>
      Effect.gen(function*() {
        const query = Query.make(People).pipe(
          Query.whereRelated("profile", "some"),
          Query.orderBy("id"),
          Query.include("posts", (p) => p.pipe(Query.whereRelated("tags", "some", (t) => t.pipe(Query.where({ name: "art" }))), Query.orderBy("id")))
        )
        const { single } = yield* both(Effect.flatMap(repositories, ({ people }) => people.findMany(query)))
        expect(single.result.map((p) => [p.name, p.posts.map((post) => post.title)])).toEqual([
          ["person 1", ["p1 post 0"]],
          ["person 3", ["p3 post 0", "p3 post 2"]]
        ])
        expect(single.sent.length).toBe(1)
      }))

    it.effect("inside a transaction, and through findOne, paginate and stream: one statement each", () =>
      Effect.gen(function*() {
        const inTransaction = yield* both(Database.transaction(Effect.flatMap(repositories, ({ orgs }) => orgs.findMany(tree))))
        expect(inTransaction.single.sent.length).toBe(1)
        const one = yield* both(Effect.flatMap(repositories, ({ orgs }) => orgs.findOne(tree)))
        expect(one.single.sent.length).toBe(1)
        assert(Option.isSome(one.single.result))
        expect(one.single.result.value.people.length).toBe(2)
        const page = yield* both(Effect.flatMap(repositories, ({ orgs }) => orgs.paginate(tree, { limit: 1 })))
        expect(page.single.sent.length).toBe(1)
        expect(page.single.result.items.map((o) => o.people.length)).toEqual([2])
        const streamed = yield* both(
          Effect.flatMap(repositories, ({ orgs }) => Effect.map(Stream.runCollect(orgs.stream(tree, { batchSize: 1 })), Chunk.toReadonlyArray))
        )
        expect(streamed.single.sent.length).toBe(1)
        expect(streamed.single.result.map((o) => o.people.map((p) => p.posts.length))).toEqual([[2, 2], []])
      }))
  })

  describe("auto", () => {
    it.effect("one statement, unless a belongsTo relation is loaded for many rows: then per level", () =>
      Effect.gen(function*() {
        const withoutBelongsTo = Query.make(Orgs).pipe(
          Query.orderBy("id"),
          Query.include("people", (p) => p.pipe(Query.orderBy("id"), Query.include("profile"), Query.include("posts", (posts) => posts.pipe(Query.orderBy("id")))))
        )
        // The first time, this Database learns the three tables' column types.
        const first = yield* under("auto", Effect.flatMap(repositories, ({ orgs }) => orgs.findMany(withoutBelongsTo)))
        expect(first.sent.length).toBe(4)
        const plain = yield* under("auto", Effect.flatMap(repositories, ({ orgs }) => orgs.findMany(withoutBelongsTo)))
        expect(plain.sent.length).toBe(1)
        expect(plain.result).toEqual(first.result)
        expect(plain.result[0]!.people.map((p) => p.posts.length)).toEqual([2, 3])
        // people.org is a belongsTo under many rows.
        const shared = yield* under("auto", Effect.flatMap(repositories, ({ orgs }) => orgs.findMany(tree)))
        expect(shared.sent.length).toBe(7)
        // For one row a belongsTo is not shared: one statement.
        const one = yield* under(
          "auto",
          Effect.flatMap(repositories, ({ people }) => people.findOne(Query.make(People).pipe(Query.orderBy("id"), Query.include("org"), Query.include("profile"))))
        )
        // (Its first time loading orgs as an include: one LIMIT 0 for their column types.)
        expect(one.sent.filter((text) => !text.endsWith("LIMIT 0")).length).toBe(1)
        assert(Option.isSome(one.result))
        expect([one.result.value.org?.name, one.result.value.profile?.bio]).toEqual(["Acme", "first"])
      }))
  })

  describe("bad input sends nothing", () => {
    it.effect("an unknown relation from untyped JavaScript is InvalidQuery", () =>
      Effect.gen(function*() {
        const untyped: any = Query.include
        const query = Query.make(People).pipe(Query.include("posts", (p) => p.pipe(untyped("secrets"))))
        const { result, sent } = yield* under("singleStatement", Effect.flip(Effect.flatMap(repositories, ({ people }) => people.findMany(query))))
        assert(result._tag === "InvalidQuery")
        expect([result.table, result.part, result.field]).toEqual(["posts", "include", "secrets"])
        expect(sent).toEqual([])
      }))

    it.effect("a nested filter value that fails its schema is a ParseError", () =>
      Effect.gen(function*() {
        const query = Query.make(Orgs).pipe(
          Query.include("people", (p) =>
            p.pipe(Query.include("posts", (posts) => posts.pipe(Query.where({ createdAt: "yesterday; drop table orgs" as unknown as Date })))))
        )
        const { result, sent } = yield* under("singleStatement", Effect.flip(Effect.flatMap(repositories, ({ orgs }) => orgs.findMany(query))))
        expect(ParseResult.isParseError(result)).toBe(true)
        expect(sent).toEqual([])
      }))
  })
})

// The contract's relations topic, under each strategy forced.
const contractUnder = (includeStrategy: Database.IncludeStrategy) =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const url = yield* TestDatabase.url
    for (const statement of relationsDdl) yield* Admin.query(url, statement)
    return Database.layer({ url, maxConnections: 2, includeStrategy })
  }))

for (const strategy of ["singleStatement", "perLevel"] as const) {
  layer(contractUnder(strategy), { timeout: 60_000 })(`relations contract on PostgreSQL, ${strategy}`, (it) => {
    relations((title, body) => it.effect(title, () => sandbox(body())))
  })
}
