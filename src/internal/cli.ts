/**
 * @internal
 * The `effect-dal` command line: `migrate up|down|redo|status|create` and
 * `check`. Every outcome ends in an exit code a deploy script can trust:
 * 0 success, 1 failure, 2 usage or configuration, 3 lock timeout.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Database from "../Database.js"
import * as DatabaseError from "../DatabaseError.js"
import * as Migrator from "../Migrator.js"
import * as Table from "../Table.js"
import { createTables } from "./migrator/ddl.js"
import { namePattern } from "./migrator/source.js"

/** @internal The package's version, shown by `--version`. */
export const version = "0.1.0"

/** @internal Exit codes. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  lockTimeout: 3
} as const

/** A usage error found by a command itself (not by the parser). */
class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

const dir = Options.text("dir").pipe(
  Options.withDefault("migrations"),
  Options.withDescription("The migrations directory")
)
const table = Options.text("table").pipe(
  Options.withDefault("effect_sql_migrations"),
  Options.withDescription("The history table (PgMigrator's by default)")
)
const dryRun = Options.boolean("dry-run").pipe(
  Options.withDescription("Print the SQL that would run, and run nothing")
)
const lockTimeout = Options.integer("lock-timeout").pipe(
  Options.withDefault(60),
  Options.withDescription("Seconds to wait for another runner's lock before failing with exit code 3")
)
const allowOutOfOrder = Options.boolean("allow-out-of-order").pipe(
  Options.withDescription("Apply pending migrations older than the last applied one")
)
const to = Options.integer("to").pipe(Options.optional)

const common = { dir, table, lockTimeout, dryRun }

const settings = (o: { dir: string; table: string; lockTimeout: number; dryRun: boolean }) => ({
  source: Migrator.fromDirectory(o.dir),
  table: o.table,
  lockTimeout: Duration.seconds(o.lockTimeout),
  dryRun: o.dryRun,
  // Each migration is printed as it is done, so a failure later on still
  // shows what was applied before it.
  onMigration: (m: Migrator.Ran) =>
    Console.log(`${m.direction === "up" ? "applied" : "reverted"} ${pad(m.id)}_${m.name} (${millis(m.duration)})`)
})

// The database only for the commands that use it: create and --help need none.
const withDatabase = <A, E>(effect: Effect.Effect<A, E, Migrator.Requirements>) =>
  Effect.provide(effect, Database.layerConfig())

const pad = (id: number) => String(id).padStart(4, "0")

const millis = (duration: Option.Option<Duration.Duration>) =>
  Option.match(duration, { onNone: () => "", onSome: (d) => `${Math.round(Duration.toMillis(d))} ms` })

const report = (ran: ReadonlyArray<Migrator.Ran>, dry: boolean, none: string) =>
  Effect.gen(function*() {
    if (ran.length === 0) return yield* Console.log(none)
    for (const m of ran) {
      if (dry) {
        yield* Console.log(
          `-- ${m.direction} ${pad(m.id)}_${m.name} (${m.transaction ? "in a transaction" : "without a transaction"})`
        )
        yield* Console.log(
          Option.getOrElse(m.sql, () => "-- a module: its statements are known only when it runs").trimEnd()
        )
      }
    }
  })

const up = Command.make(
  "up",
  { ...common, to: to.pipe(Options.withDescription("Apply up to and including this id")), allowOutOfOrder },
  (o) =>
    withDatabase(Effect.flatMap(
      Migrator.up({ ...settings(o), to: Option.getOrUndefined(o.to), allowOutOfOrder: o.allowOutOfOrder }),
      (ran) => report(ran, o.dryRun, "nothing to apply: the database is up to date")
    ))
).pipe(Command.withDescription("Apply pending migrations, each in its own transaction"))

const down = Command.make(
  "down",
  {
    ...common,
    steps: Options.integer("steps").pipe(Options.optional, Options.withDescription("How many to undo (default 1)")),
    to: to.pipe(Options.withDescription("Undo every migration newer than this id (0: all)"))
  },
  (o): Effect.Effect<void, Migrator.MigratorError | UsageError | ConfigError.ConfigError> =>
    Option.isSome(o.steps) && Option.isSome(o.to)
      ? Effect.fail(new UsageError({ message: "give --steps or --to, not both" }))
      : withDatabase(Effect.flatMap(
        Migrator.down({ ...settings(o), steps: Option.getOrUndefined(o.steps), to: Option.getOrUndefined(o.to) }),
        (ran) => report(ran, o.dryRun, "nothing to undo: no migration is applied")
      ))
).pipe(Command.withDescription("Undo applied migrations, newest first"))

const redo = Command.make(
  "redo",
  common,
  (o) =>
    withDatabase(
      Effect.flatMap(Migrator.redo(settings(o)), (ran) => report(ran, o.dryRun, "nothing to redo: no migration is applied"))
    )
).pipe(Command.withDescription("Undo the last applied migration and apply it again"))

/** @internal The status table, as `migrate status` prints it. */
export const statusTable = (status: Migrator.Status): string => {
  const rows = status.migrations.map((m) => [
    pad(m.id),
    m.name,
    m.state,
    Option.match(m.appliedAt, { onNone: () => "", onSome: (d) => d.toISOString() }),
    millis(m.duration),
    [m.changed ? "changed since applied" : "", m.outOfOrder ? "out of order" : "", m.inSource ? "" : "not in the directory"]
      .filter((s) => s !== "").join(", ")
  ])
  const header = ["ID", "NAME", "STATE", "APPLIED AT", "DURATION", "NOTE"]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()
  return [
    line(header),
    ...rows.map(line),
    "",
    `${status.applied.length} applied, ${status.pending.length} pending`
  ].join("\n")
}

const status = Command.make(
  "status",
  { dir, table },
  (o) =>
    withDatabase(Effect.flatMap(
      Migrator.status({ source: Migrator.fromDirectory(o.dir), table: o.table }),
      (s) => Console.log(statusTable(s))
    ))
).pipe(Command.withDescription("List applied and pending migrations, with when each was applied and how long it took"))

/** Loads a module and returns the table definitions it exports. */
const tablesOf = (module: string) =>
  Effect.tryPromise({
    try: () => import(pathToFileURL(path.resolve(module)).href) as Promise<Record<string, unknown>>,
    catch: (error) => new UsageError({ message: `cannot import ${module}: ${(error as Error).message}` })
  }).pipe(
    Effect.flatMap((exports) => {
      const tables = Object.values(exports).filter(Table.isTable)
      return tables.length === 0
        ? Effect.fail(new UsageError({ message: `${module} exports no table definitions (Table.make)` }))
        : Effect.succeed(tables as ReadonlyArray<Table.Table<any, any>>)
    })
  )

const create = Command.make(
  "create",
  {
    dir,
    name: Args.text({ name: "name" }).pipe(Args.withDescription("The migration's name: letters, digits, _ and -")),
    from: Options.text("from").pipe(
      Options.optional,
      Options.withDescription("A module exporting table definitions: the migration creates their tables")
    )
  },
  (o) =>
    Effect.gen(function*() {
      if (!namePattern.test(o.name)) {
        return yield* new UsageError({ message: `${JSON.stringify(o.name.slice(0, 100))} is not a migration name: use letters, digits, "_" and "-"` })
      }
      const sql = Option.isSome(o.from)
        ? createTables(yield* tablesOf(o.from.value))
        : { up: `-- ${o.name}: up\n`, down: `-- ${o.name}: down\n` }
      const existing = fs.existsSync(o.dir) ? yield* Migrator.migrations(Migrator.fromDirectory(o.dir)) : []
      const id = existing.reduce((max, m) => Math.max(max, m.id), 0) + 1
      fs.mkdirSync(o.dir, { recursive: true })
      const files = [[`${pad(id)}_${o.name}.up.sql`, sql.up], [`${pad(id)}_${o.name}.down.sql`, sql.down]] as const
      for (const [file, text] of files) {
        // "wx": never overwrite a file that is already there.
        fs.writeFileSync(path.join(o.dir, file), text, { flag: "wx" })
        yield* Console.log(`created ${path.join(o.dir, file)}`)
      }
    })
).pipe(Command.withDescription("Write the up and down files of a new migration (with --from, CREATE TABLE for each table)"))

const migrate = Command.make("migrate").pipe(
  Command.withDescription("Apply, undo and list migrations (DATABASE_URL, or PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD)"),
  Command.withSubcommands([up, down, redo, status, create])
)

const check = Command.make(
  "check",
  {
    tables: Options.text("tables").pipe(Options.withDescription("A module exporting table definitions (Table.make)"))
  },
  (o) =>
    Effect.gen(function*() {
      const tables = yield* tablesOf(o.tables)
      yield* withDatabase(Database.verify(tables))
      yield* Console.log(`ok: ${tables.length} table(s) match the database`)
    })
).pipe(Command.withDescription("Check that table definitions match the database; every difference is listed"))

const root = Command.make("effect-dal").pipe(
  Command.withDescription("effect-dal: migrations and schema checks for PostgreSQL"),
  Command.withSubcommands([migrate, check])
)

const cli = Command.run(root, { name: "effect-dal", version })

const codeOf = (error: unknown): number => {
  if (ValidationError.isValidationError(error) || error instanceof UsageError || ConfigError.isConfigError(error)) {
    return ExitCode.usage
  }
  if (error instanceof DatabaseError.MigrationError && error.reason === "lock-timeout") return ExitCode.lockTimeout
  return ExitCode.failure
}

const describe = (error: unknown): string | undefined => {
  // The parser has printed its own message and the help.
  if (ValidationError.isValidationError(error)) return undefined
  if (ConfigError.isConfigError(error)) return `configuration: ${String(error)}`
  return error instanceof Error ? error.message : String(error)
}

/**
 * @internal
 * Runs the command line on `argv` (without node and the script) and
 * succeeds with the exit code. The database layer is built only for the
 * commands that need it, from the environment as `Database.layerConfig`
 * reads it.
 */
export const main = (argv: ReadonlyArray<string>) =>
  cli(["node", "effect-dal", ...argv]).pipe(
    Effect.as(ExitCode.ok as number),
    Effect.catchAllCause((cause) => {
      const failure = Cause.failureOption(cause)
      const error = Option.isSome(failure) ? failure.value : Cause.squash(cause)
      const message = describe(error)
      return Effect.as(message === undefined ? Effect.void : Console.error(`error: ${message}`), codeOf(error))
    })
  )
