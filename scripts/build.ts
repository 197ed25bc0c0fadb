/**
 * Builds the package as it is published, laid out as the `@effect/*`
 * packages are: ES modules in `dist/esm`, CommonJS in `dist/cjs`,
 * declarations in `dist/dts`, each with source maps that point at `src/`
 * (which the package ships). `npm pack` and `npm publish` run it
 * (`prepack`); the repository's own tests, examples and benchmarks do not
 * need it, except the benchmark, which runs the build.
 *
 * tsc writes the ES modules and the declarations. esbuild writes the
 * CommonJS: tsc would turn the `import()` that loads the embedded server's
 * binaries (an ESM-only package) into a `require()`, which Node before 20.19
 * refuses; esbuild keeps it.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const dist = path.join(root, "dist")

/** The TypeScript files under `dir`, recursively. */
const sources = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name)
    return entry.isDirectory() ? sources(file) : entry.name.endsWith(".ts") ? [file] : []
  })

// dist/bench-build belongs to the benchmark; leave it.
for (const format of ["esm", "cjs", "dts"]) fs.rmSync(path.join(dist, format), { recursive: true, force: true })

execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit"
})

await esbuild.build({
  entryPoints: sources(path.join(root, "src")),
  outbase: path.join(root, "src"),
  outdir: path.join(dist, "cjs"),
  format: "cjs",
  platform: "node",
  target: "node20",
  sourcemap: true,
  sourcesContent: false,
  logLevel: "warning"
})

// The package is "type": "module"; these files are CommonJS. The
// declarations are too, as in the @effect/* packages: TypeScript accepts a
// CommonJS declaration from ES modules, but not the other way round under
// `module: node16`.
for (const format of ["cjs", "dts"]) {
  fs.writeFileSync(path.join(dist, format, "package.json"), `${JSON.stringify({ type: "commonjs" }, null, 2)}\n`)
}

// The command's file is executable in the build too (npm sets the bit
// again when it installs the package's `bin`).
fs.chmodSync(path.join(dist, "esm", "bin", "effect-dal.js"), 0o755)
