/**
 * The README cannot drift from the code: its code blocks and API reference
 * are generated from typechecked, tested files, and every configuration
 * variable the code reads is in its table.
 */
import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import { render } from "../scripts/readme.js"

const readme = fs.readFileSync(new URL("../README.md", import.meta.url), "utf8")

/** The README's fenced code blocks: the line of the opening fence, its language, its lines, and whether a snippet marker precedes it. */
const blocks = (() => {
  const lines = readme.split("\n")
  const found: Array<{ line: number; language: string; body: Array<string>; quoted: boolean }> = []
  let open: (typeof found)[number] | undefined
  lines.forEach((line, i) => {
    const fence = /^\s*```(.*)$/.exec(line)
    if (open === undefined && fence) {
      open = {
        line: i + 1,
        language: fence[1]!.trim(),
        body: [],
        quoted: (lines[i - 1] ?? "").startsWith("<!-- snippet: ")
      }
    } else if (open !== undefined && fence && fence[1]!.trim() === "") {
      found.push(open)
      open = undefined
    } else if (open !== undefined) {
      open.body.push(line)
    }
  })
  if (open !== undefined) throw new Error(`README.md: the code block at line ${open.line} is never closed`)
  return found
})()

describe("README.md", () => {
  it("is up to date with the snippets and the API's JSDoc (run `npx tsx scripts/readme.ts`)", () => {
    expect(render(readme)).toBe(readme)
  })

  it("documents every configuration variable that DatabaseConfig.config reads", () => {
    const source = fs.readFileSync(new URL("../src/DatabaseConfig.ts", import.meta.url), "utf8")
    const variables = [...new Set([...source.matchAll(/"((?:DATABASE|PG)[A-Z_]*)"/g)].map((m) => m[1]!))]
    expect(variables.length).toBeGreaterThan(15)
    const table = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("## Transactions"))
    const missing = variables.filter((v) => !table.includes(`| \`${v}\` |`))
    expect(missing).toEqual([])
  })

  it("has no TypeScript block that is not quoted from a tested file", () => {
    const lines = readme.split("\n")
    const loose = lines.flatMap((line, i) =>
      line.startsWith("```ts") && !(lines[i - 1] ?? "").startsWith("<!-- snippet: ") ? [i + 1] : []
    )
    expect(loose).toEqual([])
  })

  it("tags every code block with its language, and quotes every TypeScript or JavaScript block from a tested file", () => {
    const untagged = blocks.filter((block) => block.language === "").map((block) => block.line)
    expect(untagged).toEqual([])
    const loose = blocks
      .filter((block) => ["ts", "typescript", "js", "javascript"].includes(block.language) && !block.quoted)
      .map((block) => block.line)
    expect(loose).toEqual([])
  })

  it("runs only npm scripts that package.json defines in its shell blocks", () => {
    const scripts = Object.keys(
      (JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { scripts: object }).scripts
    )
    const commands = blocks
      .filter((block) => block.language === "sh")
      .flatMap((block) => block.body.map((line) => line.replace(/(^|\s)#.*$/, "")))
      .flatMap((line) => [...line.matchAll(/(?:^|[\s;&|(])npm\s+(?:(run|run-script)\s+)?([\w:.-]+)/g)])
      .map(([, run, name]) => ({ run: run !== undefined, name: name! }))
    // npm's own commands; `npm start` and `npm test` run scripts of those names.
    const npmCommands = ["install", "ci"]
    const unknown = commands
      .filter(({ name, run }) => !scripts.includes(name) && (run || !npmCommands.includes(name)))
      .map(({ name, run }) => (run ? `npm run ${name}` : `npm ${name}`))
    expect(unknown).toEqual([])
    // The check sees the commands it is meant to check.
    expect(commands.map(({ name }) => name)).toEqual(expect.arrayContaining(["install", "start", "test", "bench"]))
  })

  it("states the client CPU figure of the last benchmark run in the comparison table", () => {
    const results = fs.readFileSync(new URL("../bench/results/latest.md", import.meta.url), "utf8")
    const cpu = results.slice(results.indexOf("# Client CPU ("))
    // The "geometric mean" row, its cells found by the header's names (a
    // run with BENCH_CONTROLS=1 has more columns).
    const header = /^\| operation \| concurrency \| (.*) \|$/m.exec(cpu)?.[1]?.split(" | ")
    const means = /^\| \*\*geometric mean of ratios\*\* \|  \| (.*) \|$/m.exec(cpu)?.[1]
      ?.split(" | ").map((cell) => /^\*\*([\d.]+)×\*\*$/.exec(cell)?.[1])
    expect(header).toEqual(expect.arrayContaining(["raw pg", "@effect/sql", "effect-dal"]))
    expect(means).toHaveLength(header!.length)
    const plain = means![header!.indexOf("@effect/sql")]
    const measured = means![header!.indexOf("effect-dal")]
    expect(plain).toMatch(/^\d+\.\d+$/)
    expect(measured).toMatch(/^\d+\.\d+$/)
    const row = readme.split("\n").find((line) => line.startsWith("| Per-call client CPU |"))
    expect(row).toContain(`| ${plain} times raw \`pg\` (geometric mean`)
    expect(row).toContain(`| ${measured} times raw \`pg\` (geometric mean of the client-CPU ratios in the last benchmark run)`)
    expect(row).toContain("[Performance](#performance)")
  })

  it("shows the two commands for a fresh machine", () => {
    expect(readme).toContain("npm install\nnpm start")
    expect(readme).toContain("npm test")
  })
})
