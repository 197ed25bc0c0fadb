import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as TestDatabase from "../test/support/TestDatabase.js"
import { start, tsx } from "./support/testing.js"

const examples = ["bank-transfer", "listen-notify", "main", "service-with-fakes", "streaming-export"]

describe("npm run example", () => {
  it.scopedLive("with no name it lists the examples and exits with code 2", () =>
    Effect.gen(function*() {
      const child = yield* start(tsx, ["examples/run.ts"], {})
      expect(yield* child.exit).toEqual({ code: 2, signal: null })
      const output = child.output()
      expect(output).toContain("Usage: npm run example -- <name> [arguments]")
      // Exactly these: a new example must be added to the list above.
      expect([...output.matchAll(/^ {2}(\S+) +\S/gm)].map((match) => match[1])).toEqual(examples)
      expect(output).not.toMatch(/^ {2}(run|.*\.test)\b/m)
    }))

  it.scopedLive("an unknown name, or a path, is refused with the list and code 2", () =>
    Effect.gen(function*() {
      for (const name of ["nope", "../src/index", "support/database"]) {
        const child = yield* start(tsx, ["examples/run.ts", name], {})
        expect(yield* child.exit).toEqual({ code: 2, signal: null })
        expect(child.output()).toContain(`There is no example "${name}".`)
        expect(child.output()).toMatch(/^ {2}main +\S/m)
      }
    }))

  it.scopedLive("`npm run example -- listen-notify` runs that example to the end", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const child = yield* start("npm", ["run", "example", "--", "listen-notify"], { DATABASE_URL: url })
      const exit = yield* child.exit
      expect(exit, child.output()).toEqual({ code: 0, signal: null })
      expect(child.output()).toContain(
        `sent 4, received 3; not delivered: "user 7 wrote a message (sent in a transaction that rolls back)"`
      )
    }))

  it.scopedLive("arguments after the name reach the example", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.url
      const file = path.join(os.tmpdir(), `effect-dal-run-test-${process.pid}.ndjson`)
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(file, { force: true })))
      const child = yield* start(tsx, ["examples/run.ts", "streaming-export", file, "1500"], { DATABASE_URL: url })
      const exit = yield* child.exit
      expect(exit, child.output()).toEqual({ code: 0, signal: null })
      expect(child.output()).toContain(`exporting to ${file}`)
      expect(child.output()).toMatch(/^exported 1,500 rows /m)
      expect(fs.readFileSync(file, "utf8").split("\n")).toHaveLength(1_501)
    }))
})
