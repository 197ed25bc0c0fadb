// Compile-time checks for queries. Each line marked with ts-expect-error must
// be a type error, so `npm run typecheck` fails if a misspelt field or a
// wrongly typed value stops being rejected.
import * as Model from "@effect/sql/Model"
import * as Schema from "effect/Schema"
import * as Query from "../../src/Query.js"
import * as Table from "../../src/Table.js"
class User extends Model.Class<User>("User")({
  id: Model.Generated(Schema.Number),
  email: Schema.String,
  role: Schema.Literal("a", "b"),
  tags: Schema.Array(Schema.String),
  deletedAt: Schema.NullOr(Schema.DateFromSelf),
}) {}
const Users = Table.make(User, { name: "users", primaryKey: "id", softDelete: "deletedAt", uniqueKeys: [["email"]] })
export const q = Query.make(Users).pipe(
  Query.where({ email: "x", id: Query.gt(3), role: Query.in(["a"]), deletedAt: Query.isNull(), tags: Query.contains(["x"]) }),
  Query.where(Query.or({ email: Query.startsWith("a") }, { id: 4 })),
  Query.orderBy("email", "desc"),
  Query.distinct("role"),
  Query.limit(3)
)
// @ts-expect-error misspelt
Query.make(Users).pipe(Query.where({ emial: "x" }))
// @ts-expect-error misspelt in or
Query.make(Users).pipe(Query.where(Query.or({ emial: "x" })))
// @ts-expect-error wrong type in or
Query.make(Users).pipe(Query.where(Query.or({ id: "x" })))
// @ts-expect-error orderBy misspelt
Query.make(Users).pipe(Query.orderBy("emial"))
// @ts-expect-error wrong literal
Query.make(Users).pipe(Query.where({ role: Query.in(["c"]) }))
