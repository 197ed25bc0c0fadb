import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ContractSuite from "../src/testing/ContractSuite.js"
import { relationsDdl } from "../src/testing/contract/relations.js"
import * as Fixtures from "../src/testing/Fixtures.js"
import * as TestDatabase from "./support/TestDatabase.js"

const postgres = TestDatabase.layer().pipe(
  Layer.tap((context) =>
    Effect.forEach([...Fixtures.ddl, ...relationsDdl], (statement) => SqlClient.SqlClient.pipe(Effect.flatMap((sql) => sql.unsafe(statement)))).pipe(
      Effect.provide(context)
    )
  )
)

ContractSuite.suite("PostgreSQL", postgres)
