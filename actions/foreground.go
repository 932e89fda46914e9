package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// Exit statuses of a foreground command (RunForeground) other than its own
// exit code, as a shell reports them.
const (
	// ExitNotStarted: the command could not be started (not found, not
	// executable).
	ExitNotStarted = 127
	// ExitSignalBase + N: the command was killed by signal N.
	ExitSignalBase = 128
)

// Foreground is a command run in the foreground of a CLI (herald call's and
// herald op's COMMAND): with the caller's stdio, in the caller's process
// group, so that the terminal's signals reach it too.
type Foreground struct {
	// Argv is the program and its arguments; it is run directly, no shell.
	Argv []string
	// Stdin, Stdout and Stderr are passed to the command; nil means the
	// null device.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// KillGrace: when ctx ends the command gets SIGTERM, then SIGKILL once
	// KillGrace has passed. After the command exits, output that a process
	// it left behind holds open is copied for KillGrace more, then dropped.
	KillGrace time.Duration
}

// ForegroundResult is how a foreground command ended.
type ForegroundResult struct {
	// Started reports whether the command was started at all.
	Started bool
	// Status is the shell-style exit status: the command's exit code,
	// ExitSignalBase+N when signal N killed it, ExitNotStarted when it
	// could not start, 1 when its end could not be read.
	Status int
	// ExitCode is set when the command exited; Signal ("SIGTERM") when a
	// signal killed it.
	ExitCode *int
	Signal   string
	// Err is why the command did not start (Started false), why its end
	// could not be read ("wait: ..."; Status 1), or exec.ErrWaitDelay when
	// it exited but a process it left behind held its output open past
	// KillGrace. It is nil for any plain exit or death by a signal.
	Err error
	// Duration runs from the start (or the attempt) to the end.
	Duration time.Duration
}

// RunForeground runs f.Argv to its end. Until ctx ends it is not
// interrupted; then it gets SIGTERM, and SIGKILL after f.KillGrace.
func RunForeground(ctx context.Context, f Foreground) ForegroundResult {
	if len(f.Argv) == 0 {
		return ForegroundResult{Status: ExitNotStarted, Err: errors.New("argv: no command")}
	}
	cmd := exec.CommandContext(ctx, f.Argv[0], f.Argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f.Stdin, f.Stdout, f.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	// After a cancel: SIGKILL once this has passed. After the command's
	// exit: stop copying output that a leftover process holds open.
	cmd.WaitDelay = f.KillGrace
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return ForegroundResult{Status: ExitNotStarted, Err: err, Duration: time.Since(start)}
	}
	err := cmd.Wait()
	r := ForegroundResult{Started: true, Status: 1, Duration: time.Since(start)}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ok && ws.Exited():
		code := ws.ExitStatus()
		r.ExitCode, r.Status = &code, code
	case ok && ws.Signaled():
		r.Signal = SignalName(ws.Signal())
		r.Status = ExitSignalBase + int(ws.Signal())
	default:
		r.Err = fmt.Errorf("wait: %w", err)
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		r.Err = err
	}
	return r
}
