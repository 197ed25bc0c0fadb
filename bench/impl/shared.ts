/**
 * Logic that is not what the benchmark compares, shared so every
 * implementation does exactly the same. Types only in the imports: a worker
 * must load no library but its own implementation's.
 */
import type { Message, Transfer, User, UserWithMessages } from "./types.js"

export type BalanceChange = { readonly id: number; readonly delta: number }

/**
 * A transfer's two balance updates, lower account id first: concurrent
 * transfers then lock rows in the same order and cannot deadlock.
 */
export const balanceChanges = ({ amount, from, to }: Transfer): readonly [BalanceChange, BalanceChange] => {
  const debit = { id: from, delta: -amount }
  const credit = { id: to, delta: amount }
  return from < to ? [debit, credit] : [credit, debit]
}

/** Gives each user its messages, keeping both lists in the order they came. */
export const attachMessages = (
  users: ReadonlyArray<User>,
  messages: ReadonlyArray<Message>
): Array<UserWithMessages> => {
  const byUser = new Map<number, Array<Message>>()
  for (const message of messages) {
    const list = byUser.get(message.userId)
    if (list === undefined) byUser.set(message.userId, [message])
    else list.push(message)
  }
  return users.map((user) => ({ ...user, messages: byUser.get(user.id) ?? [] }))
}

/** The inputs, one after another, starting over at the end. */
export const cycle = <A>(inputs: ReadonlyArray<A>): () => A => {
  if (inputs.length === 0) throw new Error("a load needs at least one input")
  let i = 0
  return () => inputs[i++ % inputs.length] as A
}
