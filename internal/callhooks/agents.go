package callhooks

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// StaleAfter is how many missed heartbeats make an agent drop out of
// run: agents targets, as for herald status.
const StaleAfter = 3

// fleet follows the agents' announcements (stream HERALD_AGENTS) to know
// which agents are live, for run: agents hooks.
type fleet struct {
	js  jetstream.JetStream
	log zerolog.Logger

	mu      sync.Mutex
	agents  map[string]events.Announcement
	ready   chan struct{}
	isReady bool
}

func newFleet(js jetstream.JetStream, log zerolog.Logger) *fleet {
	return &fleet{js: js, log: log, agents: map[string]events.Announcement{}, ready: make(chan struct{})}
}

func (f *fleet) markReady() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.isReady {
		f.isReady = true
		close(f.ready)
	}
}

// live returns the names of the live agents matching one of globs, sorted.
// It waits (bounded by ctx) for the announcements stored at start to be
// read.
func (f *fleet) live(ctx context.Context, globs []string) []string {
	select {
	case <-f.ready:
	case <-ctx.Done():
	}
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for name, a := range f.agents {
		if a.Stopping {
			continue
		}
		if a.Interval > 0 && now.Sub(a.Heartbeat) > time.Duration(StaleAfter*a.Interval*float64(time.Second)) {
			continue
		}
		for _, g := range globs {
			if call.MatchGlob(g, name) {
				out = append(out, name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// run follows the announcements until ctx ends, starting again from the
// latest per agent whenever the consumer fails.
func (f *fleet) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := f.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		f.log.Warn().Err(err).Msg("following agent announcements; retrying")
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (f *fleet) follow(ctx context.Context) error {
	cons, err := f.js.OrderedConsumer(ctx, events.AgentsStream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return err
	}
	defer bus.DeleteOrdered(ctx, f.js, events.AgentsStream, cons)
	if cons.CachedInfo().NumPending == 0 {
		f.markReady()
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return err
		}
		var a events.Announcement
		if err := json.Unmarshal(m.Data(), &a); err != nil || a.Name == "" {
			f.log.Warn().Str("subject", m.Subject()).Msg("malformed agent announcement ignored")
		} else {
			f.mu.Lock()
			f.agents[a.Name] = a
			f.mu.Unlock()
		}
		if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
			f.markReady()
		}
	}
}
