/** @internal Quotes an SQL identifier: the only way a name reaches SQL text. */
export const quote = (identifier: string): string => `"${identifier.replace(/"/g, "\"\"")}"`
