package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/fielderr"
)

// KindExec is the Kind of an Exec action.
const KindExec = "exec"

// DefaultKillGrace is the time between SIGTERM and SIGKILL when
// ExecConfig.KillGrace is 0.
const DefaultKillGrace = 5 * time.Second

// PipeDrainTimeout bounds how long Run keeps reading stdout and stderr after
// the process group is gone. Only a process that left the group (setsid, a
// daemon) and kept the pipes open can make it matter: Run then closes its
// ends of the pipes, stops reading and reports ErrOutputHeld.
const PipeDrainTimeout = time.Second

// ExecConfig configures an Exec action.
type ExecConfig struct {
	// Argv is the program and its arguments; argv[0] without a "/" is looked
	// up in the agent's PATH (not Env's). A shell string is passed by the
	// caller as ["/bin/sh", "-c", cmd].
	Argv []string
	// PipeStdin: true puts the event data on stdin; false makes stdin
	// /dev/null.
	PipeStdin bool
	// Env adds to (and overrides) the agent's environment. HERALD_* names
	// are reserved: the run gets the request's HERALD_* variables (see
	// EnvKey and friends) and none of the agent's own HERALD_* variables.
	Env map[string]string
	// Workdir is the working directory; empty keeps the agent's.
	Workdir string
	// User and Group are names or numeric ids (names are tried first);
	// empty leaves them unchanged. They are looked up again at every run.
	// With User, the child gets the user's uid, Group's gid (or the user's
	// primary gid), the user's supplementary groups (just the gid when they
	// cannot be listed) and HOME, USER and LOGNAME of the user (Env can
	// override them). A numeric User with no entry in the user database
	// needs Group. With only Group, only the gid changes: uid and
	// supplementary groups stay the agent's.
	User, Group string
	// Timeout bounds a run; 0 means none.
	Timeout time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL; 0 means
	// DefaultKillGrace.
	KillGrace time.Duration
	// NotifySignal is sent to the process group on each Request.Notify
	// receive; 0 means none.
	NotifySignal syscall.Signal
}

// Validate checks the config; each error wraps ErrInvalidConfig and names
// the field. User and group names are looked up in the user database.
func (c ExecConfig) Validate() error {
	errs := fielderr.List{Sentinel: ErrInvalidConfig}
	switch {
	case len(c.Argv) == 0:
		errs.Add("argv", "is empty")
	case c.Argv[0] == "":
		errs.Add("argv", "program (argv[0]) is empty")
	}
	for i, a := range c.Argv {
		if strings.IndexByte(a, 0) >= 0 {
			errs.Add("argv", "argument %d contains a NUL byte", i)
		}
	}
	for k, v := range c.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			errs.Add("env", "invalid variable name %q", k)
		}
		if strings.HasPrefix(k, EnvPrefix) {
			errs.Add("env", "%q: %s* variables are set by Herald", k, EnvPrefix)
		}
		if strings.IndexByte(v, 0) >= 0 {
			errs.Add("env", "value of %q contains a NUL byte", k)
		}
	}
	if strings.IndexByte(c.Workdir, 0) >= 0 {
		errs.Add("workdir", "contains a NUL byte")
	}
	if c.Timeout < 0 {
		errs.Add("timeout", "must not be negative, got %v", c.Timeout)
	}
	if c.KillGrace < 0 {
		errs.Add("kill_grace", "must not be negative, got %v", c.KillGrace)
	}
	if c.NotifySignal < 0 || c.NotifySignal > 64 {
		errs.Add("notify_signal", "%d is not a signal number", int(c.NotifySignal))
	}
	if field, err := IdentityField(c.User, c.Group); err != nil {
		errs.Add(field, "%v", err)
	}
	return errs.Err()
}

// Exec runs a program directly (no shell unless the caller asks for one) in
// its own process group.
//
// Lifecycle of one run:
//   - The child starts with Setpgid, so it and everything it spawns form a
//     process group whose id is the child's pid. Run holds the child
//     unreaped (waitid WNOWAIT) until it has finished signalling the group,
//     so the group id can never be reused by an unrelated process while Run
//     may still signal it.
//   - On timeout or ctx cancellation: SIGTERM to the whole group, then
//     SIGKILL to the whole group after KillGrace. ESRCH is ignored.
//   - When the leader exits (on its own or after a signal), whatever is
//     left in its group (e.g. "sleep 1000 &") is sent SIGKILL at once:
//     nothing a run started outlives it unless it left the group itself.
//     Killed orphans are reaped by init (or the nearest child subreaper).
//   - Run then reaps the leader and reads stdout and stderr to EOF, for at
//     most PipeDrainTimeout.
//   - A GroupRecorder in ctx (WithGroupRecorder) hears of the group from
//     start until it is gone, so that what is left of it can be killed after
//     the caller itself was killed.
type Exec struct {
	cfg ExecConfig
}

var _ Action = (*Exec)(nil)

// NewExec validates cfg and returns the action. It keeps its own copy of
// Argv and Env.
func NewExec(cfg ExecConfig) (*Exec, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Argv = append([]string(nil), cfg.Argv...)
	cfg.Env = maps.Clone(cfg.Env)
	if cfg.KillGrace == 0 {
		cfg.KillGrace = DefaultKillGrace
	}
	return &Exec{cfg: cfg}, nil
}

// Kind returns "exec".
func (e *Exec) Kind() string { return KindExec }

// Run runs the program once. See Exec for the process lifecycle. It
// returns only after the leader is reaped, its group has been sent SIGKILL
// and the output has been read (or PipeDrainTimeout has passed).
func (e *Exec) Run(ctx context.Context, req Request) Result {
	res := Result{Start: time.Now()}
	fail := func(err error) Result {
		res.Status = events.StatusError
		res.Err = fmt.Errorf("%w: %w", ErrStart, err)
		res.Duration = time.Since(res.Start)
		return res
	}
	if ctx.Err() != nil {
		return fail(context.Cause(ctx))
	}
	id, err := resolveIdentity(e.cfg.User, e.cfg.Group)
	if err != nil {
		return fail(err)
	}
	stdout, stderr := NewTailBuffer(events.TailBytes), NewTailBuffer(events.TailBytes)
	cmd := exec.Command(e.cfg.Argv[0], e.cfg.Argv[1:]...)
	cmd.Dir = e.cfg.Workdir
	cmd.Env = e.environ(req, id.env)
	if e.cfg.PipeStdin {
		// os/exec copies this through a pipe in its own goroutine and ignores
		// the EPIPE when the child exits without reading it all. A nil Stdin
		// is /dev/null.
		cmd.Stdin = bytes.NewReader(req.Event.Data)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Pdeathsig: if the agent itself dies (SIGKILL, OOM), the action's
	// leader dies with it instead of running on unwatched next to the rerun
	// that the redelivered event causes. Go sets it after the credentials
	// change, so it survives setuid.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: id.cred, Pdeathsig: syscall.SIGKILL}
	// After the leader is reaped, Wait reads the pipes to EOF for at most
	// this long, then closes them and returns.
	cmd.WaitDelay = PipeDrainTimeout
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	res.Started = time.Now()
	pgid := cmd.Process.Pid
	// Deferred: runs after the final SIGKILL to the group and the reap below.
	defer groupStarted(ctx, pgid)()

	// The waiter ends when the leader exits; Run always waits for it below,
	// and every path to that point ends in SIGKILL for the group.
	exited := make(chan error, 1)
	go func() { exited <- waitExited(pgid) }()

	var (
		errs             []error
		reason           error // ErrTimeout or ErrCanceled once terminating
		timeoutC, graceC <-chan time.Time
		grace            *time.Timer
		done             = ctx.Done()
		notify           = req.Notify
		waitErr          error
	)
	signal := func(sig syscall.Signal) {
		if err := signalGroup(pgid, sig); err != nil {
			errs = append(errs, err)
		}
	}
	if e.cfg.Timeout > 0 {
		t := time.NewTimer(e.cfg.Timeout)
		defer t.Stop()
		timeoutC = t.C
	}
	defer func() {
		if grace != nil {
			grace.Stop()
		}
	}()
	terminate := func(why error) {
		reason = why
		timeoutC, done, notify = nil, nil, nil
		signal(syscall.SIGTERM)
		grace = time.NewTimer(e.cfg.KillGrace)
		graceC = grace.C
	}
	// leaderGone reports (without blocking) whether the leader has exited,
	// so that an exit racing a timeout or cancel is not counted as killed.
	leaderGone := func() bool {
		select {
		case waitErr = <-exited:
			return true
		default:
			return false
		}
	}
loop:
	for {
		select {
		case waitErr = <-exited:
			break loop
		case _, ok := <-notify:
			if !ok {
				notify = nil
			} else if e.cfg.NotifySignal != 0 {
				signal(e.cfg.NotifySignal)
			}
		case <-timeoutC:
			if leaderGone() {
				break loop
			}
			terminate(ErrTimeout)
		case <-done:
			if leaderGone() {
				break loop
			}
			terminate(ErrCanceled)
		case <-graceC:
			graceC = nil
			signal(syscall.SIGKILL)
		}
	}
	if waitErr != nil {
		errs = append(errs, waitErr)
	}
	// The leader is a zombie, so pgid still names this run's group: kill
	// whatever is left in it before reaping.
	signal(syscall.SIGKILL)
	werr := cmd.Wait()
	res.Duration = time.Since(res.Start)
	res.Stdout, res.Stderr = stdout.String(), stderr.String()

	state := cmd.ProcessState
	if state != nil {
		if ws, ok := state.Sys().(syscall.WaitStatus); ok {
			switch {
			case ws.Exited():
				code := ws.ExitStatus()
				res.ExitCode = &code
			case ws.Signaled():
				res.Signal = SignalName(ws.Signal())
			}
		}
	}
	switch {
	case reason == ErrTimeout:
		res.Status = events.StatusTimeout
		errs = append([]error{fmt.Errorf("%w after %v", ErrTimeout, e.cfg.Timeout)}, errs...)
	case reason == ErrCanceled:
		res.Status = events.StatusFailed
		errs = append([]error{fmt.Errorf("%w: %w", ErrCanceled, context.Cause(ctx))}, errs...)
	case state != nil && state.Success():
		res.Status = events.StatusOK
	default:
		res.Status = events.StatusFailed
	}
	var exitErr *exec.ExitError
	switch {
	case errors.Is(werr, exec.ErrWaitDelay):
		// Only reported when the process otherwise succeeded (os/exec).
		errs = append(errs, fmt.Errorf("%w: stopped reading after %v", ErrOutputHeld, PipeDrainTimeout))
	case werr != nil && !errors.As(werr, &exitErr):
		errs = append(errs, fmt.Errorf("wait: %w", werr))
	}
	res.Err = errors.Join(errs...)
	return res
}

// environ is the agent's environment (no HERALD_*, TRACE*, CREDENTIALS_DIRECTORY), then the run-as user's HOME, USER and
// LOGNAME, then cfg.Env, then the HERALD_* variables and TRACEPARENT; os/exec keeps the last
// value of a repeated name.
func (e *Exec) environ(req Request, userEnv []string) []string {
	base := os.Environ()
	env := make([]string, 0, len(base)+len(userEnv)+len(e.cfg.Env)+10)
	for _, kv := range base {
		if !strings.HasPrefix(kv, EnvPrefix) && !strings.HasPrefix(kv, EnvTraceParent+"=") && !strings.HasPrefix(kv, EnvTraceState+"=") && !strings.HasPrefix(kv, EnvCredentialsDirectory+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, userEnv...)
	for k, v := range e.cfg.Env {
		env = append(env, k+"="+envValue(v))
	}
	return append(env, requestEnv(req)...)
}

// waitExited blocks until process pid has exited, without reaping it.
func waitExited(pid int) error {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("waitid %d: %w", pid, err)
		}
		return nil
	}
}

// signalGroup sends sig to every process in group pgid. A group with no
// processes left (ESRCH) is not an error.
func signalGroup(pgid int, sig syscall.Signal) error {
	err := syscall.Kill(-pgid, sig)
	if err == nil || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return fmt.Errorf("send %s to process group %d: %w", SignalName(sig), pgid, err)
}

// SignalName returns sig's name, "SIGKILL" style, or "signal N" for one
// without a name.
func SignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return fmt.Sprintf("signal %d", int(sig))
}
