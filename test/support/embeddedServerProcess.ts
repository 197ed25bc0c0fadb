/**
 * A process that starts an embedded PostgreSQL, prints its URL on one line,
 * and runs until it is killed: for tests of what happens to the server when
 * its owner dies without stopping it.
 */
import * as PostgresServer from "../../src/testing/PostgresServer.js"

const server = await PostgresServer.start({ databaseUrl: null })
console.log(server.url)
setInterval(() => {}, 2 ** 30)
