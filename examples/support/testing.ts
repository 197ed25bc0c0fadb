/**
 * Helpers for the examples' tests: what a program printed, and programs run
 * as child processes, the way a user runs them.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The repository's root directory. */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

/** The `tsx` command that `npm start` and `npm run example` run. */
export const tsx = path.join(root, "node_modules", ".bin", "tsx")

/** Runs an effect with `Console.log` captured; succeeds with its value and the lines it printed. */
export const captureLog = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<{ readonly value: A; readonly lines: ReadonlyArray<string> }, E, R> =>
  Console.consoleWith((current) => {
    const lines: Array<string> = []
    const log = (...args: ReadonlyArray<unknown>) => lines.push(...args.map(String).join(" ").split("\n"))
    return Effect.withConsole(effect, {
      ...current,
      log: (...args) => Effect.sync(() => void log(...args)),
      unsafe: { ...current.unsafe, log }
    }).pipe(Effect.map((value) => ({ value, lines })))
  })

/** How a child process ended. */
export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A program running as a child process. */
export interface Child {
  readonly process: ChildProcess
  /** Everything it wrote to stdout and stderr so far. */
  readonly output: () => string
  /** Waits until its output contains `text`; fails if it exits first. */
  readonly waitFor: (text: string) => Effect.Effect<void, Error>
  /** Waits until it exits. */
  readonly exit: Effect.Effect<Exit>
}

/**
 * Starts `command` in the repository's root with `env` added to the
 * environment. It is killed (SIGKILL) if it still runs when the scope closes,
 * so a failing test leaves no process behind.
 */
export const start = (
  command: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>
): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
      let output = ""
      let isClosed = false
      child.once("close", () => (isClosed = true))
      const listeners = new Set<() => void>()
      const append = (chunk: Buffer) => {
        output += chunk.toString("utf8")
        for (const listener of listeners) listener()
      }
      child.stdout!.on("data", append)
      child.stderr!.on("data", append)
      const exited = new Promise<Exit>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })))
      // "close" comes after the last output has been read.
      const closed = new Promise<void>((resolve) => child.once("close", () => resolve()))
      const waitFor = (text: string) =>
        Effect.async<void, Error>((resume) => {
          const check = () => {
            if (output.includes(text)) resume(Effect.void)
          }
          const onClose = () =>
            resume(Effect.fail(new Error(`the program ended without printing "${text}". Its output:\n${output}`)))
          if (output.includes(text)) return resume(Effect.void)
          if (isClosed) return onClose()
          listeners.add(check)
          child.once("close", onClose)
          return Effect.sync(() => {
            listeners.delete(check)
            child.off("close", onClose)
          })
        })
      return {
        process: child,
        output: () => output,
        waitFor,
        exit: Effect.promise(() => Promise.all([exited, closed]).then(([exit]) => exit))
      } satisfies Child
    }),
    (child) =>
      Effect.sync(() => {
        if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill("SIGKILL")
      })
  )
