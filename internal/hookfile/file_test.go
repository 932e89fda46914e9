package hookfile_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/hookfile"
)

func TestParse_Defaults(t *testing.T) {
	f, err := hookfile.Parse("h.yaml", []byte(`
hooks:
  - name: prod-needs-green-ci
    phase: pre
    methods: [create_job, update_job]
    jobs: ["*/*/prod/*"]
    exec: "check-ci-passed"
    timeout: 10s
  - name: notify
    phase: post
    methods: ["*"]
    run: {agents: ["web-*", "db-1"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Hooks) != 2 {
		t.Fatalf("%d hooks", len(f.Hooks))
	}
	h := f.Hooks[0]
	if h.OnTimeout != hookfile.OnTimeoutDeny || h.Scope != hookfile.ScopeGlobal || !h.Run.Central() || h.HookTimeout() != 10*time.Second {
		t.Fatalf("defaults: on_timeout %q scope %q run %v timeout %v", h.OnTimeout, h.Scope, h.Run, h.HookTimeout())
	}
	if h.Line != 3 || h.File != "h.yaml" {
		t.Fatalf("located at %s:%d", h.File, h.Line)
	}
	for job, want := range map[string]bool{"c/r/prod/web": true, "c/r/devel/web": false, "c/prod/x/y": false} {
		if got := h.MatchesJob(job); got != want {
			t.Errorf("MatchesJob(%q) = %v", job, got)
		}
	}
	if !h.MatchesMethod("update_job") || h.MatchesMethod("kill_job") {
		t.Error("methods do not match as listed")
	}
	n := f.Hooks[1]
	if n.Run.Central() || strings.Join(n.Run.Agents, ",") != "web-*,db-1" || n.HookTimeout() != hookfile.DefaultTimeout {
		t.Fatalf("run %v timeout %v", n.Run, n.HookTimeout())
	}
	if !n.MatchesJob("any/role/env/name") || !n.MatchesMethod("restart") {
		t.Error("absent jobs and methods [*] must match everything")
	}
}

// TestParse_Errors proves that every problem is reported with the file,
// the line and the field.
func TestParse_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown key", `
hooks:
  - name: a
    phase: pre
    methods: ["*"]
    exec: "true"
    on_timout: allow
`, []string{"h.yaml:7: hooks[0].on_timout: unknown field"}},
		{"unknown top-level key", `
hook:
  - name: a
`, []string{"h.yaml:2: hook: unknown key (want hooks or handlers)"}},
		{"bad phase and missing methods", `
hooks:
  - name: a
    phase: before
    exec: "true"
`, []string{"h.yaml:4: hooks[0].phase:", "h.yaml:3: hooks[0].methods: required"}},
		{"bad on_timeout and scope", `
hooks:
  - name: a
    phase: pre
    methods: ["*"]
    exec: "true"
    on_timeout: maybe
    scope: team
`, []string{"h.yaml:7: hooks[0].on_timeout:", "h.yaml:8: hooks[0].scope:"}},
		{"on_timeout on a post hook", `
hooks:
  - name: a
    phase: post
    methods: ["*"]
    exec: "true"
    on_timeout: allow
`, []string{"h.yaml:7: hooks[0].on_timeout: only applies to pre and generic"}},
		{"run agents with exec and env (issue 10: no command on the wire)", `
hooks:
  - name: drain
    phase: pre
    methods: ["*"]
    exec: ["/bin/sh", "-c", "id"]
    env: {TOKEN: s3cret-value}
    run: {agents: ["web-*"]}
`, []string{"h.yaml:6: hooks[0].exec: a run: agents hook runs the agents' own call hook of that name: define exec under call_hooks: drain: in each agent's config",
			"h.yaml:7: hooks[0].env: a run: agents hook takes no env"}},
		{"run agents with http", `
hooks:
  - {name: a, phase: pre, methods: ["*"], http: "http://ci/check", run: {agents: [x]}}
`, []string{"h.yaml:3: hooks[0].http: a run: agents hook runs the agents' own call_hooks: entry"}},
		{"run agents without a list", `
hooks:
  - name: a
    phase: pre
    methods: ["*"]
    exec: "true"
    run: agents
`, []string{"h.yaml:7: hooks[0].run:"}},
		{"jobs glob with three parts", `
hooks:
  - name: a
    phase: pre
    methods: ["*"]
    jobs: ["*/prod/*"]
    exec: "true"
`, []string{"h.yaml:6: hooks[0].jobs:", "3 parts"}},
		{"exec and http", `
hooks:
  - name: a
    phase: pre
    methods: ["*"]
    exec: "true"
    http: "http://ci/check"
`, []string{"h.yaml:7: hooks[0].http: exec and http are exclusive"}},
		{"no action", `
hooks:
  - name: a
    phase: pre
    methods: ["*"]
`, []string{"h.yaml:3: hooks[0].exec: one of exec or http is required"}},
		{"bad http url", `
hooks:
  - name: a
    phase: pre
    methods: ["*"]
    http: "ftp://ci/check"
`, []string{"h.yaml:6: hooks[0].http:"}},
		{"duplicate names", `
hooks:
  - {name: a, phase: pre, methods: ["*"], exec: "true"}
  - {name: a, phase: post, methods: ["*"], exec: "true"}
`, []string{`h.yaml:4: hooks[1].name: duplicate hook name "a" (also at line 3)`}},
		{"reserved name", `
hooks:
  - {name: all, phase: pre, methods: ["*"], exec: "true"}
`, []string{`hooks[0].name: "all" is reserved`}},
		{"HERALD_ env", `
hooks:
  - name: a
    phase: pre
    methods: ["*"]
    exec: "true"
    env: {HERALD_JOB: x}
`, []string{"h.yaml:7: hooks[0].env:"}},
		{"env not a mapping", `
hooks:
  - name: a
    phase: pre
    methods: ["*"]
    exec: "true"
    env: "TOKEN=s3cret-value"
`, []string{"h.yaml:7: hooks[0].env: cannot unmarshal !!str (value hidden) into map[string]string"}},
		{"env value with a NUL", "hooks:\n  - {name: a, phase: pre, methods: [\"*\"], exec: \"true\", env: {TOKEN: \"s3cret\\0\"}}\n",
			[]string{`h.yaml:2: hooks[0].env: value of "TOKEN" contains a NUL byte`}},
		{"handler env not a mapping", `
handlers:
  - {name: page, exec: notify, env: "s3cret-value"}
`, []string{"h.yaml:3: handlers[0].env:"}},
		{"wrong type", `
hooks:
  - name: a
    phase: pre
    methods: create_job
    exec: "true"
`, []string{"h.yaml:5: hooks[0].methods:"}},
		{"syntax error", "hooks:\n  - name: [\n", []string{"h.yaml:"}},
		{"handler unknown key", `
handlers:
  - name: page
    match: {watch: git-pull, hots: "*"}
    exec: notify
`, []string{"h.yaml:4: handlers[0].match.hots: unknown field"}},
		{"handler invalid", `
handlers:
  - name: page
    match: {watch: git-pull, status: [broken]}
    exec: notify
`, []string{"h.yaml:4: handlers[0].match.status:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hookfile.Parse("h.yaml", []byte(tc.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, hookfile.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain %q", err, w)
				}
			}
			// Errors about a file never quote a value under env: (issue 10).
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error quotes an env value:\n%v", err)
			}
		})
	}
}

func TestParse_Handlers(t *testing.T) {
	f, err := hookfile.Parse("h.yaml", []byte(`
hooks: []
handlers:
  - name: page-on-failure
    match: {watch: "git-pull", host: "*", status: [failed, timeout]}
    exec: "notify-oncall"
  - name: rollout-summary
    match: {watch: "git-pull"}
    when: all_reported
    exec: "record-rollout"
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Handlers) != 2 || f.Handlers[0].Name != "page-on-failure" || f.Handlers[1].When != "all_reported" {
		t.Fatalf("handlers %+v", f.Handlers)
	}
	if f.Handlers[0].File != "h.yaml" || f.Handlers[0].Line != 4 || strings.Join(f.Handlers[0].Match.Status, ",") != "failed,timeout" {
		t.Fatalf("handler 0: %+v", f.Handlers[0])
	}
}

func TestParseJobFile(t *testing.T) {
	j, err := hookfile.ParseJobFile("jobs/web.yaml", []byte(`
enable_hooks: false
stages:
  prod: {enable_hooks: true}
  staging: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	if j.Name != "web" {
		t.Fatalf("name %q", j.Name)
	}
	for env, want := range map[string]bool{"prod": true, "staging": false, "devel": false} {
		if got := j.Enabled(env); got != want {
			t.Errorf("Enabled(%q) = %v, want %v", env, got, want)
		}
	}
	j, err = hookfile.ParseJobFile("jobs/api.yml", []byte("enable_hooks: true\nstages: {devel: {enable_hooks: false}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !j.Enabled("prod") || j.Enabled("devel") {
		t.Fatalf("api: prod %v devel %v", j.Enabled("prod"), j.Enabled("devel"))
	}
	for doc, want := range map[string]string{
		"enable_hook: true\n":              "jobs/x.yaml:1: enable_hook: unknown field",
		"stages: {prod: {enable: true}}\n": "jobs/x.yaml:1: stages.prod.enable: unknown field",
		"enable_hooks: sometimes\n":        "jobs/x.yaml:1: enable_hooks:",
		"stages: {prod: true}\n":           "jobs/x.yaml:1: stages: cannot unmarshal",
	} {
		_, err := hookfile.ParseJobFile("jobs/x.yaml", []byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", doc, err, want)
		}
	}
}

func TestSet_Matching(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", `
hooks:
  - {name: pre-create, phase: pre, methods: [create_job], exec: "true"}
  - {name: pre-prod, phase: pre, methods: ["*_job"], jobs: ["*/*/prod/*"], exec: "true"}
  - {name: pre-opted, phase: pre, methods: ["*"], scope: job, exec: "true"}
  - {name: log-all, phase: generic, methods: ["*"], exec: "true"}
  - {name: post-kill, phase: post, methods: [kill_job], exec: "true"}
`)
	writeFile(t, dir, "jobs/web.yaml", "enable_hooks: true\nstages: {devel: {enable_hooks: false}}\n")
	set, errs, err := hookfile.LoadDir(dir)
	if err != nil || len(errs) > 0 {
		t.Fatalf("LoadDir: %v %v", err, errs)
	}
	job := func(s string) call.Job {
		j, err := call.ParseJob(s)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	for _, tc := range []struct {
		phase, method, job string
		want               string
		generic            bool
	}{
		{"pre", "create_job", "c/r/devel/api", "pre-create", false},
		{"pre", "create_job", "c/r/prod/api", "pre-create,pre-prod", false},
		{"pre", "update_job", "c/r/prod/web", "pre-opted,pre-prod", false},
		{"pre", "restart", "c/r/prod/web", "pre-opted", false},
		// web opted in, but not in devel: no specific hook, so generic.
		{"pre", "restart", "c/r/devel/web", "log-all", true},
		{"post", "kill_job", "c/r/devel/api", "post-kill", false},
		{"post", "create_job", "c/r/devel/api", "log-all", true},
		{"err", "kill_job", "c/r/devel/api", "log-all", true},
	} {
		hs, generic := set.Matching(tc.phase, tc.method, job(tc.job))
		var got []string
		for _, h := range hs {
			got = append(got, h.Name)
		}
		if strings.Join(got, ",") != tc.want || generic != tc.generic {
			t.Errorf("%s %s %s: %v (generic %v), want %s (generic %v)", tc.phase, tc.method, tc.job, got, generic, tc.want, tc.generic)
		}
	}
}

// A job file in the deploy format opts in its own cluster and role only;
// its commands and config do not change what it opts in.
func TestSet_MatchingJobFileClusterAndRole(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", `hooks: [{name: opted, phase: pre, methods: ["*"], scope: job, exec: "true"}]`)
	writeFile(t, dir, "jobs/eightball.yaml", `
cluster: bb
role: cbe
config: {file: eightball.aurora}
stages: {prod: {enable_hooks: true, githash: abc}, devel: {}}
commands:
  create_job: ["aurora", "job", "create", "{{.cluster}}/{{.role}}/{{.stage}}/{{.job}}", "{{.config.file}}"]
`)
	writeFile(t, dir, "jobs/other.yaml", "job: web\nenable_hooks: true\n")
	set, errs, err := hookfile.LoadDir(dir)
	if err != nil || len(errs) > 0 {
		t.Fatalf("LoadDir: %v %v", err, errs)
	}
	for key, want := range map[string]bool{
		"bb/cbe/prod/eightball": true, "bb/cbe/devel/eightball": false,
		"bb/cbp/prod/eightball": false, "west/cbe/prod/eightball": false,
		"any/role/prod/web": true, // job: web, in any cluster and role
	} {
		j, err := call.ParseJob(key)
		if err != nil {
			t.Fatal(err)
		}
		hs, _ := set.Matching("pre", "create_job", j)
		if got := len(hs) == 1; got != want {
			t.Errorf("%s: opted-in hook matches = %v, want %v", key, got, want)
		}
	}
}

func TestLoadDir_NamesUniqueAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", `hooks: [{name: x, phase: pre, methods: ["*"], exec: "true"}]`)
	writeFile(t, dir, "b.yaml", `hooks: [{name: x, phase: post, methods: ["*"], exec: "true"}]`)
	set, errs, err := hookfile.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Hooks) != 1 || set.Hooks[0].Phase != "pre" {
		t.Fatalf("hooks %v", set.Hooks)
	}
	if e := errs[dir+"/b.yaml"]; e == nil || !strings.Contains(e.Error(), `hook "x" is already defined in`) {
		t.Fatalf("errors %v", errs)
	}
}
