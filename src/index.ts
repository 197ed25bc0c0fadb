/**
 * effect-dal: a data access layer for PostgreSQL, for applications written
 * with Effect.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Database from "./Database.js"

/**
 * How to reach PostgreSQL and size the pool: `Database.layer`'s options,
 * and the same read from the environment.
 *
 * @since 0.1.0
 */
export * as DatabaseConfig from "./DatabaseConfig.js"

/**
 * @since 0.1.0
 */
export * as DatabaseError from "./DatabaseError.js"

/**
 * @since 0.1.0
 */
export * as Migrator from "./Migrator.js"

/**
 * @since 0.1.0
 */
export * as Query from "./Query.js"

/**
 * @since 0.1.0
 */
export * as Repository from "./Repository.js"

/**
 * @since 0.1.0
 */
export * as Table from "./Table.js"
