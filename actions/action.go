package actions

import (
	"context"
	"errors"
	"time"

	"github.com/heraldhq/herald/events"
)

// Request is one run of an action for one event.
type Request struct {
	Event   events.Event
	Watch   string
	Host    string
	Attempt int // 1-based
	// Notify: each receive sends the configured notify signal to the running
	// process group (nil: none). Run stops receiving once the run ends or is
	// being terminated; a closed channel is treated as nil.
	Notify <-chan struct{}
	// Env holds extra HERALD_* variables for this run, set by the caller
	// (call hooks pass HERALD_METHOD, HERALD_JOB, ...). A name that does
	// not start with HERALD_ or is not a valid variable name is ignored,
	// and the standard variables (EnvEventID and friends) win over these.
	// The exec kind puts them in the environment; the http kind sends
	// them as Herald-* headers.
	Env map[string]string
	// TraceParent, TraceState: the run's W3C trace context (TRACEPARENT, TRACESTATE; http: traceparent headers).
	TraceParent, TraceState string
}

// Result is how a run ended.
type Result struct {
	Status   events.Status // ok, failed, timeout, error (process could not start)
	ExitCode *int          // set when the process exited (not when killed by a signal)
	Signal   string        // e.g. "SIGKILL" when killed by a signal
	Start    time.Time     // when Run began
	Started  time.Time     // when the process was running (exec done); zero if it never started
	Duration time.Duration
	Stdout   string // last events.TailBytes (8 KiB) of stdout
	Stderr   string // last events.TailBytes of stderr
	Err      error  // why it could not start, or other failure detail
}

// Action is one kind of action, configured for one watch. Run may be called
// concurrently.
type Action interface {
	// Run runs the action once for req and reports how it ended. Cancelling
	// ctx (agent shutdown, watch stop) terminates the run: SIGTERM to the
	// process group, SIGKILL after the kill grace; the status is then
	// "failed" with Signal set (not "timeout"). Run returns only when
	// nothing it started is left running.
	Run(ctx context.Context, req Request) Result
	// Kind names the action kind ("exec").
	Kind() string
}

// Errors carried in Result.Err and returned by Validate. Test with errors.Is.
var (
	// ErrInvalidConfig wraps every configuration error; the message names
	// the field.
	ErrInvalidConfig = errors.New("invalid action config")
	// ErrStart means the process could not be started (missing binary, bad
	// workdir, unknown user, context already done); the status is "error".
	ErrStart = errors.New("could not start process")
	// ErrTimeout means the run was killed after its timeout.
	ErrTimeout = errors.New("timed out")
	// ErrCanceled means the run was terminated because its context was
	// cancelled (agent shutdown, watch stop).
	ErrCanceled = errors.New("terminated: run canceled")
	// ErrOutputHeld means the process exited but something outside its
	// process group kept its stdout or stderr open; Herald closed the pipes
	// after PipeDrainTimeout and stopped reading.
	ErrOutputHeld = errors.New("output pipes held open after exit")
)
