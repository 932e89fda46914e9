package actions_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/internal/testutil"
)

// firstWrite is an io.Writer that closes ready on its first write and
// keeps what it was given.
type firstWrite struct {
	buf   testutil.SyncBuffer
	ready chan struct{}
	once  bool
}

func newFirstWrite() *firstWrite { return &firstWrite{ready: make(chan struct{})} }

func (w *firstWrite) Write(p []byte) (int, error) {
	if !w.once {
		w.once = true
		close(w.ready)
	}
	return w.buf.Write(p)
}

// RunForeground reports a command's end with one shell-style status: its
// exit code, 128+N for signal N, 127 when it could not start.
func TestRunForeground_ExitStatus(t *testing.T) {
	ctx := context.Background()
	t.Run("exit code, stdio passed through", func(t *testing.T) {
		var out, errOut bytes.Buffer
		r := actions.RunForeground(ctx, actions.Foreground{
			Argv:  []string{"/bin/sh", "-c", `read x; echo "out $x"; echo err >&2; exit 3`},
			Stdin: strings.NewReader("in\n"), Stdout: &out, Stderr: &errOut,
		})
		if !r.Started || r.Status != 3 || r.ExitCode == nil || *r.ExitCode != 3 || r.Signal != "" || r.Err != nil {
			t.Fatalf("got %+v, want started, status 3, exit code 3", r)
		}
		if out.String() != "out in\n" || errOut.String() != "err\n" {
			t.Fatalf("stdout %q, stderr %q", out.String(), errOut.String())
		}
	})
	t.Run("killed by a signal", func(t *testing.T) {
		r := actions.RunForeground(ctx, actions.Foreground{Argv: []string{"/bin/sh", "-c", "kill -USR1 $$"}})
		if !r.Started || r.Status != actions.ExitSignalBase+int(syscall.SIGUSR1) || r.Signal != "SIGUSR1" || r.ExitCode != nil || r.Err != nil {
			t.Fatalf("got %+v, want status %d, signal SIGUSR1", r, 128+int(syscall.SIGUSR1))
		}
	})
	t.Run("not started", func(t *testing.T) {
		r := actions.RunForeground(ctx, actions.Foreground{Argv: []string{"/nonexistent/herald-test-command"}})
		if r.Started || r.Status != actions.ExitNotStarted || r.Err == nil || r.ExitCode != nil {
			t.Fatalf("got %+v, want not started, status 127 and an error", r)
		}
		if r := actions.RunForeground(ctx, actions.Foreground{}); r.Started || r.Status != 127 || r.Err == nil || !strings.HasPrefix(r.Err.Error(), "argv:") {
			t.Fatalf("no argv: got %+v, want not started, status 127, an error naming argv", r)
		}
	})
}

// When ctx ends the command gets SIGTERM; one that ignores it gets SIGKILL
// once KillGrace has passed.
func TestRunForeground_CancelTermThenKill(t *testing.T) {
	for _, tc := range []struct {
		name, script, signal string
		status               int
	}{
		{"SIGTERM", "echo ready; exec sleep 60", "SIGTERM", 143},
		{"SIGKILL after the grace", "trap '' TERM; echo ready; exec sleep 60", "SIGKILL", 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := newFirstWrite()
			done := make(chan actions.ForegroundResult, 1)
			go func() {
				done <- actions.RunForeground(ctx, actions.Foreground{
					Argv: []string{"/bin/sh", "-c", tc.script}, Stdout: out, KillGrace: 200 * time.Millisecond,
				})
			}()
			<-out.ready // the trap is set
			cancel()
			r := <-done
			if r.Status != tc.status || r.Signal != tc.signal {
				t.Fatalf("got %+v, want status %d, signal %s", r, tc.status, tc.signal)
			}
		})
	}
}

// A command that exits while a process it left behind holds its output
// open ends once KillGrace has passed, with exec.ErrWaitDelay in Err and
// its own exit status.
func TestRunForeground_OutputHeldOpen(t *testing.T) {
	// The leftover cat holds stdout open until the test closes its stdin.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	defer pr.Close()
	r := actions.RunForeground(context.Background(), actions.Foreground{
		Argv:  []string{"/bin/sh", "-c", "exec 3<&0; cat <&3 & echo started"},
		Stdin: pr, Stdout: &testutil.SyncBuffer{}, KillGrace: 200 * time.Millisecond,
	})
	if r.Status != 0 || r.ExitCode == nil || *r.ExitCode != 0 || !errors.Is(r.Err, exec.ErrWaitDelay) {
		t.Fatalf("got %+v, want exit 0 and ErrWaitDelay", r)
	}
}

func TestSignalName(t *testing.T) {
	if got := actions.SignalName(syscall.SIGKILL); got != "SIGKILL" {
		t.Errorf("SignalName(SIGKILL) = %q", got)
	}
	if got := actions.SignalName(syscall.Signal(200)); got != "signal 200" {
		t.Errorf("SignalName(200) = %q, want signal 200", got)
	}
}
