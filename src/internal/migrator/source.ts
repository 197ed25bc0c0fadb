/**
 * @internal
 * Where migrations come from: a directory of `NNNN_name.up.sql` /
 * `NNNN_name.down.sql` files and `NNNN_name.ts|js` modules, or records
 * written in code. Everything here is validated before anything runs: file
 * names, ids, duplicates, and the exports of modules.
 */
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { MigrationError } from "../../DatabaseError.js"

/** @internal What a migration step is: SQL text, or an Effect. */
export type Step = { readonly _tag: "Sql"; readonly text: string } | {
  readonly _tag: "Effect"
  readonly effect: Effect.Effect<unknown, unknown, any>
}

/** @internal A migration's steps, once loaded (modules are imported only when needed). */
export interface Loaded {
  readonly up: Step
  readonly down: Step | undefined
  readonly transaction: boolean
  readonly downTransaction: boolean
}

/** @internal */
export interface Migration {
  readonly id: number
  readonly name: string
  /** sha256 of the up SQL or the module's source; undefined for an Effect given in code. */
  readonly checksum: string | undefined
  /** Where it came from, for messages: a file name or "code". */
  readonly origin: string
  readonly load: Effect.Effect<Loaded, MigrationError>
}

/** The largest id that fits the history table's integer column. */
export const maxId = 2_147_483_647

/** @internal A migration name: letters, digits, `_` and `-`, at most 100 characters. */
export const namePattern = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/

const filePattern = /^(\d{1,10})_([A-Za-z0-9][A-Za-z0-9_-]{0,99})\.(up\.sql|down\.sql|ts|js|mjs|cjs|mts|cts)$/

/** The first-line marker of an SQL file that must run outside a transaction. */
export const noTransactionMarker = /^\s*--\s*effect-dal:\s*no-transaction\s*$/i

/** @internal */
export const checksum = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex")

const invalid = (detail: string, id?: number, name?: string) =>
  new MigrationError({
    reason: "invalid-source",
    detail,
    ...(id === undefined ? {} : { migrationId: id }),
    ...(name === undefined ? {} : { migrationName: name })
  })

const sqlStep = (text: string): Step => ({ _tag: "Sql", text })

/** @internal Whether SQL text asks to run outside a transaction. */
export const wantsNoTransaction = (text: string): boolean => noTransactionMarker.test(text.split("\n", 1)[0] ?? "")

const checkId = (id: number, name: string, origin: string) =>
  Number.isSafeInteger(id) && id >= 1 && id <= maxId
    ? Effect.void
    : Effect.fail(invalid(`${origin}: the id must be a whole number from 1 to ${maxId}`, undefined, name))

const checkDuplicates = (migrations: ReadonlyArray<Migration>) => {
  const seen = new Map<number, Migration>()
  for (const migration of migrations) {
    const other = seen.get(migration.id)
    if (other !== undefined) {
      return Effect.fail(
        invalid(`id ${migration.id} is used twice (${other.origin} and ${migration.origin}); ids must be unique`, migration.id, migration.name)
      )
    }
    seen.set(migration.id, migration)
  }
  return Effect.succeed([...migrations].sort((a, b) => a.id - b.id))
}

/** @internal A migration given in code. */
export interface Record {
  readonly id: number
  readonly name: string
  readonly up: string | Effect.Effect<unknown, unknown, any>
  readonly down?: string | Effect.Effect<unknown, unknown, any> | undefined
  readonly transaction?: boolean | undefined
}

/** @internal */
export const fromRecords = (records: ReadonlyArray<Record>): Effect.Effect<ReadonlyArray<Migration>, MigrationError> =>
  Effect.flatMap(
    Effect.forEach(records, (record) =>
      Effect.gen(function*() {
        const name = typeof record.name === "string" ? record.name : ""
        if (!namePattern.test(name)) {
          return yield* invalid(
            `record ${JSON.stringify(String(record.name).slice(0, 100))}: a name is letters, digits, "_" and "-"`
          )
        }
        yield* checkId(record.id, name, `record ${name}`)
        const step = (s: string | Effect.Effect<unknown, unknown, any>): Step =>
          typeof s === "string" ? sqlStep(s) : { _tag: "Effect", effect: s }
        if (typeof record.up !== "string" && !Effect.isEffect(record.up)) {
          return yield* invalid("up must be SQL text or an Effect", record.id, name)
        }
        if (record.down !== undefined && typeof record.down !== "string" && !Effect.isEffect(record.down)) {
          return yield* invalid("down must be SQL text or an Effect", record.id, name)
        }
        const up = step(record.up)
        const down = record.down === undefined ? undefined : step(record.down)
        const transaction = record.transaction ?? (up._tag === "Sql" ? !wantsNoTransaction(up.text) : true)
        const migration: Migration = {
          id: record.id,
          name,
          checksum: typeof record.up === "string" ? checksum(record.up) : undefined,
          origin: `record ${record.id}_${name}`,
          load: Effect.succeed({
            up,
            down,
            transaction,
            downTransaction: record.transaction ??
              (down?._tag === "Sql" ? !wantsNoTransaction(down.text) : true)
          })
        }
        return migration
      })), checkDuplicates)

interface Files {
  up?: string
  down?: string
  module?: string
}

const readText = (file: string) =>
  Effect.try({
    try: () => fs.readFileSync(file, "utf8"),
    catch: (error) => invalid(`cannot read ${path.basename(file)}: ${(error as Error).message}`)
  })

const importModule = (file: string, id: number, name: string): Effect.Effect<Loaded, MigrationError> =>
  Effect.tryPromise({
    try: () => import(pathToFileURL(file).href) as Promise<globalThis.Record<string, unknown>>,
    catch: (error) =>
      invalid(
        `cannot import ${path.basename(file)}: ${(error as Error).message}` +
          (/\.[mc]?ts$/.test(file) ? " (TypeScript migrations need a loader such as `node --import tsx`)" : ""),
        id,
        name
      )
  }).pipe(
    Effect.flatMap((module) => {
      // A PgMigrator migration (`export default Effect...`) works as an up step.
      const defaultExport = module.default as globalThis.Record<string, unknown> | undefined
      const up = module.up ?? (Effect.isEffect(defaultExport) ? defaultExport : defaultExport?.up)
      const down = module.down ?? (Effect.isEffect(defaultExport) ? undefined : defaultExport?.down)
      const transaction = module.transaction ?? (Effect.isEffect(defaultExport) ? undefined : defaultExport?.transaction)
      if (!Effect.isEffect(up)) {
        return Effect.fail(invalid(`${path.basename(file)} must export an Effect named up (or a default export)`, id, name))
      }
      if (down !== undefined && !Effect.isEffect(down)) {
        return Effect.fail(invalid(`${path.basename(file)}: its down export must be an Effect`, id, name))
      }
      if (transaction !== undefined && typeof transaction !== "boolean") {
        return Effect.fail(invalid(`${path.basename(file)}: its transaction export must be true or false`, id, name))
      }
      const inTransaction = transaction ?? true
      return Effect.succeed<Loaded>({
        up: { _tag: "Effect", effect: up },
        down: down === undefined ? undefined : { _tag: "Effect", effect: down },
        transaction: inTransaction,
        downTransaction: inTransaction
      })
    })
  )

/** @internal The migrations of a directory, sorted by id. */
export const fromDirectory = (directory: string): Effect.Effect<ReadonlyArray<Migration>, MigrationError> =>
  Effect.gen(function*() {
    const entries = yield* Effect.try({
      try: () => fs.readdirSync(directory, { withFileTypes: true }),
      catch: (error) => invalid(`cannot read the migrations directory: ${(error as Error).message}`)
    })
    const byId = new Map<number, { name: string; files: Files }>()
    for (const entry of entries) {
      const file = entry.name
      // Hidden files, `_schema.sql` (PgMigrator's dump), declarations and
      // anything that is not SQL or a module are not migrations.
      if (!entry.isFile() || file.startsWith(".") || file.startsWith("_") || /\.d\.[mc]?ts$/.test(file)) continue
      if (!/\.(sql|[mc]?[jt]s)$/.test(file)) continue
      const match = filePattern.exec(file)
      if (match === null) {
        return yield* invalid(
          `${JSON.stringify(file.slice(0, 120))} is not a migration file name: ` +
            `use NNNN_name.up.sql, NNNN_name.down.sql or NNNN_name.ts|js (name: letters, digits, "_", "-")`
        )
      }
      const id = Number(match[1])
      const name = match[2]!
      const kind = match[3]!
      yield* checkId(id, name, file)
      const known = byId.get(id)
      if (known !== undefined && known.name !== name) {
        return yield* invalid(`id ${id} is used twice (${known.name} and ${name}); ids must be unique`, id, name)
      }
      const files = known?.files ?? {}
      const slot: keyof Files = kind === "up.sql" ? "up" : kind === "down.sql" ? "down" : "module"
      if (files[slot] !== undefined || (slot !== "down" && (files.up ?? files.module) !== undefined)) {
        return yield* invalid(`migration ${id}_${name} has more than one up file`, id, name)
      }
      files[slot] = path.join(directory, file)
      byId.set(id, { name, files })
    }
    const migrations: Array<Migration> = []
    for (const [id, { files, name }] of byId) {
      if (files.module !== undefined) {
        if (files.down !== undefined) {
          return yield* invalid(`${id}_${name} is a module; its down step is its down export, not a .down.sql file`, id, name)
        }
        const source = yield* readText(files.module)
        const file = files.module
        migrations.push({
          id,
          name,
          checksum: checksum(source),
          origin: path.basename(file),
          load: Effect.suspend(() => importModule(file, id, name))
        })
        continue
      }
      if (files.up === undefined) {
        return yield* invalid(`${id}_${name}.down.sql has no ${id}_${name}.up.sql`, id, name)
      }
      const up = yield* readText(files.up)
      const down = files.down === undefined ? undefined : yield* readText(files.down)
      migrations.push({
        id,
        name,
        checksum: checksum(up),
        origin: path.basename(files.up),
        load: Effect.succeed({
          up: sqlStep(up),
          down: down === undefined ? undefined : sqlStep(down),
          transaction: !wantsNoTransaction(up),
          downTransaction: down === undefined ? true : !wantsNoTransaction(down)
        })
      })
    }
    return yield* checkDuplicates(migrations)
  })

/**
 * @internal
 * Splits SQL text into statements at top-level semicolons, for a file that
 * runs outside a transaction: sent as one simple query, several statements
 * would form an implicit transaction, in which `CREATE INDEX CONCURRENTLY`
 * fails with 25001. Quotes, dollar quotes and comments are respected.
 */
export const splitStatements = (text: string): Array<string> => {
  const statements: Array<string> = []
  let start = 0
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text[i]!
    if (c === "-" && text[i + 1] === "-") {
      const end = text.indexOf("\n", i)
      i = end < 0 ? n : end + 1
    } else if (c === "/" && text[i + 1] === "*") {
      // Block comments nest in PostgreSQL.
      let depth = 1
      i += 2
      while (i < n && depth > 0) {
        if (text[i] === "/" && text[i + 1] === "*") (depth++, i += 2)
        else if (text[i] === "*" && text[i + 1] === "/") (depth--, i += 2)
        else i++
      }
    } else if (c === "'" || c === "\"") {
      // In an E'...' string a backslash escapes the next character.
      const escapes = c === "'" && i > 0 && /[eE]/.test(text[i - 1]!) && (i < 2 || !/[A-Za-z0-9_]/.test(text[i - 2]!))
      i++
      while (i < n) {
        if (escapes && text[i] === "\\") {
          i += 2
        } else if (text[i] === c) {
          if (text[i + 1] === c) i += 2
          else break
        } else i++
      }
      i++
    } else if (c === "$") {
      // A dollar inside an identifier (a$b) does not open a quote.
      const tag = i > 0 && /[A-Za-z0-9_]/.test(text[i - 1]!) ? null : /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i))
      if (tag === null) {
        i++
      } else {
        const end = text.indexOf(tag[0], i + tag[0].length)
        i = end < 0 ? n : end + tag[0].length
      }
    } else if (c === ";") {
      statements.push(text.slice(start, i))
      i++
      start = i
    } else {
      i++
    }
  }
  statements.push(text.slice(start))
  return statements.filter(hasCode)
}

// Whether a piece holds more than whitespace and comments.
const hasCode = (s: string): boolean => s.replace(/--[^\n]*/g, "").replace(/\/\*[\s\S]*?\*\//g, "").trim().length > 0
