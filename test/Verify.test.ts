import { assert, describe, expect, it } from "@effect/vitest"
import * as Model from "@effect/sql/Model"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Database from "../src/Database.js"
import * as DatabaseError from "../src/DatabaseError.js"
import { createTables } from "../src/internal/migrator/ddl.js"
import * as Migrator from "../src/Migrator.js"
import * as Table from "../src/Table.js"
import * as Fixtures from "../src/testing/Fixtures.js"
import * as Admin from "./support/admin.js"
import * as TestDatabase from "./support/TestDatabase.js"

class Account extends Model.Class<Account>("Account")({
  id: Model.Generated(Schema.Number),
  handle: Schema.String,
  region: Schema.String,
  balance: Schema.Number,
  active: Schema.Boolean,
  nickname: Schema.NullOr(Schema.String),
  revision: Schema.Number,
  removedAt: Schema.NullOr(Schema.DateFromSelf)
}) {}

const Accounts = Table.make(Account, {
  name: "accounts",
  primaryKey: "id",
  uniqueKeys: [["handle"], ["region", "nickname"]],
  softDelete: "removedAt",
  version: "revision"
})

const mismatchesOf = <E, R>(effect: Effect.Effect<void, E, R>) =>
  Effect.map(Effect.flip(effect), (error) => {
    expect(error).toBeInstanceOf(DatabaseError.SchemaMismatch)
    return (error as unknown as DatabaseError.SchemaMismatch).mismatches.map((m) => [m.table, m.column, m.kind, m.actual])
  })

describe("Database.verify", () => {
  it.scoped("passes for the contract suite's tables on their hand-written DDL", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      for (const statement of Fixtures.ddl) yield* Admin.query(url, statement)
      yield* Database.verify([Fixtures.Members, Fixtures.Notes, Fixtures.Settings, Fixtures.Grants])
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("passes after a migration made from the definitions (the DDL `migrate create --from` writes)", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      const tables = [Fixtures.Members, Fixtures.Notes, Fixtures.Settings, Fixtures.Grants, Accounts]
      const { down, up } = createTables(tables)
      const source = Migrator.fromRecords([{ id: 1, name: "create_tables", up, down }])
      yield* Migrator.up({ source })
      yield* Database.verify(tables)
      // The generated defaults work: a row needs only the fields an insert takes.
      yield* Admin.query(url, "insert into notes (member_id, body, created_at) values (1, 'x', now())")
      expect(yield* Admin.query(url, "select pinned, length(id::text) as n from notes")).toEqual([{ pinned: false, n: 36 }])
      yield* Migrator.down({ source })
      expect(yield* Effect.flip(Database.verify([Accounts]))).toBeInstanceOf(DatabaseError.SchemaMismatch)
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("reports every difference of every table in one SchemaMismatch", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      yield* Admin.query(
        url,
        `create table accounts (
          id integer not null,
          handle text not null,
          region integer not null,
          active boolean,
          nickname text,
          revision integer,
          removed_at timestamptz not null
        )`
      )
      const mismatches = yield* mismatchesOf(Database.verify([Accounts, Fixtures.Settings]))
      expect(mismatches).toEqual([
        ["accounts", "region", "type", "integer"],
        ["accounts", "balance", "missing-column", "no such column"],
        ["accounts", "active", "nullability", "nullable"],
        ["accounts", "revision", "nullability", "nullable"],
        ["accounts", undefined, "primary-key", "no primary key"],
        ["accounts", undefined, "unique-key", "no unique constraint or index on these columns"],
        ["accounts", undefined, "unique-key", "no unique constraint or index on these columns"],
        ["accounts", "removed_at", "soft-delete", "timestamp with time zone NOT NULL"],
        ["accounts", "revision", "version", "integer nullable"],
        ["settings", undefined, "missing-table", "no such table"]
      ])
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("a key with the right columns but another name, and a unique index instead of a constraint", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      for (const statement of Fixtures.ddl) yield* Admin.query(url, statement)
      yield* Admin.query(url, "alter table members rename constraint members_email_key to members_mail_unique")
      expect(yield* mismatchesOf(Database.verify([Fixtures.Members]))).toEqual([
        ["members", undefined, "unique-key", `UNIQUE "members_mail_unique" (email)`]
      ])
      // A unique index with the expected name serves ON CONFLICT just as well.
      yield* Admin.query(url, "alter table members drop constraint members_mail_unique")
      yield* Admin.query(url, "create unique index members_email_key on members (email)")
      yield* Database.verify([Fixtures.Members])
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("a composite primary key must have all its columns: a key on one of them is a primary-key mismatch", () =>
    Effect.gen(function*() {
      const url = yield* TestDatabase.TestUrl
      yield* Admin.query(
        url,
        `create table grants (
          member_id integer not null, resource text collate "C" not null, role text collate "C" not null,
          version integer not null default 1, revoked_at timestamptz, primary key (member_id)
        )`
      )
      const mismatches = yield* Effect.flip(Database.verify([Fixtures.Grants]))
      assert(mismatches._tag === "SchemaMismatch")
      expect(mismatches.mismatches.map((m) => [m.kind, m.expected, m.actual])).toEqual([
        ["primary-key", `PRIMARY KEY "grants_pkey" (member_id, resource)`, `PRIMARY KEY "grants_pkey" (member_id)`]
      ])
    }).pipe(Effect.provide(TestDatabase.layer())))

  it.scoped("a table whose name holds quotes and semicolons is looked up as a name, not as SQL", () =>
    Effect.gen(function*() {
      const Odd = Table.make(Account, { name: `acc"; drop table x; --`, primaryKey: "id" })
      expect(yield* mismatchesOf(Database.verify([Odd]))).toEqual([
        [`acc"; drop table x; --`, undefined, "missing-table", "no such table"]
      ])
    }).pipe(Effect.provide(TestDatabase.layer())))
})
