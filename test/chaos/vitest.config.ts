import { defineConfig } from "vitest/config"
import base from "../../vitest.config.js"

// `npm run chaos`: the chaos suite alone, long, with its own embedded
// server (no shared test server). CHAOS_SECONDS, CHAOS_SEED, CHAOS_RESTARTS
// and CHAOS_REPORT pass through from the environment.
export default defineConfig({
  resolve: base.resolve!,
  test: {
    include: ["test/chaos/**/*.test.ts"],
    testTimeout: 60 * 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    env: {
      CHAOS_SECONDS: process.env["CHAOS_SECONDS"] || "60",
      CHAOS_REPORT: process.env["CHAOS_REPORT"] ?? "bench/results/chaos.md"
    }
  }
})
