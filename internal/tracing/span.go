package tracing

import (
	"context"
	"encoding/binary"
	"math/rand/v2"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Span is one span of Herald's: its context (what travels on as
// traceparent), and, when the provider exports, the SDK's span. Its
// methods do nothing on an unrecorded span.
type Span struct {
	sc   trace.SpanContext
	span trace.Span // nil when off
}

// Start starts span name as a child of parent, or as the root of a new
// trace when parent is invalid. Off, the span only gets its ids: a new
// span id, parent's trace id, flags and tracestate (or a new trace id,
// sampled).
func (p *Provider) Start(ctx context.Context, parent trace.SpanContext, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) Span {
	if p == nil {
		return Span{sc: child(parent)}
	}
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	} else {
		ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	}
	_, s := p.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	return Span{sc: s.SpanContext(), span: s}
}

// child is an unrecorded span context under parent.
func child(parent trace.SpanContext) trace.SpanContext {
	cfg := trace.SpanContextConfig{
		TraceID:    parent.TraceID(),
		TraceFlags: parent.TraceFlags(),
		TraceState: parent.TraceState(),
	}
	if !parent.IsValid() {
		cfg = trace.SpanContextConfig{TraceFlags: trace.FlagsSampled}
		for !cfg.TraceID.IsValid() {
			binary.BigEndian.PutUint64(cfg.TraceID[:8], rand.Uint64())
			binary.BigEndian.PutUint64(cfg.TraceID[8:], rand.Uint64())
		}
	}
	for !cfg.SpanID.IsValid() {
		binary.BigEndian.PutUint64(cfg.SpanID[:], rand.Uint64())
	}
	return trace.NewSpanContext(cfg)
}

// Context is the span's context.
func (s Span) Context() trace.SpanContext { return s.sc }

// TraceParent is the span as a W3C traceparent: what its children's
// carriers (an event, TRACEPARENT) hold.
func (s Span) TraceParent() string { return Format(s.sc) }

// TraceState is the tracestate that goes with TraceParent.
func (s Span) TraceState() string { return s.sc.TraceState().String() }

// TraceID is the span's trace id, 32 hex digits.
func (s Span) TraceID() string {
	if !s.sc.IsValid() {
		return ""
	}
	return s.sc.TraceID().String()
}

// SetAttributes adds attributes to a recorded span.
func (s Span) SetAttributes(attrs ...attribute.KeyValue) {
	if s.span != nil {
		s.span.SetAttributes(attrs...)
	}
}

// Fail marks a recorded span as failed with msg.
func (s Span) Fail(msg string) {
	if s.span != nil {
		s.span.SetStatus(codes.Error, msg)
	}
}

// End ends a recorded span.
func (s Span) End() {
	if s.span != nil {
		s.span.End()
	}
}
