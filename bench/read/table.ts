/**
 * The "read N rows" group's table: eight columns of the common types
 * (bigint, text, text, integer, numeric(12,2), boolean, timestamptz,
 * jsonb), 50,000 rows generated inside PostgreSQL, and the model a user
 * would write for it: numbers for int8 and numeric, a DateTime for the
 * timestamp, a struct for the jsonb.
 */
import * as Model from "@effect/sql/Model"
import * as Schema from "effect/Schema"
import { Table } from "effect-dal"
import type pg from "pg"

export const READ_ROWS = 50_000

export const readSchemaSql = `
create table wide_rows (
  id bigint primary key,
  name text not null,
  email text not null,
  visits integer not null,
  amount numeric(12,2) not null,
  active boolean not null,
  created_at timestamptz not null,
  data jsonb not null
)`

export const seedReadTable = async (client: pg.Client, rows: number = READ_ROWS): Promise<void> => {
  await client.query(readSchemaSql)
  await client.query(
    `insert into wide_rows
     select g, 'name ' || g, 'user' || g || '@example.com', g % 1000, (g % 100000) / 100.0, g % 3 = 0,
            timestamptz '2025-01-01' + g * interval '1 minute',
            jsonb_build_object('plan', case when g % 2 = 0 then 'pro' else 'free' end, 'score', g % 97, 'tags', jsonb_build_array('a', 'b'))
     from generate_series(1, $1::int) g`,
    [rows]
  )
  await client.query("vacuum analyze wide_rows")
}

export class WideRow extends Model.Class<WideRow>("WideRow")({
  id: Schema.Number,
  name: Schema.String,
  email: Schema.String,
  visits: Schema.Number,
  amount: Schema.Number,
  active: Schema.Boolean,
  createdAt: Model.DateTimeInsertFromDate,
  data: Schema.Struct({ plan: Schema.Literal("free", "pro"), score: Schema.Number, tags: Schema.Array(Schema.String) })
}) {}

export const WideRows = Table.make(WideRow, { name: "wide_rows", primaryKey: "id" })

/** The SQL the hand-written readers send: the first `$1` rows by key. */
export const READ_SQL =
  "select id, name, email, visits, amount, active, created_at, data from wide_rows order by id limit $1"

export interface WideRowRaw {
  id: number
  name: string
  email: string
  visits: number
  amount: number
  active: boolean
  created_at: Date
  data: { plan: string; score: number; tags: Array<string> }
}

/** The hand-written mapping raw pg and the Effect floor do. */
export const toWide = (row: WideRowRaw) => ({
  id: row.id,
  name: row.name,
  email: row.email,
  visits: row.visits,
  amount: row.amount,
  active: row.active,
  createdAt: row.created_at,
  data: row.data
})

/** pg's parsing with int8 (20) and numeric (1700) as numbers, as the model reads them. */
export const numberTypes = (types: typeof pg.types): pg.CustomTypesConfig => ({
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === 20 || oid === 1700 ? Number : types.getTypeParser(oid, format as "text")) as pg.CustomTypesConfig["getTypeParser"]
})
