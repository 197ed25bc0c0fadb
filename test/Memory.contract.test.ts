/**
 * The repository contract on the in-memory database: the whole suite that
 * PostgreSQL passes (test/Repository.contract.test.ts), and `suiteFor` on two
 * more tables, run on both databases.
 */
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Database, Table } from "effect-dal"
import { ContractSuite } from "effect-dal/vitest"
import * as TestDatabase from "./support/TestDatabase.js"

ContractSuite.suite("in-memory", Database.layerMemory())

/** Serial key, a unique key, soft delete, a version and timestamps; rows generated from the schema. */
class Product extends Model.Class<Product>("Product")({
  id: Model.Generated(Schema.Number),
  sku: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(30)),
  name: Schema.String,
  price: Schema.Int.pipe(Schema.between(0, 1_000_000)),
  tags: Schema.Array(Schema.String),
  version: Schema.Number,
  deletedAt: Schema.NullOr(Schema.DateFromSelf),
  createdAt: Model.DateTimeInsertFromDate,
  updatedAt: Model.DateTimeUpdateFromDate
}) {}

const Products = Table.make(Product, {
  name: "products",
  primaryKey: "id",
  uniqueKeys: [["sku"]],
  softDelete: "deletedAt",
  version: "version",
  timestamps: { created: "createdAt", updated: "updatedAt" }
})

/** A key chosen by the application, a named two-column unique key, timestamps as ISO strings; rows from makeRow. */
class Page extends Model.Class<Page>("Page")({
  slug: Schema.String,
  tenant: Schema.Int,
  title: Schema.String,
  body: Schema.String,
  createdAt: Model.DateTimeInsert,
  updatedAt: Model.DateTimeUpdate
}) {}

const Pages = Table.make(Page, {
  name: "pages",
  primaryKey: "slug",
  uniqueKeys: [{ fields: ["tenant", "title"], constraint: "pages_title_per_tenant" }],
  timestamps: { created: "createdAt", updated: "updatedAt" }
})

/**
 * Values node-postgres reads back as text or parses: a bigserial key and a
 * bigint (`Schema.BigInt`), an unconstrained numeric (`NumberFromString`),
 * timestamps the model writes as strings, and a column name of its own.
 */
class Entry extends Model.Class<Entry>("Entry")({
  id: Model.Generated(Schema.BigInt),
  account: Schema.String,
  amount: Schema.NumberFromString,
  reference: Schema.BigInt,
  postedAt: Schema.Date,
  createdAt: Model.DateTimeInsert
}) {}

const Entries = Table.make(Entry, {
  name: "ledger_entries",
  primaryKey: "id",
  uniqueKeys: [["reference"]],
  timestamps: { created: "createdAt" },
  columnOverrides: { account: "account_code" }
})

/**
 * A composite primary key of an integer and a text, soft delete, a version
 * and a unique key; rows generated from the schema.
 */
class Membership extends Model.Class<Membership>("Membership")({
  tenant: Schema.Int.pipe(Schema.between(0, 3)),
  handle: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(12)),
  email: Schema.String.pipe(Schema.maxLength(40)),
  role: Schema.String,
  version: Schema.Number,
  leftAt: Schema.NullOr(Schema.DateFromSelf)
}) {}

const Memberships = Table.make(Membership, {
  name: "memberships",
  primaryKey: ["tenant", "handle"],
  uniqueKeys: [["email"]],
  softDelete: "leftAt",
  version: "version"
})

/** A join table keyed by its two foreign keys and nothing else to update; rows from makeRow. */
class Follow extends Model.Class<Follow>("Follow")({
  follower: Schema.Int,
  followed: Schema.Int,
  since: Schema.DateFromSelf
}) {}

const Follows = Table.make(Follow, { name: "follows", primaryKey: ["follower", "followed"] })

const follow = (n: number) =>
  ({ follower: n % 3, followed: Math.floor(n / 3), since: new Date(Date.UTC(2024, 0, 1 + n)) }) as Table.Insert<typeof Follows>

const entry = (n: number) =>
  ({
    account: `acct-${n % 3}`,
    amount: [0.1, 12.5, -3, 1e21, 1234.5678][n % 5]! + n,
    reference: BigInt(n) * 1_000_000_007n,
    postedAt: new Date(Date.UTC(2024, 0, 1) + n * 3_600_000)
  }) as Table.Insert<typeof Entries>

const ddl = [
  `create table products (
    id serial primary key,
    sku text collate "C" not null unique,
    name text collate "C" not null,
    price integer not null,
    tags text[] not null,
    version integer not null,
    deleted_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
  )`,
  `create table pages (
    slug text collate "C" primary key,
    tenant integer not null,
    title text collate "C" not null,
    body text collate "C" not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint pages_title_per_tenant unique (tenant, title)
  )`,
  `create table memberships (
    tenant integer not null,
    handle text collate "C" not null,
    email text collate "C" not null unique,
    role text collate "C" not null,
    version integer not null,
    left_at timestamptz,
    primary key (tenant, handle)
  )`,
  `create table follows (
    follower integer not null,
    followed integer not null,
    since timestamptz not null,
    primary key (follower, followed)
  )`,
  `create table ledger_entries (
    id bigserial primary key,
    account_code text collate "C" not null,
    amount numeric not null,
    reference bigint not null unique,
    posted_at timestamptz not null,
    created_at timestamptz not null
  )`
]

const postgres = TestDatabase.layer().pipe(
  Layer.tap((context) =>
    Effect.forEach(ddl, (statement) => SqlClient.SqlClient.pipe(Effect.flatMap((sql) => sql.unsafe(statement)))).pipe(
      Effect.provide(context)
    )
  )
)

const page = (n: number) =>
  ({ slug: `page-${n}`, tenant: n % 3, title: `Title ${n} – ${["é", "🦄"][n % 2]}`, body: `body ${n}` }) as Table.Insert<typeof Pages>

// #region suiteFor
for (const [name, layer] of [["PostgreSQL", postgres], ["in-memory", Database.layerMemory()]] as const) {
  ContractSuite.suiteFor(name, Products, { layer })
  ContractSuite.suiteFor(name, Pages, { layer, makeRow: page })
  ContractSuite.suiteFor(name, Entries, { layer, makeRow: entry })
  ContractSuite.suiteFor(name, Memberships, { layer })
  ContractSuite.suiteFor(name, Follows, { layer, makeRow: follow })
}
// #endregion suiteFor
