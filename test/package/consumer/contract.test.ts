/**
 * The test of a project that installed effect-dal from its tarball (the
 * package test copies it there): the contract suite of `effect-dal/vitest`
 * on a table of the project's own, on the in-memory database and on
 * PostgreSQL, which `PostgresServer` of `effect-dal/testing` takes from
 * DATABASE_URL.
 */
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Database, Table } from "effect-dal"
import { PostgresServer } from "effect-dal/testing"
import { ContractSuite } from "effect-dal/vitest"

class Note extends Model.Class<Note>("Note")({
  id: Model.Generated(Schema.Number),
  title: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(40)),
  stars: Schema.Int.pipe(Schema.between(0, 5)),
  version: Schema.Number,
  createdAt: Model.DateTimeInsertFromDate,
  updatedAt: Model.DateTimeUpdateFromDate
}) {}

const Notes = Table.make(Note, {
  name: "notes",
  primaryKey: "id",
  uniqueKeys: [["title"]],
  version: "version",
  timestamps: { created: "createdAt", updated: "updatedAt" }
})

const createNotes = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql`create table notes (
    id serial primary key,
    title text collate "C" not null unique,
    stars integer not null,
    version integer not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
  )`)

const postgres = Layer.unwrapScoped(
  Effect.map(PostgresServer.acquire(), (server) => Database.layer({ url: server.url }))
).pipe(Layer.tap((context) => Effect.provide(createNotes, context)))

ContractSuite.suiteFor("in-memory", Notes, { layer: Database.layerMemory() })
ContractSuite.suiteFor("PostgreSQL", Notes, { layer: postgres })
