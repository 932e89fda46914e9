// Package ophooks runs an operation between the operation hooks of a
// hooks.d directory (herald op), the way TKLBAM does around a backup or a
// restore, without TKLBAM's defects: hooks run in name order, directly
// (never through a shell), each under a timeout, and the post or err hooks
// always run.
//
// Run is one operation: every hook with "OPERATION pre" (the first failure
// aborts the operation), then the command, then every hook with
// "OPERATION post" when the command exited 0 or "OPERATION err" otherwise
// (including after an abort). A failing post hook makes the operation fail
// (ExitHookFailed); a failing err hook leaves the failure's own status.
// Each state is described by an op.pre, op.post or op.err event (its types
// and data are package events/operation's) handed to the caller, who may
// publish it.
//
// RunPhase runs one state's hooks alone, for a caller that puts its own
// steps between them (herald call's local hooks: METHOD PHASE as
// arguments, the call on stdin).
//
// Listing the directory and running one hook (process group, timeout,
// SIGTERM then SIGKILL) belong to package actions (ListHooks, Exec); this
// package adds the operation around them. It knows nothing about NATS,
// flags or how the caller prints: it reports through callbacks and a
// Report.
package ophooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/operation"
	"github.com/heraldhq/herald/internal/fielderr"
)

// DefaultDir is the hooks directory when none is given.
const DefaultDir = "/etc/herald/hooks.d"

// DefaultTimeout bounds each hook when Config.Timeout is 0.
const DefaultTimeout = 60 * time.Second

// States: the second argument of every hook and its HERALD_STATE.
const (
	StatePre  = "pre"  // before the command; a failure aborts the operation
	StatePost = "post" // after the command exited 0
	StateErr  = "err"  // after the command failed, or after an abort
)

// Environment variables every hook gets, besides those of any action run
// (see package actions: HERALD_EVENT_ID of the state's op.* event,
// HERALD_EVENT_TYPE, HERALD_KEY = the operation, HERALD_HOST, ...) and
// actions.EnvHook (HERALD_HOOK, the hook's file name).
const (
	EnvOperation = "HERALD_OPERATION" // the operation, also the first argument
	EnvState     = "HERALD_STATE"     // pre, post or err, also the second argument
	// EnvExitCode is set for post and err hooks when the command ran or
	// could not start: the exit status Run reports (the command's exit
	// code, 128+N when killed by signal N, ExitNotStarted).
	EnvExitCode = "HERALD_EXIT_CODE"
	// EnvAbortedBy is set for err hooks after an abort: the name of the pre
	// hook that failed. HERALD_EXIT_CODE is then not set.
	EnvAbortedBy = "HERALD_ABORTED_BY"
)

// Exit statuses of an operation other than the command's own exit code.
const (
	// ExitAborted: a pre hook failed and the command did not run (the
	// status of a veto elsewhere in Herald).
	ExitAborted = 3
	// ExitHookFailed: the command exited 0 but a post hook failed (TKLBAM
	// raises HookError on any hook that fails). When the command failed,
	// its own status wins over a failing err hook.
	ExitHookFailed = 4
	// ExitNotStarted: the command could not be started (not found, not
	// executable), as a shell reports it.
	ExitNotStarted = actions.ExitNotStarted
	// ExitSignalBase + N: the command was killed by signal N.
	ExitSignalBase = actions.ExitSignalBase
)

// MaxOperationLen bounds the length of an operation name.
const MaxOperationLen = 128

// ErrInvalidConfig wraps every configuration error; the message names the
// field.
var ErrInvalidConfig = errors.New("invalid operation config")

var operationRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Config is one operation.
type Config struct {
	// Operation names it (backup, restore, deploy...): a letter or digit,
	// then letters, digits, '.', '_' and '-'. It is the first argument of
	// every hook and the key of the op.* events.
	Operation string
	// Command is the argv of the operation itself, executed directly.
	Command []string
	// Dir is the hooks.d directory; relative paths are made absolute.
	Dir string
	// MissingDirOK makes a missing Dir mean "no hooks" instead of an
	// error. Meant for the default directory: a directory named on purpose
	// and missing (a typo) must not silently skip the pre hooks.
	MissingDirOK bool
	// Timeout bounds each hook; 0 means DefaultTimeout. There is no way to
	// run a hook without a timeout.
	Timeout time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL, for a hook that
	// timed out and for the command when ctx is cancelled; 0 means
	// actions.DefaultKillGrace.
	KillGrace time.Duration
	// Host names this machine in events; "" means the host name.
	Host string
	// Source is the source of the op.* events; "" means
	// "herald://op/" + Host.
	Source string
	// Stdin, Stdout and Stderr are the command's (nil: /dev/null). Hooks
	// read /dev/null and their output is captured into HookRun.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// OnHook, if set, is called after each hook ends.
	OnHook func(HookRun)
	// OnEvent, if set, is called with each state's op.* event when the
	// state ends (op.pre before the command starts), synchronously: the
	// operation waits for it.
	OnEvent func(events.Event)
}

// Validate checks the config; each error wraps ErrInvalidConfig and names
// the field.
func (c Config) Validate() error {
	errs := fielderr.List{Sentinel: ErrInvalidConfig}
	switch {
	case c.Operation == "":
		errs.Add("operation", "is empty")
	case len(c.Operation) > MaxOperationLen:
		errs.Add("operation", "longer than %d bytes", MaxOperationLen)
	case !operationRe.MatchString(c.Operation):
		errs.Add("operation", "%q: want a letter or digit, then letters, digits, '.', '_' or '-'", c.Operation)
	}
	switch {
	case len(c.Command) == 0:
		errs.Add("command", "is empty")
	case c.Command[0] == "":
		errs.Add("command", "program (argv[0]) is empty")
	}
	for i, a := range c.Command {
		if strings.IndexByte(a, 0) >= 0 {
			errs.Add("command", "argument %d contains a NUL byte", i)
		}
	}
	switch {
	case c.Dir == "":
		errs.Add("dir", "is empty")
	case strings.IndexByte(c.Dir, 0) >= 0:
		errs.Add("dir", "contains a NUL byte")
	}
	if c.Timeout < 0 {
		errs.Add("timeout", "must not be negative, got %v", c.Timeout)
	}
	if c.KillGrace < 0 {
		errs.Add("kill_grace", "must not be negative, got %v", c.KillGrace)
	}
	return errs.Err()
}

// HookRun is how one hook ended.
type HookRun struct {
	Name     string        // file name
	State    string        // pre, post or err
	Status   events.Status // ok, failed, timeout or error (could not start)
	ExitCode *int          // set when it exited
	Signal   string        // set when it was killed by a signal
	Duration time.Duration
	Stdout   string // tails, as in actions.Result
	Stderr   string
	Err      error // why it did not succeed (actions.HookCause); nil when it did
}

// OK reports whether the hook succeeded.
func (h HookRun) OK() bool { return h.Status == events.StatusOK }

// Report is how an operation went.
type Report struct {
	Operation string
	Command   []string
	Host      string
	Hooks     []string  // the hooks found, in the order they ran
	Pre       []HookRun // the pre hooks that ran, the failing one last
	// AbortedBy names the pre hook that failed; "" when none did.
	AbortedBy string
	// CommandStarted reports whether the command started; CommandErr says
	// why not (nil after an abort: it was not tried).
	CommandStarted bool
	CommandErr     error
	ExitCode       *int   // the command's exit code, when it exited
	Signal         string // the signal that killed the command
	CommandTime    time.Duration
	State          string    // StatePost or StateErr: the hooks that ran after
	After          []HookRun // those hooks, all of them, in order
	// ExitStatus is the operation's: the command's exit code,
	// ExitSignalBase+N, ExitNotStarted, ExitAborted, or ExitHookFailed
	// when the command exited 0 and a post hook failed.
	ExitStatus int
}

// FailedAfter returns the post or err hooks that failed, in order.
func (r *Report) FailedAfter() []HookRun {
	var failed []HookRun
	for _, h := range r.After {
		if !h.OK() {
			failed = append(failed, h)
		}
	}
	return failed
}

// Run runs the operation: pre hooks, the command, then post or err hooks.
// The error is for what stops the operation before anything ran (an
// invalid config, a hooks directory that cannot be listed); everything
// after that is in the Report, whose ExitStatus is the operation's.
//
// Cancelling ctx (SIGINT, SIGTERM) terminates a pre hook that is running
// and aborts, or sends SIGTERM to the command (SIGKILL after KillGrace);
// either way the err hooks still run, each under its timeout, unaffected by
// the cancellation.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o, err := newOp(cfg)
	if err != nil {
		return nil, err
	}
	o.run(ctx)
	return o.rep, nil
}

type op struct {
	cfg   Config
	hooks []actions.Hook
	rep   *Report
}

func newOp(cfg Config) (*op, error) {
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("hooks dir: %w", err)
	}
	cfg.Dir = dir
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.KillGrace == 0 {
		cfg.KillGrace = actions.DefaultKillGrace
	}
	if cfg.Host == "" {
		if cfg.Host, _ = os.Hostname(); cfg.Host == "" {
			cfg.Host = "unknown"
		}
	}
	if cfg.Source == "" {
		cfg.Source = "herald://op/" + cfg.Host
	}
	hooks, err := actions.ListHooks(cfg.Dir)
	if err != nil && !(cfg.MissingDirOK && errors.Is(err, fs.ErrNotExist)) {
		return nil, fmt.Errorf("hooks dir %s: %w", cfg.Dir, err)
	}
	rep := &Report{Operation: cfg.Operation, Command: append([]string(nil), cfg.Command...), Host: cfg.Host}
	for _, h := range hooks {
		rep.Hooks = append(rep.Hooks, h.Name)
	}
	return &op{cfg: cfg, hooks: hooks, rep: rep}, nil
}

func (o *op) run(ctx context.Context) {
	r := o.rep
	// pre: in order, the first failure aborts.
	start := time.Now()
	ev := o.event(StatePre)
	for _, h := range o.hooks {
		if ctx.Err() != nil {
			// Cancelled between hooks: the next one would not start. Count
			// it as the hook that failed, so the abort names where it
			// stopped.
			hr := HookRun{Name: h.Name, State: StatePre, Status: events.StatusError,
				Err: fmt.Errorf("%w: not started: %w", actions.ErrCanceled, context.Cause(ctx))}
			o.done(hr)
			r.Pre, r.AbortedBy = append(r.Pre, hr), h.Name
			break
		}
		hr := o.runHook(ctx, ev, h, StatePre, nil)
		r.Pre = append(r.Pre, hr)
		if !hr.OK() {
			r.AbortedBy = h.Name
			break
		}
	}
	o.emit(ev, StatePre, time.Since(start), r.Pre)

	// after: every hook, whatever happened, not cancelled with ctx.
	after := context.WithoutCancel(ctx)
	vars := map[string]string{}
	if r.AbortedBy != "" {
		r.State, r.ExitStatus = StateErr, ExitAborted
		vars[EnvAbortedBy] = r.AbortedBy
	} else {
		o.runCommand(ctx)
		r.State = StateErr
		if r.CommandStarted && r.ExitStatus == 0 {
			r.State = StatePost
		}
		vars[EnvExitCode] = strconv.Itoa(r.ExitStatus)
	}
	ev = o.event(r.State)
	for _, h := range o.hooks {
		r.After = append(r.After, o.runHook(after, ev, h, r.State, vars))
	}
	if r.State == StatePost && len(r.FailedAfter()) > 0 {
		r.ExitStatus = ExitHookFailed
	}
	o.emit(ev, r.State, r.CommandTime, r.After)
}

// event returns a fresh op.* event for state; its data is set by emit.
// Hooks of the state see its id and type in HERALD_EVENT_ID and
// HERALD_EVENT_TYPE.
func (o *op) event(state string) events.Event {
	ev := events.New(o.cfg.Source, "op."+state, o.cfg.Operation, nil)
	ev.DataContentType = "application/json"
	return ev
}

func (o *op) runHook(ctx context.Context, ev events.Event, h actions.Hook, state string, vars map[string]string) HookRun {
	env := map[string]string{EnvOperation: o.cfg.Operation, EnvState: state}
	for k, v := range vars {
		env[k] = v
	}
	hr := runOne(ctx, h, hookSpec{
		argv: []string{h.Path, o.cfg.Operation, state}, timeout: o.cfg.Timeout, killGrace: o.cfg.KillGrace,
		state: state, event: ev, host: o.cfg.Host, env: env,
	})
	o.done(hr)
	return hr
}

func (o *op) done(hr HookRun) {
	if o.cfg.OnHook != nil {
		o.cfg.OnHook(hr)
	}
}

// runCommand runs the command to its end, filling the report. On ctx
// cancellation it gets SIGTERM, then SIGKILL after KillGrace.
func (o *op) runCommand(ctx context.Context) {
	r := o.rep
	fr := actions.RunForeground(ctx, actions.Foreground{
		Argv: o.cfg.Command, Stdin: o.cfg.Stdin, Stdout: o.cfg.Stdout, Stderr: o.cfg.Stderr,
		KillGrace: o.cfg.KillGrace,
	})
	r.ExitStatus, r.CommandErr = fr.Status, fr.Err
	if !fr.Started {
		return
	}
	r.CommandStarted, r.CommandTime = true, fr.Duration
	r.ExitCode, r.Signal = fr.ExitCode, fr.Signal
	if errors.Is(fr.Err, exec.ErrWaitDelay) {
		// The command exited 0 but something it left behind kept its
		// output open; what it wrote was passed through.
		r.CommandErr = fmt.Errorf("command exited but its output was held open: %w", fr.Err)
	}
}

// emit finishes a state's event and hands it to OnEvent.
func (o *op) emit(ev events.Event, state string, d time.Duration, hooks []HookRun) {
	if o.cfg.OnEvent == nil {
		return
	}
	data, err := json.Marshal(o.rep.eventData(state, d, hooks))
	if err != nil {
		return // cannot happen: plain strings and numbers
	}
	ev.Data = data
	o.cfg.OnEvent(ev)
}

func (r *Report) eventData(state string, d time.Duration, hooks []HookRun) operation.EventData {
	ed := operation.EventData{
		Operation: r.Operation, State: state, Host: r.Host, Command: r.Command,
		DurationMS: ms(d), Hooks: []operation.HookData{},
	}
	for _, h := range hooks {
		ed.Hooks = append(ed.Hooks, operation.HookData{Name: h.Name, Status: h.Status, ExitCode: h.ExitCode, Signal: h.Signal, DurationMS: ms(h.Duration)})
	}
	if state == StatePre {
		ed.AbortedBy = r.AbortedBy
		return ed
	}
	ed.AbortedBy = r.AbortedBy
	ed.ExitCode, ed.Signal = r.ExitCode, r.Signal
	status := r.ExitStatus
	ed.ExitStatus = &status
	if r.CommandErr != nil {
		ed.Error = r.CommandErr.Error()
	}
	return ed
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
