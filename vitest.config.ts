import * as fs from "node:fs"
import { configDefaults, defineConfig } from "vitest/config"

// The repository's own code imports "effect-dal" from the sources, as
// tsconfig.json's `paths` say (tsx reads them too); the package's `exports`
// point at the build in dist/, which only `npm pack` and the benchmark make.
const paths: Record<string, [string]> = JSON.parse(fs.readFileSync(new URL("tsconfig.json", import.meta.url), "utf8"))
  .compilerOptions.paths

export default defineConfig({
  resolve: {
    alias: Object.entries(paths).map(([name, [file]]) => ({
      find: new RegExp(`^${name.replace("/", "\\/")}$`),
      replacement: new URL(file, import.meta.url).pathname
    }))
  },
  test: {
    include: ["test/**/*.test.ts", "examples/**/*.test.ts", "docs/**/*.test.ts"],
    // The package test packs and installs the package: `npm run test:package`.
    exclude: [...configDefaults.exclude, "test/package/**"],
    globalSetup: ["test/support/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Files run in parallel workers; each gets its own database.
    pool: "forks",
    // A test measures heap growth while streaming, after a forced GC.
    poolOptions: { forks: { execArgv: ["--expose-gc"] } }
  }
})
