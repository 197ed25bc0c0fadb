/**
 * README: "Calling from promise code" (an HTTP handler outside Effect).
 */
import * as Model from "@effect/sql/Model"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import { Database, Query, Repository, Table } from "effect-dal"

class Note extends Model.Class<Note>("Note")({
  id: Model.Generated(Schema.Number),
  body: Schema.String
}) {}
const Notes = Table.make(Note, { name: "notes", primaryKey: "id" })

/** The handlers of a small HTTP service, on a database at `url`; `close` ends the pool. */
export const handlers = (url: string) => {
  // #region handlers
  // One runtime for the process: the pool opens on first use.
  const runtime = ManagedRuntime.make(Database.layer({ url }))
  const run = Database.runPromise(runtime)

  // An Express or Next.js handler: plain async code.
  const addNote = (body: string) => run(Effect.flatMap(Repository.make(Notes), (notes) => notes.insert({ body })))
  const listNotes = () =>
    run(Effect.flatMap(Repository.make(Notes), (notes) => notes.findMany(Query.make(Notes).pipe(Query.orderBy("id")))))
  const getNote = (id: number) => run(Effect.flatMap(Repository.make(Notes), (notes) => notes.getById(id)))
  // #endregion handlers
  return { addNote, listNotes, getNote, close: () => runtime.dispose() }
}
