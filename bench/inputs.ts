/**
 * Deterministic operation inputs: the same seed gives every implementation
 * the same ids, transfers and new rows. Inputs are generated before a cell
 * is timed, so their cost is not measured.
 */
import type { Input, NewMessage, OperationName, Role } from "./impl/types.js"
import type { SeedSize } from "./seed.js"

export const BATCH_SIZE = 1_000
export const EAGER_USERS = 50

/** How many distinct inputs a cell cycles through. */
const POOL_SIZES: { readonly [K in OperationName]: number } = {
  findById: 4_096,
  recentMessages: 4_096,
  insertOne: 4_096,
  transfer: 4_096,
  insertBatch: 8,
  eagerLoad: 256
}

type Random = () => number

/** mulberry32: small, fast and good enough to pick ids. */
const mulberry32 = (seed: number): Random => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** A 32-bit seed from any labels (FNV-1a), e.g. `seedOf("findById", 32, 0)`. */
export const seedOf = (...parts: ReadonlyArray<string | number>): number => {
  let hash = 0x811c9dc5
  for (const char of parts.join("/")) {
    hash ^= char.charCodeAt(0)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** An integer in [min, max]. */
const between = (random: Random, min: number, max: number): number => min + Math.floor(random() * (max - min + 1))

const ROLES: ReadonlyArray<Role> = ["system", "user", "assistant"]
const TEXT = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. ".repeat(8)

const newMessage = (random: Random, size: SeedSize): NewMessage => {
  const start = between(random, 0, 100)
  const content = TEXT.slice(start, start + between(random, 20, 400))
  return {
    userId: between(random, 1, size.users),
    role: ROLES[between(random, 0, ROLES.length - 1)]!,
    content,
    contentLength: content.length
  }
}

const generators: { readonly [K in OperationName]: (random: Random, size: SeedSize) => Input<K> } = {
  findById: (random, size) => between(random, 1, size.users),
  recentMessages: (random, size) => between(random, 1, size.users),
  insertOne: newMessage,
  transfer: (random, size) => {
    const from = between(random, 1, size.accounts)
    // Any account but `from`.
    const to = (from + between(random, 0, size.accounts - 2)) % size.accounts + 1
    return { from, to, amount: between(random, 1, 100) }
  },
  insertBatch: (random, size) => Array.from({ length: BATCH_SIZE }, () => newMessage(random, size)),
  eagerLoad: (random, size) => {
    const ids = new Set<number>()
    const wanted = Math.min(EAGER_USERS, size.users)
    while (ids.size < wanted) ids.add(between(random, 1, size.users))
    return [...ids]
  }
}

/** The inputs for one cell; `count` defaults to the operation's pool size. */
export const makeInputs = <K extends OperationName>(
  op: K,
  size: SeedSize,
  seed: number,
  count: number = POOL_SIZES[op]
): Array<Input<K>> => {
  const random = mulberry32(seed)
  const generate = generators[op]
  return Array.from({ length: count }, () => generate(random, size))
}
