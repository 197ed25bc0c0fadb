import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { Database } from "effect-dal"
import * as TestDatabase from "../test/support/TestDatabase.js"
import { Checkout, CustomerRepository, Customers, ddl, InMemory, OrderRepository, program } from "./service-with-fakes.js"
import { captureLog } from "./support/testing.js"

// #region fakes
// The service and its repositories (the tests look at the tables too).
const services = Layer.mergeAll(Checkout.Default, CustomerRepository.Default, OrderRepository.Default)

// Fakes for every repository the service uses: the same layers on the
// in-memory database. That is all a unit test needs.
const onMemory = () => services.pipe(Layer.provide(Database.layerMemory()))
// #endregion fakes

// The same layers on PostgreSQL: a fresh database with the tables.
const onPostgres = () =>
  services.pipe(
    Layer.provide(
      TestDatabase.layer().pipe(
        Layer.tap((context) =>
          Effect.forEach(ddl, (statement) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement))).pipe(
            Effect.provide(context)
          )
        )
      )
    )
  )

describe("service-with-fakes", () => {
  it.effect("the program runs on the in-memory database and prints what it did", () =>
    Effect.gen(function*() {
      const { lines, value } = yield* captureLog(program)
      expect(lines).toEqual([
        "registered bob@example.com as customer 2",
        "registering ann@example.com again: EmailTaken",
        expect.stringMatching(/^order [0-9a-f]{8}… for customer 1: 3 items, €42\.50$/),
        "order for customer 99: UnknownCustomer",
        "empty order for customer 2: EmptyOrder, rolled back",
        "customer 1: 2 orders, €60.00 in total",
        "customer 2: 0 orders"
      ])
      expect(value.ann).toEqual({
        customer: Option.some({ email: "ann@example.com", orderCount: 2 }),
        orders: 2,
        totalCents: 6000
      })
      expect(value.bob.orders).toBe(0)
    }).pipe(Effect.provide(InMemory)))

  // One specification of the service, run on both databases.
  for (const [name, database] of [["in-memory", onMemory], ["PostgreSQL", onPostgres]] as const) {
    describe(name, () => {
      it.effect("register stores the customer with timestamps from Clock, and refuses an email that is taken", () =>
        Effect.gen(function*() {
          yield* TestClock.setTime(Date.UTC(2030, 0, 1))
          const checkout = yield* Checkout
          const ann = yield* checkout.register("ann@example.com", "Ann")
          expect(ann).toMatchObject({ email: "ann@example.com", orderCount: 0, version: 1 })
          expect(DateTime.toEpochMillis(ann.createdAt)).toBe(Date.UTC(2030, 0, 1))
          const taken = yield* Effect.flip(checkout.register("ann@example.com", "Ann again"))
          expect(taken).toMatchObject({ _tag: "EmailTaken", email: "ann@example.com" })
          // Text is compared exactly ("C" collation): another case is another email.
          expect((yield* checkout.register("Ann@example.com", "Ann")).email).toBe("Ann@example.com")
        }).pipe(Effect.provide(database())))

      it.effect("placeOrder writes the order and counts it on the customer, in one transaction", () =>
        Effect.gen(function*() {
          const checkout = yield* Checkout
          const ann = yield* checkout.register("ann@example.com", "Ann")
          const order = yield* checkout.placeOrder(ann.id, 2, 1999)
          expect(order).toMatchObject({ customerId: ann.id, items: 2, totalCents: 1999 })
          const customers = yield* CustomerRepository
          expect(yield* customers.getById(ann.id)).toMatchObject({ orderCount: 1, version: 2 })
          expect(yield* checkout.summary(ann.id)).toEqual({
            customer: Option.some({ email: "ann@example.com", orderCount: 1 }),
            orders: 1,
            totalCents: 1999
          })
        }).pipe(Effect.provide(database())))

      it.effect("a refused order rolls back the order it had already written", () =>
        Effect.gen(function*() {
          const checkout = yield* Checkout
          const ann = yield* checkout.register("ann@example.com", "Ann")
          const error = yield* Effect.flip(checkout.placeOrder(ann.id, 0, 0))
          expect(error._tag).toBe("EmptyOrder")
          const orders = yield* OrderRepository
          expect(yield* orders.count()).toBe(0)
          const missing = yield* Effect.flip(checkout.placeOrder(ann.id + 100, 1, 100))
          assert(missing._tag === "UnknownCustomer")
          expect(missing.customerId).toBe(ann.id + 100)
          expect(yield* orders.count()).toBe(0)
        }).pipe(Effect.provide(database())))
    })
  }

  it.effect("a test can start from seeded rows: the service finds them", () =>
    Effect.gen(function*() {
      const checkout = yield* Checkout
      expect(yield* checkout.summary(1)).toEqual({
        customer: Option.some({ email: "seeded@example.com", orderCount: 0 }),
        orders: 0,
        totalCents: 0
      })
    }).pipe(
      Effect.provide(Checkout.Default.pipe(
        Layer.provide(Database.layerMemory({
          seed: [Database.seed(Customers, [{ email: "seeded@example.com", name: "Seeded" }])]
        }))
      ))
    ))
})
