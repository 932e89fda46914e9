package tracing

import (
	"context"

	"github.com/heraldhq/herald/events"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// StartCall starts herald call's span of one call, a child of parent (the
// caller's TRACEPARENT) or a new root. End it with Called.
func (p *Provider) StartCall(ctx context.Context, parent trace.SpanContext, method, job string) Span {
	if p == nil {
		return Span{sc: child(parent)}
	}
	return p.Start(ctx, parent, SpanCall, trace.SpanKindClient,
		attribute.String(AttrMethod, method), attribute.String(AttrJob, job))
}

// Called ends a call span with herald call's exit status.
func (s Span) Called(exit int) {
	if s.span == nil {
		return
	}
	s.SetAttributes(attribute.Int(AttrExitCode, exit))
	if exit != 0 {
		s.Fail("exit status")
	}
	s.End()
}

// StartCallHook starts the span of one call hook's run on host, a child
// of the call's trace context, which ev (the call's event of the phase,
// call.Call.Event) carries. End it with Ran.
func (p *Provider) StartCallHook(ctx context.Context, ev events.Event, hook, phase, host string) Span {
	if p == nil {
		return Span{sc: child(FromEvent(ev))}
	}
	return p.Start(ctx, FromEvent(ev), SpanCallHook, trace.SpanKindInternal,
		attribute.String(AttrHook, hook), attribute.String(AttrPhase, phase), attribute.String(AttrHost, host),
		attribute.String(AttrJob, ev.Key), attribute.String(AttrEventID, ev.ID))
}
