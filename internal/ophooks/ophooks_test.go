package ophooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/operation"
	"github.com/heraldhq/herald/internal/ophooks"
	"github.com/heraldhq/herald/internal/testutil"
)

const poll = 10 * time.Second

func writeHook(t *testing.T, dir, name string, perm os.FileMode, body string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
}

// logHook appends a line to $LOG: name|args|operation|state|hook|exit
// code|aborted by|event type|key|event id.
const logHook = `printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$(basename "$0")" "$*" "$HERALD_OPERATION" "$HERALD_STATE" "$HERALD_HOOK" "${HERALD_EXIT_CODE-unset}" "${HERALD_ABORTED_BY-unset}" "$HERALD_EVENT_TYPE" "$HERALD_KEY" "$HERALD_EVENT_ID" >> "$LOG"`

// logLine is one line of $LOG.
type logLine struct {
	name, args, operation, state, hook, exitCode, abortedBy, eventType, key, eventID string
}

// fixture is a hooks directory, a log every hook and the command append
// to, and the events a run hands out.
type fixture struct {
	dir, tmp, log string

	mu     sync.Mutex
	events []events.Event
	hooks  []ophooks.HookRun
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{dir: t.TempDir(), tmp: t.TempDir()}
	f.log = filepath.Join(f.tmp, "log")
	t.Setenv("LOG", f.log)
	t.Setenv("T", f.tmp)
	return f
}

func (f *fixture) hook(t *testing.T, name, extra string) {
	t.Helper()
	writeHook(t, f.dir, name, 0o755, logHook+"\n"+extra)
}

func (f *fixture) config(op string, command ...string) ophooks.Config {
	return ophooks.Config{
		Operation: op, Command: command, Dir: f.dir, Host: "host-a",
		OnEvent: func(ev events.Event) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.events = append(f.events, ev)
		},
		OnHook: func(h ophooks.HookRun) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.hooks = append(f.hooks, h)
		},
	}
}

func (f *fixture) run(t *testing.T, ctx context.Context, cfg ophooks.Config) *ophooks.Report {
	t.Helper()
	rep, err := ophooks.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// lines returns the log; the command writes "command" lines.
func (f *fixture) lines(t *testing.T) []logLine {
	t.Helper()
	b, err := os.ReadFile(f.log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []logLine
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		p := strings.Split(l, "|")
		for len(p) < 10 {
			p = append(p, "")
		}
		out = append(out, logLine{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]})
	}
	return out
}

// sequence is the log as "name state" (hooks) or "command".
func (f *fixture) sequence(t *testing.T) []string {
	var out []string
	for _, l := range f.lines(t) {
		if l.name == "command" {
			out = append(out, "command")
		} else {
			out = append(out, l.name+" "+l.args)
		}
	}
	return out
}

func (f *fixture) eventData(t *testing.T) ([]string, []operation.EventData) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var types []string
	var data []operation.EventData
	for _, ev := range f.events {
		if err := ev.Validate(); err != nil {
			t.Fatalf("invalid event: %v", err)
		}
		if ev.Key != "backup" || ev.Source != "herald://op/host-a" || ev.DataContentType != "application/json" {
			t.Fatalf("event key %q source %q content type %q", ev.Key, ev.Source, ev.DataContentType)
		}
		var d operation.EventData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatalf("event data %s: %v", ev.Data, err)
		}
		types = append(types, ev.Type)
		data = append(data, d)
	}
	return types, data
}

func hookNames(d operation.EventData) []string {
	var out []string
	for _, h := range d.Hooks {
		out = append(out, fmt.Sprintf("%s:%s", h.Name, h.Status))
	}
	return out
}

func intp(p *int) string {
	if p == nil {
		return "<nil>"
	}
	return strconv.Itoa(*p)
}

const command = `echo command >> "$LOG"`

func TestConfig_Validate(t *testing.T) {
	ok := ophooks.Config{Operation: "backup", Command: []string{"true"}, Dir: "/etc/herald/hooks.d"}
	for _, tc := range []struct {
		name  string
		mod   func(*ophooks.Config)
		field string
	}{
		{"valid", func(*ophooks.Config) {}, ""},
		{"valid names", func(c *ophooks.Config) { c.Operation = "db.restore_v2-x" }, ""},
		{"empty operation", func(c *ophooks.Config) { c.Operation = "" }, "operation"},
		{"operation with a space", func(c *ophooks.Config) { c.Operation = "a b" }, "operation"},
		{"operation like a flag", func(c *ophooks.Config) { c.Operation = "-x" }, "operation"},
		{"operation with a slash", func(c *ophooks.Config) { c.Operation = "a/b" }, "operation"},
		{"long operation", func(c *ophooks.Config) { c.Operation = strings.Repeat("a", ophooks.MaxOperationLen+1) }, "operation"},
		{"no command", func(c *ophooks.Config) { c.Command = nil }, "command"},
		{"empty program", func(c *ophooks.Config) { c.Command = []string{""} }, "command"},
		{"NUL in command", func(c *ophooks.Config) { c.Command = []string{"echo", "a\x00"} }, "command"},
		{"no dir", func(c *ophooks.Config) { c.Dir = "" }, "dir"},
		{"negative timeout", func(c *ophooks.Config) { c.Timeout = -time.Second }, "timeout"},
		{"negative grace", func(c *ophooks.Config) { c.KillGrace = -time.Second }, "kill_grace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ophooks.ErrInvalidConfig) || !strings.Contains(err.Error(), ": "+tc.field+": ") {
				t.Fatalf("Validate = %v, want ErrInvalidConfig naming %s", err, tc.field)
			}
			if _, err := ophooks.Run(context.Background(), c); !errors.Is(err, ophooks.ErrInvalidConfig) {
				t.Fatalf("Run = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestRun_Success(t *testing.T) {
	f := newFixture(t)
	t.Chdir(f.tmp) // where a shell would create pwned
	for _, n := range []string{"20-second", "10-first", "9-last", "a b;$(touch pwned) 'q' \"d\" `x` *"} {
		f.hook(t, n, "")
	}
	writeHook(t, f.dir, "15-not-executable", 0o644, logHook)
	writeHook(t, f.dir, ".15-hidden", 0o755, logHook)
	writeHook(t, f.dir, "10-first~", 0o755, logHook)
	if err := os.Mkdir(filepath.Join(f.dir, "12-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cfg := f.config("backup", "/bin/sh", "-c", command+`; cat; echo " $1"`, "sh", "arg with space")
	cfg.Stdin, cfg.Stdout = strings.NewReader("from stdin"), &stdout
	rep := f.run(t, context.Background(), cfg)
	if rep.ExitStatus != 0 || rep.State != ophooks.StatePost || rep.AbortedBy != "" || !rep.CommandStarted || intp(rep.ExitCode) != "0" {
		t.Fatalf("report %+v", rep)
	}
	if stdout.String() != "from stdin arg with space\n" {
		t.Fatalf("command stdout %q: stdin and stdout must be passed through", stdout.String())
	}
	odd := "a b;$(touch pwned) 'q' \"d\" `x` *"
	want := []string{
		"10-first backup pre", "20-second backup pre", "9-last backup pre", odd + " backup pre",
		"command",
		"10-first backup post", "20-second backup post", "9-last backup post", odd + " backup post",
	}
	if got := f.sequence(t); !slices.Equal(got, want) {
		t.Fatalf("sequence\n%q\nwant\n%q", got, want)
	}
	if _, err := os.Stat(filepath.Join(f.tmp, "pwned")); err == nil {
		t.Fatal("a hook name reached a shell")
	}
	types, data := f.eventData(t)
	if !slices.Equal(types, []string{operation.TypePre, operation.TypePost}) {
		t.Fatalf("events %v", types)
	}
	for _, l := range f.lines(t) {
		if l.name == "command" {
			continue
		}
		ev := f.events[0]
		if l.state == "post" {
			ev = f.events[1]
		}
		wantExit := "unset"
		if l.state == "post" {
			wantExit = "0"
		}
		got := logLine{l.name, "", l.operation, l.state, l.hook, l.exitCode, l.abortedBy, l.eventType, l.key, l.eventID}
		if w := (logLine{l.name, "", "backup", l.state, l.name, wantExit, "unset", "op." + l.state, "backup", ev.ID}); got != w {
			t.Errorf("hook environment\n%+v\nwant\n%+v", got, w)
		}
	}
	pre, post := data[0], data[1]
	if pre.State != "pre" || pre.Operation != "backup" || pre.Host != "host-a" || pre.ExitCode != nil || pre.ExitStatus != nil || pre.AbortedBy != "" ||
		!slices.Equal(pre.Command, cfg.Command) || len(pre.Hooks) != 4 || pre.Hooks[0].Name != "10-first" || intp(pre.Hooks[0].ExitCode) != "0" {
		t.Fatalf("op.pre data %+v", pre)
	}
	if post.State != "post" || intp(post.ExitCode) != "0" || intp(post.ExitStatus) != "0" || post.DurationMS <= 0 ||
		!slices.Equal(hookNames(post), []string{"10-first:ok", "20-second:ok", "9-last:ok", odd + ":ok"}) {
		t.Fatalf("op.post data %+v", post)
	}
	if len(f.hooks) != 8 || f.hooks[0].Name != "10-first" || f.hooks[0].State != "pre" || f.hooks[7].State != "post" {
		t.Fatalf("OnHook saw %+v", f.hooks)
	}
}

func TestRun_PreHookAborts(t *testing.T) {
	f := newFixture(t)
	f.hook(t, "10-stop-service", "")
	f.hook(t, "20-veto", `[ "$2" = pre ] && { echo "not today" >&2; exit 5; }; true`)
	f.hook(t, "30-after-veto", "")
	rep := f.run(t, context.Background(), f.config("backup", "/bin/sh", "-c", command))
	if rep.ExitStatus != ophooks.ExitAborted || rep.AbortedBy != "20-veto" || rep.CommandStarted || rep.State != ophooks.StateErr {
		t.Fatalf("report %+v", rep)
	}
	want := []string{
		"10-stop-service backup pre", "20-veto backup pre",
		"10-stop-service backup err", "20-veto backup err", "30-after-veto backup err",
	}
	if got := f.sequence(t); !slices.Equal(got, want) {
		t.Fatalf("sequence\n%q\nwant\n%q (the command must not run; every err hook must)", got, want)
	}
	for _, l := range f.lines(t) {
		if l.state == "err" && (l.abortedBy != "20-veto" || l.exitCode != "unset") {
			t.Errorf("err hook %s: HERALD_ABORTED_BY %q HERALD_EXIT_CODE %q", l.name, l.abortedBy, l.exitCode)
		}
	}
	veto := rep.Pre[1]
	if veto.Name != "20-veto" || veto.Status != events.StatusFailed || intp(veto.ExitCode) != "5" || veto.Stderr != "not today\n" || veto.Err == nil {
		t.Fatalf("failing hook %+v", veto)
	}
	types, data := f.eventData(t)
	if !slices.Equal(types, []string{operation.TypePre, operation.TypeErr}) || data[0].AbortedBy != "20-veto" ||
		!slices.Equal(hookNames(data[0]), []string{"10-stop-service:ok", "20-veto:failed"}) ||
		data[1].AbortedBy != "20-veto" || data[1].ExitCode != nil || intp(data[1].ExitStatus) != "3" || len(data[1].Hooks) != 3 {
		t.Fatalf("events %v %+v", types, data)
	}
}

func TestRun_CommandFails(t *testing.T) {
	f := newFixture(t)
	f.hook(t, "10-a", "")
	f.hook(t, "20-b", "")
	rep := f.run(t, context.Background(), f.config("backup", "/bin/sh", "-c", command+"; exit 7"))
	if rep.ExitStatus != 7 || rep.State != ophooks.StateErr || intp(rep.ExitCode) != "7" {
		t.Fatalf("report %+v", rep)
	}
	want := []string{"10-a backup pre", "20-b backup pre", "command", "10-a backup err", "20-b backup err"}
	if got := f.sequence(t); !slices.Equal(got, want) {
		t.Fatalf("sequence\n%q\nwant\n%q (err hooks, not post)", got, want)
	}
	for _, l := range f.lines(t) {
		if l.state == "err" && (l.exitCode != "7" || l.abortedBy != "unset") {
			t.Errorf("err hook %s: HERALD_EXIT_CODE %q HERALD_ABORTED_BY %q", l.name, l.exitCode, l.abortedBy)
		}
	}
	types, data := f.eventData(t)
	if !slices.Equal(types, []string{operation.TypePre, operation.TypeErr}) || intp(data[1].ExitCode) != "7" || intp(data[1].ExitStatus) != "7" {
		t.Fatalf("events %v %+v", types, data)
	}
}

func TestRun_AfterHookFailures(t *testing.T) {
	f := newFixture(t)
	f.hook(t, "10-a", `[ "$2" = post ] && { echo "post broke" >&2; exit 9; }; true`)
	f.hook(t, "20-b", `[ "$2" = post ] && kill -KILL $$; true`)
	f.hook(t, "30-c", "")
	rep := f.run(t, context.Background(), f.config("backup", "/bin/sh", "-c", command))
	if rep.ExitStatus != ophooks.ExitHookFailed || rep.State != ophooks.StatePost {
		t.Fatalf("report %+v: a failing post hook after a successful command must exit %d", rep, ophooks.ExitHookFailed)
	}
	if failed := rep.FailedAfter(); len(failed) != 2 || failed[0].Name != "10-a" || failed[1].Name != "20-b" {
		t.Fatalf("FailedAfter %+v, want 10-a and 20-b", failed)
	}
	want := []string{"10-a backup pre", "20-b backup pre", "30-c backup pre", "command", "10-a backup post", "20-b backup post", "30-c backup post"}
	if got := f.sequence(t); !slices.Equal(got, want) {
		t.Fatalf("sequence\n%q\nwant\n%q (every post hook runs)", got, want)
	}
	if a, b := rep.After[0], rep.After[1]; intp(a.ExitCode) != "9" || a.Stderr != "post broke\n" || b.Signal != "SIGKILL" || !rep.After[2].OK() {
		t.Fatalf("after hooks %+v", rep.After)
	}
	_, data := f.eventData(t)
	if !slices.Equal(hookNames(data[1]), []string{"10-a:failed", "20-b:failed", "30-c:ok"}) || data[1].Hooks[1].Signal != "SIGKILL" {
		t.Fatalf("op.post hooks %+v", data[1].Hooks)
	}
	if intp(data[1].ExitCode) != "0" || intp(data[1].ExitStatus) != "4" {
		t.Fatalf("op.post exit_code %s exit_status %s, want 0 and 4", intp(data[1].ExitCode), intp(data[1].ExitStatus))
	}
}

// A failing err hook leaves the failure's own status: the command's, or
// the abort's.
func TestRun_ErrHookFailureKeepsStatus(t *testing.T) {
	t.Run("command failed", func(t *testing.T) {
		f := newFixture(t)
		f.hook(t, "10-a", `[ "$2" = err ] && exit 9; true`)
		rep := f.run(t, context.Background(), f.config("backup", "/bin/sh", "-c", command+"; exit 7"))
		if rep.ExitStatus != 7 || rep.State != ophooks.StateErr || len(rep.FailedAfter()) != 1 {
			t.Fatalf("report %+v: want the command's 7 with one failed err hook", rep)
		}
	})
	t.Run("aborted", func(t *testing.T) {
		f := newFixture(t)
		f.hook(t, "10-a", `exit 9`)
		rep := f.run(t, context.Background(), f.config("backup", "/bin/sh", "-c", command))
		if rep.ExitStatus != ophooks.ExitAborted || rep.AbortedBy != "10-a" || len(rep.FailedAfter()) != 1 {
			t.Fatalf("report %+v: want the abort's %d with one failed err hook", rep, ophooks.ExitAborted)
		}
	})
}

func TestRun_CommandEnds(t *testing.T) {
	t.Run("killed by a signal: 128+N", func(t *testing.T) {
		f := newFixture(t)
		f.hook(t, "10-a", "")
		rep := f.run(t, context.Background(), f.config("backup", "/bin/sh", "-c", command+"; kill -TERM $$"))
		if rep.ExitStatus != 128+int(syscall.SIGTERM) || rep.Signal != "SIGTERM" || rep.ExitCode != nil || rep.State != ophooks.StateErr {
			t.Fatalf("report %+v", rep)
		}
		if l := f.lines(t); len(l) != 3 || l[2].state != "err" || l[2].exitCode != "143" {
			t.Fatalf("log %+v", l)
		}
		if _, data := f.eventData(t); data[1].Signal != "SIGTERM" || data[1].ExitCode != nil || intp(data[1].ExitStatus) != "143" {
			t.Fatalf("op.err %+v", data[1])
		}
	})
	t.Run("cannot start: 127", func(t *testing.T) {
		f := newFixture(t)
		f.hook(t, "10-a", "")
		rep := f.run(t, context.Background(), f.config("backup", filepath.Join(f.tmp, "no-such-command")))
		if rep.ExitStatus != ophooks.ExitNotStarted || rep.CommandStarted || rep.CommandErr == nil || rep.State != ophooks.StateErr {
			t.Fatalf("report %+v", rep)
		}
		if l := f.lines(t); len(l) != 2 || l[1].state != "err" || l[1].exitCode != "127" {
			t.Fatalf("log %+v", l)
		}
		if _, data := f.eventData(t); !strings.Contains(data[1].Error, "no-such-command") || intp(data[1].ExitStatus) != "127" {
			t.Fatalf("op.err %+v", data[1])
		}
	})
}

func TestRun_HookTimeout(t *testing.T) {
	const grace = 200 * time.Millisecond
	var f *fixture
	rep, timeout := testutil.UntilReady(t, func(timeout time.Duration) (*ophooks.Report, string, time.Time) {
		f = newFixture(t)
		f.hook(t, "10-stuck", `[ "$2" = pre ] || exit 0
trap '' TERM
echo $$ > "$T/pid"
sleep 1000 &
echo $! > "$T/child"
`+testutil.ReadyLine(`"$T/ready"`)+`
wait`)
		f.hook(t, "20-next", "")
		cfg := f.config("backup", "/bin/sh", "-c", command)
		cfg.Timeout, cfg.KillGrace = timeout, grace
		clock := time.Now() // before the hook starts, so before its timeout's clock
		return f.run(t, context.Background(), cfg), filepath.Join(f.tmp, "ready"), clock
	})
	if rep.ExitStatus != ophooks.ExitAborted || rep.AbortedBy != "10-stuck" {
		t.Fatalf("report %+v", rep)
	}
	stuck := rep.Pre[0]
	if stuck.Status != events.StatusTimeout || stuck.Signal != "SIGKILL" || stuck.Duration < timeout+grace {
		t.Fatalf("stuck hook %+v: want a timeout, SIGKILL after the grace", stuck)
	}
	for _, p := range []string{"pid", "child"} {
		b, err := os.ReadFile(filepath.Join(f.tmp, p))
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		testutil.Eventually(t, poll, func() error {
			if err := syscall.Kill(pid, 0); err == nil && !zombie(pid) {
				return fmt.Errorf("%s %d still alive", p, pid)
			}
			return nil
		})
	}
	want := []string{"10-stuck backup pre", "10-stuck backup err", "20-next backup err"}
	if got := f.sequence(t); !slices.Equal(got, want) {
		t.Fatalf("sequence %q, want %q", got, want)
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+2:])[0] == "Z"
}

func TestRun_HooksDir(t *testing.T) {
	t.Run("missing default directory: no hooks", func(t *testing.T) {
		f := newFixture(t)
		cfg := f.config("backup", "/bin/sh", "-c", command)
		cfg.Dir, cfg.MissingDirOK = filepath.Join(f.tmp, "nope"), true
		rep := f.run(t, context.Background(), cfg)
		if rep.ExitStatus != 0 || len(rep.Hooks) != 0 || !slices.Equal(f.sequence(t), []string{"command"}) {
			t.Fatalf("report %+v log %q", rep, f.sequence(t))
		}
	})
	t.Run("missing named directory: error, nothing runs", func(t *testing.T) {
		f := newFixture(t)
		cfg := f.config("backup", "/bin/sh", "-c", command)
		cfg.Dir = filepath.Join(f.tmp, "nope")
		if _, err := ophooks.Run(context.Background(), cfg); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Run = %v, want ErrNotExist", err)
		}
		if got := f.sequence(t); got != nil {
			t.Fatalf("log %q", got)
		}
	})
	t.Run("relative directory", func(t *testing.T) {
		f := newFixture(t)
		f.hook(t, "10-a", "")
		t.Chdir(f.dir)
		cfg := f.config("backup", "/bin/sh", "-c", command)
		cfg.Dir = "."
		rep := f.run(t, context.Background(), cfg)
		if rep.ExitStatus != 0 || !slices.Equal(f.sequence(t), []string{"10-a backup pre", "command", "10-a backup post"}) {
			t.Fatalf("report %+v log %q", rep, f.sequence(t))
		}
	})
}

func TestRun_Cancel(t *testing.T) {
	t.Run("during the command: SIGTERM, then the err hooks", func(t *testing.T) {
		f := newFixture(t)
		f.hook(t, "10-a", "")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cfg := f.config("backup", "/bin/sh", "-c", `echo $$ > "$T/cmd"; exec sleep 1000`)
		done := make(chan *ophooks.Report, 1)
		go func() { r, _ := ophooks.Run(ctx, cfg); done <- r }()
		testutil.Eventually(t, poll, func() error {
			if b, _ := os.ReadFile(filepath.Join(f.tmp, "cmd")); len(b) == 0 {
				return errors.New("command not started")
			}
			return nil
		})
		cancel()
		var rep *ophooks.Report
		select {
		case rep = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return")
		}
		if rep.Signal != "SIGTERM" || rep.ExitStatus != 143 || rep.State != ophooks.StateErr || len(rep.After) != 1 || !rep.After[0].OK() {
			t.Fatalf("report %+v after %+v: the err hooks must run despite the cancel", rep, rep.After)
		}
	})
	t.Run("during a pre hook: abort, then the err hooks", func(t *testing.T) {
		f := newFixture(t)
		f.hook(t, "10-a", `[ "$2" = pre ] && { echo $$ > "$T/hook"; exec sleep 1000; }; true`)
		f.hook(t, "20-b", "")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cfg := f.config("backup", "/bin/sh", "-c", command)
		done := make(chan *ophooks.Report, 1)
		go func() { r, _ := ophooks.Run(ctx, cfg); done <- r }()
		testutil.Eventually(t, poll, func() error {
			if b, _ := os.ReadFile(filepath.Join(f.tmp, "hook")); len(b) == 0 {
				return errors.New("hook not started")
			}
			return nil
		})
		cancel()
		var rep *ophooks.Report
		select {
		case rep = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return")
		}
		if rep.ExitStatus != ophooks.ExitAborted || rep.AbortedBy != "10-a" || rep.CommandStarted {
			t.Fatalf("report %+v", rep)
		}
		want := []string{"10-a backup pre", "10-a backup err", "20-b backup err"}
		if got := f.sequence(t); !slices.Equal(got, want) {
			t.Fatalf("sequence %q, want %q", got, want)
		}
	})
}
