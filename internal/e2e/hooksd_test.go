package e2e_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/operation"
	"github.com/heraldhq/herald/internal/ophooks"
	"github.com/heraldhq/herald/internal/testutil"
)

// A watch with hooksdir: instead of exec runs the directory's hooks in name
// order for each event and reports the first failure as the outcome.
func TestAgent_HooksDirWatch(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	hooks := f.path("hooks.d")
	if err := os.Mkdir(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	hook := func(name, body string) {
		if err := os.WriteFile(filepath.Join(hooks, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	log := `data=$(cat); echo "$HERALD_HOOK $# $1 $HERALD_KEY $data" >> "$DIR/hooks.log"`
	hook("10-first", log)
	hook("20 second; $(touch pwned)", log+`
[ "$data" = bad ] && { echo "refusing $data" >&2; exit 6; }; true`)
	hook("30-third", log)
	hook("25-disabled", "exit 1")
	if err := os.Chmod(filepath.Join(hooks, "25-disabled"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.watchFile("h.yaml", `
watches:
  - name: h
    on: event:test.hooks
    hooksdir: %DIR%/hooks.d
    env: {DIR: "%DIR%"}
    workdir: %DIR%
    run_on_load: false
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "a1", watches: f.watches})

	c.publish("test.hooks", "/app", "good")
	out.waitCount(t, "h", events.StatusOK, 1)
	c.publish("test.hooks", "/app", "bad")
	out.waitCount(t, "h", events.StatusFailed, 1)

	want := []string{
		"10-first 1 test.hooks /app good",
		"20 second; $(touch pwned) 1 test.hooks /app good",
		"30-third 1 test.hooks /app good",
		"10-first 1 test.hooks /app bad",
		"20 second; $(touch pwned) 1 test.hooks /app bad",
	}
	if got := readLines(t, f.path("hooks.log")); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("hooks.log\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := os.Stat(f.path("pwned")); err == nil {
		t.Fatal("a hook's file name reached a shell")
	}
	for _, o := range out.Snapshot() {
		if o.Watch != "h" || o.Status != events.StatusFailed {
			continue
		}
		if o.ExitCode == nil || *o.ExitCode != 6 || !strings.HasSuffix(o.Stderr, "refusing bad\n") ||
			!strings.Contains(o.Error, `"20 second; $(touch pwned)": exit status 6`) {
			t.Fatalf("failed outcome %+v: want exit 6, the hook's stderr and its name", o)
		}
	}
}

// herald op publishes op.pre and op.post or op.err; an agent elsewhere
// reacts to them like to any event.
func TestOp_EventsReachAgents(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("react.sh", `cat > "$DIR/$HERALD_EVENT_TYPE.json"`)
	f.watchFile("r.yaml", `
watches:
  - name: after-backup
    on: event:op.post
    key: backup
    exec: ["%DIR%/react.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
  - name: failed-backup
    on: event:op.err
    key: backup
    exec: ["%DIR%/react.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "other-host", watches: f.watches})

	hooks := f.path("hooks.d")
	if err := os.Mkdir(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hooks, "10-note"), []byte("#!/bin/sh\necho \"$1 $2\" >> \""+f.path("op.log")+"\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	herald := filepath.Join(testutil.Binaries(t), "herald")
	op := func(code int, command ...string) {
		t.Helper()
		args := append([]string{"op", "backup", "--hooks-dir", hooks, "--nats", c.url, "--"}, command...)
		cmd := exec.Command(herald, args...)
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
		b, err := cmd.CombinedOutput()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != code {
			t.Fatalf("herald op %v: %v, want exit %d\n%s", command, err, code, b)
		}
		if strings.Contains(string(b), "note:") {
			t.Fatalf("herald op did not publish:\n%s", b)
		}
	}
	op(0, "true")
	out.waitCount(t, "after-backup", events.StatusOK, 1)
	op(5, "/bin/sh", "-c", "exit 5")
	out.waitCount(t, "failed-backup", events.StatusOK, 1)

	for typ, want := range map[string]int{operation.TypePost: 0, operation.TypeErr: 5} {
		b, err := os.ReadFile(f.path(typ + ".json"))
		if err != nil {
			t.Fatal(err)
		}
		var d operation.EventData
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s data %s: %v", typ, b, err)
		}
		if d.Operation != "backup" || "op."+d.State != typ || d.ExitCode == nil || *d.ExitCode != want || len(d.Hooks) != 1 || d.Hooks[0].Name != "10-note" {
			t.Fatalf("%s data %s", typ, b)
		}
	}
	if got := strings.Join(readLines(t, f.path("op.log")), ","); got != "backup pre,backup post,backup pre,backup err" {
		t.Fatalf("op.log %q", got)
	}
}

// The real herald op exits 4 when the command succeeded and a post hook
// failed, naming the hook and its exit status; when the command failed, a
// failing err hook leaves the command's status.
func TestOp_FailingPostHookExits4(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hooks := f.path("hooks.d")
	if err := os.Mkdir(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	hook := "#!/bin/sh\ncase \"$2\" in post) echo 'cannot start mysql' >&2; exit 6 ;; err) exit 1 ;; esac\n"
	if err := os.WriteFile(filepath.Join(hooks, "10-mysql"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	herald := filepath.Join(testutil.Binaries(t), "herald")
	op := func(command ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(herald, append([]string{"op", "backup", "--hooks-dir", hooks, "--no-events", "--"}, command...)...)
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
		b, _ := cmd.CombinedOutput()
		if cmd.ProcessState == nil {
			t.Fatalf("herald op %v did not run:\n%s", command, b)
		}
		return cmd.ProcessState.ExitCode(), string(b)
	}
	code, out := op("true")
	if code != ophooks.ExitHookFailed || !strings.Contains(out, `post hook "10-mysql" (exit status 6) failed`) || !strings.Contains(out, "cannot start mysql") {
		t.Fatalf("herald op -- true: exit %d, want %d naming 10-mysql and its status 6:\n%s", code, ophooks.ExitHookFailed, out)
	}
	if code, out := op("/bin/sh", "-c", "exit 5"); code != 5 || !strings.Contains(out, `err hook "10-mysql" failed: exit status 1`) {
		t.Fatalf("herald op -- exit 5: exit %d, want 5 (the command's own status wins):\n%s", code, out)
	}
}
