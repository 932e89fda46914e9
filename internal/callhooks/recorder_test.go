package callhooks_test

import (
	"context"
	"sync"
	"testing"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/callhooks"
)

// TestEngine_RecordsEveryVerdict: the recorder (the web console's) is told
// each pre verdict, whether the call came over NATS or through Pre (the
// HTTP API), was refused before any hook ran, or was denied by a hook.
func TestEngine_RecordsEveryVerdict(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "hooks.yaml", `
hooks:
  - {name: freeze, phase: pre, methods: [update_job], exec: 'echo "change freeze"; exit 1'}
`)
	e := startEngine(t, callhooks.Config{Dir: dir, RequireCaller: true}, nil)
	var mu sync.Mutex
	type rec struct {
		method, caller string
		v              call.Verdict
	}
	var got []rec
	e.eng.SetVerdictRecorder(func(c call.Call, method string, v call.Verdict) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, rec{method, c.Caller, v})
	})
	// Over NATS without an identity: refused before any hook.
	if v := e.pre(newCall("update_job", "west/www/prod/web")); v.Allow || v.Error == "" {
		t.Fatalf("a call without a caller: %+v, want refused", v)
	}
	// Through Pre, with the identity the HTTP API authenticated: denied.
	c := newCall("update_job", "west/www/prod/web")
	c.Caller = "dep"
	if v := e.eng.Pre(context.Background(), c); v.Allow || len(v.Denied) != 1 {
		t.Fatalf("Pre: %+v, want denied by freeze", v)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("recorded %d verdicts, want 2: %+v", len(got), got)
	}
	if r := got[0]; r.method != "update_job" || r.v.Error == "" {
		t.Errorf("first record %+v, want the refusal of update_job", r)
	}
	if r := got[1]; r.caller != "dep" || len(r.v.Denied) != 1 || r.v.Denied[0].Reason != "change freeze" {
		t.Errorf("second record %+v, want dep's call denied by freeze with its reason", r)
	}
}
