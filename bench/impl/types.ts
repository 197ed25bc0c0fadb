/**
 * What every benchmarked implementation provides. The domain types are the
 * plain objects each operation returns, identical across implementations so
 * the smoke test can compare them and the benchmark compares like with like.
 */

export type Role = "system" | "user" | "assistant"

export type User = {
  readonly id: number
  readonly name: string
  readonly email: string
  readonly createdAt: Date
}

export type Message = {
  readonly id: string
  readonly userId: number
  readonly role: Role
  readonly content: string
  readonly contentLength: number
  readonly createdAt: Date
  readonly deletedAt: Date | null
}

export type NewMessage = {
  readonly userId: number
  readonly role: Role
  readonly content: string
  readonly contentLength: number
}

export type Transfer = {
  readonly from: number
  readonly to: number
  readonly amount: number
}

export type UserWithMessages = User & { readonly messages: ReadonlyArray<Message> }

/** Each operation's input and result. */
export interface Operations {
  /** The user with this id. */
  readonly findById: { readonly input: number; readonly output: User }
  /** The user's 20 newest non-deleted messages, newest first. */
  readonly recentMessages: { readonly input: number; readonly output: ReadonlyArray<Message> }
  /** Inserts one message and returns the stored row. */
  readonly insertOne: { readonly input: NewMessage; readonly output: Message }
  /** Moves `amount` between two accounts in one READ COMMITTED transaction. */
  readonly transfer: { readonly input: Transfer; readonly output: void }
  /** Inserts all rows with one statement. */
  readonly insertBatch: { readonly input: ReadonlyArray<NewMessage>; readonly output: void }
  /** These users, ordered by id, each with its non-deleted messages, newest first. */
  readonly eagerLoad: { readonly input: ReadonlyArray<number>; readonly output: ReadonlyArray<UserWithMessages> }
}

export type OperationName = keyof Operations
export type Input<K extends OperationName> = Operations[K]["input"]
export type Output<K extends OperationName> = Operations[K]["output"]

/** A stream of operations: `concurrency` workers cycle through `inputs` while `more` says so. */
export interface Load<K extends OperationName> {
  readonly inputs: ReadonlyArray<Input<K>>
  readonly concurrency: number
  /** Asked before each operation starts, with the number started so far. */
  readonly more: (started: number) => boolean
}

/**
 * How a load calls the operations.
 *
 * - `program`: as an application written in the implementation's own style.
 *   An Effect-based implementation runs the whole load as one Effect program
 *   on its runtime, the way an Effect application runs its work.
 * - `promise`: every operation its own promise, called from plain async
 *   code, as an Express handler or a Next.js route calls a repository. An
 *   Effect-based implementation enters its runtime once per operation
 *   (`ManagedRuntime.runPromise`, the runtime built once from the layer).
 *
 * A promise-based implementation runs the same code in both.
 */
export type CallingMode = "program" | "promise"

export const CALLING_MODES: ReadonlyArray<CallingMode> = ["program", "promise"]

export interface Implementation {
  /** Runs one operation, as `promise` mode does. */
  readonly call: <K extends OperationName>(op: K, input: Input<K>) => Promise<Output<K>>
  /**
   * Runs a whole load in a calling mode and resolves with the number of
   * operations completed. Implementations own this loop so that Effect-based
   * ones can run the load as one Effect program in `program` mode.
   */
  readonly run: <K extends OperationName>(op: K, load: Load<K>, mode: CallingMode) => Promise<number>
  /** True for a promise-based implementation: both modes run the same code, so it is measured once. */
  readonly sameInBothModes: boolean
  /** Closes the pool. */
  readonly close: () => Promise<void>
}

/** What each implementation's module exports. */
export interface ImplementationModule {
  /** Connects with a pool of at most {@link POOL_SIZE} connections. */
  readonly make: (url: string) => Promise<Implementation>
}

export interface Registration {
  /** Shown in the report; also how a worker process finds the implementation. */
  readonly name: string
  readonly load: () => Promise<ImplementationModule>
}

export const POOL_SIZE = 10
