import * as Channel from "effect/Channel"
import type * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

type StreamChannel<A, E, R> = Channel.Channel<Chunk.Chunk<A>, unknown, E, unknown, unknown, unknown, R>

// The effect that builds the channel of a stream made by unwrapChannel. An
// unwrap around such a stream runs that effect in its own, instead of
// unwrapping one more channel: a channel unwrap is a flatMap in the channel
// executor (a continuation pushed and popped, a channel state), where an
// effect's flatMap is one step of the fiber.
const deferred = new WeakMap<object, Effect.Effect<StreamChannel<any, any, any>, any, any>>()

/**
 * @internal
 * A stream whose channel an effect builds, when the stream runs. Unwraps
 * around it ({@link unwrapStream}, {@link channelOf}) fold into its effect,
 * so that however many layers build a stream, it runs one channel unwrap.
 */
export const unwrapChannel = <A, E, R, E2, R2>(
  effect: Effect.Effect<StreamChannel<A, E, R>, E2, R2>
): Stream.Stream<A, E | E2, R | R2> => {
  const stream = Stream.fromChannel(Channel.unwrap(effect))
  deferred.set(stream, effect)
  return stream
}

/**
 * @internal
 * The effect that builds a stream's channel: for a stream of
 * {@link unwrapChannel}, its own effect; for any other, its channel.
 */
export const channelOf = <A, E, R>(stream: Stream.Stream<A, E, R>): Effect.Effect<StreamChannel<A, E, R>, E, R> =>
  deferred.get(stream) ?? Effect.succeed(Stream.toChannel(stream) as StreamChannel<A, E, R>)

/**
 * @internal
 * `Stream.unwrap` for an effect that builds one stream: the stream's channel
 * runs in place. `Stream.unwrap` makes a stream of one stream and flattens
 * it with `flatMap`, whose channel machinery costs more than a short read;
 * here the effect and the inner stream's own building run as one effect,
 * under one channel unwrap.
 */
export const unwrapStream = <A, E, R, E2, R2>(
  effect: Effect.Effect<Stream.Stream<A, E, R>, E2, R2>
): Stream.Stream<A, E | E2, R | R2> => unwrapChannel(Effect.flatMap(effect, channelOf))
