import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { unwrapStream } from "./unwrap.js"

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

/**
 * @internal
 * The stream that `make` builds, in a span as `Stream.withSpan` makes one
 * (around building it too), skipped under the built-in tracer as
 * {@link withSpan} is; never captures a stack trace.
 */
export const streamWithSpan = <A, E, R, E2, R2>(
  name: string,
  options: Omit<Tracer.SpanOptions, "captureStackTrace">,
  make: Effect.Effect<Stream.Stream<A, E, R>, E2, R2>
): Stream.Stream<A, E | E2, R | R2> => {
  const spanOptions: Tracer.SpanOptions = { ...options, captureStackTrace: false }
  return unwrapStream(Effect.tracerWith((tracer): Effect.Effect<Stream.Stream<A, E | E2, R | R2>, E2, R2> =>
    tracer === builtInTracer
      ? make
      : Effect.succeed(Stream.withSpan(unwrapStream(make), name, spanOptions))
  ))
}
