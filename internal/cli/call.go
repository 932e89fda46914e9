package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/tracing"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Exit statuses of herald call besides COMMAND's own.
const (
	// ExitCallDenied: a pre hook vetoed the call, or the dispatcher could
	// not be asked (without --fail-open); COMMAND did not run.
	ExitCallDenied = 3
	// ExitCallNotStarted: COMMAND could not be started.
	ExitCallNotStarted = actions.ExitNotStarted
	// ExitCallSignalBase + N: COMMAND was killed by signal N.
	ExitCallSignalBase = actions.ExitSignalBase
)

// DefaultPreTimeout bounds the wait for the dispatcher's verdict, which
// runs every pre hook.
const DefaultPreTimeout = 5 * time.Minute

const callArgs = "METHOD --job CLUSTER/ROLE/ENV/NAME [--arg KEY=VALUE]... [--skip-hooks all|NAME,NAME --reason TEXT] [--fail-open] [flags] -- COMMAND [ARGS...]"

const callHelp = `Wrap a scheduler call (aurora, nomad, kubectl...) in the dispatcher's call
hooks, as Aurora's client hooks do:

  1. Ask the dispatcher (NATS request on herald.call.pre.METHOD) to run every
     pre hook that matches METHOD and the job. If any denies, fails to start,
     crashes or times out (with on_timeout: deny), print each hook that
     denied with its reason, do not run COMMAND, and exit 3. METHOD must be
     one the dispatcher knows (its call_methods; by default Aurora's
     create_job, update_job, kill_job, restart, cancel_update,
     add_instances, start_cronjob): any other is denied, so that a typo
     cannot skip the hooks.
  2. Run COMMAND with herald call's stdin, stdout and stderr.
  3. Store a call.post event (COMMAND exited 0) or a call.err event
     (non-zero exit, killed by a signal, could not start) with the exit
     code, the duration and the last 8 KiB of its stdout and stderr; the
     dispatcher runs the post or err hooks from it. Never both.

Exit status: COMMAND's own; 128+N when it was killed by signal N; 127 when
it could not be started; 3 when the call was denied or the dispatcher could
not be asked (NATS unreachable, no dispatcher answering within
--pre-timeout); 2 for a wrong command line. With --fail-open an unreachable
dispatcher does not deny: COMMAND runs without hooks (a note says so).

--skip-hooks all, or a comma-separated list of hook names, skips those
hooks for this call; it needs --reason, and the dispatcher stores a
call.hooks_skipped audit event (who, what, why) before it answers.

The hooks check --job, so COMMAND must act on that job: when an argument
of COMMAND is a job key CLUSTER/ROLE/ENV/NAME (or --flag=KEY, or
KEY/INSTANCES) other than --job, the call is denied with both shown (exit
3) before the dispatcher is asked. --allow-job-mismatch runs it anyway; the
keys are then recorded in the call (job_mismatch: the pre hooks see it,
call.post and call.err keep it). An argument that is an existing file is
not a job key.

With --nats-creds FILE the request goes to herald.call.pre.METHOD.NAME
(herald.call.skip.METHOD.NAME with --skip-hooks), NAME being the identity
in FILE: the dispatcher records NAME as the caller, beside the claimed OS
user. A dispatcher started with --auth requires it, and allows
--skip-hooks only to identities granted the right (herald auth
add-deployer NAME --may-skip-hooks, or add-publisher NAME ...
--may-skip-hooks, which also lets that publisher call). When
the dispatcher's hooks are disabled (hooks_disabled), every call is
allowed and audited the same way.

Hooks get the call as JSON on stdin and as HERALD_METHOD, HERALD_JOB,
HERALD_CLUSTER, HERALD_ROLE, HERALD_ENV, HERALD_JOB_NAME, HERALD_PHASE,
HERALD_CALLER_USER, HERALD_CALLER_IDENTITY and HERALD_ARG_<KEY> (upper
case) variables; nothing of it is put on a command
line. On SIGINT or SIGTERM, COMMAND gets SIGTERM (SIGKILL after
--kill-grace) and the call ends as an err.

` + clientSideHelp

// callCmd is "herald call".
type callCmd struct {
	conn       connFlags
	job        string
	args       map[string]string
	skip       string
	reason     string
	failOpen   bool
	preTimeout time.Duration
	killGrace  time.Duration
	// yes answers yes to the questions of confirm: hooks.
	yes bool
	// allowJobMismatch runs COMMAND although it names another job key
	// than --job (jobguard.go); audited in the call.
	allowJobMismatch bool
	// client is what runs on the caller's side: local hooks, waiting for
	// the post and err hooks.
	client clientSide
	trace  traceFlags
}

func (c *callCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.job, "job", "", "the job `CLUSTER/ROLE/ENV/NAME` (required)")
	fs.Func("arg", "a call argument `KEY=VALUE` for the hooks (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return errors.New("want KEY=VALUE")
		}
		if err := call.ValidateArgName(k); err != nil {
			return errors.New(strings.TrimPrefix(err.Error(), call.ErrInvalidCall.Error()+": "))
		}
		if c.args == nil {
			c.args = map[string]string{}
		}
		c.args[k] = v
		return nil
	})
	fs.StringVar(&c.skip, "skip-hooks", "", "skip `all` hooks or NAME,NAME (needs --reason; audited)")
	fs.StringVar(&c.reason, "reason", "", "why hooks are skipped (recorded in the call.hooks_skipped audit event)")
	fs.BoolVar(&c.failOpen, "fail-open", false, "run COMMAND without hooks when the dispatcher cannot be reached")
	fs.DurationVar(&c.preTimeout, "pre-timeout", DefaultPreTimeout, "how long to wait for the dispatcher's verdict")
	fs.DurationVar(&c.killGrace, "kill-grace", actions.DefaultKillGrace, "`duration` between SIGTERM and SIGKILL for COMMAND on SIGINT/SIGTERM")
	fs.BoolVar(&c.yes, "yes", false, "answer yes to the questions of confirm: pre hooks instead of asking on the terminal")
	fs.BoolVar(&c.allowJobMismatch, "allow-job-mismatch", false, "run COMMAND although it names another job key than --job (recorded in the call as job_mismatch)")
	c.client.flags(fs)
	c.trace.add(fs)
	c.conn.add(fs)
}

// parse re-reads the flags that follow METHOD.
func (c *callCmd) parse(s stdio, args []string) (*callCmd, []string, error) {
	if len(args) == 0 {
		return c, nil, nil
	}
	spec, _ := lookup("call")
	sub, fs := newFlagSet(spec, s.errOut)
	more := sub.(*callCmd)
	*more = *c // keep what the flags before METHOD set
	if c.args != nil {
		more.args = make(map[string]string, len(c.args))
		for k, v := range c.args {
			more.args[k] = v
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	return more, fs.Args(), nil
}

func (c *callCmd) run(ctx context.Context, _ *Main, s stdio, args []string) error {
	if len(args) == 0 {
		return usageErrorf("METHOD is required: herald call %s", callArgs)
	}
	method := args[0]
	c, command, err := c.parse(s, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return reported(usageErrorf("%v", err))
	}
	cl, err := c.validate(method, command)
	if err != nil {
		return err
	}
	if err := c.guardJob(s, &cl, command); err != nil {
		return err
	}
	if err := c.conn.resolve(); err != nil {
		return err
	}
	return c.perform(ctx, s, cl, command)
}

// perform is the path of every call once it is built and its connection
// flags resolved (herald call, and the commands that build a call
// themselves): ask the dispatcher, run COMMAND unless denied, report.
func (c *callCmd) perform(ctx context.Context, s stdio, cl call.Call, command []string) (err error) {
	method := cl.Method
	if err := c.client.validate(); err != nil {
		return err
	}
	// The call's span continues TRACEPARENT; the pre request, the hooks
	// and call.post or call.err carry it.
	tp, parent, err := c.trace.start()
	if err != nil {
		return err
	}
	defer flushSpans(s, "call", tp)
	span := tp.StartCall(ctx, parent, method, cl.Job)
	defer func() { span.Called(ExitCode(err)) }()
	cl.TraceParent, cl.TraceState = span.TraceParent(), span.TraceState()

	// 0. Local pre hooks, on this machine, before the dispatcher is asked.
	if err := c.localPre(ctx, s, cl); err != nil {
		return err
	}

	// 1. Ask.
	v, conn, askErr := c.ask(ctx, cl)
	if conn != nil {
		defer conn.nc.Close()
	}
	if askErr == nil && v.Pending() {
		// The dispatcher's confirm: hooks: the caller answers.
		if err := c.confirm(ctx, s, &cl, &v, conn); err != nil {
			return err
		}
	}
	switch {
	case askErr != nil && !c.failOpen:
		fmt.Fprintf(s.errOut, "herald call: %s %s denied: %v\n(use --fail-open to run it anyway when the dispatcher cannot be reached)\n", method, cl.Job, askErr)
		return reported(&ExitStatus{Code: ExitCallDenied, Msg: askErr.Error()})
	case askErr != nil:
		fmt.Fprintf(s.errOut, "herald call: %v; --fail-open: running the command without hooks\n", askErr)
		if len(cl.SkipHooks) > 0 {
			fmt.Fprintf(s.errOut, "herald call: the skipped hooks could not be audited\n")
		}
	case !v.Allow && len(v.Denied) == 0 && v.Error != "":
		// Refused before any hook ran: an unknown method, a bad call, an
		// audit event that could not be stored.
		fmt.Fprintf(s.errOut, "herald call: %s %s denied by the dispatcher; the command did not run:\n  %s\n", method, cl.Job, v.Error)
		return reported(&ExitStatus{Code: ExitCallDenied, Msg: v.Error})
	case !v.Allow:
		fmt.Fprintf(s.errOut, "herald call: %s %s denied by the dispatcher's pre hooks; the command did not run:\n%s", method, cl.Job, v.DenialText())
		return reported(&ExitStatus{Code: ExitCallDenied, Msg: "denied by pre hooks"})
	case v.HooksDisabled != "":
		fmt.Fprintf(s.errOut, "herald call: hooks are disabled on the dispatcher (%s); the call is audited\n", v.HooksDisabled)
	case len(v.Skipped) > 0:
		fmt.Fprintf(s.errOut, "herald call: skipped hooks %s (audited)\n", strings.Join(v.Skipped, ", "))
	}
	if v.CallID != "" {
		cl.ID = v.CallID
	}
	cl.HooksDisabled = v.HooksDisabled

	// 2. Run.
	res, status := c.runCommand(ctx, s, command)

	// 3. Report.
	cl.Phase = call.PhaseErr
	if res.OK() {
		cl.Phase = call.PhasePost
	}
	cl.Result, cl.Time = res, time.Now().UTC()
	wait := c.startWait(s, &cl, conn)
	if conn != nil {
		if err := c.report(cl, conn.js, tp); err != nil {
			fmt.Fprintf(s.errOut, "herald call: %s not stored, its hooks will not run: %v\n", "call."+cl.Phase, err)
			wait = nil
		}
	}
	c.localAfter(ctx, s, cl)
	wait.print(ctx, s, cl.Phase, c.client.hooksTimeout)
	switch {
	case res.Error != "":
		fmt.Fprintf(s.errOut, "herald call: cannot start the command: %s\n", res.Error)
	case res.Signal != "":
		fmt.Fprintf(s.errOut, "herald call: the command was killed by %s\n", res.Signal)
	}
	if status == 0 {
		return nil
	}
	return reported(&ExitStatus{Code: status})
}

// validate checks the command line and builds the call.
func (c *callCmd) validate(method string, command []string) (call.Call, error) {
	if err := call.ValidateMethod(method); err != nil {
		return call.Call{}, &usageError{msg: strings.TrimPrefix(err.Error(), call.ErrInvalidCall.Error()+": ")}
	}
	if c.job == "" {
		return call.Call{}, usageErrorf("--job CLUSTER/ROLE/ENV/NAME is required")
	}
	if _, err := call.ParseJob(c.job); err != nil {
		return call.Call{}, &usageError{msg: "--job: " + strings.TrimPrefix(err.Error(), call.ErrInvalidCall.Error()+": ")}
	}
	var skip []string
	for _, n := range strings.Split(c.skip, ",") {
		if n = strings.TrimSpace(n); n != "" {
			skip = append(skip, n)
		}
	}
	if c.skip != "" && len(skip) == 0 {
		return call.Call{}, usageErrorf("--skip-hooks: want all or NAME,NAME")
	}
	if len(skip) > 0 && strings.TrimSpace(c.reason) == "" {
		return call.Call{}, usageErrorf("--skip-hooks needs --reason: skipping hooks is audited (who, what, why)")
	}
	if len(skip) == 0 && c.reason != "" {
		return call.Call{}, usageErrorf("--reason goes with --skip-hooks")
	}
	if len(command) == 0 {
		return call.Call{}, usageErrorf("COMMAND is required: herald call METHOD --job ... -- COMMAND [ARGS...]")
	}
	if c.preTimeout <= 0 {
		return call.Call{}, usageErrorf("--pre-timeout must be positive")
	}
	if c.killGrace <= 0 {
		return call.Call{}, usageErrorf("--kill-grace must be positive")
	}
	host, _ := os.Hostname()
	return call.Call{
		ID: uuid.NewString(), Method: method, Job: c.job, Args: c.args, Phase: call.PhasePre,
		User: currentUser(), Host: host, SkipHooks: skip, Reason: c.reason, Time: time.Now().UTC(),
	}, nil
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// callConn is the NATS connection of one call.
type callConn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// ask sends the pre request. An error means the dispatcher could not be
// asked; the returned connection (when there is one) is for the report.
func (c *callCmd) ask(ctx context.Context, cl call.Call) (call.Verdict, *callConn, error) {
	nc, js, err := c.conn.connect()
	if err != nil {
		return call.Verdict{}, nil, fmt.Errorf("cannot reach NATS: %w", err)
	}
	conn := &callConn{nc: nc, js: js}
	data, err := json.Marshal(cl)
	if err != nil {
		return call.Verdict{}, conn, err
	}
	subject, err := c.preSubject(cl)
	if err != nil {
		return call.Verdict{}, conn, err
	}
	// A request the server refuses gets no answer: its violation ends the
	// wait at once.
	dctx, stop := c.conn.deniedCause(ctx)
	defer stop()
	rctx, cancel := context.WithTimeout(dctx, c.preTimeout)
	defer cancel()
	m, err := nc.RequestWithContext(rctx, subject, data)
	if cause := context.Cause(dctx); errors.Is(cause, nats.ErrPermissionViolation) {
		return call.Verdict{}, conn, fmt.Errorf("%w (the credentials' identity may not send %s: calls need a deployer, or a publisher granted --may-skip-hooks; --skip-hooks needs --may-skip-hooks: see herald auth ls)", cause, subject)
	}
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return call.Verdict{}, conn, fmt.Errorf("no dispatcher answers call.pre on %s (is it running against this NATS?)", natsconn.ConnectedURL(nc))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return call.Verdict{}, conn, fmt.Errorf("the dispatcher did not answer within --pre-timeout %v", c.preTimeout)
	case err != nil:
		return call.Verdict{}, conn, fmt.Errorf("asking the dispatcher: %w", err)
	}
	var v call.Verdict
	if err := json.Unmarshal(m.Data, &v); err != nil {
		return call.Verdict{}, conn, fmt.Errorf("the dispatcher's answer is not a verdict: %w", err)
	}
	return v, conn, nil
}

// preSubject is where the pre request goes: with a creds file, the
// subject of its identity (herald.call.pre.<method>.<caller>, or
// herald.call.skip.<method>.<caller> with --skip-hooks), which a dispatcher
// with --auth requires; without, herald.call.pre.<method>.
func (c *callCmd) preSubject(cl call.Call) (string, error) {
	if c.conn.cfg.Creds == "" {
		return call.PreSubject(cl.Method), nil
	}
	name, err := natsconn.CredsName(c.conn.cfg.Creds)
	if err != nil {
		return "", err
	}
	if name == "" || strings.ContainsAny(name, ".*> \t\r\n") {
		return "", fmt.Errorf("nats-creds: %s: the identity name %q is not one subject token", c.conn.cfg.Creds, name)
	}
	return call.CallerPreSubject(cl.Method, name, len(cl.SkipHooks) > 0), nil
}

// runCommand runs COMMAND with the caller's stdio, keeping the tails of
// its output, and returns the result and herald call's exit status.
func (c *callCmd) runCommand(ctx context.Context, s stdio, argv []string) (*call.Result, int) {
	res := &call.Result{Start: time.Now().UTC()}
	outTail, errTail := actions.NewTailBuffer(events.TailBytes), actions.NewTailBuffer(events.TailBytes)
	fr := actions.RunForeground(ctx, actions.Foreground{
		Argv: argv, Stdin: s.in,
		Stdout: io.MultiWriter(s.out, outTail), Stderr: io.MultiWriter(s.errOut, errTail),
		KillGrace: c.killGrace,
	})
	res.DurationMS = callMS(fr.Duration)
	if !fr.Started {
		res.Error = fr.Err.Error()
		return res, ExitCallNotStarted
	}
	res.Stdout, res.Stderr = outTail.String(), errTail.String()
	res.ExitCode, res.Signal = fr.ExitCode, fr.Signal
	if fr.ExitCode == nil && fr.Signal == "" {
		res.Error = fr.Err.Error() // "wait: ..."
	}
	return res, fr.Status
}

// report stores call.post or call.err and waits for JetStream.
func (c *callCmd) report(cl call.Call, js jetstream.JetStream, tp *tracing.Provider) error {
	host, _ := os.Hostname()
	ev, err := call.ResultEvent("herald://cli/"+host, cl)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.conn.timeout)
	defer cancel()
	if _, err := bus.PublishStored(ctx, js, tp, &ev); err != nil {
		return streamHint(err)
	}
	return nil
}

func callMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
