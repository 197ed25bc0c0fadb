/**
 * The layout's rules (docs/ARCHITECTURE.md), read from the sources'
 * imports: the engines never import each other, the repository core and the
 * transaction rules import no engine, and internal modules import the
 * public modules that depend on them only as types. (Import cycles are
 * checked by `npm run check:cycles`, part of `npm test`.)
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

const src = path.resolve(__dirname, "../src")

const files = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? files(path.join(dir, entry.name))
      : entry.name.endsWith(".ts")
      ? [path.join(dir, entry.name)]
      : []
  )

interface Import {
  readonly from: string
  readonly to: string
  readonly typeOnly: boolean
}

// Static imports and re-exports with a relative specifier, resolved to a
// path under src/ without extension.
const importsOf = (file: string): Array<Import> => {
  const text = fs.readFileSync(file, "utf8")
  const found: Array<Import> = []
  // Each statement up to its own `from "..."` (the sources have no semicolons).
  for (const match of text.matchAll(/^(import|export)\s+(type\s+)?[^"]*?\sfrom\s+"([^"]+)"/gms)) {
    if (!match[3]!.startsWith(".")) continue
    const target = path.resolve(path.dirname(file), match[3]!).replace(/\.js$/, "")
    found.push({ from: path.relative(src, file).replace(/\.ts$/, ""), to: path.relative(src, target), typeOnly: match[2] !== undefined })
  }
  return found
}

const all = files(src).flatMap(importsOf)
const within = (module: string, dir: string) => module.startsWith(`${dir}/`)

describe("the layout", () => {
  it("reads the imports it checks", () => {
    // A parser that found nothing would pass every rule below.
    expect(all.filter((i) => i.from === "Repository").map((i) => i.to)).toContain("internal/repository")
    expect(all.filter((i) => i.from === "internal/postgres/engine").map((i) => i.to)).toContain("internal/engine")
  })

  it("the engines never import each other", () => {
    const crossing = all.filter((i) =>
      (within(i.from, "internal/memory") && within(i.to, "internal/postgres")) ||
      (within(i.from, "internal/postgres") && within(i.to, "internal/memory"))
    )
    expect(crossing).toEqual([])
  })

  it("the repository core, the seam and the transaction rules import no engine", () => {
    const shared = ["internal/repository", "internal/engine", "internal/transaction", "internal/plan", "internal/codec", "internal/keyset"]
    const engineImports = all.filter((i) =>
      shared.includes(i.from) && (within(i.to, "internal/postgres") || within(i.to, "internal/memory"))
    )
    expect(engineImports).toEqual([])
  })

  it("internal modules import Database, Repository and DatabaseConfig only as types", () => {
    const upward = all.filter((i) =>
      // The CLI (internal/cli.ts, behind bin/effect-dal.ts) is a program on top of the library.
      within(i.from, "internal") && i.from !== "internal/cli" &&
      ["Database", "Repository", "DatabaseConfig"].includes(i.to) && !i.typeOnly
    )
    expect(upward).toEqual([])
  })
})
