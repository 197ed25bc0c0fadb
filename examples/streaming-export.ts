/**
 * Streams a large table to a file with constant memory, showing progress as it goes.
 *
 *   npm run example -- streaming-export [file] [rows]
 *
 * It seeds `rows` events (default 200,000) with `insertManyDiscard`, then
 * exports them as JSON lines (default file: `effect-dal-events.ndjson` in the
 * system's temporary directory). `repository.stream` reads through a
 * server-side cursor, 1,000 rows per round trip, and the file is written as
 * the rows arrive, so the heap stays about the same size whether the table
 * has a thousand rows or a million.
 *
 * Its table lives in the schema `export_example`, which it drops and
 * creates again on every run.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Chunk from "effect/Chunk"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as os from "node:os"
import * as path from "node:path"
import { Query, Repository, Table } from "effect-dal"
import * as ExampleDatabase from "./support/database.js"

class Event extends Model.Class<Event>("Event")({
  id: Model.Generated(Schema.Int),
  userId: Schema.Int,
  kind: Schema.Literal("message", "reaction", "command"),
  payload: Schema.String,
  createdAt: Model.DateTimeInsertFromDate
}) {}

const Events = Table.make(Event, {
  name: "events",
  schema: "export_example",
  primaryKey: "id",
  timestamps: { created: "createdAt" }
})

const createTable = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP SCHEMA IF EXISTS export_example CASCADE`
  yield* sql`CREATE SCHEMA export_example`
  yield* sql`
    CREATE TABLE export_example.events (
      id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
      user_id bigint NOT NULL,
      kind text NOT NULL,
      payload text NOT NULL,
      created_at timestamptz NOT NULL
    )`
})

export interface Options {
  /** How many rows to seed and export. Default 200,000. */
  readonly rows?: number
  /** Where to write. Default `effect-dal-events.ndjson` in the temporary directory. */
  readonly file?: string
  /** A progress line every this many rows. Default 25,000. */
  readonly progressEvery?: number
}

export const defaultFile = path.join(os.tmpdir(), "effect-dal-events.ndjson")

const kinds = ["message", "reaction", "command"] as const
const number = (n: number) => n.toLocaleString("en-US")
const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`
const toJson = Schema.encodeSync(Event.json)

/** Seeds the table, exports it and succeeds with the file, the row count and its size in bytes. */
export const program = (options: Options = {}) =>
  Effect.gen(function*() {
    const rows = options.rows ?? 200_000
    const file = options.file ?? defaultFile
    const progressEvery = options.progressEvery ?? 25_000
    const fs = yield* FileSystem.FileSystem

    yield* createTable
    const events = yield* Repository.make(Events)

    // Seed in slices, so the rows waiting to be sent never take much memory either.
    const slice = 10_000
    const [seeding] = yield* Effect.timed(
      Effect.forEach(
        Array.from({ length: Math.ceil(rows / slice) }, (_, i) => i * slice),
        (start) =>
          events.insertManyDiscard(
            Array.from({ length: Math.min(slice, rows - start) }, (_, j) => {
              const n = start + j
              return { userId: 1 + (n % 997), kind: kinds[n % kinds.length]!, payload: `event ${n + 1} of ${rows}` }
            })
          ),
        { discard: true }
      )
    )
    yield* Console.log(
      `seeded ${number(rows)} events in ${ExampleDatabase.seconds(seeding)} ` +
        `(insertManyDiscard, ${number(slice)} rows per statement)`
    )

    // Rows per round trip of the cursor: what the export holds in memory at a time.
    const batchSize = 1_000
    yield* Console.log(`exporting to ${file}`)
    let exported = 0
    let bytes = 0
    let lowestHeap = Infinity
    let highestHeap = 0
    const [exporting] = yield* Effect.timed(
      events.stream(Query.make(Events).pipe(Query.orderBy("id")), { batchSize }).pipe(
        // One piece of text per batch of rows: one write each.
        Stream.chunks,
        Stream.mapEffect((batch) => {
          const text = Chunk.join(Chunk.map(batch, (event) => JSON.stringify(toJson(event)) + "\n"), "")
          const before = exported
          exported += batch.length
          bytes += Buffer.byteLength(text)
          const report = Math.floor(exported / progressEvery) > Math.floor(before / progressEvery)
          const heap = process.memoryUsage().heapUsed
          lowestHeap = Math.min(lowestHeap, heap)
          highestHeap = Math.max(highestHeap, heap)
          return Effect.as(
            report
              ? Console.log(
                `  ${number(exported).padStart(9)} rows  ${megabytes(bytes).padStart(8)} written  ` +
                  `heap ${megabytes(heap)}`
              )
              : Effect.void,
            text
          )
        }),
        Stream.encodeText,
        Stream.run(fs.sink(file))
      )
    )
    const size = Number((yield* fs.stat(file)).size)
    yield* Console.log(
      `exported ${number(exported)} rows (${megabytes(size)}) in ${ExampleDatabase.seconds(exporting)} to ${file}`
    )
    if (exported > 0) {
      yield* Console.log(
        `the heap stayed between ${megabytes(lowestHeap)} and ${megabytes(highestHeap)} ` +
          `(measured after each batch of ${number(batchSize)} rows)`
      )
    }
    return { file, rows: exported, bytes: size }
  }).pipe(Effect.provide(NodeContext.layer))

if (ExampleDatabase.isMain(import.meta)) {
  const [file, rows] = process.argv.slice(2)
  NodeRuntime.runMain(
    program({
      ...(file ? { file } : {}),
      ...(rows ? { rows: Number(rows) } : {})
    }).pipe(Effect.provide(ExampleDatabase.layer({ applicationName: "effect-dal-export-example" })))
  )
}
