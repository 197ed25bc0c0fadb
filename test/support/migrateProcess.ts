/**
 * One migration runner as its own process, for the test that starts two at
 * once: `node --import tsx test/support/migrateProcess.ts <directory>` runs
 * `Migrator.up` on DATABASE_URL and prints the ids it applied as JSON.
 */
import * as Effect from "effect/Effect"
import * as Database from "../../src/Database.js"
import * as Migrator from "../../src/Migrator.js"

const directory = process.argv[2]!

const program = Effect.gen(function*() {
  const applied = yield* Migrator.up({ source: Migrator.fromDirectory(directory), lockTimeout: "30 seconds" })
  console.log(JSON.stringify({ applied: applied.map((m) => m.id) }))
}).pipe(Effect.provide(Database.layer({ url: process.env.DATABASE_URL! })))

Effect.runPromise(program).then(
  () => process.exit(0),
  (error) => {
    console.error(String(error))
    process.exit(1)
  }
)
