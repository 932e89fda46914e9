package e2e_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/testutil"
)

// eightballJob is the seed's eightball (deploy/examples/jobs) with its
// scheduler client replaced by a script that records what it was given.
const eightballJob = `job: eightball
cluster: bb
role: cbe
build: eightball
default_stage: devel
config:
  file: eightball.aurora
  cpu: 0.25
  num_instances: 1
  taskargs: {workers: 10}
stages:
  prod:
    enable_hooks: true
    githash: 60a43FOO363b
    config: {cpu: 1.5, num_instances: 12, taskargs: {workers: 34}}
  devel:
    githash: 60a43BARdbdb
commands:
  create_job: ["%DIR%/aurora", "job", "create", "{{.cluster}}/{{.role}}/{{.stage}}/{{.job}}", "{{.config.file}}",
    "--instances={{.config.num_instances}}", "--cpu={{.config.cpu}}", "--workers={{.config.taskargs.workers}}"]
  update_job: ["%DIR%/aurora", "update", "start", "{{.cluster}}/{{.role}}/{{.stage}}/{{.job}}", "{{.config.file}}"]
`

// TestDeploy_Eightball runs the real dispatcher and herald binaries: the
// eightball job file deploys to devel by default and to prod with --stage
// prod (the command, a script, gets the merged values and the job key of
// the stage; the hooks get the key, githash and the merged config); a
// prod-only pre hook denies a prod deploy without a githash; --dry-run
// runs neither the command nor a hook; herald call's job-key guard denies
// a COMMAND acting on another job than --job, and --allow-job-mismatch is
// recorded in the call.post event. The same job file in the dispatcher's
// hooks/jobs/ opts eightball in to scope: job hooks in prod, in its own
// cluster and role only.
func TestDeploy_Eightball(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hooksDir, jobsDir := f.path("hooks"), f.path("jobs")
	for _, d := range []string{hooksDir, filepath.Join(hooksDir, "jobs"), jobsDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.script("aurora", `printf '%s\n' "$@" > "`+f.dir+`/argv"`)
	f.script("record.sh", `cat > "$DIR/stdin.$HERALD_ENV"; env | grep ^HERALD_ARG_ | sort > "$DIR/args.$HERALD_ENV"`)
	f.script("opted.sh", `echo "$HERALD_JOB" >> "$DIR/opted"`)
	f.script("needs-githash.sh", `[ -n "$HERALD_ARG_GITHASH" ] || { echo "no githash for $HERALD_JOB: cannot check the build"; exit 1; }`)
	writeFile(t, filepath.Join(hooksDir, "deploy.yaml"), strings.ReplaceAll(`
hooks:
  - name: record
    phase: pre
    methods: ["*"]
    exec: ["%DIR%/record.sh"]
    env: {DIR: "%DIR%"}
  - name: prod-needs-githash
    phase: pre
    methods: [create_job, update_job]
    jobs: ["*/*/prod/*"]
    exec: ["%DIR%/needs-githash.sh"]
  - name: opted-in
    phase: pre
    methods: ["*"]
    scope: job
    exec: ["%DIR%/opted.sh"]
    env: {DIR: "%DIR%"}
`, "%DIR%", f.dir))
	// The dispatcher's hooks/jobs/ holds the same job file: it opts
	// eightball in to scope: job hooks in prod, in cluster bb and role
	// cbe only.
	writeFile(t, filepath.Join(hooksDir, "jobs", "eightball.yaml"), strings.ReplaceAll(eightballJob, "%DIR%", f.dir))
	jobFile := filepath.Join(jobsDir, "eightball.yaml")
	writeFile(t, jobFile, strings.ReplaceAll(eightballJob, "%DIR%", f.dir))
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--hooks", hooksDir)

	argv := func() string { return strings.Join(readLines(t, f.path("argv")), " ") }
	hookCall := func(stage string) call.Call {
		t.Helper()
		var cl call.Call
		if err := json.Unmarshal([]byte(strings.Join(readLines(t, f.path("stdin."+stage)), "\n")), &cl); err != nil {
			t.Fatalf("the hook's stdin for %s: %v", stage, err)
		}
		return cl
	}

	// The files validate.
	if out, err := c.herald(t, "", "validate", jobsDir, hooksDir); err != nil || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("herald validate: %q %v", out, err)
	}

	// devel by default.
	if out, err := c.herald(t, "", "deploy", "--jobs", jobsDir, "create_job", "eightball"); err != nil {
		t.Fatalf("deploy devel: %v\n%s", err, out)
	}
	if got, want := argv(), "job create bb/cbe/devel/eightball eightball.aurora --instances=1 --cpu=0.25 --workers=10"; got != want {
		t.Fatalf("devel: the command got %q, want %q", got, want)
	}
	if cl := hookCall("devel"); cl.Job != "bb/cbe/devel/eightball" || cl.Args["githash"] != "60a43BARdbdb" || cl.Config["num_instances"] != float64(1) {
		t.Fatalf("devel: the hook got %+v", cl)
	}
	if _, err := os.Stat(f.path("opted")); err == nil {
		t.Fatal("the scope: job hook ran in devel, where eightball does not enable hooks")
	}

	// prod with --stage prod, flags after the job; $HERALD_JOBS is not
	// needed with --jobs.
	if out, err := c.herald(t, "", "deploy", "create_job", "eightball", "--stage", "prod", "--jobs", jobsDir); err != nil {
		t.Fatalf("deploy prod: %v\n%s", err, out)
	}
	if got, want := argv(), "job create bb/cbe/prod/eightball eightball.aurora --instances=12 --cpu=1.5 --workers=34"; got != want {
		t.Fatalf("prod: the command got %q, want %q", got, want)
	}
	cl := hookCall("prod")
	if cl.Job != "bb/cbe/prod/eightball" || cl.Config["taskargs"].(map[string]any)["workers"] != float64(34) {
		t.Fatalf("prod: the hook got %+v", cl)
	}
	if got := readLines(t, f.path("opted")); len(got) != 1 || got[0] != "bb/cbe/prod/eightball" {
		t.Fatalf("the scope: job hook ran for %q, want bb/cbe/prod/eightball once", got)
	}
	if got := strings.Join(readLines(t, f.path("args.prod")), " "); got != "HERALD_ARG_CPU=1.5 HERALD_ARG_FILE=eightball.aurora HERALD_ARG_GITHASH=60a43FOO363b HERALD_ARG_NUM_INSTANCES=12" {
		t.Fatalf("prod: HERALD_ARG_* %q", got)
	}
	// Another role's eightball is not the file's job: not opted in.
	if out, err := c.herald(t, "", "call", "create_job", "--job", "bb/cbp/prod/eightball", "--arg", "githash=abc", "--", "true"); err != nil {
		t.Fatalf("call for role cbp: %v\n%s", err, out)
	}
	if got := readLines(t, f.path("opted")); len(got) != 1 {
		t.Fatalf("the scope: job hook ran for another role's eightball: %q", got)
	}
	testutil.Eventually(t, wait, func() error {
		for _, e := range testutil.StoredEvents(t, c.js, wait, events.EventPrefix+"."+call.TypePost+".>") {
			var p call.Call
			if json.Unmarshal(e.Data, &p) == nil && p.Job == "bb/cbe/prod/eightball" && p.Config["cpu"] == 1.5 {
				return nil
			}
		}
		return os.ErrNotExist
	})

	// A prod stage without a githash: the prod-only hook denies, the
	// command does not run; --githash gives one.
	writeFile(t, jobFile, strings.ReplaceAll(strings.Replace(eightballJob, "githash: 60a43FOO363b", "# no githash yet", 1), "%DIR%", f.dir))
	if err := os.Remove(f.path("argv")); err != nil {
		t.Fatal(err)
	}
	_, err := c.herald(t, "", "deploy", "--jobs", jobsDir, "update_job", "eightball", "--stage", "prod")
	if code := exitCode(err); code != 3 || !strings.Contains(err.Error(), "prod-needs-githash (failed): no githash for bb/cbe/prod/eightball") {
		t.Fatalf("prod without githash: exit %d: %v", code, err)
	}
	if _, err := os.Stat(f.path("argv")); err == nil {
		t.Fatal("the command ran although the prod hook denied")
	}
	if out, err := c.herald(t, "", "deploy", "--jobs", jobsDir, "update_job", "eightball", "--stage", "prod", "--githash", "4f2a9c1"); err != nil {
		t.Fatalf("prod --githash: %v\n%s", err, out)
	}
	if got := argv(); got != "update start bb/cbe/prod/eightball eightball.aurora" {
		t.Fatalf("prod update: the command got %q", got)
	}

	// --dry-run: the plan, nothing run, no hook asked.
	for _, p := range []string{"argv", "stdin.prod", "stdin.devel"} {
		if err := os.Remove(f.path(p)); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.herald(t, "", "deploy", "--jobs", jobsDir, "create_job", "eightball", "--stage", "prod", "--set", "taskargs.workers=40", "--dry-run", "--hooks", hooksDir)
	if err != nil {
		t.Fatalf("--dry-run: %v\n%s", err, out)
	}
	for _, want := range []string{"job: bb/cbe/prod/eightball\n", "    workers: 40\n",
		"command: " + f.path("aurora") + " job create bb/cbe/prod/eightball eightball.aurora --instances=12 --cpu=1.5 --workers=40\n",
		"  pre  opted-in\n", "  pre  prod-needs-githash\n", "  pre  record\n", "dry run: nothing was run"} {
		if !strings.Contains(out, want) {
			t.Errorf("--dry-run output lacks %q:\n%s", want, out)
		}
	}
	for _, p := range []string{"argv", "stdin.prod", "stdin.devel"} {
		if _, err := os.Stat(f.path(p)); err == nil {
			t.Fatalf("--dry-run ran something: %s exists", p)
		}
	}

	// The job-key guard: the call says devel, COMMAND acts on prod.
	_, err = c.herald(t, "", "call", "update_job", "--job", "bb/cbe/devel/eightball", "--", f.path("aurora"), "update", "start", "bb/cbe/prod/eightball", "eightball.aurora")
	if code := exitCode(err); code != 3 || !strings.Contains(err.Error(), "  job:     bb/cbe/devel/eightball\n  COMMAND: bb/cbe/prod/eightball") {
		t.Fatalf("mismatch: exit %d: %v", code, err)
	}
	if _, err := os.Stat(f.path("argv")); err == nil {
		t.Fatal("a mismatched call ran its command")
	}
	if _, err := os.Stat(f.path("stdin.devel")); err == nil {
		t.Fatal("a mismatched call asked the hooks")
	}
	if out, err := c.herald(t, "", "call", "update_job", "--job", "bb/cbe/devel/eightball", "--allow-job-mismatch", "--",
		f.path("aurora"), "update", "start", "bb/cbe/prod/eightball", "eightball.aurora"); err != nil {
		t.Fatalf("--allow-job-mismatch: %v\n%s", err, out)
	}
	if cl := hookCall("devel"); len(cl.JobMismatch) != 1 || cl.JobMismatch[0] != "bb/cbe/prod/eightball" {
		t.Fatalf("the pre hook did not see the mismatch: %+v", cl)
	}
	testutil.Eventually(t, wait, func() error {
		for _, e := range testutil.StoredEvents(t, c.js, wait, events.EventPrefix+"."+call.TypePost+".>") {
			var p call.Call
			if json.Unmarshal(e.Data, &p) == nil && p.Job == "bb/cbe/devel/eightball" && len(p.JobMismatch) == 1 && p.JobMismatch[0] == "bb/cbe/prod/eightball" {
				return nil
			}
		}
		return os.ErrNotExist
	})
}
