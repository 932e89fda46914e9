package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/cli"
)

// recordHooks record each pre hook's stdin and HERALD_ARG_* variables;
// the prod gate denies a prod deploy without a githash argument.
const recordHooks = `
hooks:
  - name: record
    phase: pre
    methods: ["*"]
    exec: 'cat > %TMP%/stdin; env | grep ^HERALD_ARG_ | sort > %TMP%/args'
  - name: prod-needs-githash
    phase: pre
    methods: [create_job, update_job]
    jobs: ["*/*/prod/*"]
    exec: '[ -n "$HERALD_ARG_GITHASH" ] || { echo "no githash for $HERALD_JOB"; exit 1; }'
`

// deployJob is eightball with a command that records its argv.
const deployJob = `cluster: bb
role: cbe
build: eightball
default_stage: devel
config:
  file: eightball.aurora
  cpu: 0.25
  taskargs: {workers: 10}
stages:
  prod:
    githash: 60a43FOO363b
    config: {cpu: 1.5, taskargs: {workers: 34}}
  devel: {}
commands:
  create_job: ["%TMP%/argv.sh", "job", "create", "{{.cluster}}/{{.role}}/{{.stage}}/{{.job}}", "{{.config.file}}", "--workers={{.config.taskargs.workers}}"]
  kill_job: ["%TMP%/argv.sh", "job", "killall", "bb/cbe/prod/{{.job}}"]
`

func deployFixture(t *testing.T) (*callFixture, string) {
	t.Helper()
	f := newCallFixture(t, recordHooks, "")
	jobs := filepath.Join(f.tmp, "jobs")
	if err := os.Mkdir(jobs, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, jobs, "eightball.yaml", strings.ReplaceAll(deployJob, "%TMP%", f.tmp))
	if err := os.WriteFile(f.path("argv.sh"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > \""+f.tmp+"/argv\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return f, jobs
}

func (f *callFixture) deploy(jobs string, args ...string) result {
	f.t.Helper()
	return run(f.t, nil, strings.NewReader(""), append([]string{"deploy", "--nats", f.url, "--jobs", jobs}, args...)...)
}

func readCall(t *testing.T, p string) call.Call {
	t.Helper()
	var c call.Call
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return c
}

// herald deploy renders the job file's command for the stage and runs it
// through the path of herald call: the devel stage by default, prod with
// --stage prod; the hooks get the job key from the file, githash and the
// merged config (nested on stdin, top-level scalars as HERALD_ARG_*).
func TestMain_RunDeploy(t *testing.T) {
	t.Parallel()
	f, jobs := deployFixture(t)

	// devel by default: no githash, which only the prod gate requires.
	r := f.deploy(jobs, "create_job", "eightball", "--set", "taskargs.workers=3")
	if r.err != nil {
		t.Fatalf("deploy devel: exit %d: %v\n%s", r.code(), r.err, r.errOut)
	}
	if got := lines(string(must(os.ReadFile(f.path("argv"))))); strings.Join(got, " ") != "job create bb/cbe/devel/eightball eightball.aurora --workers=3" {
		t.Fatalf("devel argv %q", got)
	}
	c := readCall(t, f.path("stdin"))
	if c.Job != "bb/cbe/devel/eightball" || c.Method != "create_job" || c.Config["cpu"] != 0.25 ||
		c.Config["taskargs"].(map[string]any)["workers"] != float64(3) || c.Args["githash"] != "" {
		t.Fatalf("devel call on the hook's stdin: %+v", c)
	}

	// prod: the stage's githash and config.
	r = f.deploy(jobs, "create_job", "eightball", "--stage", "prod")
	if r.err != nil {
		t.Fatalf("deploy prod: exit %d: %v\n%s", r.code(), r.err, r.errOut)
	}
	if got := lines(string(must(os.ReadFile(f.path("argv"))))); strings.Join(got, " ") != "job create bb/cbe/prod/eightball eightball.aurora --workers=34" {
		t.Fatalf("prod argv %q", got)
	}
	if args := string(must(os.ReadFile(f.path("args")))); args != "HERALD_ARG_CPU=1.5\nHERALD_ARG_FILE=eightball.aurora\nHERALD_ARG_GITHASH=60a43FOO363b\n" {
		t.Fatalf("prod HERALD_ARG_*:\n%s", args)
	}
	post := f.stored(call.TypePost)
	if len(post) != 2 || post[1].Job != "bb/cbe/prod/eightball" || post[1].Config["cpu"] != 1.5 {
		t.Fatalf("call.post events: %+v", post)
	}

	// The prod gate denies without a githash: --githash '' is no
	// githash, and a stage without one gets none.
	if err := os.Remove(f.path("argv")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, jobs, "eightball.yaml", strings.ReplaceAll(strings.Replace(deployJob, "githash: 60a43FOO363b", "enable_hooks: true", 1), "%TMP%", f.tmp))
	r = f.deploy(jobs, "create_job", "eightball", "--stage", "prod")
	if r.code() != cli.ExitCallDenied || !strings.Contains(r.errOut, "prod-needs-githash (failed): no githash for bb/cbe/prod/eightball") || exists(f.path("argv")) {
		t.Fatalf("prod without githash: exit %d\n%s", r.code(), r.errOut)
	}
	if r = f.deploy(jobs, "create_job", "eightball", "--stage", "prod", "--githash", "abc123"); r.err != nil {
		t.Fatalf("prod --githash: %v\n%s", r.err, r.errOut)
	}
}

// --dry-run prints the merged values, the command and the hooks that
// would run, and runs nothing: neither COMMAND nor a hook.
func TestMain_RunDeploy_DryRun(t *testing.T) {
	t.Parallel()
	f, jobs := deployFixture(t)
	r := f.deploy(jobs, "create_job", "eightball", "--stage", "prod", "--dry-run", "--hooks", f.dir, "--set", "ram=512")
	if r.err != nil {
		t.Fatalf("exit %d: %v\n%s", r.code(), r.err, r.errOut)
	}
	for _, want := range []string{
		"job: bb/cbe/prod/eightball\n", "stage: prod\n", "githash: 60a43FOO363b\n", "  cpu: 1.5\n", "  ram: 512\n", "    workers: 34\n",
		"command: " + f.path("argv.sh") + " job create bb/cbe/prod/eightball eightball.aurora --workers=34\n",
		"  pre  prod-needs-githash\n", "  pre  record\n", "  post (none)\n",
		"dry run: nothing was run and the dispatcher was not asked\n",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, r.out)
		}
	}
	if exists(f.path("argv")) || exists(f.path("stdin")) {
		t.Fatal("--dry-run ran the command or a hook")
	}
}

// A deploy error names what is missing before anything runs.
func TestMain_RunDeploy_Errors(t *testing.T) {
	t.Parallel()
	f, jobs := deployFixture(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"restart", "eightball"}, `no command for method "restart" (commands: create_job, kill_job)`},
		{[]string{"create_job", "eightball", "--stage", "qa"}, `no stage "qa" (stages: devel, prod)`},
		{[]string{"create_job", "nope"}, `no job file for job "nope"`},
		{[]string{"create_job", "eightball", "--set", "taskargs=flat"}, "commands.create_job[5]: no value for .config.taskargs.workers: .config.taskargs is not a mapping"},
		{[]string{"create_job", "eightball", "--job", "a/b/c/d"}, "flag provided but not defined: -job"},
		{[]string{"create_job"}, "want METHOD JOB"},
	} {
		r := f.deploy(jobs, tc.args...)
		if r.err == nil || !strings.Contains(r.errOut, tc.want) {
			t.Errorf("deploy %q: exit %d, stderr %q, want %q", tc.args, r.code(), r.errOut, tc.want)
		}
	}
	if exists(f.path("argv")) || exists(f.path("stdin")) {
		t.Fatal("a failed deploy ran something")
	}
}

// The guard of herald call: COMMAND naming another job key than --job is
// denied with both shown (exit 3, the dispatcher not asked), unless
// --allow-job-mismatch, which the hooks and call.post see. A deploy whose
// command names another key is denied too.
func TestMain_RunCall_JobMismatch(t *testing.T) {
	t.Parallel()
	f, jobs := deployFixture(t)
	marker := f.path("ran")
	for _, cmd := range [][]string{
		{"aurora", "job", "create", "bb/cbe/prod/eightball", "eightball.aurora"},
		{"aurora", "job", "kill", "bb/cbe/prod/eightball/0-3"},
		{"aurora", "job", "create", "--job=bb/cbe/prod/eightball"},
	} {
		r := f.call("", append([]string{"update_job", "--job", "bb/cbe/devel/eightball", "--", "sh", "-c", "touch " + marker}, cmd...)...)
		if r.code() != cli.ExitCallDenied || !strings.Contains(r.errOut, "  job:     bb/cbe/devel/eightball\n  COMMAND: bb/cbe/prod/eightball\n") {
			t.Fatalf("%q: exit %d\n%s", cmd, r.code(), r.errOut)
		}
	}
	if exists(marker) || exists(f.path("stdin")) {
		t.Fatal("a mismatched call ran COMMAND or asked the hooks")
	}
	// The call's own key, and an existing file shaped like a key, are no
	// mismatch.
	keyDir := filepath.Join(f.tmp, "x", "y", "z")
	if err := os.MkdirAll(keyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, keyDir, "w", "")
	r := f.call("", "update_job", "--job", "bb/cbe/devel/eightball", "--", "true", "bb/cbe/devel/eightball", filepath.Join(f.tmp, "x/y/z/w"))
	if r.err != nil {
		t.Fatalf("matching call: %v\n%s", r.err, r.errOut)
	}
	r = f.call("", "update_job", "--job", "bb/cbe/devel/eightball", "--allow-job-mismatch", "--", "true", "bb/cbe/prod/eightball")
	if r.err != nil || !strings.Contains(r.errOut, "--allow-job-mismatch: COMMAND names bb/cbe/prod/eightball") {
		t.Fatalf("--allow-job-mismatch: %v\n%s", r.err, r.errOut)
	}
	if c := readCall(t, f.path("stdin")); len(c.JobMismatch) != 1 || c.JobMismatch[0] != "bb/cbe/prod/eightball" {
		t.Fatalf("the pre hook's call: %+v", c)
	}
	posts := f.stored(call.TypePost)
	if last := posts[len(posts)-1]; len(last.JobMismatch) != 1 || last.JobMismatch[0] != "bb/cbe/prod/eightball" {
		t.Fatalf("call.post: %+v", last)
	}
	// kill_job's template names prod whatever the stage.
	r = f.deploy(jobs, "kill_job", "eightball")
	if r.code() != cli.ExitCallDenied || !strings.Contains(r.errOut, "COMMAND: bb/cbe/prod/eightball") {
		t.Fatalf("deploy kill_job devel: exit %d\n%s", r.code(), r.errOut)
	}
}

// herald jobs ls and show read the jobs directory as herald deploy does.
func TestMain_RunJobs(t *testing.T) {
	t.Setenv(cli.EnvNATS, "nats://127.0.0.1:1") // jobs must not need it
	jobs := t.TempDir()
	writeFile(t, jobs, "eightball.yaml", strings.ReplaceAll(deployJob, "%TMP%", "/opt"))
	writeFile(t, jobs, "web.yaml", "enable_hooks: true\n")
	r := run(t, nil, nil, "jobs", "ls", "--jobs", jobs)
	want := "JOB        CLUSTER  ROLE  STAGES       HOOKS\n" +
		"eightball  bb       cbe   devel*,prod  devel:off prod:off\n" +
		"web        -        -     -            on\n"
	if r.err != nil || r.out != want {
		t.Fatalf("jobs ls: exit %d\n%s\nwant\n%s\n%s", r.code(), r.out, want, r.errOut)
	}
	t.Setenv(cli.EnvJobs, jobs)
	r = run(t, nil, nil, "jobs", "show", "eightball", "--stage", "prod", "--set", "cpu=2")
	for _, w := range []string{"job: bb/cbe/prod/eightball\n", "githash: 60a43FOO363b\n", "  cpu: 2\n",
		"  create_job: /opt/argv.sh job create bb/cbe/prod/eightball eightball.aurora --workers=34\n"} {
		if r.err != nil || !strings.Contains(r.out, w) {
			t.Errorf("jobs show lacks %q: %v\n%s", w, r.err, r.out)
		}
	}
	writeFile(t, jobs, "broken.yaml", "cluster: bb\nenvs: {}\n")
	r = run(t, nil, nil, "jobs", "ls")
	if r.code() != cli.ExitFailure || !strings.Contains(r.errOut, "broken.yaml:2: envs: unknown field") || !strings.Contains(r.out, "eightball") {
		t.Fatalf("jobs ls with a broken file: exit %d\n%s\n%s", r.code(), r.out, r.errOut)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
