/**
 * The repository of a table, written once over an engine (engine.ts):
 * checking and encoding the caller's input, `Clock` timestamps, soft
 * delete, versions, `NotFound` and `StaleVersion`, pagination and spans.
 * The engine runs the statements: PostgreSQL or the in-memory database.
 */
import type { Statement as SqlStatement } from "@effect/sql/Statement"
import type * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Hash from "effect/Hash"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Request from "effect/Request"
import * as RequestResolver from "effect/RequestResolver"
import * as Stream from "effect/Stream"
import * as DatabaseError from "../DatabaseError.js"
import * as Query from "../Query.js"
import type * as Repository from "../Repository.js"
import type * as Table from "../Table.js"
import { type Codec, codecFor } from "./codec.js"
import type { Assignment, Encoded, EncodedKey, Engine, Failure, SelectOptions, SetClause, Target, TableEngine } from "./engine.js"
import { increment, isIncrement } from "./increment.js"
import { loadIncludes, selectWithIncludes, streamWithIncludes } from "./include.js"
import { includesKey } from "./includeKey.js"
import { finishPage, planPage } from "./keyset.js"
import {
  batchSizeOf,
  byKeyIncludes,
  checkConflictTarget,
  checkConflictUpdate,
  checkNumericField,
  checkPatch,
  checkQuery,
  checkRows,
  compile as compileFor,
  compileThen as compileThenFor,
  EncodeFailure,
  expectedVersionOf,
  incrementBy,
  softDeletable
} from "./plan.js"
import { streamWithSpan, withSpan } from "./tracing.js"


/** @internal A value that failed its schema stops compiling (see `compile` in plan.ts). */
export const orThrow = <A>(either: Either.Either<A, ParseResult.ParseError>): A => {
  if (either._tag === "Left") throw new EncodeFailure(either.left)
  return either.right
}

const fromEither = <A>(either: Either.Either<A, ParseResult.ParseError>): Effect.Effect<A, ParseResult.ParseError> =>
  either._tag === "Right" ? Effect.succeed(either.right) : Effect.fail(either.left)

const toNumber = (value: unknown): Option.Option<number> =>
  value === null || value === undefined ? Option.none() : Option.some(typeof value === "number" ? value : Number(value))

/**
 * One caller's read by key, for Effect's request batching: the encoded key,
 * and where the caller's statements run (its session, and the context the
 * batch's statement runs in). Requests are equal only to themselves, so
 * Effect's request cache, if a program turns it on, never answers a read
 * with a row read earlier.
 */
class ReadByKey extends Request.Class<
  Option.Option<unknown>,
  Failure,
  {
    readonly key: EncodedKey
    readonly session: unknown
    readonly context: Context.Context<never>
    /** The checked includes to load with the row, and their includesKey. */
    readonly includes: ReadonlyArray<Query.Include> | undefined
    readonly includesKey: string | undefined
  }
> {
  [Equal.symbol](that: Equal.Equal): boolean {
    return this === that
  }
  [Hash.symbol](): number {
    return Hash.random(this)
  }
}

/**
 * The resolver of a repository's reads by key. The reads Effect collected
 * are grouped by session (the pool, a pinned connection, one level of one
 * transaction), and each group is one statement, run in its first caller's
 * context: reads inside a transaction run on its connection and see its
 * uncommitted rows, and reads of different transactions never share a
 * statement. A group of one is the plain read by key.
 */
const makeReadResolver = (
  statements: TableEngine,
  load: (includes: ReadonlyArray<Query.Include>, rows: ReadonlyArray<unknown>) => Effect.Effect<void, Failure>
) =>
  RequestResolver.makeBatched((requests: Arr.NonEmptyArray<ReadByKey>) => {
    const groups = new Map<unknown, Array<ReadByKey>>()
    for (const request of requests) {
      const group = groups.get(request.session)
      if (group === undefined) groups.set(request.session, [request])
      else group.push(request)
    }
    return Effect.forEach(groups.values(), (group) => {
      const read: Effect.Effect<ReadonlyArray<Option.Option<unknown>>, Failure> = group.length === 1
        ? Effect.map(statements.findByKey(group[0]!.key, "findById"), (row) => [row])
        : statements.findByKeys(group.map((request) => request.key), "findById")
      const inContext = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.mapInputContext(effect, (_: Context.Context<never>) => group[0]!.context)
      return Effect.flatMap(
        Effect.exit(inContext(read)),
        (exit) =>
          exit._tag === "Failure" || group.every((request) => request.includes === undefined)
            ? Effect.forEach(group, (request, i) => Request.complete(request, Exit.map(exit, (rows) => rows[i]!)), {
              discard: true
            })
            : completeWithIncludes(group, exit.value, (includes, rows) => inContext(load(includes, rows)))
      )
    }, { concurrency: "unbounded", discard: true })
  })

// A row object handed to more than one caller is copied before relations
// are loaded into it, so that each caller's row carries its own includes.
const copyRow = (row: unknown): unknown => Object.assign(Object.create(Object.getPrototypeOf(row)), row)

/**
 * Completes a batch's reads by key whose rows were read, loading the
 * includes: the callers asking for the same includes (by includesKey)
 * load them together, one statement per included relation for all of
 * their rows (include.ts).
 */
const completeWithIncludes = (
  group: ReadonlyArray<ReadByKey>,
  rows: ReadonlyArray<Option.Option<unknown>>,
  load: (includes: ReadonlyArray<Query.Include>, rows: ReadonlyArray<unknown>) => Effect.Effect<void, Failure>
) => {
  const handed = new Set<unknown>()
  const loads = new Map<unknown, { includes: ReadonlyArray<Query.Include>; requests: Array<ReadByKey>; rows: Array<unknown> }>()
  const done: Array<Effect.Effect<void>> = []
  group.forEach((request, i) => {
    const found = rows[i]!
    if (found._tag === "None" || request.includes === undefined) {
      if (found._tag === "Some") handed.add(found.value)
      done.push(Request.complete(request, Exit.succeed(found)))
      return
    }
    const row = handed.has(found.value) ? copyRow(found.value) : found.value
    handed.add(row)
    const key = request.includesKey ?? request
    const same = loads.get(key)
    if (same === undefined) loads.set(key, { includes: request.includes, requests: [request], rows: [row] })
    else {
      same.requests.push(request)
      same.rows.push(row)
    }
  })
  return Effect.zipRight(
    Effect.all(done, { discard: true }),
    Effect.forEach(loads.values(), ({ includes, requests, rows }) =>
      Effect.flatMap(Effect.exit(load(includes, rows)), (exit) =>
        Effect.forEach(requests, (request, i) => Request.complete(request, Exit.as(exit, Option.some(rows[i]))), {
          discard: true
        })), { discard: true })
  )
}

// Whether a request made now can be batched with others: only inside a
// batching combinator (`forEach` / `all` with `batching`), which runs its
// effects with `Effect.step`. Elsewhere Effect runs a request at once, as a
// batch of one, on a daemon fiber and a scheduler hop: measured here on the
// in-memory database, about 500 µs a call against 15 µs for the plain read.
// Effect does not expose this, so it reads the fiber's stack of steps (a
// private field of FiberRuntime in effect 3.x); if that field is ever
// missing, every read goes through the request machinery, which is right,
// only slower.
const inBatchingStep = (fiber: unknown): boolean => {
  const steps = (fiber as { readonly _steps?: ReadonlyArray<unknown> })._steps
  return steps === undefined || steps.length > 0
}

/** @internal The repository of a table on an engine. */
export const makeRepository = <T extends Table.Table<any, any>>(
  table: T,
  options: Repository.Options,
  engine: Engine
): Repository.Repository<T> => {
  type Row = Table.Row<T>
  const codec = codecFor(table)
  const statements = engine.table(table, codec)
  // Caller input that does not make a query of this table is an
  // InvalidQuery, a value that fails its schema a ParseError: both before
  // anything is sent.
  const compile = <A>(build: () => A) => compileFor(codec, build)
  const compileThen = <A, B, E, R>(build: () => A, then: (built: A) => Effect.Effect<B, E, R>) =>
    compileThenFor(codec, build, then)
  const cursorKey = options.cursorKey
  const fields = table.fields as ReadonlyArray<string>
  const keyFields = codec.keyFields
  const softField = table.softDelete as string | undefined
  const versionField = table.version as string | undefined
  const updatedField = table.timestamps.updated as string | undefined
  const createdField = table.timestamps.created as string | undefined

  // Reading the clock is skipped for tables that keep no timestamps.
  const needsClock = !(updatedField === undefined && softField === undefined && createdField === undefined)
  const clockMillis: Effect.Effect<number> = needsClock ? Clock.currentTimeMillis : Effect.succeed(0)
  // `f` with the time, read only for tables that keep timestamps; `f` must
  // return a lazy effect, since without a clock it is called at once.
  const withClock = <A, E, R>(f: (millis: number) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    needsClock ? Effect.flatMap(clockMillis, f) : f(0)

  // One wrapper per operation, made on first use: operations call `span`
  // on every invocation.
  const spans = new Map<string, <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>>()
  const spanAttributes = (operation: string) => ({
    "db.system.name": engine.system,
    "db.collection.name": table.name,
    "db.operation.name": operation
  })
  const span = (operation: string) => {
    let wrap = spans.get(operation)
    if (wrap === undefined) {
      wrap = withSpan(`${table.name}.${operation}`, { kind: "client", attributes: spanAttributes(operation) })
      spans.set(operation, wrap)
    }
    return wrap
  }

  // A unique violation names its columns even when Postgres's detail
  // could not be parsed, if the table definition knows the constraint.
  const knownKeys = new Map<string, ReadonlyArray<string>>([
    [table.primaryKeyConstraint, keyFields.map((f) => codec.column(f))],
    ...table.uniqueKeys.map((k) => [k.constraint, k.fields.map((f: string) => codec.column(f))] as const)
  ])
  const enrich = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.mapError(effect, (error) =>
      error instanceof DatabaseError.UniqueViolation && error.columns.length === 0 && knownKeys.has(error.constraint)
        ? new DatabaseError.UniqueViolation({ ...error, columns: knownKeys.get(error.constraint)! }) as E
        : error)

  const encodeId = (id: unknown) => fromEither(codec.encodeKey(id))
  const notFound = (id: unknown) => new DatabaseError.NotFound({ table: table.name, key: id })

  // -- reads ------------------------------------------------------------------

  // Reads by key are the hottest path: no span inside another, and the
  // engine's statement is made once.
  // Concurrent reads by key are batched the Effect way: each is a request
  // (see ReadByKey), and the reads Effect collects from the fibers of one
  // batching `forEach` / `all` become one statement per session. With
  // request batching off (`Effect.withRequestBatching(false)`), each read
  // is its own statement, without the request machinery.
  const loadInto = (includes: ReadonlyArray<Query.Include>, rows: ReadonlyArray<unknown>) =>
    loadIncludes(engine, codec, includes, rows)
  const resolver = makeReadResolver(statements, loadInto)
  const byKeyWith = (id: Table.Id<T>, operation: string, includes: ReadonlyArray<Query.Include> | undefined) =>
    Effect.withFiberRuntime((fiber): Effect.Effect<Option.Option<Row>, Failure> => {
      const key = codec.encodeKey(id)
      if (key._tag === "Left") return Effect.fail(key.left)
      if (!fiber.getFiberRef(FiberRef.currentRequestBatchingEnabled) || !inBatchingStep(fiber)) {
        const read = statements.findByKey(key.right, operation) as Effect.Effect<Option.Option<Row>, DatabaseError.DatabaseError>
        return includes === undefined
          ? read
          : Effect.flatMap(read, (row): Effect.Effect<Option.Option<Row>, Failure> =>
            row._tag === "None" ? Effect.succeed(row) : Effect.as(loadInto(includes, [row.value]), row))
      }
      const context = fiber.currentContext
      return Effect.request(
        new ReadByKey({
          key: key.right,
          session: engine.sessionOf(context),
          context,
          includes,
          includesKey: includes === undefined ? undefined : includesKey(includes)
        }),
        resolver
      ) as Effect.Effect<Option.Option<Row>, Failure>
    })
  // The includes of a read by key (Repository.ByIdInclude): only includes,
  // checked against the table before anything is sent. A second argument
  // that is not a function (the index that `Effect.forEach` passes) is no
  // include.
  const byKey = (id: Table.Id<T>, operation: string, include: unknown) =>
    typeof include !== "function"
      ? byKeyWith(id, operation, undefined)
      : compileThen(() => byKeyIncludes(codec, include(Query.make(table))), (includes) =>
        byKeyWith(id, operation, includes.length === 0 ? undefined : includes))
  const spanFindById = span("findById")
  const spanGetById = span("getById")
  const findById = (id: Table.Id<T>, include?: unknown) => spanFindById(byKey(id, "findById", include))
  const getById = (id: Table.Id<T>, include?: unknown) =>
    spanGetById(
      Effect.flatMap(byKey(id, "getById", include), (row) => row._tag === "None" ? Effect.fail(notFound(id)) : Effect.succeed(row.value))
    )

  const everything = Query.make<Row>()
  const orAll = (query: Query.Query<Row> | undefined): Query.Query<Row> => query ?? everything
  const checked = <B, E, R>(query: Query.Query<Row, any, any> | undefined, then: (query: Query.Query<Row>) => Effect.Effect<B, E, R>) =>
    compileThen(() => checkQuery<Row>(codec, orAll(query)), then)

  // Rows with the relations the query includes (include.ts: in one
  // statement, or one more statement per included relation level).
  const selectRows = (q: Query.Query<Row>, selectOptions: SelectOptions, operation: string) =>
    selectWithIncludes(engine, codec, statements, q, selectOptions, operation) as Effect.Effect<ReadonlyArray<Row>, Failure>

  const findMany = (query?: Query.Query<Row, any, any>) =>
    checked(query, (q) => selectRows(q, {}, "findMany")).pipe(span("findMany"))

  const findOne = (query?: Query.Query<Row, any, any>) =>
    checked(query, (q) =>
      Effect.map(selectRows(q, { first: true }, "findOne"), (rows) => rows.length === 0 ? Option.none<Row>() : Option.some(rows[0]!))
    ).pipe(span("findOne"))

  const count = (query?: Query.Query<Row>) =>
    checked(query, (q) => Effect.map(statements.aggregate("count", undefined, q), Number)).pipe(span("count"))

  const exists = (query?: Query.Query<Row>) => checked(query, statements.exists).pipe(span("exists"))

  const aggregate = (fn: "sum" | "avg" | "min" | "max") =>
  (field: Repository.NumericField<Row>, query?: Query.Query<Row>) =>
    compileThen(() => {
      const q = checkQuery<Row>(codec, orAll(query))
      return { q, field: checkNumericField(codec, field) }
    }, ({ field, q }) => Effect.map(statements.aggregate(fn, field, q), toNumber)).pipe(span(fn))

  const paginate = (
    query: Query.Query<Row, any, any>,
    pageOptions: { readonly limit: number; readonly after?: string | undefined }
  ) =>
    planPage(codec, query, pageOptions, cursorKey).pipe(
      Effect.flatMap((page) =>
        Effect.map(
          selectRows(page.query, { extra: page.after, limit: page.limit }, "paginate"),
          (rows) => finishPage(codec, page, rows, cursorKey)
        )
      ),
      span("paginate")
    )

  const stream = (query?: Query.Query<Row, any, any>, streamOptions?: { readonly batchSize?: number | undefined }) =>
    streamWithSpan(
      `${table.name}.stream`,
      { kind: "client", attributes: spanAttributes("stream") },
      compile(() => {
        const batchSize = batchSizeOf(options.streamBatchSize, streamOptions)
        return { batchSize, q: checkQuery<Row>(codec, orAll(query)) }
      }).pipe(Effect.map(({ batchSize, q }) => {
        // Relations come with each row, or are loaded a chunk (a fetch of the cursor) at a time.
        return streamWithIncludes(engine, codec, statements, q, batchSize) as Stream.Stream<Row, Failure>
      }))
    )

  // -- writes -----------------------------------------------------------------

  const insert = (row: Table.Insert<T>) =>
    Effect.flatMap(clockMillis, (now): Effect.Effect<Row, DatabaseError.DatabaseError | ParseResult.ParseError> => {
      const encoded = codec.encodeInsert(row, now)
      if (encoded._tag === "Left") return Effect.fail(encoded.left)
      return statements.insert(encoded.right) as Effect.Effect<Row, DatabaseError.DatabaseError>
    }).pipe(enrich, span("insert"))

  // Every row is encoded (and may fail) before anything is sent. Nothing
  // here holds the encoded rows once the engine has them (a generator's
  // frame would, while the statement waits): the engine keeps what it needs.
  const insertRows = (input: ReadonlyArray<Table.Insert<T>>, returning: boolean, operation: string) =>
    Effect.flatMap(compile(() => checkRows(input)), (rows) =>
      rows.length === 0
        ? Effect.succeed([] as ReadonlyArray<Row>)
        : Effect.flatMap(
          clockMillis,
          (now) =>
            Effect.flatMap(
              compile(() => rows.map((row): Encoded => orThrow(codec.encodeInsert(row, now)))),
              (encoded) => statements.insertMany(encoded, returning, operation) as Effect.Effect<ReadonlyArray<Row>, DatabaseError.DatabaseError>
            )
        )).pipe(enrich)

  const insertMany = (rows: ReadonlyArray<Table.Insert<T>>) => insertRows(rows, true, "insertMany").pipe(span("insertMany"))
  const insertManyDiscard = (rows: ReadonlyArray<Table.Insert<T>>) =>
    Effect.asVoid(insertRows(rows, false, "insertManyDiscard")).pipe(span("insertManyDiscard"))

  const upsert = (row: Table.Insert<T>, upsertOptions: Repository.UpsertOptions<Table.FieldName<T["model"]>>) =>
    Effect.gen(function*() {
      // The target is a list of the table's fields or a key it declares:
      // nothing else is written into ON CONFLICT.
      const { mode, target } = yield* compile(() => ({
        target: checkConflictTarget(codec, upsertOptions?.onConflict),
        mode: checkConflictUpdate(codec, upsertOptions?.update)
      }))
      const now = yield* clockMillis
      const encoded = yield* fromEither(codec.encodeInsert(row, now))
      const columns = codec.insertFields.filter((f) => encoded[f] !== undefined)
      // The key, the created timestamp and the version keep their values;
      // the version is bumped.
      const keep = new Set([...target.fields, ...keyFields, createdField, versionField])
      const set = mode === "nothing"
        ? []
        : mode === "all"
        ? columns.filter((f) => !keep.has(f))
        : mode.filter((f) => columns.includes(f) && f !== versionField)
      const assigned = [...set]
      if (assigned.length > 0 && updatedField !== undefined && columns.includes(updatedField) && !set.includes(updatedField)) {
        assigned.push(updatedField)
      }
      const bump = assigned.length > 0 && versionField !== undefined
      return (yield* statements.upsert(encoded, target, assigned, bump)) as Row
    }).pipe(enrich, span("upsert"))

  // The SET of an update: the patched fields in table order, the updated
  // timestamp, and the version bump. Synchronous, inside `compile`: a bad
  // value throws an EncodeFailure (a ParseError), bad input an InvalidInput.
  const setClause = (unchecked: unknown, now: number): SetClause => {
    const patch = checkPatch(unchecked)
    const assignments: Array<Assignment> = []
    for (const field of fields) {
      if (!Object.hasOwn(patch, field)) continue
      const value = patch[field]
      if (value === undefined) continue
      const forbidden = codec.patchForbids(field, value)
      if (forbidden !== undefined) throw new EncodeFailure(forbidden)
      assignments.push([
        field,
        isIncrement(value) ? increment(incrementBy(field, value.by)) : orThrow(codec.encodePatchField(field, value))
      ])
    }
    // A key that is not a field fails as a ParseError, like any bad input.
    for (const field of Object.keys(patch)) {
      if (!codec.isField(field)) orThrow(codec.encodePatchField(field, patch[field]))
    }
    if (updatedField !== undefined && patch[updatedField] === undefined) {
      assignments.push([updatedField, orThrow(codec.encodePatchField(updatedField, codec.nowFor(updatedField, now)))])
    }
    return { assignments, bump: versionField !== undefined }
  }
  const isEmpty = (set: SetClause) => set.assignments.length === 0 && !set.bump

  const update = (
    id: Table.Id<T>,
    patch: Table.Patch<T>,
    updateOptions?: { readonly expectedVersion?: number | undefined }
  ) =>
    Effect.gen(function*() {
      const expected = yield* compile(() => expectedVersionOf(codec, updateOptions))
      const set = yield* withClock((millis) => compile(() => setClause(patch, millis)))
      const key = yield* encodeId(id)
      if (isEmpty(set)) {
        const current = yield* findById(id)
        return yield* Option.match(current, { onNone: () => Effect.fail(notFound(id)), onSome: Effect.succeed })
      }
      const target: Target = { _tag: "Key", key, state: "alive", version: expected }
      const { rows } = yield* statements.update(target, set, true, "update")
      if (rows.length > 0) return rows[0] as Row
      if (expected === undefined) return yield* Effect.fail(notFound(id))
      // No row matched: tell a missing row from a stale version.
      const current = yield* statements.versionOf(key)
      if (current === undefined) return yield* Effect.fail(notFound(id))
      return yield* Effect.fail(
        new DatabaseError.StaleVersion({ table: table.name, key: id, expectedVersion: expected, actualVersion: Number(current) })
      )
    }).pipe(enrich, span("update"))

  const updateMany = (query: Query.Query<Row>, patch: Table.Patch<T>) =>
    withClock((millis) =>
      compileThen(() => {
        const set = setClause(patch, millis)
        return isEmpty(set) ? undefined : { set, q: checkQuery<Row>(codec, query) }
      }, (built) =>
        built === undefined
          ? Effect.succeed(0)
          : Effect.map(statements.update({ _tag: "Query", query: built.q, alive: false }, built.set, false, "updateMany"), (r) =>
            r.count))
    ).pipe(enrich, span("updateMany"))

  // A soft delete's SET: the mark, and the updated timestamp.
  const softDeleteSet = (now: number): SetClause => {
    const assignments: Array<Assignment> = [[softField!, orThrow(codec.encodePatchField(softField!, codec.nowFor(softField!, now)))]]
    if (updatedField !== undefined) {
      assignments.push([updatedField, orThrow(codec.encodePatchField(updatedField, codec.nowFor(updatedField, now)))])
    }
    return { assignments, bump: false }
  }

  const hardDelete = (id: Table.Id<T>) =>
    encodeId(id).pipe(
      Effect.flatMap((key) => statements.delete({ _tag: "Key", key, state: "any" }, "hardDelete")),
      Effect.flatMap((deleted) => deleted === 0 ? Effect.fail(notFound(id)) : Effect.void),
      span("hardDelete")
    )

  const remove = (id: Table.Id<T>) =>
    softField === undefined
      ? hardDelete(id).pipe(span("delete"))
      : Effect.gen(function*() {
        const now = yield* clockMillis
        const set = yield* compile(() => softDeleteSet(now))
        const key = yield* encodeId(id)
        const { count } = yield* statements.update({ _tag: "Key", key, state: "alive" }, set, false, "delete")
        if (count === 0) return yield* Effect.fail(notFound(id))
      }).pipe(span("delete"))

  const deleteMany = (query: Query.Query<Row>) =>
    Effect.gen(function*() {
      if (softField === undefined) {
        const q = yield* compile(() => checkQuery<Row>(codec, query))
        return yield* statements.delete({ _tag: "Query", query: q, alive: false }, "deleteMany")
      }
      const now = yield* clockMillis
      const set = yield* compile(() => softDeleteSet(now))
      // Rows already deleted stay as they were.
      const q = yield* compile(() => checkQuery<Row>(codec, softDeletable(query)))
      return (yield* statements.update({ _tag: "Query", query: q, alive: true }, set, false, "deleteMany")).count
    }).pipe(span("deleteMany"))

  const restore = (id: Table.Id<T>) =>
    softField === undefined
      ? Effect.dieMessage(`${table.name}.restore: the table has no soft-delete field`)
      : Effect.gen(function*() {
        const now = yield* clockMillis
        const set = yield* compile((): SetClause => {
          const assignments: Array<Assignment> = [[softField, orThrow(codec.encodePatchField(softField, codec.notDeleted))]]
          if (updatedField !== undefined) {
            assignments.push([updatedField, orThrow(codec.encodePatchField(updatedField, codec.nowFor(updatedField, now)))])
          }
          return { assignments, bump: false }
        })
        const key = yield* encodeId(id)
        const { rows } = yield* statements.update({ _tag: "Key", key, state: "deleted" }, set, true, "restore")
        if (rows.length === 0) return yield* Effect.fail(notFound(id))
        return rows[0] as Row
      }).pipe(enrich, span("restore"))

  const raw = (statement: SqlStatement<unknown>) =>
    Effect.suspend(() => statements.raw(statement) as Effect.Effect<ReadonlyArray<Row>, DatabaseError.DatabaseError>).pipe(
      span("raw")
    )

  const repository: Repository.Repository<T> = {
    table,
    // The rows carry the relations the include asks for.
    findById: findById as Repository.Repository<T>["findById"],
    getById: getById as Repository.Repository<T>["getById"],
    // The rows carry the relations the query includes (include.ts).
    findOne: findOne as Repository.Repository<T>["findOne"],
    findMany: findMany as Repository.Repository<T>["findMany"],
    count,
    exists,
    sum: aggregate("sum"),
    avg: aggregate("avg"),
    min: aggregate("min"),
    max: aggregate("max"),
    paginate: paginate as Repository.Repository<T>["paginate"],
    stream: stream as Repository.Repository<T>["stream"],
    insert,
    insertMany,
    insertManyDiscard,
    upsert,
    update,
    updateMany,
    delete: remove,
    deleteMany,
    restore,
    hardDelete,
    raw
  }
  return engine.decorate === undefined ? repository : engine.decorate(repository, table)
}
