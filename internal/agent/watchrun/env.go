package watchrun

import (
	"context"
	"sync/atomic"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/tracing"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/rs/zerolog"
)

// Env is what the runtimes of one agent's watches need from the agent.
// Every field is set before the first runtime is made.
type Env struct {
	// Host is the agent's name, in every outcome and action request.
	Host string
	// Log is the agent's logger (it carries the host).
	Log     zerolog.Logger
	Metrics *Metrics
	// LoadID is unique per agent start; it makes the outcome ids of
	// run_on_load replays new ones.
	LoadID string
	// Store publishes an outcome with message id id and calls stored once
	// JetStream has stored it; an error means it never will (closed).
	Store func(o events.Outcome, id string, stored func()) error
	// Release drops one watch's hold on an event; the last one lets it go.
	Release func(d *Delivery)
	// Start runs run in a goroutine of the agent's, with a context that
	// ends when the agent stops, unless the agent is closing (false).
	Start func(run func(ctx context.Context)) bool
	// BuildAction turns a watch into its action; nil is BuildAction. Only
	// an embedder replaces it (the bench's fleet simulator runs no process).
	BuildAction func(w *watch.Watch) (actions.Action, error)
	// Turns coordinates the runs of watches with a rollout: key; nil runs
	// them at once.
	Turns Turns
	// Waiting is called, if set, when a run starts or stops waiting for
	// its rollout turn (the agent announces it); never under a lock.
	Waiting func()
	// Tracer makes each run's span; nil (off) still gives every run a
	// span id of its own for TRACEPARENT.
	Tracer *tracing.Provider

	resumes atomic.Uint64 // numbers the runs of resumed rollouts' events
}

func (e *Env) build(w *watch.Watch) (actions.Action, error) {
	if e.BuildAction != nil {
		return e.BuildAction(w)
	}
	return BuildAction(w)
}
