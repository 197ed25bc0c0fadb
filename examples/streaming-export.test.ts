import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Database } from "effect-dal"
import * as TestDatabase from "../test/support/TestDatabase.js"
import { program } from "./streaming-export.js"
import { captureLog } from "./support/testing.js"

describe("streaming-export", () => {
  it.scopedLive("exports every row once, in key order, one JSON line each, with a progress line per 1,000 rows", () =>
    Effect.gen(function*() {
      const file = path.join(os.tmpdir(), `effect-dal-export-test-${process.pid}-${Date.now()}.ndjson`)
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(file, { force: true })))
      const { lines, value } = yield* captureLog(program({ rows: 5_000, file, progressEvery: 1_000 }))

      const text = fs.readFileSync(file, "utf8")
      const rows = text.split("\n")
      expect(rows.pop()).toBe("")
      expect(rows).toHaveLength(5_000)
      const events = rows.map((row) => JSON.parse(row) as { id: number; payload: string; kind: string; createdAt: string })
      expect(events.map((e) => e.id)).toEqual(Array.from({ length: 5_000 }, (_, i) => i + 1))
      expect(events[0]).toMatchObject({ id: 1, kind: "message", payload: "event 1 of 5000" })
      expect(events[4_999]).toMatchObject({ id: 5_000, payload: "event 5000 of 5000" })
      expect(events.every((e) => !Number.isNaN(Date.parse(e.createdAt)))).toBe(true)

      expect(value).toEqual({ file, rows: 5_000, bytes: Buffer.byteLength(text) })
      const progress = lines.filter((line) => /^\s+[\d,]+ rows /.test(line)).map((line) => line.trim().split(" ")[0])
      expect(progress).toEqual(["1,000", "2,000", "3,000", "4,000", "5,000"])
      expect(lines.find((line) => line.startsWith("seeded"))).toMatch(
        /^seeded 5,000 events in \d+\.\d s \(insertManyDiscard, 10,000 rows per statement\)$/
      )
      // The cursor's connection went back to the pool.
      expect((yield* Database.stats).active).toBe(0)
    }).pipe(Effect.provide(TestDatabase.layer())))
})
