/**
 * A tracer that keeps every span it creates, so tests can read span names
 * and attributes.
 */
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

export interface RecordedSpan extends Tracer.Span {
  readonly attributes: Map<string, unknown>
}

export const recordingTracer = () => {
  const spans: Array<RecordedSpan> = []
  let ids = 0
  const tracer = Tracer.make({
    span(name, parent, context, links, startTime, kind) {
      const attributes = new Map<string, unknown>()
      const span: RecordedSpan = {
        _tag: "Span",
        name,
        spanId: `span-${++ids}`,
        traceId: "trace",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes,
        links: [...links],
        sampled: true,
        kind,
        end(endTime, exit) {
          ;(span as { status: Tracer.SpanStatus }).status = { _tag: "Ended", startTime, endTime, exit }
        },
        attribute(key, value) {
          attributes.set(key, value)
        },
        event() {},
        addLinks() {}
      }
      spans.push(span)
      return span
    },
    context: (f) => f()
  })
  return { spans, tracer }
}

export const parentName = (span: Tracer.Span): string | undefined =>
  Option.match(span.parent, {
    onNone: () => undefined,
    onSome: (parent) => (parent._tag === "Span" ? parent.name : undefined)
  })

