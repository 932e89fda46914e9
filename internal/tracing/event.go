package tracing

import (
	"context"

	"github.com/heraldhq/herald/events"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Span names.
const (
	// SpanEventStored is the publisher's: from its publish to the events
	// stream's ack (herald publish, the dispatcher for its sources and
	// POST /v1/events, herald call for call.post and call.err).
	SpanEventStored = "herald.event.stored"
	// SpanRun is one agent's run of one watch for one event, all attempts.
	SpanRun = "herald.run"
	// SpanCall is herald call's (and herald deploy's) call, from the pre
	// request to the call.post or call.err event.
	SpanCall = "herald.call"
	// SpanCallHook is one call hook's run, central or on an agent.
	SpanCallHook = "herald.callhook"
)

// Attribute keys.
const (
	AttrEventID   = "herald.event.id"
	AttrEventType = "herald.event.type"
	AttrKey       = "herald.key"
	AttrSource    = "herald.source"
	AttrStreamSeq = "herald.stream.seq"
	AttrDuplicate = "herald.duplicate"
	AttrWatch     = "herald.watch"
	AttrHost      = "herald.host"
	AttrStatus    = "herald.status"
	AttrExitCode  = "herald.exit_code"
	AttrAttempts  = "herald.attempts"
	AttrMethod    = "herald.call.method"
	AttrJob       = "herald.call.job"
	AttrHook      = "herald.hook"
	AttrPhase     = "herald.hook.phase"
)

func eventAttrs(e events.Event) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String(AttrEventID, e.ID),
		attribute.String(AttrEventType, e.Type),
		attribute.String(AttrKey, e.Key),
		attribute.String(AttrSource, e.Source),
	}
}

// StartStored starts the span of storing e, a child of the trace context
// e carries (a new root when it carries none), and sets e's traceparent
// and tracestate to the span: every reader of the event continues it.
// End it with Stored.
func (p *Provider) StartStored(ctx context.Context, e *events.Event) Span {
	if p == nil {
		s := Span{sc: child(FromEvent(*e))}
		e.TraceParent, e.TraceState = s.TraceParent(), s.TraceState()
		return s
	}
	s := p.Start(ctx, FromEvent(*e), SpanEventStored, trace.SpanKindProducer, eventAttrs(*e)...)
	e.TraceParent, e.TraceState = s.TraceParent(), s.TraceState()
	return s
}

// Stored ends a stored span with the stream's answer: the sequence and
// whether it was a duplicate, or the error.
func (s Span) Stored(seq uint64, duplicate bool, err error) {
	if s.span == nil {
		return
	}
	if err != nil {
		s.Fail(err.Error())
	} else {
		s.SetAttributes(attribute.Int64(AttrStreamSeq, int64(seq)), attribute.Bool(AttrDuplicate, duplicate))
	}
	s.End()
}

// StartRun starts the span of host's run of watch for e, a child of e's
// trace context. End it with Ran.
func (p *Provider) StartRun(ctx context.Context, e events.Event, watch, host string) Span {
	if p == nil {
		return Span{sc: child(FromEvent(e))}
	}
	attrs := append(eventAttrs(e), attribute.String(AttrWatch, watch), attribute.String(AttrHost, host))
	return p.Start(ctx, FromEvent(e), SpanRun, trace.SpanKindConsumer, attrs...)
}

// Ran ends a run span with the outcome's status, exit code (nil: none)
// and attempts.
func (s Span) Ran(status events.Status, exitCode *int, attempts int) {
	if s.span == nil {
		return
	}
	s.SetAttributes(attribute.String(AttrStatus, string(status)), attribute.Int(AttrAttempts, attempts))
	if exitCode != nil {
		s.SetAttributes(attribute.Int(AttrExitCode, *exitCode))
	}
	if status != events.StatusOK {
		s.Fail(string(status))
	}
	s.End()
}
