/**
 * effect-dal as its users get it: the repository packed with `npm pack`
 * (which builds it), the tarball installed with the peers into a new project
 * in the temp folder, and from there the README's first program run as
 * plain JavaScript (an ES module and CommonJS), typechecked as TypeScript
 * under strict settings without `skipLibCheck`, and the project's own vitest
 * running the contract suite of `effect-dal/vitest`. Run by
 * `npm run test:package` (CI runs it), not by `npm test`: it needs the npm
 * registry, or npm's cache, for the peers.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import ts from "typescript"
import { afterAll, beforeAll } from "vitest"
import { region } from "../../scripts/readme.js"
import * as QuickStart from "../support/quickStart.js"
import * as TestDatabase from "../support/TestDatabase.js"

const root = path.resolve(import.meta.dirname, "../..")

// The programs get DATABASE_URL only from the test. They run without npm's
// own variables: an `npm run` above this test sets npm_config_local_prefix
// and others, which would point the project's `npm install` at this
// repository. And without colours, so that the tests can read the output.
const baseEnv: Record<string, string | undefined> = {
  ...Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(npm_|FORCE_COLOR$|DATABASE_URL$)/i.test(name))
  ),
  NO_COLOR: "1"
}

/** Runs a command to the end; its exit code, everything it printed, and its stdout alone. */
const run = (command: string, args: ReadonlyArray<string>, options: { cwd: string; env?: Record<string, string> }) =>
  new Promise<{ code: number | null; output: string; stdout: string }>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...baseEnv, ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    let stdout = ""
    child.stdout.on("data", (chunk) => {
      output += String(chunk)
      stdout += String(chunk)
    })
    child.stderr.on("data", (chunk) => (output += String(chunk)))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, output, stdout }))
  })

/** The version the lock file installs here, so the project gets exactly what the tests ran on. */
const locked = (name: string): string => {
  const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8")) as {
    packages: Record<string, { version: string }>
  }
  return `${name}@${lock.packages[`node_modules/${name}`]!.version}`
}

const peers = ["effect", "@effect/sql", "@effect/sql-pg", "@effect/platform", "@effect/experimental"]
const testTools = ["vitest", "@effect/vitest", "typescript"]

interface Packed {
  readonly filename: string
  readonly size: number
  readonly unpackedSize: number
  readonly files: ReadonlyArray<{ readonly path: string }>
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`

let project = ""
let packed: Packed

beforeAll(async () => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), "effect-dal-consumer-"))
  const started = Date.now()
  const pack = await run("npm", ["pack", "--json", "--pack-destination", project], { cwd: root })
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.output}`)
  // The build's output goes to stderr; stdout is the JSON.
  packed = (JSON.parse(pack.stdout) as [Packed])[0]
  const packedIn = Date.now() - started

  fs.writeFileSync(
    path.join(project, "package.json"),
    `${JSON.stringify({ name: "effect-dal-consumer", private: true, type: "module" }, null, 2)}\n`
  )
  const install = await run(
    "npm",
    ["install", "--no-audit", "--no-fund", "--prefer-offline", `./${packed.filename}`, ...[...peers, ...testTools].map(locked)],
    { cwd: project }
  )
  if (install.code !== 0) throw new Error(`npm install in ${project} failed:\n${install.output}`)
  console.log(
    `effect-dal ${packed.filename}: ${packed.files.length} files, packed ${kib(packed.size)}, ` +
      `unpacked ${kib(packed.unpackedSize)}; npm pack (with the build) ${(packedIn / 1000).toFixed(1)} s, ` +
      `npm install ${((Date.now() - started - packedIn) / 1000).toFixed(1)} s`
  )

  // The README's first program, whole, as TypeScript, and compiled to an
  // ES module and to CommonJS.
  const program = `${region("docs/snippets/quick-start.ts", "program")}\n`
  const compile = (module: ts.ModuleKind) =>
    ts.transpileModule(program, { compilerOptions: { module, target: ts.ScriptTarget.ES2022, esModuleInterop: true } })
      .outputText
  fs.writeFileSync(path.join(project, "app.ts"), program)
  fs.writeFileSync(path.join(project, "app.mjs"), compile(ts.ModuleKind.ESNext))
  fs.writeFileSync(path.join(project, "app.cjs"), compile(ts.ModuleKind.CommonJS))
  fs.copyFileSync(path.join(import.meta.dirname, "consumer/contract.test.ts"), path.join(project, "contract.test.ts"))
  fs.writeFileSync(
    path.join(project, "tsconfig.json"),
    `${
      JSON.stringify(
        {
          compilerOptions: {
            target: "ES2022",
            module: "NodeNext",
            moduleResolution: "NodeNext",
            strict: true,
            exactOptionalPropertyTypes: true,
            noUnusedLocals: true,
            noUnusedParameters: true,
            skipLibCheck: false,
            noEmit: true
          },
          include: ["app.ts", "contract.test.ts"]
        },
        null,
        2
      )
    }\n`
  )
}, 600_000)

afterAll(() => {
  if (project !== "") fs.rmSync(project, { recursive: true, force: true })
})

/** Runs a program of the project on a new database of the test server and returns its exit code and output. */
const runOnNewDatabase = (command: string, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const url = yield* TestDatabase.url
    return yield* Effect.promise(() => run(command, args, { cwd: project, env: { DATABASE_URL: url } }))
  })

describe("the package, installed from its tarball into a new project", () => {
  it("holds the build, the sources its source maps point at, the README, the license and the changelog; no tests, benchmarks, examples or CI", () => {
    const files = packed.files.map((file) => file.path)
    const tops = [...new Set(files.map((file) => file.split("/")[0]))].sort()
    expect(tops).toEqual(["CHANGELOG.md", "LICENSE", "README.md", "dist", "package.json", "src"])
    expect(files.filter((file) => /^(test|bench|examples|\.ci|scripts|docs)\//.test(file))).toEqual([])
    const builds = new Set(files.filter((file) => file.startsWith("dist/")).map((file) => file.split("/")[1]))
    expect(builds).toEqual(new Set(["esm", "cjs", "dts"]))
    const manifest = JSON.parse(fs.readFileSync(path.join(project, "node_modules/effect-dal/package.json"), "utf8")) as {
      exports: Record<string, string | Record<string, string>>
    }
    for (const [entry, target] of Object.entries(manifest.exports)) {
      if (typeof target === "string") continue
      expect(Object.keys(target), entry).toEqual(["types", "import", "require"])
      for (const file of Object.values(target)) {
        expect(fs.existsSync(path.join(project, "node_modules/effect-dal", file)), `${entry}: ${file}`).toBe(true)
      }
    }
  })

  it("installs one copy of effect, the one the project asked for", () => {
    const found = execFileSync("find", ["node_modules", "-path", "*/effect/package.json", "-not", "-path", "*/@effect/*"], {
      cwd: project,
      encoding: "utf8"
    }).trim().split("\n")
    expect(found).toEqual(["node_modules/effect/package.json"])
  })

  it.live("a project on Effect 4 gets a peer-dependency error instead of a second copy of effect", () =>
    Effect.gen(function*() {
      const other = fs.mkdtempSync(path.join(os.tmpdir(), "effect-dal-consumer-effect4-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(other, { recursive: true, force: true })))
      fs.writeFileSync(path.join(other, "package.json"), JSON.stringify({ name: "on-effect-4", private: true }))
      const install = (...specs: Array<string>) =>
        Effect.promise(() => run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...specs], { cwd: other }))
      expect((yield* install("effect@4")).code).toBe(0)
      const { code, output } = yield* install(path.join(project, packed.filename))
      expect(code).not.toBe(0)
      expect(output).toContain("ERESOLVE")
      expect(output).toMatch(/Found: effect@4\./)
    }).pipe(Effect.scoped))

  it.scopedLive("runs the README's first program as an ES module with plain node (no loader)", () =>
    Effect.gen(function*() {
      const { code, output } = yield* runOnNewDatabase(process.execPath, ["app.mjs"])
      expect(code, output).toBe(0)
      expect(output).toBe(QuickStart.output)
    }))

  it.scopedLive("runs it as CommonJS, through require()", () =>
    Effect.gen(function*() {
      expect(fs.readFileSync(path.join(project, "app.cjs"), "utf8")).toContain(`require("effect-dal")`)
      const { code, output } = yield* runOnNewDatabase(process.execPath, ["app.cjs"])
      expect(code, output).toBe(0)
      expect(output).toBe(QuickStart.output)
    }))

  it.live("installs the effect-dal command: `npx effect-dal --help` lists the commands and exits with 0", () =>
    Effect.gen(function*() {
      const bin = fs.realpathSync(path.join(project, "node_modules/.bin/effect-dal"))
      expect(fs.readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true)
      const { code, output } = yield* Effect.promise(() => run("npx", ["effect-dal", "--help"], { cwd: project }))
      expect(code, output).toBe(0)
      for (const command of ["migrate up", "migrate down", "migrate status", "migrate create", "check --tables"]) {
        expect(output).toContain(command)
      }
    }))

  it.scopedLive("`npx effect-dal migrate up` applies a migrations directory, and `migrate status` lists it as applied", () =>
    Effect.gen(function*() {
      const dir = path.join(project, "migrations")
      fs.mkdirSync(dir, { recursive: true })
      fs.writeFileSync(path.join(dir, "0001_create_things.up.sql"), "CREATE TABLE things (id serial PRIMARY KEY);")
      const url = yield* TestDatabase.url
      const env = { DATABASE_URL: url }
      const up = yield* Effect.promise(() => run("npx", ["effect-dal", "migrate", "up"], { cwd: project, env }))
      expect(up.code, up.output).toBe(0)
      expect(up.stdout).toMatch(/^applied 0001_create_things \(\d+ ms\)\n$/)
      const status = yield* Effect.promise(() => run("npx", ["effect-dal", "migrate", "status"], { cwd: project, env }))
      expect(status.code, status.output).toBe(0)
      expect(status.stdout).toMatch(/\n0001\s+create_things\s+applied\s/)
      // A usage error is exit code 2.
      expect((yield* Effect.promise(() => run("npx", ["effect-dal", "migrate", "sideways"], { cwd: project }))).code).toBe(2)
    }))

  it.live("typechecks it, and a test using effect-dal/vitest and effect-dal/testing, with strict settings, unused checks, NodeNext and skipLibCheck off", () =>
    Effect.gen(function*() {
      const tsc = path.join(project, "node_modules/typescript/bin/tsc")
      const { code, output } = yield* Effect.promise(() => run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: project }))
      expect(output).toBe("")
      expect(code).toBe(0)
    }))

  it.scopedLive("its own vitest runs ContractSuite.suiteFor on the in-memory database and on PostgreSQL", () =>
    Effect.gen(function*() {
      const vitest = path.join(project, "node_modules/vitest/vitest.mjs")
      const { code, output } = yield* runOnNewDatabase(process.execPath, [vitest, "run", "--reporter=verbose"])
      expect(code, output).toBe(0)
      for (const name of ["in-memory", "PostgreSQL"]) {
        expect(output).toMatch(new RegExp(`✓ .*table contract: ${name}, table "notes"`))
      }
      expect(output).not.toMatch(/\b(failed|skipped)\b/)
    }))
})
