import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Tracer from "effect/Tracer"

// Effect's built-in tracer records nothing anywhere, yet a span costs about
// as much client CPU as the rest of a findById. Spans are made when a
// tracer is installed (Effect.withTracer, Layer.setTracer, OpenTelemetry).
const builtInTracer = Effect.runSync(Effect.tracer)

/**
 * @internal
 * `Effect.withSpan`, skipped under the built-in tracer; never captures a
 * stack trace. `atEnd` gives attributes recorded when the effect ends.
 */
export const withSpan = (
  name: string,
  options: Omit<Tracer.SpanOptions, "captureStackTrace"> | (() => Omit<Tracer.SpanOptions, "captureStackTrace">) = {},
  atEnd?: (exit: Exit.Exit<unknown, unknown>) => Record<string, unknown>
): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> => {
  // Options given as a function are built only when a span is made.
  let spanOptions: Tracer.SpanOptions | undefined = typeof options === "function"
    ? undefined
    : { ...options, captureStackTrace: false }
  return (effect) =>
    Effect.tracerWith((tracer) => {
      if (tracer === builtInTracer) return effect
      const annotated = atEnd === undefined
        ? effect
        : Effect.onExit(effect, (exit) => Effect.annotateCurrentSpan(atEnd(exit)))
      spanOptions ??= { ...(options as () => Tracer.SpanOptions)(), captureStackTrace: false }
      return Effect.withSpan(annotated, name, spanOptions)
    })
}
