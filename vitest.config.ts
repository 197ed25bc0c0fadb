import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "examples/**/*.test.ts", "docs/**/*.test.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Files run in parallel workers; each gets its own database.
    pool: "forks",
    // A test measures heap growth while streaming, after a forced GC.
    poolOptions: { forks: { execArgv: ["--expose-gc"] } }
  }
})
