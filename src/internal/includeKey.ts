/**
 * When concurrent reads by key may load their includes together: reads
 * whose includes are the same (the same relations, with the same queries)
 * share one statement per included relation, whatever the number of
 * callers. Each caller builds its own include queries, so they are compared
 * by value, not by reference.
 */
import * as Query from "../Query.js"

/**
 * @internal
 * A text that is the same for two lists of checked includes exactly when
 * they load the same rows; `undefined` when a value in them (a filter
 * value of a class this does not know) cannot be compared this way, and
 * then the read loads its includes on its own.
 */
export const includesKey = (includes: ReadonlyArray<Query.Include>): string | undefined => {
  const parts: Array<string> = []
  const visit = (value: unknown): boolean => {
    switch (typeof value) {
      case "string":
        parts.push("s", JSON.stringify(value))
        return true
      case "number":
        parts.push("n", Object.is(value, -0) ? "-0" : String(value))
        return true
      case "bigint":
        parts.push("b", String(value))
        return true
      case "boolean":
        parts.push(value ? "t" : "f")
        return true
      case "undefined":
        parts.push("u")
        return true
      case "object": {
        if (value === null) {
          parts.push("0")
          return true
        }
        if (value instanceof Date) {
          parts.push("d", String(value.getTime()))
          return true
        }
        if (Array.isArray(value)) {
          parts.push("[")
          for (const item of value) if (!visit(item)) return false
          parts.push("]")
          return true
        }
        const proto = Object.getPrototypeOf(value)
        // Expression nodes are plain objects; their brand is a symbol key,
        // checked before this runs.
        if (proto !== Object.prototype && proto !== null && !Query.isQuery(value)) return false
        parts.push("{")
        for (const key of Object.keys(value).sort()) {
          parts.push(JSON.stringify(key))
          if (!visit((value as Record<string, unknown>)[key])) return false
        }
        parts.push("}")
        return true
      }
      default:
        return false
    }
  }
  return visit(includes) ? parts.join("") : undefined
}
