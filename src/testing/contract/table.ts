/**
 * The contract on your own tables, behind `ContractSuite.suiteFor`: the rows
 * it inserts (from `makeRow`, or generated from the table's insert schema),
 * and the behaviours that hold for any table.
 */
import type { Vitest } from "@effect/vitest"
import { assert, expect } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Database from "../../Database.js"
import * as Query from "../../Query.js"
import * as Repository from "../../Repository.js"
import type * as Table from "../../Table.js"
import type { Test } from "./shared.js"

/**
 * The options of `ContractSuite.SuiteForOptions` that make the rows; see
 * there for what each means.
 *
 * @since 0.1.0
 * @category models
 * @internal
 */
export interface TableRowsOptions<T extends Table.Table<any, any>> {
  readonly makeRow?: ((n: number) => Table.Insert<T>) | undefined
  readonly arbitrary?: FastCheck.Arbitrary<Table.Insert<T>> | undefined
  readonly seed?: number | undefined
  readonly rows?: number | undefined
  readonly patch?: ((row: Table.Row<T>) => Table.Patch<T>) | undefined
}

const unwrapOption = (value: unknown) => (Option.isOption(value) ? Option.getOrUndefined(value) : value)

const millisOf = (value: unknown): number | undefined => {
  const v = unwrapOption(value)
  if (DateTime.isDateTime(v)) return DateTime.toEpochMillis(v)
  if (v instanceof Date) return v.getTime()
  if (typeof v === "number") return v
  if (typeof v === "string") return Date.parse(v)
  return undefined
}

// PostgreSQL text cannot hold NUL, and UTF-8 cannot hold a lone surrogate.
const sanitize = (value: unknown): unknown => {
  if (typeof value === "string") {
    const text = value.replace(/\u0000/g, "")
    return (text as unknown as { toWellFormed(): string }).toWellFormed()
  }
  if (Array.isArray(value)) return value.map(sanitize)
  if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [sanitize(k), sanitize(v)]))
  }
  return value
}

const keyString = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}n` : v))
const sameValue = (a: unknown, b: unknown) => keyString(a) === keyString(b)

// Orders key values the way the database does for the common key types.
const compareValues = (a: unknown, b: unknown): number =>
  (typeof a === "number" || typeof a === "bigint") && (typeof b === "number" || typeof b === "bigint")
    ? (a < b ? -1 : a > b ? 1 : 0)
    : typeof a === "string" && typeof b === "string"
    ? Buffer.compare(Buffer.from(a), Buffer.from(b))
    : 0

/**
 * Makes the rows of the table contract now, when `suiteFor` is called, and
 * gives back what registers its tests with the suite's `test` and, for the
 * test that needs a real top-level transaction, the layer's `it`.
 *
 * @since 0.1.0
 * @category suites
 * @internal
 */
export const tableContract = <T extends Table.Table<any, any>>(
  table: T,
  options: TableRowsOptions<T>
): (test: Test, it: Vitest.MethodsNonLive<Database.Database>) => void => {
  type Row = Table.Row<T>
  type Insert = Table.Insert<T>
  const model = table.model as unknown as {
    readonly insert: Schema.Struct<Schema.Struct.Fields>
    readonly update: Schema.Struct<Schema.Struct.Fields>
  }
  // Field names as plain strings: the table's field types say nothing more
  // about a generic table.
  const meta = {
    created: table.timestamps.created as string | undefined,
    updated: table.timestamps.updated as string | undefined,
    version: table.version as string | undefined,
    softDelete: table.softDelete as string | undefined,
    columns: table.columns as Record<string, string>
  }
  // A composite key is a record of its fields (Table.Id), compared and
  // filtered field by field.
  const pkFields = table.primaryKeyFields as ReadonlyArray<string>
  const composite = pkFields.length > 1
  const pk = pkFields[0]!
  const keyRecord = (id: unknown): Record<string, unknown> => composite ? id as Record<string, unknown> : { [pk]: id }
  const compareKeys = (a: unknown, b: unknown): number => {
    for (const field of pkFields) {
      const order = compareValues(keyRecord(a)[field], keyRecord(b)[field])
      if (order !== 0) return order
    }
    return 0
  }
  const eqKey = (id: unknown) => composite ? keyRecord(id) : { [pk]: Query.eq(id) }
  const neKey = (id: unknown) => composite ? Query.not(keyRecord(id) as never) : { [pk]: Query.ne(id) }
  const inKeys = (ids: ReadonlyArray<unknown>) => composite ? Query.or(...ids.map((id) => keyRecord(id) as never)) : { [pk]: Query.in(ids) }
  // The keys after this one in key order: (a > x) or (a = x and b > y) ...
  const afterKey = (id: unknown) =>
    composite
      ? Query.or(...pkFields.map((field, i) =>
        ({
          ...Object.fromEntries(pkFields.slice(0, i).map((f) => [f, keyRecord(id)[f]])),
          [field]: Query.gt(keyRecord(id)[field])
        }) as never
      ))
      : { [pk]: Query.gt(id) }
  const orderByKey = (direction: "asc" | "desc") =>
    pkFields.reduce((q, field) => q.pipe(Query.orderBy(field as never, direction)), Query.make(table))
  const insertFields = Object.keys(model.insert.fields)
  const managed = new Set(
    [meta.created, meta.updated, meta.version, meta.softDelete].filter((f): f is string => f !== undefined)
  )
  const declaredKeys: ReadonlyArray<{ readonly fields: ReadonlyArray<string>; readonly constraint: string }> = [
    ...(pkFields.every((f) => insertFields.includes(f)) ? [{ fields: pkFields, constraint: table.primaryKeyConstraint }] : []),
    ...table.uniqueKeys.map((k) => ({ fields: k.fields as ReadonlyArray<string>, constraint: k.constraint }))
  ]
  const keyFields = new Set(declaredKeys.flatMap((k) => k.fields))
  const count = Math.max(options.rows ?? 12, 4)

  // The rows every test uses: made once, the same in every run.
  const clean = (row: unknown): Record<string, unknown> => {
    const out = { ...(row as Record<string, unknown>) }
    for (const field of managed) delete out[field]
    return out
  }
  const rows: ReadonlyArray<Record<string, unknown>> = options.makeRow !== undefined
    ? Array.from({ length: count }, (_, n) => clean(options.makeRow!(n)))
    : FastCheck.sample(
      FastCheck.uniqueArray(
        (options.arbitrary ?? (Arbitrary.make(model.insert) as unknown as FastCheck.Arbitrary<Insert>)).map((row) =>
          sanitize(clean(row)) as Record<string, unknown>
        ),
        {
          minLength: count,
          maxLength: count,
          comparator: (a, b) => declaredKeys.some((k) => k.fields.every((f) => sameValue(a[f], b[f])))
        }
      ),
      { seed: options.seed ?? 42, numRuns: 1 }
    )[0]!
  const row = (n: number) => rows[n]! as Insert

  // Values compared through the insert schema, so Date / DateTime / Option
  // representations do not matter, only what is stored.
  const insertEncoders = new Map(insertFields.map((f) => [
    f,
    Schema.encodeUnknownEither(Schema.Struct({ [f]: model.insert.fields[f]! }) as unknown as Schema.Schema<unknown, unknown>)
  ]))
  const stored = (field: string, value: unknown) => {
    const encoded = insertEncoders.get(field)!({ [field]: value })
    return Either.isRight(encoded) ? (encoded.right as Record<string, unknown>)[field] : encoded.left
  }
  const expectRowFits = (actual: Row, input: Record<string, unknown>) => {
    for (const field of insertFields) {
      if (managed.has(field) || input[field] === undefined) continue
      expect(stored(field, (actual as Record<string, unknown>)[field]), `field ${field}`).toEqual(stored(field, input[field]))
    }
  }

  const updateFields = Object.keys(model.update.fields)
  const patchField = updateFields.find((f) =>
    !pkFields.includes(f) && !managed.has(f) && !keyFields.has(f) && insertFields.includes(f) && !sameValue(rows[0]![f], rows[1]![f])
  )
  const makePatch = (current: Row): Record<string, unknown> | undefined =>
    options.patch !== undefined
      ? (options.patch(current) as Record<string, unknown>)
      : patchField === undefined
      ? undefined
      : { [patchField]: rows[1]![patchField] }
  const canPatch = options.patch !== undefined || patchField !== undefined

  const idOf = (r: Row) =>
    (composite
      ? Object.fromEntries(pkFields.map((f) => [f, (r as Record<string, unknown>)[f]]))
      : (r as Record<string, unknown>)[pk]) as Table.Id<T>
  const byKey = orderByKey("asc")
  const repository = Repository.make(table)

  return (test, it) => {
    test("insert returns the row as stored, and getById reads back the same row", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        for (const n of [0, 1, 2]) {
          const inserted = yield* repo.insert(row(n))
          expectRowFits(inserted, rows[n]!)
          expect(yield* repo.getById(idOf(inserted))).toEqual(inserted)
        }
        expect(yield* repo.count()).toBe(3)
      }))

    test("a missing key: findById gives None, getById fails with NotFound naming the table and the key", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        const inserted = yield* repo.insert(row(0))
        const id = idOf(inserted)
        yield* repo.hardDelete(id)
        expect(yield* repo.findById(id)).toEqual(Option.none())
        const error = yield* Effect.flip(repo.getById(id))
        assert(error._tag === "NotFound")
        expect(error.table).toBe(table.name)
        expect(error.key).toEqual(id)
      }))

    test("insertMany, findMany, count and exists agree on the rows", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        expect(yield* repo.exists()).toBe(false)
        const inserted = yield* repo.insertMany([0, 1, 2, 3].map(row))
        inserted.forEach((r, n) => expectRowFits(r, rows[n]!))
        expect(yield* repo.count()).toBe(4)
        expect(yield* repo.exists()).toBe(true)
        const found = yield* repo.findMany(byKey)
        expect(found.map(idOf)).toEqual(inserted.map(idOf).sort((a, b) => compareKeys(a, b)))
      }))

    test("paginate over the primary key visits every row exactly once", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        yield* repo.insertManyDiscard(rows as ReadonlyArray<Insert>)
        const seen: Array<unknown> = []
        let after: string | undefined = undefined
        let pages = 0
        while (true) {
          const page: Repository.Page<Row> = yield* repo.paginate(Query.make(table), { limit: 3, after })
          seen.push(...page.items.map(idOf))
          pages++
          if (Option.isNone(page.next)) break
          after = page.next.value
        }
        expect(pages).toBe(Math.ceil(count / 3))
        expect(seen).toEqual((yield* repo.findMany(byKey)).map(idOf))
        expect(new Set(seen.map(keyString)).size).toBe(count)
      }))

    if (canPatch) {
      test("update patches the row, returns it, and a missing key is NotFound", () =>
        Effect.gen(function*() {
          const repo = yield* repository
          const inserted = yield* repo.insert(row(0))
          const patch = makePatch(inserted)!
          const updated = yield* repo.update(idOf(inserted), patch as Table.Patch<T>)
          for (const field of Object.keys(patch)) {
            expect(stored(field, (updated as Record<string, unknown>)[field]), `field ${field}`).toEqual(stored(field, patch[field]))
          }
          expect(yield* repo.getById(idOf(inserted))).toEqual(updated)
          yield* repo.hardDelete(idOf(inserted))
          const missing = yield* Effect.flip(repo.update(idOf(inserted), patch as Table.Patch<T>))
          expect(missing._tag).toBe("NotFound")
        }))
    }

    test("delete takes the row out of every read; a second delete is NotFound", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        const [a, b] = yield* repo.insertMany([row(0), row(1)])
        yield* repo.delete(idOf(a!))
        expect(yield* repo.findById(idOf(a!))).toEqual(Option.none())
        expect((yield* repo.findMany()).map(idOf)).toEqual([idOf(b!)])
        expect(yield* repo.count()).toBe(1)
        const again = yield* Effect.flip(repo.delete(idOf(a!)))
        expect(again._tag).toBe("NotFound")
      }))

    if (meta.softDelete !== undefined) {
      test("delete soft-deletes: withDeleted and onlyDeleted still see the row, and restore brings it back", () =>
        Effect.gen(function*() {
          const repo = yield* repository
          const inserted = yield* repo.insert(row(0))
          yield* repo.delete(idOf(inserted))
          expect((yield* repo.findMany(Query.make(table).pipe(Query.withDeleted))).map(idOf)).toEqual([idOf(inserted)])
          expect((yield* repo.findMany(Query.make(table).pipe(Query.onlyDeleted))).map(idOf)).toEqual([idOf(inserted)])
          const restored = yield* repo.restore(idOf(inserted))
          expect(unwrapOption((restored as Record<string, unknown>)[meta.softDelete!]) ?? null).toBe(null)
          expect(yield* repo.count()).toBe(1)
          expect((yield* Effect.flip(repo.restore(idOf(inserted))))._tag).toBe("NotFound")
        }))
    }

    if (meta.version !== undefined) {
      test("every update increments the version; a stale expected version is StaleVersion", () =>
        Effect.gen(function*() {
          const repo = yield* repository
          const version = meta.version!
          const inserted = yield* repo.insert(row(0))
          expect((inserted as Record<string, unknown>)[version]).toBe(1)
          const patch = (makePatch(inserted) ?? {}) as Table.Patch<T>
          const updated = yield* repo.update(idOf(inserted), patch, { expectedVersion: 1 })
          expect((updated as Record<string, unknown>)[version]).toBe(2)
          const stale = yield* Effect.flip(repo.update(idOf(inserted), patch, { expectedVersion: 1 }))
          assert(stale._tag === "StaleVersion")
          expect(stale).toMatchObject({ table: table.name, expectedVersion: 1, actualVersion: 2 })
          const current = yield* repo.getById(idOf(inserted))
          expect((current as Record<string, unknown>)[version]).toBe(2)
        }))
    }

    if (meta.created !== undefined || meta.updated !== undefined) {
      test("timestamps come from Clock: created on insert, updated on every write", () =>
        Effect.gen(function*() {
          const repo = yield* repository
          const created = meta.created
          const updatedField = meta.updated
          const at = (r: Row, field: string | undefined) =>
            field === undefined ? undefined : millisOf((r as Record<string, unknown>)[field])
          yield* TestClock.setTime(Date.UTC(2031, 0, 2, 3, 4, 5))
          const inserted = yield* repo.insert(row(0))
          if (created !== undefined) expect(at(inserted, created)).toBe(Date.UTC(2031, 0, 2, 3, 4, 5))
          if (updatedField !== undefined) expect(at(inserted, updatedField)).toBe(Date.UTC(2031, 0, 2, 3, 4, 5))
          yield* TestClock.setTime(Date.UTC(2031, 0, 2, 3, 5, 0))
          const updated = yield* repo.update(idOf(inserted), (makePatch(inserted) ?? {}) as Table.Patch<T>)
          if (created !== undefined) expect(at(updated, created)).toBe(Date.UTC(2031, 0, 2, 3, 4, 5))
          if (updatedField !== undefined) expect(at(updated, updatedField)).toBe(Date.UTC(2031, 0, 2, 3, 5, 0))
        }))
    }

    test("orderBy the primary key sorts the rows; where on the primary key finds exactly the rows it names", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        const inserted = yield* repo.insertMany(rows as ReadonlyArray<Insert>)
        const sorted = inserted.map(idOf).sort((a, b) => compareKeys(a, b))
        const where = (filter: unknown) => Query.make(table).pipe(Query.where(filter as never))
        expect((yield* repo.findMany(byKey)).map(idOf)).toEqual(sorted)
        expect((yield* repo.findMany(orderByKey("desc"))).map(idOf)).toEqual([...sorted].reverse())
        const pivot = sorted[Math.floor(count / 2)]!
        const exact = yield* repo.findMany(where(keyRecord(pivot)))
        expect(exact.map(idOf)).toEqual([pivot])
        expect(exact[0]).toEqual(yield* repo.getById(pivot))
        expect(yield* repo.count(where(eqKey(pivot)))).toBe(1)
        expect(yield* repo.count(where(neKey(pivot)))).toBe(count - 1)
        expect((yield* repo.findMany(byKey.pipe(Query.where(inKeys([sorted[0], sorted[count - 1]]) as never)))).map(idOf))
          .toEqual([sorted[0], sorted[count - 1]])
        expect((yield* repo.findMany(byKey.pipe(Query.where(afterKey(pivot) as never)))).map(idOf))
          .toEqual(sorted.slice(Math.floor(count / 2) + 1))
        expect((yield* repo.findMany(byKey.pipe(Query.offset(1), Query.limit(2)))).map(idOf)).toEqual(sorted.slice(1, 3))
      }))

    test("a failing nested transaction (a savepoint) rolls back only its own insert; the outer insert survives", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        const { inner, outer } = yield* Database.transaction(Effect.gen(function*() {
          const outer = yield* repo.insert(row(0))
          let inner: Table.Id<T> | undefined
          const failed = yield* Effect.either(Database.transaction(Effect.gen(function*() {
            inner = idOf(yield* repo.insert(row(1)))
            return yield* Effect.fail("undo inner" as const)
          })))
          expect(failed).toEqual(Either.left("undo inner"))
          expect(yield* repo.count()).toBe(1)
          return { inner: inner!, outer }
        }))
        expect(yield* repo.count()).toBe(1)
        expect(yield* repo.getById(idOf(outer))).toEqual(outer)
        expect(yield* repo.findById(inner)).toEqual(Option.none())
        // The savepoint's rollback left the transaction usable: row 1 can go in now.
        yield* repo.insert(row(1))
        expect(yield* repo.count()).toBe(2)
      }))

    for (const key of declaredKeys) {
      test(`a duplicate (${key.fields.join(", ")}) is UniqueViolation "${key.constraint}"; nothing is written`, () =>
        Effect.gen(function*() {
          const repo = yield* repository
          const first = rows[0]!
          yield* repo.insert(row(0))
          const duplicate = { ...rows[1]!, ...Object.fromEntries(key.fields.map((f) => [f, first[f]])) }
          const error = yield* Effect.flip(Database.transaction(repo.insert(duplicate as Insert)))
          assert(error._tag === "UniqueViolation")
          expect(error.constraint).toBe(key.constraint)
          expect(error.table).toBe(table.name)
          expect(error.columns).toEqual(key.fields.map((f) => meta.columns[f]))
          expect(yield* repo.count(Query.make(table).pipe(Query.withDeleted))).toBe(1)
        }))
    }

    // Outside the sandbox, so that the transaction is a real top-level one;
    // it rolls back, so the tables stay as the sandboxed tests expect.
    it.effect("a failing top-level transaction leaves count() unchanged and its row absent", () =>
      Effect.gen(function*() {
        const repo = yield* repository
        const before = yield* repo.count(Query.make(table).pipe(Query.withDeleted))
        let inside: Table.Id<T> | undefined
        const outcome = yield* Effect.either(Database.transaction(Effect.gen(function*() {
          inside = idOf(yield* repo.insert(row(0)))
          expect(yield* repo.count(Query.make(table).pipe(Query.withDeleted))).toBe(before + 1)
          return yield* Effect.fail("undo" as const)
        })))
        expect(outcome).toEqual(Either.left("undo"))
        expect(yield* repo.count(Query.make(table).pipe(Query.withDeleted))).toBe(before)
        expect(yield* repo.findById(inside!)).toEqual(Option.none())
      }))
  }
}
