import { describe, expect, it } from "@effect/vitest"
import { Slots } from "../src/internal/slots.js"

describe("Slots (the pool's sets of waiting callers and leased clients)", () => {
  it("holds what was added until it is removed, and reuses freed slots", () => {
    const slots = new Slots<string>()
    const a = slots.add("a")
    const b = slots.add("b")
    const c = slots.add("c")
    expect(slots.size).toBe(3)
    slots.delete(b, "b")
    expect(slots.values()).toEqual(["a", "c"])
    expect(slots.size).toBe(2)
    // The freed slot is the next one used: the array does not grow.
    expect(slots.add("d")).toBe(b)
    expect(slots.values()).toEqual(["a", "d", "c"])
    slots.delete(a, "a")
    slots.delete(c, "c")
    expect(slots.values()).toEqual(["d"])
    expect(slots.size).toBe(1)
  })

  it("a second delete, or a delete of a slot that now holds another value, changes nothing", () => {
    const slots = new Slots<string>()
    const a = slots.add("a")
    slots.delete(a, "a")
    slots.delete(a, "a")
    expect(slots.size).toBe(0)
    const b = slots.add("b")
    expect(b).toBe(a)
    slots.delete(a, "a")
    expect(slots.values()).toEqual(["b"])
    expect(slots.size).toBe(1)
  })

  it("values() is a copy: removing while iterating over it misses nothing", () => {
    const slots = new Slots<number>()
    const ids = [1, 2, 3, 4].map((n) => [slots.add(n), n] as const)
    const seen: Array<number> = []
    for (const value of slots.values()) {
      seen.push(value)
      for (const [slot, n] of ids) if (n === value) slots.delete(slot, n)
    }
    expect(seen).toEqual([1, 2, 3, 4])
    expect(slots.size).toBe(0)
  })
})
