#!/usr/bin/env node
/**
 * The `effect-dal` command: migrations and schema checks. Exit codes: 0
 * success, 1 failure, 2 usage or configuration, 3 lock timeout.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import { main } from "../internal/cli.js"

NodeRuntime.runMain(Effect.provide(main(process.argv.slice(2)), NodeContext.layer), {
  disableErrorReporting: true,
  // main always succeeds with the exit code; anything else (a defect) is 1.
  teardown: (exit, onExit) => onExit(exit._tag === "Success" && typeof exit.value === "number" ? exit.value : 1)
})
