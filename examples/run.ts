/**
 * `npm run example -- <name> [arguments]`: runs `examples/<name>.ts` as if
 * it had been started with `tsx examples/<name>.ts [arguments]`. With no
 * name, or a name that is not an example, it lists the examples and exits
 * with code 2.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const directory = path.dirname(fileURLToPath(import.meta.url))

/** The examples: every `examples/*.ts` that is not a test or this runner. */
const examples = (): Array<string> =>
  fs.readdirSync(directory)
    .filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts") && file !== "run.ts")
    .map((file) => file.slice(0, -".ts".length))
    .sort()

/** The first sentence of a file's leading doc comment. */
const summary = (name: string): string => {
  const text = fs.readFileSync(path.join(directory, `${name}.ts`), "utf8")
  const comment = /^\s*\/\*\*([\s\S]*?)\*\//.exec(text)?.[1] ?? ""
  const prose = comment.split("\n").map((line) => line.replace(/^\s*\*\s?/, "")).join(" ").trim()
  return /^(.*?\.)(\s|$)/.exec(prose)?.[1] ?? prose
}

const usage = (problem: string) => {
  const names = examples()
  const width = Math.max(...names.map((n) => n.length))
  console.error(
    [
      problem,
      "",
      "Usage: npm run example -- <name> [arguments]",
      "",
      "Examples:",
      ...names.map((name) => `  ${name.padEnd(width)}  ${summary(name)}`),
      "",
      "They run on DATABASE_URL when it is set, or else on an embedded PostgreSQL."
    ].join("\n")
  )
  process.exitCode = 2
}

const name = process.argv[2]
if (name === undefined) {
  usage("Which example?")
} else if (!examples().includes(name)) {
  usage(`There is no example "${name}".`)
} else {
  const file = path.join(directory, `${name}.ts`)
  // The example sees the command line it would have seen on its own:
  // its own path as argv[1] (that is how it knows it is the program being
  // run) and its arguments after it.
  process.argv.splice(1, 2, file)
  await import(pathToFileURL(file).href)
}
