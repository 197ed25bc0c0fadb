/**
 * `Database.runPromise`: running repository effects from promise code, on
 * a ManagedRuntime and on a Runtime, against PostgreSQL and the in-memory
 * database. It must resolve and reject exactly as `runtime.runPromise`
 * does; what it changes (the finished fiber no longer keeps the result
 * reachable) is measured by the benchmark, not here.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Database from "../src/Database.js"
import * as Query from "../src/Query.js"
import * as Repository from "../src/Repository.js"
import * as Fixtures from "../src/testing/Fixtures.js"
import { Members } from "../src/testing/Fixtures.js"
import * as Admin from "./support/admin.js"
import * as TestDatabase from "./support/TestDatabase.js"

const newMember = (n: number) => ({
  email: `run${n}@example.com`,
  name: `Run ${n}`,
  age: n,
  score: n * 10,
  tags: ["a", `t${n}`],
  profile: { city: "Oslo" }
})

/** The tag of the failure a rejected runPromise carries (a FiberFailure). */
const rejection = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise
  } catch (error) {
    const cause = (error as Record<symbol, unknown>)[Symbol.for("effect/Runtime/FiberFailure/Cause")] as
      | Cause.Cause<{ readonly _tag: string }>
      | undefined
    if (cause === undefined) return `not a FiberFailure: ${String(error)}`
    const failure = Cause.failureOption(cause)
    return failure._tag === "Some" ? failure.value._tag : Cause.pretty(cause)
  }
  return "resolved"
}

const suite = (name: string, makeLayer: () => Promise<{ layer: Layer.Layer<Database.Database, unknown>; close: () => Promise<void> }>) =>
  describe(name, () => {
    let runtime: ManagedRuntime.ManagedRuntime<Database.Database, unknown>
    let close: () => Promise<void>
    beforeAll(async () => {
      const made = await makeLayer()
      close = made.close
      runtime = ManagedRuntime.make(made.layer)
    })
    afterAll(async () => {
      await runtime.dispose()
      await close()
    })

    it("resolves with the same value as runtime.runPromise, on a ManagedRuntime and curried", async () => {
      const inserted = await Database.runPromise(
        runtime,
        Effect.flatMap(Repository.make(Members), (members) => members.insertMany([1, 2, 3].map(newMember)))
      )
      expect(inserted.map((m) => m.email)).toEqual(["run1@example.com", "run2@example.com", "run3@example.com"])
      const read = Effect.flatMap(
        Repository.make(Members),
        (members) => members.findMany(Query.make(Members).pipe(Query.where({ email: Query.like("run%") }), Query.orderBy("age")))
      )
      const viaHelper = await Database.runPromise(runtime)(read)
      const viaRuntime = await runtime.runPromise(read)
      expect(viaHelper.map((m) => [m.id, m.email, m.score, m.tags])).toEqual(
        viaRuntime.map((m) => [m.id, m.email, m.score, m.tags])
      )
      expect(viaHelper.map((m) => m.age)).toEqual([1, 2, 3])
    })

    it("runs on a plain Runtime too", async () => {
      const rt: Runtime.Runtime<Database.Database> = await runtime.runtime()
      const count = await Database.runPromise(rt, Effect.flatMap(Repository.make(Members), (members) => members.count()))
      expect(count).toBe(3)
    })

    it("rejects with the effect's typed failure, as runtime.runPromise does", async () => {
      const missing = Effect.flatMap(Repository.make(Members), (members) => members.getById(404_404))
      expect(await rejection(Database.runPromise(runtime, missing))).toBe("NotFound")
      expect(await rejection(runtime.runPromise(missing))).toBe("NotFound")
      const duplicate = Effect.flatMap(Repository.make(Members), (members) => members.insert(newMember(1)))
      expect(await rejection(Database.runPromise(runtime, duplicate))).toBe("UniqueViolation")
      // Nothing was written by the failed insert.
      expect(await Database.runPromise(runtime, Effect.flatMap(Repository.make(Members), (members) => members.count()))).toBe(3)
    })

    it("an aborted signal interrupts the effect: the transaction rolls back", async () => {
      const controller = new AbortController()
      const slow = Database.transaction(Effect.gen(function*() {
        const members = yield* Repository.make(Members)
        yield* members.insert(newMember(9))
        controller.abort()
        yield* Effect.never
      }))
      const outcome = await Database.runPromise(runtime, slow, { signal: controller.signal }).then(
        () => "resolved",
        (error) => Exit.isExit(error) ? "exit" : String((error as Error).name)
      )
      expect(outcome).not.toBe("resolved")
      expect(await Database.runPromise(runtime, Effect.flatMap(Repository.make(Members), (members) => members.count()))).toBe(3)
    })
  })

suite("Database.runPromise on PostgreSQL", async () => {
  const scope = Effect.runSync(Scope.make())
  const url = await Effect.runPromise(Scope.extend(TestDatabase.url, scope))
  for (const statement of Fixtures.ddl) await Effect.runPromise(Admin.query(url, statement))
  return {
    layer: Database.layer({ url, maxConnections: 2 }),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
})

suite("Database.runPromise on the in-memory database", async () => ({
  layer: Database.layerMemory(),
  close: async () => {}
}))
