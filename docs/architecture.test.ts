/**
 * docs/ARCHITECTURE.md cannot drift from the code: every path under src/
 * and test/ it names exists, every "`name` in `src/file.ts`" names an
 * identifier used in that file beyond its imports, and every call of its
 * sequence diagrams (`A->>B: name(...)`) is in the file of the participant B.
 */
import { describe, expect, it } from "vitest"
import * as fs from "node:fs"

const root = new URL("../", import.meta.url)
const doc = fs.readFileSync(new URL("docs/ARCHITECTURE.md", root), "utf8")

const exists = (path: string) => fs.existsSync(new URL(path, root))
/** A file's text without its imports and re-exports: a name it only imports is not in it. */
const source = (path: string) =>
  fs.readFileSync(new URL(path, root), "utf8")
    .replace(/^import\s[^"]*?\sfrom\s+"[^"]+"/gm, "")
    .replace(/^export\s+(?:type\s+)?(?:\*|\{)[^"]*?\sfrom\s+"[^"]+"/gm, "")

/** Whether the file has `name` as a whole word; `A.b` needs both `A` and `b`. */
const hasIdentifier = (text: string, name: string) =>
  name.split(".").every((part) => new RegExp(`(?<![\\w$])${part.replace(/\$/g, "\\$")}(?![\\w$])`).test(text))

/**
 * Paths under src/ or test/, anywhere in the page (prose, tables, diagram
 * labels). A glob (`src/internal/memory/*`) or a placeholder
 * (`src/testing/contract/<topic>.ts`) leaves its directory, which must exist.
 */
const paths = [
  ...new Set(
    [...doc.matchAll(/(?<![\w./-])(?:src|test)\/[\w./*-]*/g)].map((m) => m[0].replace(/\*$/, "").replace(/\.+$/, ""))
  )
]

/** "`a`, `b` and `C.d` in `src/file.ts`": each name with its file. */
const references = [
  ...doc.matchAll(
    /((?:`[A-Za-z_$][\w$.]*`(?:,\s+|\s+and\s+|\s+or\s+|\s*\/\s*))*`[A-Za-z_$][\w$.]*`)\s+in\s+`((?:src|test)\/[^`]+)`/g
  )
].flatMap((m) => [...m[1]!.matchAll(/`([^`]+)`/g)].map((name) => ({ name: name[1]!, file: m[2]! })))

/** The sequence diagrams' calls `A->>B: name(...)`, where B is a participant labelled with a file. */
const calls = [...doc.matchAll(/```mermaid\n([\s\S]*?)```/g)]
  .map((m) => m[1]!)
  .filter((block) => block.trimStart().startsWith("sequenceDiagram"))
  .flatMap((block) => {
    const files = new Map(
      [...block.matchAll(/^\s*participant\s+(\w+)\s+as\s+(\S+)\s*$/gm)].map((m) => [m[1]!, m[2]!] as const)
    )
    return [...block.matchAll(/^\s*\w+\s*->>\s*(\w+)\s*:\s*([A-Za-z_$][\w$.]*)\(/gm)].flatMap((m) => {
      const file = files.get(m[1]!)
      return file !== undefined && file.startsWith("src/") ? [{ name: m[2]!, file }] : []
    })
  })

describe("docs/ARCHITECTURE.md", () => {
  it("reads what it checks", () => {
    // A parser that found nothing would pass every check below.
    expect(paths.length).toBeGreaterThan(30)
    expect(references.length).toBeGreaterThan(40)
    expect(calls.length).toBeGreaterThan(10)
    expect(references).toContainEqual({ name: "topLevel", file: "src/internal/transaction.ts" })
    expect(calls).toContainEqual({ name: "findMany", file: "src/internal/repository.ts" })
  })

  it("names only paths that exist", () => {
    expect(paths.filter((path) => !exists(path))).toEqual([])
  })

  it("names each function with the file that has it", () => {
    const wrong = references.filter(({ file, name }) => !exists(file) || !hasIdentifier(source(file), name))
    expect(wrong).toEqual([])
  })

  it("sends each call of a sequence diagram to the file that has it", () => {
    const wrong = calls.filter(({ file, name }) => !exists(file) || !hasIdentifier(source(file), name))
    expect(wrong).toEqual([])
  })

  it("draws its diagrams in Mermaid, which GitHub renders", () => {
    const diagrams = [...doc.matchAll(/```mermaid\n\s*(\w+)/g)].map((m) => m[1])
    expect(diagrams).toEqual(["flowchart", "sequenceDiagram"])
  })
})
