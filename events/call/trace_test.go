package call_test

import (
	"testing"

	"github.com/heraldhq/herald/events/call"
)

// The call's trace context reaches the event every hook gets and the
// call.post or call.err event; one that is not W3C's is dropped, not
// refused.
func TestCall_TraceContextInItsEvents(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	c := call.Call{ID: "c1", Method: "create_job", Job: "a/b/prod/c", Phase: call.PhasePost, Result: &call.Result{},
		TraceParent: tp, TraceState: "v=1"}
	ev, err := c.Event(call.PhasePre)
	if err != nil {
		t.Fatal(err)
	}
	if ev.TraceParent != tp || ev.TraceState != "v=1" {
		t.Errorf("hook event: traceparent %q tracestate %q", ev.TraceParent, ev.TraceState)
	}
	post, err := call.ResultEvent("herald://cli/h", c)
	if err != nil {
		t.Fatal(err)
	}
	if post.TraceParent != tp || post.Validate() != nil {
		t.Errorf("call.post: traceparent %q, %v", post.TraceParent, post.Validate())
	}
	c.TraceParent = "bogus"
	if err := c.Validate(); err != nil {
		t.Errorf("a bad traceparent refused the call: %v", err)
	}
	if ev, _ := c.Event(call.PhasePre); ev.TraceParent != "" || ev.TraceState != "" {
		t.Errorf("a bad traceparent reached the hook event: %q", ev.TraceParent)
	}
}
