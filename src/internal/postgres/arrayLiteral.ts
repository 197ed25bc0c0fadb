/**
 * @internal
 * A column of values as a PostgreSQL array literal, for the `unnest`
 * insert of many rows (one array parameter per column).
 *
 * pg serializes an array parameter itself (`arrayString` in pg/lib/utils),
 * growing one string element by element: for a batch of 1,000 rows that
 * is most of what the insert allocates. This writes the same text with one
 * `join`. It handles the values an encoded scalar column holds (strings,
 * numbers, booleans, bigints, null); a column holding anything else
 * (dates, buffers, objects, nested arrays) is left to pg, so the text sent
 * is always the one pg would send (test/ArrayLiteral.test.ts compares the
 * two).
 */

const special = /["\\]/

const quoted = (text: string): string =>
  special.test(text) ? `"${text.replace(/\\/g, "\\\\").replace(/"/g, "\\\"")}"` : `"${text}"`

/** @internal The literal pg would write for `values`, or undefined when pg must write it. */
export const arrayLiteral = (values: ReadonlyArray<unknown>): string | undefined => {
  const parts = new Array<string>(values.length)
  for (let i = 0; i < values.length; i++) {
    const value = values[i]
    if (value === null || value === undefined) {
      parts[i] = "NULL"
      continue
    }
    switch (typeof value) {
      case "string":
        parts[i] = quoted(value)
        break
      case "number":
      case "boolean":
      case "bigint":
        parts[i] = `"${String(value)}"`
        break
      default:
        return undefined
    }
  }
  return `{${parts.join(",")}}`
}

/**
 * @internal
 * A column as an array parameter whose text is written when pg binds the
 * statement on a connection (pg calls `toPostgres` then), not when the
 * statement is built. The literal of a 1,000-row text column passes
 * 128 KB, which V8 places in its large-object space: built early, it
 * outlived the wait for a connection, was promoted, and only a full
 * collection freed it (about 94 MB of large objects at 32 concurrent
 * batches). Written into the Bind message and dropped, it dies young.
 */
export const arrayParameter = (values: ReadonlyArray<unknown>): { readonly toPostgres: () => unknown } => ({
  toPostgres: () => arrayLiteral(values) ?? values
})
