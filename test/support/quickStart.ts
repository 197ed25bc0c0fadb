/**
 * What the README's first program (docs/snippets/quick-start.ts) prints on
 * an empty database: the snippet test runs it from the sources, the package
 * test from the installed package, and the README shows it.
 */
export const output = "renamed: Ada Lovelace\nfound: ada@example.com, alan@example.com\nusers: 3\n"
