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

// TestTrace_CallHooks: herald call with TRACEPARENT continues the CI's
// trace in its herald.call span; the dispatcher's central pre and post
// hooks and an agent's run: agents hook each run in a herald.callhook
// span under it and see TRACEPARENT naming that span; call.post is stored
// in the same trace, and the post hook's outcome carries its trace id.
func TestTrace_CallHooks(t *testing.T) {
	t.Parallel()
	rcv := otlptest.Start(t)
	f := newFixture(t)
	seen := f.path("seen")
	hooksDir := f.path("hooks")
	if err := os.Mkdir(hooksDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(hooksDir, "hooks.yaml"), strings.ReplaceAll(`
hooks:
  - {name: central-pre, phase: pre, methods: ["*"], exec: 'echo "central-pre $TRACEPARENT" >> %SEEN%'}
  - {name: central-post, phase: post, methods: ["*"], exec: 'echo "central-post $TRACEPARENT" >> %SEEN%'}
  - {name: on-agent, phase: pre, methods: ["*"], run: {agents: [h1]}}
`, "%SEEN%", seen))
	agentConf := f.path("agent.yaml")
	writeFile(t, agentConf, strings.ReplaceAll(`
call_hooks:
  on-agent:
    exec: ["/bin/sh", "-c", "echo \"on-agent $TRACEPARENT\" >> %SEEN%"]
`, "%SEEN%", seen))
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--hooks", hooksDir, "--otlp-endpoint", rcv.URL)
	outs := c.watchOutcomes()
	c.startAgent(agentOpts{name: "h1", watches: f.watches, extra: []string{"--config", agentConf, "--accept-hooks", "--otlp-endpoint", rcv.URL}})
	testutil.Eventually(t, wait, func() error {
		if v := c.preVerdict(t, "update_job", "west/www/prod/web"); len(v.Hooks) != 2 {
			return fmt.Errorf("the dispatcher does not see the agent yet: %+v", v.Hooks)
		}
		return nil
	})
	before := len(readLines(t, seen)) // the probing verdicts ran the pre hooks

	const ci, ciTrace, ciSpan = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	code, stderr := c.runHeraldIn(t, []string{"TRACEPARENT=" + ci}, "call", "update_job", "--job", "west/www/prod/web", "--otlp-endpoint", rcv.URL, "--", "true")
	if code != 0 {
		t.Fatalf("herald call: exit %d: %s", code, stderr)
	}
	calls := rcv.Named(tracing.SpanCall)
	if len(calls) != 1 || calls[0].TraceID != ciTrace || calls[0].ParentSpanID != ciSpan || calls[0].Service != "herald" {
		t.Fatalf("call spans %+v, want one of herald under %s", calls, ci)
	}
	call := calls[0]
	lines := waitLines(t, seen, before+3)[before:]
	hooks := map[string]otlptest.Span{}
	testutil.Eventually(t, wait, func() error {
		for _, s := range rcv.Named(tracing.SpanCallHook) {
			if s.TraceID == ciTrace {
				hooks[s.Attrs[tracing.AttrHook]] = s
			}
		}
		if len(hooks) < 3 {
			return fmt.Errorf("hook spans in the trace: %v", hooks)
		}
		return nil
	})
	for _, l := range lines {
		name, tp, _ := strings.Cut(l, " ")
		h, ok := hooks[name]
		if !ok || h.ParentSpanID != call.SpanID || tp != "00-"+ciTrace+"-"+h.SpanID+"-01" {
			t.Errorf("hook %s saw TRACEPARENT %q; its span %+v, the call's %s", name, tp, h, call.SpanID)
		}
	}
	if s := hooks["on-agent"].Service; s != "herald-agent" {
		t.Errorf("on-agent span from %q, want herald-agent", s)
	}
	if s := hooks["central-pre"].Service; s != "herald-dispatcher" {
		t.Errorf("central-pre span from %q, want herald-dispatcher", s)
	}
	var post bool
	for _, s := range rcv.Named(tracing.SpanEventStored) {
		if s.Attrs[tracing.AttrEventType] == "call.post" && s.TraceID == ciTrace && s.ParentSpanID == call.SpanID {
			post = true
		}
	}
	if !post {
		t.Errorf("no stored span of call.post under the call span: %+v", rcv.Named(tracing.SpanEventStored))
	}
	// The post hook's outcome carries the call's trace id.
	outs.waitCount(t, "central-post", "", 1)
	for _, o := range outs.Snapshot() {
		if o.Watch == "central-post" && o.TraceID != ciTrace {
			t.Errorf("central-post outcome trace_id %q, want %s", o.TraceID, ciTrace)
		}
	}
}
