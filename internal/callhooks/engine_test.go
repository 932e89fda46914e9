package callhooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/callhooks"
	"github.com/heraldhq/herald/internal/handlers"
	"github.com/heraldhq/herald/internal/testutil"
)

// TestEngine_Pre_EveryHookDecides proves that every pre hook is evaluated
// (in parallel) and that one denial denies the call, with each denying
// hook's stdout as its reason; a hook that crashes or cannot start denies.
func TestEngine_Pre_EveryHookDecides(t *testing.T) {
	t.Parallel()
	dir, bin := t.TempDir(), t.TempDir()
	ran := filepath.Join(bin, "allow-ran")
	script(t, bin, "allow.sh", `touch "$MARK"; echo fine`)
	script(t, bin, "deny.sh", `echo "CI has not passed build $HERALD_ARG_BUILD"; exit 1`)
	script(t, bin, "crash.sh", `kill -SEGV $$`)
	writeFile(t, dir, "hooks.yaml", fmt.Sprintf(`
hooks:
  - {name: a-allow, phase: pre, methods: [create_job], exec: [%[1]q], env: {MARK: %[2]q}}
  - {name: b-deny, phase: pre, methods: [create_job], exec: [%[3]q]}
  - {name: c-crash, phase: pre, methods: [create_job], exec: [%[4]q]}
  - {name: d-missing, phase: pre, methods: [create_job], exec: ["/nonexistent/check"]}
  - {name: e-other-method, phase: pre, methods: [kill_job], exec: "exit 1"}
`, filepath.Join(bin, "allow.sh"), ran, filepath.Join(bin, "deny.sh"), filepath.Join(bin, "crash.sh")))
	e := startEngine(t, callhooks.Config{Dir: dir}, nil)

	c := newCall("create_job", "west/www/prod/web")
	c.Args = map[string]string{"build": "41"}
	v := e.pre(c)
	if v.Allow {
		t.Fatalf("allowed: %+v", v)
	}
	if got := hookNames(v.Hooks); got != "a-allow,b-deny,c-crash,d-missing" {
		t.Fatalf("hooks evaluated: %s", got)
	}
	if !exists(ran) {
		t.Fatal("the allowing hook did not run: every hook must be evaluated")
	}
	if got := hookNames(v.Denied); got != "b-deny,c-crash,d-missing" {
		t.Fatalf("denied by %s", got)
	}
	if d := v.Denied[0]; d.Reason != "CI has not passed build 41" || d.Status != string(events.StatusFailed) || d.ExitCode == nil || *d.ExitCode != 1 {
		t.Fatalf("deny verdict %+v", d)
	}
	if d := v.Denied[1]; d.Signal != "SIGSEGV" || d.Status != string(events.StatusFailed) {
		t.Fatalf("crash verdict %+v", d)
	}
	if d := v.Denied[2]; d.Status != string(events.StatusError) || !strings.Contains(d.Reason, "could not start") {
		t.Fatalf("cannot-start verdict %+v", d)
	}
	if v.Hooks[0].Reason != "fine" || !v.Hooks[0].Allow {
		t.Fatalf("allow verdict %+v", v.Hooks[0])
	}
	if txt := v.DenialText(); !strings.Contains(txt, "b-deny (failed): CI has not passed build 41") {
		t.Fatalf("denial text:\n%s", txt)
	}

	// No matching hook: allowed.
	if v := e.pre(newCall("restart", "west/www/prod/web")); !v.Allow || len(v.Hooks) != 0 {
		t.Fatalf("restart: %+v", v)
	}
	// An invalid call is refused with the reason.
	if v := e.pre(newCall("create_job", "not-a-job")); v.Allow || !strings.Contains(v.Error, "CLUSTER/ROLE/ENV/NAME") {
		t.Fatalf("invalid job: %+v", v)
	}
}

func TestEngine_Pre_OnTimeout(t *testing.T) {
	t.Parallel()
	// The hooks write a ready file once they have printed; a timeout that
	// passed before that is tried again with a longer one.
	run := func(method string) (call.Verdict, time.Duration) {
		return testutil.UntilReady(t, func(timeout time.Duration) (call.Verdict, string, time.Time) {
			dir := t.TempDir()
			ready := filepath.Join(dir, "ready")
			writeFile(t, dir, "hooks.yaml", `
hooks:
  - {name: slow-deny, phase: pre, methods: [update_job], exec: 'echo waiting; `+testutil.ReadyLine(`"`+ready+`"`)+`; sleep 30', timeout: `+timeout.String()+`}
  - {name: slow-allow, phase: pre, methods: [restart], exec: '`+testutil.ReadyLine(`"`+ready+`"`)+`; sleep 30', timeout: `+timeout.String()+`, on_timeout: allow}
`)
			e := startEngine(t, callhooks.Config{Dir: dir}, nil)
			clock := time.Now()
			// A hook not cut at its timeout would exit 0 after 30s: status ok.
			return e.pre(newCall(method, "c/r/prod/web")), ready, clock
		})
	}
	v, timeout := run("update_job")
	if v.Allow || len(v.Denied) != 1 || v.Denied[0].Status != string(events.StatusTimeout) ||
		!strings.Contains(v.Denied[0].Reason, "timed out after "+timeout.String()+" (on_timeout: deny): waiting") {
		t.Fatalf("on_timeout deny: %+v", v)
	}
	v, _ = run("restart")
	if !v.Allow || len(v.Hooks) != 1 || v.Hooks[0].Status != string(events.StatusTimeout) {
		t.Fatalf("on_timeout allow: %+v", v)
	}
}

// TestEngine_Pre_CallReachesHook proves the call reaches the hook as JSON
// on stdin and HERALD_* variables, and never through a command line.
func TestEngine_Pre_CallReachesHook(t *testing.T) {
	t.Parallel()
	dir, out := t.TempDir(), t.TempDir()
	writeFile(t, dir, "hooks.yaml", fmt.Sprintf(`
hooks:
  - name: record
    phase: pre
    methods: ["*"]
    exec: 'cat > "$OUT/stdin"; env > "$OUT/env"'
    env: {OUT: %q}
`, out))
	e := startEngine(t, callhooks.Config{Dir: dir}, nil)
	c := newCall("create_job", "west/www-data/prod/hello")
	c.ID = "call-1"
	c.Args = map[string]string{"config": "$(touch " + out + "/pwned)", "shards": "0-3"}
	if v := e.pre(c); !v.Allow {
		t.Fatalf("denied: %+v", v)
	}
	var got call.Call
	data, err := os.ReadFile(filepath.Join(out, "stdin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("stdin %q: %v", data, err)
	}
	if got.ID != "call-1" || got.Method != "create_job" || got.Job != c.Job || got.Phase != "pre" || got.Args["config"] != c.Args["config"] || got.User != "alice" {
		t.Fatalf("stdin call %+v", got)
	}
	env, err := os.ReadFile(filepath.Join(out, "env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"HERALD_METHOD=create_job", "HERALD_JOB=west/www-data/prod/hello", "HERALD_CLUSTER=west",
		"HERALD_ROLE=www-data", "HERALD_ENV=prod", "HERALD_JOB_NAME=hello", "HERALD_PHASE=pre",
		"HERALD_ARG_SHARDS=0-3", "HERALD_CALL_ID=call-1", "HERALD_CALLER_USER=alice", "HERALD_WATCH=record",
	} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("environment lacks %s", want)
		}
	}
	if exists(filepath.Join(out, "pwned")) {
		t.Fatal("an argument was run by a shell")
	}
}

// TestEngine_Generic proves a generic hook stands in for every phase and
// method with no specific hook, and learns the phase from HERALD_PHASE.
func TestEngine_Generic(t *testing.T) {
	t.Parallel()
	dir, out := t.TempDir(), t.TempDir()
	writeFile(t, dir, "hooks.yaml", fmt.Sprintf(`
hooks:
  - name: generic-log
    phase: generic
    methods: ["*"]
    exec: 'echo "$HERALD_PHASE $HERALD_METHOD" >> "$OUT/log"; [ "$HERALD_PHASE" != pre ] || [ "$HERALD_METHOD" != kill_job ]'
    env: {OUT: %[1]q}
  - {name: pre-create, phase: pre, methods: [create_job], exec: 'echo specific >> "$OUT/log"', env: {OUT: %[1]q}}
`, out))
	e := startEngine(t, callhooks.Config{Dir: dir}, nil)
	outs := e.watchOutcomes()
	if v := e.pre(newCall("create_job", "c/r/prod/web")); !v.Allow || hookNames(v.Hooks) != "pre-create" {
		t.Fatalf("create_job: %+v", v)
	}
	v := e.pre(newCall("kill_job", "c/r/prod/web"))
	if v.Allow || hookNames(v.Denied) != "generic-log" || v.Denied[0].Phase != call.PhaseGeneric {
		t.Fatalf("kill_job: generic hook must stand in for pre and may deny: %+v", v)
	}
	c := newCall("create_job", "c/r/prod/web")
	c.ID, c.Phase = "c1", call.PhasePost
	code := 0
	c.Result = &call.Result{ExitCode: &code}
	e.report(c)
	got := outs.waitFor(t, 1)
	if o := got["generic-log"]; o.Status != events.StatusOK || o.EventType != call.TypePost || o.Host != "disp-1" {
		t.Fatalf("generic post outcome %+v", o)
	}
	lines := strings.Split(strings.TrimSpace(readFile(t, filepath.Join(out, "log"))), "\n")
	want := []string{"specific", "pre kill_job", "post create_job"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("runs %q, want %q", lines, want)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEngine_JobOptIn proves scope: job hooks run only for jobs whose
// jobs/NAME.yaml enabled hooks, with per-stage overrides, and that scope:
// global hooks always run.
func TestEngine_JobOptIn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "hooks.yaml", `
hooks:
  - {name: opted, phase: pre, methods: ["*"], scope: job, exec: "echo job-scoped; exit 1"}
  - {name: always, phase: pre, methods: ["*"], scope: global, exec: "true"}
`)
	writeFile(t, dir, "jobs/web.yaml", "enable_hooks: true\nstages:\n  devel: {enable_hooks: false}\n")
	writeFile(t, dir, "jobs/api.yaml", "enable_hooks: false\nstages:\n  prod: {enable_hooks: true}\n")
	e := startEngine(t, callhooks.Config{Dir: dir}, nil)
	for _, tc := range []struct {
		job   string
		hooks string
	}{
		{"c/r/prod/web", "always,opted"},
		{"c/r/staging/web", "always,opted"},
		{"c/r/devel/web", "always"},
		{"c/r/prod/api", "always,opted"},
		{"c/r/devel/api", "always"},
		{"c/r/prod/other", "always"},
	} {
		v := e.pre(newCall("update_job", tc.job))
		if got := hookNames(v.Hooks); got != tc.hooks || v.Allow != !strings.Contains(tc.hooks, "opted") {
			t.Errorf("%s: hooks %s allow %v, want %s", tc.job, got, v.Allow, tc.hooks)
		}
	}
	// Opting out later takes effect on reload.
	writeFile(t, dir, "jobs/web.yaml", "enable_hooks: false\n")
	testutil.Eventually(t, wait, func() error {
		if v := e.pre(newCall("update_job", "c/r/prod/web")); hookNames(v.Hooks) != "always" {
			return fmt.Errorf("hooks %s", hookNames(v.Hooks))
		}
		return nil
	})
}

// TestEngine_SkipHooks proves skipped hooks do not run, the skip needs a
// reason and is audited as a stored call.hooks_skipped event.
func TestEngine_SkipHooks(t *testing.T) {
	t.Parallel()
	dir, out := t.TempDir(), t.TempDir()
	writeFile(t, dir, "hooks.yaml", fmt.Sprintf(`
hooks:
  - {name: ci, phase: pre, methods: ["*"], exec: 'touch "$OUT/ci"; exit 1', env: {OUT: %[1]q}}
  - {name: freeze, phase: pre, methods: ["*"], exec: 'touch "$OUT/freeze"; exit 1', env: {OUT: %[1]q}}
  - {name: ok, phase: pre, methods: ["*"], exec: 'touch "$OUT/ok"', env: {OUT: %[1]q}}
  - {name: post-skipped, phase: post, methods: ["*"], exec: 'touch "$OUT/post-skipped"', env: {OUT: %[1]q}}
  - {name: post-run, phase: post, methods: ["*"], exec: 'touch "$OUT/post-run"', env: {OUT: %[1]q}}
`, out))
	e := startEngine(t, callhooks.Config{Dir: dir}, nil)
	outs := e.watchOutcomes()

	c := newCall("create_job", "c/r/prod/web")
	c.SkipHooks = []string{"ci"}
	if v := e.pre(c); v.Allow || !strings.Contains(v.Error, "reason") {
		t.Fatalf("skip without a reason: %+v", v)
	}
	if exists(filepath.Join(out, "ci")) || exists(filepath.Join(out, "ok")) {
		t.Fatal("hooks ran for a refused call")
	}
	c.ID, c.SkipHooks, c.Reason = "call-skip", []string{"ci", "freeze"}, "hotfix for INC-42"
	v := e.pre(c)
	if !v.Allow || strings.Join(v.Skipped, ",") != "ci,freeze" || hookNames(v.Hooks) != "ok" {
		t.Fatalf("skip ci,freeze: %+v", v)
	}
	if exists(filepath.Join(out, "ci")) || exists(filepath.Join(out, "freeze")) || !exists(filepath.Join(out, "ok")) {
		t.Fatal("the skipped hooks ran, or the other one did not")
	}
	c.ID, c.SkipHooks = "call-all", []string{call.SkipAll}
	if v := e.pre(c); !v.Allow || len(v.Hooks) != 0 || len(v.Skipped) != 3 {
		t.Fatalf("skip all: %+v", v)
	}
	stored := e.storedEvents(call.TypeHooksSkipped)
	if len(stored) != 2 {
		t.Fatalf("%d call.hooks_skipped events, want 2", len(stored))
	}
	var rec call.HooksSkipped
	if err := json.Unmarshal(stored[0].Data, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.CallID != "call-skip" || rec.User != "alice" || rec.Host != "laptop" || rec.Method != "create_job" ||
		rec.Job != "c/r/prod/web" || rec.Reason != "hotfix for INC-42" || strings.Join(rec.Skipped, ",") != "ci,freeze" ||
		rec.By != call.SkippedByCaller || rec.Dispatcher != "disp-1" || stored[0].Key != "c/r/prod/web" {
		t.Fatalf("audit record %+v (key %q)", rec, stored[0].Key)
	}
	// The skip holds for the call's post hooks too.
	zero := 0
	c.ID, c.Phase, c.SkipHooks = "call-skip", call.PhasePost, []string{"post-skipped"}
	c.Result = &call.Result{ExitCode: &zero}
	e.report(c)
	got := outs.waitFor(t, 1)
	if _, ok := got["post-run"]; !ok || len(got) != 1 {
		t.Fatalf("post outcomes %v", got)
	}
	if exists(filepath.Join(out, "post-skipped")) || !exists(filepath.Join(out, "post-run")) {
		t.Fatal("a skipped post hook ran, or the other did not")
	}
}

// TestEngine_HooksDisabled proves the dispatcher-wide switch allows every
// call without running hooks, audits each call and shows in the status.
func TestEngine_HooksDisabled(t *testing.T) {
	t.Parallel()
	dir, out := t.TempDir(), t.TempDir()
	writeFile(t, dir, "hooks.yaml", fmt.Sprintf(`
hooks:
  - {name: deny, phase: pre, methods: ["*"], exec: 'touch "$OUT/pre"; exit 1', env: {OUT: %[1]q}}
  - {name: post, phase: post, methods: ["*"], exec: 'touch "$OUT/post"', env: {OUT: %[1]q}}
`, out))
	e := startEngine(t, callhooks.Config{Dir: dir, Disabled: "scheduler migration, CHG-7"}, nil)
	v := e.pre(newCall("kill_job", "c/r/prod/web"))
	if !v.Allow || v.HooksDisabled != "scheduler migration, CHG-7" || strings.Join(v.Skipped, ",") != "deny" || len(v.Hooks) != 0 {
		t.Fatalf("verdict %+v", v)
	}
	c := newCall("kill_job", "c/r/prod/web")
	c.ID, c.Phase = v.CallID, call.PhasePost
	zero := 0
	c.Result = &call.Result{ExitCode: &zero}
	e.report(c)
	stored := e.storedEvents(call.TypeHooksSkipped)
	if len(stored) != 1 {
		t.Fatalf("%d audit events", len(stored))
	}
	var rec call.HooksSkipped
	_ = json.Unmarshal(stored[0].Data, &rec)
	if rec.By != call.SkippedByHooksDisabled || rec.Reason != "scheduler migration, CHG-7" || rec.CallID != v.CallID {
		t.Fatalf("audit %+v", rec)
	}
	testutil.Eventually(t, wait, func() error {
		if !strings.Contains(e.log.String(), "hooks disabled: post/err hooks not run") {
			return fmt.Errorf("post event not handled yet")
		}
		return nil
	})
	if exists(filepath.Join(out, "pre")) || exists(filepath.Join(out, "post")) {
		t.Fatal("a hook ran while hooks are disabled")
	}
	kv, err := e.js.KeyValue(t.Context(), call.StatusBucket)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := kv.Get(t.Context(), call.StatusKey("disp-1"))
	if err != nil {
		t.Fatal(err)
	}
	var hs call.HooksStatus
	if err := json.Unmarshal(entry.Value(), &hs); err != nil {
		t.Fatal(err)
	}
	if hs.HooksDisabled != "scheduler migration, CHG-7" || hs.Dispatcher != "disp-1" || strings.Join(hs.Hooks["pre"], ",") != "deny" {
		t.Fatalf("status %+v", hs)
	}
}

// TestEngine_PostXorErr proves call.post runs every matching post hook and
// no err hook, call.err the reverse, and that failing post and err hooks
// are recorded as outcomes.
func TestEngine_PostXorErr(t *testing.T) {
	t.Parallel()
	dir, out := t.TempDir(), t.TempDir()
	writeFile(t, dir, "hooks.yaml", fmt.Sprintf(`
hooks:
  - {name: post-a, phase: post, methods: [update_job], exec: 'cat > "$OUT/post-a"', env: {OUT: %[1]q}}
  - {name: post-b, phase: post, methods: ["*"], exec: 'touch "$OUT/post-b"; echo broken >&2; exit 7', env: {OUT: %[1]q}}
  - {name: err-a, phase: err, methods: ["*"], exec: 'echo "$HERALD_EXIT_CODE" > "$OUT/err-a"', env: {OUT: %[1]q}}
`, out))
	e := startEngine(t, callhooks.Config{Dir: dir}, nil)
	outs := e.watchOutcomes()

	zero := 0
	c := newCall("update_job", "c/r/prod/web")
	c.ID, c.Phase = "call-ok", call.PhasePost
	c.Result = &call.Result{ExitCode: &zero, Stdout: "updated", DurationMS: 12}
	ev := e.report(c)
	got := outs.waitFor(t, 2)
	if len(got) != 2 {
		t.Fatalf("outcomes %v", got)
	}
	if o := got["post-a"]; o.Status != events.StatusOK || o.EventID != ev.ID || o.Key != "c/r/prod/web" || o.Host != "disp-1" {
		t.Fatalf("post-a outcome %+v", o)
	}
	if o := got["post-b"]; o.Status != events.StatusFailed || o.ExitCode == nil || *o.ExitCode != 7 || o.Stderr != "broken\n" {
		t.Fatalf("post-b outcome %+v", o)
	}
	var posted call.Call
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, "post-a"))), &posted); err != nil || posted.Result == nil || posted.Result.Stdout != "updated" || posted.Phase != "post" {
		t.Fatalf("post-a stdin: %+v %v", posted, err)
	}
	if exists(filepath.Join(out, "err-a")) {
		t.Fatal("an err hook ran for call.post")
	}

	os.Remove(filepath.Join(out, "post-a"))
	os.Remove(filepath.Join(out, "post-b"))
	three := 3
	c.ID, c.Phase = "call-bad", call.PhaseErr
	c.Result = &call.Result{ExitCode: &three}
	e.report(c)
	got = outs.waitFor(t, 3)
	if o := got["err-a"]; o.Status != events.StatusOK || o.EventType != call.TypeErr {
		t.Fatalf("err-a outcome %+v", o)
	}
	if s := strings.TrimSpace(readFile(t, filepath.Join(out, "err-a"))); s != "3" {
		t.Fatalf("err hook saw HERALD_EXIT_CODE=%q", s)
	}
	if exists(filepath.Join(out, "post-a")) || exists(filepath.Join(out, "post-b")) {
		t.Fatal("a post hook ran for call.err")
	}
}

// TestEngine_HotReload proves a broken hook file keeps its previous
// version active and is reported, and that a fixed file takes effect.
func TestEngine_HotReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "hooks.yaml", `
hooks:
  - {name: gate, phase: pre, methods: ["*"], exec: "echo v1; exit 1"}
`)
	e := startEngine(t, callhooks.Config{Dir: dir}, nil)
	if v := e.pre(newCall("create_job", "c/r/e/n")); v.Allow || v.Denied[0].Reason != "v1" {
		t.Fatalf("v1: %+v", v)
	}
	// Broken: an unknown key. The previous version stays.
	writeFile(t, dir, "hooks.yaml", `
hooks:
  - {name: gate, phase: pre, methods: ["*"], exec: "true", on_timout: allow}
`)
	testutil.Eventually(t, wait, func() error {
		if len(e.eng.Current().Broken) == 0 {
			return fmt.Errorf("broken file not reported")
		}
		return nil
	})
	if b := e.eng.Current().Broken[filepath.Join(dir, "hooks.yaml")]; !strings.Contains(b, "hooks.yaml:3: hooks[0].on_timout: unknown field") {
		t.Fatalf("broken: %q", b)
	}
	if v := e.pre(newCall("create_job", "c/r/e/n")); v.Allow || v.Denied[0].Reason != "v1" {
		t.Fatalf("after a broken change the previous version must stay: %+v", v)
	}
	if !strings.Contains(e.log.String(), "its previous version stays active") {
		t.Fatal("the broken file was not logged")
	}
	// Fixed: the new version takes over.
	writeFile(t, dir, "hooks.yaml", `
hooks:
  - {name: gate, phase: pre, methods: ["*"], exec: "echo v2; exit 1"}
`)
	testutil.Eventually(t, wait, func() error {
		if v := e.pre(newCall("create_job", "c/r/e/n")); len(v.Denied) != 1 || v.Denied[0].Reason != "v2" {
			return fmt.Errorf("verdict %+v", v)
		}
		return nil
	})
	if len(e.eng.Current().Broken) != 0 {
		t.Fatalf("still broken: %v", e.eng.Current().Broken)
	}
	// Removed: no hooks.
	if err := os.Remove(filepath.Join(dir, "hooks.yaml")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() error {
		if v := e.pre(newCall("create_job", "c/r/e/n")); !v.Allow {
			return fmt.Errorf("verdict %+v", v)
		}
		return nil
	})
}

// TestEngine_HTTP proves the HTTP endpoints: pre answers the verdict (200
// allowed, 403 denied), post and err store call.post and call.err whose
// hooks then run.
func TestEngine_HTTP(t *testing.T) {
	t.Parallel()
	dir, out := t.TempDir(), t.TempDir()
	writeFile(t, dir, "hooks.yaml", fmt.Sprintf(`
hooks:
  - {name: prod-gate, phase: pre, methods: [create_job], jobs: ["*/*/prod/*"], exec: "echo frozen; exit 1"}
  - {name: on-err, phase: err, methods: ["*"], exec: 'cat > "$OUT/err"', env: {OUT: %q}}
`, out))
	e := startEngine(t, callhooks.Config{Dir: dir}, nil)
	mux := http.NewServeMux()
	e.eng.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post("/v1/calls/create_job/pre", `{"job":"c/r/prod/web","user":"ci"}`)
	var v call.Verdict
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != http.StatusForbidden || v.Allow || hookNames(v.Denied) != "prod-gate" || v.Denied[0].Reason != "frozen" {
		t.Fatalf("pre prod: %d %s", code, body)
	}
	code, body = post("/v1/calls/create_job/pre", `{"job":"c/r/devel/web"}`)
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != http.StatusOK || !v.Allow || v.CallID == "" {
		t.Fatalf("pre devel: %d %s", code, body)
	}
	for _, bad := range []string{`{"job":"x"}`, `{"job":"c/r/e/n","bogus":1}`, `{"job":"c/r/e/n","method":"kill_job"}`, `[`} {
		if code, body := post("/v1/calls/create_job/pre", bad); code != http.StatusBadRequest {
			t.Errorf("pre %s: %d %s", bad, code, body)
		}
	}
	if code, body := post("/v1/calls/create_job/err", `{"id":"c9","job":"c/r/devel/web"}`); code != http.StatusBadRequest || !strings.Contains(body, "result") {
		t.Fatalf("err without a result: %d %s", code, body)
	}
	code, body = post("/v1/calls/create_job/err", `{"id":"c9","job":"c/r/devel/web","result":{"exit_code":2,"stderr":"boom"}}`)
	var rep struct {
		ID     string `json:"id"`
		CallID string `json:"call_id"`
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil || code != http.StatusAccepted || rep.ID == "" || rep.CallID != "c9" {
		t.Fatalf("err: %d %s", code, body)
	}
	testutil.Eventually(t, wait, func() error {
		b, err := os.ReadFile(filepath.Join(out, "err"))
		if err != nil || len(b) == 0 {
			return fmt.Errorf("err hook has not run")
		}
		var c call.Call
		if err := json.Unmarshal(b, &c); err != nil {
			return err
		}
		if c.ID != "c9" || c.Phase != "err" || c.Result.Stderr != "boom" {
			return fmt.Errorf("err hook got %+v", c)
		}
		return nil
	})
	code, body = post("/v1/calls/create_job/post", `{"id":"c8","job":"c/r/devel/web","result":{"exit_code":0}}`)
	if code != http.StatusAccepted {
		t.Fatalf("post: %d %s", code, body)
	}
	if got := e.storedEvents(call.TypePost); len(got) != 1 || got[0].Key != "c/r/devel/web" {
		t.Fatalf("stored call.post events: %+v", got)
	}
}

// TestEngine_HTTPHook proves an http: hook allows on 2xx and denies with
// the response body otherwise.
func TestEngine_HTTPHook(t *testing.T) {
	t.Parallel()
	ci := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c call.Call
		_ = json.NewDecoder(r.Body).Decode(&c)
		if c.Args["build"] != "42" {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, "build %s did not pass CI", c.Args["build"])
			return
		}
		fmt.Fprint(w, "green")
	}))
	t.Cleanup(ci.Close)
	dir := t.TempDir()
	writeFile(t, dir, "hooks.yaml", fmt.Sprintf(`
hooks:
  - {name: ci-green, phase: pre, methods: [create_job, update_job], jobs: ["*/*/prod/*"], http: %q, timeout: 5s}
`, ci.URL+"/check"))
	e := startEngine(t, callhooks.Config{Dir: dir}, nil)
	c := newCall("update_job", "c/r/prod/web")
	c.Args = map[string]string{"build": "41"}
	if v := e.pre(c); v.Allow || v.Denied[0].Reason != "build 41 did not pass CI" {
		t.Fatalf("build 41: %+v", v)
	}
	c.Args["build"] = "42"
	if v := e.pre(c); !v.Allow || v.Hooks[0].Reason != "green" {
		t.Fatalf("build 42: %+v", v)
	}
}

// sink records what the engine hands to the outcome handlers.
type sink struct {
	mu    sync.Mutex
	calls [][]handlers.Handler
}

func (s *sink) SetHandlers(hs []handlers.Handler) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, hs)
	return nil
}

func (s *sink) last() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) == 0 {
		return 0, nil
	}
	var names []string
	for _, h := range s.calls[len(s.calls)-1] {
		names = append(names, h.Name)
	}
	return len(s.calls), names
}

// TestEngine_HandlersHandedOver proves the handlers: lists of every hook
// file reach the outcome handlers at start and on reload, and that a
// broken file does not take its handlers away.
func TestEngine_HandlersHandedOver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", `
handlers:
  - {name: page, match: {watch: git-pull, status: [failed]}, exec: "notify"}
`)
	writeFile(t, dir, "b.yaml", `
hooks:
  - {name: gate, phase: pre, methods: ["*"], exec: "true"}
handlers:
  - {name: summary, match: {watch: git-pull}, when: all_reported, exec: "record"}
`)
	s := &sink{}
	e := startEngine(t, callhooks.Config{Dir: dir}, s)
	if n, names := s.last(); n != 1 || strings.Join(names, ",") != "page,summary" {
		t.Fatalf("at start: %d calls, last %v", n, names)
	}
	writeFile(t, dir, "a.yaml", "handlers:\n  - {name: page, match: {wach: x}, exec: notify}\n")
	testutil.Eventually(t, wait, func() error {
		if len(e.eng.Current().Broken) == 0 {
			return fmt.Errorf("not reloaded yet")
		}
		return nil
	})
	if n, names := s.last(); n != 1 || strings.Join(names, ",") != "page,summary" {
		t.Fatalf("after a broken change: %d calls, last %v", n, names)
	}
	writeFile(t, dir, "a.yaml", "handlers: []\n")
	testutil.Eventually(t, wait, func() error {
		if n, names := s.last(); n != 2 || strings.Join(names, ",") != "summary" {
			return fmt.Errorf("%d calls, last %v", n, names)
		}
		return nil
	})
}

// TestEngine_PostConsumerDeleted: the call.post/call.err consumer deleted
// on the server is set up again, and post hooks go on running.
func TestEngine_PostConsumerDeleted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "hooks.yaml", `
hooks:
  - {name: post-a, phase: post, methods: ["*"], exec: "true"}
`)
	e := startEngine(t, callhooks.Config{Dir: dir}, nil)
	outs := e.watchOutcomes()
	zero := 0
	c := newCall("update_job", "c/r/prod/web")
	c.ID, c.Phase, c.Result = "call-1", call.PhasePost, &call.Result{ExitCode: &zero}
	e.report(c)
	outs.waitFor(t, 1)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.js.DeleteConsumer(ctx, events.EventsStream, callhooks.DefaultDurable); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() error {
		if !strings.Contains(e.log.String(), "consumer deleted on the server; setting it up again") {
			return fmt.Errorf("the loss is not logged yet")
		}
		_, err := e.js.Consumer(ctx, events.EventsStream, callhooks.DefaultDurable)
		return err
	})
	c.ID = "call-2"
	ev := e.report(c)
	testutil.Eventually(t, wait, func() error {
		for _, o := range outs.Snapshot() {
			if o.EventID == ev.ID && o.Status == events.StatusOK {
				return nil
			}
		}
		return fmt.Errorf("no ok outcome of post-a for %s yet", ev.ID)
	})
}
