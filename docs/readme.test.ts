/**
 * The README cannot drift from the code: its code blocks and API reference
 * are generated from typechecked, tested files, and every configuration
 * variable the code reads is in its table.
 */
import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import { render } from "../scripts/readme.js"

const readme = fs.readFileSync(new URL("../README.md", import.meta.url), "utf8")

describe("README.md", () => {
  it("is up to date with the snippets and the API's JSDoc (run `npx tsx scripts/readme.ts`)", () => {
    expect(render(readme)).toBe(readme)
  })

  it("documents every configuration variable that Database.config reads", () => {
    const source = fs.readFileSync(new URL("../src/Database.ts", import.meta.url), "utf8")
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

  it("shows the two commands for a fresh machine", () => {
    expect(readme).toContain("npm install\nnpm start")
    expect(readme).toContain("npm test")
  })
})
