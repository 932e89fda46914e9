package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/agent"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/testutil/otlptest"
	"github.com/heraldhq/herald/internal/tracing"
)

// Each run is a child span of the event's trace context: the action sees
// it in TRACEPARENT (a span id of its own, the event's trace id) and the
// outcome carries the trace id; an event without one gets a trace of its
// own. With --otlp-endpoint the run span reaches the collector with the
// watch, host and status.
func TestAgent_RunsInAChildSpanOfTheEvent(t *testing.T) {
	t.Parallel()
	b := newRig(t)
	rcv := otlptest.Start(t)
	b.script("env.sh", `printf '%s %s\n' "$HERALD_EVENT_ID" "$TRACEPARENT" >> "`+b.path("seen")+`"; exit 3`)
	ra := b.startAgent("h1", map[string]string{"w.yaml": "watches:\n  - name: tr\n    on: event:trace.test\n    exec: [\"%DIR%/env.sh\"]\n    run_on_load: false\n"},
		func(c *agent.Config) { c.OTLP.Endpoint = rcv.URL })

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	e := events.New("test", "trace.test", "/k", nil)
	e.TraceParent = parent
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := bus.PublishEvent(ctx, b.js, e); err != nil {
		t.Fatal(err)
	}
	plain := b.publish("trace.test", "/k2", "")
	outs := b.waitOutcomes("tr", 2)

	seen := map[string]string{}
	for _, l := range b.readLines("seen") {
		id, tp, _ := strings.Cut(l, " ")
		seen[id] = tp
	}
	for _, o := range outs {
		tp := seen[o.EventID]
		if !events.ValidTraceParent(tp) {
			t.Fatalf("event %s: TRACEPARENT %q", o.EventID, tp)
		}
		if o.TraceID == "" || tp[3:35] != o.TraceID {
			t.Errorf("event %s: outcome trace_id %q, TRACEPARENT %q", o.EventID, o.TraceID, tp)
		}
		switch o.EventID {
		case e.ID:
			if o.TraceID != e.TraceID() || tp == parent {
				t.Errorf("under %s the run got TRACEPARENT %q, outcome trace %q", parent, tp, o.TraceID)
			}
		case plain.ID:
			if o.TraceID == e.TraceID() {
				t.Errorf("an event without a trace ran in the other's trace")
			}
		}
	}
	var run otlptest.Span
	testutil.Eventually(t, wait, func() error {
		for _, s := range rcv.Named(tracing.SpanRun) {
			if s.TraceID == e.TraceID() {
				run = s
				return nil
			}
		}
		return errors.New("no run span in the event's trace yet")
	})
	if run.ParentSpanID != "00f067aa0ba902b7" || seen[e.ID] != fmt.Sprintf("00-%s-%s-01", run.TraceID, run.SpanID) {
		t.Errorf("run span %+v; the action saw %q", run, seen[e.ID])
	}
	for k, want := range map[string]string{tracing.AttrWatch: "tr", tracing.AttrHost: "h1", tracing.AttrStatus: "failed", tracing.AttrExitCode: "3", tracing.AttrEventID: e.ID} {
		if run.Attrs[k] != want {
			t.Errorf("run span %s = %q, want %q", k, run.Attrs[k], want)
		}
	}
	if run.Service != "herald-agent" {
		t.Errorf("service.name %q", run.Service)
	}
	ra.waitLog(t, `"trace_id":"`+e.TraceID()+`"`) // on the run finished line
}

func TestConfig_OTLPEndpointValidated(t *testing.T) {
	c := agent.DefaultConfig()
	c.OTLP.Endpoint = "ftp://collector"
	if err := c.Validate(); err == nil || !errors.Is(err, agent.ErrInvalidConfig) || !strings.Contains(err.Error(), "otlp.endpoint") {
		t.Errorf("Validate = %v", err)
	}
}
