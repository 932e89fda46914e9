package tracing

import (
	"encoding/hex"
	"fmt"
	"os"

	"github.com/heraldhq/herald/events"
	"go.opentelemetry.io/otel/trace"
)

// The environment variables of the W3C Trace Context that CI systems set
// and that actions and call hooks get.
const (
	EnvTraceParent = "TRACEPARENT"
	EnvTraceState  = "TRACESTATE"
)

// Parse returns the span context of a W3C traceparent and tracestate, as
// a remote parent. An empty traceparent is no context (invalid, nil
// error); a malformed one, or a tracestate that is not W3C's, is an
// error.
func Parse(traceparent, tracestate string) (trace.SpanContext, error) {
	if traceparent == "" {
		if tracestate != "" {
			return trace.SpanContext{}, fmt.Errorf("tracestate without traceparent")
		}
		return trace.SpanContext{}, nil
	}
	if !events.ValidTraceParent(traceparent) {
		return trace.SpanContext{}, fmt.Errorf("%q is not a W3C traceparent (00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>)", traceparent)
	}
	tid, _ := trace.TraceIDFromHex(traceparent[3:35])
	sid, _ := trace.SpanIDFromHex(traceparent[36:52])
	flags, _ := hex.DecodeString(traceparent[53:55]) // valid: two hex digits
	ts, err := trace.ParseTraceState(tracestate)
	if err != nil {
		return trace.SpanContext{}, fmt.Errorf("tracestate: %w", err)
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags[0]), TraceState: ts, Remote: true,
	}), nil
}

// Format is the W3C traceparent of sc (version 00), or "" for an invalid
// one.
func Format(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// FromEnv is the trace context of TRACEPARENT and TRACESTATE: none when
// TRACEPARENT is unset or empty, an error naming the variable when it is
// malformed.
func FromEnv() (trace.SpanContext, error) {
	tp, ts := os.Getenv(EnvTraceParent), os.Getenv(EnvTraceState)
	if tp == "" {
		return trace.SpanContext{}, nil
	}
	if !events.ValidTraceParent(tp) {
		return trace.SpanContext{}, fmt.Errorf("%s: %q is not a W3C traceparent (00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>)", EnvTraceParent, tp)
	}
	sc, err := Parse(tp, ts)
	if err != nil {
		return trace.SpanContext{}, fmt.Errorf("%s: %w", EnvTraceState, err)
	}
	return sc, nil
}

// FromEvent is the trace context an event carries; none when it carries
// none or a malformed one (a receiver ignores it).
func FromEvent(e events.Event) trace.SpanContext {
	sc, err := Parse(e.TraceParent, e.TraceState)
	if err != nil {
		sc, _ = Parse(e.TraceParent, "")
	}
	return sc
}
