import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestDatabase from "../test/support/TestDatabase.js"
import { program } from "./listen-notify.js"
import { captureLog } from "./support/testing.js"

describe("listen-notify", () => {
  it.scopedLive("the listener receives the notifications that were committed, in order, and not the rolled-back one", () =>
    Effect.gen(function*() {
      const { lines, value } = yield* captureLog(program)
      const rolledBack = "user 7 wrote a message (sent in a transaction that rolls back)"
      expect(value.sent).toEqual([
        "user 42 wrote a message",
        "user 42's message was answered (sent in a transaction that commits)",
        rolledBack,
        "done"
      ])
      expect(value.received).toEqual(value.sent.filter((payload) => payload !== rolledBack))
      expect(lines).toContain(`sent 4, received 3; not delivered: "${rolledBack}"`)
      expect(lines.filter((line) => line.startsWith("listener: received"))).toHaveLength(3)
    }).pipe(Effect.provide(TestDatabase.layer())))
})
