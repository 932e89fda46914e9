package cli_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/testutil/otlptest"
	"github.com/heraldhq/herald/internal/tracing"
)

// herald publish continues TRACEPARENT (as CI sets it) in the event's
// stored span: the event carries the CI trace with the stored span as
// parent; without TRACEPARENT it starts a trace; a malformed TRACEPARENT
// is a usage error naming it. --otlp-endpoint exports the stored span.
func TestMain_PublishTraceParent(t *testing.T) {
	s, js := natsWithStreams(t)
	url := s.ClientURL()
	const ci = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

	t.Run("TRACEPARENT is continued and the stored span exported", func(t *testing.T) {
		rcv := otlptest.Start(t)
		t.Setenv("TRACEPARENT", ci)
		t.Setenv("TRACESTATE", "ci=1")
		r := run(t, nil, nil, "publish", "--nats", url, "--type", "trace.cli", "--key", "/a", "--otlp-endpoint", rcv.URL)
		id := publishedID(t, r)
		e, h := storedEvent(t, js, "trace.cli", "/a")
		if e.TraceID() != "0af7651916cd43dd8448eb211c80319c" || e.TraceParent == ci || e.TraceState != "ci=1" {
			t.Errorf("stored traceparent %q tracestate %q (header %q)", e.TraceParent, e.TraceState, h.Get(events.HeaderTraceParent))
		}
		// The exporter was flushed before publish returned.
		st := rcv.Named(tracing.SpanEventStored)
		if len(st) != 1 {
			t.Fatalf("stored spans %+v", rcv.Spans())
		}
		if st[0].ParentSpanID != "b7ad6b7169203331" || e.TraceParent != fmt.Sprintf("00-%s-%s-01", st[0].TraceID, st[0].SpanID) ||
			st[0].Attrs[tracing.AttrEventID] != id || st[0].Attrs[tracing.AttrStreamSeq] == "" || st[0].Service != "herald" {
			t.Errorf("stored span %+v, event traceparent %q", st[0], e.TraceParent)
		}
	})
	t.Run("without TRACEPARENT a trace starts", func(t *testing.T) {
		t.Setenv("TRACEPARENT", "")
		publishedID(t, run(t, nil, nil, "publish", "--nats", url, "--type", "trace.cli", "--key", "/b"))
		e, _ := storedEvent(t, js, "trace.cli", "/b")
		if !events.ValidTraceParent(e.TraceParent) || e.TraceID() == "0af7651916cd43dd8448eb211c80319c" {
			t.Errorf("traceparent %q", e.TraceParent)
		}
	})
	t.Run("a bad TRACEPARENT is refused naming it", func(t *testing.T) {
		t.Setenv("TRACEPARENT", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01")
		r := run(t, nil, nil, "publish", "--nats", url, "--type", "trace.cli", "--key", "/c")
		if !errors.Is(r.err, cli.ErrUsage) || !strings.Contains(r.err.Error(), "TRACEPARENT") {
			t.Errorf("err %v, exit %d", r.err, r.code())
		}
	})
	t.Run("a bad --otlp-endpoint is refused naming it", func(t *testing.T) {
		t.Setenv("TRACEPARENT", "")
		r := run(t, nil, nil, "publish", "--nats", url, "--type", "trace.cli", "--key", "/c", "--otlp-endpoint", "grpc://c:4317")
		if !errors.Is(r.err, cli.ErrUsage) || !strings.Contains(r.err.Error(), "--otlp-endpoint") {
			t.Errorf("err %v", r.err)
		}
	})
}

// A collector that cannot be reached does not fail the publish: the event
// is stored and stderr notes that the spans were not exported.
func TestMain_PublishCollectorDown(t *testing.T) {
	s, js := natsWithStreams(t)
	t.Setenv("TRACEPARENT", "")
	r := run(t, nil, nil, "publish", "--nats", s.ClientURL(), "--type", "trace.down", "--key", "/a", "--otlp-endpoint", "http://127.0.0.1:1")
	publishedID(t, r)
	storedEvent(t, js, "trace.down", "/a")
	if !strings.Contains(r.errOut, "herald publish: note: spans not exported") {
		t.Errorf("stderr %q", r.errOut)
	}
}
