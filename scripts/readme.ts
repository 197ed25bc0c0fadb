/**
 * Keeps README.md true to the code:
 * - `<!-- snippet: docs/snippets/x.ts#region -->` ... `<!-- /snippet -->`
 *   blocks get the region's code from a typechecked, tested file;
 * - `<!-- api -->` ... `<!-- /api -->` gets the API reference, generated from
 *   the JSDoc of every export of the public modules;
 * - `<!-- results: bench/results/latest.md -->` ... `<!-- /results -->` gets
 *   the latest benchmark results, their headings moved under the README's.
 *
 * `tsx scripts/readme.ts` rewrites README.md; `--check` only reports
 * whether it is up to date (exit code 1 if not). A test runs the check.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

/** The public modules, in the order the reference lists them. */
const modules: ReadonlyArray<{ readonly title: string; readonly file: string; readonly importPath: string }> = [
  { title: "Database", file: "src/Database.ts", importPath: "effect-dal" },
  { title: "DatabaseConfig", file: "src/DatabaseConfig.ts", importPath: "effect-dal" },
  { title: "DatabaseError", file: "src/DatabaseError.ts", importPath: "effect-dal" },
  { title: "Table", file: "src/Table.ts", importPath: "effect-dal" },
  { title: "Query", file: "src/Query.ts", importPath: "effect-dal" },
  { title: "Repository", file: "src/Repository.ts", importPath: "effect-dal" },
  { title: "Migrator", file: "src/Migrator.ts", importPath: "effect-dal" },
  { title: "PostgresServer", file: "src/testing/PostgresServer.ts", importPath: "effect-dal/testing" },
  { title: "Fixtures", file: "src/testing/Fixtures.ts", importPath: "effect-dal/testing" },
  { title: "ContractSuite", file: "src/testing/ContractSuite.ts", importPath: "effect-dal/vitest" }
]

/** The code of `// #region name` ... `// #endregion` in a file, dedented. */
export const region = (file: string, name: string): string => {
  const text = fs.readFileSync(path.join(root, file), "utf8").split("\n")
  const start = text.findIndex((line) => line.trim() === `// #region ${name}`)
  if (start < 0) throw new Error(`${file}: no region "${name}"`)
  const end = text.findIndex((line, i) => i > start && line.trim().startsWith("// #endregion"))
  if (end < 0) throw new Error(`${file}: region "${name}" is not closed`)
  const lines = text.slice(start + 1, end)
  const indent = Math.min(...lines.filter((l) => l.trim().length > 0).map((l) => l.match(/^ */)![0].length))
  return lines.map((l) => l.slice(indent)).join("\n").replace(/\s+$/, "")
}

// The first sentence: up to the first . ! or ? that ends a sentence outside
// inline code; {@link X} becomes `X`.
const firstSentence = (text: string): string => {
  const flat = text.replace(/\{@link\s+([^}\s]+)[^}]*\}/g, "`$1`").replace(/\s+/g, " ").trim()
  let inCode = false
  for (let i = 0; i < flat.length; i++) {
    const c = flat[i]
    if (c === "`") inCode = !inCode
    else if (!inCode && (c === "." || c === "!" || c === "?") && (i + 1 === flat.length || flat[i + 1] === " ")) {
      return flat.slice(0, i + 1).replace(/\|/g, "\\|")
    }
  }
  return flat.replace(/\|/g, "\\|")
}

const kindOf = (declaration: ts.Declaration | undefined, checker: ts.TypeChecker, symbol: ts.Symbol): string => {
  if (declaration === undefined) return "value"
  if (ts.isClassDeclaration(declaration)) return "class"
  if (ts.isInterfaceDeclaration(declaration)) return "interface"
  if (ts.isTypeAliasDeclaration(declaration)) return "type"
  if (ts.isFunctionDeclaration(declaration)) return "function"
  if (ts.isModuleDeclaration(declaration)) return "namespace"
  if (ts.isVariableDeclaration(declaration) || ts.isExportSpecifier(declaration)) {
    const type = checker.getTypeOfSymbolAtLocation(symbol, declaration)
    return type.getCallSignatures().length > 0 ? "function" : "constant"
  }
  return "value"
}

/** The API reference of the public modules, as markdown. */
export const apiReference = (): string => {
  const program = ts.createProgram(modules.map((m) => path.join(root, m.file)), {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    skipLibCheck: true,
    noEmit: true
  })
  const checker = program.getTypeChecker()
  const sections: Array<string> = []
  const undocumented: Array<string> = []
  for (const module of modules) {
    const source = program.getSourceFile(path.join(root, module.file))
    if (source === undefined) throw new Error(`cannot read ${module.file}`)
    const moduleSymbol = checker.getSymbolAtLocation(source)!
    const rows: Array<string> = []
    const exports = checker.getExportsOfModule(moduleSymbol)
      .filter((s) => !s.getName().startsWith("_"))
      .sort((a, b) => a.getName().localeCompare(b.getName()))
    for (const symbol of exports) {
      const resolved = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
      const declaration = resolved.getDeclarations()?.[0]
      const docs = ts.displayPartsToString(resolved.getDocumentationComment(checker))
      if (docs.trim().length === 0) {
        undocumented.push(`${module.file}: ${symbol.getName()}`)
        continue
      }
      rows.push(`| \`${symbol.getName()}\` | ${kindOf(declaration, checker, resolved)} | ${firstSentence(docs)} |`)
    }
    const moduleDoc = source.statements.length > 0
      ? ts.getJSDocCommentsAndTags(source.statements[0]!).map((d) => (typeof d.comment === "string" ? d.comment : ""))[0] ?? ""
      : ""
    sections.push(
      [
        `### ${module.title} (\`import { ${module.title} } from "${module.importPath}"\`)`,
        "",
        moduleDoc ? `${firstSentence(moduleDoc)}\n` : "",
        "| export | kind | what it is |",
        "| --- | --- | --- |",
        ...rows
      ].filter((l, i) => !(i === 2 && l === "")).join("\n")
    )
  }
  if (undocumented.length > 0) {
    throw new Error(`exports without a JSDoc sentence (every export is documented):\n${undocumented.join("\n")}`)
  }
  return sections.join("\n\n")
}

/** A markdown file written by a tool, its title dropped and its headings moved one level down. */
const results = (file: string): string =>
  fs.readFileSync(path.join(root, file), "utf8")
    .replace(/^# .*\n+/, "")
    .replace(/^(#{2,4}) /gm, (_, hashes: string) => `${hashes}# `)
    .replace(/\s+$/, "")

/** README.md with every generated block brought up to date. */
export const render = (readme: string): string =>
  readme
    .replace(
      /<!-- snippet: ([^#\s]+)#([\w-]+) -->\n[\s\S]*?<!-- \/snippet -->/g,
      (_, file: string, name: string) => `<!-- snippet: ${file}#${name} -->\n\`\`\`ts\n${region(file, name)}\n\`\`\`\n<!-- /snippet -->`
    )
    .replace(/<!-- api -->\n[\s\S]*?<!-- \/api -->/, () => `<!-- api -->\n${apiReference()}\n<!-- /api -->`)
    .replace(
      /<!-- results: (\S+) -->\n[\s\S]*?<!-- \/results -->/g,
      (_, file: string) => `<!-- results: ${file} -->\n${results(file)}\n<!-- /results -->`
    )

const main = () => {
  const file = path.join(root, "README.md")
  const current = fs.readFileSync(file, "utf8")
  const next = render(current)
  if (process.argv.includes("--check")) {
    if (next !== current) {
      console.error("README.md is out of date: run `npx tsx scripts/readme.ts`")
      process.exit(1)
    }
    console.log("README.md is up to date")
    return
  }
  fs.writeFileSync(file, next)
  console.log(next === current ? "README.md was already up to date" : "README.md updated")
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main()
