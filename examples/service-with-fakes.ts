/**
 * A checkout service on two repositories and a transaction, run on the in-memory database: no PostgreSQL needed.
 *
 *   npx tsx examples/service-with-fakes.ts
 *
 * The service asks for its repositories (`Customers`, `Orders`), never for
 * a database: whichever `Database` layer is provided decides where they
 * run. This program gives it `Database.layerMemory`, seeded with one
 * customer; the service's tests (service-with-fakes.test.ts) run the same
 * checks on the in-memory database and on PostgreSQL.
 */
import * as Model from "@effect/sql/Model"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { Database, Query, Repository, Table } from "effect-dal"

// -- the tables ---------------------------------------------------------------

export class Customer extends Model.Class<Customer>("Customer")({
  id: Model.Generated(Schema.Int),
  email: Schema.String,
  name: Schema.String,
  /** Column defaults on PostgreSQL; `Table.make`'s `defaults` tell the in-memory database. */
  orderCount: Model.Generated(Schema.Int),
  version: Model.Generated(Schema.Int),
  createdAt: Model.DateTimeInsertFromDate,
  updatedAt: Model.DateTimeUpdateFromDate
}) {}

export const Customers = Table.make(Customer, {
  name: "checkout_customers",
  primaryKey: "id",
  uniqueKeys: [["email"]],
  version: "version",
  timestamps: { created: "createdAt", updated: "updatedAt" },
  defaults: { orderCount: 0, version: 1 }
})

export class Order extends Model.Class<Order>("Order")({
  id: Model.Generated(Schema.UUID),
  customerId: Schema.Int,
  items: Schema.Int,
  totalCents: Schema.Int,
  createdAt: Model.DateTimeInsertFromDate
}) {}

export const Orders = Table.make(Order, {
  name: "checkout_orders",
  primaryKey: "id",
  timestamps: { created: "createdAt" }
})

/** The tables on PostgreSQL. Text columns use the "C" collation, as the in-memory database does. */
export const ddl: ReadonlyArray<string> = [
  `create table checkout_customers (
    id serial primary key,
    email text collate "C" not null unique,
    name text collate "C" not null,
    order_count integer not null default 0,
    version integer not null default 1,
    created_at timestamptz not null,
    updated_at timestamptz not null
  )`,
  `create table checkout_orders (
    id uuid primary key default gen_random_uuid(),
    customer_id integer not null,
    items integer not null,
    total_cents integer not null,
    created_at timestamptz not null
  )`
]

// -- the repositories, as services --------------------------------------------

// #region repositories
export class CustomerRepository extends Effect.Service<CustomerRepository>()("example/CustomerRepository", {
  effect: Repository.make(Customers)
}) {}

export class OrderRepository extends Effect.Service<OrderRepository>()("example/OrderRepository", {
  effect: Repository.make(Orders)
}) {}
// #endregion repositories

// -- the service --------------------------------------------------------------

export class EmailTaken extends Schema.TaggedError<EmailTaken>()("EmailTaken", { email: Schema.String }) {}
export class UnknownCustomer extends Schema.TaggedError<UnknownCustomer>()("UnknownCustomer", {
  customerId: Schema.Int
}) {}
export class EmptyOrder extends Schema.TaggedError<EmptyOrder>()("EmptyOrder", {}) {}

export class Checkout extends Effect.Service<Checkout>()("example/Checkout", {
  effect: Effect.gen(function*() {
    const customers = yield* CustomerRepository
    const orders = yield* OrderRepository
    const database = yield* Database.Database

    const register = (email: string, name: string) =>
      customers.insert({ email, name }).pipe(
        Effect.catchTag("UniqueViolation", () => Effect.fail(new EmailTaken({ email })))
      )

    // The order and the customer's count change together or not at all.
    // The order is written first, so a refusal after it shows the rollback.
    const placeOrder = (customerId: number, items: number, totalCents: number) =>
      database.transaction(Effect.gen(function*() {
        const customer = yield* customers.getById(customerId).pipe(
          Effect.catchTag("NotFound", () => Effect.fail(new UnknownCustomer({ customerId })))
        )
        const order = yield* orders.insert({ customerId, items, totalCents })
        if (items === 0) return yield* Effect.fail(new EmptyOrder())
        yield* customers.update(customerId, { orderCount: customer.orderCount + 1 }, {
          expectedVersion: customer.version
        })
        return order
      }))

    const summary = (customerId: number) =>
      Effect.gen(function*() {
        const customer = yield* customers.findById(customerId)
        const theirs = Query.make(Orders).pipe(Query.where({ customerId }))
        return {
          customer: Option.map(customer, (c) => ({ email: c.email, orderCount: c.orderCount })),
          orders: yield* orders.count(theirs),
          totalCents: Option.getOrElse(yield* orders.sum("totalCents", theirs), () => 0)
        }
      })

    return { register, placeOrder, summary } as const
  }),
  dependencies: [CustomerRepository.Default, OrderRepository.Default]
}) {}

// -- the program --------------------------------------------------------------

const euros = (cents: number) => `€${(cents / 100).toFixed(2)}`

/** Registers customers and places orders, printing what happened; succeeds with Ann's summary. */
export const program = Effect.gen(function*() {
  const checkout = yield* Checkout
  const bob = yield* checkout.register("bob@example.com", "Bob")
  yield* Console.log(`registered ${bob.email} as customer ${bob.id}`)
  const taken = yield* Effect.flip(checkout.register("ann@example.com", "Another Ann"))
  yield* Console.log(`registering ann@example.com again: ${taken._tag}`)

  const first = yield* checkout.placeOrder(1, 3, 4250)
  yield* Console.log(`order ${first.id.slice(0, 8)}… for customer 1: 3 items, ${euros(first.totalCents)}`)
  yield* checkout.placeOrder(1, 1, 1750)
  const unknown = yield* Effect.flip(checkout.placeOrder(99, 1, 100))
  yield* Console.log(`order for customer 99: ${unknown._tag}`)
  const empty = yield* Effect.flip(checkout.placeOrder(bob.id, 0, 0))
  yield* Console.log(`empty order for customer ${bob.id}: ${empty._tag}, rolled back`)

  const ann = yield* checkout.summary(1)
  yield* Console.log(`customer 1: ${ann.orders} orders, ${euros(ann.totalCents)} in total`)
  const bobs = yield* checkout.summary(bob.id)
  yield* Console.log(`customer ${bob.id}: ${bobs.orders} orders`)
  return { ann, bob: bobs }
})

/** The service on the in-memory database, with Ann already a customer. */
// #region seeded
export const InMemory = Checkout.Default.pipe(
  Layer.provide(Database.layerMemory({ seed: [Database.seed(Customers, [{ email: "ann@example.com", name: "Ann" }])] }))
)
// #endregion seeded

const isMain = process.argv[1] !== undefined &&
  fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url))

if (isMain) NodeRuntime.runMain(program.pipe(Effect.provide(InMemory)))
