// Package cli is the herald command a person types: publish an event, tail
// events or outcomes as they arrive, show the agents and the last outcome of
// each of their watches, validate watch, hook and job files, read and write
// KV keys, run a command between hooks (call, op), print its version and a
// shell completion script generated from the command table. Every
// subcommand has its own flag set and file; Main.Run drives them in-process
// so tests need no binary, and the main package only maps the returned
// error to an exit code.
//
// What it imports (go list -deps ./cmd/herald): it talks to the daemons
// only through the wire formats of packages events and events/call, the
// stream helpers of package bus and the NATS flags and connection of
// package natsconn. call and op take the kill grace (and call its output
// tails) from package actions, op runs its operation hooks through package
// ophooks, whose op.* events are package events/operation's, and version
// prints package version's build line, and auth issues and revokes the
// bus's identities with package auth (its files, never a server). validate checks files with the
// parsers the daemons load them with: package yamlfile, package watch (kv
// checks BUCKET/KEY with watch's selector parser too, and watch's rollout:
// key is package rollout's, which herald rollout reads and halts with) and package hookfile
// for hook and job files and call_methods, which hands the handlers:
// section to package handlerspec; their field errors are package
// fielderr's. validate --history reads the events stream with direct gets
// and hands each event to package dryrun, which drives package runmode's
// policies on the events' stored times. deploy and jobs read, merge and
// render job files with package jobfile. publish --wait reads what
// the fleet did with the event through package eventreport. publish,
// call and deploy start or continue a trace (TRACEPARENT) and export its
// spans with --otlp-endpoint through package tracing. status shows ages
// and exits as package display does for the web console too.
// It links none of the dispatcher's engines (call hooks, handlers,
// sources): the CLI knows nothing about how the dispatcher or the agent
// work inside, and it never runs a watch's action, a call hook or a
// handler.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EnvNATS names the environment variable read when --nats is absent.
const EnvNATS = "HERALD_NATS"

// DefaultTimeout bounds connecting and each request to NATS.
const DefaultTimeout = 10 * time.Second

// Exit codes.
const (
	ExitOK      = 0 // the command did what was asked
	ExitFailure = 1 // a runtime failure: NATS unreachable, invalid watch file, ...
	ExitUsage   = 2 // the command line was wrong
)

var (
	// ErrUsage is wrapped by every error caused by a wrong command line;
	// it maps to exit code 2.
	ErrUsage = errors.New("usage error")
	// ErrInvalidWatchFiles is returned by validate when a file has errors
	// (each already printed, one per line).
	ErrInvalidWatchFiles = errors.New("invalid watch files")
)

// Main is the herald command. The zero value is ready to use.
type Main struct {
	// Now returns the current time, for ages in status; nil means time.Now.
	Now func() time.Time
	// Terminal opens the caller's terminal, where herald call asks the
	// questions of confirm: hooks; nil means /dev/tty.
	Terminal func() (io.ReadWriteCloser, error)
}

// stdio is where a subcommand reads and writes.
type stdio struct {
	in          io.Reader
	out, errOut io.Writer
	tty         func() (io.ReadWriteCloser, error) // Main.Terminal
}

// subcommand is one verb of the command line.
type subcommand interface {
	// flags registers the subcommand's flags on fs.
	flags(fs *flag.FlagSet)
	// run executes it with the positional arguments left after the flags.
	run(ctx context.Context, m *Main, s stdio, args []string) error
}

type commandSpec struct {
	name    string
	args    string // synopsis after the command name
	summary string // one line for the command list
	help    string // paragraph above the flags
	new     func() subcommand
	// words are the fixed values of the first argument, for shell
	// completion (none: files).
	words []string
}

var commands = []commandSpec{
	{
		name:    "publish",
		args:    "--type TYPE --key KEY [--data STRING | --data-file FILE | < FILE] [--wait [--wait-timeout D] [--watch NAME] [--json]] [flags]",
		summary: "publish one event and print its id once JetStream has stored it",
		help: `Publish one event. The data comes from --data, from --data-file (- for
stdin) or, when neither is given and stdin is not a terminal, from stdin;
it is sent as raw bytes. Prints the event id, nothing else, once JetStream
has stored the event. When the stream's dedup window drops it as a repeat
(same --source, --key and --version), the id is printed anyway and a note
goes to stderr.

With --wait it then waits until every agent that was live when the event
was stored, and holds a watch that selects it (--watch: that watch only),
has decided it, and prints a summary: counts by status, each failed,
timed-out, errored or halted host with its exit code and the last lines of
its stderr, each missing host (--json: the summary as one JSON document,
alone). Exit 0: every host ran ok (superseded and discarded are not
failures; no host expected is 0 too); 1: a host failed, timed out, could
not start or was halted; 4: a host did not decide within --wait-timeout.`,
		new: func() subcommand { return &publishCmd{} },
	},
	{
		name:    "tail",
		args:    "[--outcomes] [--type TYPE] [--json] [--count N] [flags]",
		summary: "print events (or run outcomes) as they arrive",
		help: `Print every event published from now on, one line each; with --outcomes,
print run outcomes instead. --type selects an event type (for outcomes, the
type of the event that caused the run); a token may be * and the last
token may be > (zk.*, git.>). Runs until interrupted or until --count
messages have been printed.`,
		new: func() subcommand { return &tailCmd{} },
	},
	{
		name:    "status",
		args:    "[--json] [flags]",
		summary: "show every agent, its watches and their last outcomes",
		help: `Show every agent's latest announcement (version, start, last heartbeat,
whether it is stale or stopped) and, for each of its watches, the last
outcome. An agent is stale when its last heartbeat is older than three
heartbeat intervals.`,
		new: func() subcommand { return &statusCmd{} },
	},
	{
		name:    "validate",
		args:    "[--dispatcher-config FILE] [--history DURATION [--run-time [NAME=]DURATION]... [--unselected] [--json] [flags]] PATH...",
		summary: "check watch, hook and job files (or directories of them) without running anything; --history: a dry run against the stored events",
		help: `Parse every watch file named, or every *.yaml / *.yml file in a directory
named (read recursively, as the agent reads its watches directory: path
order, hidden files and directories skipped), and print each problem as
file:line: field: message. Watch names must be unique in one directory
tree. A hook file's methods must be methods the dispatcher knows: the
call_methods of --dispatcher-config, or Aurora's seven by default (a glob
matching none of them is a warning). A file in a directory named jobs, or
with a job file's keys (job, cluster, role, build, default_stage, config,
commands), is a job file: its commands are rendered for every stage, and
their methods checked as a hook file's. Needs no NATS.

With --history DURATION, once every file is valid ("ok: ..." goes to
stderr then), it reads the events HERALD_EVENTS stored in the last
DURATION (direct gets, no consumer: a viewer's credentials do) and
prints, for each watch, how many events it selects, of how many keys,
and how many runs each run mode (queue, discard, parallel; * marks the
watch's own) would have made, each run assumed to take --run-time and
to succeed. It runs nothing. Exit status 0 whatever the figures.`,
		new: func() subcommand { return &validateCmd{} },
	},
	{name: "call", args: callArgs, summary: "run a scheduler call (COMMAND) between the dispatcher's pre and post|err call hooks", help: callHelp, new: func() subcommand { return &callCmd{} }},
	{name: "deploy", args: deployArgs, summary: "deploy a job from its job file: render its command for a stage and run it as herald call does", help: deployHelp, new: func() subcommand { return &deployCmd{} }},
	{name: "jobs", args: jobsArgs, summary: "list the job files, or show one job's merged values and rendered commands", help: jobsHelp, new: func() subcommand { return &jobsCmd{} }, words: []string{"ls", "show"}},
	{name: "op", args: "OPERATION [flags] -- COMMAND [ARGS...]", summary: "run COMMAND between the pre and post|err hooks of a hooks.d directory", help: opHelp, new: func() subcommand { return &opCmd{} }},
	{name: "kv", args: kvArgs, summary: "put, get or delete a key of a NATS KV bucket (the kv: source)", help: kvHelp, new: func() subcommand { return &kvCmd{} }, words: []string{"put", "get", "del"}},
	{name: "rollout", args: rolloutArgs, summary: "show, halt and resume how an event spreads across the fleet (a watch's rollout:)", help: rolloutHelp, new: func() subcommand { return &rolloutCmd{} }, words: []string{"status", "halt", "resume"}},
	{name: "auth", args: authArgs, summary: "issue and revoke the bus's identities (NATS credentials, HTTP tokens)", help: authHelp, new: func() subcommand { return &authCmd{} }, words: authVerbs},
	{name: "completion", args: "bash|zsh|fish", summary: "print a shell completion script for herald", help: completionHelp, new: func() subcommand { return &completionCmd{} }, words: completionShells},
	{
		name:    "version",
		args:    "",
		summary: "print herald's version, VCS revision and Go version (also: herald --version)",
		help: `Print one line: herald, the release (or devel), the VCS revision, time and
modified flag the binary was built from, the Go version and the platform.`,
		new: func() subcommand { return &versionCmd{} },
	},
}

func lookup(name string) (commandSpec, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return commandSpec{}, false
}

// Run executes the command line args (without the program name). It writes
// its own messages, including the error, to stderr, so the caller only has
// to turn the returned error into an exit code with ExitCode.
func (m *Main) Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	s := stdio{in: stdin, out: stdout, errOut: stderr, tty: m.Terminal}
	if len(args) == 0 {
		printTopUsage(stderr)
		return reported(usageErrorf("no command given"))
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return m.help(s, rest)
	case "-version", "--version":
		name = "version"
	}
	spec, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "herald: unknown command %q\nRun 'herald help' for the list of commands.\n", name)
		return reported(usageErrorf("unknown command %q", name))
	}
	cmd, fs := newFlagSet(spec, stderr)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		// The flag package has printed the error and the usage.
		return reported(usageErrorf("%v", err))
	}
	err := cmd.run(ctx, m, s, fs.Args())
	if err == nil {
		return nil
	}
	var r *reportedError
	if errors.As(err, &r) {
		return err
	}
	fmt.Fprintf(stderr, "herald %s: %v\n", spec.name, err)
	if errors.Is(err, ErrUsage) {
		fmt.Fprintf(stderr, "Run 'herald %s -h' for usage.\n", spec.name)
	}
	return reported(err)
}

func (m *Main) help(s stdio, args []string) error {
	if len(args) == 0 {
		printTopUsage(s.out)
		return nil
	}
	spec, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(s.errOut, "herald help: unknown command %q\n", args[0])
		printTopUsage(s.errOut)
		return reported(usageErrorf("unknown command %q", args[0]))
	}
	_, fs := newFlagSet(spec, s.out)
	fs.Usage()
	return nil
}

func newFlagSet(spec commandSpec, out io.Writer) (subcommand, *flag.FlagSet) {
	fs := flag.NewFlagSet("herald "+spec.name, flag.ContinueOnError)
	fs.SetOutput(out)
	cmd := spec.new()
	cmd.flags(fs)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: herald %s %s\n\n%s\n\nFlags:\n", spec.name, spec.args, spec.help)
		fs.PrintDefaults()
	}
	return cmd, fs
}

func printTopUsage(w io.Writer) {
	fmt.Fprint(w, `herald publishes change events to Herald and shows what its agents did with them.

Usage:
  herald <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `  %-9s show the flags of a command

Commands that talk to NATS take --nats URL (default $%s, then %s),
--timeout and the --nats-* auth flags.
Run 'herald help <command>' or 'herald <command> -h' for a command's flags.
`, "help", EnvNATS, natsconn.DefaultURL)
}

// ExitCode maps an error returned by Run to the process exit code.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrUsage):
		return ExitUsage
	case exitStatusOf(err) != 0:
		return exitStatusOf(err)
	default:
		return ExitFailure
	}
}

// usageError is a wrong command line; it matches ErrUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

func usageErrorf(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// reportedError marks an error whose message has already been written to
// stderr, so Run does not print it twice.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

func reported(err error) error {
	var r *reportedError
	if errors.As(err, &r) {
		return err
	}
	return &reportedError{err: err}
}

func (m *Main) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// connFlags are the NATS flags every networked subcommand shares.
type connFlags struct {
	cfg     natsconn.Config
	timeout time.Duration
	// denied gets the first permissions violation the server reports on
	// the connection (asynchronously: a refused publish gets no reply).
	denied chan error
}

// deniedCause returns ctx's child that ends, with the violation as its
// cause, when the server refuses a publish or subscription of this
// connection; stop releases it.
func (c *connFlags) deniedCause(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case err := <-c.denied:
			cancel(err)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

func (c *connFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&c.cfg.URL, "nats", "", "NATS server `URL[,URL...]` (default $"+EnvNATS+", then "+natsconn.DefaultURL+")")
	c.cfg.AddAuthFlags(fs)
	fs.DurationVar(&c.timeout, "timeout", DefaultTimeout, "give up connecting (and waiting for each NATS request) after this `duration`")
}

// resolve fills the URL from the environment and checks the flags.
func (c *connFlags) resolve() error {
	if strings.TrimSpace(c.cfg.URL) == "" {
		c.cfg.URL = os.Getenv(EnvNATS)
	}
	if err := c.cfg.LoadSecrets(); err != nil {
		return &usageError{msg: err.Error()}
	}
	if c.timeout <= 0 {
		return usageErrorf("--timeout must be positive")
	}
	if err := c.cfg.Validate(); err != nil {
		return &usageError{msg: err.Error()}
	}
	return nil
}

// connect dials NATS once, failing fast (a refused connection fails at
// once, an unanswered one after --timeout), and returns a JetStream handle.
func (c *connFlags) connect() (*nats.Conn, jetstream.JetStream, error) {
	if err := c.resolve(); err != nil {
		return nil, nil, err
	}
	c.denied = make(chan error, 1)
	nc, err := natsconn.Connect(c.cfg, "herald-cli", c.timeout,
		nats.RetryOnFailedConnect(false), nats.Timeout(c.timeout),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				select {
				case c.denied <- err:
				default:
				}
				return
			}
			fmt.Fprintf(os.Stderr, "herald: nats: %v\n", natsconn.RedactError(err))
		}))
	if errors.Is(err, nats.ErrNoServers) {
		return nil, nil, fmt.Errorf("%w (connection refused: is NATS running there? set --nats or $%s)", err, EnvNATS)
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return nil, nil, fmt.Errorf("%w (no NATS server answered within --timeout %v)", err, c.timeout)
	}
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// streamHint explains the errors of a server whose streams are missing.
func streamHint(err error) error {
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("%w (the dispatcher creates Herald's streams: is it running against this server?)", err)
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%w (no stream stores this subject: is JetStream enabled and has the dispatcher created Herald's streams?)", err)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return fmt.Errorf("%w (Herald needs JetStream)", err)
	}
	return err
}
