/**
 * The `readings` table that several repository tests share: a serial key,
 * text, a double and a timestamptz, and no array column, so bulk inserts
 * take unnest() (or COPY).
 */
import * as Model from "@effect/sql/Model"
import * as Schema from "effect/Schema"
import * as Table from "../../src/Table.js"

export class Reading extends Model.Class<Reading>("Reading")({
  id: Model.Generated(Schema.Number),
  sensor: Schema.String,
  value: Schema.Number,
  unit: Schema.String,
  takenAt: Schema.DateFromSelf
}) {}

export const Readings = Table.make(Reading, { name: "readings", primaryKey: "id" })

/** The DDL of a table of readings named `name`. */
export const readingsDdl = (name = "readings") =>
  `create table ${name} (id serial primary key, sensor text not null, value double precision not null, unit text not null, taken_at timestamptz not null)`
