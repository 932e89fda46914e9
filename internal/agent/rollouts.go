package agent

// The agent's side of rollouts: watchrun asks for turns, package rollout
// coordinates them in the herald_rollouts bucket, and the live hosts a
// rollout is planned over come from the agents' announcements.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/agent/watchrun"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/rollout"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/nats-io/nats.go/jetstream"
)

// turns implements watchrun.Turns over a rollout.Coordinator.
type turns struct{ c *rollout.Coordinator }

var _ watchrun.Turns = turns{}

func (a *Agent) newTurns() turns {
	return turns{c: &rollout.Coordinator{
		JS: a.js, NC: a.nc, Host: a.cfg.Name, Log: a.log,
		Live: func(ctx context.Context, w string) ([]string, error) { return liveHolding(ctx, a.js, w) },
	}}
}

func rolloutID(w *watch.Watch, e events.Event) rollout.ID {
	return rollout.ID{EventID: e.ID, Watch: w.Name}
}

func (t turns) Take(ctx context.Context, w *watch.Watch, e events.Event) (watchrun.Turn, error) {
	turn, err := t.c.Take(ctx, rollout.Request{Spec: w.Rollout.Spec(), Watch: w.Name, EventID: e.ID, Key: e.Key, EventTime: e.Time})
	var he *rollout.HaltedError
	if errors.As(err, &he) {
		return nil, fmt.Errorf("%w by %s: %s", watchrun.ErrHalted, he.Halt.By, he.Halt.Reason)
	}
	if err != nil {
		return nil, err
	}
	return heldTurn{turn}, nil
}

func (t turns) Leave(w *watch.Watch, e events.Event, status events.Status) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.c.Leave(ctx, rolloutID(w, e), string(status)); err != nil {
		t.c.Log.Debug().Err(err).Msg("rollout: cannot record leaving")
	}
}

func (t turns) Resumed(ctx context.Context, w *watch.Watch, e events.Event) error {
	return t.c.Resumed(ctx, rolloutID(w, e))
}

type heldTurn struct{ t *rollout.Turn }

func (h heldTurn) Finish(o events.Outcome) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = h.t.Finish(ctx, string(o.Status), o.ExitCode)
}

func (h heldTurn) Abandon() { h.t.Abandon() }

// liveHolding lists the live agents whose announcements hold watch w.
func liveHolding(ctx context.Context, js jetstream.JetStream, w string) ([]string, error) {
	anns, err := bus.Announcements(ctx, js, nil)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var hosts []string
	for _, a := range anns {
		if a.Live(now) && slices.ContainsFunc(a.Watches, func(ws events.WatchSummary) bool { return ws.Name == w }) {
			hosts = append(hosts, a.Name)
		}
	}
	return hosts, nil
}
