/**
 * Testing tools that need no test runner: the contract suite's fixture
 * tables and a real PostgreSQL for tests (`DATABASE_URL`, or an embedded
 * server). Import from `effect-dal/testing`; the vitest suites are in
 * `effect-dal/vitest`.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Fixtures from "./Fixtures.js"

/**
 * @since 0.1.0
 */
export * as PostgresServer from "./PostgresServer.js"
