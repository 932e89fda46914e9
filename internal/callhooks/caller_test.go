package callhooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/callhooks"
)

// preOn sends c as a pre request on subject.
func (e *env) preOn(subject string, c call.Call) call.Verdict {
	e.t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := e.nc.Request(subject, data, 2*wait)
	if err != nil {
		e.t.Fatalf("call.pre request on %s: %v", subject, err)
	}
	var v call.Verdict
	if err := json.Unmarshal(m.Data, &v); err != nil {
		e.t.Fatalf("verdict %s: %v", m.Data, err)
	}
	return v
}

// callerEngine runs an engine whose one pre hook records the caller it
// sees on stdin and in HERALD_CALLER_IDENTITY.
func callerEngine(t *testing.T, requireCaller bool) (*env, string) {
	t.Helper()
	dir, out := t.TempDir(), t.TempDir()
	rec := script(t, out, "rec.sh", `cat > "$OUT/stdin.$HERALD_CALL_ID"; echo "$HERALD_CALLER_IDENTITY $HERALD_CALLER_USER" > "$OUT/env.$HERALD_CALL_ID"`)
	writeFile(t, dir, "hooks.yaml", fmt.Sprintf(`
hooks:
  - {name: gate, phase: pre, methods: ["*"], exec: [%q], env: {OUT: %q}}
`, rec, out))
	return startEngine(t, callhooks.Config{Dir: dir, RequireCaller: requireCaller}, nil), out
}

// TestEngine_Caller_FromSubject: the caller is the last token of the pre
// subject (which NATS permissions reserve to that identity), whatever the
// body says; the claimed OS user stays a separate field. Hooks see it on
// stdin and as HERALD_CALLER_IDENTITY; a skip's audit record names it.
func TestEngine_Caller_FromSubject(t *testing.T) {
	t.Parallel()
	e, out := callerEngine(t, true)
	c := newCall("create_job", "c/r/prod/web")
	c.ID, c.Caller = "call-1", "someone-else"
	if v := e.preOn(call.CallerPreSubject("create_job", "ci-1", false), c); !v.Allow || v.Error != "" {
		t.Fatalf("verdict %+v", v)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "env.call-1")); strings.TrimSpace(string(got)) != "ci-1 alice" {
		t.Fatalf("hook env: HERALD_CALLER_IDENTITY HERALD_CALLER_USER = %q, want \"ci-1 alice\"", got)
	}
	var seen call.Call
	data, _ := os.ReadFile(filepath.Join(out, "stdin.call-1"))
	if err := json.Unmarshal(data, &seen); err != nil || seen.Caller != "ci-1" || seen.User != "alice" {
		t.Fatalf("hook stdin %s (%v): want caller ci-1, user alice", data, err)
	}

	// skip_hooks on the skip subject: allowed, audited with the caller.
	c.ID, c.Caller, c.SkipHooks, c.Reason = "call-2", "", []string{call.SkipAll}, "hotfix INC-7"
	if v := e.preOn(call.CallerPreSubject("create_job", "deployer-1", true), c); !v.Allow || len(v.Skipped) != 1 {
		t.Fatalf("skip verdict %+v", v)
	}
	stored := e.storedEvents(call.TypeHooksSkipped)
	if len(stored) != 1 {
		t.Fatalf("%d call.hooks_skipped events, want 1", len(stored))
	}
	var rec call.HooksSkipped
	if err := json.Unmarshal(stored[0].Data, &rec); err != nil || rec.Caller != "deployer-1" || rec.User != "alice" || rec.CallID != "call-2" {
		t.Fatalf("audit record %s (%v): want caller deployer-1, user alice", stored[0].Data, err)
	}
}

// TestEngine_Caller_Required: with RequireCaller (the dispatcher's --auth)
// a pre request without a caller token is refused, and so is skip_hooks
// on the pre subject (the skip subject is for identities with the right);
// nothing runs and nothing is audited. The legitimate calls still pass.
func TestEngine_Caller_Required(t *testing.T) {
	t.Parallel()
	e, out := callerEngine(t, true)
	c := newCall("create_job", "c/r/prod/web")
	c.ID, c.Caller = "anon", "ci-1" // a body's caller is no identity
	v := e.preOn(call.PreSubject("create_job"), c)
	if v.Allow || !strings.Contains(v.Error, "this dispatcher runs with --auth: a call needs an identity") {
		t.Fatalf("call without a caller: %+v", v)
	}
	c.ID, c.SkipHooks, c.Reason = "skip-on-pre", []string{call.SkipAll}, "I say so"
	v = e.preOn(call.CallerPreSubject("create_job", "ci-1", false), c)
	if v.Allow || !strings.Contains(v.Error, `identity "ci-1" lacks the right to skip hooks`) || !strings.Contains(v.Error, "herald auth add-deployer NAME --may-skip-hooks") {
		t.Fatalf("skip on the pre subject: %+v", v)
	}
	for _, id := range []string{"anon", "skip-on-pre"} {
		if exists(filepath.Join(out, "env."+id)) {
			t.Fatalf("a hook ran for the refused call %s", id)
		}
	}
	if n := len(e.storedEvents(call.TypeHooksSkipped)); n != 0 {
		t.Fatalf("%d call.hooks_skipped events for refused calls", n)
	}
	c.ID, c.SkipHooks, c.Reason = "other-method", nil, ""
	if v := e.preOn(call.CallerPreSubject("restart", "ci-1", false), c); v.Allow || !strings.Contains(v.Error, `method: the request says "create_job", its subject "restart"`) {
		t.Fatalf("method differing from the subject's: %+v", v)
	}
	c.ID = "ok"
	if v := e.preOn(call.CallerPreSubject("create_job", "ci-1", false), c); !v.Allow {
		t.Fatalf("legitimate call: %+v", v)
	}
}

// TestEngine_Caller_NotRequired: without --auth, the old subject still
// works (no caller), skip_hooks on it too, and a body's caller is never
// trusted.
func TestEngine_Caller_NotRequired(t *testing.T) {
	t.Parallel()
	e, out := callerEngine(t, false)
	c := newCall("create_job", "c/r/prod/web")
	c.ID, c.Caller = "old", "forged"
	if v := e.preOn(call.PreSubject("create_job"), c); !v.Allow {
		t.Fatalf("verdict %+v", v)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "env.old")); strings.TrimSpace(string(got)) != "alice" {
		t.Fatalf("hook env %q: the body's caller reached the hook", got)
	}
	c.ID, c.SkipHooks, c.Reason = "old-skip", []string{call.SkipAll}, "legacy"
	if v := e.preOn(call.PreSubject("create_job"), c); !v.Allow || len(v.Skipped) != 1 {
		t.Fatalf("skip on the old subject: %+v", v)
	}
}

// TestEngine_Caller_HTTP: over HTTP the body's caller is never trusted;
// with RequireCaller, a pre request the HTTP layer did not authenticate is
// refused (403), and Pre grants no right to skip hooks, PreAs does.
func TestEngine_Caller_HTTP(t *testing.T) {
	t.Parallel()
	e, _ := callerEngine(t, true)
	mux := http.NewServeMux()
	e.eng.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	resp, err := http.Post(srv.URL+"/v1/calls/create_job/pre", "application/json", strings.NewReader(`{"job":"c/r/prod/web","user":"alice","caller":"ci-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v call.Verdict
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusForbidden || v.Allow || !strings.Contains(v.Error, "a call needs an identity") {
		t.Fatalf("HTTP pre with a body's caller: %d %+v %v", resp.StatusCode, v, err)
	}
	c := newCall("create_job", "c/r/prod/web")
	c.Caller, c.SkipHooks, c.Reason = "ci-1", []string{call.SkipAll}, "hotfix"
	if v := e.eng.Pre(context.Background(), c); v.Allow || !strings.Contains(v.Error, "lacks the right to skip hooks") {
		t.Fatalf("Pre with skip_hooks: %+v", v)
	}
	if v := e.eng.PreAs(context.Background(), c, true); !v.Allow || len(v.Skipped) != 1 {
		t.Fatalf("PreAs with the right: %+v", v)
	}
}
