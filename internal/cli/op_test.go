package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events/operation"
	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/ophooks"
	"github.com/heraldhq/herald/internal/testutil"
)

// opLogHook appends "name|args|HERALD_OPERATION|HERALD_STATE|HERALD_HOOK|
// HERALD_EXIT_CODE" to $LOG.
const opLogHook = `printf '%s|%s|%s|%s|%s|%s\n' "$(basename "$0")" "$*" "$HERALD_OPERATION" "$HERALD_STATE" "$HERALD_HOOK" "${HERALD_EXIT_CODE-unset}" >> "$LOG"`

// opFixture is a hooks directory and the log its hooks and the command
// write.
type opFixture struct{ dir, tmp, log string }

func newOpFixture(t *testing.T) opFixture {
	f := opFixture{dir: t.TempDir(), tmp: t.TempDir()}
	f.log = filepath.Join(f.tmp, "log")
	t.Setenv("LOG", f.log)
	t.Setenv("T", f.tmp)
	return f
}

// hook writes an executable hook that logs its run, then runs extra.
func (f opFixture) hook(t *testing.T, name, extra string) {
	t.Helper()
	f.write(t, name, 0o755, opLogHook+"\n"+extra)
}

func (f opFixture) write(t *testing.T, name string, perm os.FileMode, body string) {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
}

// lines returns the log, each line as "name|args|operation|state|hook|exit".
func (f opFixture) lines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(f.log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return lines(string(b))
}

// op runs "herald op OPERATION --hooks-dir DIR --no-events extra... -- command...".
func (f opFixture) op(t *testing.T, operation string, extra []string, command ...string) result {
	t.Helper()
	args := append([]string{"op", operation, "--hooks-dir", f.dir}, extra...)
	return run(t, nil, nil, append(append(args, "--"), command...)...)
}

func entry(name, args, state, exit string) string {
	op, _, _ := strings.Cut(args, " ")
	return strings.Join([]string{name, args, op, state, name, exit}, "|")
}

const logCommand = `echo 'command' >> "$LOG"`

func TestMain_RunOp(t *testing.T) {
	odd := `a b;$(touch pwned) 'q' "d" *`
	t.Run("pre hooks, command, post hooks in name order", func(t *testing.T) {
		f := newOpFixture(t)
		t.Chdir(f.tmp) // where a shell would create pwned
		for _, n := range []string{"20-second", "10-first", "9-last", odd} {
			f.hook(t, n, "")
		}
		f.write(t, "15-not-executable", 0o644, opLogHook)
		f.write(t, ".15-hidden", 0o755, opLogHook)
		f.write(t, "10-first~", 0o755, opLogHook)
		if err := os.Mkdir(filepath.Join(f.dir, "12-directory"), 0o755); err != nil {
			t.Fatal(err)
		}
		r := run(t, nil, strings.NewReader("piped in"), "op", "backup", "--hooks-dir", f.dir, "--no-events", "--",
			"/bin/sh", "-c", logCommand+`; echo "out: $(cat) $1"; echo to-stderr >&2`, "sh", "$HOME;*")
		if r.err != nil {
			t.Fatalf("exit %d: %v\nstderr: %s", r.code(), r.err, r.errOut)
		}
		if r.out != "out: piped in $HOME;*\n" || r.errOut != "to-stderr\n" {
			t.Fatalf("stdout %q stderr %q: the command's stdin, stdout and stderr must pass through, and nothing else be printed", r.out, r.errOut)
		}
		var want []string
		for _, state := range []string{"pre", "post"} {
			exit := "unset"
			if state == "post" {
				exit = "0"
			}
			for _, n := range []string{"10-first", "20-second", "9-last", odd} {
				want = append(want, entry(n, "backup "+state, state, exit))
			}
			if state == "pre" {
				want = append(want, "command")
			}
		}
		if got := f.lines(t); !slices.Equal(got, want) {
			t.Fatalf("log\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if _, err := os.Stat(filepath.Join(f.tmp, "pwned")); err == nil {
			t.Fatal("a hook's file name reached a shell")
		}
	})

	t.Run("flags before OPERATION, and no --", func(t *testing.T) {
		f := newOpFixture(t)
		f.hook(t, "10-a", "")
		r := run(t, nil, nil, "op", "--hooks-dir", f.dir, "--no-events", "restore", "--verbose", "/bin/sh", "-c", logCommand)
		if r.err != nil {
			t.Fatalf("exit %d: %v\nstderr: %s", r.code(), r.err, r.errOut)
		}
		want := []string{entry("10-a", "restore pre", "pre", "unset"), "command", entry("10-a", "restore post", "post", "0")}
		if got := f.lines(t); !slices.Equal(got, want) {
			t.Fatalf("log %q, want %q", got, want)
		}
		if !strings.Contains(r.errOut, `restore pre hook "10-a": ok`) || !strings.Contains(r.errOut, `restore post hook "10-a": ok`) {
			t.Fatalf("--verbose stderr %q: want a line per hook", r.errOut)
		}
	})

	t.Run("a failing pre hook aborts: exit 3, the command does not run, err hooks do", func(t *testing.T) {
		f := newOpFixture(t)
		f.hook(t, "10-stop", "")
		f.hook(t, "20-check", `[ "$2" = pre ] && { echo "disk almost full" >&2; exit 5; }; true`)
		f.hook(t, "30-late", "")
		marker := filepath.Join(f.tmp, "ran")
		r := f.op(t, "backup", []string{"--no-events"}, "/bin/sh", "-c", `touch "$1"`, "sh", marker)
		if r.code() != ophooks.ExitAborted {
			t.Fatalf("exit %d (%v), want 3\nstderr: %s", r.code(), r.err, r.errOut)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("the command ran after a pre hook failed")
		}
		for _, s := range []string{`backup pre hook "20-check" failed: exit status 5`, "disk almost full", `aborted by pre hook "20-check"`} {
			if !strings.Contains(r.errOut, s) {
				t.Errorf("stderr lacks %q:\n%s", s, r.errOut)
			}
		}
		want := []string{
			entry("10-stop", "backup pre", "pre", "unset"), entry("20-check", "backup pre", "pre", "unset"),
			entry("10-stop", "backup err", "err", "unset"), entry("20-check", "backup err", "err", "unset"), entry("30-late", "backup err", "err", "unset"),
		}
		if got := f.lines(t); !slices.Equal(got, want) {
			t.Fatalf("log\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("the command fails: err hooks, not post; its exit status", func(t *testing.T) {
		f := newOpFixture(t)
		f.hook(t, "10-a", "")
		f.hook(t, "20-b", "")
		r := f.op(t, "backup", []string{"--no-events"}, "/bin/sh", "-c", logCommand+"; exit 7")
		if r.code() != 7 {
			t.Fatalf("exit %d (%v), want 7\nstderr: %s", r.code(), r.err, r.errOut)
		}
		want := []string{
			entry("10-a", "backup pre", "pre", "unset"), entry("20-b", "backup pre", "pre", "unset"), "command",
			entry("10-a", "backup err", "err", "7"), entry("20-b", "backup err", "err", "7"),
		}
		if got := f.lines(t); !slices.Equal(got, want) {
			t.Fatalf("log\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if r.errOut != "" {
			t.Fatalf("stderr %q: a command's own failure needs no message from herald", r.errOut)
		}
	})

	t.Run("a failing post hook is printed, all run, exit 4", func(t *testing.T) {
		f := newOpFixture(t)
		f.hook(t, "10-a", `[ "$2" = post ] && { echo "cannot start mysql" >&2; exit 1; }; true`)
		f.hook(t, "20-b", "")
		r := f.op(t, "backup", []string{"--no-events"}, "/bin/sh", "-c", logCommand)
		if r.code() != ophooks.ExitHookFailed {
			t.Fatalf("exit %d (%v), want %d", r.code(), r.err, ophooks.ExitHookFailed)
		}
		if !strings.Contains(r.errOut, `backup post hook "10-a" failed: exit status 1`+"\n") || !strings.Contains(r.errOut, "cannot start mysql") ||
			!strings.Contains(r.errOut, `herald op: backup: the command succeeded but post hook "10-a" (exit status 1) failed (exit status 4)`) {
			t.Fatalf("stderr %q", r.errOut)
		}
		if got := f.lines(t); len(got) != 5 || got[4] != entry("20-b", "backup post", "post", "0") {
			t.Fatalf("log %q: the post hook after the failing one must run", got)
		}
	})

	t.Run("a failing err hook leaves the command's status", func(t *testing.T) {
		f := newOpFixture(t)
		f.hook(t, "10-a", `[ "$2" = err ] && exit 1; true`)
		r := f.op(t, "backup", []string{"--no-events"}, "/bin/sh", "-c", logCommand+"; exit 7")
		if r.code() != 7 || !strings.Contains(r.errOut, `backup err hook "10-a" failed: exit status 1 (the exit status does not change)`) {
			t.Fatalf("exit %d (%v), want 7\nstderr: %s", r.code(), r.err, r.errOut)
		}
	})

	t.Run("a hook that ignores SIGTERM is killed after the timeout", func(t *testing.T) {
		f := newOpFixture(t)
		f.hook(t, "10-stuck", `[ "$2" = pre ] || exit 0
trap '' TERM
echo $$ > "$T/pid"
sleep 1000 &
wait`)
		marker := filepath.Join(f.tmp, "ran")
		start := time.Now()
		r := f.op(t, "backup", []string{"--no-events", "--hook-timeout", "200ms", "--hook-kill-grace", "200ms"}, "/bin/sh", "-c", `touch "$1"`, "sh", marker)
		if r.code() != ophooks.ExitAborted || !strings.Contains(r.errOut, `pre hook "10-stuck" failed: timed out after 200ms`) {
			t.Fatalf("exit %d stderr %q", r.code(), r.errOut)
		}
		if d := time.Since(start); d < 400*time.Millisecond || d > 20*time.Second {
			t.Fatalf("took %v: want the timeout and the kill grace, not more", d)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("the command ran")
		}
		b, err := os.ReadFile(filepath.Join(f.tmp, "pid"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat("/proc/" + strings.TrimSpace(string(b))); err == nil {
			// Reaped by Exec before Run returned: the pid must be gone.
			stat, _ := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
			t.Fatalf("the stuck hook is still there: %s", stat)
		}
	})

	t.Run("a command that cannot start: 127, err hooks", func(t *testing.T) {
		f := newOpFixture(t)
		f.hook(t, "10-a", "")
		r := f.op(t, "backup", []string{"--no-events"}, filepath.Join(f.tmp, "no-such-command"))
		if r.code() != ophooks.ExitNotStarted || !strings.Contains(r.errOut, "cannot start the command") {
			t.Fatalf("exit %d stderr %q", r.code(), r.errOut)
		}
		if got := f.lines(t); len(got) != 2 || got[1] != entry("10-a", "backup err", "err", "127") {
			t.Fatalf("log %q", got)
		}
	})

	t.Run("a command killed by a signal: 128+N", func(t *testing.T) {
		f := newOpFixture(t)
		r := f.op(t, "backup", []string{"--no-events"}, "/bin/sh", "-c", "kill -KILL $$")
		if r.code() != 137 || !strings.Contains(r.errOut, "killed by SIGKILL") {
			t.Fatalf("exit %d stderr %q", r.code(), r.errOut)
		}
	})

	t.Run("missing --hooks-dir is an error, nothing runs", func(t *testing.T) {
		f := newOpFixture(t)
		marker := filepath.Join(f.tmp, "ran")
		r := run(t, nil, nil, "op", "backup", "--hooks-dir", filepath.Join(f.tmp, "nope"), "--no-events", "--", "/bin/sh", "-c", `touch "$1"`, "sh", marker)
		if r.code() != cli.ExitFailure || !strings.Contains(r.errOut, "no such file or directory") {
			t.Fatalf("exit %d stderr %q", r.code(), r.errOut)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("the command ran")
		}
	})
}

func TestMain_RunOpUsage(t *testing.T) {
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"no operation":        {"op"},
		"no command":          {"op", "backup", "--hooks-dir", dir},
		"no command after --": {"op", "backup", "--hooks-dir", dir, "--"},
		"bad operation":       {"op", "back up", "--hooks-dir", dir, "--", "true"},
		"operation like flag": {"op", "--", "-x", "true"},
		"zero hook timeout":   {"op", "backup", "--hook-timeout", "0s", "--", "true"},
		"unknown flag after":  {"op", "backup", "--bogus", "--", "true"},
		"empty hooks dir":     {"op", "backup", "--hooks-dir", "", "--", "true"},
	} {
		t.Run(name, func(t *testing.T) {
			r := run(t, nil, nil, args...)
			if r.code() != cli.ExitUsage || r.errOut == "" {
				t.Fatalf("exit %d stderr %q, want 2 and a message", r.code(), r.errOut)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		r := run(t, nil, nil, "help", "op")
		for _, s := range []string{"-hooks-dir", "-hook-timeout", "-hook-kill-grace", "-no-events", "-nats", "-verbose", ophooks.DefaultDir, "OPERATION pre", "HERALD_EXIT_CODE", "exits 3", "(default 1m0s)", "(default 2s)"} {
			if !strings.Contains(r.out, s) {
				t.Errorf("help op lacks %q:\n%s", s, r.out)
			}
		}
		if top := run(t, nil, nil, "help"); !strings.Contains(top.out, "  op ") {
			t.Errorf("help does not list op:\n%s", top.out)
		}
	})
}

func TestExitCode_ExitStatus(t *testing.T) {
	for _, code := range []int{3, 7, 127, 143} {
		if got := cli.ExitCode(fmt.Errorf("wrapped: %w", &cli.ExitStatus{Code: code})); got != code {
			t.Errorf("ExitCode(ExitStatus %d) = %d", code, got)
		}
	}
}

func TestMain_RunOpEvents(t *testing.T) {
	t.Run("published to NATS", func(t *testing.T) {
		s, js := natsWithStreams(t)
		f := newOpFixture(t)
		f.hook(t, "10-a", `echo "$HERALD_EVENT_ID" > "$T/$2.id"`)
		r := f.op(t, "nightly-backup", []string{"--nats", s.ClientURL()}, "/bin/sh", "-c", "exit 4")
		if r.code() != 4 {
			t.Fatalf("exit %d (%v)\nstderr: %s", r.code(), r.err, r.errOut)
		}
		pre, _ := storedEvent(t, js, operation.TypePre, "nightly-backup")
		errEv, _ := storedEvent(t, js, operation.TypeErr, "nightly-backup")
		host, _ := os.Hostname()
		for _, c := range []struct {
			ev    string
			state string
			id    string
			data  []byte
			src   string
		}{
			{"op.pre", "pre", pre.ID, pre.Data, pre.Source},
			{"op.err", "err", errEv.ID, errEv.Data, errEv.Source},
		} {
			if c.src != "herald://op/"+host {
				t.Errorf("%s source %q", c.ev, c.src)
			}
			b, err := os.ReadFile(filepath.Join(f.tmp, c.state+".id"))
			if err != nil || strings.TrimSpace(string(b)) != c.id {
				t.Errorf("%s: the %s hook saw HERALD_EVENT_ID %q, the event id is %s (%v)", c.ev, c.state, b, c.id, err)
			}
			var d operation.EventData
			if err := json.Unmarshal(c.data, &d); err != nil {
				t.Fatalf("%s data %s: %v", c.ev, c.data, err)
			}
			if d.Operation != "nightly-backup" || d.State != c.state || d.Host != host || !slices.Equal(d.Command, []string{"/bin/sh", "-c", "exit 4"}) ||
				len(d.Hooks) != 1 || d.Hooks[0].Name != "10-a" || d.Hooks[0].Status != "ok" {
				t.Errorf("%s data %s", c.ev, c.data)
			}
			if c.state == "err" && (d.ExitCode == nil || *d.ExitCode != 4 || d.ExitStatus == nil || *d.ExitStatus != 4) {
				t.Errorf("op.err data %s: want exit_code 4", c.data)
			}
		}
	})
	t.Run("NATS down: a note, the operation goes on", func(t *testing.T) {
		f := newOpFixture(t)
		f.hook(t, "10-a", "")
		start := time.Now()
		r := f.op(t, "backup", []string{"--nats", deadURL(t)}, "/bin/sh", "-c", logCommand)
		if r.err != nil {
			t.Fatalf("exit %d (%v)\nstderr: %s", r.code(), r.err, r.errOut)
		}
		if !strings.Contains(r.errOut, "note: not publishing op events") {
			t.Fatalf("stderr %q: want a note", r.errOut)
		}
		if got := f.lines(t); len(got) != 3 || got[1] != "command" {
			t.Fatalf("log %q", got)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("took %v", d)
		}
	})
	t.Run("NATS silent: gives up after --timeout", func(t *testing.T) {
		f := newOpFixture(t)
		start := time.Now()
		r := f.op(t, "backup", []string{"--nats", silentURL(t), "--timeout", "500ms"}, "/bin/sh", "-c", logCommand)
		if r.err != nil || !strings.Contains(r.errOut, "note: not publishing op events") || !slices.Equal(f.lines(t), []string{"command"}) {
			t.Fatalf("exit %d stderr %q log %q", r.code(), r.errOut, f.lines(t))
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("took %v with --timeout 500ms", d)
		}
	})
	t.Run("server without Herald's streams: a note", func(t *testing.T) {
		f := newOpFixture(t)
		bare := testutil.RunNATS(t).ClientURL()
		r := f.op(t, "backup", []string{"--nats", bare}, "/bin/sh", "-c", logCommand)
		if r.err != nil || strings.Count(r.errOut, "note: not publishing op events") != 1 || !slices.Equal(f.lines(t), []string{"command"}) {
			t.Fatalf("exit %d stderr %q log %q: want one note and the command run", r.code(), r.errOut, f.lines(t))
		}
	})
}
