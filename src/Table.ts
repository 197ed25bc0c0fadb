/**
 * A table definition binds a `Model.Class` from `@effect/sql` to a
 * PostgreSQL table: its name, primary key, unique keys, soft-delete column,
 * version column and timestamps. Repositories (on Postgres and in memory)
 * are made from it.
 *
 * @since 0.1.0
 */
import type * as Model from "@effect/sql/Model"
import type * as Schema from "effect/Schema"
import type { Simplify } from "effect/Types"
import { quote } from "./internal/identifier.js"
import type { Increment } from "./internal/increment.js"

/**
 * The field names of a model.
 *
 * @since 0.1.0
 * @category models
 */
export type FieldName<S extends Model.Any> = Extract<keyof Schema.Schema.Type<S>, string>

/**
 * How values of a generated column are made by the in-memory database:
 * `"serial"` counts up from 1 (serial, identity), `"uuid"` is a random v4
 * UUID (`gen_random_uuid()`), or a function of your own.
 *
 * @since 0.1.0
 * @category models
 */
export type Generator = "serial" | "uuid" | (() => unknown)

/**
 * A unique key: its fields, and the constraint name when it is not the one
 * Postgres chooses (`<table>_<columns>_key`).
 *
 * @since 0.1.0
 * @category models
 */
export interface UniqueKey<F extends string = string> {
  readonly fields: ReadonlyArray<F>
  readonly constraint?: string | undefined
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<S extends Model.Any, PK extends FieldName<S>> {
  /** The table's name in Postgres. */
  readonly name: string
  /** Its schema; default `public`. */
  readonly schema?: string | undefined
  /**
   * The primary-key field, or the fields of a composite key in the
   * constraint's column order (`["userId", "groupId"]`): then a key is a
   * record of those fields (`{ userId: 1, groupId: 2 }`).
   */
  readonly primaryKey: PK | ReadonlyArray<PK>
  /** The primary key's constraint name; default `<table>_pkey`. */
  readonly primaryKeyConstraint?: string | undefined
  /** Unique keys besides the primary key. */
  readonly uniqueKeys?: ReadonlyArray<ReadonlyArray<FieldName<S>> | UniqueKey<FieldName<S>>> | undefined
  /** A nullable timestamp field: when set, `delete` sets it instead of deleting. */
  readonly softDelete?: FieldName<S> | undefined
  /** An integer field for optimistic locking: incremented by every update. */
  readonly version?: FieldName<S> | undefined
  /** Fields set from `Clock` on insert (`created`, `updated`) and on every write (`updated`). */
  readonly timestamps?: {
    readonly created?: FieldName<S> | undefined
    readonly updated?: FieldName<S> | undefined
  } | undefined
  /**
   * Column names: `"snake_case"` (the default: `createdAt` is `created_at`),
   * `"same"` (field names as they are), or a function; `columnOverrides`
   * sets single columns.
   */
  readonly naming?: "snake_case" | "same" | ((field: string) => string) | undefined
  readonly columnOverrides?: { readonly [K in FieldName<S>]?: string } | undefined
  /**
   * How the in-memory database fills generated fields (`Model.Generated`)
   * and columns with defaults that an insert leaves out. Postgres uses the
   * table's own defaults. A `Model.Generated` number defaults to `"serial"`,
   * a string to `"uuid"`.
   */
  readonly generated?: { readonly [K in FieldName<S>]?: Generator } | undefined
  /** Defaults for the in-memory database, for columns an insert may leave out. */
  readonly defaults?: { readonly [K in FieldName<S>]?: unknown | (() => unknown) } | undefined
}

/**
 * The unique symbol that identifies table definitions.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("effect-dal/Table")

/**
 * The type of {@link TypeId}.
 *
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A table definition.
 *
 * @since 0.1.0
 * @category models
 */
export interface Table<
  S extends Model.Any = Model.Any,
  PK extends string | ReadonlyArray<string> = FieldName<S>,
  M extends string = string
> {
  readonly [TypeId]: TypeId
  readonly model: S
  readonly name: string
  readonly schema: string
  /** The quoted, schema-qualified name, ready for SQL. */
  readonly qualifiedName: string
  /** The primary key as given: a field, or the fields of a composite key. */
  readonly primaryKey: PK
  /** The primary key's fields, in order: one for a single-column key. */
  readonly primaryKeyFields: ReadonlyArray<FieldName<S>>
  readonly primaryKeyConstraint: string
  readonly uniqueKeys: ReadonlyArray<{ readonly fields: ReadonlyArray<FieldName<S>>; readonly constraint: string }>
  readonly softDelete: FieldName<S> | undefined
  readonly version: FieldName<S> | undefined
  readonly timestamps: { readonly created: FieldName<S> | undefined; readonly updated: FieldName<S> | undefined }
  /** The fields the repository fills in itself: timestamps, soft-delete field, version. */
  readonly managedFields: ReadonlyArray<M>
  /** The model's fields, in declaration order. */
  readonly fields: ReadonlyArray<FieldName<S>>
  /** Field name to column name. */
  readonly columns: { readonly [K in FieldName<S>]: string }
  readonly generated: { readonly [K in FieldName<S>]?: Generator }
  readonly defaults: { readonly [K in FieldName<S>]?: unknown }
}

/**
 * The row type of a table: the model's select variant.
 *
 * @since 0.1.0
 * @category models
 */
export type Row<T extends Table<any, any>> = Schema.Schema.Type<T["model"]>

type InsertVariant<T extends Table<any, any>> = Schema.Schema.Type<T["model"]["insert"]>

type OptionalInsertKey<T extends Table<any, any>> = {
  [K in keyof InsertVariant<T>]: K extends Managed<T> ? K : undefined extends InsertVariant<T>[K] ? K : never
}[keyof InsertVariant<T>]

/**
 * The fields a table's repository fills in itself.
 *
 * @since 0.1.0
 * @category models
 */
export type Managed<T extends Table<any, any>> = T extends Table<any, any, infer M> ? M : never

/**
 * What `insert` takes: the model's insert variant (generated fields left
 * out), where the fields the repository fills in (timestamps, soft-delete
 * field, version) and fields that may be undefined are optional.
 *
 * @since 0.1.0
 * @category models
 */
export type Insert<T extends Table<any, any>> = Simplify<
  & Omit<InsertVariant<T>, OptionalInsertKey<T>>
  & Partial<Pick<InsertVariant<T>, OptionalInsertKey<T>>>
>

/**
 * The primary key's fields as a union: the field of a single-column key,
 * each field of a composite key.
 *
 * @since 0.1.0
 * @category models
 */
export type KeyField<T extends Table<any, any>> = T["primaryKey"] extends ReadonlyArray<infer F extends string> ? F
  : Extract<T["primaryKey"], string>

type UpdateVariant<T extends Table<any, any>> = Omit<Schema.Schema.Type<T["model"]["update"]>, KeyField<T>>

/**
 * What `update` takes: some fields of the model's update variant, never the
 * primary key; a numeric field can also take `Repository.increment(n)`.
 *
 * @since 0.1.0
 * @category models
 */
export type Patch<T extends Table<any, any>> = {
  readonly [K in keyof UpdateVariant<T>]?:
    | UpdateVariant<T>[K]
    | (NonNullable<UpdateVariant<T>[K]> extends number ? Increment : never)
}

/**
 * The primary key's type: the key field's value, or for a composite key a
 * record of its fields (`{ readonly userId: number; readonly groupId: number }`).
 *
 * @since 0.1.0
 * @category models
 */
export type Id<T extends Table<any, any>> = T["primaryKey"] extends ReadonlyArray<infer F extends string>
  ? { readonly [K in Extract<F, keyof Row<T>>]: Row<T>[K] }
  : Row<T>[T["primaryKey"]]

/**
 * `createdAt` -> `created_at`, `userID` -> `user_id`, `HTMLPage` -> `html_page`.
 *
 * @since 0.1.0
 * @category naming
 */
export const snakeCase = (field: string): string =>
  field
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .toLowerCase()

/**
 * The name Postgres gives a constraint or index when none is given
 * (`makeObjectName` in PostgreSQL's `indexcmds.c`): `<table>_<columns>_<label>`,
 * shortened to 63 bytes as PostgreSQL does it.
 *
 * @since 0.1.0
 * @category naming
 */
export const postgresObjectName = (table: string, columns: ReadonlyArray<string>, label: string): string => {
  // NAMEDATALEN - 1 bytes, in the database encoding (UTF-8 here).
  const maxBytes = 63
  const name1 = Buffer.from(table, "utf8")
  const name2 = columns.length > 0 ? Buffer.from(columns.join("_"), "utf8") : undefined
  const overhead = Buffer.byteLength(label, "utf8") + 1 + (name2 !== undefined ? 1 : 0)
  const available = maxBytes - overhead
  // makeObjectName counts bytes: it takes one byte at a time from the longer
  // part (from the columns when both are as long), and only then backs each
  // part up to a character boundary (pg_mbcliplen). So the name can end up
  // shorter than 63 bytes, and trimming whole characters instead gives a
  // different split.
  let length1 = name1.length
  let length2 = name2?.length ?? 0
  while (length1 + length2 > available) {
    if (length1 > length2) length1--
    else length2--
  }
  const clip = (bytes: Buffer, length: number) => {
    let end = length
    // A UTF-8 continuation byte is 10xxxxxx: the cut would split a character.
    while (end > 0 && end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end--
    return bytes.subarray(0, end).toString("utf8")
  }
  return name2 !== undefined
    ? `${clip(name1, length1)}_${clip(name2, length2)}_${label}`
    : `${clip(name1, length1)}_${label}`
}

type ManagedOf<O> = O extends {
  readonly softDelete?: infer D
  readonly version?: infer V
  readonly timestamps?: infer TS
} ? Extract<D | V | (TS extends { readonly created?: infer C; readonly updated?: infer U } ? C | U : never), string>
  : never

/**
 * Defines a table for a model.
 *
 * @example
 * class User extends Model.Class<User>("User")({
 *   id: Model.Generated(Schema.Number),
 *   email: Schema.String,
 *   createdAt: Model.DateTimeInsertFromDate,
 *   updatedAt: Model.DateTimeUpdateFromDate
 * }) {}
 * const Users = Table.make(User, {
 *   name: "users",
 *   primaryKey: "id",
 *   uniqueKeys: [["email"]],
 *   timestamps: { created: "createdAt", updated: "updatedAt" }
 * })
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <S extends Model.Any, const O extends Options<S, FieldName<S>>>(
  model: S,
  options: O
): Table<S, O["primaryKey"], ManagedOf<O>> => {
  const fields = Object.keys((model as unknown as Schema.Struct<Schema.Struct.Fields>).fields) as Array<FieldName<S>>
  const known = new Set<string>(fields)
  const check = (field: string | undefined, role: string) => {
    if (field !== undefined && !known.has(field)) {
      throw new Error(`Table "${options.name}": ${role} "${field}" is not a field of the model`)
    }
  }
  const keyFields: ReadonlyArray<FieldName<S>> = typeof options.primaryKey === "string"
    ? [options.primaryKey]
    : [...(options.primaryKey as ReadonlyArray<FieldName<S>>)]
  if (keyFields.length === 0) throw new Error(`Table "${options.name}": the primary key names no field`)
  if (new Set(keyFields).size !== keyFields.length) {
    throw new Error(`Table "${options.name}": the primary key names a field twice`)
  }
  for (const field of keyFields) check(field, "primary key")
  check(options.softDelete, "soft-delete field")
  check(options.version, "version field")
  check(options.timestamps?.created, "created timestamp")
  check(options.timestamps?.updated, "updated timestamp")
  // TypeScript misses a misspelt key here when the object also has a valid one.
  for (const field of Object.keys(options.columnOverrides ?? {})) check(field, "column override")
  for (const field of Object.keys(options.generated ?? {})) check(field, "generated field")
  for (const field of Object.keys(options.defaults ?? {})) check(field, "default")
  const naming = options.naming ?? "snake_case"
  const toColumn = naming === "snake_case" ? snakeCase : naming === "same" ? (f: string) => f : naming
  const columns = Object.fromEntries(
    fields.map((field) => [field, (options.columnOverrides as Record<string, string> | undefined)?.[field] ?? toColumn(field)])
  ) as { [K in FieldName<S>]: string }
  const uniqueKeys = (options.uniqueKeys ?? []).map((key) => {
    const spec: UniqueKey<FieldName<S>> = Array.isArray(key) ? { fields: key } : (key as UniqueKey<FieldName<S>>)
    for (const field of spec.fields) check(field, "unique key field")
    return {
      fields: spec.fields,
      constraint: spec.constraint ?? postgresObjectName(options.name, spec.fields.map((f) => columns[f]), "key")
    }
  })
  const schema = options.schema ?? "public"
  const managedFields = [
    options.timestamps?.created,
    options.timestamps?.updated,
    options.softDelete,
    options.version
  ].filter((f): f is FieldName<S> => f !== undefined) as unknown as ReadonlyArray<ManagedOf<O>>
  return {
    [TypeId]: TypeId,
    model,
    name: options.name,
    schema,
    qualifiedName: schema === "public" ? quote(options.name) : `${quote(schema)}.${quote(options.name)}`,
    primaryKey: options.primaryKey,
    primaryKeyFields: keyFields,
    primaryKeyConstraint: options.primaryKeyConstraint ?? postgresObjectName(options.name, [], "pkey"),
    uniqueKeys,
    softDelete: options.softDelete,
    version: options.version,
    timestamps: { created: options.timestamps?.created, updated: options.timestamps?.updated },
    managedFields,
    fields,
    columns,
    generated: (options.generated ?? {}) as Table<S>["generated"],
    defaults: (options.defaults ?? {}) as Table<S>["defaults"]
  }
}

/**
 * Whether a value is a table definition.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isTable = (u: unknown): u is Table => typeof u === "object" && u !== null && TypeId in u


// ---------------------------------------------------------------------------
// relations
// ---------------------------------------------------------------------------

/**
 * The unique symbol that identifies relations.
 *
 * @since 0.1.0
 * @category type ids
 */
export const RelationTypeId: unique symbol = Symbol.for("effect-dal/Table/Relation")

/**
 * The type of {@link RelationTypeId}.
 *
 * @since 0.1.0
 * @category type ids
 */
export type RelationTypeId = typeof RelationTypeId

/**
 * The kinds of relation: the row holds the other's key (`belongsTo`), the
 * other rows hold this row's key (`hasOne`, `hasMany`), or a join table
 * holds both keys (`manyToMany`).
 *
 * @since 0.1.0
 * @category relations
 */
export type RelationKind = "belongsTo" | "hasOne" | "hasMany" | "manyToMany"

/**
 * A relation from the rows of one table to the rows of `T`, declared with
 * {@link relations}. The target is given as a function when tables refer
 * to each other.
 *
 * @since 0.1.0
 * @category relations
 */
export interface Relation<K extends RelationKind = RelationKind, T extends Table<any, any> = Table<any, any>> {
  readonly [RelationTypeId]: RelationTypeId
  readonly kind: K
  /** The related table. */
  readonly target: () => T
  /**
   * `belongsTo`: the source's field that holds the target's key; `hasOne`,
   * `hasMany`: the target's field that holds the source's key; `manyToMany`:
   * the join table's field that holds the source's key.
   */
  readonly foreignKey: string
  /**
   * The key the foreign key refers to: the target's (for `belongsTo`) or the
   * source's (for the others). `undefined` means the primary key.
   */
  readonly references: string | undefined
  /** `manyToMany`: the join table and its field that holds the target's key. */
  readonly through: {
    readonly table: () => Table<any, any>
    readonly targetKey: string
    readonly targetReferences: string | undefined
  } | undefined
}

/**
 * The relations of a table, by name.
 *
 * @since 0.1.0
 * @category relations
 */
export type Relations = { readonly [name: string]: Relation<any, any> }

/**
 * The relations a table definition carries (none for a plain `make`).
 *
 * @since 0.1.0
 * @category relations
 */
export type RelationsOf<T> = T extends { readonly relations: infer R extends Relations } ? R : {}

/**
 * A table definition with relations.
 *
 * @since 0.1.0
 * @category relations
 */
export type WithRelations<T extends Table<any, any>, R extends Relations> = T & { readonly relations: R }

/**
 * The fields of `A` whose values have type `V` (`null` aside): the fields
 * a foreign key to a key of type `V` may be.
 *
 * @since 0.1.0
 * @category relations
 */
export type FieldsOfType<A, V> = {
  [K in keyof A]-?: [NonNullable<A[K]>] extends [NonNullable<V>] ? [NonNullable<V>] extends [NonNullable<A[K]>] ? K : never
    : never
}[keyof A] & string

type Target<T> = T | (() => T)

/**
 * The constructors of relations from the rows of `S`, passed to
 * {@link relations}. Every field name is checked against its model, and
 * a foreign key must have the type of the key it refers to.
 *
 * @since 0.1.0
 * @category relations
 */
export interface RelationBuilder<S extends Table<any, any>> {
  /** This row holds the target's key in `foreignKey` (a message belongs to its user). */
  readonly belongsTo: <T extends Table<any, any>, RK extends FieldName<T["model"]> = T["primaryKey"]>(
    target: Target<T>,
    options: { readonly foreignKey: FieldsOfType<Row<S>, Row<T>[RK]>; readonly references?: RK | undefined }
  ) => Relation<"belongsTo", T>
  /** At most one target row holds this row's key in `foreignKey` (a user has one profile). */
  readonly hasOne: <T extends Table<any, any>, RK extends FieldName<S["model"]> = S["primaryKey"]>(
    target: Target<T>,
    options: { readonly foreignKey: FieldsOfType<Row<T>, Row<S>[RK]>; readonly references?: RK | undefined }
  ) => Relation<"hasOne", T>
  /** Target rows hold this row's key in `foreignKey` (a user has many messages). */
  readonly hasMany: <T extends Table<any, any>, RK extends FieldName<S["model"]> = S["primaryKey"]>(
    target: Target<T>,
    options: { readonly foreignKey: FieldsOfType<Row<T>, Row<S>[RK]>; readonly references?: RK | undefined }
  ) => Relation<"hasMany", T>
  /**
   * Rows of a join table hold this row's key (`foreignKey`) and the
   * target's (`targetKey`): a message has many tags, a tag many messages.
   */
  readonly manyToMany: <T extends Table<any, any>, J extends Table<any, any>>(
    target: Target<T>,
    options: {
      readonly through: Target<J>
      readonly foreignKey: FieldsOfType<Row<J>, Id<S>>
      readonly targetKey: FieldsOfType<Row<J>, Id<T>>
    }
  ) => Relation<"manyToMany", T>
}

const thunk = <T>(target: Target<T>): () => T =>
  typeof target === "function" ? (target as () => T) : () => target

const relation = <K extends RelationKind, T extends Table<any, any>>(
  kind: K,
  target: Target<T>,
  foreignKey: string,
  references: string | undefined,
  through?: Relation["through"]
): Relation<K, T> => ({ [RelationTypeId]: RelationTypeId, kind, target: thunk(target), foreignKey, references, through })

const builder: RelationBuilder<any> = {
  belongsTo: (target, options) => relation("belongsTo", target, options.foreignKey, options.references),
  hasOne: (target, options) => relation("hasOne", target, options.foreignKey, options.references),
  hasMany: (target, options) => relation("hasMany", target, options.foreignKey, options.references),
  manyToMany: (target, options) =>
    relation("manyToMany", target, options.foreignKey, undefined, {
      table: thunk(options.through),
      targetKey: options.targetKey,
      targetReferences: undefined
    })
}

/**
 * The table definition with relations to other tables, which queries can
 * load with `Query.include` and filter on with `Query.whereRelated`. Give a
 * target as a function (`() => Messages`) when it is defined further down.
 *
 * @example
 * const Users = Table.relations(UsersTable, (r) => ({
 *   messages: r.hasMany(Messages, { foreignKey: "userId" })
 * }))
 *
 * @since 0.1.0
 * @category relations
 */
export const relations = <T extends Table<any, any>, const R extends Relations>(
  table: T,
  build: (r: RelationBuilder<T>) => R
): WithRelations<T, R> => {
  const declared = build(builder as RelationBuilder<T>)
  const known = new Set<string>(table.fields)
  for (const [name, rel] of Object.entries(declared)) {
    const source = rel.kind === "belongsTo" ? rel.foreignKey : rel.references
    if (source !== undefined && !known.has(source)) {
      throw new Error(`Table "${table.name}": relation "${name}" names "${source}", which is not a field of the model`)
    }
  }
  return { ...table, relations: declared }
}

/**
 * Whether a value is a relation made by {@link relations}.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isRelation = (u: unknown): u is Relation =>
  typeof u === "object" && u !== null && (u as { [RelationTypeId]?: unknown })[RelationTypeId] === RelationTypeId
