import type { NewMessage } from "../impl/types.js"

export interface BulkConnection {
  /** Inserts the rows into the messages table; this is what is timed. */
  readonly load: (rows: ReadonlyArray<NewMessage>) => Promise<void>
  readonly close: () => Promise<void>
}

/** One way to load many rows into the messages table. */
export interface BulkLoader {
  readonly name: string
  readonly make: (url: string) => Promise<BulkConnection>
}
