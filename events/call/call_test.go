package call_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
)

func TestParseJob(t *testing.T) {
	j, err := call.ParseJob("west/www-data/prod/hello")
	if err != nil || j != (call.Job{Cluster: "west", Role: "www-data", Env: "prod", Name: "hello"}) || j.String() != "west/www-data/prod/hello" {
		t.Fatalf("ParseJob = %+v, %v", j, err)
	}
	for _, bad := range []string{"", "a/b/c", "a/b/c/d/e", "a//c/d", "/b/c/d", "a/b/c/", "a/b/c/d\n", "a/b\x00/c/d"} {
		if _, err := call.ParseJob(bad); !errors.Is(err, call.ErrInvalidCall) {
			t.Errorf("ParseJob(%q) = %v, want ErrInvalidCall", bad, err)
		}
	}
}

func TestCall_Validate(t *testing.T) {
	zero := 0
	ok := call.Call{Method: "create_job", Job: "a/b/c/d", Phase: call.PhasePre, Args: map[string]string{"shards": "0-3"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*call.Call){
		"bad method":          func(c *call.Call) { c.Method = "create job" },
		"bad job":             func(c *call.Call) { c.Job = "a/b" },
		"bad arg":             func(c *call.Call) { c.Args = map[string]string{"1x": "y"} },
		"bad phase":           func(c *call.Call) { c.Phase = "generic" },
		"post without result": func(c *call.Call) { c.Phase = call.PhasePost },
		"skip without reason": func(c *call.Call) { c.SkipHooks = []string{"a"} },
	} {
		c := ok
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, call.ErrInvalidCall) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
	post := ok
	post.Phase, post.Result = call.PhasePost, &call.Result{ExitCode: &zero}
	if err := post.Validate(); err != nil || !post.Result.OK() {
		t.Fatalf("post: %v ok=%v", err, post.Result.OK())
	}
	one := 1
	for _, r := range []*call.Result{nil, {ExitCode: &one}, {Signal: "SIGKILL"}, {Error: "not found"}} {
		if r.OK() {
			t.Errorf("%+v is OK", r)
		}
	}
}

func TestCall_Skips(t *testing.T) {
	c := call.Call{SkipHooks: []string{"a", "b"}}
	if !c.Skips("a") || c.Skips("c") || c.SkipsAll() {
		t.Fatal("named skips")
	}
	c.SkipHooks = []string{call.SkipAll}
	if !c.Skips("anything") || !c.SkipsAll() {
		t.Fatal("skip all")
	}
}

func TestCall_Env(t *testing.T) {
	code := 2
	c := call.Call{ID: "id-1", Method: "restart", Job: "west/www/prod/hello", User: "alice", Host: "laptop", Caller: "ci-deployer",
		Args:   map[string]string{"shards": "0-3", "health_check_interval_seconds": "3"},
		Result: &call.Result{ExitCode: &code, DurationMS: 812.4}}
	env := c.Env(call.PhaseErr)
	for k, want := range map[string]string{
		"HERALD_CALL_ID": "id-1", "HERALD_METHOD": "restart", "HERALD_JOB": "west/www/prod/hello",
		"HERALD_CLUSTER": "west", "HERALD_ROLE": "www", "HERALD_ENV": "prod", "HERALD_JOB_NAME": "hello",
		"HERALD_PHASE": "err", "HERALD_CALLER_USER": "alice", "HERALD_CALLER_HOST": "laptop", "HERALD_CALLER_IDENTITY": "ci-deployer",
		"HERALD_ARG_SHARDS": "0-3", "HERALD_ARG_HEALTH_CHECK_INTERVAL_SECONDS": "3",
		"HERALD_EXIT_CODE": "2", "HERALD_DURATION_MS": "812",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
}

func TestResultEvent(t *testing.T) {
	zero, one := 0, 1
	c := call.Call{ID: "id-1", Method: "kill_job", Job: "a/b/c/d", Phase: call.PhasePost, Result: &call.Result{ExitCode: &zero}}
	ev, err := call.ResultEvent("herald://cli/h", c)
	if err != nil || ev.Type != call.TypePost || ev.Key != "a/b/c/d" || ev.DataContentType != "application/json" {
		t.Fatalf("event %+v, %v", ev, err)
	}
	if ev.Subject() != events.EventPrefix+".call.post.:a./b./c./d" {
		t.Fatalf("subject %q", ev.Subject())
	}
	var back call.Call
	if err := json.Unmarshal(ev.Data, &back); err != nil || back.ID != "id-1" || *back.Result.ExitCode != 0 {
		t.Fatalf("data %s: %v", ev.Data, err)
	}
	c.Phase, c.Result = call.PhaseErr, &call.Result{ExitCode: &one}
	if ev, _ := call.ResultEvent("s", c); ev.Type != call.TypeErr {
		t.Fatalf("err type %q", ev.Type)
	}
}

func TestSubjectsAndKeys(t *testing.T) {
	if s := call.PreSubject("create_job"); s != "herald.call.pre.create_job" {
		t.Fatalf("PreSubject = %q", s)
	}
	if s := call.AgentHookSubject("web-1.example.com"); strings.Count(s, ".") != 2 {
		t.Fatalf("AgentHookSubject = %q: the agent name must be one token", s)
	}
	if k := call.StatusKey("disp 1.example.com"); k != "disp_1_example_com" {
		t.Fatalf("StatusKey = %q", k)
	}
}

// TestPreSubjects: a caller with an identity sends its pre request on
// herald.call.pre.<method>.<caller>, or on herald.call.skip.<method>.<caller>
// when it asks to skip hooks; the dispatcher reads method, caller and which
// of the two back from the subject.
func TestPreSubjects(t *testing.T) {
	for _, tc := range []struct {
		subject, method, caller string
		skip                    bool
	}{
		{call.PreSubject("create_job"), "create_job", "", false},
		{call.CallerPreSubject("create_job", "ci-1", false), "create_job", "ci-1", false},
		{call.CallerPreSubject("a.b", "ci-1", true), "a.b", "ci-1", true},
	} {
		m, c, skip, err := call.ParsePreSubject(tc.subject)
		if err != nil || m != tc.method || c != tc.caller || skip != tc.skip {
			t.Errorf("ParsePreSubject(%q) = %q, %q, %v, %v", tc.subject, m, c, skip, err)
		}
	}
	if s := call.CallerPreSubject("create_job", "ci-1", true); s != "herald.call.skip.create_job.ci-1" {
		t.Errorf("CallerPreSubject skip = %q", s)
	}
	for _, bad := range []string{"herald.call.skip.create_job", "herald.call.pre.a.b.c", "herald.other.x", "herald.call.pre.create_job."} {
		if _, _, _, err := call.ParsePreSubject(bad); !errors.Is(err, call.ErrInvalidCall) {
			t.Errorf("ParsePreSubject(%q) = %v, want ErrInvalidCall", bad, err)
		}
	}
}

func TestVerdict_DenialText(t *testing.T) {
	code := 1
	v := call.Verdict{Denied: []call.HookVerdict{
		{Hook: "ci", Status: "failed", Reason: "build 41\nfailed tests", ExitCode: &code},
		{Hook: "drain", Agent: "web-2", Status: call.StatusNoReply},
	}}
	want := "  ci (failed): build 41\n    failed tests\n  drain on web-2 (no_reply): (no reason given)\n"
	if got := v.DenialText(); got != want {
		t.Fatalf("DenialText:\n%q\nwant\n%q", got, want)
	}
}

// A deploy's nested config reaches a hook's stdin as JSON; a call of an
// earlier version (args only) still decodes, and an earlier reader that
// knows only args keeps them.
func TestCall_ConfigOnTheWire(t *testing.T) {
	c := call.Call{ID: "1", Method: "create_job", Job: "bb/cbe/prod/eightball", Phase: call.PhasePre,
		Args:        map[string]string{"githash": "abc", "cpu": "1.5"},
		Config:      map[string]any{"cpu": 1.5, "taskargs": map[string]any{"workers": 34}},
		JobMismatch: []string{"bb/cbe/devel/eightball"}}
	ev, err := c.Event(call.PhasePre)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(ev.Data, &got); err != nil {
		t.Fatal(err)
	}
	if w := got["config"].(map[string]any)["taskargs"].(map[string]any)["workers"]; w != float64(34) {
		t.Fatalf("config.taskargs.workers on stdin = %v in %s", w, ev.Data)
	}
	if m := got["job_mismatch"].([]any); len(m) != 1 || m[0] != "bb/cbe/devel/eightball" {
		t.Fatalf("job_mismatch = %v", got["job_mismatch"])
	}
	var old struct {
		Args map[string]string `json:"args"`
	}
	if err := json.Unmarshal(ev.Data, &old); err != nil || old.Args["githash"] != "abc" {
		t.Fatalf("an args-only reader: %+v %v", old, err)
	}
	var back call.Call
	if err := json.Unmarshal([]byte(`{"id":"2","method":"kill_job","job":"a/b/c/d","args":{"shards":"0-3"},"phase":"pre"}`), &back); err != nil || back.Config != nil || back.Args["shards"] != "0-3" {
		t.Fatalf("an earlier call: %+v %v", back, err)
	}
	if env := c.Env(call.PhasePre); env["HERALD_ARG_CPU"] != "1.5" || env["HERALD_ARG_GITHASH"] != "abc" {
		t.Fatalf("env %v", env)
	}
}
