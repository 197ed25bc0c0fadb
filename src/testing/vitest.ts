/**
 * Test suites for vitest with `@effect/vitest`: the repository contract, to
 * run against your own `Database` layers (`ContractSuite.suite`) and on your
 * own table definitions (`ContractSuite.suiteFor`), on PostgreSQL and on
 * `Database.layerMemory()`. Import from `effect-dal/vitest`.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as ContractSuite from "./ContractSuite.js"
