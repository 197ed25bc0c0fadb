/**
 * One PostgreSQL per vitest run: `DATABASE_URL`, or an embedded server that
 * is stopped at the end (also when tests fail or the run is interrupted).
 * A template database is created once; each test file copies it.
 */
import type { TestProject } from "vitest/node"
import * as PostgresServer from "../../src/testing/PostgresServer.js"

declare module "vitest" {
  export interface ProvidedContext {
    serverUrl: string
    templateDatabase: string
  }
}

export default async function setup(project: TestProject) {
  const server = await PostgresServer.start()
  const template = PostgresServer.uniqueName("effect_dal_template")
  try {
    await PostgresServer.createDatabase(server.url, template)
  } catch (error) {
    await server.stop()
    throw error
  }
  project.provide("serverUrl", server.url)
  project.provide("templateDatabase", template)
  return async () => {
    await PostgresServer.dropDatabase(server.url, template).catch(() => {})
    await server.stop()
  }
}
