package cli_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/cli"
)

const goodWatches = `watches:
  - name: git-pull
    on: event:git.push
    key: /repos/*
    exec: ["git", "pull"]
  - name: conf
    on: zk:/app/**
    exec: "make reload"
    run_mode: discard
`

const oneWatch = `watches:
  - name: %s
    on: kv:config/app.>
    exec: [true]
`

const badWatches = `watches:
  - name: a
    on: event:t
    exec: "x"
    run_mode: fast
    tiemout: 5s
  - name: b
    on: zk:relative
    exec: [x]
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMain_RunValidate(t *testing.T) {
	t.Setenv(cli.EnvNATS, "nats://127.0.0.1:1") // validate must not need it

	t.Run("good file and directory", func(t *testing.T) {
		dir := t.TempDir()
		file := writeFile(t, t.TempDir(), "single.yaml", goodWatches)
		writeFile(t, dir, "a.yaml", goodWatches)
		writeFile(t, dir, "b.yml", strings.Replace(oneWatch, "%s", "kv-watch", 1))
		// Not watch files: ignored, even though they are invalid.
		writeFile(t, dir, ".hidden.yaml", badWatches)
		writeFile(t, dir, "README.md", badWatches)
		if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
			t.Fatal(err)
		}
		r := run(t, nil, nil, "validate", file, dir)
		if r.err != nil || r.out != "ok: 5 watches in 3 files\n" || r.errOut != "" {
			t.Errorf("exit %d stdout %q stderr %q, want 0 and 'ok: 5 watches in 3 files'", r.code(), r.out, r.errOut)
		}
	})

	t.Run("bad file prints one file:line: field error per line", func(t *testing.T) {
		bad := writeFile(t, t.TempDir(), "bad.yaml", badWatches)
		good := writeFile(t, t.TempDir(), "good.yaml", goodWatches)
		r := run(t, nil, nil, "validate", good, bad)
		if r.code() != cli.ExitFailure || !errors.Is(r.err, cli.ErrInvalidWatchFiles) {
			t.Fatalf("exit %d (%v), want 1", r.code(), r.err)
		}
		if r.out != "" {
			t.Errorf("stdout %q, want nothing", r.out)
		}
		got := lines(r.errOut)
		want := []string{
			bad + ":5: watches[0].run_mode: ",
			bad + ":6: watches[0].tiemout: unknown field",
			bad + ":8: watches[1].on: ",
		}
		if len(got) != len(want)+1 {
			t.Fatalf("stderr lines %q, want %d errors and a summary", got, len(want))
		}
		for _, w := range want {
			found := false
			for _, line := range got {
				found = found || strings.HasPrefix(line, w)
			}
			if !found {
				t.Errorf("no line starting %q in:\n%s", w, r.errOut)
			}
		}
		if !strings.Contains(got[len(got)-1], "3 problems in 1 of 2 files") {
			t.Errorf("summary %q", got[len(got)-1])
		}
	})

	t.Run("names must be unique within a directory", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "a.yaml", strings.Replace(oneWatch, "%s", "same", 1))
		b := writeFile(t, dir, "b.yaml", strings.Replace(oneWatch, "%s", "same", 1))
		r := run(t, nil, nil, "validate", dir)
		if r.code() != cli.ExitFailure || !strings.HasPrefix(r.errOut, b+":2: watches[0].name: duplicate watch name \"same\" (also at ") {
			t.Errorf("exit %d stderr %q, want 1 and a duplicate name error on %s:2", r.code(), r.errOut, b)
		}
		// The same file named twice is checked once.
		a := filepath.Join(dir, "a.yaml")
		r = run(t, nil, nil, "validate", a, dir+"/./a.yaml")
		if r.err != nil || r.out != "ok: 1 watches in 1 files\n" {
			t.Errorf("exit %d stdout %q stderr %q", r.code(), r.out, r.errOut)
		}
	})

	t.Run("missing path", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.yaml")
		r := run(t, nil, nil, "validate", missing)
		if r.code() != cli.ExitFailure || !strings.Contains(r.errOut, missing) {
			t.Errorf("exit %d stderr %q, want 1 naming %s", r.code(), r.errOut, missing)
		}
	})

	t.Run("empty directory warns but is valid", func(t *testing.T) {
		r := run(t, nil, nil, "validate", t.TempDir())
		if r.err != nil || r.out != "ok: 0 watches in 0 files\n" || !strings.Contains(r.errOut, "no watch, hook or job files") {
			t.Errorf("exit %d stdout %q stderr %q", r.code(), r.out, r.errOut)
		}
	})

	t.Run("no path is a usage error", func(t *testing.T) {
		r := run(t, nil, nil, "validate")
		if r.code() != cli.ExitUsage {
			t.Errorf("exit %d (%v), want 2", r.code(), r.err)
		}
	})
}

const goodHooks = `hooks:
  - name: prod-needs-green-ci
    phase: pre
    methods: [create_job, update_job]
    jobs: ["*/*/prod/*"]
    exec: ["/usr/local/bin/check-ci-passed"]
  - name: notify
    phase: post
    methods: ["*"]
    run: {agents: [web-*]}
handlers:
  - name: page-on-failure
    match: {watch: git-pull, status: [failed, timeout]}
    exec: notify-oncall
`

const badHooks = `hooks:
  - name: a
    phase: before
    methods: ["*"]
    exec: "x"
    on_timout: allow
  - name: b
    phase: post
    methods: ["*"]
    http: https://ci.example.com/x
    run: {agents: [web-1]}
handlers:
  - name: h
    match: {watch: git-pull, status: [succeeded]}
    exec: notify
    wait: 5m
`

const goodJob = `enable_hooks: false
stages:
  prod: {enable_hooks: true}
`

const badJob = `enable_hook: true
stages:
  prod: true
`

// mkdirs makes dir/jobs and returns both.
func mkdirs(t *testing.T) (dir, jobs string) {
	t.Helper()
	dir = t.TempDir()
	jobs = filepath.Join(dir, "jobs")
	if err := os.Mkdir(jobs, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, jobs
}

// wantLines checks that stderr has a line starting with each of want, and
// one more line: the summary, which must contain summary.
func wantLines(t *testing.T, r result, want []string, summary string) {
	t.Helper()
	if r.code() != cli.ExitFailure || !errors.Is(r.err, cli.ErrInvalidWatchFiles) {
		t.Fatalf("exit %d (%v), want 1; stderr:\n%s", r.code(), r.err, r.errOut)
	}
	if r.out != "" {
		t.Errorf("stdout %q, want nothing", r.out)
	}
	got := lines(r.errOut)
	if len(got) != len(want)+1 {
		t.Fatalf("stderr lines:\n%s\nwant %d errors and a summary", r.errOut, len(want))
	}
	for _, w := range want {
		found := false
		for _, line := range got {
			found = found || strings.HasPrefix(line, w)
		}
		if !found {
			t.Errorf("no line starting %q in:\n%s", w, r.errOut)
		}
	}
	if !strings.Contains(got[len(got)-1], summary) {
		t.Errorf("summary %q, want %q", got[len(got)-1], summary)
	}
}

func TestMain_RunValidate_HookAndJobFiles(t *testing.T) {
	t.Setenv(cli.EnvNATS, "nats://127.0.0.1:1") // validate must not need it

	t.Run("the sample hooks directory", func(t *testing.T) {
		r := run(t, nil, nil, "validate", filepath.Join("..", "..", "deploy", "examples", "call-hooks"))
		if r.err != nil || r.out != "ok: 0 watches, 4 hooks, 2 handlers, 1 job files in 2 files\n" || r.errOut != "" {
			t.Errorf("exit %d stdout %q stderr %q", r.code(), r.out, r.errOut)
		}
	})

	t.Run("good hook, job and watch files, named or in a directory", func(t *testing.T) {
		dir, jobs := mkdirs(t)
		writeFile(t, dir, "ci.yaml", goodHooks)
		writeFile(t, dir, "handlers.yml", "handlers:\n  - name: rollout-summary\n    match: {watch: git-pull}\n    when: all_reported\n    exec: record-rollout\n")
		// A hook may share a watch's name: they are different things.
		writeFile(t, dir, "watches.yaml", strings.Replace(oneWatch, "%s", "notify", 1))
		writeFile(t, jobs, "hello.yaml", goodJob)
		writeFile(t, jobs, "web.yml", "enable_hooks: true\n")
		writeFile(t, jobs, ".hidden.yaml", badJob)
		r := run(t, nil, nil, "validate", dir)
		if r.err != nil || r.out != "ok: 1 watches, 2 hooks, 2 handlers, 2 job files in 5 files\n" || r.errOut != "" {
			t.Errorf("directory: exit %d stdout %q stderr %q", r.code(), r.out, r.errOut)
		}
		// Named one by one, each is still checked as its kind; a jobs
		// directory named itself holds job files.
		r = run(t, nil, nil, "validate", filepath.Join(dir, "ci.yaml"), filepath.Join(jobs, "hello.yaml"), jobs)
		if r.err != nil || r.out != "ok: 0 watches, 2 hooks, 1 handlers, 2 job files in 3 files\n" || r.errOut != "" {
			t.Errorf("files: exit %d stdout %q stderr %q", r.code(), r.out, r.errOut)
		}
	})

	t.Run("bad hook file: hooks and handlers, one line each", func(t *testing.T) {
		bad := writeFile(t, t.TempDir(), "bad.yaml", badHooks)
		r := run(t, nil, nil, "validate", bad)
		wantLines(t, r, []string{
			bad + ":6: hooks[0].on_timout: unknown field",
			bad + ":10: hooks[1].http: a run: agents hook runs the agents' own call_hooks: entry of that name; it takes no http",
			bad + ":14: handlers[0].match.status: unknown status \"succeeded\"",
			bad + ":16: handlers[0].wait: only applies to when: all_reported",
		}, "4 problems in 1 of 1 files")
	})

	t.Run("bad job file", func(t *testing.T) {
		_, jobs := mkdirs(t)
		bad := writeFile(t, jobs, "web.yaml", badJob)
		r := run(t, nil, nil, "validate", bad)
		wantLines(t, r, []string{
			bad + ":1: enable_hook: unknown field",
			bad + ":3: stages: ",
		}, "2 problems in 1 of 1 files")

		good := writeFile(t, jobs, "web.yaml", "stages:\n  prod: {enable_hooks: true, scope: job}\n")
		r = run(t, nil, nil, "validate", good)
		wantLines(t, r, []string{good + ":2: stages.prod.scope: unknown field"}, "1 problem in 1 of 1 files")
	})

	t.Run("a job file outside jobs/ is not a job file", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "web.yaml", goodJob)
		r := run(t, nil, nil, "validate", p)
		wantLines(t, r, []string{
			p + ":1: enable_hooks: unknown key (want watches)",
			p + ":2: stages: unknown key (want watches)",
		}, "2 problems in 1 of 1 files")
	})

	t.Run("names are unique within a directory", func(t *testing.T) {
		dir, jobs := mkdirs(t)
		a := writeFile(t, dir, "a.yaml", goodHooks)
		b := writeFile(t, dir, "b.yaml", goodHooks)
		writeFile(t, jobs, "web.yaml", goodJob)
		web := writeFile(t, jobs, "web.yml", goodJob)
		r := run(t, nil, nil, "validate", dir)
		wantLines(t, r, []string{
			b + ":2: hooks[0].name: duplicate hook name \"prod-needs-green-ci\" (also at " + a + ":2)",
			b + ":7: hooks[1].name: duplicate hook name \"notify\" (also at " + a + ":7)",
			b + ":12: handlers[0].name: duplicate handler name \"page-on-failure\" (also at " + a + ":12)",
			web + `: job "web" is already defined in ` + filepath.Join(jobs, "web.yaml"),
		}, "4 problems in 2 of 4 files")

		// Directories are separate: the dispatcher loads one.
		other := writeFile(t, t.TempDir(), "b.yaml", goodHooks)
		r = run(t, nil, nil, "validate", a, other)
		if r.err != nil || r.out != "ok: 0 watches, 4 hooks, 2 handlers in 2 files\n" {
			t.Errorf("exit %d stdout %q stderr %q", r.code(), r.out, r.errOut)
		}
	})

	t.Run("a broken hook file among good watch files", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "watches.yaml", goodWatches)
		bad := writeFile(t, dir, "hooks.yaml", "hooks:\n  - name: x\n    phase: pre\n    exec: \"true\"\n")
		r := run(t, nil, nil, "validate", dir)
		wantLines(t, r, []string{bad + ":2: hooks[0].methods: required"}, "1 problem in 1 of 2 files")
	})
}
