package actions_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
)

// poll is the deadline for anything that waits on a real process.
const poll = 10 * time.Second

// script writes an executable /bin/sh script into dir and returns its path.
func script(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func newExec(t testing.TB, cfg actions.ExecConfig) *actions.Exec {
	t.Helper()
	a, err := actions.NewExec(cfg)
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	return a
}

func event(key string, data []byte) events.Event {
	e := events.New("test://src", "config.changed", key, data)
	e.Version = "42"
	return e
}

func request(key string, data []byte) actions.Request {
	return actions.Request{Event: event(key, data), Watch: "w1", Host: "host-a", Attempt: 1}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFile polls until path exists with non-empty content and returns it.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	var s string
	testutil.Eventually(t, poll, func() error {
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			return fmt.Errorf("%s not written yet (%v)", path, err)
		}
		s = string(b)
		return nil
	})
	return s
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(waitFile(t, path)))
	if err != nil {
		t.Fatalf("pid file %s: %v", path, err)
	}
	return pid
}

// procState returns the state letter of pid from /proc ("" when gone) and
// its process group.
func procState(pid int) (state string, pgrp int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	pgrp, _ = strconv.Atoi(f[2])
	return f[0], pgrp
}

// alive reports whether pid is a running (not dead, not zombie) process.
func alive(pid int) bool {
	st, _ := procState(pid)
	return st != "" && st != "Z" && st != "X"
}

func waitDead(t *testing.T, pid int) {
	t.Helper()
	testutil.Eventually(t, poll, func() error {
		if alive(pid) {
			return fmt.Errorf("process %d is still alive", pid)
		}
		return nil
	})
}

// noLeaks fails the test if Run left goroutines behind.
func noLeaks(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		testutil.Eventually(t, poll, func() error {
			if n := runtime.NumGoroutine(); n > base {
				return fmt.Errorf("%d goroutines, %d before the test", n, base)
			}
			return nil
		})
	})
}

type runResult struct {
	res     actions.Result
	elapsed time.Duration
}

func runAsync(ctx context.Context, a actions.Action, req actions.Request) <-chan runResult {
	ch := make(chan runResult, 1)
	go func() {
		start := time.Now()
		res := a.Run(ctx, req)
		ch <- runResult{res, time.Since(start)}
	}()
	return ch
}

func await(t *testing.T, ch <-chan runResult) runResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
		return runResult{}
	}
}

func exitCode(r actions.Result) string {
	if r.ExitCode == nil {
		return "<nil>"
	}
	return strconv.Itoa(*r.ExitCode)
}

func TestExecConfig_Validate(t *testing.T) {
	ok := actions.ExecConfig{Argv: []string{"/bin/true"}}
	cases := []struct {
		name  string
		mod   func(*actions.ExecConfig)
		field string // "" = valid
	}{
		{"valid", func(*actions.ExecConfig) {}, ""},
		{"valid user and group", func(c *actions.ExecConfig) { c.User, c.Group = "nobody", "0" }, ""},
		{"numeric user with group", func(c *actions.ExecConfig) { c.User, c.Group = "54321", "54321" }, ""},
		{"empty argv", func(c *actions.ExecConfig) { c.Argv = nil }, "argv"},
		{"empty program", func(c *actions.ExecConfig) { c.Argv = []string{""} }, "argv"},
		{"NUL in argv", func(c *actions.ExecConfig) { c.Argv = []string{"/bin/echo", "a\x00b"} }, "argv"},
		{"negative timeout", func(c *actions.ExecConfig) { c.Timeout = -time.Second }, "timeout"},
		{"negative kill grace", func(c *actions.ExecConfig) { c.KillGrace = -time.Second }, "kill_grace"},
		{"unknown user", func(c *actions.ExecConfig) { c.User = "herald-no-such-user" }, "user"},
		{"unknown group", func(c *actions.ExecConfig) { c.Group = "herald-no-such-group" }, "group"},
		{"numeric user without group", func(c *actions.ExecConfig) { c.User = "54321" }, "user"},
		{"reserved env", func(c *actions.ExecConfig) { c.Env = map[string]string{"HERALD_KEY": "x"} }, "env"},
		{"bad env name", func(c *actions.ExecConfig) { c.Env = map[string]string{"A=B": "x"} }, "env"},
		{"bad notify signal", func(c *actions.ExecConfig) { c.NotifySignal = 99 }, "notify_signal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, actions.ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), ": "+tc.field+": ") {
				t.Fatalf("error %q does not name field %q", err, tc.field)
			}
			if _, err := actions.NewExec(c); !errors.Is(err, actions.ErrInvalidConfig) {
				t.Fatalf("NewExec accepted an invalid config: %v", err)
			}
		})
	}
}

func TestExec_Kind(t *testing.T) {
	if k := newExec(t, actions.ExecConfig{Argv: []string{"/bin/true"}}).Kind(); k != "exec" {
		t.Fatalf("Kind = %q", k)
	}
}

func TestExec_Run_ExitStatus(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	cases := []struct {
		name   string
		argv   []string
		status events.Status
		code   string
		signal string
		stdout string
		stderr string
	}{
		{"shell ok", []string{"/bin/sh", "-c", "echo out; echo err >&2"}, events.StatusOK, "0", "", "out\n", "err\n"},
		{"shell exit 3", []string{"/bin/sh", "-c", "echo failing >&2; exit 3"}, events.StatusFailed, "3", "", "", "failing\n"},
		{"argv ok", []string{script(t, dir, `printf '%s|' "$@"`), "a b", "$HOME", "*"}, events.StatusOK, "0", "", "a b|$HOME|*|", ""},
		{"argv from PATH", []string{"true"}, events.StatusOK, "0", "", "", ""},
		{"argv exit 3", []string{"/bin/sh", "-c", "exit 3"}, events.StatusFailed, "3", "", "", ""},
		{"killed by own signal", []string{"/bin/sh", "-c", "kill -KILL $$"}, events.StatusFailed, "<nil>", "SIGKILL", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := newExec(t, actions.ExecConfig{Argv: tc.argv}).Run(context.Background(), request("/k", nil))
			if res.Status != tc.status || exitCode(res) != tc.code || res.Signal != tc.signal {
				t.Fatalf("got status %q exit %s signal %q (err %v), want %q %s %q",
					res.Status, exitCode(res), res.Signal, res.Err, tc.status, tc.code, tc.signal)
			}
			if res.Stdout != tc.stdout || res.Stderr != tc.stderr {
				t.Fatalf("stdout %q stderr %q, want %q %q", res.Stdout, res.Stderr, tc.stdout, tc.stderr)
			}
			if res.Err != nil {
				t.Fatalf("Err = %v", res.Err)
			}
			if res.Start.IsZero() || res.Duration <= 0 {
				t.Fatalf("start %v duration %v", res.Start, res.Duration)
			}
		})
	}
}

func TestExec_Run_Stdin(t *testing.T) {
	noLeaks(t)
	// Larger than a pipe buffer, with NULs, newlines, CRs and non-UTF-8.
	var data []byte
	for i := 0; len(data) < 300<<10; i++ {
		data = append(data, fmt.Sprintf("line %d\x00\r\n\xff\xfe$(x)`y`\n", i)...)
	}
	t.Run("byte exact", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "stdin.out")
		a := newExec(t, actions.ExecConfig{Argv: []string{"/bin/sh", "-c", `cat > "$OUT"`}, PipeStdin: true, Env: map[string]string{"OUT": out}})
		res := a.Run(context.Background(), request("/k", data))
		if res.Status != events.StatusOK {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
		if got := readFile(t, out); got != string(data) {
			t.Fatalf("stdin arrived as %d bytes, want %d byte-exact", len(got), len(data))
		}
	})
	for _, tc := range []struct{ name, cmd string }{
		{"child never reads", "exit 0"},
		{"child reads a little", "head -c 10 >/dev/null; exit 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newExec(t, actions.ExecConfig{Argv: []string{"/bin/sh", "-c", tc.cmd}, PipeStdin: true, Timeout: poll})
			res := a.Run(context.Background(), request("/k", bytes.Repeat(data, 4)))
			if res.Status != events.StatusOK || res.Err != nil {
				t.Fatalf("EPIPE on stdin must not fail the run: status %q err %v", res.Status, res.Err)
			}
		})
	}
}

func TestExec_Run_ExactlyOnce(t *testing.T) {
	noLeaks(t)
	for _, pipe := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipe_stdin=%v", pipe), func(t *testing.T) {
			dir := t.TempDir()
			sh := script(t, dir, `echo run >> "$D/count"
readlink /proc/$$/fd/0 > "$D/fd0"
cat > "$D/stdin.out"`)
			a := newExec(t, actions.ExecConfig{Argv: []string{sh}, PipeStdin: pipe, Timeout: poll, Env: map[string]string{"D": dir}})
			res := a.Run(context.Background(), request("/k", []byte("payload\n")))
			if res.Status != events.StatusOK {
				t.Fatalf("status %q err %v (a timeout means stdin did not reach EOF)", res.Status, res.Err)
			}
			if n := strings.Count(readFile(t, filepath.Join(dir, "count")), "run\n"); n != 1 {
				t.Fatalf("action ran %d times, want exactly 1", n)
			}
			fd0 := strings.TrimSpace(readFile(t, filepath.Join(dir, "fd0")))
			in := readFile(t, filepath.Join(dir, "stdin.out"))
			if pipe {
				if !strings.HasPrefix(fd0, "pipe:") || in != "payload\n" {
					t.Fatalf("stdin %q data %q, want a pipe carrying the payload", fd0, in)
				}
			} else if fd0 != "/dev/null" || in != "" {
				t.Fatalf("stdin %q data %q, want /dev/null and immediate EOF", fd0, in)
			}
		})
	}
}

func parseEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(readFile(t, path), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

func TestExec_Run_Env(t *testing.T) {
	noLeaks(t)
	t.Setenv("HERALD_STALE", "from-agent")
	t.Setenv("AGENT_VAR", "inherited")
	t.Setenv("CREDENTIALS_DIRECTORY", "/run/credentials/herald-agent.service")
	t.Run("herald variables", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "env")
		a := newExec(t, actions.ExecConfig{
			Argv: []string{"/bin/sh", "-c", `env -0 > "$OUT"`},
			Env:  map[string]string{"OUT": out, "EXTRA": "x y\nz", "AGENT_VAR": "overridden"},
		})
		req := request("/app/config.yaml", []byte("data"))
		req.Event.Time = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))
		req.Event.DataContentType = "application/json"
		req.Attempt = 2
		if res := a.Run(context.Background(), req); res.Status != events.StatusOK {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
		env := parseEnv(t, out)
		want := map[string]string{
			"HERALD_EVENT_ID":     req.Event.ID,
			"HERALD_EVENT_TYPE":   "config.changed",
			"HERALD_KEY":          "/app/config.yaml",
			"HERALD_VERSION":      "42",
			"HERALD_WATCH":        "w1",
			"HERALD_HOST":         "host-a",
			"HERALD_ATTEMPT":      "2",
			"HERALD_SOURCE":       "test://src",
			"HERALD_TIME":         "2024-05-06T06:08:09.123456789Z",
			"HERALD_CONTENT_TYPE": "application/json",
			"EXTRA":               "x y\nz",
			"AGENT_VAR":           "overridden",
			"PATH":                os.Getenv("PATH"),
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s = %q, want %q", k, env[k], v)
			}
		}
		if v, ok := env["HERALD_STALE"]; ok {
			t.Errorf("agent's HERALD_STALE=%q leaked into the action", v)
		}
		// systemd's LoadCredential= directory (the agent's .creds) is not
		// the action's to find.
		if v, ok := env["CREDENTIALS_DIRECTORY"]; ok {
			t.Errorf("agent's CREDENTIALS_DIRECTORY=%q leaked into the action", v)
		}
	})
	t.Run("inherited and content type default", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "env")
		a := newExec(t, actions.ExecConfig{Argv: []string{"/bin/sh", "-c", `env -0 > "$OUT"`}, Env: map[string]string{"OUT": out}})
		req := request("k", nil)
		req.Event.DataContentType = ""
		if res := a.Run(context.Background(), req); res.Status != events.StatusOK {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
		env := parseEnv(t, out)
		if env["AGENT_VAR"] != "inherited" || env["HERALD_CONTENT_TYPE"] != events.DefaultContentType {
			t.Fatalf("AGENT_VAR=%q HERALD_CONTENT_TYPE=%q", env["AGENT_VAR"], env["HERALD_CONTENT_TYPE"])
		}
	})
	t.Run("NUL in key is dropped", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "key")
		a := newExec(t, actions.ExecConfig{Argv: []string{"/bin/sh", "-c", `printf '%s' "$HERALD_KEY" > "$OUT"`}, Env: map[string]string{"OUT": out}})
		res := a.Run(context.Background(), request("/a\x00b\nc", nil))
		if res.Status != events.StatusOK {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
		if got := readFile(t, out); got != "/ab\nc" {
			t.Fatalf("HERALD_KEY = %q, want %q", got, "/ab\nc")
		}
	})
}

func TestExec_Run_MetacharactersAreInert(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "pwned")
	evil := "/k/$(touch " + marker + ")/`touch " + marker + "`; touch " + marker + "; rm -rf " + out +
		` '"quoted"' && touch ` + marker + " | touch " + marker + " $HOME ${PATH} *"
	body := `printf '%s' "$HERALD_KEY" > "$OUT/key"; cat > "$OUT/data"; echo $# > "$OUT/argc"`
	for _, tc := range []struct {
		name string
		argv []string
	}{
		{"shell form", []string{"/bin/sh", "-c", body}},
		{"argv form", []string{script(t, dir, body)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newExec(t, actions.ExecConfig{Argv: tc.argv, PipeStdin: true, Env: map[string]string{"OUT": out}})
			res := a.Run(context.Background(), request(evil, []byte(evil+"\n")))
			if res.Status != events.StatusOK {
				t.Fatalf("status %q err %v stderr %q", res.Status, res.Err, res.Stderr)
			}
			if _, err := os.Stat(marker); !os.IsNotExist(err) {
				t.Fatalf("a metacharacter in the key or data was interpreted: marker exists (%v)", err)
			}
			if got := readFile(t, filepath.Join(out, "key")); got != evil {
				t.Fatalf("key arrived as %q, want %q", got, evil)
			}
			if got := readFile(t, filepath.Join(out, "data")); got != evil+"\n" {
				t.Fatalf("data arrived as %q", got)
			}
			if got := readFile(t, filepath.Join(out, "argc")); got != "0\n" {
				t.Fatalf("the hook got %q arguments, want none: event values must not reach argv", got)
			}
		})
	}
}

func TestExec_Run_Timeout(t *testing.T) {
	noLeaks(t)
	t.Run("SIGTERM ignored: SIGKILL to the whole group after the grace", func(t *testing.T) {
		const grace = 300 * time.Millisecond
		var dir string
		r, timeout := testutil.UntilReady(t, func(timeout time.Duration) (runResult, string, time.Time) {
			dir = t.TempDir()
			sh := script(t, dir, `trap '' TERM
echo $$ > "$D/leader.pid"
cut -d' ' -f5 /proc/$$/stat > "$D/pgid"
sleep 1000 &
echo $! > "$D/gc.pid"
echo started
`+testutil.ReadyLine(`"$D/ready"`)+`
wait`)
			a := newExec(t, actions.ExecConfig{Argv: []string{sh}, Timeout: timeout, KillGrace: grace, Env: map[string]string{"D": dir}})
			r := await(t, runAsync(context.Background(), a, request("/k", nil)))
			if gc, err := os.ReadFile(filepath.Join(dir, "gc.pid")); err == nil {
				pid, _ := strconv.Atoi(strings.TrimSpace(string(gc)))
				waitDead(t, pid)
			}
			return r, filepath.Join(dir, "ready"), r.res.Started
		})
		res := r.res
		if res.Status != events.StatusTimeout || res.Signal != "SIGKILL" || res.ExitCode != nil {
			t.Fatalf("status %q signal %q exit %s, want timeout SIGKILL <nil>", res.Status, res.Signal, exitCode(res))
		}
		if !errors.Is(res.Err, actions.ErrTimeout) {
			t.Fatalf("Err = %v, want ErrTimeout", res.Err)
		}
		if res.Duration < timeout+grace {
			t.Fatalf("killed after %v, before timeout+grace %v", res.Duration, timeout+grace)
		}
		if r.elapsed > timeout+grace+poll {
			t.Fatalf("Run took %v", r.elapsed)
		}
		if res.Stdout != "started\n" {
			t.Fatalf("stdout %q: output before the kill must be kept", res.Stdout)
		}
		leader := readPID(t, filepath.Join(dir, "leader.pid"))
		if pg := readPID(t, filepath.Join(dir, "pgid")); pg != leader || pg == syscall.Getpgrp() {
			t.Fatalf("child ran in group %d (leader %d, test %d): want its own group", pg, leader, syscall.Getpgrp())
		}
		gc := readPID(t, filepath.Join(dir, "gc.pid"))
		waitDead(t, gc)
		waitDead(t, leader)
	})
	t.Run("dies on SIGTERM: no wait for the grace", func(t *testing.T) {
		r, _ := testutil.UntilReady(t, func(timeout time.Duration) (runResult, string, time.Time) {
			dir := t.TempDir()
			a := newExec(t, actions.ExecConfig{Argv: []string{"/bin/sh", "-c", "sleep 1000 & " + testutil.ReadyLine(`"$D/ready"`) + "; wait"},
				Timeout: timeout, KillGrace: time.Minute, Env: map[string]string{"D": dir}})
			r := await(t, runAsync(context.Background(), a, request("/k", nil)))
			return r, filepath.Join(dir, "ready"), r.res.Started
		})
		if r.res.Status != events.StatusTimeout || r.res.Signal != "SIGTERM" {
			t.Fatalf("status %q signal %q, want timeout SIGTERM", r.res.Status, r.res.Signal)
		}
		if r.elapsed > 20*time.Second {
			t.Fatalf("Run took %v: it waited for the kill grace after the process had died", r.elapsed)
		}
	})
}

func TestExec_Run_LeftoverProcesses(t *testing.T) {
	noLeaks(t)
	t.Run("background grandchild is killed at leader exit", func(t *testing.T) {
		dir := t.TempDir()
		// The grandchild inherits stdout: if Run waited for EOF it would hang.
		sh := script(t, dir, `sleep 1000 &
echo $! > "$D/gc.pid"
echo done`)
		a := newExec(t, actions.ExecConfig{Argv: []string{sh}, Env: map[string]string{"D": dir}})
		r := await(t, runAsync(context.Background(), a, request("/k", nil)))
		if r.res.Status != events.StatusOK || r.res.Stdout != "done\n" {
			t.Fatalf("status %q stdout %q err %v", r.res.Status, r.res.Stdout, r.res.Err)
		}
		if r.res.Err != nil {
			t.Fatalf("Err = %v: the pipes should close because the grandchild was killed", r.res.Err)
		}
		waitDead(t, readPID(t, filepath.Join(dir, "gc.pid")))
	})
	t.Run("process that left the group keeps the pipe: bounded wait", func(t *testing.T) {
		dir := t.TempDir()
		sh := script(t, dir, `setsid sh -c 'echo $$ > "$D/gc.pid"; exec sleep 1000' &
while [ ! -s "$D/gc.pid" ]; do sleep 0.01; done
echo done`)
		a := newExec(t, actions.ExecConfig{Argv: []string{sh}, Env: map[string]string{"D": dir}})
		r := await(t, runAsync(context.Background(), a, request("/k", nil)))
		gc := readPID(t, filepath.Join(dir, "gc.pid"))
		t.Cleanup(func() { _ = syscall.Kill(gc, syscall.SIGKILL) })
		if r.res.Status != events.StatusOK || r.res.Stdout != "done\n" {
			t.Fatalf("status %q stdout %q err %v", r.res.Status, r.res.Stdout, r.res.Err)
		}
		if !errors.Is(r.res.Err, actions.ErrOutputHeld) {
			t.Fatalf("Err = %v, want ErrOutputHeld", r.res.Err)
		}
		if r.elapsed < actions.PipeDrainTimeout || r.elapsed > actions.PipeDrainTimeout+poll {
			t.Fatalf("Run took %v, want about %v", r.elapsed, actions.PipeDrainTimeout)
		}
		if !alive(gc) {
			t.Fatalf("the process in its own session should not have been touched")
		}
	})
}

func TestExec_Run_Cancel(t *testing.T) {
	noLeaks(t)
	t.Run("SIGTERM then SIGKILL after grace", func(t *testing.T) {
		dir := t.TempDir()
		sh := script(t, dir, `trap 'echo term >> "$D/term"' TERM
echo $$ > "$D/ready"
while :; do sleep 0.05; done`)
		const grace = 300 * time.Millisecond
		a := newExec(t, actions.ExecConfig{Argv: []string{sh}, KillGrace: grace, Timeout: time.Hour, Env: map[string]string{"D": dir}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := runAsync(ctx, a, request("/k", nil))
		leader := readPID(t, filepath.Join(dir, "ready"))
		cancel()
		res := await(t, ch).res
		if res.Status != events.StatusFailed || res.Signal != "SIGKILL" {
			t.Fatalf("status %q signal %q, want failed SIGKILL", res.Status, res.Signal)
		}
		if !errors.Is(res.Err, actions.ErrCanceled) || !errors.Is(res.Err, context.Canceled) {
			t.Fatalf("Err = %v, want ErrCanceled wrapping context.Canceled", res.Err)
		}
		if !strings.Contains(waitFile(t, filepath.Join(dir, "term")), "term") {
			t.Fatalf("SIGTERM was not delivered before SIGKILL")
		}
		if res.Duration < grace {
			t.Fatalf("SIGKILL after %v, before the grace %v", res.Duration, grace)
		}
		waitDead(t, leader)
	})
	t.Run("dies on SIGTERM", func(t *testing.T) {
		dir := t.TempDir()
		sh := script(t, dir, `echo $$ > "$D/ready"; while :; do sleep 0.05; done`)
		a := newExec(t, actions.ExecConfig{Argv: []string{sh}, KillGrace: time.Minute, Env: map[string]string{"D": dir}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := runAsync(ctx, a, request("/k", nil))
		readPID(t, filepath.Join(dir, "ready"))
		cancel()
		r := await(t, ch)
		if r.res.Status != events.StatusFailed || r.res.Signal != "SIGTERM" || r.elapsed > 20*time.Second {
			t.Fatalf("status %q signal %q after %v, want failed SIGTERM promptly", r.res.Status, r.res.Signal, r.elapsed)
		}
	})
	t.Run("already cancelled: never starts", func(t *testing.T) {
		dir := t.TempDir()
		marker := filepath.Join(dir, "ran")
		a := newExec(t, actions.ExecConfig{Argv: []string{"/bin/sh", "-c", `touch "$M"`}, Env: map[string]string{"M": marker}})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res := a.Run(ctx, request("/k", nil))
		if res.Status != events.StatusError || !errors.Is(res.Err, actions.ErrStart) {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
		if _, err := os.Stat(marker); !os.IsNotExist(err) {
			t.Fatalf("the action ran on a cancelled context")
		}
	})
}

func TestExec_Run_Notify(t *testing.T) {
	noLeaks(t)
	body := `trap 'echo usr1 >> "$D/marker"' USR1
echo $$ > "$D/ready"
while [ ! -e "$D/stop" ]; do sleep 0.02; done`
	send := func(t *testing.T, n chan<- struct{}) {
		t.Helper()
		select {
		case n <- struct{}{}:
		case <-time.After(poll):
			t.Fatal("Run did not receive from Notify")
		}
	}
	lines := func(path string) int {
		b, _ := os.ReadFile(path)
		return strings.Count(string(b), "usr1\n")
	}
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		want int
	}{
		{"USR1 delivered per receive", syscall.SIGUSR1, 2},
		{"no notify signal: receives are drained", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			marker := filepath.Join(dir, "marker")
			a := newExec(t, actions.ExecConfig{Argv: []string{script(t, dir, body)}, NotifySignal: tc.sig, Timeout: time.Minute, Env: map[string]string{"D": dir}})
			notify := make(chan struct{})
			req := request("/k", nil)
			req.Notify = notify
			ch := runAsync(context.Background(), a, req)
			readPID(t, filepath.Join(dir, "ready"))
			for i := 1; i <= 2; i++ {
				send(t, notify)
				if tc.want > 0 {
					testutil.Eventually(t, poll, func() error {
						if n := lines(marker); n != i {
							return fmt.Errorf("%d signals seen, want %d", n, i)
						}
						return nil
					})
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "stop"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			res := await(t, ch).res
			if res.Status != events.StatusOK {
				t.Fatalf("status %q signal %q err %v", res.Status, res.Signal, res.Err)
			}
			if n := lines(marker); n != tc.want {
				t.Fatalf("%d notify signals delivered, want %d", n, tc.want)
			}
		})
	}
}

func TestExec_Run_UserGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing user and group needs root")
	}
	noLeaks(t)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no nobody user: %v", err)
	}
	nobodyGroup, err := user.LookupGroupId(nobody.Gid)
	if err != nil {
		t.Fatal(err)
	}
	// Give the agent (this test process) supplementary groups, as a root
	// daemon usually has, so that a child that kept them would show them.
	// Setgroups applies to every thread of the process; restored after.
	saved, err := syscall.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setgroups([]int{0, 4242}); err != nil {
		t.Fatalf("setgroups: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Setgroups(saved); err != nil {
			t.Errorf("restore groups: %v", err)
		}
	})
	body := `id -u > "$OUT/uid"; id -g > "$OUT/gid"; id -G > "$OUT/groups"; printf '%s' "$HOME" > "$OUT/home"`
	run := func(t *testing.T, cfg actions.ExecConfig) (uid, gid, groups, home string) {
		t.Helper()
		dir := t.TempDir()
		// t.TempDir and its parent are 0700: let nobody in and write.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o777); err != nil {
				t.Fatal(err)
			}
		}
		cfg.Argv = []string{"/bin/sh", "-c", body}
		cfg.Env = map[string]string{"OUT": dir}
		cfg.Workdir = dir
		res := newExec(t, cfg).Run(context.Background(), request("/k", nil))
		if res.Status != events.StatusOK {
			t.Fatalf("status %q err %v stderr %q", res.Status, res.Err, res.Stderr)
		}
		f := func(n string) string { return strings.TrimSpace(readFile(t, filepath.Join(dir, n))) }
		return f("uid"), f("gid"), f("groups"), f("home")
	}
	t.Run("user by name", func(t *testing.T) {
		uid, gid, groups, home := run(t, actions.ExecConfig{User: "nobody"})
		if uid != nobody.Uid || gid != nobody.Gid {
			t.Fatalf("uid %s gid %s, want %s %s", uid, gid, nobody.Uid, nobody.Gid)
		}
		want, _ := nobody.GroupIds()
		if got := strings.Fields(groups); !sameSet(got, want) {
			t.Fatalf("supplementary groups %v, want nobody's %v (root's 0 must be dropped)", got, want)
		}
		if home != nobody.HomeDir {
			t.Fatalf("HOME %q, want %q", home, nobody.HomeDir)
		}
	})
	t.Run("user and group by id", func(t *testing.T) {
		uid, gid, groups, _ := run(t, actions.ExecConfig{User: nobody.Uid, Group: nobody.Gid})
		want, _ := nobody.GroupIds()
		if uid != nobody.Uid || gid != nobody.Gid || !sameSet(strings.Fields(groups), want) {
			t.Fatalf("uid %s gid %s groups %s, want %s %s %v", uid, gid, groups, nobody.Uid, nobody.Gid, want)
		}
	})
	t.Run("group only", func(t *testing.T) {
		// Only the gid changes: uid and supplementary groups stay the agent's.
		uid, gid, groups, _ := run(t, actions.ExecConfig{Group: nobodyGroup.Name})
		if uid != "0" || gid != nobody.Gid {
			t.Fatalf("uid %s gid %s, want 0 %s", uid, gid, nobody.Gid)
		}
		if g := strings.Fields(groups); !slicesContains(g, "0") || !slicesContains(g, "4242") {
			t.Fatalf("groups %v: the agent's supplementary groups should be unchanged", g)
		}
	})
}

func sameSet(a, b []string) bool {
	m := map[string]bool{}
	for _, s := range a {
		m[s] = true
	}
	if len(m) != len(b) {
		return false
	}
	for _, s := range b {
		if !m[s] {
			return false
		}
	}
	return true
}

func slicesContains(s []string, v string) bool { return slices.Contains(s, v) }

func TestExec_Run_OutputTail(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	big := make([]byte, 5<<20)
	for i := range big {
		big[i] = byte(i*7 + i/8191)
	}
	src := filepath.Join(dir, "big")
	if err := os.WriteFile(src, big, 0o644); err != nil {
		t.Fatal(err)
	}
	a := newExec(t, actions.ExecConfig{Argv: []string{"/bin/sh", "-c", `cat "$F"; cat "$F" >&2; printf 'end'`}, Env: map[string]string{"F": src}})
	res := a.Run(context.Background(), request("/k", nil))
	if res.Status != events.StatusOK {
		t.Fatalf("status %q err %v", res.Status, res.Err)
	}
	wantOut := string(append(append([]byte{}, big...), "end"...)[len(big)+3-events.TailBytes:])
	if res.Stdout != wantOut {
		t.Fatalf("stdout is %d bytes and not the last %d bytes written", len(res.Stdout), events.TailBytes)
	}
	if res.Stderr != string(big[len(big)-events.TailBytes:]) {
		t.Fatalf("stderr is %d bytes and not the last %d bytes written", len(res.Stderr), events.TailBytes)
	}
}

func TestExec_Run_StartErrors(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-exec")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  actions.ExecConfig
	}{
		{"missing binary path", actions.ExecConfig{Argv: []string{filepath.Join(dir, "no-such-program")}}},
		{"missing binary in PATH", actions.ExecConfig{Argv: []string{"herald-no-such-program"}}},
		{"not executable", actions.ExecConfig{Argv: []string{notExec}}},
		{"bad workdir", actions.ExecConfig{Argv: []string{"/bin/true"}, Workdir: filepath.Join(dir, "no-such-dir")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := newExec(t, tc.cfg).Run(context.Background(), request("/k", nil))
			if res.Status != events.StatusError || !errors.Is(res.Err, actions.ErrStart) || res.ExitCode != nil {
				t.Fatalf("status %q exit %s err %v, want error with ErrStart", res.Status, exitCode(res), res.Err)
			}
		})
	}
}

func BenchmarkExec_True(b *testing.B) {
	a := newExec(b, actions.ExecConfig{Argv: []string{"/bin/true"}})
	req := request("/k", []byte("data"))
	ctx := context.Background()
	for b.Loop() {
		if res := a.Run(ctx, req); res.Status != events.StatusOK {
			b.Fatalf("status %q err %v", res.Status, res.Err)
		}
	}
}

func TestExec_Run_Concurrent(t *testing.T) {
	noLeaks(t)
	a := newExec(t, actions.ExecConfig{Argv: []string{"/bin/sh", "-c", `cat; printf ' %s' "$HERALD_ATTEMPT"`}, PipeStdin: true})
	const n = 16
	chans := make([]<-chan runResult, n)
	for i := range chans {
		req := request("/k", []byte(fmt.Sprintf("run-%d", i)))
		req.Attempt = i + 1
		chans[i] = runAsync(context.Background(), a, req)
	}
	for i, ch := range chans {
		res := await(t, ch).res
		if want := fmt.Sprintf("run-%d %d", i, i+1); res.Status != events.StatusOK || res.Stdout != want {
			t.Fatalf("run %d: status %q stdout %q, want %q", i, res.Status, res.Stdout, want)
		}
	}
}
