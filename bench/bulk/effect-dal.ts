/**
 * This project's `insertMany` and `insertManyDiscard`: the rows are
 * validated against the model, then `insertMany` sends one array per column
 * through unnest() and reads the rows back, and `insertManyDiscard` loads
 * them with COPY FROM STDIN (a batch this large, into a plain table); both
 * in one statement, all rows or none.
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { Database, Repository } from "effect-dal"
import { Messages } from "../impl/effect-dal.js"
import type { BulkLoader } from "./types.js"

const loader = (name: string, returning: boolean): BulkLoader => ({
  name,
  make: async (url) => {
    const runtime = ManagedRuntime.make(Database.layer({ url, maxConnections: 1, idleTimeout: 0 }))
    const messages = await runtime.runPromise(Repository.make(Messages))
    return {
      load: (rows) => runtime.runPromise(returning ? Effect.asVoid(messages.insertMany(rows)) : messages.insertManyDiscard(rows)),
      close: () => runtime.dispose()
    }
  }
})

/** Returns the stored rows, decoded into models. */
export const effectDalInsertMany = loader("effect-dal insertMany", true)
/** Returns nothing: the loader for imports. */
export const effectDalInsertManyDiscard = loader("effect-dal insertManyDiscard", false)
