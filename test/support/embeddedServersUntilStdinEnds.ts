/**
 * A process that starts two embedded PostgreSQL servers at once, prints
 * their URLs as a JSON array on one line, and stops them when its stdin
 * ends: for tests of where the server can start from.
 */
import * as PostgresServer from "../../src/testing/PostgresServer.js"

const servers = await Promise.all([PostgresServer.start({ databaseUrl: null }), PostgresServer.start({ databaseUrl: null })])
console.log(JSON.stringify(servers.map((server) => server.url)))
process.stdin.on("end", async () => {
  await Promise.all(servers.map((server) => server.stop()))
  console.log("stopped")
})
process.stdin.resume()
