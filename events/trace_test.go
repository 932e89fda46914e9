package events_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
)

const testParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestEvent_TraceContextTravelsInBinaryAndStructuredMode(t *testing.T) {
	e := events.New("herald://test", "git.push", "/repos/app", []byte("x"))
	e.TraceParent, e.TraceState = testParent, "vendor=opaque,other=1"
	m := e.ToMsg()
	if got := m.Header.Get("ce-traceparent"); got != testParent {
		t.Errorf("ce-traceparent = %q, want %q", got, testParent)
	}
	if got := m.Header.Get("ce-tracestate"); got != e.TraceState {
		t.Errorf("ce-tracestate = %q, want %q", got, e.TraceState)
	}
	back, err := events.FromMsg(m)
	if err != nil {
		t.Fatal(err)
	}
	if back.TraceParent != testParent || back.TraceState != e.TraceState {
		t.Errorf("FromMsg: traceparent %q tracestate %q", back.TraceParent, back.TraceState)
	}
	if got := back.TraceID(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("TraceID = %q", got)
	}

	js, err := events.FromJSON([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"a.b","subject":"k",
		"traceparent":"` + testParent + `","tracestate":"v=1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if js.TraceParent != testParent || js.TraceState != "v=1" {
		t.Errorf("FromJSON: traceparent %q tracestate %q", js.TraceParent, js.TraceState)
	}

	// Without a trace context there is no header.
	plain := events.New("herald://test", "git.push", "/repos/app", nil).ToMsg()
	if _, ok := plain.Header["ce-traceparent"]; ok {
		t.Error("ce-traceparent set on an event without a trace")
	}
}

func TestValidTraceParent(t *testing.T) {
	for s, want := range map[string]bool{
		testParent: true,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00":        true,
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future": true,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more":   false, // version 00 is exactly 55
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01":        false,
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01":        false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01":        false,
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01":        false,
		"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01":         false,
		"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01":        false,
		"": false, "00-abc-def-01": false,
	} {
		if got := events.ValidTraceParent(s); got != want {
			t.Errorf("ValidTraceParent(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestEvent_ValidateNamesTraceAttributes(t *testing.T) {
	for name, tc := range map[string]struct {
		parent, state, field string
	}{
		"bad traceparent":      {"00-abc-def-01", "", "traceparent"},
		"state without parent": {"", "v=1", "tracestate"},
		"state too long":       {testParent, strings.Repeat("v", events.MaxTraceStateLen+1), "tracestate"},
		"state with a newline": {testParent, "a=1\nb=2", "tracestate"},
	} {
		t.Run(name, func(t *testing.T) {
			e := events.New("s", "a.b", "k", nil)
			e.TraceParent, e.TraceState = tc.parent, tc.state
			err := e.Validate()
			var fe *events.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Validate = %v, want a field error on %s", err, tc.field)
			}
		})
	}
}

// A receiver ignores a trace context that is not W3C's: the event is
// still delivered.
func TestFromMsg_IgnoresABadTraceContext(t *testing.T) {
	m := events.New("s", "a.b", "k", nil).ToMsg()
	m.Header.Set("ce-traceparent", "not-a-trace")
	m.Header.Set("ce-tracestate", "v=1")
	e, err := events.FromMsg(m)
	if err != nil {
		t.Fatalf("FromMsg refused the event: %v", err)
	}
	if e.TraceParent != "" || e.TraceState != "" {
		t.Errorf("kept traceparent %q tracestate %q", e.TraceParent, e.TraceState)
	}
}
