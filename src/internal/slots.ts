/**
 * @internal
 * A set of short-lived values held by a long-lived owner, without a hash
 * table: each value sits in a slot of one array until it is removed.
 *
 * Why not a `Set`: V8 replaces a `Set`'s table with a new one as entries
 * come and go, and each replaced table keeps pointing at its successor and at
 * the values it held. Once one of those tables has been promoted to the old
 * generation, every scavenge treats it as a root, so every value added since
 * survives young-generation collections and is promoted with everything it
 * reaches. For a set of callbacks that each hold a fiber, that is about
 * 300 bytes promoted per statement (measured with `--trace-gc-nvp`); with
 * slots it is none.
 */
export class Slots<A> {
  private readonly slots: Array<A | undefined> = []
  private readonly free: Array<number> = []
  private count = 0

  get size(): number {
    return this.count
  }

  /** Stores `value`; the returned slot removes it. */
  add(value: A): number {
    const slot = this.free.length > 0 ? this.free.pop()! : this.slots.length
    this.slots[slot] = value
    this.count++
    return slot
  }

  /** Removes `value` from its slot; does nothing if it is no longer there. */
  delete(slot: number, value: A): void {
    if (this.slots[slot] !== value) return
    this.slots[slot] = undefined
    this.free.push(slot)
    this.count--
  }

  /** The values held now, in a new array. */
  values(): Array<A> {
    const values: Array<A> = []
    for (const value of this.slots) if (value !== undefined) values.push(value)
    return values
  }
}
