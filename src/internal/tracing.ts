import * as Effect from "effect/Effect"
import type * as Tracer from "effect/Tracer"

// Effect's built-in tracer records nothing anywhere, yet a span costs about
// as much client CPU as the rest of a findById. Spans are made when a
// tracer is installed (Effect.withTracer, Layer.setTracer, OpenTelemetry).
const builtInTracer = Effect.runSync(Effect.tracer)

/** @internal `Effect.withSpan`, skipped under the built-in tracer; never captures a stack trace. */
export const withSpan = (
  name: string,
  options: Omit<Tracer.SpanOptions, "captureStackTrace"> = {}
): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> => {
  const spanOptions: Tracer.SpanOptions = { ...options, captureStackTrace: false }
  return (effect) =>
    Effect.tracerWith((tracer) => tracer === builtInTracer ? effect : Effect.withSpan(effect, name, spanOptions))
}
