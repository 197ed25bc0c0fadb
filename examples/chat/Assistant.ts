/**
 * The assistant that answers a user: in a real bot, a call to a language
 * model. It has no sensible default, so it is a plain `Context.Tag`; the
 * examples provide a canned one that runs offline.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Message, UserSettings } from "./model.js"

export class Assistant extends Context.Tag("examples/chat/Assistant")<Assistant, {
  /** A reply to the last message of `history`, which is oldest first. */
  readonly reply: (settings: UserSettings, history: ReadonlyArray<Message>) => Effect.Effect<string>
}>() {}

/** A stand-in for a language model: it says what it was given. */
export const layerCanned: Layer.Layer<Assistant> = Layer.succeed(Assistant, {
  reply: (_settings, history) =>
    Effect.sync(() => {
      const earlier = history.length - 1
      return `[${earlier} earlier message${earlier === 1 ? "" : "s"} in context] You said: "${history.at(-1)?.content ?? ""}"`
    })
})
