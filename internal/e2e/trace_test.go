package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/testutil/otlptest"
	"github.com/heraldhq/herald/internal/tracing"
)

// TestTrace_PublishToRuns: with the real binaries, every one given
// --otlp-endpoint of an in-process OTLP/HTTP receiver, herald publish
// with TRACEPARENT from its environment (as CI sets it) exports the
// event's herald.event.stored span, a child of the CI's span, and each of
// two agents exports one herald.run span, a child of the stored span, with
// the watch, host and status as attributes, all in the CI's trace; each
// action sees TRACEPARENT naming its own run span, and each outcome
// carries the trace id.
func TestTrace_PublishToRuns(t *testing.T) {
	t.Parallel()
	rcv := otlptest.Start(t)
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--otlp-endpoint", rcv.URL)
	out := c.watchOutcomes()
	dir := t.TempDir()
	for _, a := range []struct{ name, exit string }{{"t1", "0"}, {"t2", "3"}} {
		w := filepath.Join(t.TempDir(), "watches.d")
		if err := os.Mkdir(w, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(w, "traced.yaml"), fmt.Sprintf(`
watches:
  - name: traced
    on: event:trace.e2e
    exec: ["/bin/sh", "-c", "echo \"$TRACEPARENT\" > %s/$HERALD_HOST; exit %s"]
    run_on_load: false
`, dir, a.exit))
		c.startAgent(agentOpts{name: a.name, watches: w, extra: []string{"--otlp-endpoint", rcv.URL}})
	}
	waitAnnounced(t, c, "t1", "t2")

	const ci, ciTrace, ciSpan = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	code, stderr := c.runHeraldIn(t, []string{"TRACEPARENT=" + ci}, "publish", "--type", "trace.e2e", "--key", "/app", "--otlp-endpoint", rcv.URL)
	if code != 0 {
		t.Fatalf("herald publish: exit %d: %s", code, stderr)
	}
	out.waitCount(t, "traced", "", 2)

	// herald publish flushed its span before it exited.
	stored := rcv.Named(tracing.SpanEventStored)
	if len(stored) != 1 || stored[0].Service != "herald" || stored[0].TraceID != ciTrace || stored[0].ParentSpanID != ciSpan || stored[0].Attrs[tracing.AttrStreamSeq] == "" {
		t.Fatalf("stored spans %+v, want one of herald, a child of %s", stored, ci)
	}
	runs := map[string]otlptest.Span{}
	testutil.Eventually(t, wait, func() error {
		for _, s := range rcv.Named(tracing.SpanRun) {
			runs[s.Attrs[tracing.AttrHost]] = s
		}
		if len(runs) < 2 {
			return fmt.Errorf("run spans of %d agents", len(runs))
		}
		return nil
	})
	for host, status := range map[string]string{"t1": "ok", "t2": "failed"} {
		r := runs[host]
		if r.TraceID != ciTrace || r.ParentSpanID != stored[0].SpanID || r.Service != "herald-agent" {
			t.Errorf("%s: run span %+v, want a child of the stored span %s in trace %s", host, r, stored[0].SpanID, ciTrace)
		}
		if r.Attrs[tracing.AttrWatch] != "traced" || r.Attrs[tracing.AttrStatus] != status || r.Attrs[tracing.AttrEventID] != stored[0].Attrs[tracing.AttrEventID] {
			t.Errorf("%s: run span attributes %v, want watch traced, status %s", host, r.Attrs, status)
		}
		seen := readLines(t, filepath.Join(dir, host))
		if want := "00-" + ciTrace + "-" + r.SpanID + "-01"; len(seen) != 1 || seen[0] != want {
			t.Errorf("%s: the action saw TRACEPARENT %q, want its run span %s", host, seen, want)
		}
	}
	for _, o := range out.Snapshot() {
		if o.Watch == "traced" && o.TraceID != ciTrace {
			t.Errorf("%s: outcome trace_id %q, want %s", o.Host, o.TraceID, ciTrace)
		}
	}

	// A malformed TRACEPARENT is refused, naming it.
	code, stderr = c.runHeraldIn(t, []string{"TRACEPARENT=00-xyz"}, "publish", "--type", "trace.e2e", "--key", "/app")
	if code != 2 || !strings.Contains(stderr, "TRACEPARENT") {
		t.Errorf("bad TRACEPARENT: exit %d, stderr %q", code, stderr)
	}
}
