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
  id: Model.Generated(Schema.Number),
  postId: Schema.Number,
  labelId: Schema.String
}) {}

const AuthorsTable = Table.make(Author, { name: "rel_authors", primaryKey: "id", softDelete: "deletedAt" })
const PostsTable = Table.make(Post, { name: "rel_posts", primaryKey: "id", softDelete: "deletedAt" })
const Comments = Table.make(Comment, { name: "rel_comments", primaryKey: "id" })
const Profiles = Table.make(Profile, { name: "rel_profiles", primaryKey: "id" })
const Labels = Table.make(Label, { name: "rel_labels", primaryKey: "id" })
const PostLabels = Table.make(PostLabel, { name: "rel_post_labels", primaryKey: "id" })

/**
 * Posts, with their comments, labels (through `rel_post_labels`) and author.
 *
 * @since 0.1.0
 * @category fixtures
 * @internal
 */
export const Posts = Table.relations(PostsTable, (r) => ({
  author: r.belongsTo(() => AuthorsTable, { foreignKey: "authorId" }),
  comments: r.hasMany(Comments, { foreignKey: "postId" }),
  labels: r.manyToMany(Labels, { through: PostLabels, foreignKey: "postId", targetKey: "labelId" })
}))

/**
 * Authors, with their posts and profile.
 *
 * @since 0.1.0
 * @category fixtures
 * @internal
 */
export const Authors = Table.relations(AuthorsTable, (r) => ({
  posts: r.hasMany(Posts, { foreignKey: "authorId" }),
  profile: r.hasOne(Profiles, { foreignKey: "authorId" })
}))

/**
 * Comments, with their post.
 *
 * @since 0.1.0
 * @category fixtures
 * @internal
 */
export const CommentsWithPost = Table.relations(Comments, (r) => ({
  post: r.belongsTo(Posts, { foreignKey: "postId" })
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
  `create table rel_post_labels (
    id serial primary key,
    post_id integer not null references rel_posts (id),
    label_id text collate "C" not null references rel_labels (id)
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
 * profile), Bob (post b1), Cid (no posts, no profile); comments on a1 (3)
 * and b1 (1); labels x, y on a1, y on a2 and b1.
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
    { postId: a1!.id, body: "a1-c1", rank: 1 },
    { postId: a1!.id, body: "a1-c2", rank: 2 },
    { postId: a1!.id, body: "a1-c3", rank: 3 },
    { postId: b1!.id, body: "b1-c1", rank: 1 }
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
