/**
 * The bulk loaders compared after the main table. The first is the
 * reference every ratio is relative to; a new loader is one file in this
 * directory plus one entry here.
 */
import { copy } from "./copy.js"
import { effectDalInsertMany, effectDalInsertManyDiscard } from "./effect-dal.js"
import { multiRowInsert } from "./multi-row-insert.js"
import { postgresJsCopy } from "./postgres-js-copy.js"
import type { BulkLoader } from "./types.js"
import { unnestInsert, unnestInsertReturning } from "./unnest-insert.js"

export const bulkLoaders: ReadonlyArray<BulkLoader> = [
  copy,
  postgresJsCopy,
  multiRowInsert,
  unnestInsert,
  effectDalInsertManyDiscard,
  unnestInsertReturning,
  effectDalInsertMany
]
