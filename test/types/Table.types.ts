// Compile-time checks for the row, insert and patch types of a table. Each
// line marked with ts-expect-error must be a type error, so `npm run
// typecheck` fails if a type stops rejecting wrong input.
import * as Repository from "../../src/Repository.js"
import type * as Table from "../../src/Table.js"
import { Grants, Members, Notes } from "../../src/testing/Fixtures.js"

// Managed fields (timestamps, soft delete, version) may be left out...
export const minimal: Table.Insert<typeof Members> = {
  email: "a@b.c",
  name: "A",
  age: null,
  score: 1,
  tags: [],
  profile: {}
}
// ...and given when wanted.
export const explicit: Table.Insert<typeof Members> = { ...minimal, deletedAt: null, version: 3 }

// @ts-expect-error a required field is missing
export const missing: Table.Insert<typeof Members> = { name: "A", age: null, score: 1, tags: [], profile: {} }

// @ts-expect-error generated fields are not part of an insert
export const generatedKey: Table.Insert<typeof Notes> = { id: "x", memberId: 1, body: "b" }

export const patch: Table.Patch<typeof Members> = { name: "B" }
// @ts-expect-error the primary key cannot be patched
export const patchKey: Table.Patch<typeof Members> = { id: 2 }

export const id: Table.Id<typeof Members> = 1
// @ts-expect-error the key is a number
export const wrongId: Table.Id<typeof Members> = "1"

// Numeric fields take an increment; other fields do not.
export const increment: Table.Patch<typeof Members> = { score: Repository.increment(1), age: Repository.increment(-1) }
// @ts-expect-error a text field cannot be incremented
export const incrementText: Table.Patch<typeof Members> = { name: Repository.increment(1) }

// A composite key is a record of exactly its fields, with their types.
export const compositeId: Table.Id<typeof Grants> = { memberId: 1, resource: "a" }
// @ts-expect-error a composite key needs every field
export const compositeMissing: Table.Id<typeof Grants> = { memberId: 1 }
// @ts-expect-error a field of a composite key has its own type
export const compositeWrongType: Table.Id<typeof Grants> = { memberId: "1", resource: "a" }
// @ts-expect-error a composite key is a record, not a bare value
export const compositeBare: Table.Id<typeof Grants> = 1
// @ts-expect-error a field that is not part of the key is not a key
export const compositeExtra: Table.Id<typeof Grants> = { memberId: 1, resource: "a", role: "x" }
// @ts-expect-error no field of a composite key can be patched
export const compositePatchKey: Table.Patch<typeof Grants> = { resource: "b" }
export const compositePatch: Table.Patch<typeof Grants> = { role: "owner" }
// The repository's functions take the record.
export const byCompositeKey = (grants: Repository.Repository<typeof Grants>) => [
  grants.findById({ memberId: 1, resource: "a" }),
  grants.update({ memberId: 1, resource: "a" }, { role: "owner" }),
  // @ts-expect-error a repository of a composite-key table takes no bare key
  grants.getById(1)
]
