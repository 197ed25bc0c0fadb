/**
 * README: "Repositories and queries", one region per operation family.
 */
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import { Database, Query, Repository, Table } from "effect-dal"

// #region table
class Article extends Model.Class<Article>("Article")({
  id: Model.Generated(Schema.Number),
  slug: Schema.String,
  title: Schema.String,
  views: Schema.Number,
  rating: Schema.NullOr(Schema.Number),
  tags: Schema.Array(Schema.String),
  meta: Schema.Struct({ lang: Schema.optional(Schema.String) }),
  version: Schema.Number,
  deletedAt: Schema.NullOr(Schema.DateFromSelf),
  createdAt: Model.DateTimeInsertFromDate,
  updatedAt: Model.DateTimeUpdateFromDate
}) {}

const Articles = Table.make(Article, {
  name: "articles",
  primaryKey: "id",
  uniqueKeys: [["slug"]], // Postgres names it articles_slug_key
  softDelete: "deletedAt", // delete() sets it; reads leave such rows out
  version: "version", // optimistic locking
  timestamps: { created: "createdAt", updated: "updatedAt" }
  // Columns are snake_case by default: createdAt is created_at.
})

class ArticleRepository extends Effect.Service<ArticleRepository>()("app/ArticleRepository", {
  effect: Repository.make(Articles)
}) {}
// #endregion table

// #region tag
// The same repository behind a Context.Tag, with a layer of your own:
class ArticleStore extends Context.Tag("app/ArticleStore")<ArticleStore, Repository.Repository<typeof Articles>>() {}

const ArticleStoreLayer: Layer.Layer<ArticleStore, never, Database.Database> = Layer.effect(
  ArticleStore,
  Repository.make(Articles)
)
// #endregion tag

// #region composite
class Follow extends Model.Class<Follow>("Follow")({
  followerId: Schema.Number,
  articleId: Schema.Number,
  notify: Schema.Boolean
}) {}

// A join table keyed by two columns: a key is then a record of its fields.
const Follows = Table.make(Follow, { name: "follows", primaryKey: ["followerId", "articleId"] })
// #endregion composite

export const createTables = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.zipRight(
    sql`create table follows (
      follower_id integer not null,
      article_id integer not null,
      notify boolean not null,
      primary key (follower_id, article_id)
    )`,
    sql`create table articles (
    id serial primary key,
    slug text not null unique,
    title text not null,
    views integer not null default 0,
    rating integer,
    tags text[] not null default '{}',
    meta jsonb not null default '{}',
    version integer not null default 1,
    deleted_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
  )`
  ))

const article = (slug: string, views: number, tags: ReadonlyArray<string> = [], rating: number | null = null) => ({
  slug,
  title: slug.replace(/-/g, " "),
  views,
  rating,
  tags,
  meta: { lang: "en" }
})

export const program = Effect.gen(function*() {
  const articles = yield* ArticleRepository

  // #region insert
  const hello = yield* articles.insert(article("hello-world", 10, ["intro"], 4))
  // One unnest() statement per call, chunked under the parameter limit if it must be.
  yield* articles.insertMany([article("effect-101", 50, ["effect"], 5), article("sql-tips", 30, ["sql", "effect"], 3)])
  yield* articles.insertManyDiscard(Array.from({ length: 100 }, (_, i) => article(`draft-${i}`, i)))
  // #endregion insert

  // #region timestamps
  // Timestamps come from Clock, so in a test TestClock sets them. (@effect/vitest's
  // it.effect provides TestContext already; elsewhere, provide it yourself.)
  const stamped = yield* Effect.gen(function*() {
    yield* TestClock.setTime(Date.UTC(2030, 0, 1))
    return yield* articles.insert(article("from-the-future", 0))
  }).pipe(Effect.provide(TestContext.TestContext))
  // stamped.createdAt is 2030-01-01T00:00:00.000Z
  // #endregion timestamps

  // #region reads
  const byId = yield* articles.findById(hello.id) // Option<Article>
  const same = yield* articles.getById(hello.id) // Article, or fails with NotFound
  const missing = yield* Effect.flip(articles.getById(-1)) // NotFound { table, key }
  // #endregion reads

  // #region batching
  // Concurrent reads by key in a batching forEach / all: one statement.
  const several = yield* Effect.forEach([hello.id, -1, hello.id], articles.findById, {
    concurrency: "unbounded",
    batching: true
  }) // [Some(hello), None, Some(hello)]
  // #endregion batching

  // #region compositeReads
  const follows = yield* Repository.make(Follows)
  yield* follows.insert({ followerId: 7, articleId: hello.id, notify: true })
  const follow = yield* follows.getById({ followerId: 7, articleId: hello.id })
  yield* follows.update({ followerId: 7, articleId: hello.id }, { notify: false })
  // A key record with a missing or extra field is a ParseError, before any SQL.
  const badKey = yield* Effect.flip(follows.findById({ followerId: 7 } as never))
  // #endregion compositeReads

  // #region queries
  const popular = Query.make(Articles).pipe(
    Query.where({ views: Query.gte(30), tags: Query.contains(["effect"]) }),
    Query.where(Query.or({ slug: Query.startsWith("sql") }, { meta: Query.jsonContains({ lang: "en" }) })),
    Query.orderBy("views", "desc"),
    Query.limit(10)
  )
  const top = yield* articles.findMany(popular)
  const first = yield* articles.findOne(popular)
  const drafts = Query.make(Articles).pipe(Query.where({ slug: Query.like("draft-%"), views: Query.notIn([0, 1]) }))
  // #endregion queries

  // #region operators
  // ilike ignores case; between includes both ends; not negates any filter.
  const picked = yield* articles.findMany(Query.make(Articles).pipe(
    Query.where({ title: Query.ilike("%E%"), views: Query.between(10, 60) }),
    Query.where(Query.not({ tags: Query.overlaps(["intro", "archived"]) }))
  ))
  // Best rated first, unrated (NULL) last: descending order puts NULLs first unless told otherwise.
  const bestRated = yield* articles.findMany(Query.make(Articles).pipe(
    Query.orderBy("rating", "desc", { nulls: "last" }),
    Query.limit(3)
  ))
  // DISTINCT ON (views): the first row of each group, by the query's ordering.
  const bestPerViews = yield* articles.findMany(Query.make(Articles).pipe(
    Query.where({ views: Query.in([10, 30, 50]) }),
    Query.distinct("views"),
    Query.orderBy("views"),
    Query.orderBy("rating", "desc", { nulls: "last" })
  ))
  // #endregion operators

  // #region aggregates
  const count = yield* articles.count(drafts)
  const any = yield* articles.exists(drafts)
  const totalViews = yield* articles.sum("views") // Option<number>: None when no rows
  const average = yield* articles.avg("views", drafts)
  const most = yield* articles.max("views")
  // #endregion aggregates

  // #region paginate
  // Keyset pagination: stable while rows are inserted, fast on any page.
  const byViews = Query.make(Articles).pipe(Query.orderBy("views", "desc"))
  const page1 = yield* articles.paginate(byViews, { limit: 20 })
  const page2 = yield* articles.paginate(byViews, { limit: 20, after: Option.getOrUndefined(page1.next) })
  // #endregion paginate

  // #region stream
  // A server-side cursor: flat memory however many rows, and the connection
  // goes back to the pool when the consumer stops.
  const slugs = yield* articles.stream(drafts, { batchSize: 500 }).pipe(
    Stream.map((a) => a.slug),
    Stream.take(3),
    Stream.runCollect
  )
  // #endregion stream

  // #region update
  const edited = yield* articles.update(hello.id, { title: "Hello, world" }) // a partial patch
  // Optimistic locking: fails with StaleVersion if someone else updated it first.
  const locked = yield* articles.update(hello.id, { views: 11 }, { expectedVersion: edited.version })
  const stale = yield* Effect.flip(articles.update(hello.id, { views: 12 }, { expectedVersion: 1 }))
  const retitled = yield* articles.updateMany(drafts, { title: "Draft" })
  // Atomic arithmetic in the database: views = views + 1, no lost updates.
  const viewed = yield* articles.update(hello.id, { views: Repository.increment(1) })
  // #endregion update

  // #region upsert
  const upserted = yield* articles.upsert(article("hello-world", 99), { onConflict: ["slug"], update: ["views"] })
  const untouched = yield* articles.upsert(article("hello-world", 0), { onConflict: ["slug"], update: "nothing" })
  // #endregion upsert

  // #region delete
  yield* articles.delete(hello.id) // soft: sets deletedAt
  const hidden = yield* articles.findById(hello.id) // None
  const trash = yield* articles.findMany(Query.make(Articles).pipe(Query.onlyDeleted))
  const restored = yield* articles.restore(hello.id)
  const removed = yield* articles.deleteMany(drafts) // soft-deletes, returns how many
  yield* articles.hardDelete(hello.id) // gone for good
  // #endregion delete

  // #region raw
  // Your own SQL (CTEs, window functions), rows decoded with the model.
  const sql = yield* SqlClient.SqlClient
  const perTag = yield* articles.raw(sql`
    select distinct on (tag) a.*
    from articles a, unnest(a.tags) as tag
    where a.deleted_at is null
    order by tag, a.views desc`)
  // #endregion raw

  return {
    byId: Option.isSome(byId),
    several: several.map(Option.isSome),
    follow: follow.notify,
    badKey: badKey._tag,
    same: same.slug,
    missing: missing._tag,
    top: top.map((a) => a.slug),
    first: Option.map(first, (a) => a.slug),
    stamped: DateTime.formatIso(stamped.createdAt),
    picked: picked.map((a) => a.slug),
    bestRated: bestRated.map((a) => a.slug),
    bestPerViews: bestPerViews.map((a) => a.slug),
    viaTag: yield* Effect.flatMap(ArticleStore, (store) => store.count(Query.make(Articles).pipe(Query.withDeleted))),
    count,
    any,
    totalViews,
    average,
    most,
    pages: [page1.items.length, page2.items.length],
    slugs: [...slugs],
    edited: edited.title,
    locked: locked.version,
    stale: stale._tag,
    retitled,
    viewed: viewed.views,
    upserted: [upserted.views, upserted.version],
    untouched: untouched.views,
    hidden: Option.isNone(hidden),
    trash: trash.map((a) => a.slug),
    restored: restored.deletedAt,
    removed,
    perTag: perTag.map((a) => a.slug)
  }
}).pipe(Effect.provide(Layer.merge(ArticleRepository.Default, ArticleStoreLayer)))
