import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

// `npm run test:package`: the package test alone, on the same PostgreSQL as
// `npm test` (DATABASE_URL, or an embedded server).
export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  test: {
    include: ["test/package/*.test.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    testTimeout: 300_000,
    hookTimeout: 600_000
  }
})
