/**
 * The contract's relations: eager loading (`Query.include`) of belongs-to,
 * has-one, has-many and many-to-many relations, nested, each with its own
 * filter, ordering and per-parent limit, through every read that returns
 * rows; and filtering by related rows (`Query.whereRelated`). The fixture
 * tables of this part and their DDL are here too.
 */
import { assert, describe, expect } from "@effect/vitest"
import * as Model from "@effect/sql/Model"
import * as Chunk from "effect/Chunk"
import * as Database from "../../Database.js"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Query from "../../Query.js"
import * as Repository from "../../Repository.js"
import * as Table from "../../Table.js"
import type { Test } from "./shared.js"

class Author extends Model.Class<Author>("Author")({
  id: Model.Generated(Schema.Number),
  name: Schema.String,
  deletedAt: Schema.NullOr(Schema.DateFromSelf)
}) {}
class Post extends Model.Class<Post>("Post")({
  id: Model.Generated(Schema.Number),
  authorId: Schema.Number,
  title: Schema.String,
  rank: Schema.Number,
  deletedAt: Schema.NullOr(Schema.DateFromSelf)
}) {}
class Comment extends Model.Class<Comment>("Comment")({
  id: Model.Generated(Schema.Number),
  postId: Schema.Number,
  /** Who wrote it: null for an anonymous comment (a nullable foreign key). */
  authorId: Schema.NullOr(Schema.Number),
  body: Schema.String,
  rank: Schema.Number
}) {}
class Profile extends Model.Class<Profile>("Profile")({
  id: Model.Generated(Schema.Number),
  authorId: Schema.Number,
  bio: Schema.String
}) {}
class Label extends Model.Class<Label>("Label")({
  id: Schema.String,
  name: Schema.String
}) {}
class PostLabel extends Model.Class<PostLabel>("PostLabel")({
  postId: Schema.Number,
  labelId: Schema.String
}) {}

class Attachment extends Model.Class<Attachment>("Attachment")({
  id: Schema.UUID,
  name: Schema.String
}) {}
class AttachmentTag extends Model.Class<AttachmentTag>("AttachmentTag")({
  attachmentId: Schema.UUID,
  tag: Schema.String
}) {}

const AttachmentTags = Table.make(AttachmentTag, { name: "rel_attachment_tags", primaryKey: ["attachmentId", "tag"] })

/**
 * Attachments, keyed by a uuid the caller chooses, with their tags (a
 * composite key of a uuid and a text).
 *
 * @since 0.1.0
 * @category fixtures
 * @internal
 */
export const Attachments = Table.relations(Table.make(Attachment, { name: "rel_attachments", primaryKey: "id" }), (r) => ({
  tags: r.hasMany(AttachmentTags, { foreignKey: "attachmentId" })
}))

const AuthorsTable = Table.make(Author, { name: "rel_authors", primaryKey: "id", softDelete: "deletedAt" })
const PostsTable = Table.make(Post, { name: "rel_posts", primaryKey: "id", softDelete: "deletedAt" })
const CommentsTable = Table.make(Comment, { name: "rel_comments", primaryKey: "id" })
/**
 * Profiles, at most one per author.
 *
 * @since 0.1.0
 * @category fixtures
 * @internal
 */
export const Profiles = Table.make(Profile, { name: "rel_profiles", primaryKey: "id", uniqueKeys: [["authorId"]] })
/**
 * Labels, keyed by text.
 *
 * @since 0.1.0
 * @category fixtures
 * @internal
 */
export const Labels = Table.make(Label, { name: "rel_labels", primaryKey: "id" })
// A join table keyed by both of its foreign keys.
const PostLabelsTable = Table.make(PostLabel, { name: "rel_post_labels", primaryKey: ["postId", "labelId"] })

/**
 * Posts, with their comments, labels (through `rel_post_labels`) and author.
 *
 * @since 0.1.0
 * @category fixtures
 * @internal
 */
export const Posts = Table.relations(PostsTable, (r) => ({
  author: r.belongsTo(() => AuthorsTable, { foreignKey: "authorId" }),
  comments: r.hasMany(CommentsTable, { foreignKey: "postId" }),
  labels: r.manyToMany(Labels, { through: PostLabelsTable, foreignKey: "postId", targetKey: "labelId" })
}))

/**
 * Authors, with their posts, profile and comments (through the comments'
 * nullable foreign key).
 *
 * @since 0.1.0
 * @category fixtures
 * @internal
 */
export const Authors = Table.relations(AuthorsTable, (r) => ({
  posts: r.hasMany(Posts, { foreignKey: "authorId" }),
  profile: r.hasOne(Profiles, { foreignKey: "authorId" }),
  comments: r.hasMany(CommentsTable, { foreignKey: "authorId" })
}))

/**
 * Comments, with their post and their author (null for an anonymous one).
 *
 * @since 0.1.0
 * @category fixtures
 * @internal
 */
export const CommentsWithPost = Table.relations(CommentsTable, (r) => ({
  post: r.belongsTo(Posts, { foreignKey: "postId" }),
  author: r.belongsTo(() => AuthorsTable, { foreignKey: "authorId" })
}))

/**
 * The join table of posts and labels (composite primary key), with both sides.
 *
 * @since 0.1.0
 * @category fixtures
 * @internal
 */
export const PostLabels = Table.relations(PostLabelsTable, (r) => ({
  post: r.belongsTo(Posts, { foreignKey: "postId" }),
  label: r.belongsTo(Labels, { foreignKey: "labelId" })
}))

/**
 * The DDL of this part's tables (PostgreSQL).
 *
 * @since 0.1.0
 * @category fixtures
 * @internal
 */
export const relationsDdl: ReadonlyArray<string> = [
  `create table rel_authors (
    id serial primary key,
    name text collate "C" not null,
    deleted_at timestamptz
  )`,
  `create table rel_posts (
    id serial primary key,
    author_id integer not null references rel_authors (id),
    title text collate "C" not null,
    rank integer not null,
    deleted_at timestamptz
  )`,
  `create table rel_comments (
    id serial primary key,
    post_id integer not null references rel_posts (id),
    author_id integer references rel_authors (id),
    body text collate "C" not null,
    rank integer not null
  )`,
  `create table rel_profiles (
    id serial primary key,
    author_id integer not null unique references rel_authors (id),
    bio text collate "C" not null
  )`,
  `create table rel_labels (
    id text collate "C" primary key,
    name text collate "C" not null
  )`,
  `create table rel_attachments (
    id uuid primary key,
    name text collate "C" not null
  )`,
  `create table rel_attachment_tags (
    attachment_id uuid not null references rel_attachments (id),
    tag text collate "C" not null,
    primary key (attachment_id, tag)
  )`,
  `create table rel_post_labels (
    post_id integer not null references rel_posts (id),
    label_id text collate "C" not null references rel_labels (id),
    primary key (post_id, label_id)
  )`
]

const repositories = Effect.all({
  authors: Repository.make(Authors),
  posts: Repository.make(Posts),
  comments: Repository.make(CommentsWithPost),
  profiles: Repository.make(Profiles),
  labels: Repository.make(Labels),
  postLabels: Repository.make(PostLabels)
})

/**
 * Ann (posts a1 rank 1, a2 rank 2, a3 rank 3, a4 soft-deleted rank 4; a
 * profile), Bob (post b1), Cid (no posts, no profile); comments on a1 (3:
 * by Bob, anonymous, by Ann) and b1 (1, anonymous); labels x, y on a1, y on
 * a2 and b1.
 */
const seed = Effect.gen(function*() {
  const repos = yield* repositories
  const [ann, bob, cid] = yield* repos.authors.insertMany([{ name: "Ann" }, { name: "Bob" }, { name: "Cid" }])
  const [a1, a2, a3, a4, b1] = yield* repos.posts.insertMany([
    { authorId: ann!.id, title: "a1", rank: 1 },
    { authorId: ann!.id, title: "a2", rank: 2 },
    { authorId: ann!.id, title: "a3", rank: 3 },
    { authorId: ann!.id, title: "a4", rank: 4 },
    { authorId: bob!.id, title: "b1", rank: 1 }
  ])
  yield* repos.posts.delete(a4!.id)
  yield* repos.comments.insertMany([
    { postId: a1!.id, authorId: bob!.id, body: "a1-c1", rank: 1 },
    { postId: a1!.id, authorId: null, body: "a1-c2", rank: 2 },
    { postId: a1!.id, authorId: ann!.id, body: "a1-c3", rank: 3 },
    { postId: b1!.id, authorId: null, body: "b1-c1", rank: 1 }
  ])
  yield* repos.profiles.insert({ authorId: ann!.id, bio: "Ann's bio" })
  yield* repos.labels.insertMany([{ id: "x", name: "X" }, { id: "y", name: "Y" }])
  yield* repos.postLabels.insertMany([
    { postId: a1!.id, labelId: "x" },
    { postId: a1!.id, labelId: "y" },
    { postId: a2!.id, labelId: "y" },
    { postId: b1!.id, labelId: "y" }
  ])
  return { ...repos, ann: ann!, bob: bob!, cid: cid!, a1: a1!, a2: a2!, a3: a3!, a4: a4!, b1: b1! }
})

const titles = (rows: ReadonlyArray<{ readonly title: string }>) => rows.map((r) => r.title)
const bodies = (rows: ReadonlyArray<{ readonly body: string }>) => rows.map((r) => r.body)
const byName = Query.make(Authors).pipe(Query.orderBy("name"))
const newestPosts = (limit: number) =>
  byName.pipe(Query.include("posts", (p) => p.pipe(Query.orderBy("rank", "desc"), Query.limit(limit))))

/**
 * Registers the relations part of the contract with the suite's `test`.
 *
 * @since 0.1.0
 * @category suites
 * @internal
 */
export const relations = (test: Test): void => {
  describe("relations: eager loading", () => {
    test("hasMany loads each parent's related rows, soft-deleted ones left out; none is an empty list", () =>
      Effect.gen(function*() {
        const { authors } = yield* seed
        const rows = yield* authors.findMany(byName.pipe(Query.include("posts", (p) => p.pipe(Query.orderBy("rank")))))
        expect(rows.map((a) => [a.name, titles(a.posts)])).toEqual([["Ann", ["a1", "a2", "a3"]], ["Bob", ["b1"]], ["Cid", []]])
      }))

    test("a per-parent limit takes the first rows of each parent by the include's ordering", () =>
      Effect.gen(function*() {
        const { authors } = yield* seed
        const rows = yield* authors.findMany((newestPosts(2)))
        expect(rows.map((a) => titles(a.posts))).toEqual([["a3", "a2"], ["b1"], []])
        const skipped = yield* authors.findMany(
          byName.pipe(Query.include("posts", (p) => p.pipe(Query.orderBy("rank"), Query.offset(1), Query.limit(1))))
        )
        expect(skipped.map((a) => titles(a.posts))).toEqual([["a2"], [], []])
      }))

    test("an include's filter and withDeleted apply to the related rows only", () =>
      Effect.gen(function*() {
        const { authors } = yield* seed
        const rows = yield* authors.findMany(byName.pipe(
          Query.include("posts", (p) => p.pipe(Query.withDeleted, Query.where({ rank: Query.gte(2) }), Query.orderBy("rank")))
        ))
        expect(rows.map((a) => titles(a.posts))).toEqual([["a2", "a3", "a4"], [], []])
      }))

    test("nested includes load every level, each with its own ordering and limit", () =>
      Effect.gen(function*() {
        const { authors } = yield* seed
        const rows = yield* authors.findMany(byName.pipe(
          Query.where({ name: Query.in(["Ann", "Bob"]) }),
          Query.include("posts", (p) =>
            p.pipe(
              Query.orderBy("rank"),
              Query.limit(2),
              Query.include("comments", (c) => c.pipe(Query.orderBy("rank", "desc"), Query.limit(2))),
              Query.include("labels", (l) => l.pipe(Query.orderBy("id")))
            )),
          Query.include("profile")
        ))
        expect(rows.map((a) => ({
          name: a.name,
          bio: a.profile?.bio ?? null,
          posts: a.posts.map((p) => ({ title: p.title, comments: bodies(p.comments), labels: p.labels.map((l) => l.id) }))
        }))).toEqual([
          {
            name: "Ann",
            bio: "Ann's bio",
            posts: [
              { title: "a1", comments: ["a1-c3", "a1-c2"], labels: ["x", "y"] },
              { title: "a2", comments: [], labels: ["y"] }
            ]
          },
          { name: "Bob", bio: null, posts: [{ title: "b1", comments: ["b1-c1"], labels: ["y"] }] }
        ])
      }))

    test("belongsTo loads the row each parent refers to, shared by parents; a soft-deleted one is null", () =>
      Effect.gen(function*() {
        const { a1, ann, authors, comments, posts } = yield* seed
        const rows = yield* comments.findMany(Query.make(CommentsWithPost).pipe(
          Query.orderBy("body"),
          Query.include("post", (p) => p.pipe(Query.include("author")))
        ))
        expect(rows.map((c) => [c.body, c.post?.title, c.post?.author?.name])).toEqual([
          ["a1-c1", "a1", "Ann"],
          ["a1-c2", "a1", "Ann"],
          ["a1-c3", "a1", "Ann"],
          ["b1-c1", "b1", "Bob"]
        ])
        yield* authors.delete(ann.id)
        const after = yield* posts.findOne(Query.make(Posts).pipe(Query.where({ id: a1.id }), Query.include("author")))
        assert(Option.isSome(after))
        expect(after.value.author).toBe(null)
      }))

    test("manyToMany applies the include's ordering and limit per parent", () =>
      Effect.gen(function*() {
        const { posts } = yield* seed
        const rows = yield* posts.findMany(Query.make(Posts).pipe(
          Query.orderBy("title"),
          Query.include("labels", (l) => l.pipe(Query.orderBy("id", "desc"), Query.limit(1)))
        ))
        expect(rows.map((p) => [p.title, p.labels.map((l) => l.name)])).toEqual([
          ["a1", ["Y"]],
          ["a2", ["Y"]],
          ["a3", []],
          ["b1", ["Y"]]
        ])
      }))

    test("findOne, paginate and stream load includes; stream a batch at a time", () =>
      Effect.gen(function*() {
        const { authors } = yield* seed
        const one = yield* authors.findOne((newestPosts(1)))
        assert(Option.isSome(one))
        expect([one.value.name, titles(one.value.posts)]).toEqual(["Ann", ["a3"]])
        const first = yield* authors.paginate((newestPosts(1)), { limit: 2 })
        expect(first.items.map((a) => [a.name, titles(a.posts)])).toEqual([["Ann", ["a3"]], ["Bob", ["b1"]]])
        const second = yield* authors.paginate((newestPosts(1)), { limit: 2, after: Option.getOrThrow(first.next) })
        expect(second.items.map((a) => [a.name, titles(a.posts)])).toEqual([["Cid", []]])
        const streamed = yield* Stream.runCollect(authors.stream((newestPosts(2)), { batchSize: 1 }))
        expect(Chunk.toReadonlyArray(streamed).map((a) => [a.name, titles(a.posts)])).toEqual([
          ["Ann", ["a3", "a2"]],
          ["Bob", ["b1"]],
          ["Cid", []]
        ])
      }))

    test("an include of a relation the table does not declare is InvalidQuery, from untyped input too", () =>
      Effect.gen(function*() {
        const { authors } = yield* seed
        const untyped = (name: string): any => (Query.include as any)(name)
        for (const name of ["mesages", "__proto__", "toString"]) {
          const error = yield* Effect.flip(authors.findMany(byName.pipe(untyped(name))))
          assert(error._tag === "InvalidQuery")
          expect([error.table, error.part, error.field]).toEqual(["rel_authors", "include", name])
        }
        const nested = yield* Effect.flip(
          authors.findMany(byName.pipe(Query.include("posts", (p) => p.pipe(untyped("nope")))))
        )
        assert(nested._tag === "InvalidQuery")
        expect([nested.table, nested.part, nested.field]).toEqual(["rel_posts", "include", "nope"])
        const field = yield* Effect.flip(authors.findMany(byName.pipe(
          Query.include("posts", (p) => p.pipe(Query.orderBy("titel" as never)))
        )))
        assert(field._tag === "InvalidQuery")
        expect([field.table, field.part, field.field]).toEqual(["rel_posts", "orderBy", "titel"])
      }))

    test("a nested include's filter value that fails its schema is a ParseError", () =>
      Effect.gen(function*() {
        const { authors } = yield* seed
        const error = yield* Effect.flip(authors.findMany(byName.pipe(
          Query.include("posts", (p) =>
            p.pipe(Query.include("comments", (c) => c.pipe(Query.where({ rank: "high" as unknown as number })))))
        )))
        expect(ParseResult.isParseError(error)).toBe(true)
      }))
  })

  describe("relations: nullable foreign keys", () => {
    const names = (rows: ReadonlyArray<{ readonly name: string }>) => rows.map((r) => r.name)
    const byBody = Query.make(CommentsWithPost).pipe(Query.orderBy("body"))
    test("a belongsTo whose foreign key is null loads null; the hasMany side leaves those rows out", () =>
      Effect.gen(function*() {
        const { authors, comments } = yield* seed
        const rows = yield* comments.findMany(byBody.pipe(Query.include("author"), Query.include("post")))
        expect(rows.map((c) => [c.body, c.author?.name ?? null, c.post?.title])).toEqual([
          ["a1-c1", "Bob", "a1"],
          ["a1-c2", null, "a1"],
          ["a1-c3", "Ann", "a1"],
          ["b1-c1", null, "b1"]
        ])
        const written = yield* authors.findMany(byName.pipe(Query.include("comments", (c) => c.pipe(Query.orderBy("body")))))
        expect(written.map((a) => [a.name, bodies(a.comments)])).toEqual([["Ann", ["a1-c3"]], ["Bob", ["a1-c1"]], ["Cid", []]])
      }))

    test("only null foreign keys: no statement's key list is empty, every row loads null", () =>
      Effect.gen(function*() {
        const { comments } = yield* seed
        const rows = yield* comments.findMany(byBody.pipe(Query.where({ authorId: null }), Query.include("author")))
        expect(rows.map((c) => [c.body, c.author])).toEqual([["a1-c2", null], ["b1-c1", null]])
      }))

    test("whereRelated some, none and every over a nullable belongsTo: a null foreign key has no related row", () =>
      Effect.gen(function*() {
        const { comments } = yield* seed
        const related = (mode: Query.RelatedMode, name?: string) =>
          comments.findMany(byBody.pipe(Query.whereRelated("author", mode, name === undefined ? undefined : (a) => a.pipe(Query.where({ name })))))
        expect(bodies(yield* related("some"))).toEqual(["a1-c1", "a1-c3"])
        expect(bodies(yield* related("none"))).toEqual(["a1-c2", "b1-c1"])
        expect(bodies(yield* related("some", "Ann"))).toEqual(["a1-c3"])
        expect(bodies(yield* related("none", "Ann"))).toEqual(["a1-c1", "a1-c2", "b1-c1"])
        // Every related row of a comment without an author: there are none, so it holds.
        expect(bodies(yield* related("every", "Ann"))).toEqual(["a1-c2", "a1-c3", "b1-c1"])
        expect(bodies(yield* comments.findMany(byBody.pipe(Query.where({ authorId: Query.ne(null as never) })))))
          .toEqual([])
      }))

    test("whereRelated over a hasMany through a nullable foreign key", () =>
      Effect.gen(function*() {
        const { authors } = yield* seed
        expect(names(yield* authors.findMany(byName.pipe(Query.whereRelated("comments", "some"))))).toEqual(["Ann", "Bob"])
        expect(names(yield* authors.findMany(byName.pipe(Query.whereRelated("comments", "none"))))).toEqual(["Cid"])
        expect(names(yield* authors.findMany(byName.pipe(
          Query.whereRelated("comments", "every", (c) => c.pipe(Query.where({ rank: Query.gte(3) })))
        )))).toEqual(["Ann", "Cid"])
      }))
  })

  describe("relations: findById and getById with includes", () => {
    const batched = { concurrency: "unbounded", batching: true } as const
    const postsByRank = (q: Query.Query<Author, Table.RelationsOf<typeof Authors>>) =>
      q.pipe(Query.include("posts", (p) => p.pipe(Query.orderBy("rank"), Query.include("comments", (c) => c.pipe(Query.orderBy("rank"))))))

    test("getById and findById load the relations the include asks for, with their ordering and per-parent limit", () =>
      Effect.gen(function*() {
        const { ann, authors, bob } = yield* seed
        const newest = yield* authors.getById(ann.id, Query.include("posts", (p) => p.pipe(Query.orderBy("rank", "desc"), Query.limit(2))))
        expect([newest.name, titles(newest.posts)]).toEqual(["Ann", ["a3", "a2"]])
        const found = yield* authors.findById(bob.id, (q) => q.pipe(postsByRank, Query.include("profile")))
        assert(Option.isSome(found))
        expect([found.value.profile, found.value.posts.map((p) => [p.title, bodies(p.comments)])]).toEqual([
          null,
          [["b1", ["b1-c1"]]]
        ])
        const withProfile = yield* authors.getById(ann.id, Query.include("profile"))
        expect(withProfile.profile?.bio).toBe("Ann's bio")
      }))

    test("a missing or soft-deleted key: findById gives None, getById fails with NotFound naming the key", () =>
      Effect.gen(function*() {
        const { a4, authors, cid, posts } = yield* seed
        yield* authors.delete(cid.id)
        expect(yield* authors.findById(cid.id, postsByRank)).toEqual(Option.none())
        const missing = yield* Effect.flip(authors.getById(cid.id + 1000, postsByRank))
        assert(missing._tag === "NotFound")
        expect([missing.table, missing.key]).toEqual(["rel_authors", cid.id + 1000])
        expect(yield* posts.findById(a4.id, Query.include("author"))).toEqual(Option.none())
      }))

    test("a composite key with includes: the join table's row with both sides", () =>
      Effect.gen(function*() {
        const { a1 } = yield* seed
        const postLabels = yield* Repository.make(PostLabels)
        const row = yield* postLabels.getById({ postId: a1.id, labelId: "x" }, (q) => q.pipe(Query.include("post"), Query.include("label")))
        expect([row.post?.title, row.label?.name]).toEqual(["a1", "X"])
        expect((yield* Effect.flip(postLabels.getById({ postId: a1.id, labelId: "z" }, Query.include("post"))))._tag).toBe("NotFound")
      }))

    test("concurrent reads by key with includes: each caller gets its own row and relations, NotFound routed", () =>
      Effect.gen(function*() {
        const { ann, authors, bob, cid } = yield* seed
        const ids = [bob.id, ann.id, cid.id + 1000, cid.id, ann.id]
        const found = yield* Effect.forEach(ids, (id) => Effect.either(authors.getById(id, postsByRank)), batched)
        expect(found.map((r) => r._tag === "Right" ? [r.right.name, titles(r.right.posts)] : r.left._tag)).toEqual([
          ["Bob", ["b1"]],
          ["Ann", ["a1", "a2", "a3"]],
          "NotFound",
          ["Cid", []],
          ["Ann", ["a1", "a2", "a3"]]
        ])
        // The same key read with different includes, and without: each row carries only its own.
        const [plain, posts, profile] = yield* Effect.all([
          authors.getById(ann.id),
          authors.getById(ann.id, Query.include("posts", (p) => p.pipe(Query.orderBy("rank"), Query.limit(1)))),
          authors.getById(ann.id, Query.include("profile"))
        ], batched)
        expect(["posts" in plain, "profile" in plain]).toEqual([false, false])
        expect([titles(posts.posts), "profile" in posts]).toEqual([["a1"], false])
        expect([profile.profile?.bio, "posts" in profile]).toEqual(["Ann's bio", false])
        const unbatched = yield* Effect.forEach(ids, (id) => authors.findById(id, postsByRank), batched).pipe(
          Effect.withRequestBatching(false)
        )
        expect(unbatched.map((r) => Option.getOrUndefined(Option.map(r, (a) => titles(a.posts))))).toEqual([
          ["b1"],
          ["a1", "a2", "a3"],
          undefined,
          [],
          ["a1", "a2", "a3"]
        ])
      }))

    test("inside a nested transaction, includes see its uncommitted rows", () =>
      Effect.gen(function*() {
        const { authors, cid, posts } = yield* seed
        const inside = yield* Database.transaction(Effect.gen(function*() {
          yield* posts.insert({ authorId: cid.id, title: "c1", rank: 1 })
          return yield* Effect.all([
            authors.getById(cid.id, postsByRank),
            authors.getById(cid.id, postsByRank)
          ], batched)
        }))
        expect(inside.map((a) => titles(a.posts))).toEqual([["c1"], ["c1"]])
      }))

    test("anything but includes in a read by key's query is InvalidQuery before any SQL, and so is an unknown relation", () =>
      Effect.gen(function*() {
        const { ann, authors } = yield* seed
        const notIncludes: ReadonlyArray<(q: Query.Query<Author, any>) => Query.Query<Author, any, any>> = [
          Query.where({ name: "Ann" }),
          Query.orderBy("name"),
          Query.limit(1),
          Query.offset(0),
          Query.withDeleted,
          Query.distinct("name")
        ]
        for (const include of notIncludes) {
          const error = yield* Effect.flip(authors.getById(ann.id, include as never))
          assert(error._tag === "InvalidQuery")
          expect([error.table, error.part]).toEqual(["rel_authors", "include"])
          const found = yield* Effect.flip(authors.findById(ann.id, include as never))
          expect(found._tag).toBe("InvalidQuery")
        }
        const unknown = yield* Effect.flip(authors.getById(ann.id, (Query.include as any)("friends")))
        assert(unknown._tag === "InvalidQuery")
        expect([unknown.part, unknown.field]).toEqual(["include", "friends"])
        const notAQuery = yield* Effect.flip(authors.getById(ann.id, (() => ({ includes: [] })) as never))
        expect(notAQuery._tag).toBe("InvalidQuery")
      }))
  })

  describe("uuid values in any case, as PostgreSQL reads them", () => {
    const upper = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"
    const lower = upper.toLowerCase()
    const other = "0b6f6c3e-1d1a-4d59-8d8e-6a3a4a5b6c7d"
    test("a uuid written in upper case is stored and read back in lower case; equality, IN and keys ignore the case", () =>
      Effect.gen(function*() {
        const attachments = yield* Repository.make(Attachments)
        const inserted = yield* attachments.insert({ id: upper, name: "a" })
        expect(inserted.id).toBe(lower)
        yield* attachments.insert({ id: other.toUpperCase(), name: "b" })
        expect((yield* attachments.getById(lower)).name).toBe("a")
        expect((yield* attachments.getById(upper)).name).toBe("a")
        const all = Query.make(Attachments)
        expect((yield* attachments.findMany(all.pipe(Query.where({ id: upper })))).map((a) => a.name)).toEqual(["a"])
        expect((yield* attachments.findMany(all.pipe(Query.where({ id: Query.in([upper, other.toUpperCase()]) }), Query.orderBy("id"))))
          .map((a) => a.id)).toEqual([other, lower])
        expect(yield* attachments.count(all.pipe(Query.where({ id: Query.gt(other.toUpperCase()) })))).toBe(1)
        const duplicate = yield* Effect.flip(Database.transaction(attachments.insert({ id: lower, name: "again" })))
        assert(duplicate._tag === "UniqueViolation")
        expect(duplicate.constraint).toBe("rel_attachments_pkey")
        expect((yield* attachments.update(upper, { name: "renamed" })).id).toBe(lower)
      }))

    test("relations and composite keys over uuid values match whatever case each side was written in", () =>
      Effect.gen(function*() {
        const attachments = yield* Repository.make(Attachments)
        const tags = yield* Repository.make(AttachmentTags)
        yield* attachments.insertMany([{ id: lower, name: "a" }, { id: other, name: "b" }])
        yield* tags.insertMany([{ attachmentId: upper, tag: "t1" }, { attachmentId: lower, tag: "t2" }])
        const duplicate = yield* Effect.flip(Database.transaction(tags.insert({ attachmentId: lower, tag: "t1" })))
        expect(duplicate._tag).toBe("UniqueViolation")
        expect((yield* tags.getById({ attachmentId: upper, tag: "t2" })).attachmentId).toBe(lower)
        const loaded = yield* attachments.findMany(Query.make(Attachments).pipe(
          Query.orderBy("name"),
          Query.include("tags", (t) => t.pipe(Query.orderBy("tag")))
        ))
        expect(loaded.map((a) => [a.name, a.tags.map((t) => t.tag)])).toEqual([["a", ["t1", "t2"]], ["b", []]])
        const tagged = yield* attachments.findMany(Query.make(Attachments).pipe(Query.whereRelated("tags", "some")))
        expect(tagged.map((a) => a.name)).toEqual(["a"])
        const byKey = yield* attachments.getById(upper, Query.include("tags"))
        expect(byKey.tags.length).toBe(2)
      }))
  })

  describe("relations: filtering by related rows", () => {
    const names = (rows: ReadonlyArray<{ readonly name: string }>) => rows.map((r) => r.name)
    test("some, none and every over hasMany, soft-deleted related rows left out unless asked for", () =>
      Effect.gen(function*() {
        const { authors } = yield* seed
        const rankAbove = (n: number) => (p: Query.Query<Post, any>) => p.pipe(Query.where({ rank: Query.gt(n) }))
        expect(names(yield* authors.findMany(byName.pipe(Query.whereRelated("posts", "some", rankAbove(2)))))).toEqual(["Ann"])
        expect(names(yield* authors.findMany(byName.pipe(Query.whereRelated("posts", "some"))))).toEqual(["Ann", "Bob"])
        expect(names(yield* authors.findMany(byName.pipe(Query.whereRelated("posts", "none", rankAbove(2)))))).toEqual(["Bob", "Cid"])
        expect(names(yield* authors.findMany(byName.pipe(Query.whereRelated("posts", "every", rankAbove(0)))))).toEqual(["Ann", "Bob", "Cid"])
        expect(names(yield* authors.findMany(byName.pipe(Query.whereRelated("posts", "every", rankAbove(1)))))).toEqual(["Cid"])
        expect(names(yield* authors.findMany(byName.pipe(
          Query.whereRelated("posts", "some", (p) => p.pipe(Query.withDeleted, Query.where({ rank: 4 })))
        )))).toEqual(["Ann"])
        expect(names(yield* authors.findMany(byName.pipe(Query.whereRelated("posts", "some", (p) => p.pipe(Query.where({ rank: 4 }))))))).toEqual([])
        expect(yield* authors.count(Query.make(Authors).pipe(Query.whereRelated("profile", "none")))).toBe(2)
      }))

    test("nested relation filters, manyToMany and belongsTo", () =>
      Effect.gen(function*() {
        const { authors, comments, posts } = yield* seed
        // Authors with a post labelled x.
        const labelled = yield* authors.findMany(byName.pipe(
          Query.whereRelated("posts", "some", (p) => p.pipe(Query.whereRelated("labels", "some", (l) => l.pipe(Query.where({ id: "x" })))))
        ))
        expect(names(labelled)).toEqual(["Ann"])
        const onlyY = yield* posts.findMany(Query.make(Posts).pipe(
          Query.orderBy("title"),
          Query.whereRelated("labels", "every", (l) => l.pipe(Query.where({ id: "y" })))
        ))
        expect(titles(onlyY)).toEqual(["a2", "a3", "b1"])
        const bobs = yield* comments.findMany(Query.make(CommentsWithPost).pipe(
          Query.whereRelated("post", "some", (p) => p.pipe(Query.where({ title: "b1" })))
        ))
        expect(bodies(bobs)).toEqual(["b1-c1"])
      }))

    test("a relation filter on an undeclared relation is InvalidQuery", () =>
      Effect.gen(function*() {
        const { authors } = yield* seed
        const error = yield* Effect.flip(authors.findMany(byName.pipe((Query.whereRelated as any)("friends", "some"))))
        assert(error._tag === "InvalidQuery")
        expect([error.part, error.field]).toEqual(["filter", "friends"])
        const mode = yield* Effect.flip(authors.findMany(byName.pipe((Query.whereRelated as any)("posts", "all"))))
        expect(mode._tag).toBe("InvalidQuery")
      }))
  })
}
