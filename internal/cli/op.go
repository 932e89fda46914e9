package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/ophooks"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// OpNATSTimeout is herald op's default --timeout: the operation never waits
// long for a bus it can do without.
const OpNATSTimeout = 2 * time.Second

// ExitStatus is an error that makes ExitCode return Code: a command that
// wraps another (herald op) exits with the wrapped command's status, or
// with its own documented status (3: aborted by a pre hook, 4: a post hook
// failed).
type ExitStatus struct {
	Code int
	Msg  string
}

func (e *ExitStatus) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// exitStatusOf returns the Code of the *ExitStatus in err's chain, or 0.
func exitStatusOf(err error) int {
	var es *ExitStatus
	if errors.As(err, &es) {
		return es.Code
	}
	return 0
}

const opHelp = `Run COMMAND between the hooks of a hooks.d directory (TKLBAM style).

Every executable regular file in the directory (or symbolic link to one),
sorted by name in byte order, is a hook; hidden files, directories,
non-executables and backups (name~, #name#, *.bak, *.orig, *.swp,
*.dpkg-old/-new/-dist/-tmp/-bak, *.rpmsave/-new/-orig, *.ucf-old/-new/-dist)
are skipped. Hooks are executed directly, never through a shell.

  1. Each hook runs with the arguments OPERATION pre. The first that fails
     (non-zero exit, killed, timed out, cannot start) aborts the operation:
     COMMAND does not run, the hook's name, exit code and stderr are
     printed, and herald op exits 3.
  2. COMMAND runs with herald op's stdin, stdout and stderr.
  3. Each hook runs with OPERATION post when COMMAND exited 0, otherwise
     (non-zero exit, killed, not started, or an abort in step 1) with
     OPERATION err. All of them run, whatever happened, and each failure
     is printed. A failing post hook makes herald op exit 4 (the command
     succeeded, its post hooks did not); a failing err hook does not change
     the exit status.

Hooks get HERALD_OPERATION, HERALD_STATE (pre, post, err), HERALD_HOOK (the
hook's file name), for post and err HERALD_EXIT_CODE (herald op's exit
status) or, after an abort, HERALD_ABORTED_BY (the failing pre hook), and the
variables of an agent action for the op.* event of their state
(HERALD_EVENT_ID, HERALD_EVENT_TYPE, HERALD_KEY = OPERATION, HERALD_HOST...).
Their stdin is /dev/null; their output is captured and printed when they fail
(with --verbose, always). Each hook is killed after --hook-timeout: SIGTERM
to its process group, SIGKILL after --hook-kill-grace.

On SIGINT or SIGTERM, a running pre hook is stopped (an abort) or COMMAND
gets SIGTERM (SIGKILL after --hook-kill-grace); the err hooks still run.

Unless --no-events, op.pre, op.post and op.err events (key OPERATION, JSON
data: operation, state, host, command, exit_code, duration_ms, hooks) are
published when NATS answers within --timeout; when it does not, a note is
printed and the operation goes on.

Exit status: COMMAND's own; 128+N when it was killed by signal N; 127 when
it could not be started; 3 when a pre hook aborted the operation; 4 when
COMMAND exited 0 and a post hook failed; 1 when the
hooks directory could not be read (nothing ran); 2 for a wrong command line.

The hooks directory defaults to ` + ophooks.DefaultDir + ` (missing: no hooks);
a --hooks-dir that does not exist is an error.`

// opCmd is "herald op".
type opCmd struct {
	conn        connFlags
	dir         string
	dirSet      bool
	hookTimeout time.Duration
	killGrace   time.Duration
	noEvents    bool
	verbose     bool
}

func (c *opCmd) flags(fs *flag.FlagSet) {
	fs.Func("hooks-dir", "run the hooks in `DIR` (default "+ophooks.DefaultDir+")", func(s string) error {
		if s == "" {
			return errors.New("empty directory")
		}
		c.dir, c.dirSet = s, true
		return nil
	})
	fs.DurationVar(&c.hookTimeout, "hook-timeout", ophooks.DefaultTimeout, "kill a hook that runs longer than this `duration`")
	fs.DurationVar(&c.killGrace, "hook-kill-grace", actions.DefaultKillGrace, "`duration` between SIGTERM and SIGKILL for a hook that timed out (and for COMMAND on SIGINT/SIGTERM)")
	fs.BoolVar(&c.noEvents, "no-events", false, "do not connect to NATS nor publish op.* events")
	fs.BoolVar(&c.verbose, "verbose", false, "print every hook as it ends, with its output")
	c.conn.add(fs)
	c.conn.timeout = OpNATSTimeout
	fs.Lookup("timeout").DefValue = OpNATSTimeout.String()
}

func (c *opCmd) run(ctx context.Context, _ *Main, s stdio, args []string) error {
	if len(args) == 0 {
		return usageErrorf("OPERATION is required")
	}
	operation, rest := args[0], args[1:]
	// Flags may also follow OPERATION: herald op backup --hooks-dir D -- CMD.
	if len(rest) > 0 {
		spec, _ := lookup("op")
		sub, fs := newFlagSet(spec, s.errOut)
		more := sub.(*opCmd)
		*more = *c // keep what the flags before OPERATION set
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return reported(usageErrorf("%v", err))
		}
		c, rest = more, fs.Args()
	}
	if len(rest) == 0 {
		return usageErrorf("COMMAND is required: herald op OPERATION [flags] -- COMMAND [ARGS...]")
	}
	if c.hookTimeout <= 0 {
		return usageErrorf("--hook-timeout must be positive")
	}
	if c.killGrace <= 0 {
		return usageErrorf("--hook-kill-grace must be positive")
	}
	cfg := ophooks.Config{
		Operation:    operation,
		Command:      rest,
		Dir:          c.dir,
		MissingDirOK: !c.dirSet,
		Timeout:      c.hookTimeout,
		KillGrace:    c.killGrace,
		Stdin:        s.in,
		Stdout:       s.out,
		Stderr:       s.errOut,
	}
	if !c.dirSet {
		cfg.Dir = ophooks.DefaultDir
	}
	if err := cfg.Validate(); err != nil {
		return &usageError{msg: err.Error()}
	}
	pub := &opPublisher{errOut: s.errOut, timeout: c.conn.timeout, operation: operation}
	if !c.noEvents {
		if err := pub.connect(&c.conn); err != nil {
			return err
		}
		defer pub.close()
	}
	cfg.OnEvent = pub.publish
	cfg.OnHook = func(h ophooks.HookRun) { c.printHook(s.errOut, operation, h) }

	rep, err := ophooks.Run(ctx, cfg)
	if err != nil {
		return err
	}
	msg := ""
	switch {
	case rep.AbortedBy != "":
		msg = fmt.Sprintf("%s aborted by pre hook %q: the command did not run; err hooks ran", operation, rep.AbortedBy)
	case !rep.CommandStarted:
		msg = fmt.Sprintf("%s: cannot start the command: %v", operation, rep.CommandErr)
	case rep.Signal != "":
		msg = fmt.Sprintf("%s: the command was killed by %s", operation, rep.Signal)
	case rep.CommandErr != nil:
		msg = fmt.Sprintf("%s: %v", operation, rep.CommandErr)
	case rep.ExitStatus == ophooks.ExitHookFailed && rep.State == ophooks.StatePost:
		var failed []string
		for _, h := range rep.FailedAfter() {
			failed = append(failed, fmt.Sprintf("%q (%v)", h.Name, h.Err))
		}
		hooks := "hook"
		if len(failed) > 1 {
			hooks = "hooks"
		}
		msg = fmt.Sprintf("%s: the command succeeded but post %s %s failed", operation, hooks, strings.Join(failed, ", "))
	}
	if msg != "" {
		fmt.Fprintf(s.errOut, "herald op: %s (exit status %d)\n", msg, rep.ExitStatus)
	}
	if rep.ExitStatus == 0 {
		return nil
	}
	return reported(&ExitStatus{Code: rep.ExitStatus, Msg: msg})
}

// printHook reports a hook that ended: always when it failed, every hook
// with --verbose.
func (c *opCmd) printHook(w io.Writer, operation string, h ophooks.HookRun) {
	if h.OK() && !c.verbose {
		return
	}
	switch {
	case h.OK():
		fmt.Fprintf(w, "herald op: %s %s hook %q: ok (%v)\n", operation, h.State, h.Name, h.Duration.Round(time.Millisecond))
	case h.State == ophooks.StatePre:
		fmt.Fprintf(w, "herald op: %s %s hook %q failed: %v\n", operation, h.State, h.Name, h.Err)
	case h.State == ophooks.StatePost:
		fmt.Fprintf(w, "herald op: %s %s hook %q failed: %v\n", operation, h.State, h.Name, h.Err)
	default:
		fmt.Fprintf(w, "herald op: %s %s hook %q failed: %v (the exit status does not change)\n", operation, h.State, h.Name, h.Err)
	}
	if c.verbose {
		indent(w, "stdout", h.Stdout)
	}
	indent(w, "stderr", h.Stderr)
}

// indent prints a hook's captured output under its report line.
func indent(w io.Writer, name, out string) {
	if out == "" {
		return
	}
	fmt.Fprintf(w, "  %s:\n", name)
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		fmt.Fprintf(w, "    %s\n", l)
	}
}

// opPublisher publishes op.* events when NATS is there, and otherwise
// notes once that it is not and lets the operation go on.
type opPublisher struct {
	errOut    io.Writer
	timeout   time.Duration
	operation string

	mu sync.Mutex
	nc *nats.Conn
	js jetstream.JetStream
}

// connect dials NATS. Only a wrong command line is an error; an unreachable
// server is a note.
func (p *opPublisher) connect(cf *connFlags) error {
	if err := cf.resolve(); err != nil {
		return err
	}
	nc, js, err := cf.connect()
	if err != nil {
		fmt.Fprintf(p.errOut, "herald op: note: not publishing op events: %v\n", err)
		return nil
	}
	p.nc, p.js = nc, js
	return nil
}

func (p *opPublisher) close() {
	if p.nc != nil {
		p.nc.Close()
	}
}

// publish stores ev, bounded by the timeout and not cut short by a
// cancelled operation (the op.err of an interrupted operation matters
// most). After a failure it stops trying.
func (p *opPublisher) publish(ev events.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.js == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	if _, err := bus.PublishEvent(ctx, p.js, ev); err != nil {
		fmt.Fprintf(p.errOut, "herald op: note: not publishing op events: %v\n", streamHint(err))
		p.js = nil
	}
}
