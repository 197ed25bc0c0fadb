import * as Channel from "effect/Channel"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/**
 * @internal
 * `Stream.unwrap` for an effect that builds one stream: the stream's channel
 * runs in place. `Stream.unwrap` makes a stream of one stream and flattens
 * it with `flatMap`, whose channel machinery costs more than a short read.
 */
export const unwrapStream = <A, E, R, E2, R2>(
  effect: Effect.Effect<Stream.Stream<A, E, R>, E2, R2>
): Stream.Stream<A, E | E2, R | R2> => Stream.fromChannel(Channel.unwrap(Effect.map(effect, Stream.toChannel)))
