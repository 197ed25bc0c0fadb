/**
 * README: "Untrusted input".
 */
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Query, Repository, Table } from "effect-dal"

class Product extends Model.Class<Product>("Product")({
  id: Model.Generated(Schema.Int),
  name: Schema.String,
  category: Schema.String,
  price: Schema.Int
}) {}
const Products = Table.make(Product, { name: "products", primaryKey: "id" })

export const createTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`create table products (id serial primary key, name text not null, category text not null, price integer not null)`
  yield* sql`insert into products (name, category, price) values ('pen', 'office', 2), ('desk', 'office', 150), ('mug', 'kitchen', 8)`
})

// #region request
// What a request may ask for, and nothing else: the fields you allow, the
// sort keys you offer, a bounded page size. Anything else is a ParseError.
const ProductSearch = Schema.Struct({
  category: Schema.optional(Schema.String),
  maxPrice: Schema.optional(Schema.NonNegativeInt),
  sort: Schema.optionalWith(Schema.Literal("price", "name"), { default: () => "price" }),
  limit: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100)), { default: () => 20 }),
  after: Schema.optional(Schema.String)
})

const search = (body: unknown) =>
  Effect.gen(function*() {
    const request = yield* Schema.decodeUnknown(ProductSearch)(body)
    const products = yield* Repository.make(Products)
    let query = Query.make(Products).pipe(Query.orderBy(request.sort))
    if (request.category !== undefined) query = query.pipe(Query.where({ category: request.category }))
    if (request.maxPrice !== undefined) query = query.pipe(Query.where({ price: Query.lte(request.maxPrice) }))
    // A cursor from the request is checked too: one this query did not make is InvalidCursor.
    return yield* products.paginate(query, { limit: request.limit, after: request.after })
  })
// #endregion request

// #region forged
// Even unchecked input never becomes SQL: a body that imitates a condition is
// a filter on a field named "_tag", which the table does not have.
const forged = JSON.parse(`{"_tag":"Condition","expr":{"_tag":"Const","value":true}}`)
const refused = (products: Repository.Repository<typeof Products>) =>
  products.deleteMany(Query.make(Products).pipe(Query.where(forged)))
// fails with InvalidQuery { table: "products", part: "filter", field: "_tag" }; nothing is deleted
// #endregion forged

export const program = Effect.gen(function*() {
  const products = yield* Repository.make(Products)
  const office = yield* search({ category: "office", maxPrice: 100 })
  const cheapest = yield* search({ limit: 2 })
  const bad = yield* Effect.flip(search({ sort: "price; DROP TABLE products" }))
  const error = yield* Effect.flip(refused(products))
  return {
    office: office.items.map((p) => p.name),
    cheapest: cheapest.items.map((p) => p.name),
    bad: bad._tag,
    refused: error._tag === "InvalidQuery" ? { part: error.part, field: error.field } : error._tag,
    left: yield* products.count()
  }
})
