package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/testutil"
)

// heraldCmd is the herald binary against c, with extra environment, no
// controlling terminal (its own session) and its output kept apart.
func (c *cluster) heraldCmd(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(filepath.Join(testutil.Binaries(t), "herald"), args...)
	cmd.Env = append(append(os.Environ(), "HERALD_NATS="+c.url, "GORACE=atexit_sleep_ms=0"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	return cmd, &out, &errb
}

// runHeraldIn runs herald (see heraldCmd) to its end: exit code, stderr.
func (c *cluster) runHeraldIn(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd, _, errb := c.heraldCmd(t, env, args...)
	err := cmd.Run()
	return exitCode(err), errb.String()
}

// TestCall_LocalPreHookDenies runs the real dispatcher and herald binaries:
// the local hooks of $HERALD_LOCAL_HOOKS run on the caller's machine, and
// the "head of master" hook that fails denies the call (exit 3) before the
// dispatcher is asked: its pre hook does not run, nor does COMMAND. Once
// the check passes, the call runs and the local post hook runs after it;
// without $HERALD_LOCAL_HOOKS, the hooks of ~/.config/herald/call-hooks.d run;
// the dispatcher's /metrics counted the one call it was asked about.
func TestCall_LocalPreHookDenies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hooksDir, local := f.path("hooks"), f.path("call-hooks.d")
	for _, d := range []string{hooksDir, local} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(hooksDir, "hooks.yaml"), strings.ReplaceAll(`
hooks:
  - {name: asked, phase: pre, methods: ["*"], exec: 'echo "$HERALD_CALL_ID" >> %DIR%/asked'}
`, "%DIR%", f.dir))
	f.script("call-hooks.d/10-head-of-master", `[ "$2" = pre ] || exit 0
if [ ! -e "`+f.path("at-head")+`" ]; then echo "$1: you are not at the head of master"; exit 1; fi`)
	f.script("call-hooks.d/20-record", `echo "$1 $2 $HERALD_JOB" >> "`+f.path("local.log")+`"`)
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--hooks", hooksDir)
	env := []string{"HERALD_LOCAL_HOOKS=" + local}
	marker := f.path("ran")

	code, stderr := c.runHeraldIn(t, env, "call", "update_job", "--job", "west/www/prod/web", "--", "touch", marker)
	if code != 3 || !strings.Contains(stderr, "denied by the local pre hook 10-head-of-master (failed)") || !strings.Contains(stderr, "update_job: you are not at the head of master") {
		t.Fatalf("exit %d, want 3 naming the local hook:\n%s", code, stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("COMMAND ran although a local pre hook denied")
	}
	if _, err := os.Stat(f.path("asked")); err == nil {
		t.Fatal("the dispatcher was asked although a local pre hook denied")
	}

	if err := os.WriteFile(f.path("at-head"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stderr := c.runHeraldIn(t, env, "call", "update_job", "--job", "west/www/prod/web", "--", "touch", marker); code != 0 {
		t.Fatalf("at the head of master: exit %d\n%s", code, stderr)
	}
	waitFile(t, marker)
	if lines := readLines(t, f.path("asked")); len(lines) != 1 {
		t.Fatalf("the dispatcher's pre hook ran %d times, want once", len(lines))
	}
	if got := strings.Join(readLines(t, f.path("local.log")), "\n"); got != "update_job pre west/www/prod/web\nupdate_job post west/www/prod/web" {
		t.Fatalf("local hooks ran:\n%s", got)
	}
	// Without $HERALD_LOCAL_HOOKS: the default directory under $HOME.
	home := f.path("home")
	if err := os.MkdirAll(filepath.Join(home, ".config", "herald", "call-hooks.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.script("home/.config/herald/call-hooks.d/10-deny", `echo "denied from HOME"; exit 1`)
	code, stderr = c.runHeraldIn(t, []string{"HOME=" + home}, "call", "update_job", "--job", "west/www/prod/web", "--", "true")
	if code != 3 || !strings.Contains(stderr, "denied from HOME") {
		t.Fatalf("the default local hooks dir: exit %d\n%s", code, stderr)
	}

	// The dispatcher counted the one call it was asked about, and its
	// pre hook's run time.
	resp, err := http.Get("http://" + c.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, w := range []string{`herald_call_pre_total{method="update_job",verdict="allowed"} 1`, `herald_call_pre_hook_duration_seconds_count{hook="asked"} 1`} {
		if !strings.Contains(string(body), w) {
			t.Fatalf("/metrics lacks %s:\n%s", w, body)
		}
	}
}

// answerOnTerminal runs herald under a pseudo-terminal (its controlling
// terminal, stdin and stdout), waits for the question and types answer.
func (c *cluster) answerOnTerminal(t *testing.T, question, answer string, args ...string) (int, string, string) {
	t.Helper()
	cmd, _, errb := c.heraldCmd(t, nil, args...)
	cmd.Stdout, cmd.SysProcAttr = nil, nil // pty.Start: a new session on the pty
	ptmx, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	shown := &testutil.SyncBuffer{}
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			shown.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	testutil.Eventually(t, wait, func() error {
		if !strings.Contains(shown.String(), question+" (yes/no): ") {
			return fmt.Errorf("the terminal shows %q, not the question %q", shown.String(), question)
		}
		return nil
	})
	if _, err := ptmx.Write([]byte(answer + "\n")); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	_ = ptmx.Close()
	<-read
	return exitCode(err), shown.String(), errb.String()
}

// TestCall_ConfirmOnTerminal runs the real dispatcher and herald: a
// confirm: pre hook's question, rendered by the dispatcher from the call,
// is asked on the caller's terminal (a pseudo-terminal here). yes runs
// COMMAND; no denies (exit 3); without a terminal the call is denied
// unless --yes. Each question and answer is in a call.confirm audit event.
func TestCall_ConfirmOnTerminal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hooksDir := f.hookFile(`
hooks:
  - name: kill-confirmer
    phase: pre
    methods: [kill_job]
    confirm: 'Are you sure you want to kill {{.job}} ({{with index .args "shards"}}shards {{.}}{{else}}all shards{{end}})?'
`)
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--hooks", hooksDir)
	marker := f.path("killed")
	args := []string{"call", "kill_job", "--job", "west/www/prod/web", "--arg", "shards=0-3", "--", "touch", marker}
	question := "Are you sure you want to kill west/www/prod/web (shards 0-3)?"

	code, shown, stderr := c.answerOnTerminal(t, question, "no", args...)
	if code != 3 || !strings.Contains(stderr, "not confirmed; the command did not run") {
		t.Fatalf("answered no: exit %d\nterminal %q\nstderr %s", code, shown, stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("COMMAND ran although the answer was no")
	}
	code, stderr = c.runHeraldIn(t, nil, args...)
	if code != 3 || !strings.Contains(stderr, "there is no terminal to answer on") {
		t.Fatalf("no terminal: exit %d\n%s", code, stderr)
	}
	if code, shown, stderr = c.answerOnTerminal(t, question, "yes", args...); code != 0 {
		t.Fatalf("answered yes: exit %d\nterminal %q\nstderr %s", code, shown, stderr)
	}
	waitFile(t, marker)
	_ = os.Remove(marker)
	if code, stderr = c.runHeraldIn(t, nil, append([]string{"call", "--yes"}, args[1:]...)...); code != 0 {
		t.Fatalf("--yes: exit %d\n%s", code, stderr)
	}
	waitFile(t, marker)

	var got []string
	for _, e := range testutil.StoredEvents(t, c.js, wait, events.EventPrefix+"."+call.TypeConfirm+".>") {
		var rec call.ConfirmRecord
		if err := json.Unmarshal(e.Data, &rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.Confirmations) != 1 || rec.Confirmations[0].Question != question || rec.Job != "west/www/prod/web" || e.Key != rec.Job {
			t.Fatalf("call.confirm %+v", rec)
		}
		a := rec.Confirmations[0]
		got = append(got, fmt.Sprintf("%s/%s/%v", a.Answer, a.By, rec.Allowed))
	}
	if want := "no/terminal/false,/no_terminal/false,yes/terminal/true,yes/--yes/true"; strings.Join(got, ",") != want {
		t.Fatalf("call.confirm answers %s, want %s", strings.Join(got, ","), want)
	}
}

// TestCall_WaitHooksPrintsFailingPostHook runs the real dispatcher and
// herald: with --wait-hooks herald waits until the dispatcher's post hooks
// of the call have run and prints one line each, the failing one with its
// reason, and exits with COMMAND's status. With --auth, a deployer reads
// the report of its own call; another deployer may not subscribe to it.
func TestCall_WaitHooksPrintsFailingPostHook(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hooksDir := f.hookFile(`
hooks:
  - {name: notify-deploys, phase: post, methods: [update_job], exec: 'echo "could not post to #deploys"; exit 1'}
  - {name: record-deploy, phase: post, methods: [update_job], exec: 'echo "recorded $HERALD_JOB"'}
  - {name: kill-confirmer, phase: pre, methods: [kill_job], confirm: 'Kill {{.job}}?'}
`)
	dir := newAuthDir(t, []string{"add-deployer", "dep"}, []string{"add-deployer", "eve"})
	b := startAuthBus(t, dir, "--hooks", hooksDir)
	dep := b.creds("deployers", "dep")

	start := time.Now()
	code, stderr := b.runHeraldIn(t, nil, "call", "update_job", "--nats-creds", dep, "--job", "west/www/prod/web", "--wait-hooks", "--hooks-timeout", wait.String(), "--", "true")
	if code != 0 {
		t.Fatalf("exit %d, want COMMAND's 0:\n%s", code, stderr)
	}
	for _, w := range []string{
		"herald call: post hook notify-deploys: failed: ",
		"could not post to #deploys",
		"herald call: post hook record-deploy: ok: recorded west/www/prod/web",
	} {
		if !strings.Contains(stderr, w) {
			t.Fatalf("stderr lacks %q (after %v):\n%s", w, time.Since(start), stderr)
		}
	}
	code, stderr = b.runHeraldIn(t, nil, "call", "update_job", "--nats-creds", dep, "--job", "west/www/prod/web", "--wait-hooks", "--", "sh", "-c", "exit 5")
	if code != 5 || !strings.Contains(stderr, "err hooks: none ran") {
		t.Fatalf("err: exit %d, want 5:\n%s", code, stderr)
	}
	// The deployer may store the call.confirm audit event of its --yes.
	if code, stderr := b.runHeraldIn(t, nil, "call", "kill_job", "--yes", "--nats-creds", dep, "--job", "west/www/prod/web", "--", "true"); code != 0 {
		t.Fatalf("kill_job --yes as a deployer: exit %d\n%s", code, stderr)
	}

	// Another deployer cannot listen to dep's reports, nor read outcomes.
	eve, v := b.connectAs(t, b.creds("deployers", "eve"))
	for _, subj := range []string{call.HooksReportSubject("any", "dep"), call.HooksReportPrefix + ".*.dep", events.OutcomePrefix + ".>"} {
		if _, err := eve.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		v.wait(t, "Subscription", subj)
	}
}
